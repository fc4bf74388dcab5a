package epcis

import (
	"time"
)

// EventType names the kind of an event. Besides the five standard types, an
// EPCIS 2.0 document may carry an event of a user-defined type, named by a
// URI or a compact URI ("example:CustomEvent"); such events only keep the
// common fields and their extensions.
type EventType string

// The standard event types.
const (
	ObjectEvent         EventType = "ObjectEvent"
	AggregationEvent    EventType = "AggregationEvent"
	TransactionEvent    EventType = "TransactionEvent"
	TransformationEvent EventType = "TransformationEvent"
	AssociationEvent    EventType = "AssociationEvent"
)

// Standard reports whether t is one of the five standard event types.
func (t EventType) Standard() bool {
	switch t {
	case ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent:
		return true
	}
	return false
}

// Action says how an event relates to the lifecycle of its objects.
type Action string

// The three actions.
const (
	ActionAdd     Action = "ADD"
	ActionObserve Action = "OBSERVE"
	ActionDelete  Action = "DELETE"
)

// BizStep is the business step of an event: a CBV value in URN form (the
// BizStep constants) or any other URI.
type BizStep string

// Disposition is the business condition of the objects after an event: a
// CBV value in URN form (the Disposition constants) or any other URI.
type Disposition string

// BizTransactionType is the type of a business transaction reference: a CBV
// value in URN form or any other URI.
type BizTransactionType string

// SourceDestType is the type of a source or destination: a CBV value in URN
// form or any other URI.
type SourceDestType string

// ErrorReason says why an event was declared erroneous: a CBV value in URN
// form or any other URI.
type ErrorReason string

// Event is one EPCIS event of any type. Which fields apply depends on Type:
//
//	ObjectEvent         EPCList, QuantityList, Action, ILMD
//	AggregationEvent    ParentID, ChildEPCs, ChildQuantityList, Action
//	TransactionEvent    BizTransactionList (required), ParentID, EPCList, QuantityList, Action
//	TransformationEvent InputEPCList, InputQuantityList, OutputEPCList, OutputQuantityList, TransformationID, ILMD
//	AssociationEvent    ParentID (required), ChildEPCs, ChildQuantityList, Action
//
// and every type has the common fields (times, ID, error declaration,
// certification info), the why and where (BizStep, Disposition,
// PersistentDisposition, ReadPoint, BizLocation, BizTransactionList,
// SourceList, DestinationList), sensor data and user extensions. Empty
// strings, nil slices and nil pointers mean "absent".
type Event struct {
	Type EventType

	// EventTime is when the event happened, RecordTime when a repository
	// recorded it (zero when absent). Both keep the offset they were read
	// with. EventTimeZoneOffset is the local offset at the place of the
	// event, "+hh:mm" or "-hh:mm".
	EventTime           time.Time
	RecordTime          time.Time
	EventTimeZoneOffset string
	// EventID identifies the event (a URI; often an event hash "ni:///...").
	EventID string
	// ErrorDeclaration is set when the event was later declared erroneous.
	ErrorDeclaration *ErrorDeclaration
	// CertificationInfo lists URIs of certificates that apply (EPCIS 2.0).
	CertificationInfo []string

	// What.
	EPCList            []string
	ParentID           string
	ChildEPCs          []string
	InputEPCList       []string
	OutputEPCList      []string
	QuantityList       []Quantity
	ChildQuantityList  []Quantity
	InputQuantityList  []Quantity
	OutputQuantityList []Quantity
	TransformationID   string

	Action Action

	// Why.
	BizStep               BizStep
	Disposition           Disposition
	PersistentDisposition *PersistentDisposition

	// Where.
	ReadPoint   *Place
	BizLocation *Place

	BizTransactionList []BizTransaction
	SourceList         []SourceDest
	DestinationList    []SourceDest

	// SensorElementList holds sensor data (EPCIS 2.0).
	SensorElementList []SensorElement
	// ILMD is the instance/lot master data of the objects an ObjectEvent
	// (ADD) or TransformationEvent creates, e.g. cbvmda:lotNumber and
	// cbvmda:itemExpirationDate.
	ILMD []Element
	// Extensions are the user extension elements of the event, namespaced
	// (e.g. gs1ushc:dropShipment), in document order.
	Extensions []Element
}

// Quantity is a quantity element: an EPC class (an LGTIN class or a product
// pattern URI) and, optionally, an amount in a unit of measure (UN/ECE Rec.
// 20 code; empty for a count of items).
type Quantity struct {
	EPCClass    string
	Quantity    float64
	HasQuantity bool
	UOM         string
}

// PersistentDisposition sets or unsets dispositions that persist until
// unset (EPCIS 2.0).
type PersistentDisposition struct {
	Set   []Disposition
	Unset []Disposition
}

// Place is a read point or business location: an identifier (usually an
// SGLN URI) and any user extensions.
type Place struct {
	ID         string
	Extensions []Element
}

// BizTransaction refers to a business transaction, e.g. a purchase order
// (type BizTransactionTypePO) or a despatch advice (BizTransactionTypeDesadv).
type BizTransaction struct {
	Type  BizTransactionType
	Value string
}

// SourceDest is a source or destination of a transfer: an owning party,
// possessing party or location, identified by a URI (an SGLN or PGLN).
type SourceDest struct {
	Type  SourceDestType
	Value string
}

// ErrorDeclaration declares an event erroneous.
type ErrorDeclaration struct {
	DeclarationTime    time.Time
	Reason             ErrorReason
	CorrectiveEventIDs []string
	Extensions         []Element
}

// SensorElement is one group of sensor reports with their shared metadata
// (EPCIS 2.0).
type SensorElement struct {
	Metadata   *SensorMetadata
	Reports    []SensorReport
	Extensions []Element
}

// SensorMetadata describes the device and time frame of sensor reports.
// Time fields are zero when absent.
type SensorMetadata struct {
	Time                 time.Time
	StartTime            time.Time
	EndTime              time.Time
	DeviceID             string
	DeviceMetadata       string
	RawData              string
	DataProcessingMethod string
	BizRules             string
	// Extensions are user attributes (namespaced).
	Extensions []Attr
}

// SensorReport is one measurement or observation. Numbers are nil when
// absent. Type is a measurement type, e.g. "gs1:Temperature".
type SensorReport struct {
	Type                      string
	Exception                 string
	DeviceID                  string
	DeviceMetadata            string
	RawData                   string
	DataProcessingMethod      string
	Time                      time.Time
	Microorganism             string
	ChemicalSubstance         string
	Value                     *float64
	Component                 string
	StringValue               *string
	BooleanValue              *bool
	HexBinaryValue            string
	URIValue                  string
	MinValue                  *float64
	MaxValue                  *float64
	MeanValue                 *float64
	SDev                      *float64
	PercRank                  *float64
	PercValue                 *float64
	UOM                       string
	CoordinateReferenceSystem string
	BizRules                  string
	// Extensions are user attributes (namespaced).
	Extensions []Attr
}

// ValueKind is the JSON type an extension value had when it was read from
// JSON-LD, so that numbers and booleans are written back as such. XML knows
// only text: elements read from XML are KindString.
type ValueKind uint8

// The kinds of extension values.
const (
	KindString ValueKind = iota
	KindNumber
	KindBool
	KindNull
)

// Element is a user extension element: a namespaced name, attributes, text
// and child elements. It is how the model keeps what it does not know
// (gs1ushc:dropShipment, ILMD fields, vendor data) without losing it.
type Element struct {
	// Space is the namespace (the XML namespace URI; in JSON-LD the prefix's
	// IRI, without the trailing ":" of a urn: IRI). Local is the local name.
	Space string
	Local string
	// Prefix is the prefix the element was read with, a hint for writers.
	Prefix   string
	Attrs    []Attr
	Text     string
	Kind     ValueKind
	Children []Element
}

// Attr is a namespaced attribute of an extension element or of sensor data.
type Attr struct {
	Space  string
	Local  string
	Prefix string
	Value  string
}

// namedPlace is a place of an event with its field's name.
type namedPlace struct {
	name string // readPoint or bizLocation
	pl   *Place // nil when the event has none
}

// places are the event's read point and business location, in that order.
func (e *Event) places() [2]namedPlace {
	return [2]namedPlace{{"readPoint", e.ReadPoint}, {"bizLocation", e.BizLocation}}
}
