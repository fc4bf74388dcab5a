package backup

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// runScheduler starts s.Run and returns a function that stops it and
// waits for Run to return.
func runScheduler(tb testing.TB, s *Scheduler) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("scheduler run: %v", err)
		}
	}
	tb.Cleanup(stop)
	return stop
}

func TestScheduler(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	cfg := testConfig(srv, bucketName(t)) // the bucket does not exist yet: the scheduler creates it
	s := MustStore(t, cfg)
	db := MustLedger(t, newTestClock())
	w := &workload{}
	MustAppendN(t, db, w, 100)

	sched := &Scheduler{Shipper: NewShipper(s, db), Interval: 20 * time.Millisecond, SnapshotInterval: 400 * time.Millisecond, Keep: 2, Logger: quietLogger()}
	stop := runScheduler(t, sched)
	// Events keep coming; the scheduler keeps up and turns generations over
	// every 400 ms.
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler used generations %v in 30 s, want at least 3 (one every 400 ms)", seen)
		}
		MustAppendN(t, db, w, 50)
		head, _ := db.Head(ctx)
		stationtest.Poll(t, 20*time.Second, "the scheduler ships up to the head", func() bool {
			st := sched.Status()
			return st.OK() && st.ShippedSeq >= head.Seq
		})
		seen[sched.Status().Generation] = true
		time.Sleep(100 * time.Millisecond)
	}
	// The last events go out with the final shipment when Run ends.
	MustAppendN(t, db, w, 37)
	head, _ := db.Head(ctx)
	stop()
	st := sched.Status()
	if !st.OK() || st.ShippedSeq != head.Seq || st.Bytes == 0 || st.Objects == 0 || st.LastError != nil || st.Location != "s3://"+s.loc.Bucket+"/stations/"+testStation {
		t.Fatalf("status after stop = %+v, want OK up to seq %d", st, head.Seq)
	}
	gens, err := s.Generations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) > 3 {
		t.Fatalf("%d generations left, want at most 2 kept (+1 in progress): %v", len(gens), gens)
	}
	res, err := Restore(ctx, s, RestoreOptions{Path: filepath.Join(t.TempDir(), "r.db"), Open: openRestored})
	if err != nil || res.Head.Seq != head.Seq || res.Generation != st.Generation {
		t.Fatalf("restore = %+v, %v; want seq %d from %s", res, err, head.Seq, st.Generation)
	}

	// A restart takes up the same generation without a new snapshot.
	sched2 := &Scheduler{Shipper: NewShipper(s, db), Interval: 20 * time.Millisecond, SnapshotInterval: time.Hour, Keep: 2, Logger: quietLogger()}
	stop2 := runScheduler(t, sched2)
	MustAppendN(t, db, w, 10)
	head, _ = db.Head(ctx)
	stationtest.Poll(t, 20*time.Second, "the restarted scheduler ships", func() bool {
		st := sched2.Status()
		return st.OK() && st.ShippedSeq == head.Seq
	})
	stop2()
	if got := sched2.Status().Generation; got != st.Generation {
		t.Fatalf("after a restart the scheduler ships to %s, want the generation it left (%s)", got, st.Generation)
	}
	if gens2, _ := s.Generations(ctx); len(gens2) != len(gens) {
		t.Fatalf("a restart made a new generation: %v, before %v", gens2, gens)
	}
}

// TestScheduler_Diverged: a ledger replaced by another file of the same
// station (restored from an older backup, say) gets a new generation
// instead of extending one it does not continue.
func TestScheduler_Diverged(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	s := MustStore(t, testConfig(srv, bucketName(t)))
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	a := MustLedger(t, newTestClock())
	MustAppendN(t, a, &workload{}, 300)
	sh := NewShipper(s, a)
	m, err := sh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock()
	clock.Tick = 3 * time.Millisecond // other times: other hashes
	b := MustLedger(t, clock)
	MustAppendN(t, b, &workload{}, 400)
	shB := NewShipper(s, b)
	if ok, err := shB.Resume(ctx); err != nil || ok {
		t.Fatalf("resume with a ledger that does not continue the generation = %v, %v; want false", ok, err)
	}
	// A shipper whose ledger is swapped under it notices at the next Ship.
	sh.src = b
	if _, err := sh.Ship(ctx); !isDiverged(err) {
		t.Fatalf("ship after the ledger diverged: %v, want ErrDiverged", err)
	}
	if gen, _ := sh.Position(); gen != nil {
		t.Fatalf("the shipper still extends %s after the ledger diverged", gen.Generation)
	}
	m2, err := sh.Snapshot(ctx)
	if err != nil || m2.Generation == m.Generation || m2.LastSeq != 400 {
		t.Fatalf("new generation = %+v, %v", m2, err)
	}
}

func isDiverged(err error) bool {
	return station.ErrorCode(err) == station.ECONFLICT && errors.Is(err, ErrDiverged)
}

// TestScheduler_Failures: a scheduler that cannot reach the storage keeps
// the station informed (the alarm) and recovers by itself.
func TestScheduler_Failures(t *testing.T) {
	srv := MustMinIO(t)
	ctx := context.Background()
	db := MustLedger(t, newTestClock())
	MustAppendN(t, db, &workload{}, 50)

	cfg := testConfig(srv, bucketName(t))
	cfg.SecretAccessKey = "wrong"
	bad := &Scheduler{Shipper: NewShipper(MustStore(t, cfg), db), Interval: 20 * time.Millisecond, Logger: quietLogger()}
	stopBad := runScheduler(t, bad)
	stationtest.Poll(t, 10*time.Second, "the failures show in the status", func() bool { return bad.Status().Failures >= 2 })
	stopBad()
	st := bad.Status()
	if st.OK() || station.ErrorCode(st.LastError) != station.EUNAUTHORIZED || st.LastErrorAt.IsZero() || st.ShippedSeq != 0 {
		t.Fatalf("status with wrong credentials = %+v", st)
	}

	// The storage goes away while a good scheduler runs, then comes back.
	w := &workload{}
	MustAppendN(t, db, w, 0)
	good := &Scheduler{Shipper: NewShipper(MustStore(t, testConfig(srv, bucketName(t))), db), Interval: 20 * time.Millisecond, Logger: quietLogger()}
	good.Shipper.store.attempts = 1
	runScheduler(t, good)
	stationtest.Poll(t, 10*time.Second, "the first backup", func() bool { return good.Status().OK() })
	srv.Stop()
	extra := []station.NewEvent{}
	for i := 0; i < 20; i++ {
		extra = append(extra, station.NewEvent{Payload: station.SSCCAllocated{SSCC: ssccN(i), Level: station.LevelCase}, User: testUser})
	}
	if _, err := db.Append(ctx, extra...); err != nil {
		t.Fatal(err)
	}
	stationtest.Poll(t, 30*time.Second, "the outage shows in the status", func() bool {
		st := good.Status()
		return st.Failures > 0 && station.ErrorCode(st.LastError) == station.EUNAVAILABLE && !st.OK()
	})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	head, _ := db.Head(ctx)
	stationtest.Poll(t, 30*time.Second, "the backups recover by themselves", func() bool {
		st := good.Status()
		return st.OK() && st.ShippedSeq == head.Seq && st.LastError == nil
	})
}
