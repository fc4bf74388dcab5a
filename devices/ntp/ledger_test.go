package ntp_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/linestation/linestation/devices/ntp"
	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

// TestClock_Ledger runs the whole chain for real: a chronyd serving a wrong
// time, the NTP clock that polls it, and a station ledger stamped by that
// clock. A clock two minutes off stops commissioning with the reason; a
// clock 30 s off lets it go on, and the event records "degraded".
func TestClock_Ledger(t *testing.T) {
	const gtin, order = "00300010123455", "PO-1"
	for _, tt := range []struct {
		name  string
		skew  string
		state station.ClockState
	}{
		{"Unsynced", "-2m", station.ClockUnsynced},
		{"Degraded", "+30s", station.ClockDegraded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv := MustStartChrony(t, chronyOptions{Skew: tt.skew})
			clock := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})
			if err := clock.Sync(ctx); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			db, err := localdb.Open(ctx, filepath.Join(t.TempDir(), "station.db"), localdb.Options{Station: "line-1", Clock: clock, Create: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			ev := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "olga"} }
			if _, err := db.Append(ctx,
				ev(station.OrderCreated{Order: order, GTIN: gtin, Lot: "L1", Expiry: "280600", Quantity: 10}),
				ev(station.PoolReserved{GTIN: gtin, Serials: []string{"S1"}, Source: "local"}),
				ev(station.UnitAllocated{GTIN: gtin, Serial: "S1", Order: order}),
				ev(station.UnitPrinted{GTIN: gtin, Serial: "S1", Device: "coder"}),
			); err != nil {
				t.Fatalf("append before commissioning: %v", err)
			}
			got, err := db.Append(ctx, ev(station.UnitCommissioned{GTIN: gtin, Serial: "S1", Device: "camera"}))
			if tt.state == station.ClockUnsynced {
				if code := station.ErrorCode(err); code != station.ECLOCK {
					t.Fatalf("commission with a clock 2 min off: %v (code %q), want ECLOCK", err, code)
				}
				if st, _ := db.Serial(ctx, gtin, "S1"); st.State != station.UnitStatePrinted {
					t.Fatalf("serial state %q after the refusal, want it still printed", st.State)
				}
				return
			}
			if err != nil {
				t.Fatalf("commission with a clock 30 s off: %v, want it recorded", err)
			}
			if got[0].ClockState != station.ClockDegraded || got[0].ClockOffset == 0 {
				t.Fatalf("event clock state %q offset %s, want degraded with the offset applied", got[0].ClockState, got[0].ClockOffset)
			}
		})
	}
}
