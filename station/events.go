package station

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"time"
)

// EventType names what an event records. Types are lower-case
// "subject.verb" and never change meaning once recorded.
type EventType string

// The catalogue of event types. Each has one payload struct below; a new
// type needs a payload struct here (and NewPayload), and a projection
// function in localdb (which refuses types it does not know).
const (
	EventPoolReserved        EventType = "pool.reserved" // PoolReserved: serials given to this station
	EventPoolReturned        EventType = "pool.returned" // PoolReturned: unused serials given back
	EventPoolVoided          EventType = "pool.voided"   // PoolVoided: unused serials never to be used
	EventUnitAllocated       EventType = "unit.allocated"
	EventUnitPrinted         EventType = "unit.printed"
	EventUnitVerified        EventType = "unit.verified"
	EventUnitCommissioned    EventType = "unit.commissioned"
	EventUnitRejected        EventType = "unit.rejected"
	EventUnitDecommissioned  EventType = "unit.decommissioned"
	EventUnitSampled         EventType = "unit.sampled"
	EventSSCCAllocated       EventType = "sscc.allocated"
	EventAggregationPacked   EventType = "aggregation.packed"
	EventAggregationUnpacked EventType = "aggregation.unpacked"
	EventOrderCreated        EventType = "order.created"
	EventOrderStateChanged   EventType = "order.state_changed"
	EventClockStepped        EventType = "clock.stepped" // written by the ledger itself

	EventUnitVoided        EventType = "unit.voided"         // UnitVoided: allocated serials never printed
	EventProductDefined    EventType = "product.defined"     // ProductDefined: product master data
	EventUserDefined       EventType = "user.defined"        // UserDefined: a user account and its roles
	EventUserCredentialSet EventType = "user.credential_set" // UserCredentialSet: a new PIN or password hash
	EventUserSignedIn      EventType = "user.signed_in"      // UserSignedIn
	EventUserSignInFailed  EventType = "user.sign_in_failed" // UserSignInFailed
	EventUserLocked        EventType = "user.locked"         // UserLocked: too many failures, or by an admin
	EventUserUnlocked      EventType = "user.unlocked"       // UserUnlocked
	EventSignatureRecorded EventType = "signature.recorded"  // SignatureRecorded: an electronic signature
	EventAggregationOpened EventType = "aggregation.opened"  // AggregationOpened: a bundle, case or pallet started
	EventAggregationClosed EventType = "aggregation.closed"  // AggregationClosed: its label printed, full or partial
	EventOrderReconciled   EventType = "order.reconciled"    // OrderReconciled: the record signed at close
	EventShipmentCreated   EventType = "shipment.created"    // ShipmentCreated
	EventShipmentPicked    EventType = "shipment.picked"     // ShipmentPicked
	EventShipmentUnpicked  EventType = "shipment.unpicked"   // ShipmentUnpicked
	EventShipmentPacked    EventType = "shipment.packed"     // ShipmentPacked: picking closed
	EventShipmentShipped   EventType = "shipment.shipped"    // ShipmentShipped
	EventStockReceived     EventType = "stock.received"      // StockReceived
	EventStockReturned     EventType = "stock.returned"      // StockReturned: back from a partner, into quarantine
	EventStockQuarantined  EventType = "stock.quarantined"   // StockQuarantined
	EventStockReleased     EventType = "stock.released"      // StockReleased: out of quarantine
	EventInboundReceived   EventType = "inbound.received"    // InboundReceived: a partner's shipment received against its document
	EventSSCCRangeReceived EventType = "sscc.range_received" // SSCCRangeReceived: a block of SSCC serial references from the central
	EventStockHeld         EventType = "stock.held"          // StockHeld: the central held an item or a lot (suspect product)
	EventStockHoldReleased EventType = "stock.hold_released" // StockHoldReleased: the central released its hold
)

// EventTypes lists the catalogue, in the order above.
func EventTypes() []EventType {
	return []EventType{
		EventPoolReserved, EventPoolReturned, EventPoolVoided,
		EventUnitAllocated, EventUnitPrinted, EventUnitVerified, EventUnitCommissioned,
		EventUnitRejected, EventUnitDecommissioned, EventUnitSampled,
		EventSSCCAllocated, EventAggregationPacked, EventAggregationUnpacked,
		EventOrderCreated, EventOrderStateChanged, EventClockStepped,
		EventUnitVoided, EventProductDefined,
		EventUserDefined, EventUserCredentialSet, EventUserSignedIn, EventUserSignInFailed, EventUserLocked, EventUserUnlocked,
		EventSignatureRecorded, EventAggregationOpened, EventAggregationClosed, EventOrderReconciled,
		EventShipmentCreated, EventShipmentPicked, EventShipmentUnpicked, EventShipmentPacked, EventShipmentShipped,
		EventStockReceived, EventStockReturned, EventStockQuarantined, EventStockReleased,
		EventInboundReceived,
		EventSSCCRangeReceived,
		EventStockHeld, EventStockHoldReleased,
	}
}

// Payload is implemented by every payload struct of the catalogue.
type Payload interface {
	// EventType is the type of event the payload belongs to.
	EventType() EventType
	// Validate returns an EINVALID *Error naming the first bad field.
	Validate() error
}

// NewPayload returns a pointer to a zero payload struct for t, or EINVALID
// when t is not in the catalogue.
func NewPayload(t EventType) (Payload, error) {
	switch t {
	case EventPoolReserved:
		return &PoolReserved{}, nil
	case EventPoolReturned:
		return &PoolReturned{}, nil
	case EventPoolVoided:
		return &PoolVoided{}, nil
	case EventUnitAllocated:
		return &UnitAllocated{}, nil
	case EventUnitPrinted:
		return &UnitPrinted{}, nil
	case EventUnitVerified:
		return &UnitVerified{}, nil
	case EventUnitCommissioned:
		return &UnitCommissioned{}, nil
	case EventUnitRejected:
		return &UnitRejected{}, nil
	case EventUnitDecommissioned:
		return &UnitDecommissioned{}, nil
	case EventUnitSampled:
		return &UnitSampled{}, nil
	case EventSSCCAllocated:
		return &SSCCAllocated{}, nil
	case EventAggregationPacked:
		return &AggregationPacked{}, nil
	case EventAggregationUnpacked:
		return &AggregationUnpacked{}, nil
	case EventOrderCreated:
		return &OrderCreated{}, nil
	case EventOrderStateChanged:
		return &OrderStateChanged{}, nil
	case EventClockStepped:
		return &ClockStepped{}, nil
	case EventUnitVoided:
		return &UnitVoided{}, nil
	case EventProductDefined:
		return &ProductDefined{}, nil
	case EventUserDefined:
		return &UserDefined{}, nil
	case EventUserCredentialSet:
		return &UserCredentialSet{}, nil
	case EventUserSignedIn:
		return &UserSignedIn{}, nil
	case EventUserSignInFailed:
		return &UserSignInFailed{}, nil
	case EventUserLocked:
		return &UserLocked{}, nil
	case EventUserUnlocked:
		return &UserUnlocked{}, nil
	case EventSignatureRecorded:
		return &SignatureRecorded{}, nil
	case EventAggregationOpened:
		return &AggregationOpened{}, nil
	case EventAggregationClosed:
		return &AggregationClosed{}, nil
	case EventOrderReconciled:
		return &OrderReconciled{}, nil
	case EventShipmentCreated:
		return &ShipmentCreated{}, nil
	case EventShipmentPicked:
		return &ShipmentPicked{}, nil
	case EventShipmentUnpicked:
		return &ShipmentUnpicked{}, nil
	case EventShipmentPacked:
		return &ShipmentPacked{}, nil
	case EventShipmentShipped:
		return &ShipmentShipped{}, nil
	case EventStockReceived:
		return &StockReceived{}, nil
	case EventStockReturned:
		return &StockReturned{}, nil
	case EventStockQuarantined:
		return &StockQuarantined{}, nil
	case EventStockReleased:
		return &StockReleased{}, nil
	case EventInboundReceived:
		return &InboundReceived{}, nil
	case EventStockHeld:
		return &StockHeld{}, nil
	case EventStockHoldReleased:
		return &StockHoldReleased{}, nil
	case EventSSCCRangeReceived:
		return &SSCCRangeReceived{}, nil
	}
	return nil, Errorf(EINVALID, "unknown event type %q", t)
}

// DecodePayload parses raw as the payload of t strictly (no unknown fields,
// nothing after the object) and validates it. The result is a pointer to
// the type's payload struct.
func DecodePayload(t EventType, raw []byte) (Payload, error) {
	p, err := NewPayload(t)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, Errorf(EINVALID, "%s payload: %v", t, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(EINVALID, "%s payload: unexpected data after the JSON object", t)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// CanonicalPayload turns what a caller gave as NewEvent.Payload into the
// event type, the canonical JSON stored in the journal, and the decoded,
// validated payload struct. typ may be empty when payload is a Payload.
func CanonicalPayload(typ EventType, payload any) (EventType, json.RawMessage, Payload, error) {
	var raw []byte
	switch p := payload.(type) {
	case nil:
		return typ, nil, nil, Errorf(EINVALID, "event %q has no payload", typ)
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	case Payload:
		// A catalogue struct marshals to canonical JSON as it is: encoding
		// it is all it takes (decoding that again gives the same struct).
		if typ == "" {
			typ = p.EventType()
		} else if typ != p.EventType() {
			return typ, nil, nil, Errorf(EINVALID, "event type %q does not match its payload (a %s payload)", typ, p.EventType())
		}
		ptr := asPointer(p)
		if err := ptr.Validate(); err != nil {
			return typ, nil, nil, err
		}
		canon, err := json.Marshal(ptr)
		if err != nil {
			return typ, nil, nil, Errorf(EINVALID, "%s payload: %v", typ, err)
		}
		return typ, canon, ptr, nil
	default:
		return typ, nil, nil, Errorf(EINVALID, "event %q: payload of Go type %T is neither a catalogue payload nor JSON", typ, payload)
	}
	if typ == "" {
		return typ, nil, nil, Errorf(EINVALID, "event has no type")
	}
	p, err := DecodePayload(typ, raw)
	if err != nil {
		return typ, nil, nil, err
	}
	canon, err := json.Marshal(p)
	if err != nil {
		return typ, nil, nil, Errorf(EINVALID, "%s payload: %v", typ, err)
	}
	return typ, canon, p, nil
}

// asPointer returns p as a pointer to a copy of its struct, the form
// DecodePayload returns, when p is a struct value.
func asPointer(p Payload) Payload {
	v := reflect.ValueOf(p)
	if v.Kind() == reflect.Pointer {
		return p
	}
	ptr := reflect.New(v.Type())
	ptr.Elem().Set(v)
	return ptr.Interface().(Payload)
}

// UnitState is where a serialized pack is in its life at this station.
type UnitState string

// Unit states, as projected from the unit and pool events.
const (
	UnitStateAvailable      UnitState = "available" // reserved in the station's pool, not yet used
	UnitStateAllocated      UnitState = "allocated" // taken for a pack of an order
	UnitStatePrinted        UnitState = "printed"
	UnitStateVerified       UnitState = "verified" // the camera read what was printed
	UnitStateCommissioned   UnitState = "commissioned"
	UnitStateRejected       UnitState = "rejected"
	UnitStateDecommissioned UnitState = "decommissioned"
	UnitStateSampled        UnitState = "sampled"
	UnitStateReturned       UnitState = "returned" // given back unused
	UnitStateVoided         UnitState = "voided"   // never to be used
)

// RejectReason says why a pack was rejected on the line.
type RejectReason string

// Reject reasons; each is counted per order.
const (
	RejectNoRead        RejectReason = "no_read"         // the camera could not read the code
	RejectWrongContent  RejectReason = "wrong_content"   // the code read differs from what was printed
	RejectLowGrade      RejectReason = "low_grade"       // print grade below the configured limit
	RejectDuplicate     RejectReason = "duplicate"       // the same code was seen twice
	RejectMissing       RejectReason = "missing"         // a pack expected at the camera never came
	RejectOutOfSequence RejectReason = "out_of_sequence" // a pack came in another order than printed
	RejectPrinterFault  RejectReason = "printer_fault"   // the printer reported a fault for this pack
	RejectManual        RejectReason = "manual"          // taken off the line by an operator
	RejectClock         RejectReason = "clock_untrusted" // the station clock could not be trusted at the decision
)

// RejectReasons lists the known reject reasons.
func RejectReasons() []RejectReason {
	return []RejectReason{RejectNoRead, RejectWrongContent, RejectLowGrade, RejectDuplicate,
		RejectMissing, RejectOutOfSequence, RejectPrinterFault, RejectManual, RejectClock}
}

// DecommissionReason says why a commissioned pack left the supply chain.
type DecommissionReason string

// Decommission reasons (EPCIS: decommissioning or destroying).
const (
	DecommissionDestroyed DecommissionReason = "destroyed"
	DecommissionStolen    DecommissionReason = "stolen"
	DecommissionDamaged   DecommissionReason = "damaged"
	DecommissionRecalled  DecommissionReason = "recalled"
	DecommissionReplaced  DecommissionReason = "replaced" // rework: a damaged pack replaced by a new one
	DecommissionExpired   DecommissionReason = "expired"
)

// DecommissionReasons lists the known decommission reasons.
func DecommissionReasons() []DecommissionReason {
	return []DecommissionReason{DecommissionDestroyed, DecommissionStolen, DecommissionDamaged,
		DecommissionRecalled, DecommissionReplaced, DecommissionExpired}
}

// AggregationLevel is a packaging level that holds children.
type AggregationLevel string

// Aggregation levels, from the smallest parent up.
const (
	LevelBundle AggregationLevel = "bundle"
	LevelCase   AggregationLevel = "case"
	LevelPallet AggregationLevel = "pallet"
)

// Item identifies a pack or container in aggregation: a GTIN with a serial
// (SGTIN: units, bundles, cases) or an SSCC (cases, pallets), never both.
type Item struct {
	GTIN   string `json:"gtin,omitempty"`
	Serial string `json:"serial,omitempty"`
	SSCC   string `json:"sscc,omitempty"`
}

// SGTIN returns the Item of a GTIN and serial.
func SGTIN(gtin, serial string) Item { return Item{GTIN: gtin, Serial: serial} }

// SSCCItem returns the Item of an SSCC.
func SSCCItem(sscc string) Item { return Item{SSCC: sscc} }

// Key is the item as a GS1 element string in bracketed form:
// "(01)<gtin>(21)<serial>" or "(00)<sscc>". It is unambiguous because the
// GTIN and SSCC have fixed lengths, and is how the ledger stores items.
func (i Item) Key() string {
	if i.SSCC != "" {
		return "(00)" + i.SSCC
	}
	return "(01)" + i.GTIN + "(21)" + i.Serial
}

// String returns Key.
func (i Item) String() string { return i.Key() }

// ParseItemKey parses what Key returns.
func ParseItemKey(key string) (Item, error) {
	switch {
	case len(key) == 22 && key[:4] == "(00)":
		return Item{SSCC: key[4:]}, nil
	case len(key) > 22 && key[:4] == "(01)" && key[18:22] == "(21)":
		return Item{GTIN: key[4:18], Serial: key[22:]}, nil
	}
	return Item{}, Errorf(EINVALID, "%q is not an item key ((01)GTIN(21)SERIAL or (00)SSCC)", key)
}

// Validate checks that the item is a well-formed SGTIN or SSCC.
func (i Item) Validate() error {
	if i.SSCC != "" {
		if i.GTIN != "" || i.Serial != "" {
			return Errorf(EINVALID, "item %s: has both an SSCC and a GTIN/serial", i.Key())
		}
		return validateSSCC(i.SSCC)
	}
	if err := validateGTIN(i.GTIN); err != nil {
		return err
	}
	return validateSerial(i.Serial)
}

// PoolReserved records serials of a GTIN given to this station, by the
// central service or by the station's own generator in standalone mode. A
// serial can be reserved only once per GTIN, for ever.
type PoolReserved struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	Source  string   `json:"source"` // "central", or "local" in standalone mode
}

// EventType implements Payload.
func (PoolReserved) EventType() EventType { return EventPoolReserved }

// Validate implements Payload.
func (p PoolReserved) Validate() error {
	if p.Source != "central" && p.Source != "local" {
		return Errorf(EINVALID, "pool.reserved: source %q is neither central nor local", p.Source)
	}
	return validateSerials(EventPoolReserved, p.GTIN, p.Serials)
}

// PoolReturned records available serials given back to the central service.
type PoolReturned struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
}

// EventType implements Payload.
func (PoolReturned) EventType() EventType { return EventPoolReturned }

// Validate implements Payload.
func (p PoolReturned) Validate() error { return validateSerials(EventPoolReturned, p.GTIN, p.Serials) }

// PoolVoided records available serials that must never be used.
type PoolVoided struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	Reason  string   `json:"reason"`
}

// EventType implements Payload.
func (PoolVoided) EventType() EventType { return EventPoolVoided }

// Validate implements Payload.
func (p PoolVoided) Validate() error {
	if err := validateText(EventPoolVoided, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateSerials(EventPoolVoided, p.GTIN, p.Serials)
}

// UnitAllocated records that an available serial was taken for a pack of an
// order.
type UnitAllocated struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Order  string `json:"order"`
}

// EventType implements Payload.
func (UnitAllocated) EventType() EventType { return EventUnitAllocated }

// Validate implements Payload.
func (p UnitAllocated) Validate() error {
	if err := validateOrderID(EventUnitAllocated, p.Order); err != nil {
		return err
	}
	return validateUnit(p.GTIN, p.Serial)
}

// UnitPrinted records that a pack's code was printed.
type UnitPrinted struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Device string `json:"device"` // printer or coder name
}

// EventType implements Payload.
func (UnitPrinted) EventType() EventType { return EventUnitPrinted }

// Validate implements Payload.
func (p UnitPrinted) Validate() error {
	return validateUnitDevice(EventUnitPrinted, p.GTIN, p.Serial, p.Device)
}

// UnitVerified records that the camera read exactly what was printed.
type UnitVerified struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Device string `json:"device"` // camera name
	Read   string `json:"read"`   // the decoded data as read, bracketed element string
	Grade  string `json:"grade"`  // ISO/IEC 15415 grade letter A-F, or "" when not graded
}

// EventType implements Payload.
func (UnitVerified) EventType() EventType { return EventUnitVerified }

// Validate implements Payload.
func (p UnitVerified) Validate() error {
	if err := validateText(EventUnitVerified, "read", p.Read, 200, true); err != nil {
		return err
	}
	if p.Grade != "" && (len(p.Grade) != 1 || p.Grade[0] < 'A' || p.Grade[0] > 'F') {
		return Errorf(EINVALID, "unit.verified: grade %q is not a letter A-F", p.Grade)
	}
	return validateUnitDevice(EventUnitVerified, p.GTIN, p.Serial, p.Device)
}

// UnitCommissioned records that a verified pack became a saleable product.
type UnitCommissioned struct {
	GTIN   string `json:"gtin"`
	Serial string `json:"serial"`
	Device string `json:"device"`
}

// EventType implements Payload.
func (UnitCommissioned) EventType() EventType { return EventUnitCommissioned }

// Validate implements Payload.
func (p UnitCommissioned) Validate() error {
	return validateUnitDevice(EventUnitCommissioned, p.GTIN, p.Serial, p.Device)
}

// UnitRejected records that a pack was rejected on the line, and why.
type UnitRejected struct {
	GTIN   string       `json:"gtin"`
	Serial string       `json:"serial"`
	Reason RejectReason `json:"reason"`
	Device string       `json:"device"`
	Detail string       `json:"detail,omitempty"` // e.g. what was read instead
}

// EventType implements Payload.
func (UnitRejected) EventType() EventType { return EventUnitRejected }

// Validate implements Payload.
func (p UnitRejected) Validate() error {
	if !slices.Contains(RejectReasons(), p.Reason) {
		return Errorf(EINVALID, "unit.rejected: unknown reason %q", p.Reason)
	}
	if err := validateText(EventUnitRejected, "detail", p.Detail, 200, false); err != nil {
		return err
	}
	return validateUnitDevice(EventUnitRejected, p.GTIN, p.Serial, p.Device)
}

// UnitDecommissioned records that a pack left the supply chain.
type UnitDecommissioned struct {
	GTIN   string             `json:"gtin"`
	Serial string             `json:"serial"`
	Reason DecommissionReason `json:"reason"`
	Detail string             `json:"detail,omitempty"`
}

// EventType implements Payload.
func (UnitDecommissioned) EventType() EventType { return EventUnitDecommissioned }

// Validate implements Payload.
func (p UnitDecommissioned) Validate() error {
	if !slices.Contains(DecommissionReasons(), p.Reason) {
		return Errorf(EINVALID, "unit.decommissioned: unknown reason %q", p.Reason)
	}
	if err := validateText(EventUnitDecommissioned, "detail", p.Detail, 200, false); err != nil {
		return err
	}
	return validateUnit(p.GTIN, p.Serial)
}

// UnitSampled records that a pack was taken as a sample (QA, retention).
type UnitSampled struct {
	GTIN    string `json:"gtin"`
	Serial  string `json:"serial"`
	Purpose string `json:"purpose"` // e.g. "qa", "retention"
}

// EventType implements Payload.
func (UnitSampled) EventType() EventType { return EventUnitSampled }

// Validate implements Payload.
func (p UnitSampled) Validate() error {
	if err := validateText(EventUnitSampled, "purpose", p.Purpose, 64, true); err != nil {
		return err
	}
	return validateUnit(p.GTIN, p.Serial)
}

// SSCCAllocated records that a container code was taken for a case or
// pallet. An SSCC is allocated once, for ever.
type SSCCAllocated struct {
	SSCC  string           `json:"sscc"`
	Level AggregationLevel `json:"level"`
	Order string           `json:"order,omitempty"`
}

// EventType implements Payload.
func (SSCCAllocated) EventType() EventType { return EventSSCCAllocated }

// Validate implements Payload.
func (p SSCCAllocated) Validate() error {
	if err := validateLevel(EventSSCCAllocated, p.Level); err != nil {
		return err
	}
	if p.Order != "" {
		if err := validateOrderID(EventSSCCAllocated, p.Order); err != nil {
			return err
		}
	}
	return validateSSCC(p.SSCC)
}

// SSCCRangeReceived records a block of SSCC serial references of a company
// prefix that the central service gave this station: the station may make
// the SSCCs extension digit + prefix + reference + check digit for every
// reference from First to Last (inclusive) and any extension digit. The
// central never gives a reference to two stations, so stations that share
// a company prefix never make the same SSCC.
type SSCCRangeReceived struct {
	Prefix string `json:"prefix"` // GS1 company prefix, 6 to 12 digits
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Block  int64  `json:"block"` // the central's id of the block
}

// EventType implements Payload.
func (SSCCRangeReceived) EventType() EventType { return EventSSCCRangeReceived }

// Validate implements Payload.
func (p SSCCRangeReceived) Validate() error {
	r := SSCCRange{Prefix: p.Prefix, First: p.First, Last: p.Last, Block: p.Block}
	if err := r.Validate(); err != nil {
		return Errorf(EINVALID, "%s: %s", EventSSCCRangeReceived, ErrorMessage(err))
	}
	if p.Block < 1 {
		return Errorf(EINVALID, "%s: block %d must be positive", EventSSCCRangeReceived, p.Block)
	}
	return nil
}

// maxChildren bounds the children of one aggregation event.
const maxChildren = 10000

// AggregationPacked records children put into a parent. A child is in one
// parent at most.
type AggregationPacked struct {
	Parent   Item             `json:"parent"`
	Level    AggregationLevel `json:"level"` // the parent's level
	Children []Item           `json:"children"`
}

// EventType implements Payload.
func (AggregationPacked) EventType() EventType { return EventAggregationPacked }

// Validate implements Payload.
func (p AggregationPacked) Validate() error {
	if err := validateLevel(EventAggregationPacked, p.Level); err != nil {
		return err
	}
	return validateFamily(EventAggregationPacked, p.Parent, p.Children)
}

// AggregationUnpacked records children taken out of their parent. It lists
// every child taken out, also when the whole parent is emptied.
type AggregationUnpacked struct {
	Parent   Item   `json:"parent"`
	Children []Item `json:"children"`
	Reason   string `json:"reason"` // e.g. "rework", "partial case", "repack"
}

// EventType implements Payload.
func (AggregationUnpacked) EventType() EventType { return EventAggregationUnpacked }

// Validate implements Payload.
func (p AggregationUnpacked) Validate() error {
	if err := validateText(EventAggregationUnpacked, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateFamily(EventAggregationUnpacked, p.Parent, p.Children)
}

// OrderCreated records a packaging order at this station, in state planned.
type OrderCreated struct {
	Order    string `json:"order"`
	GTIN     string `json:"gtin"`
	Lot      string `json:"lot"`
	Expiry   string `json:"expiry"` // YYMMDD, day 00 allowed (end of month)
	Quantity int64  `json:"quantity"`
	Line     string `json:"line,omitempty"`
	// ExpectedYield is the share of printed packs expected to be
	// commissioned (0 < y <= 1); 0 when the order does not say.
	ExpectedYield float64 `json:"expected_yield,omitempty"`
	// MinGrade is the lowest ISO/IEC 15415 grade letter (A-D) a pack's code
	// may read at to be commissioned; "" means the product's (DefaultMinGrade
	// when the product does not say either).
	MinGrade string `json:"min_grade,omitempty"`
}

// EventType implements Payload.
func (OrderCreated) EventType() EventType { return EventOrderCreated }

// Validate implements Payload.
func (p OrderCreated) Validate() error {
	if err := validateOrderID(EventOrderCreated, p.Order); err != nil {
		return err
	}
	if err := validateGTIN(p.GTIN); err != nil {
		return err
	}
	if p.Lot == "" || len(p.Lot) > 20 || !isCSET82(p.Lot) {
		return Errorf(EINVALID, "order.created: lot %q must be 1 to 20 GS1 CSET 82 characters", p.Lot)
	}
	if !validExpiry(p.Expiry) {
		return Errorf(EINVALID, "order.created: expiry %q is not a YYMMDD date", p.Expiry)
	}
	if p.Quantity <= 0 {
		return Errorf(EINVALID, "order.created: quantity %d must be positive", p.Quantity)
	}
	if p.ExpectedYield < 0 || p.ExpectedYield > 1 {
		return Errorf(EINVALID, "order.created: expected yield %g must be between 0 and 1", p.ExpectedYield)
	}
	if p.MinGrade != "" && (len(p.MinGrade) != 1 || p.MinGrade[0] < 'A' || p.MinGrade[0] > 'D') {
		return Errorf(EINVALID, "order.created: minimum grade %q is not a letter A-D", p.MinGrade)
	}
	return validateText(EventOrderCreated, "line", p.Line, 64, false)
}

// OrderStateChanged records an order moving from one state to another.
type OrderStateChanged struct {
	Order  string     `json:"order"`
	From   OrderState `json:"from"`
	To     OrderState `json:"to"`
	Reason string     `json:"reason,omitempty"`
}

// EventType implements Payload.
func (OrderStateChanged) EventType() EventType { return EventOrderStateChanged }

// Validate implements Payload.
func (p OrderStateChanged) Validate() error {
	if err := validateOrderID(EventOrderStateChanged, p.Order); err != nil {
		return err
	}
	for _, s := range []OrderState{p.From, p.To} {
		if !slices.Contains([]OrderState{OrderPlanned, OrderReleased, OrderRunning, OrderHeld, OrderCompleted, OrderClosed}, s) {
			return Errorf(EINVALID, "order.state_changed: unknown order state %q", s)
		}
	}
	if p.From == p.To {
		return Errorf(EINVALID, "order.state_changed: from and to are both %q", p.From)
	}
	return validateText(EventOrderStateChanged, "reason", p.Reason, 200, false)
}

// ClockStepped records that the station clock read earlier than the
// previous event's time. The ledger writes it by itself, just before the
// first event stamped with the earlier time; the event's own Time is To.
type ClockStepped struct {
	From time.Time `json:"from"` // the previous event's time
	To   time.Time `json:"to"`   // the new, earlier reading
}

// EventType implements Payload.
func (ClockStepped) EventType() EventType { return EventClockStepped }

// Validate implements Payload.
func (p ClockStepped) Validate() error {
	if !p.To.Before(p.From) {
		return Errorf(EINVALID, "clock.stepped: to %s is not before from %s", FormatTime(p.To), FormatTime(p.From))
	}
	return nil
}

func validateUnit(gtin, serial string) error {
	if err := validateGTIN(gtin); err != nil {
		return err
	}
	return validateSerial(serial)
}

func validateUnitDevice(t EventType, gtin, serial, device string) error {
	if err := validateText(t, "device", device, 64, true); err != nil {
		return err
	}
	return validateUnit(gtin, serial)
}

// maxSerials bounds the serials of one pool event.
const maxSerials = 100000

func validateSerials(t EventType, gtin string, serials []string) error {
	if err := validateGTIN(gtin); err != nil {
		return err
	}
	if len(serials) == 0 || len(serials) > maxSerials {
		return Errorf(EINVALID, "%s: %d serials, want 1 to %d", t, len(serials), maxSerials)
	}
	seen := make(map[string]bool, len(serials))
	for _, s := range serials {
		if err := validateSerial(s); err != nil {
			return err
		}
		if seen[s] {
			return Errorf(EINVALID, "%s: serial %q listed twice", t, s)
		}
		seen[s] = true
	}
	return nil
}

func validateFamily(t EventType, parent Item, children []Item) error {
	if err := parent.Validate(); err != nil {
		return Errorf(EINVALID, "%s: parent: %s", t, ErrorMessage(err))
	}
	if len(children) == 0 || len(children) > maxChildren {
		return Errorf(EINVALID, "%s: %d children, want 1 to %d", t, len(children), maxChildren)
	}
	seen := make(map[Item]bool, len(children))
	for _, c := range children {
		if err := c.Validate(); err != nil {
			return Errorf(EINVALID, "%s: child: %s", t, ErrorMessage(err))
		}
		if c == parent {
			return Errorf(EINVALID, "%s: %s cannot be its own child", t, c.Key())
		}
		if seen[c] {
			return Errorf(EINVALID, "%s: child %s listed twice", t, c.Key())
		}
		seen[c] = true
	}
	return nil
}

func validateLevel(t EventType, l AggregationLevel) error {
	if l != LevelBundle && l != LevelCase && l != LevelPallet {
		return Errorf(EINVALID, "%s: level %q is not bundle, case or pallet", t, l)
	}
	return nil
}

func validateOrderID(t EventType, id string) error {
	if id == "" || len(id) > 64 || !isPrintableASCII(id) {
		return Errorf(EINVALID, "%s: order id %q must be 1 to 64 printable ASCII characters", t, id)
	}
	return nil
}

func validateText(t EventType, field, s string, max int, required bool) error {
	if required && s == "" {
		return Errorf(EINVALID, "%s: %s is missing", t, field)
	}
	if len(s) > max {
		return Errorf(EINVALID, "%s: %s is %d bytes long, at most %d allowed", t, field, len(s), max)
	}
	return nil
}

// validateGTIN checks a GTIN-14: 14 digits with a valid GS1 check digit.
// (station/gs1 holds the full identifier rules; this is the ledger's guard.)
func validateGTIN(g string) error {
	if len(g) != 14 || !gs1CheckDigitOK(g) {
		return Errorf(EINVALID, "GTIN %q is not 14 digits with a valid check digit", g)
	}
	return nil
}

func validateSSCC(s string) error {
	if len(s) != 18 || !gs1CheckDigitOK(s) {
		return Errorf(EINVALID, "SSCC %q is not 18 digits with a valid check digit", s)
	}
	return nil
}

func validateSerial(s string) error {
	if s == "" || len(s) > 20 || !isCSET82(s) {
		return Errorf(EINVALID, "serial %q must be 1 to 20 GS1 CSET 82 characters", s)
	}
	return nil
}

// gs1CheckDigitOK reports whether s is all digits and its last digit is the
// GS1 check digit of the others (weights 3,1,3,... from the right).
func gs1CheckDigitOK(s string) bool {
	sum := 0
	for i := len(s) - 2; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if (len(s)-2-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	last := s[len(s)-1]
	return last >= '0' && last <= '9' && int(last-'0') == (10-sum%10)%10
}

// isCSET82 reports whether s uses only GS1 AI encodable character set 82.
func isCSET82(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c == '!', c == '"', c == '%', c == '&', c == '\'', c == '(', c == ')', c == '*', c == '+',
			c == ',', c == '-', c == '.', c == '/', c == ':', c == ';', c == '<', c == '=', c == '>',
			c == '?', c == '_':
		default:
			return false
		}
	}
	return true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validExpiry checks a YYMMDD date where DD may be 00 (end of month).
func validExpiry(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	mm := int(s[2]-'0')*10 + int(s[3]-'0')
	dd := int(s[4]-'0')*10 + int(s[5]-'0')
	if mm < 1 || mm > 12 {
		return false
	}
	if dd == 0 {
		return true
	}
	yy := 2000 + int(s[0]-'0')*10 + int(s[1]-'0')
	return dd <= time.Date(yy, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
