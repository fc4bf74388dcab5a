package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
)

// TestRunScreen_Flow runs an order as an operator does: start, watch packs
// being commissioned and rejected, hold, acknowledge the alarm, resume,
// stop, start again and complete; the screen and the ledger must agree.
func TestRunScreen_Flow(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.k.Start()
	h.signIn("op")
	s := h.k.runScr
	if h.k.current != ScreenRun {
		t.Fatalf("first screen %s, want the line", h.k.current)
	}
	// The only order released to the line is loaded by itself.
	h.until("PO-1 is loaded", func() bool { return s.info != nil })
	if got := s.product.Text + " " + s.details.Text; !strings.Contains(got, "PO-1") || !strings.Contains(got, "30 Jun 2028") || !strings.Contains(got, "quantity 20") {
		t.Fatalf("product and details %q", got)
	}
	if !s.hold.Disabled() || !s.stop.Disabled() || s.start.Disabled() {
		t.Fatal("before the start only Start may be offered")
	}

	h.tap(s.start)
	if h.plc.State() != station.LineStateExecute {
		t.Fatalf("PLC %s, want Execute", h.plc.State())
	}
	h.pass("", "", "noread", "", "lowgrade", "")
	for key, want := range map[string]string{tilePrinted: "6", tileVerified: "6", tileCommissioned: "4", tileRejected: "2", tileRemaining: "16"} {
		if got := s.tiles[key].Value(); got != want {
			t.Errorf("tile %s = %q, want %q", key, got, want)
		}
	}
	if got := s.rejects.Text; !strings.Contains(got, "No read 1") || !strings.Contains(got, "Low grade 1") {
		t.Fatalf("rejects %q", got)
	}
	if got := s.reads[0].Text; !strings.Contains(got, "00000006") || !strings.Contains(got, "commissioned") {
		t.Fatalf("last read %q", got)
	}
	if got := s.reads[1].Text; !strings.Contains(got, "rejected: Low grade") {
		t.Fatalf("second last read %q", got)
	}
	o, err := h.db.Order(h.ctx, "PO-1")
	must(t, err)
	if o.State != station.OrderRunning || o.Commissioned != 4 || o.Rejected != 2 || o.Rejects[station.RejectNoRead] != 1 || o.Rejects[station.RejectLowGrade] != 1 {
		t.Fatalf("ledger order %+v", o)
	}
	h.until("the lamps and the pool are shown", func() bool {
		for _, kind := range lampKinds {
			if s.lamps[kind].Health().State == "" {
				return false
			}
		}
		// 200 less the 20 the order needs and 2 more to replace the rejected
		// packs: allocation takes no more than is left to make.
		return s.tiles[tilePool].Value() == "178"
	})
	if got := s.lamps[lampUplink].state.Text; got != "Standalone" {
		t.Fatalf("uplink lamp %q, want Standalone", got)
	}
	h.png("run")
	test.AssertRendersToMarkup(t, "run/running.xml", h.w.Canvas())

	// Hold, and acknowledge the alarm.
	{
		h.tap(s.hold)
		h.until("the run is held", func() bool { return h.k.snap.State == station.RunHeld })
		if h.plc.State() != station.LineStateHeld || s.start.Text != "Resume" {
			t.Fatalf("PLC %s, start button %q", h.plc.State(), s.start.Text)
		}
		if !s.alarmBox.Visible() || !strings.Contains(s.alarmText.Text, "held by op") {
			t.Fatalf("alarm banner %v %q", s.alarmBox.Visible(), s.alarmText.Text)
		}
		h.tap(s.alarmAck)
		if s.alarmBox.Visible() {
			t.Fatal("the acknowledged alarm is still shown")
		}
		if o, _ := h.db.Order(h.ctx, "PO-1"); o.State != station.OrderHeld {
			t.Fatalf("ledger order %s, want held", o.State)
		}
		h.tap(s.start)
		h.until("the run runs again", func() bool { return h.k.snap.State == station.RunRunning })
		if o, _ := h.db.Order(h.ctx, "PO-1"); o.State != station.OrderRunning {
			t.Fatalf("ledger order %s, want running", o.State)
		}
	}

	// Stop, and start the held order again.
	{
		test.Tap(s.stop)
		if h.k.dlg == nil {
			t.Fatal("Stop did not ask first")
		}
		h.tap(h.k.dlg.ok)
		if h.k.run != nil || h.plc.State() != station.LineStateStopped {
			t.Fatalf("run %v, PLC %s after Stop", h.k.run, h.plc.State())
		}
		h.until("the order's totals are shown", func() bool {
			return s.counted.Text == "Order so far" && s.info != nil && s.info.order.State == station.OrderHeld
		})
		if got := s.tiles[tileCommissioned].Value(); got != "4" {
			t.Fatalf("commissioned %q after the stop", got)
		}
		h.tap(s.start)
		if h.k.run == nil {
			t.Fatalf("the held order did not start again: %q", h.k.message.Text)
		}
		h.pass("", "")
	}

	// Complete: the line drains the packs in flight meanwhile.
	{
		test.Tap(s.complete)
		stop := h.conveyor()
		h.tap(h.k.dlg.ok)
		stop()
		h.until("the run is over", func() bool { return h.k.run == nil })
		o, err := h.db.Order(h.ctx, "PO-1")
		must(t, err)
		// Every pack printed got its decision while the line drained.
		if o.State != station.OrderCompleted || o.Commissioned < 6 || o.Printed != o.Commissioned+o.Rejected {
			t.Fatalf("ledger order %s: printed %d, commissioned %d, rejected %d", o.State, o.Printed, o.Commissioned, o.Rejected)
		}
		h.until("the screen shows it", func() bool { return s.info != nil && s.info.order.State == station.OrderCompleted })
		if got, want := s.tiles[tileCommissioned].Value(), h.k.num(o.Commissioned); got != want {
			t.Fatalf("commissioned tile %q, ledger %s", got, want)
		}
		if !s.start.Disabled() || !s.complete.Disabled() {
			t.Fatal("a completed order can still be started or completed")
		}
		if !strings.Contains(h.k.message.Text, "A supervisor can now close it") {
			t.Fatalf("message %q", h.k.message.Text)
		}
	}
}

// TestRunScreen_Batched checks that the screen redraws from the run's
// batched snapshots, not once per pack.
func TestRunScreen_Batched(t *testing.T) {
	h := MustKiosk(t, harnessOpts{orderQty: 40, deps: func(d *Deps) { d.NotifyEvery = 200 * time.Millisecond }})
	h.signIn("op")
	h.startLine()
	s := h.k.runScr
	r := h.k.run
	before := s.renders
	for i := 0; i < 30; i++ {
		var code station.UnitCode
		for {
			var ok bool
			if code, ok = h.coder.Print(); ok {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		for r.Snapshot().Acked < int64(i+1) {
			time.Sleep(100 * time.Microsecond)
		}
		h.camera.Send(station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8})
	}
	h.until("30 packs are shown", func() bool { return s.tiles[tileCommissioned].Value() == "30" })
	if n := s.renders - before; n >= 15 {
		t.Fatalf("%d redraws for 30 packs: not batched", n)
	}
}

// TestRunScreen_DeviceHangs checks that a device that stops answering
// turns its lamp amber while the screen keeps answering.
func TestRunScreen_DeviceHangs(t *testing.T) {
	hang, printHang := make(chan struct{}), make(chan struct{})
	hs := &hangingScanner{fakeScanner: newFakeScanner(), hang: hang}
	h := MustKiosk(t, harnessOpts{deps: func(d *Deps) { d.Scanner = hs }})
	defer close(hang)
	h.printer.mu.Lock()
	h.printer.hang = printHang
	h.printer.mu.Unlock()
	h.k.Start()
	h.signIn("sup")
	s := h.k.runScr

	// The scanner's Health never returns: amber, and why.
	h.until("the scanner lamp turns amber", func() bool { return s.lamps[lampScanner].Health().State == station.DeviceDegraded })
	if r := s.lamps[lampScanner].Health().Reason; !strings.Contains(r, "has not answered a status request") {
		t.Fatalf("scanner reason %q", r)
	}

	// A case closes while the printer hangs: the printer's lamp turns amber
	// and the screen goes on answering.
	h.commission(4)
	h.k.show(ScreenPacking)
	h.settle()
	p := h.k.packing
	h.tap(p.openBtns[station.LevelCase])
	for _, sr := range []string{"00000001", "00000002"} {
		h.scan(p.scan, "(01)"+unitGTIN+"(21)"+sr)
	}
	closeCase := p.closeBtn
	h.tap(closeCase) // partial: a signature first
	h.k.dlg.fields["user"].SetText("sup")
	h.k.dlg.fields["reason"].SetText("end of lot")
	h.k.dlg.keypad.Type(pin)
	test.Tap(h.k.dlg.keypad.keys["enter"]) // not settled: the print hangs
	h.until("the printer lamp turns amber", func() bool { return h.k.health[lampPrinter].State == station.DeviceDegraded })
	if r := h.k.health[lampPrinter].Reason; !strings.Contains(r, "print the label") {
		t.Fatalf("printer reason %q", r)
	}
	if !h.k.busyBar.Visible() {
		t.Fatal("the busy bar does not show the call under way")
	}
	test.Tap(h.k.nav[ScreenStatus])
	if h.k.current != ScreenStatus {
		t.Fatal("the screen did not answer a tap while the printer hangs")
	}
	h.until("the status screen shows the printer", func() bool {
		return strings.Contains(h.k.status.devices[lampPrinter].Text, "has not answered")
	})
	close(printHang) // the printer answers again
	h.settle()
	if !strings.Contains(h.k.message.Text, "is closed and its label printed") {
		t.Fatalf("message %q", h.k.message.Text)
	}
	h.until("the printer lamp is green again", func() bool { return h.k.health[lampPrinter].State == station.DeviceConnected })
}

// hangingScanner is a scanner whose Health never returns until hang closes.
type hangingScanner struct {
	*fakeScanner
	hang chan struct{}
}

func (s *hangingScanner) Health() station.Health {
	<-s.hang
	return s.fakeScanner.Health()
}
