package epcis

// The XML schemas fix the order of an event's fields, and it differs between
// EPCIS 1.2 (where fields added after 1.0 sit in "extension" wrappers) and
// 2.0. These tables drive both the XML writer and the XML reader's order
// checks.

type fieldID uint8

const (
	fNone fieldID = iota
	fEventTime
	fRecordTime
	fTimeZoneOffset
	fEventID
	fErrorDeclaration
	fCertificationInfo
	fBaseExtension // 1.2: eventID, errorDeclaration; 2.0: ##other
	fEPCList
	fParentID
	fChildEPCs
	fInputEPCList
	fInputQuantityList
	fOutputEPCList
	fOutputQuantityList
	fTransformationID
	fAction
	fBizStep
	fDisposition
	fReadPoint
	fBizLocation
	fBizTransactionList
	fQuantityList
	fChildQuantityList
	fSourceList
	fDestinationList
	fSensorElementList
	fPersistentDisposition
	fILMD
	fExtension // an "extension" wrapper
	numFields
)

var fieldNames = [numFields]string{
	fEventTime: "eventTime", fRecordTime: "recordTime", fTimeZoneOffset: "eventTimeZoneOffset",
	fEventID: "eventID", fErrorDeclaration: "errorDeclaration", fCertificationInfo: "certificationInfo",
	fBaseExtension: "baseExtension", fEPCList: "epcList", fParentID: "parentID", fChildEPCs: "childEPCs",
	fInputEPCList: "inputEPCList", fInputQuantityList: "inputQuantityList", fOutputEPCList: "outputEPCList",
	fOutputQuantityList: "outputQuantityList", fTransformationID: "transformationID", fAction: "action",
	fBizStep: "bizStep", fDisposition: "disposition", fReadPoint: "readPoint", fBizLocation: "bizLocation",
	fBizTransactionList: "bizTransactionList", fQuantityList: "quantityList", fChildQuantityList: "childQuantityList",
	fSourceList: "sourceList", fDestinationList: "destinationList", fSensorElementList: "sensorElementList",
	fPersistentDisposition: "persistentDisposition", fILMD: "ilmd", fExtension: "extension",
}

// fieldByName maps an element name to its field.
func fieldByName(name string) fieldID {
	for i, n := range fieldNames {
		if n == name && n != "" {
			return fieldID(i)
		}
	}
	return fNone
}

// seqItem is one position in a schema sequence; sub is the content of an
// "extension" wrapper. required items are written even when empty.
type seqItem struct {
	id       fieldID
	required bool
	sub      []seqItem
}

func items(ids ...fieldID) []seqItem {
	out := make([]seqItem, len(ids))
	for i, id := range ids {
		out[i] = seqItem{id: id}
	}
	return out
}

func req(id fieldID) seqItem { return seqItem{id: id, required: true} }

// base sequences (common to all event types).
var (
	base12 = []seqItem{req(fEventTime), {id: fRecordTime}, req(fTimeZoneOffset), {id: fBaseExtension, sub: items(fEventID, fErrorDeclaration)}}
	base20 = []seqItem{req(fEventTime), {id: fRecordTime}, req(fTimeZoneOffset), {id: fEventID}, {id: fErrorDeclaration}, {id: fCertificationInfo}}
)

// body sequences by format and type, after the base fields.
var (
	seq12 = map[EventType][]seqItem{
		ObjectEvent: {req(fEPCList), req(fAction), {id: fBizStep}, {id: fDisposition}, {id: fReadPoint}, {id: fBizLocation}, {id: fBizTransactionList},
			{id: fExtension, sub: items(fQuantityList, fSourceList, fDestinationList, fILMD)}},
		AggregationEvent: {{id: fParentID}, req(fChildEPCs), req(fAction), {id: fBizStep}, {id: fDisposition}, {id: fReadPoint}, {id: fBizLocation}, {id: fBizTransactionList},
			{id: fExtension, sub: items(fChildQuantityList, fSourceList, fDestinationList)}},
		TransactionEvent: {req(fBizTransactionList), {id: fParentID}, req(fEPCList), req(fAction), {id: fBizStep}, {id: fDisposition}, {id: fReadPoint}, {id: fBizLocation},
			{id: fExtension, sub: items(fQuantityList, fSourceList, fDestinationList)}},
		TransformationEvent: append(items(fInputEPCList, fInputQuantityList, fOutputEPCList, fOutputQuantityList, fTransformationID, fBizStep, fDisposition,
			fReadPoint, fBizLocation, fBizTransactionList, fSourceList, fDestinationList, fILMD), seqItem{id: fExtension}),
	}
	seq20 = map[EventType][]seqItem{
		ObjectEvent: append(items(fEPCList), append([]seqItem{req(fAction)}, items(fBizStep, fDisposition, fReadPoint, fBizLocation, fBizTransactionList,
			fQuantityList, fSourceList, fDestinationList, fSensorElementList, fPersistentDisposition, fILMD, fExtension)...)...),
		AggregationEvent: append(items(fParentID, fChildEPCs), append([]seqItem{req(fAction)}, items(fBizStep, fDisposition, fReadPoint, fBizLocation,
			fBizTransactionList, fChildQuantityList, fSourceList, fDestinationList, fSensorElementList, fPersistentDisposition, fExtension)...)...),
		TransactionEvent: append([]seqItem{req(fBizTransactionList)}, append(items(fParentID, fEPCList), append([]seqItem{req(fAction)}, items(fBizStep,
			fDisposition, fReadPoint, fBizLocation, fQuantityList, fSourceList, fDestinationList, fSensorElementList, fPersistentDisposition, fExtension)...)...)...),
		TransformationEvent: items(fInputEPCList, fInputQuantityList, fOutputEPCList, fOutputQuantityList, fTransformationID, fBizStep, fDisposition,
			fReadPoint, fBizLocation, fBizTransactionList, fSourceList, fDestinationList, fSensorElementList, fPersistentDisposition, fILMD, fExtension),
		AssociationEvent: append([]seqItem{req(fParentID)}, append(items(fChildEPCs, fChildQuantityList), append([]seqItem{req(fAction)}, items(fBizStep,
			fDisposition, fReadPoint, fBizLocation, fBizTransactionList, fSourceList, fDestinationList, fSensorElementList, fPersistentDisposition, fExtension)...)...)...),
	}
)
