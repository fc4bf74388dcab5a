package localdb

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/linestation/linestation/station"
)

func TestDB_Acknowledge(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		clock := newTestClock()
		db := MustOpenDB(t, clock)
		o, err := db.Outbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Acked.Seq != 0 || o.Acked.Hash != station.GenesisHash || o.Waiting != 0 || !o.Oldest.IsZero() || !o.AckedAt.IsZero() {
			t.Fatalf("empty outbox=%+v, want nothing acknowledged and nothing waiting", o)
		}
		MustSetupOrder(t, db, serials("A", 3))
		evs := MustAppend(t, db, ev(station.UnitAllocated{GTIN: testGTIN, Serial: "A000000", Order: testOrder}))
		o, err = db.Outbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.Waiting, int64(3); got != want {
			t.Fatalf("waiting=%d, want %d", got, want)
		}
		first, err := db.Events(ctx, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Oldest.Equal(first[0].Time) {
			t.Fatalf("oldest=%v, want the first event's time %v", o.Oldest, first[0].Time)
		}

		if err := db.Acknowledge(ctx, 2, first[0].Hash); station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("acknowledge seq 2 with seq 1's hash: err=%v, want ECONFLICT", err)
		}
		second, _ := db.Events(ctx, 2, 1)
		if err := db.Acknowledge(ctx, 2, second[0].Hash); err != nil {
			t.Fatal(err)
		}
		ack, err := db.Acknowledged(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Seq != 2 || ack.Hash != second[0].Hash || !ack.Time.Equal(second[0].Time) {
			t.Fatalf("acknowledged=%+v, want seq 2 %s at %v", ack, second[0].Hash, second[0].Time)
		}
		o, _ = db.Outbox(ctx)
		if o.Waiting != 1 || !o.Oldest.Equal(evs[0].Time) || o.AckedAt.IsZero() {
			t.Fatalf("outbox=%+v, want 1 waiting since %v and an ack time", o, evs[0].Time)
		}
		// The central restored from an older copy: the cursor goes back.
		if err := db.Acknowledge(ctx, 0, station.GenesisHash); err != nil {
			t.Fatal(err)
		}
		if o, _ = db.Outbox(ctx); o.Waiting != 3 {
			t.Fatalf("after a reset waiting=%d, want 3", o.Waiting)
		}
	})
	t.Run("ErrBeyondHead", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		MustSetupOrder(t, db, serials("A", 1))
		err := db.Acknowledge(ctx, 3, station.GenesisHash)
		if station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("err=%v, want ECONFLICT", err)
		}
		if ack, _ := db.Acknowledged(ctx); ack.Seq != 0 {
			t.Fatalf("cursor moved to %d after a refused acknowledgement", ack.Seq)
		}
	})
	t.Run("MasterDataCursor", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		if seq, err := db.PulledMasterData(ctx); err != nil || seq != 0 {
			t.Fatalf("new ledger cursor=%d, %v", seq, err)
		}
		if err := db.SetPulledMasterData(ctx, 42); err != nil {
			t.Fatal(err)
		}
		if seq, _ := db.PulledMasterData(ctx); seq != 42 {
			t.Fatalf("cursor=%d, want 42", seq)
		}
		if err := db.SetPulledMasterData(ctx, -1); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("negative cursor: err=%v", err)
		}
	})
	t.Run("SurvivesReopenAndRebuild", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		clock := newTestClock()
		db, err := Open(ctx, path, Options{Station: testStation, Clock: clock, Create: true, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		MustSetupOrder(t, db, serials("A", 1))
		h, _ := db.Head(ctx)
		if err := db.Acknowledge(ctx, h.Seq, h.Hash); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Rebuild(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = MustOpenPath(t, path, Options{Clock: clock})
		if ack, _ := db.Acknowledged(ctx); ack.Seq != h.Seq || ack.Hash != h.Hash {
			t.Fatalf("after reopen acknowledged=%+v, want %+v", ack, h)
		}
	})
}
