package ui

import (
	"encoding/json"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// signatures returns the signatures recorded in the ledger, in order.
func (h *harness) signatures() []station.SignatureRecorded {
	h.t.Helper()
	evs, err := h.db.Events(h.ctx, 1, 100000)
	must(h.t, err)
	var out []station.SignatureRecorded
	for _, e := range evs {
		if e.Type == station.EventSignatureRecorded {
			var s station.SignatureRecorded
			must(h.t, json.Unmarshal(e.Payload, &s))
			out = append(out, s)
		}
	}
	return out
}

// recText is the reconciliation shown, one line per label.
func (s *ordersScreen) recText() string {
	var lines []string
	for _, o := range s.recBox.Objects {
		lines = append(lines, o.(*widget.Label).Text)
	}
	return strings.Join(lines, "\n")
}

// TestOrdersScreen_Close completes an order, shows its reconciliation and
// closes it with the supervisor's signature; a wrong PIN is refused and
// counted.
func TestOrdersScreen_Close(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.commission(4)
	h.signIn("sup")
	h.k.show(ScreenOrders)
	h.settle()
	s := h.k.orders
	if s.selected != "PO-1" || !strings.Contains(s.rows["PO-1"].Text, "4 of 20 · running") {
		t.Fatalf("selected %q, rows %v", s.selected, s.rows)
	}
	if !s.closeBtn.Disabled() {
		t.Fatal("a running order can be closed")
	}
	test.Tap(s.complete)
	h.tap(h.k.dlg.ok)
	if o, _ := h.db.Order(h.ctx, "PO-1"); o.State != station.OrderCompleted {
		t.Fatalf("ledger order %s, want completed", o.State)
	}
	h.until("the list shows it completed", func() bool { return strings.Contains(s.rows["PO-1"].Text, "completed") })

	h.tap(s.reconcile)
	text := s.recText()
	for _, want := range []string{"printed = commissioned + rejected: 4 = 4", "allocated = printed + unused: 4 = 4", "The order balances."} {
		if !strings.Contains(text, want) {
			t.Fatalf("reconciliation lacks %q:\n%s", want, text)
		}
	}
	h.png("orders")
	test.AssertRendersToMarkup(t, "orders/reconciled.xml", h.w.Canvas())

	h.tap(s.closeBtn)
	d := h.k.dlg
	if d == nil || !strings.Contains(d.lines[0].Text, "Close order PO-1") || !strings.Contains(d.lines[1].Text, "I reviewed the reconciliation") {
		t.Fatal("no signature dialog with subject and meaning")
	}
	h.sign("sup", "999999", "")
	if h.k.dlg != d || !strings.Contains(d.err.Text, "wrong") {
		t.Fatalf("a wrong PIN closed the dialog or said nothing: %q", d.err.Text)
	}
	if rec, _ := h.db.User(h.ctx, "sup"); rec.Failures != 1 {
		t.Fatalf("ledger: sup has %d failures, want 1", rec.Failures)
	}
	h.sign("sup", pin, "")
	if h.k.dlg != nil {
		t.Fatalf("dialog still open: %q", d.err.Text)
	}
	if o, _ := h.db.Order(h.ctx, "PO-1"); o.State != station.OrderClosed {
		t.Fatalf("ledger order %s, want closed", o.State)
	}
	sigs := h.signatures()
	if len(sigs) != 1 || sigs[0].Signer != "sup" || sigs[0].Meaning != station.MeaningClosed || sigs[0].Reason != "reconciliation reviewed" {
		t.Fatalf("signatures %+v", sigs)
	}
	if !strings.Contains(h.k.message.Text, "PO-1 is closed and signed") {
		t.Fatalf("message %q", h.k.message.Text)
	}
	h.until("the closed order leaves the list", func() bool { _, ok := s.rows["PO-1"]; return !ok })
}

// TestOrdersScreen_Deviation closes an order that does not balance: QA
// approves the deviation, then the supervisor closes it.
func TestOrdersScreen_Deviation(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.commission(3)
	// A pack printed and never decided (it fell off the line).
	ss, err := h.svc.Pools().Allocate(h.ctx, "PO-1", unitGTIN, "op", 1)
	must(t, err)
	_, err = h.db.Append(h.ctx, station.NewEvent{Payload: station.UnitPrinted{GTIN: unitGTIN, Serial: ss[0], Device: "coder-1"}, User: "op"})
	must(t, err)
	must(t, h.svc.CompleteOrder(h.ctx, "op", "PO-1", "test"))
	h.signIn("sup")
	h.k.show(ScreenOrders)
	h.settle()
	s := h.k.orders
	h.tap(s.closeBtn)
	if text := s.recText(); !strings.Contains(text, "does not balance") || !strings.Contains(text, "difference 1") {
		t.Fatalf("reconciliation:\n%s", text)
	}
	d := h.k.dlg
	if d == nil || !strings.Contains(d.lines[1].Text, "Approved deviation") {
		t.Fatal("QA is not asked to approve the deviation first")
	}
	h.sign("qa", pin, "pack found crushed under the conveyor")
	d = h.k.dlg
	if d == nil || !strings.Contains(d.lines[0].Text, "Close order PO-1") {
		t.Fatal("the supervisor is not asked to sign the close")
	}
	h.sign("sup", pin, "")
	if o, _ := h.db.Order(h.ctx, "PO-1"); o.State != station.OrderClosed {
		t.Fatalf("ledger order %s, want closed: %q", o.State, h.k.message.Text)
	}
	sigs := h.signatures()
	if len(sigs) != 2 || sigs[0].Meaning != station.MeaningDeviation || sigs[0].Signer != "qa" || sigs[1].Meaning != station.MeaningClosed {
		t.Fatalf("signatures %+v", sigs)
	}
}
