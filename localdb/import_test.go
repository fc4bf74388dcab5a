package localdb

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/linestation/linestation/station"
)

// allEvents reads the whole journal of db.
func allEvents(tb testing.TB, db *DB) []station.Event {
	tb.Helper()
	var out []station.Event
	for next := int64(1); ; {
		evs, err := db.Events(context.Background(), next, 500)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, evs...)
		if len(evs) < 500 {
			return out
		}
		next = evs[len(evs)-1].Seq + 1
	}
}

// mustEmptyLedger creates an empty ledger of testStation.
func mustEmptyLedger(tb testing.TB, clock station.Clock) *DB {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "import.db"), Options{Station: testStation, Clock: clock, Create: true})
}

// rechain gives evs (a suffix of a journal after prev) fresh hashes, so a
// test can build events that pass the chain but are refused for another
// reason.
func rechain(evs []station.Event, prev string) {
	for i := range evs {
		evs[i].PrevHash = prev
		evs[i].Hash = evs[i].ComputeHash()
		prev = evs[i].Hash
	}
}

func TestDB_Import(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	src := MustOpenDB(t, clock)
	MustWorkload(t, src, clock, 30) // includes a clock step back and degraded time
	// A payload with characters JSON escapes, to prove the bytes survive.
	MustAppend(t, src, ev(station.PoolReserved{GTIN: testGTIN, Serials: []string{"V1"}, Source: "central"}),
		ev(station.PoolVoided{GTIN: testGTIN, Serials: []string{"V1"}, Reason: `spilled <ink> & "glue"`}))
	want := allEvents(t, src)

	t.Run("OK", func(t *testing.T) {
		dst := mustEmptyLedger(t, clock)
		half := len(want) / 2
		for _, part := range [][]station.Event{want[:half], want[half:]} {
			st, err := dst.Import(ctx, part)
			if err != nil {
				t.Fatal(err)
			}
			if st.Imported != int64(len(part)) || st.Skipped != 0 || st.Head.Seq != part[len(part)-1].Seq || st.Head.Hash != part[len(part)-1].Hash {
				t.Fatalf("stats = %+v, want %d imported up to seq %d", st, len(part), part[len(part)-1].Seq)
			}
		}
		if diff := cmp.Diff(want, allEvents(t, dst)); diff != "" {
			t.Fatalf("imported journal differs (-want +got):\n%s", diff)
		}
		if got, want := dumpProjections(t, dst.r), dumpProjections(t, src.r); got != want {
			t.Fatalf("projections after import differ from the source's:\n%s\nwant\n%s", got, want)
		}
		rep, err := dst.Verify(ctx)
		if err != nil || !rep.OK() || rep.LastSeq != want[len(want)-1].Seq || rep.ClockSteps != 1 {
			t.Fatalf("verify after import = %+v, %v; want intact to seq %d with its clock step", rep, err, want[len(want)-1].Seq)
		}
		// The ledger goes on from the imported head.
		clock.Set(want[len(want)-1].Time.Add(time.Second))
		next := MustAppend(t, dst, ev(station.SSCCAllocated{SSCC: sscc(9000), Level: station.LevelCase}))
		if next[0].Seq != want[len(want)-1].Seq+1 || next[0].PrevHash != want[len(want)-1].Hash {
			t.Fatalf("append after import = seq %d prev %s, want seq %d prev %s", next[0].Seq, next[0].PrevHash, want[len(want)-1].Seq+1, want[len(want)-1].Hash)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		dst := mustEmptyLedger(t, clock)
		if _, err := dst.Import(ctx, want[:40]); err != nil {
			t.Fatal(err)
		}
		// An overlapping batch: 40 already there, the rest new.
		st, err := dst.Import(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if st.Skipped != 40 || st.Imported != int64(len(want)-40) {
			t.Fatalf("stats = %+v, want 40 skipped and %d imported", st, len(want)-40)
		}
		st, err = dst.Import(ctx, want)
		if err != nil || st.Imported != 0 || st.Skipped != int64(len(want)) {
			t.Fatalf("second import = %+v, %v; want everything skipped", st, err)
		}
	})

	// Every refusal leaves the ledger exactly as it was, even for the
	// events of the batch before the bad one.
	refusals := []struct {
		name     string
		code     string
		msg      string
		mutate   func(evs []station.Event) []station.Event
		prefixed int // events imported before the refused batch
	}{
		{"ErrGap", station.EINVALID, "seq 11: missing", func(evs []station.Event) []station.Event {
			return append(evs[:10:10], evs[11:20]...)
		}, 0},
		{"ErrTampered", station.EINVALID, "contents do not match the stored hash", func(evs []station.Event) []station.Event {
			evs = append([]station.Event(nil), evs[:20]...)
			evs[15].Payload = json.RawMessage(strings.Replace(string(evs[15].Payload), "U0", "X0", 1))
			return evs
		}, 0},
		{"ErrNotAfterHead", station.EINVALID, "missing: seq 10 is followed by seq 12", func(evs []station.Event) []station.Event {
			return evs[11:20]
		}, 10},
		{"ErrOtherStation", station.EINVALID, `station "line-2" differs`, func(evs []station.Event) []station.Event {
			evs = append([]station.Event(nil), evs[:5]...)
			evs[4].Station = "line-2"
			rechain(evs[4:], evs[3].Hash)
			return evs
		}, 0},
		{"ErrDiverged", station.ECONFLICT, "seq 5 is recorded with hash", func(evs []station.Event) []station.Event {
			evs = append([]station.Event(nil), evs[:12]...)
			evs[4].User = "intruder"
			rechain(evs[4:], evs[3].Hash)
			return evs
		}, 10},
		{"ErrProjection", station.ENOTFOUND, "seq 3", func(evs []station.Event) []station.Event {
			evs = append([]station.Event(nil), evs[:4]...)
			// A well-chained event that the projections refuse: a serial
			// that was never reserved.
			evs[2].Payload = json.RawMessage(`{"gtin":"00300010123455","serial":"NOPE","order":"PO-1"}`)
			rechain(evs[2:], evs[1].Hash)
			return evs
		}, 0},
		{"ErrUser", station.EINVALID, "no user", func(evs []station.Event) []station.Event {
			evs = append([]station.Event(nil), evs[:3]...)
			evs[2].User = ""
			rechain(evs[2:], evs[1].Hash)
			return evs
		}, 0},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			dst := mustEmptyLedger(t, clock)
			if tt.prefixed > 0 {
				if _, err := dst.Import(ctx, want[:tt.prefixed]); err != nil {
					t.Fatal(err)
				}
			}
			before, beforeProj := allEvents(t, dst), dumpProjections(t, dst.r)
			evs := tt.mutate(append([]station.Event(nil), want...))
			st, err := dst.Import(ctx, evs)
			if got := station.ErrorCode(err); got != tt.code {
				t.Fatalf("import: %v (code %s), want %s", err, got, tt.code)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
			if st.Imported != 0 || st.Head.Seq != int64(tt.prefixed) {
				t.Fatalf("stats after a refusal = %+v, want nothing imported and head %d", st, tt.prefixed)
			}
			if diff := cmp.Diff(before, allEvents(t, dst)); diff != "" {
				t.Fatalf("journal changed by a refused import:\n%s", diff)
			}
			if dumpProjections(t, dst.r) != beforeProj {
				t.Fatal("projections changed by a refused import")
			}
			// The writer's head is still right: the good events import.
			if _, err := dst.Import(ctx, want); err != nil {
				t.Fatalf("import of the good journal after a refusal: %v", err)
			}
		})
	}

	t.Run("ErrReadOnly", func(t *testing.T) {
		ro := MustOpenPath(t, src.Path(), Options{ReadOnly: true})
		if _, err := ro.Import(ctx, want[:1]); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("import into a read-only ledger: %v, want EINVALID", err)
		}
	})
}

func TestDB_SnapshotFile(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	MustWorkload(t, db, clock, 10)
	h, err := db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	got, err := db.SnapshotFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != h.Seq || got.Hash != h.Hash || !got.Time.Equal(h.Time) {
		t.Fatalf("snapshot head = %+v, want %+v", got, h)
	}
	cp := MustOpenPath(t, path, Options{ReadOnly: true})
	if ch, _ := cp.Head(ctx); ch.Hash != h.Hash || cp.Station() != testStation {
		t.Fatalf("copy head %+v station %s, want %+v %s", ch, cp.Station(), h, testStation)
	}
	if _, err := db.SnapshotFile(ctx, path); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("snapshot over an existing file: %v, want ECONFLICT", err)
	}
}
