package dscsa

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
)

// Sources of stored EPCIS events.
const (
	SourceOutbound = "outbound" // an event of a document we sent (origin: the delivery's document id)
	SourceCapture  = "capture"  // captured from a partner (origin: the capture job)
	SourceStation  = "station"  // derived from a station journal (origin: station:seq)
	SourceReceipt  = "receipt"  // a receiving event of a receipt here (origin: the receipt id)
)

// StoredEvent is an EPCIS event in the repository: the event, its hash
// (CBV 2.0 canonical event hash, the deduplication key), where it came
// from and when it was recorded here.
type StoredEvent struct {
	ID         int64 // the repository's number, assigned when stored
	Hash       string
	Event      *epcis.Event
	Source     string
	Origin     string
	Partner    string // the partner that captured it, "" for ours
	RecordTime time.Time
}

// NewStoredEvent wraps an event, computing its hash.
func NewStoredEvent(e *epcis.Event, source, origin, partner string, recorded time.Time) StoredEvent {
	return StoredEvent{Hash: e.Hash(), Event: e, Source: source, Origin: origin, Partner: partner, RecordTime: recorded.UTC()}
}

// Roles an EPC plays in an event, for MATCH_ queries.
const (
	RoleEPC    = "epc"    // epcList
	RoleChild  = "child"  // childEPCs
	RoleParent = "parent" // parentID
	RoleInput  = "input"  // inputEPCList
	RoleOutput = "output" // outputEPCList
)

// EPCRef is one EPC of an event and its role.
type EPCRef struct {
	EPC  string
	Role string
}

// EPCs returns every EPC the event names, with its role.
func EPCs(e *epcis.Event) []EPCRef {
	n := len(e.EPCList) + len(e.ChildEPCs) + len(e.InputEPCList) + len(e.OutputEPCList) + 1
	out := make([]EPCRef, 0, n)
	seen := make(map[EPCRef]bool, n)
	add := func(epc, role string) {
		r := EPCRef{epc, role}
		if epc != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, x := range e.EPCList {
		add(x, RoleEPC)
	}
	add(e.ParentID, RoleParent)
	for _, x := range e.ChildEPCs {
		add(x, RoleChild)
	}
	for _, x := range e.InputEPCList {
		add(x, RoleInput)
	}
	for _, x := range e.OutputEPCList {
		add(x, RoleOutput)
	}
	return out
}

// Columns are the fields of an event the query engine filters on, as the
// repository indexes them ("" when absent). Times are UTC in
// station.FormatTime's sortable form.
type Columns struct {
	Type, EventTime, RecordTime, Action, BizStep, Disposition, ReadPoint, BizLocation, EventID string
}

// Columns returns the indexed fields of the stored event.
func (s *StoredEvent) Columns() Columns {
	e := s.Event
	c := Columns{Type: string(e.Type), EventTime: station.FormatTime(e.EventTime.UTC()), RecordTime: station.FormatTime(s.RecordTime.UTC()),
		Action: string(e.Action), BizStep: string(e.BizStep), Disposition: string(e.Disposition), EventID: e.EventID}
	if e.ReadPoint != nil {
		c.ReadPoint = e.ReadPoint.ID
	}
	if e.BizLocation != nil {
		c.BizLocation = e.BizLocation.ID
	}
	if c.EventID == "" {
		c.EventID = s.Hash
	}
	return c
}

// eventData is the stored form of an event: the model as JSON, versioned.
type eventData struct {
	V     int          `json:"v"`
	Event *epcis.Event `json:"event"`
}

// EncodeEvent returns the stored form of an event (the model as JSON; it
// keeps everything the model holds, extensions included).
func EncodeEvent(e *epcis.Event) ([]byte, error) {
	b, err := json.Marshal(eventData{V: 1, Event: e})
	if err != nil {
		return nil, fmt.Errorf("encode EPCIS event: %w", err)
	}
	return b, nil
}

// DecodeEvent reads what EncodeEvent wrote.
func DecodeEvent(b []byte) (*epcis.Event, error) {
	var d eventData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode stored EPCIS event: %w", err)
	}
	if d.V != 1 || d.Event == nil {
		return nil, fmt.Errorf("decode stored EPCIS event: unknown stored form version %d", d.V)
	}
	return d.Event, nil
}
