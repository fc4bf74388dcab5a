package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
)

// MustPallet packs 8 commissioned packs into two cases on a pallet through
// the domain and returns the pallet.
func (h *harness) MustPallet() station.Item {
	h.t.Helper()
	h.commission(10)
	pal, err := h.svc.OpenParent(h.ctx, "sup", "PO-1", station.LevelPallet)
	must(h.t, err)
	for c := 0; c < 2; c++ {
		cs, err := h.svc.OpenParent(h.ctx, "sup", "PO-1", station.LevelCase)
		must(h.t, err)
		for i := 1; i <= 4; i++ {
			_, err := h.svc.Pack(h.ctx, "sup", cs.Parent, "(01)"+unitGTIN+"(21)0000000"+string(rune('0'+c*4+i)))
			must(h.t, err)
		}
		_, err = h.svc.CloseParent(h.ctx, "sup", cs.Parent, nil)
		must(h.t, err)
		_, err = h.svc.Pack(h.ctx, "sup", pal.Parent, cs.Parent.Key())
		must(h.t, err)
	}
	_, err = h.svc.CloseParent(h.ctx, "sup", pal.Parent, nil)
	must(h.t, err)
	return pal.Parent
}

// treeText is the tree shown, one line per node.
func (s *warehouseScreen) treeText() string {
	var lines []string
	for _, o := range s.tree.Objects {
		lines = append(lines, o.(*canvas.Text).Text)
	}
	return strings.Join(lines, "\n")
}

// TestWarehouseScreen_Flow looks up a pallet's tree, quarantines a pack,
// picks the pallet into a shipment and ships it, receives it back, and
// decommissions a pack with a signature.
func TestWarehouseScreen_Flow(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	pal := h.MustPallet()
	h.signIn("sup")
	h.k.show(ScreenWarehouse)
	h.settle()
	s := h.k.warehouse

	// Look up: the pallet, its 2 cases and 8 packs.
	h.scan(s.scan, "(00)"+pal.SSCC)
	tree := s.treeText()
	if n := len(s.tree.Objects); n != 11 {
		t.Fatalf("tree has %d lines, want 11:\n%s", n, tree)
	}
	if !strings.HasPrefix(tree, "Pallet (00)"+pal.SSCC+" · closed · in stock") || !strings.Contains(tree, "        Pack (01)00300010123455(21)00000008 · commissioned · in stock") {
		t.Fatalf("tree:\n%s", tree)
	}
	if !strings.Contains(s.header.Text, "In it: 2 cases · 8 packs") || !strings.Contains(s.header.Text, "lot L2603A") {
		t.Fatalf("header %q", s.header.Text)
	}
	h.png("warehouse")
	test.AssertRendersToMarkup(t, "warehouse/tree.xml", h.w.Canvas())

	// Quarantine a loose pack: it may not ship.
	s.modes.set(modeQuarantine)
	h.scan(s.scan, "(01)"+unitGTIN+"(21)00000009")
	if !strings.Contains(h.k.message.Text, "Write the quarantine reason first") {
		t.Fatalf("quarantine without reason: %q", h.k.message.Text)
	}
	s.reason.SetText("suspect damage")
	h.scan(s.scan, "(01)"+unitGTIN+"(21)00000009")
	if st, _ := h.db.Stock(h.ctx, station.SGTIN(unitGTIN, "00000009")); st.Status != station.StockInQuarantine {
		t.Fatalf("ledger stock %s, want quarantined", st.Status)
	}

	// Pick the pallet into a shipment and ship it.
	s.modes.set(modePick)
	h.scan(s.scan, "(00)"+pal.SSCC)
	if !strings.Contains(h.k.message.Text, "Start a new shipment first") {
		t.Fatalf("pick without shipment: %q", h.k.message.Text)
	}
	h.tap(s.newShip)
	d := h.k.dlg
	d.fields["po"].SetText("PO-778")
	h.tap(d.ok)
	if s.shipment == nil {
		t.Fatalf("no shipment: %q", h.k.message.Text)
	}
	h.scan(s.scan, "(00)"+pal.SSCC)
	h.scan(s.scan, "(01)"+unitGTIN+"(21)00000009")
	if !strings.Contains(h.k.message.Text, "quarantined") {
		t.Fatalf("a quarantined pack was picked: %q", h.k.message.Text)
	}
	h.until("the shipment shows the pallet", func() bool { return len(s.shipment.Items) == 1 })
	h.tap(s.packShip)
	h.until("the shipment is packed", func() bool { return s.shipment.Status == station.ShipmentStatusPacked })
	test.Tap(s.ship)
	h.tap(h.k.dlg.ok)
	h.until("the shipment is shipped", func() bool { return s.shipment.Status == station.ShipmentStatusShipped })
	if st, _ := h.db.Stock(h.ctx, pal); st.Status != station.StockShipped || st.Shipment != s.shipment.ID {
		t.Fatalf("ledger pallet %+v", st)
	}
	if !strings.Contains(s.header.Text, "shipped") {
		t.Fatalf("the pallet's status is not shown shipped: %q", s.header.Text)
	}

	// Receive it back.
	s.modes.set(modeReceive)
	h.scan(s.scan, "(00)"+pal.SSCC)
	if st, _ := h.db.Stock(h.ctx, pal); st.Status != station.StockInStock {
		t.Fatalf("ledger pallet %s after receiving, want in stock: %q", st.Status, h.k.message.Text)
	}

	// Decommission a loose pack, signed.
	s.modes.set(modeDecommission)
	s.decReason.set(string(station.DecommissionDamaged))
	h.scan(s.scan, "(01)"+unitGTIN+"(21)00000010")
	if h.k.dlg == nil || !strings.Contains(h.k.dlg.lines[1].Text, "leaves the supply chain") {
		t.Fatal("decommissioning asks for no signature")
	}
	h.sign("sup", pin, "")
	if st, _ := h.db.Serial(h.ctx, unitGTIN, "00000010"); st.State != station.UnitStateDecommissioned {
		t.Fatalf("ledger pack %s, want decommissioned: %q", st.State, h.k.message.Text)
	}
	if sigs := h.signatures(); len(sigs) != 1 || sigs[0].Meaning != station.MeaningDestroyed {
		t.Fatalf("signatures %+v", sigs)
	}
}

// TestWarehouseScreen_ReleaseAndSample: a supervisor quarantines a pack;
// releasing it needs QA's signature (the supervisor's is refused in the
// dialog), the dialog says why it was quarantined, and it is in stock
// again; a pack in stock is not "released". A pack is taken as a
// retention sample with a signature.
func TestWarehouseScreen_ReleaseAndSample(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	ss := h.commission(3)
	pack := func(i int) string { return "(01)" + unitGTIN + "(21)" + ss[i] }
	h.signIn("sup")
	h.k.show(ScreenWarehouse)
	h.settle()
	s := h.k.warehouse
	for _, m := range []string{modeRelease, modeSample} {
		if _, ok := s.modes.buttons[m]; !ok {
			t.Fatalf("a supervisor is not offered %s", m)
		}
	}

	s.modes.set(modeQuarantine)
	s.reason.SetText("seal looks opened")
	h.scan(s.scan, pack(0))
	it := station.SGTIN(unitGTIN, ss[0])
	if st, _ := h.db.Stock(h.ctx, it); st.Status != station.StockInQuarantine {
		t.Fatalf("ledger stock %s, want quarantined: %q", st.Status, h.k.message.Text)
	}

	s.modes.set(modeRelease)
	h.scan(s.scan, pack(1))
	if h.k.dlg != nil || !strings.Contains(h.k.message.Text, "not in quarantine: there is nothing to release") {
		t.Fatalf("releasing a pack in stock: dialog %v, message %q", h.k.dlg != nil, h.k.message.Text)
	}
	h.scan(s.scan, pack(0))
	d := h.k.dlg
	if d == nil {
		t.Fatalf("releasing asks for no signature: %q", h.k.message.Text)
	}
	var text []string
	for _, l := range d.lines {
		text = append(text, l.Text)
	}
	if all := strings.Join(text, "\n"); !strings.Contains(all, "Quarantined because: seal looks opened") || !strings.Contains(all, "from quarantine into stock") {
		t.Fatalf("the signature dialog says:\n%s", all)
	}
	h.sign("sup", pin, "seal intact on inspection")
	if h.k.dlg == nil || !strings.Contains(h.k.dlg.err.Text, "may not sign") {
		t.Fatalf("a supervisor's release signature was not refused in the dialog (dialog %v)", h.k.dlg != nil)
	}
	if st, _ := h.db.Stock(h.ctx, it); st.Status != station.StockInQuarantine {
		t.Fatalf("ledger stock %s after a refused signature, want still quarantined", st.Status)
	}
	h.sign("qa", pin, "seal intact on inspection")
	if st, _ := h.db.Stock(h.ctx, it); st.Status != station.StockInStock {
		t.Fatalf("ledger stock %s after QA's release, want in stock: %q", st.Status, h.k.message.Text)
	}
	if !strings.Contains(h.k.message.Text, "released from quarantine") {
		t.Fatalf("message %q", h.k.message.Text)
	}

	s.modes.set(modeSample)
	s.purpose.set("retention")
	h.scan(s.scan, pack(2))
	if h.k.dlg == nil || h.k.dlg.fields["reason"].Text != "retention sample" {
		t.Fatal("sampling asks for no signature, or proposes no reason")
	}
	h.sign("sup", pin, "")
	if st, _ := h.db.Serial(h.ctx, unitGTIN, ss[2]); st.State != station.UnitStateSampled {
		t.Fatalf("ledger pack %s, want sampled: %q", st.State, h.k.message.Text)
	}
	sigs := h.signatures()
	if len(sigs) != 2 || sigs[0].Meaning != station.MeaningReleased || sigs[0].Signer != "qa" || sigs[1].Meaning != station.MeaningDestroyed || sigs[1].Signer != "sup" {
		t.Fatalf("signatures %+v", sigs)
	}
}

// TestStatusScreen shows the clock, the uplink backlog, the pools, the
// devices and the version; a lamp explains itself when touched.
func TestStatusScreen(t *testing.T) {
	up := UplinkStatus{Connected: false, LastSync: testNow.Add(-10 * 60e9), Waiting: 12, OldestAge: 9 * 60e9, LastError: "connection refused"}
	h := MustKiosk(t, harnessOpts{deps: func(d *Deps) { d.Uplink = func() UplinkStatus { return up } }})
	h.clock.set(station.ClockDegraded)
	h.k.Start()
	h.signIn("sup")
	h.k.show(ScreenStatus)
	h.settle()
	s := h.k.status
	for _, want := range []string{"State: degraded", "test: no time server answers"} {
		if !strings.Contains(s.clock.Text, want) {
			t.Fatalf("clock %q lacks %q", s.clock.Text, want)
		}
	}
	for _, want := range []string{"not connected", "Records waiting to be sent: 12", "9 min", "connection refused"} {
		if !strings.Contains(s.uplink.Text, want) {
			t.Fatalf("uplink %q lacks %q", s.uplink.Text, want)
		}
	}
	if !strings.Contains(s.pools.Text, "Examplamol 500 mg tablets (GTIN 00300010123455): 200 serials") {
		t.Fatalf("pools %q", s.pools.Text)
	}
	if !strings.Contains(s.station.Text, "version "+station.Version) {
		t.Fatalf("station %q", s.station.Text)
	}
	h.until("the lamps are shown", func() bool { return h.k.health[lampUplink].State == station.DeviceDisconnected })
	if !strings.Contains(s.devices[lampClock].Text, "Attention") || !strings.Contains(s.devices[lampUplink].Text, "12 records wait") {
		t.Fatalf("devices %q / %q", s.devices[lampClock].Text, s.devices[lampUplink].Text)
	}

	// The uplink's lamp on the line screen explains itself.
	h.k.show(ScreenRun)
	h.settle()
	test.Tap(h.k.runScr.lamps[lampUplink])
	d := h.k.dlg
	if d == nil || !strings.HasPrefix(d.title.Text, "Central") {
		t.Fatal("touching the lamp explains nothing")
	}
	text := ""
	for _, l := range d.lines {
		text += l.Text + "\n"
	}
	for _, want := range []string{"Not connected", "cannot be reached", "Production goes on"} {
		if !strings.Contains(text, want) {
			t.Fatalf("lamp explanation lacks %q:\n%s", want, text)
		}
	}
	h.tap(d.ok)
	if h.k.dlg != nil {
		t.Fatal("the explanation does not close")
	}
}

// TestWarehouseScreen_CentralHold: a pack the central holds shows as
// quarantined by the central, and picking it says whose hold it is and
// what to do.
func TestWarehouseScreen_CentralHold(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	h.MustPallet()
	held := "(01)" + unitGTIN + "(21)00000009"
	must(t, h.svc.ImportHold(h.ctx, station.CentralHold{ID: 1, Investigation: 12, Item: held, Reason: station.HoldSuspect, PlacedBy: "erp:qa"}))
	h.signIn("sup")
	h.k.show(ScreenWarehouse)
	h.settle()
	s := h.k.warehouse

	h.scan(s.scan, held)
	if !strings.Contains(s.header.Text, "stock: quarantined · held by the central service for investigation 12 (suspect)") {
		t.Fatalf("header %q", s.header.Text)
	}
	s.modes.set(modePick)
	h.tap(s.newShip)
	h.k.dlg.fields["po"].SetText("PO-779")
	h.tap(h.k.dlg.ok)
	if s.shipment == nil {
		t.Fatalf("no shipment: %q", h.k.message.Text)
	}
	h.scan(s.scan, held)
	if msg := h.k.message.Text; !strings.Contains(msg, "held by the central service for investigation 12") || !strings.Contains(msg, "put it aside and tell QA") {
		t.Fatalf("picking the held pack: %q", msg)
	}
	if sh, _ := h.db.Shipment(h.ctx, s.shipment.ID); len(sh.Items) != 0 {
		t.Fatalf("the held pack was picked: %+v", sh.Items)
	}
}

// TestWarehouseScreen_PanelLayout: a mode's settings appear between the
// mode buttons and the scan field, laid out again when the mode changes,
// and no mode's name is cut off, also in German.
func TestWarehouseScreen_PanelLayout(t *testing.T) {
	for _, lang := range []string{"en", "de"} {
		h := MustKiosk(t, harnessOpts{language: lang})
		h.signIn("sup")
		h.k.show(ScreenWarehouse)
		h.settle()
		s := h.k.warehouse
		for m, b := range s.modes.buttons {
			if b.Size().Width < b.MinSize().Width {
				t.Errorf("%s: the %s button is %.0f wide, its name needs %.0f", lang, m, b.Size().Width, b.MinSize().Width)
			}
		}
		s.modes.set(modeQuarantine)
		h.settle()
		d := fyne.CurrentApp().Driver()
		reason, scan := d.AbsolutePositionForObject(s.reason), d.AbsolutePositionForObject(s.scan)
		if reason.Y+s.reason.Size().Height > scan.Y || s.reason.Size().Height < s.reason.MinSize().Height {
			t.Errorf("%s: the quarantine reason (y %.0f, height %.0f) is not above the scan field (y %.0f)", lang, reason.Y, s.reason.Size().Height, scan.Y)
		}
	}
}

// TestKiosk_HoldNotice: a hold the central places while the kiosk runs is
// announced at once on the message bar, with what to do, and its release
// too; holds already in force at start are not announced.
func TestKiosk_HoldNotice(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	must(t, h.svc.ImportHold(h.ctx, station.CentralHold{ID: 1, Investigation: 11, GTIN: unitGTIN, Lot: "OLD1", Reason: station.HoldRecalled}))
	h.signIn("pack")
	h.k.Start()
	h.settle()
	before := h.k.message.Text
	must(t, h.svc.ImportHold(h.ctx, station.CentralHold{ID: 2, Investigation: 12, GTIN: unitGTIN, Lot: "L2603A", Reason: station.HoldSuspect, PlacedBy: "erp:qa"}))
	h.until("the new hold to be announced", func() bool {
		return strings.Contains(h.k.message.Text, "The central service placed a hold on lot L2603A of GTIN "+unitGTIN+" (suspect, investigation 12)")
	})
	if strings.Contains(before, "OLD1") || strings.Contains(h.k.message.Text, "OLD1") {
		t.Fatalf("a hold in force at start was announced: %q, %q", before, h.k.message.Text)
	}
	must(t, h.svc.ImportHold(h.ctx, station.CentralHold{ID: 2, Investigation: 12, GTIN: unitGTIN, Lot: "L2603A", Reason: station.HoldSuspect,
		ReleasedAt: testNow, ReleasedBy: "erp:qa"}))
	h.until("the release to be announced", func() bool {
		return strings.Contains(h.k.message.Text, "The central service released its hold on lot L2603A of GTIN "+unitGTIN)
	})
}
