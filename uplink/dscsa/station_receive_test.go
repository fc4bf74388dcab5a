package dscsa_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// newWarehouseStation enrolls a station with a central and returns its
// service, receiving against partners' documents through the central with
// its own credential, its ledger, and its handle on the central.
func newWarehouseStation(t *testing.T, c *centralSite, id string) (*station.Service, *localdb.DB, *uplink.API) {
	t.Helper()
	code, err := central.AddStation(ctx, c.store, id, id, 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := uplink.NewAPI(c.srv.URL(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := anon.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	api := anon.WithToken(enr.Token)
	clock := &centraltest.Clock{}
	ledger := centraltest.MustLedger(t, filepath.Join(t.TempDir(), id+".db"), id, clock)
	light := auth.Params{Memory: 64, Time: 1, Threads: 1}
	svc, err := station.NewService(station.Config{Ledger: ledger, Clock: clock, Line: id, Inbound: &uplink.Inbound{API: api},
		Auth: station.AuthPolicy{Params: light}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	must(t, svc.ImportUser(ctx, station.User{ID: "pack", Name: "Pat Packer", Roles: []station.Role{station.RolePacker}, Active: true}))
	return svc, ledger, api
}

// atSite lists a station at our site (the wholesaler's DC).
func (c *centralSite) atSite(t *testing.T, gln string, stations ...string) {
	t.Helper()
	for _, l := range dscsatest.Locations() {
		if l.GLN == gln {
			l.Stations = stations
			c.call(t, "PUT", "/v1/dscsa/locations/"+gln, c.erp, l, nil, 200)
		}
	}
}

// receivingDC is the wholesaler's central with the manufacturer's document
// of 20 packs (2 cases on a pallet) captured, and station dc-1 at its DC.
func receivingDC(t *testing.T) (*dscsatest.Scenario, *centralSite, dscsa.CaptureJob, *station.Service, *localdb.DB, *uplink.API) {
	t.Helper()
	_, mx, s := shipped(t, 20)
	doc, _ := mustDoc(t, mx, "SH-1", epcis.FormatXML12)
	whs := newCentralSite(t, "wholesaler", dscsatest.WhsGLN)
	mfrToken := whs.partner(t, dscsa.Partner{ID: "mfr", Name: "Test Pharma Inc.", GLN: dscsatest.MfrGLN,
		Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone}, Permissions: []string{dscsa.PermCapture}})
	var job dscsa.CaptureJob
	whs.postDocument(t, mfrToken, doc, &job)
	whs.atSite(t, dscsatest.WhsDC, "dc-1")
	svc, ledger, api := newWarehouseStation(t, whs, "dc-1")
	return s, whs, job, svc, ledger, api
}

// TestStation_ReceiveByScan is the proof of receiving by scan at a
// warehouse station: the wholesaler's real central on loopback captures
// the manufacturer's document (20 packs in 2 cases on a pallet); station
// dc-1 at the DC lists it, scans one case, nine packs of the other and a
// pack the document does not ship, and finishes. The central keeps the
// receipt with a PDG exception report (one pack missing, one without
// data) that the PDG schema accepts; the station's journal holds the
// receipt. Bad input is refused clearly and changes nothing.
func TestStation_ReceiveByScan(t *testing.T) {
	s, whs, job, svc, ledger, api := receivingDC(t)

	docs, err := svc.InboundDocuments(ctx, "pack")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Capture != job.ID || docs[0].DocumentID != "DOC-SH-1" || docs[0].Units != 20 || docs[0].PO != "PO-SH-1" ||
		docs[0].PartnerName != "Test Pharma Inc." || docs[0].Location != dscsatest.WhsDC || len(docs[0].Items) != 1+2+20 || docs[0].Items[0].In != nil {
		t.Fatalf("documents waiting %+v", docs)
	}

	// Bad input is refused and records nothing.
	in := &uplink.Inbound{API: api}
	if _, err := in.ReceiveInbound(ctx, job.ID, []string{"hello"}, false); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("a scan that is no identifier: %v", err)
	}
	if _, err := in.ReceiveInbound(ctx, "cj-nope", []string{palletScan(s, 0)}, false); station.ErrorCode(err) != station.ENOTFOUND ||
		!strings.Contains(station.ErrorMessage(err), "not known") {
		t.Fatalf("an unknown document: %v", err)
	}
	if rs, err := whs.store.Receipts(ctx, job.ID); err != nil || len(rs) != 0 {
		t.Fatalf("receipts after refusals: %+v %v", rs, err)
	}

	// The packer finds the document by the pallet's label, then scans.
	r, err := svc.StartReceiving(ctx, "pack", palletScan(s, 0))
	if err != nil || r.Document.Capture != job.ID {
		t.Fatalf("start: %v", err)
	}
	caseScan := "(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(0)
	if sc, err := r.Add(caseScan); err != nil || sc.Units != 10 {
		t.Fatalf("case: %+v %v", sc, err)
	}
	for i := 10; i < 19; i++ { // pack 19 is missing
		if _, err := r.Add(unitScan(s.UnitSerial(i), centraltest.Lot)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Add(unitScan("NOT-SHIPPED", centraltest.Lot)); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Progress(), (station.ReceivingProgress{Units: 20, Received: 19, Unexpected: 1, Scans: 11}); got != want {
		t.Fatalf("progress %+v, want %+v", got, want)
	}
	head, _ := ledger.Head(ctx)
	rec, err := svc.FinishReceiving(ctx, "pack", r, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Units != 20 || rec.Received != 19 || rec.Missing != 1 || rec.Unexpected != 1 || rec.Misaligned != 0 || rec.Location != dscsatest.WhsDC ||
		rec.PartnerGLN != dscsatest.MfrGLN || rec.ReportID == "" || len(rec.Exceptions) != 2 {
		t.Fatalf("receipt %+v", rec)
	}
	kinds := map[string]string{}
	for _, e := range rec.Exceptions {
		kinds[e.Kind] = e.Item.Serial
	}
	if kinds[station.ExceptionMissing] != s.UnitSerial(19) || kinds[station.ExceptionUnexpected] != "NOT-SHIPPED" {
		t.Fatalf("exceptions %+v", rec.Exceptions)
	}

	// The central's receipt and its PDG exception report.
	rs, err := whs.store.Receipts(ctx, job.ID)
	if err != nil || len(rs) != 1 {
		t.Fatalf("receipts %+v %v", rs, err)
	}
	cr := rs[0]
	if cr.ID != rec.ID || cr.By != "station:dc-1" || cr.Received != 19 || cr.Unexpected != 1 || cr.Exceptions == nil {
		t.Fatalf("central receipt %+v", cr)
	}
	e := cr.Exceptions.Exceptions
	if len(e.MissingProduct) != 1 || e.MissingProduct[0].ProductSerial != s.UnitSerial(19) || len(e.MissingProductData) != 1 ||
		*e.MissingProductData[0].ProductSerial != "NOT-SHIPPED" || cr.Exceptions.MessageUUID != rec.ReportID || cr.Exceptions.PONumber != "PO-SH-1" {
		t.Fatalf("exception report %+v", e)
	}
	report, err := json.Marshal(cr.Exceptions)
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustPDGReport(t, report)

	// The station's journal.
	evs, err := ledger.Events(ctx, head.Seq+1, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != station.EventInboundReceived {
		t.Fatalf("journal: %+v %v", evs, err)
	}
	p, err := station.DecodePayload(evs[0].Type, evs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	ev := p.(*station.InboundReceived)
	if ev.Receipt != rec.ID || ev.Capture != job.ID || ev.Document != "DOC-SH-1" || ev.Partner != "mfr" || ev.From != dscsatest.MfrGLN ||
		ev.Location != dscsatest.WhsDC || len(ev.Items) != 11 || ev.Units != 20 || ev.Received != 19 || ev.Missing != 1 || ev.Unexpected != 1 ||
		ev.Report != rec.ReportID || evs[0].User != "pack" {
		t.Fatalf("journal event %+v", ev)
	}

	// Received once: the list is empty, and a second receipt is refused.
	if docs, err := svc.InboundDocuments(ctx, "pack"); err != nil || len(docs) != 0 {
		t.Fatalf("documents waiting after the receipt: %+v %v", docs, err)
	}
	again := station.NewReceiving(r.Document)
	if _, err := again.Add(palletScan(s, 0)); err != nil {
		t.Fatal(err)
	}
	head, _ = ledger.Head(ctx)
	if _, err := svc.FinishReceiving(ctx, "pack", again, false); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(station.ErrorMessage(err), "already received") {
		t.Fatalf("second receipt: %v", err)
	}
	if after, _ := ledger.Head(ctx); after.Seq != head.Seq {
		t.Fatal("a refused receipt was journalled")
	}
	if rs, _ := whs.store.Receipts(ctx, job.ID); len(rs) != 1 {
		t.Fatalf("%d receipts, want 1", len(rs))
	}

	// A station at no site may not receive; a station whose central is
	// gone is told so.
	other, _, _ := newWarehouseStation(t, whs, "dc-2")
	if _, err := other.InboundDocuments(ctx, "pack"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(station.ErrorMessage(err), "at no site") {
		t.Fatalf("a station at no site: %v", err)
	}
	gone, err := uplink.NewAPI("http://127.0.0.1:1", "lst_x", nil)
	if err != nil {
		t.Fatal(err)
	}
	offline, err := station.NewService(station.Config{Ledger: ledger, Clock: &centraltest.Clock{}, Inbound: &uplink.Inbound{API: gone},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer offline.Close()
	if _, err := offline.InboundDocuments(ctx, "pack"); station.ErrorCode(err) != station.EUNAVAILABLE ||
		station.ErrorMessage(err) != "the central service is not reachable: receiving against a partner's document needs it" {
		t.Fatalf("offline: %v", err)
	}
}

// postDocument captures a partner's document synchronously.
func (c *centralSite) postDocument(t *testing.T, token string, doc []byte, job *dscsa.CaptureJob) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.srv.URL()+"/dscsa/documents", bytes.NewReader(doc))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("capture: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, job); err != nil || !job.Success {
		t.Fatalf("capture job %s (%v)", body, err)
	}
	if job.ID == "" {
		t.Fatalf("no capture job id in %s", body)
	}
}

// TestStation_ReceiveInParts: a shipment that arrives in two parts is
// received part by part against one document. The first part (one case)
// is a partial receipt without missing goods; the document stays waiting
// with that case marked received, and scanning it again is refused. The
// last part (nine packs of the other case) reports the one pack missing
// from the whole shipment, not the case received before; the document is
// then received, and a further part is refused.
func TestStation_ReceiveInParts(t *testing.T) {
	s, whs, job, svc, ledger, api := receivingDC(t)
	caseScan := func(i int) string { return "(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(i) }

	r, err := svc.StartReceiving(ctx, "pack", palletScan(s, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(caseScan(0)); err != nil {
		t.Fatal(err)
	}
	part, err := svc.FinishReceiving(ctx, "pack", r, true)
	if err != nil {
		t.Fatal(err)
	}
	if !part.Partial || part.Units != 20 || part.Received != 10 || part.Missing != 0 || part.ReportID != "" || !part.Clean() {
		t.Fatalf("first part %+v", part)
	}
	// The same part sent again (its answer lost) records nothing new.
	in := &uplink.Inbound{API: api}
	if _, err := in.ReceiveInbound(ctx, job.ID, []string{caseScan(0)}, true); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "nothing new to receive") {
		t.Fatalf("the first part sent again: %v", err)
	}
	docs, err := svc.InboundDocuments(ctx, "pack")
	if err != nil || len(docs) != 1 || docs[0].Received != 10 {
		t.Fatalf("after the first part the documents waiting are %+v (%v); want the document, 10 packs received", docs, err)
	}
	r, err = svc.StartReceiving(ctx, "pack", docs[0].DocumentID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(caseScan(0)); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "received in an earlier part") {
		t.Fatalf("scanning the case received in the first part again: %v", err)
	}
	for i := 10; i < 19; i++ { // pack 19 is missing
		if _, err := r.Add(unitScan(s.UnitSerial(i), centraltest.Lot)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Progress(); got.Received != 19 || got.Units != 20 {
		t.Fatalf("progress of the last part %+v: want 19 of 20 with the first part", got)
	}
	last, err := svc.FinishReceiving(ctx, "pack", r, false)
	if err != nil {
		t.Fatal(err)
	}
	if last.Partial || last.Units != 20 || last.Received != 19 || last.Missing != 1 || last.Unexpected != 0 || len(last.Exceptions) != 1 ||
		last.Exceptions[0].Kind != station.ExceptionMissing || last.Exceptions[0].Item.Serial != s.UnitSerial(19) {
		t.Fatalf("last part %+v", last)
	}
	rs, err := whs.store.Receipts(ctx, job.ID)
	if err != nil || len(rs) != 2 || !rs[0].Partial || rs[1].Partial || rs[1].Exceptions == nil {
		t.Fatalf("receipts %+v (%v)", rs, err)
	}
	report, err := json.Marshal(rs[1].Exceptions)
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustPDGReport(t, report)
	if docs, err := svc.InboundDocuments(ctx, "pack"); err != nil || len(docs) != 0 {
		t.Fatalf("documents waiting after the last part: %+v (%v)", docs, err)
	}
	if _, err := in.ReceiveInbound(ctx, job.ID, []string{caseScan(1)}, true); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "already received") {
		t.Fatalf("a part after the last one: %v", err)
	}
	// The journal holds both parts.
	evs, err := centraltest.AllEvents(ctx, ledger)
	if err != nil {
		t.Fatal(err)
	}
	var parts []bool
	for _, e := range evs {
		if e.Type == station.EventInboundReceived {
			p, err := station.DecodePayload(e.Type, e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p.(*station.InboundReceived).Partial)
		}
	}
	if len(parts) != 2 || !parts[0] || parts[1] {
		t.Fatalf("the journal holds receipts partial=%v", parts)
	}
}

// TestStation_PartThenERP: when the office records the rest of a shipment
// a station received a part of, the part counts as received, and the ERP
// cannot make a part itself.
func TestStation_PartThenERP(t *testing.T) {
	s, whs, job, svc, _, _ := receivingDC(t)
	r, err := svc.StartReceiving(ctx, "pack", palletScan(s, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add("(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishReceiving(ctx, "pack", r, true); err != nil {
		t.Fatal(err)
	}
	erp := dscsa.Caller{Name: "erp-1"}
	req := dscsa.ReceiveRequest{Capture: job.ID, Location: dscsatest.WhsDC, Scans: []string{"(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(1)}}
	if _, err := whs.x.Receive(ctx, erp, dscsa.ReceiveRequest{Capture: job.ID, Location: dscsatest.WhsDC, Scans: req.Scans, Partial: true}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("a part recorded by the ERP: %v", err)
	}
	rec, err := whs.x.Receive(ctx, erp, req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Received != 20 || rec.Exceptions != nil {
		t.Fatalf("the office's receipt of the rest: %d received, exceptions %+v; want all 20 and none", rec.Received, rec.Exceptions)
	}
}

// TestStation_CloseAfterParts: a shipment that came entirely in parts is
// closed by a last receipt without scans of its own, which finds nothing
// missing; without earlier parts a receipt without scans is refused.
func TestStation_CloseAfterParts(t *testing.T) {
	s, _, _, svc, _, _ := receivingDC(t)
	docs, err := svc.InboundDocuments(ctx, "pack")
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents %+v %v", docs, err)
	}
	if _, err := svc.FinishReceiving(ctx, "pack", station.NewReceiving(docs[0]), false); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("a receipt without scans and no parts: %v", err)
	}
	for i := range 2 {
		r, err := svc.StartReceiving(ctx, "pack", palletScan(s, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Add("(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.FinishReceiving(ctx, "pack", r, true); err != nil {
			t.Fatal(err)
		}
	}
	r, err := svc.StartReceiving(ctx, "pack", palletScan(s, 0))
	if err != nil {
		t.Fatal(err)
	}
	if r.Document.Received != 20 {
		t.Fatalf("the document shows %d packs received, want 20", r.Document.Received)
	}
	last, err := svc.FinishReceiving(ctx, "pack", r, false)
	if err != nil {
		t.Fatal(err)
	}
	if last.Partial || last.Received != 20 || last.Units != 20 || !last.Clean() {
		t.Fatalf("the closing receipt %+v", last)
	}
	if docs, err := svc.InboundDocuments(ctx, "pack"); err != nil || len(docs) != 0 {
		t.Fatalf("documents waiting after closing: %+v %v", docs, err)
	}
}
