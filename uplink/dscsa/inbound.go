package dscsa

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/linestation/linestation/station"
)

// Receiving at a warehouse station: a station lists the partners'
// documents waiting for its site and receives against one by scan. The
// station's site is the location whose Stations list names it; a station
// sees and receives only the documents addressed to its site (and those
// that name no destination location), and a document is received once.

// maxInbound bounds the documents listed to a station.
const maxInbound = 200

// siteOf returns the location a station is at.
func (x *Exchange) siteOf(ctx context.Context, stationID string) (Location, error) {
	locs, err := x.store.Locations(ctx)
	if err != nil {
		return Location{}, err
	}
	for _, l := range locs {
		for _, s := range l.Stations {
			if s == stationID {
				return l, nil
			}
		}
	}
	return Location{}, Forbidden("station %s is at no site of the DSCSA exchange: list it in its location's stations (PUT /v1/dscsa/locations/GLN) to receive partners' shipments there", stationID)
}

// addressedTo reports whether a document may be received at site.
func (d *document) addressedTo(site Location) bool {
	return d.destination == "" || d.destination == site.GLN
}

// InboundDocuments returns the partners' documents captured here and not
// yet received that are addressed to the station's site, newest first.
// Errors: EUNAUTHORIZED (ForbiddenError) when the station is at no site.
func (x *Exchange) InboundDocuments(ctx context.Context, stationID string) ([]station.InboundDocument, error) {
	site, err := x.siteOf(ctx, stationID)
	if err != nil {
		return nil, err
	}
	jobs, err := x.store.UnreceivedCaptureJobs(ctx, maxInbound)
	if err != nil {
		return nil, err
	}
	out := []station.InboundDocument{}
	for _, j := range jobs {
		doc, err := x.readDocument(ctx, j)
		if station.ErrorCode(err) == station.ECONFLICT {
			continue // nothing to receive against (no shipping event)
		} else if err != nil {
			return nil, err
		}
		if !doc.addressedTo(site) {
			continue
		}
		d, err := x.inboundDocument(ctx, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// inboundDocument is a document as a station sees it, with what earlier
// parts (partial receipts) received marked.
func (x *Exchange) inboundDocument(ctx context.Context, doc *document) (station.InboundDocument, error) {
	j := doc.job
	d := station.InboundDocument{Capture: j.ID, DocumentID: j.DocumentID, Partner: j.Partner, PO: doc.po, Location: doc.destination}
	if d.DocumentID == "" {
		d.DocumentID = j.ID
	}
	if t, err := time.Parse(time.RFC3339Nano, j.CreatedAt); err == nil {
		d.Captured = t
	}
	if p, err := x.store.Partner(ctx, j.Partner); err == nil {
		d.PartnerName, d.PartnerGLN = p.Name, p.GLN
	}
	parent := map[string]string{}
	for epc, it := range doc.byEPC {
		for _, ch := range it.children {
			parent[ch] = epc
		}
	}
	rs, err := x.store.Receipts(ctx, j.ID)
	if err != nil {
		return d, err
	}
	got := map[string]bool{}
	var mark func(epc string, depth int)
	mark = func(epc string, depth int) {
		if got[epc] || depth > maxTraceDepth {
			return
		}
		got[epc] = true
		if it := doc.byEPC[epc]; it != nil {
			for _, ch := range it.children {
				mark(ch, depth+1)
			}
		}
	}
	for _, r := range rs {
		for _, epc := range r.TopEPCs {
			mark(epc, 0)
		}
	}
	var epcs []string
	for epc := range doc.expected {
		epcs = append(epcs, epc)
	}
	// Containers first (fewest ancestors first), then by key.
	depth := func(epc string) int {
		n := 0
		for p, ok := parent[epc]; ok && n <= maxTraceDepth; p, ok = parent[p] {
			n++
		}
		return n
	}
	sort.Slice(epcs, func(a, b int) bool {
		da, db := depth(epcs[a]), depth(epcs[b])
		if da != db {
			return da < db
		}
		return doc.byEPC[epcs[a]].item.Key() < doc.byEPC[epcs[b]].item.Key()
	})
	for _, epc := range epcs {
		it := doc.byEPC[epc]
		ii := station.InboundItem{Item: it.item, Received: got[epc]}
		if p, ok := parent[epc]; ok && doc.expected[p] {
			pi := doc.byEPC[p].item
			ii.In = &pi
		}
		if it.item.SSCC == "" && len(it.children) == 0 {
			d.Units++
			if got[epc] {
				d.Received++
			}
		}
		d.Items = append(d.Items, ii)
	}
	return d, nil
}

// ReceiveAtStation receives goods a station scanned against a document
// addressed to its site (the location is the station's site), once: a
// document with a receipt is refused (ECONFLICT), as are an unknown
// document (ENOTFOUND), a document for another site (EUNAUTHORIZED) and a
// scan that is no GS1 identifier (EINVALID); a refused receipt records
// nothing.
//
// With partial the scans are a part of the shipment and more is to come:
// the document stays waiting, parts are received until one that is not
// partial, and what is missing is reported with that last one.
func (x *Exchange) ReceiveAtStation(ctx context.Context, stationID, capture string, scans []string, partial bool) (station.InboundReceipt, error) {
	site, err := x.siteOf(ctx, stationID)
	if err != nil {
		return station.InboundReceipt{}, err
	}
	j, err := x.store.CaptureJob(ctx, capture)
	if station.ErrorCode(err) == station.ENOTFOUND {
		return station.InboundReceipt{}, station.Errorf(station.ENOTFOUND, "document %q is not known at the central service: choose it from the list of documents waiting", capture)
	} else if err != nil {
		return station.InboundReceipt{}, err
	}
	rs, err := x.store.Receipts(ctx, j.ID)
	if err != nil {
		return station.InboundReceipt{}, err
	}
	for _, r := range rs {
		if !r.Partial {
			return station.InboundReceipt{}, station.Errorf(station.ECONFLICT, "document %s was already received (receipt %d, %s by %s): it cannot be received again",
				r.DocumentID, r.ID, r.ReceivedAt.Format(time.RFC3339), r.By)
		}
	}
	doc, err := x.readDocument(ctx, j)
	if err != nil {
		return station.InboundReceipt{}, err
	}
	if !doc.addressedTo(site) {
		return station.InboundReceipt{}, Forbidden("document %s is addressed to location %s, not to this station's site %s (%s)", j.DocumentID, doc.destination, site.GLN, site.Name)
	}
	r, err := x.receive(ctx, Caller{Name: stationID, Station: true}, ReceiveRequest{Capture: j.ID, Scans: scans, Location: site.GLN, Partial: partial}, doc, rs, true)
	if err != nil {
		return station.InboundReceipt{}, err
	}
	out := r.Inbound()
	if p, err := x.store.Partner(ctx, r.Partner); err == nil {
		out.PartnerGLN = p.GLN
	}
	return out, nil
}

// Inbound returns the receipt as a station sees it.
func (r Receipt) Inbound() station.InboundReceipt {
	out := station.InboundReceipt{ID: r.ID, Capture: r.Capture, DocumentID: r.DocumentID, Partner: r.Partner, PO: r.PO, Location: r.Location,
		ReceivedAt: r.ReceivedAt, Received: r.Received, Unexpected: r.Unexpected, Partial: r.Partial, Units: r.Units}
	if r.Exceptions == nil || r.Exceptions.Exceptions == nil {
		if out.Units == 0 { // a receipt from before Units was kept
			out.Units = r.Received
		}
		return out
	}
	out.ReportID = r.Exceptions.MessageUUID
	e := r.Exceptions.Exceptions
	out.Missing, out.Misaligned = len(e.MissingProduct), len(e.DataMisalignment)
	if out.Units == 0 {
		out.Units = r.Received + out.Missing
	}
	for _, m := range e.MissingProductData {
		it := station.SGTIN(m.ProductGTIN, deref(m.ProductSerial))
		if m.ProductGTIN == "" {
			it = station.SSCCItem(deref(m.ProductSerial))
		}
		out.Exceptions = append(out.Exceptions, station.InboundException{Kind: station.ExceptionUnexpected, Item: it})
	}
	for _, m := range e.MissingProduct {
		out.Exceptions = append(out.Exceptions, station.InboundException{Kind: station.ExceptionMissing, Item: station.SGTIN(m.ProductGTIN, m.ProductSerial)})
	}
	for _, m := range e.DataMisalignment {
		out.Exceptions = append(out.Exceptions, station.InboundException{Kind: station.ExceptionMisaligned, Item: station.SGTIN(m.ReceivedProductGTIN, deref(m.ReceivedProductSerial)),
			Detail: fmt.Sprintf("lot %s expiry %s; the document says lot %s expiry %s", m.ReceivedProductLot, m.ReceivedProductExpiry, m.ProductDataLot, m.ProductDataExpiry)})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
