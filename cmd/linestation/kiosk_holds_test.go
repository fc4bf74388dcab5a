package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// commissionPacks records n packs of order as a line run does: the order
// running, serials allocated, each printed, verified and commissioned.
func commissionPacks(t *testing.T, st *kioskStation, order, gtin string, n int) []station.Item {
	t.Helper()
	ctx := context.Background()
	ev := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "sam"} }
	if o, err := st.db.Order(ctx, order); err == nil && o.State == station.OrderReleased {
		_, err := st.db.Append(ctx, ev(station.OrderStateChanged{Order: order, From: station.OrderReleased, To: station.OrderRunning, Reason: "line started"}))
		must(t, err)
	}
	serials, err := st.svc.Pools().Allocate(ctx, order, gtin, "sam", n)
	must(t, err)
	var items []station.Item
	for _, s := range serials {
		_, err := st.db.Append(ctx, ev(station.UnitPrinted{GTIN: gtin, Serial: s, Device: "coder-1"}),
			ev(station.UnitVerified{GTIN: gtin, Serial: s, Device: "camera-1", Grade: "A", Read: "(01)" + gtin + "(21)" + s}),
			ev(station.UnitCommissioned{GTIN: gtin, Serial: s, Device: "camera-1"}))
		must(t, err)
		items = append(items, station.SGTIN(gtin, s))
	}
	return items
}

// TestKiosk_CentralHolds: an investigation opened at the real central (on
// loopback, with its DSCSA exchange) holds two packs and a lot; the
// enrolled station learns it with its master data and refuses to pick a
// held pack or a case holding a pack of the held lot, and to ship a
// shipment picked before the hold arrived, saying whose hold it is and what
// to do; away from the central it keeps the holds; closing the
// investigation as cleared releases them at the station.
func TestKiosk_CentralHolds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, x := startTestCentralDSCSA(t, dscsatest.MfrGLN, dir)
	store := c.store
	seedTestCentral(t, c)
	// A second order of line-1, of the lot the investigation will hold.
	gtin := demoProducts()[0].GTIN
	heldOrder := uplink.Order{ID: "PO-HELD", GTIN: gtin, Lot: "HELD-1", Expiry: "281200", Quantity: 100, Line: "line-1", State: station.OrderReleased}
	_, err := store.PutOrder(ctx, heldOrder)
	must(t, err)

	st := c.openLine1(t)
	stationtest.Poll(t, 20*time.Second, "both released orders and their serials", func() bool {
		for _, id := range []string{demoOrderID, heldOrder.ID} {
			if o, err := st.db.Order(ctx, id); err != nil || o.State != station.OrderReleased {
				return false
			}
		}
		lvl, err := st.db.Pool(ctx, gtin)
		return err == nil && lvl.Available >= 20
	})

	// Packs commissioned as a run records them: three of the demo lot
	// loose, ten of the held lot in a case.
	commission := func(order string, n int) []station.Item { return commissionPacks(t, st, order, gtin, n) }
	loose := commission(demoOrderID, 3)
	lot := commission(heldOrder.ID, 10)
	cs, err := st.svc.OpenParent(ctx, "pat", heldOrder.ID, station.LevelCase)
	must(t, err)
	for _, it := range lot {
		_, err := st.svc.Pack(ctx, "pat", cs.Parent, it.Key())
		must(t, err)
	}
	_, err = st.svc.CloseParent(ctx, "pat", cs.Parent, nil)
	must(t, err)
	sh := dscsatest.Shipment("SH-EARLY")
	must(t, st.svc.CreateShipment(ctx, "pat", sh))
	_, err = st.svc.Pick(ctx, "pat", sh.ID, loose[1].Key()) // picked before the hold
	must(t, err)
	must(t, st.svc.PackShipment(ctx, "pat", sh.ID))
	sh2 := dscsatest.Shipment("SH-LATE")
	must(t, st.svc.CreateShipment(ctx, "pat", sh2))

	// QA opens an investigation at the central: two packs and a lot held.
	inv, err := x.OpenInvestigation(ctx, dscsa.Caller{Name: "qa"}, dscsa.OpenRequest{Description: "pharmacy reports tampered packs",
		Items: []string{loose[0].Key(), loose[1].Key()}, Lots: []dscsa.LotKey{{GTIN: gtin, Lot: heldOrder.Lot}}})
	must(t, err)
	st.client.Pull()
	stationtest.Poll(t, 20*time.Second, "the station to learn the central's holds", func() bool {
		hs, err := st.db.HoldsOn(ctx, cs.Parent)
		return err == nil && len(hs) == len(lot)
	})
	wantHeld := "held by the central service for investigation " + strconv.FormatInt(inv.ID, 10) + " (suspect"
	refused := func(what string, err error, want ...string) {
		t.Helper()
		if station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("%s: err = %v, want a refusal", what, err)
		}
		for _, w := range append(want, wantHeld, "put it aside and tell QA") {
			if !strings.Contains(station.ErrorMessage(err), w) {
				t.Fatalf("%s: %q does not say %q", what, station.ErrorMessage(err), w)
			}
		}
	}
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, loose[0].Key())
	refused("pick the held pack", err, loose[0].Key()+" is held")
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, cs.Parent.Key())
	refused("pick the case of the held lot", err, "holds "+lot[0].Key(), "lot "+heldOrder.Lot)
	refused("ship what was picked before the hold", st.svc.Ship(ctx, "pat", sh.ID), "shipment "+sh.ID+" cannot ship")
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, loose[2].Key()) // not held
	must(t, err)
	if s, err := st.svc.Status(ctx, loose[0].Key()); err != nil || s.Stock.Status != station.StockInQuarantine || !strings.Contains(s.Stock.Reason, wantHeld) {
		t.Fatalf("the warehouse shows the held pack as %+v (%v)", s.Stock, err)
	}

	// Away from the central, the station keeps its holds.
	c.stop()
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, cs.Parent.Key())
	refused("pick the held case offline", err)
	c = startTestCentral(t, store, c.addr) // the exchange x works on the store itself

	// Cleared: the central releases the holds, and so does the station.
	_, err = x.CloseInvestigation(ctx, dscsa.Caller{Name: "qa"}, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeCleared, Note: "seals intact on inspection"})
	must(t, err)
	stationtest.Poll(t, 20*time.Second, "the station to learn the release", func() bool {
		st.client.Pull()
		hs, err := st.db.HoldsOn(ctx, cs.Parent)
		return err == nil && len(hs) == 0
	})
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, cs.Parent.Key())
	must(t, err)
	must(t, st.svc.Ship(ctx, "pat", sh.ID))
	_, err = st.svc.Pick(ctx, "pat", sh2.ID, loose[0].Key())
	must(t, err)
}
