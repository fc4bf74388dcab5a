package station_test

import (
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// TestService_ImportRelease records the ERP's release of an order as the
// central's act, fills the order's pool, and leaves an order that already
// left the planned state alone, so a release delivered twice is harmless.
func TestService_ImportRelease(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{LowWater: 100, Batch: 300})
	ctx := w.ctx
	o := station.Order{ID: "PO-C", GTIN: unitGTIN, Lot: "LOT-C", Expiry: "280600", Quantity: 50, Line: testLine}
	must(t, w.svc.ImportOrder(ctx, o))
	must(t, w.svc.ImportRelease(ctx, "PO-C"))

	st, err := w.svc.Order(ctx, "PO-C")
	must(t, err)
	if st.State != station.OrderReleased {
		t.Fatalf("order state %s, want released", st.State)
	}
	head, err := w.db.Head(ctx)
	must(t, err)
	evs, err := w.db.Events(ctx, head.Seq, 1)
	must(t, err)
	if len(evs) != 1 || evs[0].Type != station.EventOrderStateChanged || evs[0].User != station.CentralUser {
		t.Fatalf("last event %+v, want order.state_changed by %s", evs, station.CentralUser)
	}
	stationtest.Poll(t, 5*time.Second, "the released order's pool to fill", func() bool {
		lvl, err := w.db.Pool(ctx, unitGTIN)
		return err == nil && lvl.Available == 300
	})

	// Delivered again: nothing is recorded.
	head, err = w.db.Head(ctx)
	must(t, err)
	must(t, w.svc.ImportRelease(ctx, "PO-C"))
	if again, _ := w.db.Head(ctx); again.Seq != head.Seq {
		t.Fatalf("a second release recorded %d events", again.Seq-head.Seq)
	}

	other := o
	other.ID, other.Line = "PO-L2", "line-2"
	must(t, w.svc.ImportOrder(ctx, other))
	wantErr(t, w.svc.ImportRelease(ctx, "PO-L2"), station.ECONFLICT, "is for line line-2, and this station is line line-1")
	if st, _ := w.svc.Order(ctx, "PO-L2"); st.State != station.OrderPlanned {
		t.Fatalf("the other line's order is %s, want planned", st.State)
	}
	wantErr(t, w.svc.ImportRelease(ctx, "PO-NONE"), station.ENOTFOUND, "PO-NONE")
}
