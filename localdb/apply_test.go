package localdb

import (
	"context"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

// TestDB_Projections walks serials, orders, SSCCs and aggregation through
// their events and checks each projection read.
func TestDB_Projections(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, newTestClock())
	ss := serials("P", 6)
	MustSetupOrder(t, db, ss)
	unit := func(i int) station.Item { return station.SGTIN(testGTIN, ss[i]) }

	for i := 0; i < 5; i++ {
		MustAppend(t, db, ev(station.UnitAllocated{GTIN: testGTIN, Serial: ss[i], Order: testOrder}))
	}
	for i := 0; i < 5; i++ {
		MustAppend(t, db, ev(station.UnitPrinted{GTIN: testGTIN, Serial: ss[i], Device: "printer-1"}))
	}
	for i := 0; i < 3; i++ {
		MustAppend(t, db,
			ev(station.UnitVerified{GTIN: testGTIN, Serial: ss[i], Device: "cam", Read: "(01)" + testGTIN + "(21)" + ss[i], Grade: "B"}),
			ev(station.UnitCommissioned{GTIN: testGTIN, Serial: ss[i], Device: "cam"}))
	}
	MustAppend(t, db, ev(station.UnitRejected{GTIN: testGTIN, Serial: ss[3], Reason: station.RejectNoRead, Device: "cam"}))
	MustAppend(t, db, ev(station.UnitRejected{GTIN: testGTIN, Serial: ss[4], Reason: station.RejectNoRead, Device: "cam", Detail: "dark"}))
	MustAppend(t, db, ev(station.UnitSampled{GTIN: testGTIN, Serial: ss[2], Purpose: "retention"}))
	MustAppend(t, db, ev(station.PoolReturned{GTIN: testGTIN, Serials: ss[5:]}))

	s, err := db.Serial(ctx, testGTIN, ss[3])
	if err != nil {
		t.Fatal(err)
	}
	if s.State != station.UnitStateRejected || s.Reason != "no_read" || s.Order != testOrder {
		t.Fatalf("serial 3 = %+v, want rejected no_read in %s", s, testOrder)
	}
	if s, _ := db.Serial(ctx, testGTIN, ss[5]); s.State != station.UnitStateReturned || s.Order != "" {
		t.Fatalf("serial 5 = %+v, want returned, no order", s)
	}
	if _, err := db.Serial(ctx, testGTIN, "NOPE"); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("unknown serial: %v, want ENOTFOUND", err)
	}
	p, err := db.Pool(ctx, testGTIN)
	if err != nil {
		t.Fatal(err)
	}
	if want := (station.PoolLevel{GTIN: testGTIN, Reserved: 6, Available: 0, Allocated: 5, Returned: 1}); p != want {
		t.Fatalf("pool = %+v, want %+v", p, want)
	}
	o, err := db.Order(ctx, testOrder)
	if err != nil {
		t.Fatal(err)
	}
	if o.Allocated != 5 || o.Printed != 5 || o.Verified != 3 || o.Commissioned != 3 || o.Rejected != 2 || o.Sampled != 1 ||
		o.Rejects[station.RejectNoRead] != 2 || len(o.Rejects) != 1 || o.State != station.OrderPlanned || o.Lot != "L1" {
		t.Fatalf("order = %+v", o)
	}

	// Aggregation: two units into a bundle... a case SSCC holds the bundle and a unit.
	bundle := station.SGTIN(testCaseGTIN, "B1")
	caseItem := station.SSCCItem(testSSCC)
	MustAppend(t, db,
		ev(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelCase, Order: testOrder}),
		ev(station.AggregationPacked{Parent: bundle, Level: station.LevelBundle, Children: []station.Item{unit(1), unit(0)}}),
		ev(station.AggregationPacked{Parent: caseItem, Level: station.LevelCase, Children: []station.Item{bundle, unit(2)}}))
	kids, err := db.Children(ctx, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 2 || kids[0].Child != unit(1) || kids[1].Child != unit(0) || kids[0].Level != station.LevelBundle {
		t.Fatalf("children of the bundle = %+v, want units 1 then 0", kids)
	}
	up, err := db.Parent(ctx, unit(0))
	if err != nil || up.Parent != bundle {
		t.Fatalf("parent of unit 0 = %+v, %v; want the bundle", up, err)
	}
	tree, err := db.Tree(ctx, caseItem)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range tree {
		got = append(got, l.Parent.Key()+">"+l.Child.Key())
	}
	want := []string{
		caseItem.Key() + ">" + bundle.Key(), caseItem.Key() + ">" + unit(2).Key(),
		bundle.Key() + ">" + unit(1).Key(), bundle.Key() + ">" + unit(0).Key(),
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tree =\n%v\nwant\n%v", got, want)
	}
	if sc, err := db.SSCC(ctx, testSSCC); err != nil || sc.Level != station.LevelCase || sc.Order != testOrder {
		t.Fatalf("sscc = %+v, %v", sc, err)
	}

	// Unpack one unit: it is loose again, its old parent lost it.
	MustAppend(t, db, ev(station.AggregationUnpacked{Parent: bundle, Children: []station.Item{unit(0)}, Reason: "rework"}))
	if _, err := db.Parent(ctx, unit(0)); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("parent of an unpacked unit: %v, want ENOTFOUND", err)
	}
	if kids, _ := db.Children(ctx, bundle); len(kids) != 1 {
		t.Fatalf("bundle has %d children after unpacking one, want 1", len(kids))
	}
	MustAppend(t, db, ev(station.OrderStateChanged{Order: testOrder, From: station.OrderPlanned, To: station.OrderReleased}))
	if o, _ := db.Order(ctx, testOrder); o.State != station.OrderReleased {
		t.Fatalf("order state = %s, want released", o.State)
	}
}

// TestDB_Projections_Refusals: what the ledger refuses whatever the domain
// does, with the code and a message naming the thing.
func TestDB_Projections_Refusals(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, newTestClock())
	ss := serials("Q", 4)
	MustSetupOrder(t, db, ss)
	bundle := station.SGTIN(testCaseGTIN, "B1")
	pallet := station.SSCCItem(testSSCC)
	MustAppend(t, db,
		ev(station.UnitAllocated{GTIN: testGTIN, Serial: ss[0], Order: testOrder}),
		ev(station.AggregationPacked{Parent: bundle, Level: station.LevelBundle, Children: []station.Item{station.SGTIN(testGTIN, ss[0])}}),
		ev(station.AggregationPacked{Parent: pallet, Level: station.LevelPallet, Children: []station.Item{bundle}}),
		ev(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelPallet}))

	for _, tt := range []struct {
		name string
		ev   station.Payload
		code string
		want string
	}{
		{"SerialIssuedTwice", station.PoolReserved{GTIN: testGTIN, Serials: []string{"NEW1", ss[1]}, Source: "central"}, station.ECONFLICT, "already issued"},
		{"AllocateTwice", station.UnitAllocated{GTIN: testGTIN, Serial: ss[0], Order: testOrder}, station.ECONFLICT, "is allocated: it cannot be allocated"},
		{"AllocateUnknown", station.UnitAllocated{GTIN: testGTIN, Serial: "NOPE", Order: testOrder}, station.ENOTFOUND, "never reserved"},
		{"AllocateNoOrder", station.UnitAllocated{GTIN: testGTIN, Serial: ss[1], Order: "PO-X"}, station.ENOTFOUND, "order PO-X does not exist"},
		{"PrintAvailable", station.UnitPrinted{GTIN: testGTIN, Serial: ss[1], Device: "p"}, station.ECONFLICT, "not allocated to an order"},
		{"ReturnAllocated", station.PoolReturned{GTIN: testGTIN, Serials: []string{ss[0]}}, station.ECONFLICT, "cannot be returned"},
		{"TwoParents", station.AggregationPacked{Parent: station.SGTIN(testCaseGTIN, "B2"), Level: station.LevelBundle, Children: []station.Item{station.SGTIN(testGTIN, ss[0])}}, station.ECONFLICT, "is already in " + bundle.Key()},
		{"Cycle", station.AggregationPacked{Parent: bundle, Level: station.LevelBundle, Children: []station.Item{pallet}}, station.ECONFLICT, "it already holds it"},
		{"LevelMismatch", station.AggregationPacked{Parent: bundle, Level: station.LevelCase, Children: []station.Item{station.SGTIN(testGTIN, ss[2])}}, station.ECONFLICT, "holds children as a bundle"},
		{"UnpackStranger", station.AggregationUnpacked{Parent: pallet, Children: []station.Item{station.SGTIN(testGTIN, ss[0])}, Reason: "x"}, station.ECONFLICT, "it is in " + bundle.Key()},
		{"SSCCTwice", station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelCase}, station.ECONFLICT, "never reused"},
		{"OrderTwice", station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}, station.ECONFLICT, "already exists"},
		{"OrderWrongFrom", station.OrderStateChanged{Order: testOrder, From: station.OrderRunning, To: station.OrderHeld}, station.ECONFLICT, "is planned, not running"},
		{"OrderUnknown", station.OrderStateChanged{Order: "PO-X", From: station.OrderPlanned, To: station.OrderReleased}, station.ENOTFOUND, "does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := dumpProjections(t, db.r)
			_, err := db.Append(ctx, ev(tt.ev))
			if station.ErrorCode(err) != tt.code || !strings.Contains(station.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %v, want %s %q", err, tt.code, tt.want)
			}
			if after := dumpProjections(t, db.r); after != before {
				t.Fatal("a refused event changed the projections")
			}
		})
	}
	if h, _ := db.Head(ctx); h.Seq != 6 {
		t.Fatalf("head = %d after refusals, want 6", h.Seq)
	}
}
