package dscsa

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
)

// ReceiveRequest receives goods against a captured document: the capture
// job of the document (its transaction information), what was scanned
// (GS1 scan data, element strings, EPC or Digital Link URIs of packs,
// cases or pallets: a container counts for everything the document packs
// in it), and the GLN of our site that received them.
type ReceiveRequest struct {
	Capture  string   `json:"capture"`
	Scans    []string `json:"scans"`
	Location string   `json:"location"`
	// Partial marks a part of the shipment with more to come (stations
	// only): what is missing is reported with the last part.
	Partial bool `json:"partial,omitempty"`
}

// Receipt is the record of goods received against a document.
type Receipt struct {
	ID         int64     `json:"id"`
	Capture    string    `json:"capture"`
	DocumentID string    `json:"document_id,omitempty"`
	Partner    string    `json:"partner,omitempty"` // who sent the document
	PO         string    `json:"po,omitempty"`
	Location   string    `json:"location"`
	ReceivedAt time.Time `json:"received_at"`
	By         string    `json:"by"`
	Expected   int       `json:"expected"` // units and containers the document ships
	Units      int       `json:"units"`    // units the document ships
	Received   int       `json:"received"` // units received, in this and earlier parts
	Unexpected int       `json:"unexpected"`
	// Partial marks a part of the shipment with more to come; TopEPCs are
	// what this part received (scanned, in the document), for the next.
	Partial bool     `json:"partial,omitempty"`
	TopEPCs []string `json:"top_epcs,omitempty"`
	// Exceptions is the exception report for the partner, in the
	// Partnership for DSCSA Governance schema; nil when everything matched.
	Exceptions *ExceptionReport `json:"exceptions,omitempty"`
}

// ExceptionReport is a PDG exception report (report_schema.json).
type ExceptionReport struct {
	MessageUUID       string             `json:"message_uuid"`
	ExceptionCaseUUID string             `json:"exception_case_uuid"`
	Timestamp         int64              `json:"timestamp"`
	PONumber          string             `json:"po_number"`
	SenderInformation ContactInformation `json:"sender_information"`
	Exceptions        *Exceptions        `json:"exceptions"`
	OtherErrors       []string           `json:"other_errors"`
	CaseResolved      bool               `json:"case_resolved"`
}

// ContactInformation is the sender of an exception report.
type ContactInformation struct {
	GLN   string  `json:"gln"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// Exceptions are the exceptions of a report, by kind.
type Exceptions struct {
	MissingProductData []ProductNoEPCIS   `json:"missing_product_data,omitempty"`
	MissingProduct     []EPCISNoProduct   `json:"missing_product,omitempty"`
	DataMisalignment   []DataMisalignment `json:"data_misalignment,omitempty"`
	Overages           []OverageUnderage  `json:"overages,omitempty"`
	Underages          []OverageUnderage  `json:"underages,omitempty"`
}

// ProductNoEPCIS is product received without transaction data.
type ProductNoEPCIS struct {
	ExceptionItemUUID string  `json:"exception_item_uuid"`
	ProductGTIN       string  `json:"product_gtin"`
	ObservationSource string  `json:"observation_source"`
	ResolutionRequest string  `json:"resolution_request"`
	ProductSerial     *string `json:"product_serial"`
}

// EPCISNoProduct is transaction data of product not received.
type EPCISNoProduct struct {
	ExceptionItemUUID string `json:"exception_item_uuid"`
	FileID            string `json:"file_id"`
	ProductGTIN       string `json:"product_gtin"`
	ProductSerial     string `json:"product_serial"`
	ResolutionRequest string `json:"resolution_request"`
}

// DataMisalignment is product whose lot or expiry differs from its data.
type DataMisalignment struct {
	ExceptionItemUUID     string  `json:"exception_item_uuid"`
	ReceivedProductGTIN   string  `json:"received_product_gtin"`
	ReceivedProductLot    string  `json:"received_product_lot"`
	ReceivedProductExpiry string  `json:"received_product_expiry"`
	ReceivedProductSerial *string `json:"received_product_serial"`
	ProductDataGTIN       string  `json:"product_data_gtin"`
	ProductDataLot        string  `json:"product_data_lot"`
	ProductDataExpiry     string  `json:"product_data_expiry"`
	ProductDataSerial     *string `json:"product_data_serial"`
	ResolutionRequest     string  `json:"resolution_request"`
}

// OverageUnderage is a count per GTIN that differs.
type OverageUnderage struct {
	ExceptionItemUUID string `json:"exception_item_uuid"`
	GTIN              string `json:"gtin"`
	QuantityOrdered   int    `json:"quantity_ordered"`
	QuantityReceived  int    `json:"quantity_received"`
	ResolutionRequest string `json:"resolution_request"`
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// docItem is an EPC of a captured document with what the document says of it.
type docItem struct {
	epc      string
	item     station.Item
	lot      string
	expiry   string // YYYY-MM-DD
	children []string
	shipped  bool // named by a shipping event (top level)
}

// Receive receives goods against a captured document: what was scanned is
// compared with what the document ships (containers stand for what the
// document packs in them). Matching goods get a receiving event; the
// mismatches (scanned but not in the document, in the document but not
// scanned, lot or expiry differing from the document, counts per GTIN)
// become an exception report in the PDG schema, kept with the receipt.
func (x *Exchange) Receive(ctx context.Context, c Caller, req ReceiveRequest) (Receipt, error) {
	if req.Partial {
		return Receipt{}, station.Errorf(station.EINVALID, "partial receipts are made at the receiving station, part by part")
	}
	// What a station received in parts, while the document is not yet
	// received in full, counts as received.
	rs, err := x.store.Receipts(ctx, req.Capture)
	if err != nil {
		return Receipt{}, err
	}
	var parts []Receipt
	for _, r := range rs {
		if !r.Partial {
			parts = nil
			break
		}
		parts = append(parts, r)
	}
	return x.receive(ctx, c, req, nil, parts, false)
}

// document is what a captured document ships.
type document struct {
	job   CaptureJob
	items map[string]*docItem // by item key
	byEPC map[string]*docItem
	ship  *epcis.Event // the shipping event
	// expected is what is shipped and everything packed in it, by EPC.
	expected map[string]bool
	po       string
	// destination is the GLN of the location the shipping event names as
	// its destination; "" when it names none.
	destination string
}

// readDocument reads what a capture job's document ships. ECONFLICT when
// the job captured nothing or its document has no shipping event.
func (x *Exchange) readDocument(ctx context.Context, j CaptureJob) (*document, error) {
	if j.Running || j.Captured+j.Duplicates == 0 {
		return nil, station.Errorf(station.ECONFLICT, "capture job %s has no captured document to receive against (running %v, captured %d)", j.ID, j.Running, j.Captured)
	}
	doc := &document{job: j, items: map[string]*docItem{}, byEPC: map[string]*docItem{}, expected: map[string]bool{}}
	get := func(epc string) *docItem {
		if d := doc.byEPC[epc]; d != nil {
			return d
		}
		it, err := ItemOfEPC(epc)
		if err != nil {
			return nil
		}
		d := &docItem{epc: epc, item: it}
		doc.byEPC[epc], doc.items[it.Key()] = d, d
		return d
	}
	err := x.store.OriginEvents(ctx, SourceCapture, j.ID, func(se *StoredEvent) error {
		e := se.Event
		switch {
		case e.Type == epcis.ObjectEvent && e.BizStep == epcis.BizStepCommissioning:
			var lot, exp string
			for _, el := range e.ILMD {
				switch el.Local {
				case "lotNumber":
					lot = el.Text
				case "itemExpirationDate":
					exp = el.Text
				}
			}
			for _, epc := range e.EPCList {
				if d := get(epc); d != nil {
					d.lot, d.expiry = lot, exp
				}
			}
		case e.Type == epcis.AggregationEvent && e.Action == epcis.ActionAdd:
			if p := get(e.ParentID); p != nil {
				for _, ch := range e.ChildEPCs {
					if get(ch) != nil {
						p.children = append(p.children, ch)
					}
				}
			}
		case e.Type == epcis.ObjectEvent && e.BizStep == epcis.BizStepShipping:
			doc.ship = e
			for _, epc := range e.EPCList {
				if d := get(epc); d != nil {
					d.shipped = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if doc.ship == nil {
		return nil, station.Errorf(station.ECONFLICT, "the document of capture job %s has no shipping event: there is nothing to receive against", j.ID)
	}
	for _, bt := range doc.ship.BizTransactionList {
		if bt.Type == epcis.BizTransactionTypePO {
			doc.po = bt.Value[strings.LastIndexByte(bt.Value, ':')+1:]
		}
	}
	for _, d := range doc.ship.DestinationList {
		if d.Type == epcis.SourceDestTypeLocation {
			doc.destination = glnOf(d.Value)
		}
	}
	var expand func(epc string, depth int)
	expand = func(epc string, depth int) {
		d := doc.byEPC[epc]
		if d == nil || doc.expected[epc] || depth > maxTraceDepth {
			return
		}
		doc.expected[epc] = true
		for _, ch := range d.children {
			expand(ch, depth+1)
		}
	}
	for epc, d := range doc.byEPC {
		if d.shipped {
			expand(epc, 0)
		}
	}
	return doc, nil
}

// receive records a receipt; doc, when given, is the job's document read
// already; first refuses a document that has a receipt already.
//
// prior are the document's earlier parts (partial receipts), whose goods
// count as received. With check (a station's receipt) they are checked
// again when the receipt is stored: still all the receipts there are.
func (x *Exchange) receive(ctx context.Context, c Caller, req ReceiveRequest, doc *document, prior []Receipt, check bool) (Receipt, error) {
	if !c.Internal() {
		return Receipt{}, Forbidden("partners cannot record receipts here")
	}
	if len(req.Scans) == 0 && (req.Partial || len(prior) == 0) || len(req.Scans) > 100000 {
		return Receipt{}, station.Errorf(station.EINVALID, "scans: give 1 to 100000 scans")
	}
	if err := gs1.ValidateGLN(req.Location); err != nil {
		return Receipt{}, station.Errorf(station.EINVALID, "location %q must be the GLN of our receiving site: %v", req.Location, err)
	}
	if doc == nil {
		j, err := x.store.CaptureJob(ctx, req.Capture)
		if err != nil {
			return Receipt{}, err
		}
		if doc, err = x.readDocument(ctx, j); err != nil {
			return Receipt{}, err
		}
	}
	j := doc.job
	locs, err := x.store.Locations(ctx)
	if err != nil {
		return Receipt{}, err
	}
	var site *Location
	for i := range locs {
		if locs[i].GLN == req.Location {
			site = &locs[i]
		}
	}
	if site == nil {
		return Receipt{}, station.Errorf(station.EINVALID, "location %s has no master data here: register it first", req.Location)
	}
	now := x.now().UTC()
	r := Receipt{Capture: j.ID, DocumentID: j.DocumentID, Partner: j.Partner, PO: doc.po, Location: req.Location, ReceivedAt: now, By: c.String(),
		Partial: req.Partial}
	if r.DocumentID == "" {
		r.DocumentID = j.ID
	}
	items, byEPC, ship, expected := doc.items, doc.byEPC, doc.ship, doc.expected
	r.Expected = len(expected)
	// Received: what was scanned and everything packed in it.
	received := map[string]bool{}
	var top []string
	exc := &Exceptions{}
	unexpected := map[string]int{} // GTIN -> count
	var expand2 func(epc string, depth int)
	expand2 = func(epc string, depth int) {
		if received[epc] || depth > maxTraceDepth {
			return
		}
		received[epc] = true
		if d := byEPC[epc]; d != nil {
			for _, ch := range d.children {
				expand2(ch, depth+1)
			}
		}
	}
	// What earlier parts received is received; what they found unexpected
	// counts in the last part's overages.
	for _, p := range prior {
		for _, epc := range p.TopEPCs {
			expand2(epc, 0)
		}
		if p.Exceptions != nil && p.Exceptions.Exceptions != nil {
			for _, m := range p.Exceptions.Exceptions.MissingProductData {
				unexpected[m.ProductGTIN]++
			}
		}
	}
	earlier := maps.Clone(received)
	for i, s := range req.Scans {
		it, msg, err := station.ParseItem(s)
		if err != nil {
			return r, station.Errorf(station.EINVALID, "scans[%d]: %s", i, station.ErrorMessage(err))
		}
		d := items[it.Key()]
		if d != nil && expected[d.epc] && earlier[d.epc] {
			continue // received in an earlier part
		}
		if d == nil || !expected[d.epc] {
			r.Unexpected++
			serial := it.Serial
			gtin := it.GTIN
			if it.SSCC != "" {
				gtin, serial = "", it.SSCC
			}
			unexpected[gtin]++
			exc.MissingProductData = append(exc.MissingProductData, ProductNoEPCIS{ExceptionItemUUID: newUUID(), ProductGTIN: gtin,
				ObservationSource: "Scan", ResolutionRequest: "Send new data", ProductSerial: &serial})
			continue
		}
		if !received[d.epc] {
			top = append(top, d.epc)
		}
		expand2(d.epc, 0)
		if msg != nil && it.GTIN != "" {
			lot, _ := msg.Get("10")
			exp, hasExp := msg.Get("17")
			expDate := ""
			if hasExp {
				if t, err := gs1.ExpiryDate(exp, now); err == nil {
					expDate = t.Format("2006-01-02")
				}
			}
			if lot != "" && lot != d.lot || expDate != "" && d.expiry != "" && expDate != d.expiry {
				serial := it.Serial
				exc.DataMisalignment = append(exc.DataMisalignment, DataMisalignment{ExceptionItemUUID: newUUID(),
					ReceivedProductGTIN: it.GTIN, ReceivedProductLot: lot, ReceivedProductExpiry: pdgDate(expDate), ReceivedProductSerial: &serial,
					ProductDataGTIN: it.GTIN, ProductDataLot: d.lot, ProductDataExpiry: pdgDate(d.expiry), ProductDataSerial: &serial,
					ResolutionRequest: "Send new data"})
			}
		}
	}
	// Missing: shipped units (items holding nothing) not received.
	ordered, got := map[string]int{}, map[string]int{}
	var missing []string
	for epc := range expected {
		d := byEPC[epc]
		if d.item.SSCC != "" || len(d.children) > 0 {
			continue // containers: their units say it
		}
		ordered[d.item.GTIN]++
		if received[epc] {
			got[d.item.GTIN]++
			r.Received++
		} else {
			missing = append(missing, epc)
		}
	}
	for _, n := range ordered {
		r.Units += n
	}
	r.TopEPCs = top
	if r.Partial {
		// What is missing, and the counts per GTIN, are known with the
		// last part.
		missing = nil
	}
	if r.Partial && len(top) == 0 && r.Unexpected == 0 && len(prior) > 0 {
		// A part sent again after its answer was lost: nothing new.
		last := prior[len(prior)-1]
		return r, station.Errorf(station.ECONFLICT, "everything scanned was received in an earlier part of document %s (receipt %d, %s): nothing new to receive",
			r.DocumentID, last.ID, last.ReceivedAt.Format(time.RFC3339))
	}
	sort.Strings(missing)
	for _, epc := range missing {
		d := byEPC[epc]
		exc.MissingProduct = append(exc.MissingProduct, EPCISNoProduct{ExceptionItemUUID: newUUID(), FileID: r.DocumentID,
			ProductGTIN: d.item.GTIN, ProductSerial: d.item.Serial, ResolutionRequest: "Send product"})
	}
	gtins := map[string]bool{}
	for g := range ordered {
		gtins[g] = true
	}
	for g := range unexpected {
		if g != "" {
			gtins[g] = true
		}
	}
	var sorted []string
	for g := range gtins {
		sorted = append(sorted, g)
	}
	sort.Strings(sorted)
	for _, g := range sorted {
		if r.Partial {
			break
		}
		o, n := ordered[g], got[g]+unexpected[g]
		switch {
		case n > o:
			exc.Overages = append(exc.Overages, OverageUnderage{ExceptionItemUUID: newUUID(), GTIN: g, QuantityOrdered: o, QuantityReceived: n, ResolutionRequest: "Debit account"})
		case n < o:
			exc.Underages = append(exc.Underages, OverageUnderage{ExceptionItemUUID: newUUID(), GTIN: g, QuantityOrdered: o, QuantityReceived: n, ResolutionRequest: "Send product"})
		}
	}
	if len(exc.MissingProductData)+len(exc.MissingProduct)+len(exc.DataMisalignment)+len(exc.Overages)+len(exc.Underages) > 0 {
		r.Exceptions = &ExceptionReport{MessageUUID: newUUID(), ExceptionCaseUUID: newUUID(), Timestamp: now.Unix(), PONumber: r.PO,
			SenderInformation: ContactInformation{GLN: x.cfg.GLN, Email: x.cfg.Contact}, Exceptions: exc, OtherErrors: nil, CaseResolved: false}
	}
	// The receiving event: what arrived of the shipment, at our site.
	var evs []StoredEvent
	if len(top) > 0 {
		id, err := site.SGLN("")
		if err != nil {
			return r, err
		}
		place := &epcis.Place{ID: id}
		e := &epcis.Event{Type: epcis.ObjectEvent, EventTime: now.Truncate(time.Millisecond), EventTimeZoneOffset: site.Offset(now), EPCList: top,
			Action: epcis.ActionObserve, BizStep: epcis.BizStepReceiving, Disposition: epcis.DispositionInProgress, ReadPoint: place, BizLocation: place,
			BizTransactionList: ship.BizTransactionList, SourceList: ship.SourceList, DestinationList: ship.DestinationList}
		evs = append(evs, NewStoredEvent(e, SourceReceipt, j.ID, "", now))
	}
	n := -1
	if check {
		n = len(prior)
	}
	if err := x.store.RecordReceipt(ctx, &r, evs, n); err != nil {
		return r, err
	}
	x.logger.Info("goods received", "receipt", r.ID, logKeyCapture, j.ID, "received", r.Received, "expected", r.Expected, "unexpected", r.Unexpected,
		"exceptions", r.Exceptions != nil)
	return r, nil
}

// pdgDate writes a YYYY-MM-DD date as the PDG examples do (MMDDYYYY).
func pdgDate(d string) string {
	if len(d) != 10 {
		return d
	}
	return d[5:7] + d[8:10] + d[0:4]
}
