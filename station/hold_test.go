package station_test

import (
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

// TestService_CentralHold: holds of the central's suspect product
// investigations refuse picking and shipping (a held pack, a case holding
// a pack of a held lot, a shipment picked before the hold arrived), say
// whose hold it is and what to do, survive a rebuild, and lift once the
// central releases them; a hold delivered twice records nothing.
func TestService_CentralHold(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	ss, o := w.MustPacks("PO-H", 12)
	ls, lo := w.MustPacks("PO-L", 4) // the held lot
	cs, err := w.svc.OpenParent(ctx, "pack", "PO-L", station.LevelCase)
	must(t, err)
	for _, s := range ls {
		_, err := w.svc.Pack(ctx, "pack", cs.Parent, unitScan(lo, s))
		must(t, err)
	}
	_, err = w.svc.CloseParent(ctx, "pack", cs.Parent, w.sig("sup", station.MeaningPartial, "small lot"))
	must(t, err)
	caseScan := "(00)" + cs.Parent.SSCC

	sh := station.Shipment{ID: "SH-1", ShipFrom: "0300010000008", Owner: "0300010000008", ShipTo: "0614141000005", Partner: "0614141000005", PO: "PO-77"}
	must(t, w.svc.CreateShipment(ctx, "pack", sh))
	sh.ID = "SH-2"
	must(t, w.svc.CreateShipment(ctx, "pack", sh))
	pick := func(shipment, scan string) error { _, err := w.svc.Pick(ctx, "pack", shipment, scan); return err }
	must(t, pick("SH-2", unitScan(o, ss[5]))) // picked before the hold arrives

	placed := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	holds := []station.CentralHold{
		{ID: 31, Investigation: 12, Item: station.SGTIN(o.GTIN, ss[0]).Key(), Reason: station.HoldSuspect, PlacedAt: placed, PlacedBy: "erp:qa"},
		{ID: 32, Investigation: 12, GTIN: lo.GTIN, Lot: lo.Lot, Reason: station.HoldSuspect, PlacedAt: placed, PlacedBy: "erp:qa"},
		{ID: 33, Investigation: 12, Item: station.SGTIN(o.GTIN, ss[5]).Key(), Reason: station.HoldSuspect, PlacedAt: placed, PlacedBy: "erp:qa"},
	}
	for _, h := range holds {
		must(t, w.svc.ImportHold(ctx, h))
	}
	head, err := w.db.Head(ctx)
	must(t, err)
	for _, h := range holds {
		must(t, w.svc.ImportHold(ctx, h)) // delivered again
	}
	if again, _ := w.db.Head(ctx); again.Seq != head.Seq {
		t.Fatalf("a hold delivered twice recorded %d events", again.Seq-head.Seq)
	}

	check := func() {
		t.Helper()
		wantErr(t, pick("SH-1", unitScan(o, ss[0])), station.ECONFLICT,
			"is held by the central service for investigation 12 (suspect): it cannot be picked; put it aside and tell QA")
		wantErr(t, pick("SH-1", unitScan(lo, ls[0])), station.ECONFLICT, "inside") // packed: the case is what is picked
		wantErr(t, pick("SH-1", caseScan), station.ECONFLICT,
			"holds (01)"+lo.GTIN+"(21)"+ls[0]+", which is held by the central service for investigation 12 (suspect, lot "+lo.Lot+" of GTIN "+lo.GTIN+")")
		must(t, w.svc.PackShipment(ctx, "pack", "SH-2"))
		wantErr(t, w.svc.Ship(ctx, "pack", "SH-2"), station.ECONFLICT, "shipment SH-2 cannot ship; unpick it; put it aside and tell QA")
		st, err := w.svc.Status(ctx, unitScan(o, ss[0]))
		must(t, err)
		if st.Stock.Status != station.StockInQuarantine || st.Stock.Reason != "held by the central service for investigation 12 (suspect)" || len(st.Holds) != 1 {
			t.Fatalf("status of the held pack: %+v, holds %+v", st.Stock, st.Holds)
		}
	}
	check()
	// A pack of another lot, not held, is picked as before.
	must(t, pick("SH-1", unitScan(o, ss[1])))

	// The projections come back from the journal alone.
	if _, err := w.db.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if hs, err := w.db.HoldsOn(ctx, cs.Parent); err != nil || len(hs) != len(ls) || hs[0].Hold.ID != 32 {
		t.Fatalf("after rebuild, holds on the case %+v, %v; want the lot hold on its %d packs", hs, err, len(ls))
	}

	// The reason changes (illegitimate): recorded, still held.
	ill := holds[0]
	ill.Reason = station.HoldIllegitimate
	must(t, w.svc.ImportHold(ctx, ill))
	wantErr(t, pick("SH-1", unitScan(o, ss[0])), station.ECONFLICT, "investigation 12 (illegitimate)")

	// The investigation clears the lot and the shipped pack: released here.
	released := placed.Add(time.Hour)
	for _, h := range holds[1:] {
		h.ReleasedAt, h.ReleasedBy = released, "erp:qa"
		must(t, w.svc.ImportHold(ctx, h))
		must(t, w.svc.ImportHold(ctx, h)) // delivered again
	}
	must(t, pick("SH-1", caseScan))
	must(t, w.svc.Ship(ctx, "pack", "SH-2"))
	if _, err := w.db.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if hs, err := w.db.HoldsOn(ctx, cs.Parent); err != nil || len(hs) != 0 {
		t.Fatalf("after release and rebuild, holds on the case %+v, %v", hs, err)
	}
	wantErr(t, pick("SH-1", unitScan(o, ss[0])), station.ECONFLICT, "investigation 12 (illegitimate)")
}
