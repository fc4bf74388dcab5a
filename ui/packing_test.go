package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// unitData is a pack's DataMatrix data as a serial scanner sends it (GS
// kept after the lot).
func unitData(serial string) string {
	return "01" + unitGTIN + "17280600" + "10L2603A\x1d21" + serial
}

// TestPackScreen_Flow packs cases onto a pallet as a packer does, with
// scans from a keyboard-wedge scanner (GS lost), the serial scanner and
// typed brackets; a partial case needs a supervisor's signature.
func TestPackScreen_Flow(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.commission(10)
	h.k.Start()
	h.signIn("pack")
	if h.k.current != ScreenPacking {
		t.Fatalf("first screen %s, want packing", h.k.current)
	}
	p := h.k.packing
	h.until("PO-1 is chosen", func() bool { return p.order == "PO-1" && p.openBtns[station.LevelCase] != nil })

	h.tap(p.openBtns[station.LevelCase])
	c := p.cards[station.LevelCase]
	if c == nil || c.state.Capacity != 4 || c.state.Status != station.ContainerOpen {
		t.Fatalf("case card %+v", c)
	}
	caseID := c.state.Parent
	if got, err := h.db.Container(h.ctx, caseID); err != nil || got.Status != station.ContainerOpen {
		t.Fatalf("ledger case %+v, %v", got, err)
	}

	// 1: a keyboard-wedge scanner typed the DataMatrix without its GS.
	h.scan(p.scan, strings.ReplaceAll("]d2"+unitData("00000001"), "\x1d", ""))
	// 2: the serial scanner (GS kept).
	h.scanner.send("]d2", unitData("00000002"))
	h.until("the serial scan is packed", func() bool { return c.state.Count == 2 })
	// 3, 4: typed in brackets.
	h.scan(p.scan, "(01)"+unitGTIN+"(21)00000003")
	h.scan(p.scan, "(01)"+unitGTIN+"(21)00000004")
	if c.gauge.Value != 4 || c.gauge.Max != 4 || c.gauge.TextFormatter() != "4 / 4" {
		t.Fatalf("gauge %v of %v %q", c.gauge.Value, c.gauge.Max, c.gauge.TextFormatter())
	}
	if !strings.Contains(p.closeBtn.Text, "full") {
		t.Fatalf("close button %q does not say the case is full", p.closeBtn.Text)
	}
	// A fifth pack does not fit.
	h.scan(p.scan, "(01)"+unitGTIN+"(21)00000005")
	if !strings.Contains(h.k.message.Text, "is full (4 of 4)") {
		t.Fatalf("message %q", h.k.message.Text)
	}

	h.tap(p.closeBtn)
	labels := h.printer.printed()
	if len(labels) != 1 || labels[0].Data != "00"+caseID.SSCC {
		t.Fatalf("labels printed %+v, want the case's SSCC", labels)
	}
	if got, _ := h.db.Container(h.ctx, caseID); got.Status != station.ContainerClosed || got.Count != 4 {
		t.Fatalf("ledger case %+v", got)
	}

	// The closed case goes onto a pallet by its label.
	h.tap(p.openBtns[station.LevelPallet])
	pal := p.cards[station.LevelPallet]
	h.scan(p.scan, "(00)"+caseID.SSCC)
	if pal.state.Count != 1 {
		t.Fatalf("pallet holds %d, want 1: %q", pal.state.Count, h.k.message.Text)
	}

	// A second case, closed partial: the packer may not sign, a supervisor
	// does; the case goes onto the open pallet by itself.
	h.tap(p.openBtns[station.LevelCase])
	case2 := p.cards[station.LevelCase].state.Parent
	h.scan(p.scan, "(01)"+unitGTIN+"(21)00000005")
	h.scan(p.scan, "(01)"+unitGTIN+"(21)00000006")
	h.tap(p.closeBtn)
	d := h.k.dlg
	if d == nil || !strings.Contains(d.lines[0].Text, "with 2 of 4") {
		t.Fatal("a partial case closed without a signature dialog")
	}
	h.sign("pack", pin, "end of lot")
	if h.k.dlg != d || !strings.Contains(d.err.Text, "may not sign") {
		t.Fatalf("the packer signed a partial case: %q", d.err.Text)
	}
	h.sign("sup", pin, "end of lot")
	if h.k.dlg != nil {
		t.Fatalf("dialog still open: %q", d.err.Text)
	}
	h.settle()
	if got, _ := h.db.Container(h.ctx, case2); got.Status != station.ContainerClosed || !got.Partial || got.Count != 2 {
		t.Fatalf("ledger case 2 %+v", got)
	}
	if pal.state.Count != 2 || !strings.Contains(h.k.message.Text, "It is on pallet") {
		t.Fatalf("pallet holds %d: %q", pal.state.Count, h.k.message.Text)
	}
	if sigs := h.signatures(); len(sigs) != 1 || sigs[0].Meaning != station.MeaningPartial || sigs[0].Signer != "sup" {
		t.Fatalf("signatures %+v", sigs)
	}
	h.png("packing")
	test.AssertRendersToMarkup(t, "packing/pallet.xml", h.w.Canvas())

	// Unpack one pack from case 2, after a confirmation.
	test.Tap(p.cards[station.LevelCase].title)
	h.tap(p.unpack)
	d = h.k.dlg
	if d == nil || d.ok.Importance != widget.DangerImportance {
		t.Fatal("unpacking does not ask for confirmation")
	}
	h.scanner.send("]d2", unitData("00000006")) // the scan goes into the dialog
	h.until("the scan fills the dialog", func() bool { return d.fields["child"].Text != "" })
	h.tap(d.ok)
	if got, _ := h.db.Container(h.ctx, case2); got.Count != 1 || got.Status != station.ContainerOpen {
		t.Fatalf("ledger case 2 after unpacking %+v", got)
	}
	if _, err := h.db.Parent(h.ctx, station.SGTIN(unitGTIN, "00000006")); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("00000006 still has a parent: %v", err)
	}
}

// TestPackScreen_Replace replaces a damaged pack in a closed case with a
// supervisor's signature.
func TestPackScreen_Replace(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.commission(5)
	h.signIn("sup")
	h.k.show(ScreenPacking)
	h.settle()
	p := h.k.packing
	h.tap(p.openBtns[station.LevelCase])
	for _, sr := range []string{"00000001", "00000002", "00000003", "00000004"} {
		h.scan(p.scan, "(01)"+unitGTIN+"(21)"+sr)
	}
	h.tap(p.closeBtn)
	caseID := p.cards[station.LevelCase].state.Parent

	h.tap(p.replace)
	d := h.k.dlg
	h.scan(d.fields["old"], "(01)"+unitGTIN+"(21)00000002")
	d.fields["new"].SetText("(01)" + unitGTIN + "(21)00000005")
	h.tap(d.ok)
	if h.k.dlg == nil || !strings.Contains(h.k.dlg.lines[1].Text, "Approved rework") {
		t.Fatal("replacing asks for no rework signature")
	}
	h.sign("sup", pin, "crushed corner")
	old, err := h.db.Serial(h.ctx, unitGTIN, "00000002")
	must(t, err)
	if old.State != station.UnitStateDecommissioned {
		t.Fatalf("the damaged pack is %s, want decommissioned", old.State)
	}
	link, err := h.db.Parent(h.ctx, station.SGTIN(unitGTIN, "00000005"))
	if err != nil || link.Parent != caseID {
		t.Fatalf("the new pack is in %v, %v; want %s", link.Parent, err, caseID)
	}
	if !strings.Contains(h.k.message.Text, "was replaced by") {
		t.Fatalf("message %q", h.k.message.Text)
	}
}

// TestPackScreen_WedgeAmbiguous checks that wedge input that reads more
// than one way is refused with what to do, and nothing is packed.
func TestPackScreen_WedgeAmbiguous(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.commission(1)
	h.signIn("pack")
	p := h.k.packing
	h.until("PO-1 is chosen", func() bool { return p.openBtns[station.LevelCase] != nil })
	h.tap(p.openBtns[station.LevelCase])
	// Lot "A21B" + serial "1234", or lot "A" + serial "B211234": both are packs.
	h.scan(p.scan, "0100300010123455"+"10A21B211234")
	msg := h.k.message.Text
	if !strings.Contains(msg, "more than one way") || !strings.Contains(msg, "(10)A21B(21)1234") || !strings.Contains(msg, "serial scanner") {
		t.Fatalf("message %q", msg)
	}
	if c := p.cards[station.LevelCase]; c.state.Count != 0 {
		t.Fatalf("something was packed: %d", c.state.Count)
	}
}
