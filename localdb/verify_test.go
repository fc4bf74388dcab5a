package localdb

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/linestation/linestation/station"
)

// MustWorkload appends a line's worth of varied events (order, pool, unit
// lifecycle with rejects, aggregation with an unpack, a clock step) and
// a clock step back and degraded time.
func MustWorkload(tb testing.TB, db *DB, clock *testClock, units int) {
	tb.Helper()
	ss := serials("U", units)
	MustSetupOrder(tb, db, ss)
	reasons := station.RejectReasons()
	var packed []station.Item
	for i, s := range ss {
		MustAppend(tb, db, ev(station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: testOrder}), ev(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "p"}))
		if i%7 == 3 {
			MustAppend(tb, db, ev(station.UnitRejected{GTIN: testGTIN, Serial: s, Reason: reasons[i%len(reasons)], Device: "cam"}))
			continue
		}
		MustAppend(tb, db, ev(station.UnitCommissioned{GTIN: testGTIN, Serial: s, Device: "cam"}))
		packed = append(packed, station.SGTIN(testGTIN, s))
		if i == units/2 {
			clock.Set(clock.Now().UTC.Add(-10 * 60e9)) // ten minutes back
			clock.SetState(station.ClockDegraded)
		}
	}
	for i := 0; i+5 <= len(packed); i += 5 {
		MustAppend(tb, db,
			ev(station.SSCCAllocated{SSCC: sscc(i), Level: station.LevelCase, Order: testOrder}),
			ev(station.AggregationPacked{Parent: station.SSCCItem(sscc(i)), Level: station.LevelCase, Children: packed[i : i+5]}))
	}
	MustAppend(tb, db, ev(station.AggregationUnpacked{Parent: station.SSCCItem(sscc(0)), Children: packed[1:2], Reason: "rework"}))
	MustAppend(tb, db, ev(station.UnitDecommissioned{GTIN: testGTIN, Serial: packed[1].Serial, Reason: station.DecommissionDamaged}))
}

func TestDB_Verify(t *testing.T) {
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	MustWorkload(t, db, clock, 40)
	h, _ := db.Head(context.Background())
	rep, err := db.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != h.Seq || rep.FirstSeq != 1 || rep.LastSeq != h.Seq || rep.ClockSteps != 1 ||
		rep.ClockStates[station.ClockSynced] == 0 || rep.ClockStates[station.ClockDegraded] == 0 || rep.Station != testStation {
		t.Fatalf("report = %+v, want intact, %d events, 1 step, synced and degraded", rep, h.Seq)
	}
}

// TestDB_Rebuild: rebuilding the projections from the journal gives exactly
// the projections that appending wrote, row for row.
func TestDB_Rebuild(t *testing.T) {
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	MustWorkload(t, db, clock, 60)
	before := dumpProjections(t, db.r)
	st, err := db.Rebuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := db.Head(context.Background())
	if st.Events != h.Seq || st.LastSeq != h.Seq {
		t.Fatalf("rebuild = %+v, want %d events", st, h.Seq)
	}
	if after := dumpProjections(t, db.r); after != before {
		t.Fatalf("projections differ after rebuild:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Appending goes on from the same head after a rebuild.
	out := MustAppend(t, db, ev(station.SSCCAllocated{SSCC: sscc(999), Level: station.LevelPallet}))
	if out[0].Seq != h.Seq+1 {
		t.Fatalf("seq after rebuild = %d, want %d", out[0].Seq, h.Seq+1)
	}
}

// TestDB_Rebuild_Concurrent runs a rebuild while appends go on: appends
// wait for it, none is lost, and the projections still match a replay.
func TestDB_Rebuild_Concurrent(t *testing.T) {
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	MustWorkload(t, db, clock, 20)
	var base int
	db.r.QueryRow(`SELECT count(*) FROM ssccs`).Scan(&base)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := db.Append(context.Background(), ev(station.SSCCAllocated{SSCC: sscc(10000 + w*100 + i), Level: station.LevelCase})); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		if _, err := db.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	before := dumpProjections(t, db.r)
	if _, err := db.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dumpProjections(t, db.r) != before {
		t.Fatal("projections differ from a replay after concurrent appends and rebuilds")
	}
	var n int
	db.r.QueryRow(`SELECT count(*) FROM ssccs`).Scan(&n)
	if n -= base; n != 100 {
		t.Fatalf("%d of the 100 concurrent SSCCs are projected", n)
	}
}

func TestDB_Snapshot(t *testing.T) {
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	MustWorkload(t, db, clock, 20)
	h, _ := db.Head(context.Background())

	// Appends go on while the snapshot is taken; the snapshot is one
	// consistent state at or after h.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			if _, err := db.Append(context.Background(), ev(station.SSCCAllocated{SSCC: sscc(20000 + i), Level: station.LevelCase})); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	if err := db.Snapshot(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	<-done
	if !bytes.HasPrefix(buf.Bytes(), []byte("SQLite format 3\x00")) {
		t.Fatalf("snapshot does not start with the SQLite header")
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := MustOpenPath(t, path, Options{ReadOnly: true})
	rep, err := snap.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.LastSeq < h.Seq || rep.Station != testStation {
		t.Fatalf("snapshot report = %+v, want intact with at least seq %d", rep, h.Seq)
	}
	// The snapshot's projections are the replay of its own journal.
	rw := MustOpenPath(t, path, Options{Clock: clock})
	before := dumpProjections(t, rw.r)
	if _, err := rw.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dumpProjections(t, rw.r) != before {
		t.Fatal("snapshot projections do not match its journal")
	}
	// No temporary file is left beside the ledger.
	entries, _ := os.ReadDir(filepath.Dir(db.Path()))
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("snapshot left %s behind", e.Name())
		}
	}
	if err := db.SnapshotTo(context.Background(), path); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("snapshot over an existing file: %v, want ECONFLICT", err)
	}
}
