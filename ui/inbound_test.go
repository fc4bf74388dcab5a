package ui

import (
	"context"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// fakeInbound is the central's exchange for the screen tests (the real one
// is proven on loopback in uplink/dscsa): one document waiting, receipts
// answered from the scans, and an offline switch.
type fakeInbound struct {
	mu      sync.Mutex
	doc     station.InboundDocument
	offline bool
	scans   []string
	partial bool
}

func (f *fakeInbound) InboundDocuments(ctx context.Context) ([]station.InboundDocument, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offline {
		return nil, station.Errorf(station.EUNAVAILABLE, "the central service cannot be reached (test)")
	}
	return []station.InboundDocument{f.doc}, nil
}

func (f *fakeInbound) ReceiveInbound(ctx context.Context, capture string, scans []string, partial bool) (station.InboundReceipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offline {
		return station.InboundReceipt{}, station.Errorf(station.EUNAVAILABLE, "the central service cannot be reached (test)")
	}
	f.scans, f.partial = scans, partial
	if partial {
		return station.InboundReceipt{ID: 11, Capture: capture, DocumentID: f.doc.DocumentID, Partner: f.doc.Partner, PO: f.doc.PO, Location: "0614141000012",
			Units: 4, Received: 3, Partial: true}, nil
	}
	// The pallet (3 packs) and a pack the document does not ship: the
	// loose pack U4 is missing.
	return station.InboundReceipt{ID: 12, Capture: capture, DocumentID: f.doc.DocumentID, Partner: f.doc.Partner, PO: f.doc.PO, Location: "0614141000012",
		Units: 4, Received: 3, Missing: 1, Unexpected: 1, ReportID: "5b0f4c1e-8f3a-4d2b-9c1e-2a7b6e0f9a11",
		Exceptions: []station.InboundException{
			{Kind: station.ExceptionUnexpected, Item: station.SGTIN(unitGTIN, "X9")},
			{Kind: station.ExceptionMissing, Item: station.SGTIN(unitGTIN, "U4")},
		}}, nil
}

// receivingPacker is the warehouse screen of a packer signed in, with a
// partner's document waiting at the fake central: a pallet of packs U1-U3
// and a loose pack U4. It returns the pallet's SSCC.
func receivingPacker(t *testing.T) (*harness, *fakeInbound, *warehouseScreen, *inboundPanel, string) {
	t.Helper()
	pallet, err := gs1.BuildSSCC("0", "0614141", "000000001")
	must(t, err)
	pal := station.SSCCItem(pallet)
	u := func(s string) station.Item { return station.SGTIN(unitGTIN, s) }
	fake := &fakeInbound{doc: station.InboundDocument{Capture: "cj-1", DocumentID: "WH-DOC-1", Partner: "mfr", PartnerName: "Test Pharma Inc.",
		PartnerGLN: "0614141000005", PO: "PO-7", Location: "0614141000012", Units: 4, Items: []station.InboundItem{
			{Item: pal}, {Item: u("U4")}, {Item: u("U1"), In: &pal}, {Item: u("U2"), In: &pal}, {Item: u("U3"), In: &pal}}}}
	h := MustKiosk(t, harnessOpts{inbound: fake})
	h.signIn("pack")
	h.k.show(ScreenWarehouse)
	h.settle()
	return h, fake, h.k.warehouse, h.k.warehouse.inbound, pallet
}

// TestWarehouseScreen_ReceivePartner receives a partner's shipment by taps
// and scans: the receive mode's choice of a partner's document, the list of
// documents waiting, a scan that is no identifier refused, the running
// count, the receipt in plain words with what to do, the journal event; a
// document opened by its number and cancelled; offline refused clearly.
func TestWarehouseScreen_ReceivePartner(t *testing.T) {
	h, fake, s, p, pallet := receivingPacker(t)

	test.Tap(s.modes.buttons[modeReceive])
	h.tap(s.recvKind.buttons[receivePartner])
	if s.recvBox.Objects[0] != p.obj || p.finish.Disabled() == false {
		t.Fatal("the partner's receipt panel is not shown, or Finish is offered before any scan")
	}

	// Choose the document from the list.
	h.tap(p.list)
	d := h.k.dlg
	if d == nil || !strings.Contains(d.lines[0].Text, "WH-DOC-1: Test Pharma Inc., PO PO-7, 4 packs") {
		t.Fatal("the documents waiting are not listed")
	}
	h.tap(d.ok)
	if p.receiving == nil || !strings.Contains(p.docLabel.Text, "WH-DOC-1 from Test Pharma Inc.") {
		t.Fatalf("no receipt in progress: %q", h.k.message.Text)
	}

	// A scan that is no identifier is refused and counts nothing.
	h.scan(s.scan, "hello")
	if !strings.Contains(h.k.message.Text, "Scan not counted") || p.receiving.Progress().Scans != 0 {
		t.Fatalf("garbage scan: %q", h.k.message.Text)
	}
	h.scan(s.scan, "(00)"+pallet)
	if !strings.Contains(p.progress.Text, "3 of 4 packs of the document received · 1 scans") {
		t.Fatalf("progress %q", p.progress.Text)
	}
	h.scan(s.scan, "(01)"+unitGTIN+"(21)U2")
	if !strings.Contains(h.k.message.Text, "inside") {
		t.Fatalf("a pack of a scanned pallet: %q", h.k.message.Text)
	}
	h.scan(s.scan, "(01)"+unitGTIN+"(21)X9")
	if !strings.Contains(h.k.message.Text, "is not in the document: put it aside for quarantine") || !strings.Contains(p.progress.Text, "1 not in the document") {
		t.Fatalf("unexpected pack: %q / %q", h.k.message.Text, p.progress.Text)
	}

	// Finish: the central's answer in plain words, and the journal.
	head, _ := h.db.Head(h.ctx)
	test.Tap(p.finish)
	h.tap(h.k.dlg.ok)
	if p.receiving != nil || len(fake.scans) != 2 {
		t.Fatalf("not received: %q (sent %q)", h.k.message.Text, fake.scans)
	}
	for _, want := range []string{"Receipt 12 of document WH-DOC-1: 3 of 4 packs received.",
		"1 scanned items are not in the document: put them in quarantine and tell QA.",
		"1 packs of the document did not arrive", "missing: (01)" + unitGTIN + "(21)U4"} {
		if !strings.Contains(p.result.Text, want) {
			t.Fatalf("result %q lacks %q", p.result.Text, want)
		}
	}
	evs, err := h.db.Events(h.ctx, head.Seq+1, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != station.EventInboundReceived || evs[0].User != "pack" {
		t.Fatalf("journal %+v %v", evs, err)
	}

	// Open a document by its number, then cancel: nothing is recorded.
	test.Type(p.docRef, "WH-DOC-1")
	h.tap(p.open)
	if p.receiving == nil {
		t.Fatalf("the document typed is not open: %q", h.k.message.Text)
	}
	h.scan(s.scan, "(00)"+pallet)
	test.Tap(p.cancel)
	h.tap(h.k.dlg.ok)
	if p.receiving != nil || !p.finish.Disabled() {
		t.Fatal("the receipt was not cancelled")
	}
	if after, _ := h.db.Head(h.ctx); after.Seq != head.Seq+1 {
		t.Fatalf("cancelling recorded %d events", after.Seq-head.Seq-1)
	}

	// Offline: refused, saying why.
	fake.mu.Lock()
	fake.offline = true
	fake.mu.Unlock()
	h.tap(p.list)
	if !strings.Contains(h.k.message.Text, "the central service is not reachable: receiving against a partner's document needs it") {
		t.Fatalf("offline: %q", h.k.message.Text)
	}
	h.scan(s.scan, "(00)"+pallet) // opens by the pallet's label: also offline
	if p.receiving != nil || !strings.Contains(h.k.message.Text, "not reachable") {
		t.Fatalf("offline scan: %q", h.k.message.Text)
	}
}

// TestWarehouseScreen_ReceivePart: "Part received" sends what was scanned
// as a part of the shipment (more to come) after a confirmation that says
// so, and the answer tells the packer to receive the rest later.
func TestWarehouseScreen_ReceivePart(t *testing.T) {
	h, fake, s, p, pallet := receivingPacker(t)
	test.Tap(s.modes.buttons[modeReceive])
	h.tap(s.recvKind.buttons[receivePartner])
	if !p.part.Disabled() {
		t.Fatal("Part received is offered before a document is open")
	}
	h.tap(p.list)
	h.tap(h.k.dlg.ok)
	h.scan(s.scan, "(00)"+pallet)
	head, _ := h.db.Head(h.ctx)
	test.Tap(p.part)
	if d := h.k.dlg; d == nil || !strings.Contains(d.lines[1].Text, "the document stays waiting") {
		t.Fatal("Part received asks no confirmation saying the document stays waiting")
	}
	h.tap(h.k.dlg.ok)
	if p.receiving != nil || !fake.partial || len(fake.scans) != 1 {
		t.Fatalf("the part was not sent as a part: partial=%v scans=%q (%q)", fake.partial, fake.scans, h.k.message.Text)
	}
	for _, want := range []string{"Part received of document WH-DOC-1 (receipt 11): 3 of 4 packs so far.", "receive the rest against the same document when it arrives"} {
		if !strings.Contains(p.result.Text, want) {
			t.Fatalf("result %q lacks %q", p.result.Text, want)
		}
	}
	evs, err := h.db.Events(h.ctx, head.Seq+1, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != station.EventInboundReceived || !strings.Contains(string(evs[0].Payload), `"partial":true`) {
		t.Fatalf("journal %+v %v", evs, err)
	}
}
