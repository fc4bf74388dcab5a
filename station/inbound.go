package station

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/station/gs1"
)

// Receiving a partner's shipment by scan against its DSCSA document: the
// supplier's EPCIS document was captured by the central service, which
// alone holds it and compares what was scanned with it (the PDG exception
// schema). The station lists the documents waiting for its site, counts
// the scans against the document as the packer goes, sends them to the
// central and records the receipt in its journal. The station never needs
// to know the partner's serials: they are not this station's stock.

// Inbound is the central service's DSCSA exchange as a receiving station
// uses it (over HTTP in uplink, with the station's credential). The
// central knows which site the station is at and answers for that site
// only.
type Inbound interface {
	// InboundDocuments returns the partners' documents captured by the
	// central and not yet received, addressed to this station's site,
	// newest first.
	// Errors: EUNAVAILABLE when the central cannot be reached;
	// EUNAUTHORIZED when the central has this station at no site.
	InboundDocuments(ctx context.Context) ([]InboundDocument, error)
	// ReceiveInbound sends what was scanned (as scanned) against the
	// document of capture job capture and returns the central's receipt.
	// With partial, more of the shipment is still to come: the document
	// stays waiting, and what is missing is reported with the last part.
	// Errors: ENOTFOUND for an unknown document; ECONFLICT when it was
	// already received; EINVALID for a scan that is no GS1 identifier;
	// EUNAUTHORIZED for a document addressed to another site;
	// EUNAVAILABLE when the central cannot be reached (nothing is
	// recorded then).
	ReceiveInbound(ctx context.Context, capture string, scans []string, partial bool) (InboundReceipt, error)
}

// InboundDocument is a partner's shipment document waiting to be received:
// who sent it, and everything it ships (top-level items and what they hold).
type InboundDocument struct {
	Capture     string        `json:"capture"`                // the central's capture job: what a receipt is made against
	DocumentID  string        `json:"document_id"`            // the partner's document id (SBDH instance identifier)
	Partner     string        `json:"partner"`                // the partner's id at the central
	PartnerName string        `json:"partner_name,omitempty"` // for people
	PartnerGLN  string        `json:"partner_gln,omitempty"`
	PO          string        `json:"po,omitempty"`       // our purchase order number
	Location    string        `json:"location,omitempty"` // GLN of the site it is addressed to ("" when the document names none)
	Captured    time.Time     `json:"captured"`
	Units       int           `json:"units"`              // units (packs) the document ships
	Received    int           `json:"received,omitempty"` // of them, received in earlier parts (partial receipts)
	Items       []InboundItem `json:"items"`              // everything it ships, containers first
}

// InboundItem is an item a document ships, and the container it is in.
type InboundItem struct {
	Item     Item  `json:"item"`
	In       *Item `json:"in,omitempty"`       // the container it is in; nil for what the shipping event names
	Received bool  `json:"received,omitempty"` // received in an earlier part
}

// Name says who sent the document, for people.
func (d InboundDocument) Name() string {
	if d.PartnerName != "" {
		return d.PartnerName
	}
	return d.Partner
}

// Kinds of InboundException.
const (
	ExceptionMissing    = "missing"    // in the document, not received
	ExceptionUnexpected = "unexpected" // received, not in the document
	ExceptionMisaligned = "misaligned" // lot or expiry differ from the document
)

// InboundException is one mismatch of a receipt.
type InboundException struct {
	Kind   string `json:"kind"`
	Item   Item   `json:"item"`
	Detail string `json:"detail,omitempty"`
}

// InboundReceipt is the central's record of goods received against a
// document, as the station needs it.
type InboundReceipt struct {
	ID         int64     `json:"id"` // the central's receipt id
	Capture    string    `json:"capture"`
	DocumentID string    `json:"document_id"`
	Partner    string    `json:"partner"`
	PartnerGLN string    `json:"partner_gln,omitempty"`
	PO         string    `json:"po,omitempty"`
	Location   string    `json:"location"` // GLN of the receiving site
	ReceivedAt time.Time `json:"received_at"`
	Units      int       `json:"units"`      // units the document ships
	Received   int       `json:"received"`   // of them, received
	Missing    int       `json:"missing"`    // of them, not received
	Unexpected int       `json:"unexpected"` // scanned items the document does not ship
	Misaligned int       `json:"misaligned"` // received packs whose lot or expiry differ from the document
	// ReportID is the message UUID of the PDG exception report the central
	// keeps with the receipt; "" when everything matched.
	ReportID   string             `json:"report_id,omitempty"`
	Exceptions []InboundException `json:"exceptions,omitempty"`
	// Partial is set on a part of the shipment with more to come: Missing
	// is then 0 (what is missing is known with the last part), and
	// Received counts every part so far.
	Partial bool `json:"partial,omitempty"`
}

// Clean reports whether everything matched the document.
func (r InboundReceipt) Clean() bool { return r.Missing == 0 && r.Unexpected == 0 && r.Misaligned == 0 }

// InboundReceived records goods received against a partner's document at
// this station: the central's receipt, what was scanned, and the counts of
// its exceptions. The items are the partner's (not this station's serials):
// the journal is the record, no stock projection changes.
type InboundReceived struct {
	Receipt    int64  `json:"receipt"`           // the central's receipt id
	Capture    string `json:"capture"`           // the central's capture job of the document
	Document   string `json:"document"`          // the partner's document id
	Partner    string `json:"partner"`           // the partner's id at the central
	From       string `json:"from,omitempty"`    // GLN of the partner, when known
	PO         string `json:"po,omitempty"`      // purchase order
	Location   string `json:"location"`          // GLN of the receiving site
	Items      []Item `json:"items"`             // what was scanned, in scan order
	Units      int    `json:"units"`             // units the document ships
	Received   int    `json:"received"`          // of them, received
	Missing    int    `json:"missing"`           // of them, not received
	Unexpected int    `json:"unexpected"`        // scanned items the document does not ship
	Misaligned int    `json:"misaligned"`        // packs whose lot or expiry differ from the document
	Report     string `json:"report,omitempty"`  // message UUID of the PDG exception report
	Partial    bool   `json:"partial,omitempty"` // a part of the shipment, more to come
}

// EventType implements Payload.
func (InboundReceived) EventType() EventType { return EventInboundReceived }

// Validate implements Payload.
func (p InboundReceived) Validate() error {
	t := EventInboundReceived
	if p.Receipt < 1 {
		return Errorf(EINVALID, "%s: receipt %d must be the central's receipt id (1 or more)", t, p.Receipt)
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"capture", p.Capture, true}, {"document", p.Document, true}, {"partner", p.Partner, true}, {"po", p.PO, false}, {"report", p.Report, false}} {
		if f.required && f.v == "" || len(f.v) > 128 || !isPrintableASCII(f.v) {
			return Errorf(EINVALID, "%s: %s %q must be at most 128 printable ASCII characters", t, f.name, f.v)
		}
	}
	if p.From != "" {
		if err := gs1.ValidateGLN(p.From); err != nil {
			return Errorf(EINVALID, "%s: partner GLN %q: %v", t, p.From, err)
		}
	}
	if err := gs1.ValidateGLN(p.Location); err != nil {
		return Errorf(EINVALID, "%s: location GLN %q: %v", t, p.Location, err)
	}
	if p.Units < 0 || p.Received < 0 || p.Missing < 0 || p.Unexpected < 0 || p.Misaligned < 0 || p.Received > p.Units || p.Missing > p.Units {
		return Errorf(EINVALID, "%s: counts units %d, received %d, missing %d, unexpected %d, misaligned %d do not add up", t,
			p.Units, p.Received, p.Missing, p.Unexpected, p.Misaligned)
	}
	if len(p.Items) == 0 && !p.Partial && p.Received > 0 {
		return nil // the last receipt of a document received in parts may scan nothing
	}
	return validateItems(t, "-", p.Items)
}

// Receiving is a receipt in progress at the station: the document, and
// what the packer scanned so far, counted against it. It lives in memory
// until FinishReceiving sends it; nothing is recorded before. Safe for
// concurrent use.
type Receiving struct {
	// Document is the document received against.
	Document InboundDocument

	mu       sync.Mutex
	scans    []string
	items    []Item
	seen     map[Item]bool
	inDoc    map[Item]bool
	children map[Item][]Item
	parent   map[Item]Item
	covered  map[Item]bool // document items accounted for by a scan
	before   map[Item]bool // document items received in earlier parts
	got      int           // units accounted for
	unexp    int
}

// ReceivingScan is what one scan did.
type ReceivingScan struct {
	Item       Item
	InDocument bool
	Units      int // units of the document the scan accounts for
}

// ReceivingProgress is the running count of a receipt in progress.
type ReceivingProgress struct {
	Units      int // units the document ships
	Received   int // of them, accounted for by the scans
	Unexpected int // scanned items the document does not ship
	Scans      int
}

// NewReceiving starts counting scans against a document.
func NewReceiving(doc InboundDocument) *Receiving {
	r := &Receiving{Document: doc, seen: map[Item]bool{}, inDoc: map[Item]bool{}, children: map[Item][]Item{}, parent: map[Item]Item{}, covered: map[Item]bool{},
		before: map[Item]bool{}}
	for _, it := range doc.Items {
		r.inDoc[it.Item] = true
		if it.Received {
			r.before[it.Item] = true
		}
		if it.In != nil {
			r.children[*it.In] = append(r.children[*it.In], it.Item)
			r.parent[it.Item] = *it.In
		}
	}
	return r
}

// isUnit reports whether a document item is a unit (holds nothing, no SSCC).
func (r *Receiving) isUnit(it Item) bool { return it.SSCC == "" && len(r.children[it]) == 0 }

// Add counts a scan. It refuses (EINVALID) a scan that is no GS1
// identifier of a pack, case or pallet, and (ECONFLICT) an item scanned
// before or inside a container scanned before; a refused scan changes
// nothing.
func (r *Receiving) Add(scan string) (ReceivingScan, error) {
	it, _, err := ParseItem(scan)
	if err != nil {
		return ReceivingScan{}, Errorf(EINVALID, "%s: scan the GS1 label of a pack, case or pallet", ErrorMessage(err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[it] {
		return ReceivingScan{Item: it}, Errorf(ECONFLICT, "%s was already scanned", it)
	}
	if r.before[it] {
		return ReceivingScan{Item: it, InDocument: true}, Errorf(ECONFLICT, "%s was received in an earlier part of this shipment", it)
	}
	if len(r.scans) >= maxChildren {
		return ReceivingScan{Item: it}, Errorf(ECONFLICT, "a receipt takes at most %d scans: finish this one and receive the rest as the central's office asks", maxChildren)
	}
	if !r.inDoc[it] {
		r.record(scan, it)
		r.unexp++
		return ReceivingScan{Item: it}, nil
	}
	for p, ok := r.parent[it]; ok; p, ok = r.parent[p] {
		if r.seen[p] {
			return ReceivingScan{Item: it, InDocument: true}, Errorf(ECONFLICT, "%s is inside %s, which was already scanned", it, p)
		}
	}
	r.record(scan, it)
	n := 0
	var walk func(x Item, depth int)
	walk = func(x Item, depth int) {
		if r.covered[x] || depth > 16 {
			return
		}
		r.covered[x] = true
		if r.isUnit(x) {
			n++
		}
		for _, ch := range r.children[x] {
			walk(ch, depth+1)
		}
	}
	walk(it, 0)
	r.got += n
	return ReceivingScan{Item: it, InDocument: true, Units: n}, nil
}

func (r *Receiving) record(scan string, it Item) {
	r.scans = append(r.scans, strings.TrimSpace(scan))
	r.items = append(r.items, it)
	r.seen[it] = true
}

// Progress returns the running count.
func (r *Receiving) Progress() ReceivingProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReceivingProgress{Units: r.Document.Units, Received: r.Document.Received + r.got, Unexpected: r.unexp, Scans: len(r.scans)}
}

// Items returns the scanned items, in scan order.
func (r *Receiving) Items() []Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Item(nil), r.items...)
}

// errNoCentral refuses receiving at a station without a central service.
var errNoCentral = Errorf(EUNAVAILABLE, "the central service is not reachable: receiving against a partner's document needs it")

// inbound returns the central's exchange, or the error to show when there
// is none or it cannot be reached.
func (s *Service) inboundErr(err error) error {
	if ErrorCode(err) == EUNAVAILABLE {
		return fmt.Errorf("%w (%w)", errNoCentral, err)
	}
	return err
}

// InboundDocuments lists the partners' documents waiting to be received at
// this station's site. Offline it refuses with EUNAVAILABLE.
func (s *Service) InboundDocuments(ctx context.Context, user string) ([]InboundDocument, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return nil, err
	}
	if s.inbound == nil {
		return nil, errNoCentral
	}
	docs, err := s.inbound.InboundDocuments(ctx)
	if err != nil {
		return nil, s.inboundErr(err)
	}
	return docs, nil
}

// StartReceiving finds the document to receive against: ref is its
// capture job or document id, or a scan of something it ships (the
// shipment's pallet or case label). Nothing is recorded.
// Errors: ENOTFOUND when no waiting document matches (unknown, or already
// received); EUNAVAILABLE offline.
func (s *Service) StartReceiving(ctx context.Context, user, ref string) (*Receiving, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, Errorf(EINVALID, "give the document number, or scan the shipment's pallet or case label")
	}
	docs, err := s.InboundDocuments(ctx, user)
	if err != nil {
		return nil, err
	}
	var it Item
	scanned := false
	if x, _, err := ParseItem(ref); err == nil {
		it, scanned = x, true
	}
	for _, d := range docs {
		if d.Capture == ref || d.DocumentID == ref {
			return NewReceiving(d), nil
		}
		if scanned {
			for _, x := range d.Items {
				if x.Item == it {
					return NewReceiving(d), nil
				}
			}
		}
	}
	if scanned {
		return nil, Errorf(ENOTFOUND, "%s is in no document waiting to be received here: check the label, or ask the office whether the partner's document arrived", it)
	}
	return nil, Errorf(ENOTFOUND, "no document %q is waiting to be received here (unknown, or already received): check the number, or ask the office", ref)
}

// FinishReceiving sends the scans to the central, which compares them with
// the document and records the receipt and its exceptions, and records the
// receipt in the journal (InboundReceived). A refused receipt records
// nothing.
//
// With partial, the goods are a part of the shipment and more is to come:
// the document stays waiting for the rest, and what is missing is
// reported with the last part. A document received in parts is closed by
// a last receipt that may have no scans of its own.
func (s *Service) FinishReceiving(ctx context.Context, user string, r *Receiving, partial bool) (InboundReceipt, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return InboundReceipt{}, err
	}
	if s.inbound == nil {
		return InboundReceipt{}, errNoCentral
	}
	r.mu.Lock()
	scans, items := append([]string(nil), r.scans...), append([]Item(nil), r.items...)
	r.mu.Unlock()
	if len(scans) == 0 && (partial || r.Document.Received == 0) {
		return InboundReceipt{}, Errorf(EINVALID, "nothing was scanned: scan the pallets, cases or packs received first")
	}
	rec, err := s.inbound.ReceiveInbound(ctx, r.Document.Capture, scans, partial)
	if err != nil {
		return InboundReceipt{}, s.inboundErr(err)
	}
	doc := rec.DocumentID
	if doc == "" {
		doc = r.Document.DocumentID
	}
	p := InboundReceived{Receipt: rec.ID, Capture: rec.Capture, Document: doc, Partner: rec.Partner, From: r.Document.PartnerGLN, PO: rec.PO,
		Location: rec.Location, Items: items, Units: rec.Units, Received: rec.Received, Missing: rec.Missing, Unexpected: rec.Unexpected,
		Misaligned: rec.Misaligned, Report: rec.ReportID, Partial: rec.Partial}
	if p.Partner == "" {
		p.Partner = r.Document.Partner
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: p, User: user}); err != nil {
		return rec, fmt.Errorf("record receipt %d of document %s (the central holds it): %w", rec.ID, doc, err)
	}
	s.logger.Info("goods received against a partner's document", "receipt", rec.ID, "document", doc, "received", rec.Received,
		"missing", rec.Missing, "unexpected", rec.Unexpected, "misaligned", rec.Misaligned)
	return rec, nil
}
