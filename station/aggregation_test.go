package station_test

import (
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// MustPacks runs order id to n commissioned packs (no faults) and returns
// their serials and the order.
func (w *world) MustPacks(id string, n int) ([]string, station.OrderStatus) {
	w.t.Helper()
	w.MustOrder(id, n, n+200)
	l := w.MustLine(id, func(int) fault { return fOK }, station.RunConfig{})
	l.Go()
	stationtest.Poll(w.t, 20*time.Second, "the packs are commissioned", func() bool { return l.run.Snapshot().State == station.RunDone })
	must(w.t, l.run.Complete(w.ctx, "op"))
	ss, err := w.db.OrderSerials(w.ctx, id, station.UnitStateCommissioned, n)
	must(w.t, err)
	o, err := w.svc.Order(w.ctx, id)
	must(w.t, err)
	return ss, o
}

// TestService_Aggregation: every packing rule and its refusal.
func TestService_Aggregation(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	ss, o := w.MustPacks("PO-A", 50)
	otherSS, other := w.MustPacks("PO-B", 5) // another lot
	w.MustOrder("PO-C", 10, 0)               // released, never run

	_, err := w.svc.OpenParent(ctx, "pack", "PO-C", station.LevelCase)
	wantErr(t, err, station.ECONFLICT, "order PO-C is released: packing is possible while it is running, held or completed")
	_, err = w.svc.OpenParent(ctx, "pack", "PO-A", station.LevelBundle)
	wantErr(t, err, station.EINVALID, "has no bundle level")
	_, err = w.svc.OpenParent(ctx, "op", "PO-A", station.LevelCase)
	must(t, err) // operators may pack too
	cs, err := w.svc.OpenParent(ctx, "pack", "PO-A", station.LevelCase)
	must(t, err)
	if cs.Status != station.ContainerOpen || cs.Capacity != 40 || cs.Parent.SSCC == "" || cs.Parent.SSCC[0] != '0' || cs.Parent.SSCC[1:7] != "030001" {
		t.Fatalf("case = %+v", cs)
	}
	pl, err := w.svc.OpenParent(ctx, "pack", "PO-A", station.LevelPallet)
	must(t, err)
	if pl.Parent.SSCC[0] != '1' {
		t.Fatalf("pallet SSCC %s lacks extension digit 1", pl.Parent.SSCC)
	}

	// Fill the case to capacity, then every refusal.
	for _, s := range ss[:39] {
		_, err := w.svc.Pack(ctx, "pack", cs.Parent, unitScan(o, s))
		must(t, err)
	}
	pack := func(parent station.Item, scan string) error {
		_, err := w.svc.Pack(ctx, "pack", parent, scan)
		return err
	}
	allocated, err := w.svc.Pools().Allocate(ctx, "PO-A", unitGTIN, "op", 1)
	must(t, err)
	for _, tt := range []struct {
		name   string
		parent station.Item
		scan   string
		code   string
		want   string
	}{
		{"NotGS1", cs.Parent, "hello", station.EINVALID, "is not GS1 data"},
		{"NoSerial", cs.Parent, "(01)" + unitGTIN, station.EINVALID, "has no SSCC (00) and no GTIN (01) with serial (21)"},
		{"Unknown", cs.Parent, "(01)" + unitGTIN + "(21)NOPE", station.ENOTFOUND, "is not known at this station"},
		{"NotCommissioned", cs.Parent, "(01)" + unitGTIN + "(21)" + allocated[0], station.ECONFLICT, "is allocated: only a commissioned pack can be packed"},
		{"OtherLot", cs.Parent, unitScan(other, otherSS[0]), station.ECONFLICT, "is lot LOT-PO-B, and this case holds lot LOT-PO-A"},
		{"AlreadyPacked", cs.Parent, unitScan(o, ss[0]), station.ECONFLICT, "is already in (00)" + cs.Parent.SSCC},
		{"OtherProduct", cs.Parent, "(01)00300010999999(21)X1", station.ECONFLICT, "a case holds one product"},
		{"UnitOnPallet", pl.Parent, unitScan(o, ss[45]), station.ECONFLICT, "a pallet of Examplamol 500 mg tablets holds cases"},
		{"OpenCaseOnPallet", pl.Parent, "(00)" + cs.Parent.SSCC, station.ECONFLICT, "is still open: close it before packing it into a pallet"},
		{"UnknownParent", station.SSCCItem("003000100000000010"), unitScan(o, ss[45]), station.ENOTFOUND, "was not opened at this station"},
		{"Itself", pl.Parent, "(00)" + pl.Parent.SSCC, station.EINVALID, "cannot be packed into itself"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, pack(tt.parent, tt.scan), tt.code, tt.want)
		})
	}
	// Scans in every form: scanner data, Digital Link.
	res, err := w.svc.Pack(ctx, "pack", cs.Parent, "https://id.gs1.org/01/"+unitGTIN+"/10/LOT-PO-A/21/"+ss[39]+"?17=280600")
	must(t, err)
	if !res.Full || res.Count != 40 {
		t.Fatalf("after 40 packs: %+v", res)
	}
	wantErr(t, pack(cs.Parent, unitScan(o, ss[40])), station.ECONFLICT, "is full (40 of 40): close it")

	// Closing: the label printer must confirm; a partial case needs a supervisor.
	w.printer.fail = station.Errorf(station.EDEVICE, "printer out of ribbon")
	_, err = w.svc.CloseParent(ctx, "pack", cs.Parent, nil)
	wantErr(t, err, station.EDEVICE, "out of ribbon")
	if c, _ := w.db.Container(ctx, cs.Parent); c.Status != station.ContainerOpen || c.Labeled {
		t.Fatalf("a failed print closed the case: %+v", c)
	}
	w.printer.fail = nil
	_, err = w.svc.CloseParent(ctx, "pack", cs.Parent, nil)
	must(t, err)
	if labels := w.printer.Labels(); len(labels) != 1 || labels[0].Data != "00"+cs.Parent.SSCC || labels[0].Fields["lot"] != "LOT-PO-A" || labels[0].Template != "case" {
		t.Fatalf("labels = %+v", labels)
	}
	wantErr(t, errOf(w.svc.CloseParent(ctx, "pack", cs.Parent, nil)), station.ECONFLICT, "is already closed")
	wantErr(t, pack(cs.Parent, unitScan(o, ss[40])), station.ECONFLICT, "is closed: unpack a child to open it again")

	c2, err := w.svc.OpenParent(ctx, "pack", "PO-A", station.LevelCase)
	must(t, err)
	if c2.Parent.SSCC <= cs.Parent.SSCC {
		t.Fatalf("SSCC %s does not follow %s", c2.Parent.SSCC, cs.Parent.SSCC)
	}
	wantErr(t, errOf(w.svc.CloseParent(ctx, "pack", c2.Parent, nil)), station.ECONFLICT, "is empty")
	for _, s := range ss[40:45] {
		must(t, pack(c2.Parent, unitScan(o, s)))
	}
	wantErr(t, errOf(w.svc.CloseParent(ctx, "pack", c2.Parent, nil)), station.EUNAUTHORIZED, "close partial case (00)"+c2.Parent.SSCC+" (5 of 40) needs an electronic signature")
	wantErr(t, errOf(w.svc.CloseParent(ctx, "pack", c2.Parent, w.sig("pack", station.MeaningPartial, "end"))), station.EUNAUTHORIZED, "needs the role supervisor")
	c2closed, err := w.svc.CloseParent(ctx, "pack", c2.Parent, w.sig("sup", station.MeaningPartial, "end of lot"))
	must(t, err)
	if !c2closed.Partial || c2closed.Count != 5 {
		t.Fatalf("partial case = %+v", c2closed)
	}

	// Pallet: cases by their SSCC scan (GS1-128 scanner data).
	must(t, pack(pl.Parent, "]C100"+cs.Parent.SSCC))
	must(t, pack(pl.Parent, "(00)"+c2.Parent.SSCC))
	tree, err := w.svc.Tree(ctx, pl.Parent)
	must(t, err)
	if tree.Count(station.LevelCase) != 2 || tree.Count(station.LevelUnit) != 45 || tree.Children[0].Children[0].State != string(station.UnitStateCommissioned) {
		t.Fatalf("pallet tree: %d cases, %d units", tree.Count(station.LevelCase), tree.Count(station.LevelUnit))
	}

	// Unpack one child: the case opens again and keeps its label; re-close
	// prints nothing. Then unpack a whole parent and re-aggregate.
	out, err := w.svc.Unpack(ctx, "pack", cs.Parent, []station.Item{station.SGTIN(unitGTIN, ss[7])}, "repack")
	must(t, err)
	if len(out) != 1 {
		t.Fatal(out)
	}
	if c, _ := w.db.Container(ctx, cs.Parent); c.Status != station.ContainerOpen || c.Count != 39 || !c.Labeled {
		t.Fatalf("case after unpacking one = %+v", c)
	}
	_, err = w.svc.Unpack(ctx, "pack", cs.Parent, []station.Item{station.SGTIN(unitGTIN, ss[41])}, "repack")
	wantErr(t, err, station.ECONFLICT, "is in (00)"+c2.Parent.SSCC+", not in (00)"+cs.Parent.SSCC)
	must(t, pack(cs.Parent, unitScan(o, ss[7])))
	labels := len(w.printer.Labels())
	_, err = w.svc.CloseParent(ctx, "pack", cs.Parent, nil)
	must(t, err)
	if len(w.printer.Labels()) != labels {
		t.Fatal("re-closing a labeled case printed a second label")
	}
	all, err := w.svc.Unpack(ctx, "pack", c2.Parent, nil, "whole case reworked")
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("unpacked %d children of the partial case, want 5", len(all))
	}
	c3, err := w.svc.OpenParent(ctx, "pack", "PO-A", station.LevelCase)
	must(t, err)
	for _, it := range all {
		must(t, pack(c3.Parent, unitScan(o, it.Serial)))
	}

	// Rework: replace a pack in the closed case; the case stays closed.
	wantErr(t, w.svc.Replace(ctx, "pack", unitScan(o, ss[1]), unitScan(o, ss[46]), "crushed", w.sig("pack", station.MeaningRework, "x")),
		station.EUNAUTHORIZED, "needs the role supervisor")
	wantErr(t, w.svc.Replace(ctx, "pack", unitScan(o, ss[46]), unitScan(o, ss[47]), "crushed", w.sig("sup", station.MeaningRework, "x")),
		station.ECONFLICT, "is in no parent")
	wantErr(t, w.svc.Replace(ctx, "pack", unitScan(o, ss[1]), unitScan(o, ss[2]), "crushed", w.sig("sup", station.MeaningRework, "x")),
		station.ECONFLICT, "is already in")
	must(t, w.svc.Replace(ctx, "pack", unitScan(o, ss[1]), unitScan(o, ss[46]), "crushed", w.sig("sup", station.MeaningRework, "corner crushed")))
	if c, _ := w.db.Container(ctx, cs.Parent); c.Status != station.ContainerClosed || c.Count != 40 {
		t.Fatalf("case after rework = %+v", c)
	}
	if st, _ := w.db.Serial(ctx, unitGTIN, ss[1]); st.State != station.UnitStateDecommissioned || st.Reason != "replaced" {
		t.Fatalf("replaced pack = %+v", st)
	}
	if link, err := w.db.Parent(ctx, station.SGTIN(unitGTIN, ss[46])); err != nil || link.Parent != cs.Parent {
		t.Fatalf("replacement pack's parent = %+v, %v", link, err)
	}
}

// TestService_Warehouse: moves and their refusals.
func TestService_Warehouse(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	ss, o := w.MustPacks("PO-W", 12)
	cs, err := w.svc.OpenParent(ctx, "pack", "PO-W", station.LevelCase)
	must(t, err)
	for _, s := range ss[:4] {
		_, err := w.svc.Pack(ctx, "pack", cs.Parent, unitScan(o, s))
		must(t, err)
	}
	caseScan := "(00)" + cs.Parent.SSCC
	sh := station.Shipment{ID: "SH-1", ShipFrom: "0300010000008", Owner: "0300010000008", ShipTo: "0614141000005", Partner: "0614141000005", PO: "PO-77"}
	bad := sh
	bad.Partner = "0614141000006"
	wantErr(t, w.svc.CreateShipment(ctx, "pack", bad), station.EINVALID, "partner GLN")
	wantErr(t, w.svc.CreateShipment(ctx, "op", sh), station.EUNAUTHORIZED, "needs the role packer or supervisor or qa")
	must(t, w.svc.CreateShipment(ctx, "pack", sh))
	wantErr(t, w.svc.CreateShipment(ctx, "pack", sh), station.ECONFLICT, "shipment SH-1 already exists")
	pick := func(scan string) error { _, err := w.svc.Pick(ctx, "pack", "SH-1", scan); return err }
	wantErr(t, pick(caseScan), station.ECONFLICT, "is open: close it first")
	_, err = w.svc.CloseParent(ctx, "pack", cs.Parent, w.sig("sup", station.MeaningPartial, "small order"))
	must(t, err)
	wantErr(t, pick(unitScan(o, ss[0])), station.ECONFLICT, "is inside (00)"+cs.Parent.SSCC+": pick (00)"+cs.Parent.SSCC+", or unpack it first")
	_, err = w.svc.Quarantine(ctx, "pack", unitScan(o, ss[1]), "suspect seal")
	must(t, err)
	wantErr(t, pick(caseScan), station.ECONFLICT, "a quarantined pack cannot ship")
	_, err = w.svc.Quarantine(ctx, "pack", unitScan(o, ss[1]), "again")
	wantErr(t, err, station.ECONFLICT, "only stock in the warehouse can be quarantined")
	_, err = w.svc.ReleaseQuarantine(ctx, "pack", unitScan(o, ss[1]), w.sig("sup", station.MeaningReleased, "seal fine"))
	wantErr(t, err, station.EUNAUTHORIZED, "needs the role qa")
	_, err = w.svc.ReleaseQuarantine(ctx, "pack", unitScan(o, ss[1]), w.sig("qa", station.MeaningReleased, "seal fine"))
	must(t, err)
	_, err = w.svc.Quarantine(ctx, "pack", unitScan(o, ss[8]), "dented")
	must(t, err)
	wantErr(t, pick(unitScan(o, ss[8])), station.ECONFLICT, "is quarantined (dented): only stock in the warehouse can be picked")
	_, err = w.svc.Pack(ctx, "pack", cs.Parent, unitScan(o, ss[8]))
	wantErr(t, err, station.ECONFLICT, "is closed")

	must(t, pick(caseScan))
	must(t, pick(unitScan(o, ss[5])))
	wantErr(t, pick(unitScan(o, ss[5])), station.ECONFLICT, "only stock in the warehouse can be picked")
	wantErr(t, w.svc.Ship(ctx, "pack", "SH-1"), station.ECONFLICT, "pack it before shipping")
	must(t, w.svc.Unpick(ctx, "pack", "SH-1", []station.Item{station.SGTIN(unitGTIN, ss[5])}, "wrong item"))
	must(t, w.svc.PackShipment(ctx, "pack", "SH-1"))
	wantErr(t, pick(unitScan(o, ss[6])), station.ECONFLICT, "shipment SH-1 is packed: nothing more can be picked")
	w.clock.SetState(station.ClockUnsynced)
	wantErr(t, w.svc.Ship(ctx, "pack", "SH-1"), station.ECLOCK, "cannot be trusted")
	w.clock.SetState(station.ClockSynced)
	must(t, w.svc.Ship(ctx, "pack", "SH-1"))
	shp, err := w.db.Shipment(ctx, "SH-1")
	must(t, err)
	if shp.Status != station.ShipmentStatusShipped || len(shp.Items) != 1 || shp.Items[0] != cs.Parent || shp.PO != "PO-77" || shp.Partner != "0614141000005" {
		t.Fatalf("shipment = %+v", shp)
	}

	// A shipped pack cannot be decommissioned or repacked here; a return
	// brings it back in quarantine; receiving takes a shipped item back.
	_, err = w.svc.Decommission(ctx, "pack", unitScan(o, ss[0]), station.DecommissionDestroyed, "", w.sig("sup", station.MeaningDestroyed, "x"))
	wantErr(t, err, station.ECONFLICT, "is shipped (shipment SH-1)")
	_, err = w.svc.Unpack(ctx, "pack", cs.Parent, nil, "x")
	wantErr(t, err, station.ECONFLICT, "is shipped (shipment SH-1): it cannot be changed")
	_, err = w.svc.Receive(ctx, "pack", unitScan(o, ss[9]), "0614141000005", "")
	wantErr(t, err, station.ECONFLICT, "only shipped items can be received")
	_, err = w.svc.Return(ctx, "pack", unitScan(o, ss[2]), "0614141000005", "damaged in transit")
	must(t, err)
	st, err := w.svc.Status(ctx, unitScan(o, ss[2]))
	must(t, err)
	if st.Stock.Status != station.StockInQuarantine || st.Parent != nil {
		t.Fatalf("returned pack = %+v", st)
	}
	_, err = w.svc.Receive(ctx, "pack", caseScan, "0614141000005", "DESADV-9")
	must(t, err)
	if st, _ := w.svc.Status(ctx, caseScan); st.Stock.Status != station.StockInStock || st.Container.Count != 3 {
		t.Fatalf("received case = %+v", st)
	}

	// Decommissioning and sampling: signed, with a reason, only commissioned packs.
	_, err = w.svc.Decommission(ctx, "pack", unitScan(o, ss[9]), station.DecommissionStolen, "", nil)
	wantErr(t, err, station.EUNAUTHORIZED, "needs an electronic signature (destroyed) by supervisor or qa")
	_, err = w.svc.Decommission(ctx, "pack", unitScan(o, ss[9]), station.DecommissionReplaced, "", w.sig("sup", station.MeaningDestroyed, "x"))
	wantErr(t, err, station.EINVALID, "replacing a pack is rework")
	_, err = w.svc.Decommission(ctx, "pack", unitScan(o, ss[3]), station.DecommissionRecalled, "recall R-1", w.sig("qa", station.MeaningDestroyed, "recall R-1"))
	must(t, err) // it was in the case: unpacked in the same transaction
	if _, err := w.db.Parent(ctx, station.SGTIN(unitGTIN, ss[3])); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("a decommissioned pack is still in its case: %v", err)
	}
	_, err = w.svc.Sample(ctx, "pack", unitScan(o, ss[3]), "qa", w.sig("qa", station.MeaningDestroyed, "x"))
	wantErr(t, err, station.ECONFLICT, "is decommissioned: only a commissioned pack can take as sample")
	_, err = w.svc.Decommission(ctx, "pack", caseScan, station.DecommissionDestroyed, "", w.sig("qa", station.MeaningDestroyed, "x"))
	wantErr(t, err, station.EINVALID, "is a container: unpack it and decommission (destroyed) each pack")
}
