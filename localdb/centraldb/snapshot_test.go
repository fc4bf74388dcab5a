package centraldb_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
)

// TestDB_SnapshotFile takes snapshots of a central store while two
// stations push their journals and the ERP reserves serials: each copy is
// a central store that opens, passes every check, and holds exactly the
// state SnapshotFile returned: per station a prefix of its journal ending
// at the head it names, and the high-water marks; at least one copy is
// taken in the middle of the ingest.
func TestDB_SnapshotFile(t *testing.T) {
	db := centraltest.MustStore(t)
	if _, err := db.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	const perStation = 20000
	stations := []string{"line-1", "line-2"}
	journals := map[string][]station.Event{}
	for i, id := range stations {
		mustStation(t, db, id, id)
		evs, err := centraltest.Journal(id, &centraltest.Producer{Order: "PO-" + id, Prefix: fmt.Sprintf("S%d-", i), SSCCBase: i + 1}, perStation, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		journals[id] = evs
	}

	// The service keeps writing: pushes in batches of 50 from both
	// stations, and a reservation now and then, until told to stop.
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, id := range stations {
		wg.Go(func() {
			evs := journals[id]
			for i := 0; i < len(evs) && !stop.Load(); i += 50 {
				batch := evs[i:min(i+50, len(evs))]
				if _, err := db.Ingest(ctx, id, batch, uplink.OutboxReport{Head: batch[len(batch)-1].Seq}); err != nil {
					errs <- fmt.Errorf("ingest %s from seq %d: %w", id, batch[0].Seq, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if _, err := db.Reserve(ctx, "erp:test", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 10, RequestID: fmt.Sprint("r", i)}); err != nil {
				errs <- fmt.Errorf("reserve: %w", err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	stationtest.Poll(t, 30*time.Second, "ingest and reservations have begun", func() bool {
		st, err := db.State(ctx)
		return err == nil && st.Events() > 0 && st.Reservations > 0
	})

	dir := t.TempDir()
	mid := 0
	var states []centraldb.State
	for i := 0; i < 6; i++ {
		path := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
		st, err := db.SnapshotFile(ctx, path)
		if err != nil {
			t.Fatalf("snapshot %d while ingest runs: %v", i, err)
		}
		states = append(states, st)
		for _, h := range st.Stations {
			if h.Seq > 0 && h.Seq < perStation {
				mid++
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if mid == 0 {
		t.Fatalf("no snapshot was taken while a station's journal was half ingested: %+v", states)
	}

	for i, st := range states {
		path := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
		if len(st.Stations) != 2 || st.Stations[0].Station != "line-1" || st.Stations[1].Station != "line-2" {
			t.Fatalf("snapshot %d: stations %+v, want line-1 and line-2", i, st.Stations)
		}
		if st.Feed < st.Events() || st.Reservations < 1 {
			t.Fatalf("snapshot %d: feed %d for %d events, %d reservations", i, st.Feed, st.Events(), st.Reservations)
		}
		cp, err := centraldb.Open(ctx, path, centraldb.Options{Logger: centraltest.Quiet()})
		if err != nil {
			t.Fatalf("snapshot %d does not open as a central store: %v", i, err)
		}
		got, err := cp.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(st) {
			t.Fatalf("snapshot %d holds %+v, SnapshotFile said %+v", i, got, st)
		}
		if err := cp.Check(ctx); err != nil {
			t.Fatalf("snapshot %d fails its checks: %v", i, err)
		}
		for _, h := range st.Stations {
			stored, err := centraltest.AllStored(ctx, cp, h.Station)
			if err != nil {
				t.Fatal(err)
			}
			want := journals[h.Station][:h.Seq]
			if d := centraltest.SameJournal(stored, want); d != "" {
				t.Fatalf("snapshot %d, station %s: %s", i, h.Station, d)
			}
			if h.Seq > 0 && h.Hash != want[h.Seq-1].Hash {
				t.Fatalf("snapshot %d, station %s: head hash %s, want %s", i, h.Station, h.Hash, want[h.Seq-1].Hash)
			}
		}
		if err := cp.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Later snapshots hold at least what earlier ones did.
	for i := 1; i < len(states); i++ {
		if states[i].Feed < states[i-1].Feed || states[i].Events() < states[i-1].Events() {
			t.Fatalf("snapshot %d (feed %d) holds less than snapshot %d (feed %d)", i, states[i].Feed, i-1, states[i-1].Feed)
		}
	}

	t.Run("ErrExists", func(t *testing.T) {
		path := filepath.Join(dir, "copy-0.db")
		if _, err := db.SnapshotFile(ctx, path); station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("snapshot over an existing file: err=%v, want ECONFLICT", err)
		}
	})
}

// TestDB_Check finds a journal changed behind the store's back and a store
// SQLite finds damaged.
func TestDB_Check(t *testing.T) {
	db := centraltest.MustStore(t)
	mustStation(t, db, "line-1", "line-1")
	mustIngest(t, db, "line-1", journal(t, "line-1", "A-", 200))
	if err := db.Check(ctx); err != nil {
		t.Fatalf("a sound store fails its check: %v", err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if _, err := db.SnapshotFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	// Change one payload in the copy, past the triggers that forbid it.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER events_no_update`, `UPDATE events SET user = 'mallory' WHERE station = 'line-1' AND seq = 77`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	cp, err := centraldb.Open(ctx, path, centraldb.Options{Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	err = cp.Check(ctx)
	if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), "station line-1 is broken at seq 77") {
		t.Fatalf("check of a changed journal: err=%v, want EINVALID naming line-1 at seq 77", err)
	}
}
