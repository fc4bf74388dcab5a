package localdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

func TestDB_Append(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		clock := newTestClock()
		db := MustOpenDB(t, clock)
		ss := serials("A", 3)
		MustSetupOrder(t, db, ss)
		clock.SetState(station.ClockDegraded)
		got := MustAppend(t, db, ev(station.UnitAllocated{GTIN: testGTIN, Serial: ss[0], Order: testOrder}))
		e := got[0]
		if e.Seq != 3 || e.Type != station.EventUnitAllocated || e.Station != testStation || e.User != testUser {
			t.Fatalf("event = %+v, want seq 3 unit.allocated by %s at %s", e, testUser, testStation)
		}
		if e.ClockState != station.ClockDegraded || e.ClockOffset != clock.Offset {
			t.Fatalf("clock state/offset = %s/%s, want degraded/%s", e.ClockState, e.ClockOffset, clock.Offset)
		}
		if want := `{"gtin":"00300010123455","serial":"A000000","order":"PO-1"}`; string(e.Payload) != want {
			t.Fatalf("payload = %s, want %s", e.Payload, want)
		}
		if e.Hash != e.ComputeHash() || len(e.ID) != 36 {
			t.Fatalf("hash %s / id %q not as computed", e.Hash, e.ID)
		}
		head, err := db.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if head.Seq != 3 || head.Hash != e.Hash || !head.Time.Equal(e.Time) {
			t.Fatalf("head = %+v, want seq 3 hash %s", head, e.Hash)
		}
		evs, err := db.Events(context.Background(), 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[0].PrevHash != station.GenesisHash || evs[1].PrevHash != evs[0].Hash || evs[2].PrevHash != evs[1].Hash {
			t.Fatalf("events do not chain: %+v", evs)
		}
		if evs[2].ID != e.ID || !evs[2].Time.Equal(e.Time) || string(evs[2].Payload) != string(e.Payload) {
			t.Fatalf("read back %+v, want %+v", evs[2], e)
		}
	})

	t.Run("RawJSONIsCanonicalized", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		raw := json.RawMessage(`{ "quantity": 5, "order":"PO-9", "gtin":"00300010123455", "lot":"L9", "expiry":"270600" }`)
		got := MustAppend(t, db, station.NewEvent{Type: station.EventOrderCreated, Payload: raw, User: testUser})
		if want := `{"order":"PO-9","gtin":"00300010123455","lot":"L9","expiry":"270600","quantity":5}`; string(got[0].Payload) != want {
			t.Fatalf("payload = %s, want %s", got[0].Payload, want)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		for name, ne := range map[string]station.NewEvent{
			"no user":        {Payload: station.OrderCreated{Order: "X", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}},
			"bad check":      ev(station.OrderCreated{Order: "X", GTIN: "00300010123456", Lot: "L", Expiry: "270600", Quantity: 1}),
			"unknown type":   {Type: "unit.teleported", Payload: json.RawMessage(`{}`), User: testUser},
			"unknown field":  {Type: station.EventUnitPrinted, Payload: json.RawMessage(`{"gtin":"00300010123455","serial":"A","device":"p","x":1}`), User: testUser},
			"type mismatch":  {Type: station.EventUnitPrinted, Payload: station.UnitVerified{}, User: testUser},
			"clock stepped":  ev(station.ClockStepped{From: time.Now(), To: time.Now().Add(-time.Hour)}),
			"bad reason":     ev(station.UnitRejected{GTIN: testGTIN, Serial: "A", Reason: "bored", Device: "cam"}),
			"serial too big": ev(station.UnitPrinted{GTIN: testGTIN, Serial: strings.Repeat("9", 21), Device: "p"}),
			"user not utf-8": {Payload: station.OrderCreated{Order: "X", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}, User: "op\xff"},
			"user control":   {Payload: station.OrderCreated{Order: "X", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}, User: "op\n"},
		} {
			_, err := db.Append(context.Background(), ne)
			if got := station.ErrorCode(err); got != station.EINVALID {
				t.Errorf("%s: code %q (%v), want %q", name, got, err, station.EINVALID)
			}
		}
		if h, _ := db.Head(context.Background()); h.Seq != 0 {
			t.Fatalf("head seq %d after refused appends, want 0", h.Seq)
		}
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		ss := serials("B", 2)
		MustSetupOrder(t, db, ss)
		_, err := db.Append(context.Background(),
			ev(station.UnitAllocated{GTIN: testGTIN, Serial: ss[0], Order: testOrder}),
			ev(station.UnitAllocated{GTIN: testGTIN, Serial: "NEVER", Order: testOrder}))
		if got := station.ErrorCode(err); got != station.ENOTFOUND {
			t.Fatalf("code %q (%v), want %q", got, err, station.ENOTFOUND)
		}
		if s, _ := db.Serial(context.Background(), testGTIN, ss[0]); s.State != station.UnitStateAvailable {
			t.Fatalf("first serial is %s after a failed append, want available", s.State)
		}
		if h, _ := db.Head(context.Background()); h.Seq != 2 {
			t.Fatalf("head seq %d, want 2", h.Seq)
		}
		// The chain goes on from where it was.
		got := MustAppend(t, db, ev(station.UnitAllocated{GTIN: testGTIN, Serial: ss[1], Order: testOrder}))
		if got[0].Seq != 3 {
			t.Fatalf("next seq %d, want 3", got[0].Seq)
		}
	})

	t.Run("ErrClosed", func(t *testing.T) {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "l.db"), Options{Station: testStation, Clock: newTestClock(), Create: true, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = db.Append(context.Background(), ev(station.OrderCreated{Order: "X", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}))
		if got := station.ErrorCode(err); got != station.EUNAVAILABLE {
			t.Fatalf("code %q (%v), want %q", got, err, station.EUNAVAILABLE)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})
}

// TestDB_Append_GroupCommit appends from many goroutines at once, one of
// which reserves a serial already issued: it alone fails, every other
// caller's events are recorded once, in a chain without gaps, and batches
// of more than one request were committed.
func TestDB_Append_GroupCommit(t *testing.T) {
	db := MustOpenDB(t, newTestClock())
	MustAppend(t, db, ev(station.PoolReserved{GTIN: testGTIN, Serials: []string{"DUP"}, Source: "central"}))
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	seqs := make(chan int64, workers*each*2)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ss := []string{fmt.Sprintf("W%02dN%03d", w, i)}
				if w == 3 && i == 7 {
					ss = []string{"DUP"}
				}
				out, err := db.Append(context.Background(), ev(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"}),
					ev(station.SSCCAllocated{SSCC: sscc(w*each + i), Level: station.LevelCase}))
				if err != nil {
					errs <- err
					continue
				}
				if out[1].Seq != out[0].Seq+1 {
					errs <- fmt.Errorf("one append got seqs %d and %d", out[0].Seq, out[1].Seq)
				}
				seqs <- out[0].Seq
				seqs <- out[1].Seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(seqs)
	var failures []error
	for err := range errs {
		failures = append(failures, err)
	}
	if len(failures) != 1 || station.ErrorCode(failures[0]) != station.ECONFLICT || !strings.Contains(failures[0].Error(), "already issued") {
		t.Fatalf("failures = %v, want exactly one ECONFLICT for the duplicate serial", failures)
	}
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d acknowledged twice", s)
		}
		seen[s] = true
	}
	want := workers*each*2 - 2
	if len(seen) != want {
		t.Fatalf("%d events acknowledged, want %d", len(seen), want)
	}
	rep, err := db.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != int64(want+1) || rep.LastSeq != int64(want+1) {
		t.Fatalf("verify: %+v, want %d intact events", rep, want+1)
	}
	p, err := db.Pool(context.Background(), testGTIN)
	if err != nil {
		t.Fatal(err)
	}
	if p.Reserved != int64(workers*each) || p.Available != p.Reserved {
		t.Fatalf("pool = %+v, want %d reserved and available", p, workers*each)
	}
	if c, e := db.wr.commits.Load(), db.wr.events.Load(); e <= c {
		t.Fatalf("%d events in %d commits: no commit held more than one append", e, c)
	}
}

// TestWriter_Commit_FailingRequest hands the writer one batch whose middle
// request fails: the others are committed together in one transaction,
// in order, and only the failing one gets an error.
func TestWriter_Commit_FailingRequest(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, newTestClock())
	MustSetupOrder(t, db, serials("F", 3))
	var batch []*request
	for i, p := range []station.Payload{
		station.UnitAllocated{GTIN: testGTIN, Serial: "F000000", Order: testOrder},
		station.UnitAllocated{GTIN: testGTIN, Serial: "F000001", Order: testOrder},
		station.UnitAllocated{GTIN: testGTIN, Serial: "F000000", Order: testOrder}, // taken by the first
		station.UnitAllocated{GTIN: testGTIN, Serial: "F000002", Order: testOrder},
	} {
		evs := []station.NewEvent{ev(p)}
		if i == 1 {
			evs = append(evs, ev(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelCase}))
		}
		req, err := prepare(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, req)
	}
	commits := db.wr.commits.Load()
	if err := db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		w.commit(ctx, batch)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := db.wr.commits.Load() - commits; got != 1 {
		t.Fatalf("%d commits, want the batch in 1", got)
	}
	var seqs []int64
	for i, r := range batch {
		<-r.done
		if i == 2 {
			if station.ErrorCode(r.err) != station.ECONFLICT || r.out != nil {
				t.Fatalf("request 2: out %v err %v, want ECONFLICT and nothing", r.out, r.err)
			}
			continue
		}
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		for _, e := range r.out {
			seqs = append(seqs, e.Seq)
		}
	}
	if fmt.Sprint(seqs) != "[3 4 5 6]" {
		t.Fatalf("seqs = %v, want [3 4 5 6]", seqs)
	}
	if rep, err := db.Verify(ctx); err != nil || !rep.OK() || rep.LastSeq != 6 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
	if o, _ := db.Order(ctx, testOrder); o.Allocated != 3 {
		t.Fatalf("order allocated = %d, want 3", o.Allocated)
	}
}

// sscc returns a valid SSCC with serial reference n.
func sscc(n int) string {
	s := fmt.Sprintf("40300011%09d", n)
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return s + fmt.Sprint((10-sum%10)%10)
}

// TestDB_Append_ClockStep steps the injected clock back: the ledger records
// a clock.stepped event with both times before the first event stamped with
// the earlier time, verification accepts that step, and a backwards step
// without such a record is a break.
func TestDB_Append_ClockStep(t *testing.T) {
	clock := newTestClock()
	db := MustOpenDB(t, clock)
	first := MustAppend(t, db, ev(station.OrderCreated{Order: "A", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}))
	back := first[0].Time.Add(-time.Hour)
	clock.Set(back)
	second := MustAppend(t, db, ev(station.OrderCreated{Order: "B", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}))
	if second[0].Seq != 3 {
		t.Fatalf("seq after the step = %d, want 3 (a clock.stepped at 2)", second[0].Seq)
	}
	evs, err := db.Events(context.Background(), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	step := evs[0]
	if step.Type != station.EventClockStepped || step.User != station.SystemUser {
		t.Fatalf("seq 2 = %s by %s, want clock.stepped by system", step.Type, step.User)
	}
	var p station.ClockStepped
	if err := json.Unmarshal(step.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if !p.From.Equal(first[0].Time) || !p.To.Equal(second[0].Time) || !step.Time.Equal(second[0].Time) {
		t.Fatalf("step from %s to %s at %s, want from %s to %s", p.From, p.To, step.Time, first[0].Time, second[0].Time)
	}
	// Time going forward again needs nothing.
	third := MustAppend(t, db, ev(station.OrderCreated{Order: "C", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}))
	if third[0].Seq != 4 {
		t.Fatalf("seq = %d, want 4", third[0].Seq)
	}
	rep, err := db.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.ClockSteps != 1 {
		t.Fatalf("verify = %+v, want intact with 1 clock step", rep)
	}

	// The chain checker refuses the same step without its record.
	chain := station.ChainChecker{}
	all, _ := db.Events(context.Background(), 1, 10)
	if err := chain.Check(&all[0]); err != nil {
		t.Fatal(err)
	}
	forged := all[2]
	forged.Seq, forged.PrevHash = 2, all[0].Hash
	forged.Hash = forged.ComputeHash()
	err = chain.Check(&forged)
	var brk *station.ChainBreak
	if !errors.As(err, &brk) || brk.Seq != 2 || !strings.Contains(brk.Reason, "time goes backwards") {
		t.Fatalf("check of an unrecorded step: %v, want a break at seq 2", err)
	}
}

// TestDB_Append_Cancelled: a caller whose context is done before the writer
// takes its request gets the context error and nothing is recorded.
func TestDB_Append_Cancelled(t *testing.T) {
	db := MustOpenDB(t, newTestClock())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Append(ctx, ev(station.OrderCreated{Order: "X", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 1}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if h, _ := db.Head(context.Background()); h.Seq != 0 {
		t.Fatalf("head seq = %d, want 0", h.Seq)
	}
}

// TestDB_Close_Drains closes while appends are in flight: every append
// either succeeded and is in the journal, or failed with EUNAVAILABLE.
func TestDB_Close_Drains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	db, err := Open(context.Background(), path, Options{Station: testStation, Clock: newTestClock(), Create: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				out, err := db.Append(context.Background(), ev(station.SSCCAllocated{SSCC: sscc(w*100000 + i), Level: station.LevelPallet}))
				if err != nil {
					if station.ErrorCode(err) != station.EUNAVAILABLE {
						t.Errorf("append: %v, want EUNAVAILABLE after close", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, out[0].Seq)
				mu.Unlock()
			}
		}()
	}
	stationtest.Poll(t, 30*time.Second, "appenders acknowledged fewer than 50 events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 50
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	ro := MustOpenPath(t, path, Options{ReadOnly: true})
	h, err := ro.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq != int64(len(acked)) {
		t.Fatalf("head seq %d, want %d (every acknowledged event, nothing else)", h.Seq, len(acked))
	}
}

// TestDB_Journal_Triggers: the journal refuses UPDATE and DELETE.
func TestDB_Journal_Triggers(t *testing.T) {
	db := MustOpenDB(t, newTestClock())
	MustSetupOrder(t, db, serials("T", 1))
	raw := rawDB(t, db.Path())
	for _, q := range []string{`UPDATE journal SET user = 'mallory' WHERE seq = 1`, `DELETE FROM journal WHERE seq = 2`} {
		_, err := raw.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want refused as append-only", q, err)
		}
	}
}
