package station_test

import (
	"context"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// fakeInbound is the central's exchange for the domain tests: func fields
// for what the loopback tests (uplink/dscsa) cannot make fail on demand.
type fakeInbound struct {
	docs    func() ([]station.InboundDocument, error)
	receive func(capture string, scans []string) (station.InboundReceipt, error)
	partial bool // of the last receipt sent
}

func (f *fakeInbound) InboundDocuments(ctx context.Context) ([]station.InboundDocument, error) {
	return f.docs()
}

func (f *fakeInbound) ReceiveInbound(ctx context.Context, capture string, scans []string, partial bool) (station.InboundReceipt, error) {
	f.partial = partial
	return f.receive(capture, scans)
}

func mustSSCC(tb testing.TB, ref string) string {
	tb.Helper()
	s, err := gs1.BuildSSCC("0", "0614141", ref)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// inboundDoc: a pallet holding a case of three packs, and a loose pack.
func inboundDoc(tb testing.TB) (station.InboundDocument, station.Item, station.Item) {
	pallet, case_ := station.SSCCItem(mustSSCC(tb, "000000001")), station.SSCCItem(mustSSCC(tb, "000000002"))
	u := func(s string) station.Item { return station.SGTIN(unitGTIN, s) }
	return station.InboundDocument{Capture: "cj-1", DocumentID: "WH-DOC-1", Partner: "mfr", PartnerName: "Test Pharma Inc.", PartnerGLN: "0614141000005",
		PO: "PO-7", Location: "0614141000012", Units: 4, Items: []station.InboundItem{
			{Item: pallet}, {Item: u("U4")}, {Item: case_, In: &pallet},
			{Item: u("U1"), In: &case_}, {Item: u("U2"), In: &case_}, {Item: u("U3"), In: &case_},
		}}, pallet, case_
}

// TestService_Receiving receives a partner's shipment by scan: the running
// count, refused scans that change nothing, the receipt recorded in the
// journal; offline and unknown documents are refused clearly.
func TestService_Receiving(t *testing.T) {
	doc, pallet, _ := inboundDoc(t)
	var sent []string
	fake := &fakeInbound{
		docs: func() ([]station.InboundDocument, error) { return []station.InboundDocument{doc}, nil },
		receive: func(capture string, scans []string) (station.InboundReceipt, error) {
			sent = scans
			return station.InboundReceipt{ID: 9, Capture: capture, DocumentID: "WH-DOC-1", Partner: "mfr", PO: "PO-7", Location: "0614141000012",
				Units: 4, Received: 4, Unexpected: 1, ReportID: "5b0f4c1e-8f3a-4d2b-9c1e-2a7b6e0f9a11",
				Exceptions: []station.InboundException{{Kind: station.ExceptionUnexpected, Item: station.SGTIN(unitGTIN, "X9")}}}, nil
		},
	}
	w := mustWorldConfig(t, station.PoolPolicy{}, func(c *station.Config) { c.Inbound = fake })
	ctx := w.ctx

	t.Run("OK", func(t *testing.T) {
		r, err := w.svc.StartReceiving(ctx, "pack", "]C100"+pallet.SSCC)
		if err != nil {
			t.Fatal(err)
		}
		if r.Document.Capture != "cj-1" {
			t.Fatalf("document %+v", r.Document)
		}
		if sc, err := r.Add("]C100" + pallet.SSCC); err != nil || !sc.InDocument || sc.Units != 3 {
			t.Fatalf("pallet: %+v %v", sc, err)
		}
		for scan, code := range map[string]string{
			"(01)" + unitGTIN + "(21)U2": station.ECONFLICT, // inside the pallet
			"]C100" + pallet.SSCC:        station.ECONFLICT, // twice
			"hello":                      station.EINVALID,
		} {
			if _, err := r.Add(scan); station.ErrorCode(err) != code {
				t.Errorf("scan %q: %v, want %s", scan, err, code)
			}
		}
		if sc, err := r.Add("(01)" + unitGTIN + "(21)U4"); err != nil || sc.Units != 1 {
			t.Fatalf("loose pack: %+v %v", sc, err)
		}
		if sc, err := r.Add("(01)" + unitGTIN + "(21)X9"); err != nil || sc.InDocument {
			t.Fatalf("unexpected pack: %+v %v", sc, err)
		}
		if got, want := r.Progress(), (station.ReceivingProgress{Units: 4, Received: 4, Unexpected: 1, Scans: 3}); got != want {
			t.Fatalf("progress %+v, want %+v", got, want)
		}
		head, _ := w.db.Head(ctx)
		rec, err := w.svc.FinishReceiving(ctx, "pack", r, false)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != 9 || len(sent) != 3 || sent[0] != "]C100"+pallet.SSCC {
			t.Fatalf("receipt %+v, sent %q", rec, sent)
		}
		evs, err := w.db.Events(ctx, head.Seq+1, 10)
		if err != nil || len(evs) != 1 || evs[0].Type != station.EventInboundReceived {
			t.Fatalf("journal after the receipt: %+v %v", evs, err)
		}
		p, err := station.DecodePayload(evs[0].Type, evs[0].Payload)
		if err != nil {
			t.Fatal(err)
		}
		got := p.(*station.InboundReceived)
		if got.Receipt != 9 || got.Document != "WH-DOC-1" || got.Partner != "mfr" || got.From != "0614141000005" || len(got.Items) != 3 ||
			got.Unexpected != 1 || got.Received != 4 || got.Report == "" || evs[0].User != "pack" {
			t.Fatalf("event %+v", got)
		}
	})

	t.Run("ErrUnknownDocument", func(t *testing.T) {
		for _, ref := range []string{"WH-DOC-404", "(01)" + unitGTIN + "(21)NOPE"} {
			if _, err := w.svc.StartReceiving(ctx, "pack", ref); station.ErrorCode(err) != station.ENOTFOUND {
				t.Errorf("%s: %v, want ENOTFOUND", ref, err)
			}
		}
		if r, err := w.svc.StartReceiving(ctx, "pack", "WH-DOC-1"); err != nil || r.Document.Capture != "cj-1" {
			t.Fatalf("by document id: %v", err)
		}
	})

	t.Run("ErrNothingScanned", func(t *testing.T) {
		if _, err := w.svc.FinishReceiving(ctx, "pack", station.NewReceiving(doc), false); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("err=%v, want EINVALID", err)
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		// The central refuses (already received): nothing is recorded.
		fake.receive = func(string, []string) (station.InboundReceipt, error) {
			return station.InboundReceipt{}, station.Errorf(station.ECONFLICT, "document WH-DOC-1 was already received")
		}
		r := station.NewReceiving(doc)
		if _, err := r.Add("]C100" + pallet.SSCC); err != nil {
			t.Fatal(err)
		}
		head, _ := w.db.Head(ctx)
		if _, err := w.svc.FinishReceiving(ctx, "pack", r, false); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(station.ErrorMessage(err), "already received") {
			t.Fatalf("err=%v", err)
		}
		if after, _ := w.db.Head(ctx); after.Seq != head.Seq {
			t.Fatalf("a refused receipt recorded %d events", after.Seq-head.Seq)
		}
	})

	t.Run("ErrOffline", func(t *testing.T) {
		down := station.Errorf(station.EUNAVAILABLE, "the central service cannot be reached (GET ...)")
		fake.docs = func() ([]station.InboundDocument, error) { return nil, down }
		fake.receive = func(string, []string) (station.InboundReceipt, error) { return station.InboundReceipt{}, down }
		if _, err := w.svc.InboundDocuments(ctx, "pack"); station.ErrorCode(err) != station.EUNAVAILABLE ||
			station.ErrorMessage(err) != "the central service is not reachable: receiving against a partner's document needs it" {
			t.Fatalf("list offline: %v", err)
		}
		r := station.NewReceiving(doc)
		r.Add("]C100" + pallet.SSCC)
		if _, err := w.svc.FinishReceiving(ctx, "pack", r, false); station.ErrorCode(err) != station.EUNAVAILABLE {
			t.Fatalf("finish offline: %v", err)
		}
		// A standalone station has no central at all.
		alone := MustWorld(t, station.PoolPolicy{})
		if _, err := alone.svc.StartReceiving(ctx, "pack", "WH-DOC-1"); station.ErrorCode(err) != station.EUNAVAILABLE {
			t.Fatalf("standalone: %v", err)
		}
	})

	t.Run("ErrRole", func(t *testing.T) {
		if _, err := w.svc.InboundDocuments(ctx, "op"); station.ErrorCode(err) != station.EUNAUTHORIZED {
			t.Fatalf("operator: %v", err)
		}
	})
}

func TestInboundReceived_Validate(t *testing.T) {
	ok := station.InboundReceived{Receipt: 1, Capture: "cj-1", Document: "D", Partner: "mfr", Location: "0614141000012",
		Items: []station.Item{station.SGTIN(unitGTIN, "A")}, Units: 1, Received: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	closing := ok // the last receipt of a document received in parts
	closing.Items = nil
	if err := closing.Validate(); err != nil {
		t.Fatalf("a closing receipt without scans: %v", err)
	}
	for name, mut := range map[string]func(*station.InboundReceived){
		"NoReceipt":   func(p *station.InboundReceived) { p.Receipt = 0 },
		"NoDocument":  func(p *station.InboundReceived) { p.Document = "" },
		"BadLocation": func(p *station.InboundReceived) { p.Location = "123" },
		"BadFrom":     func(p *station.InboundReceived) { p.From = "0614141000013" },
		"NoItems":     func(p *station.InboundReceived) { p.Items, p.Received = nil, 0 },
		"PartNoItems": func(p *station.InboundReceived) { p.Items, p.Partial = nil, true },
		"Counts":      func(p *station.InboundReceived) { p.Received = 2 },
	} {
		p := ok
		mut(&p)
		if err := p.Validate(); station.ErrorCode(err) != station.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}
