package backup

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

// runUplink runs the station's sync client to the central until the
// returned stop is called.
func runUplink(tb testing.TB, db *localdb.DB, url, token string) (*uplink.Client, func()) {
	tb.Helper()
	api, err := uplink.NewAPI(url, token, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := uplink.New(uplink.Config{Journal: db, API: api, BatchSize: 500, Interval: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("uplink run: %v", err)
			}
		}
	}
	tb.Cleanup(stop)
	return c, stop
}

// TestRestore_Central: a station syncing to the central service and backing
// up to object storage is destroyed without warning; it is restored from
// the backup, takes back from the central what the central holds beyond
// the backup, and resumes; the central then holds exactly the station's
// journal, with no gap and no duplicate, and both sides verify.
func TestRestore_Central(t *testing.T) {
	// Which copy is ahead when the station dies decides where its last
	// events come back from: both cases, made certain by stopping the
	// other copy halfway.
	t.Run("CentralAhead", func(t *testing.T) { testRestoreCentral(t, true) })
	t.Run("BackupAhead", func(t *testing.T) { testRestoreCentral(t, false) })
}

func testRestoreCentral(t *testing.T, centralAhead bool) {
	ctx := context.Background()
	minio := SharedMinIO(t)
	store := centraltest.MustStore(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := central.New(central.Config{Store: store, Addr: addr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctx) })
	url := "http://" + addr
	code, err := central.AddStation(ctx, store, testStation, "", 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	anon, _ := uplink.NewAPI(url, "", nil)
	enrolled, err := anon.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}

	// The station: ledger, uplink and scheduled backups.
	path := filepath.Join(t.TempDir(), "station.db")
	clock := newTestClock()
	db, err := localdb.Open(ctx, path, localdb.Options{Station: testStation, Clock: clock, Create: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := MustStore(t, testConfig(minio, bucketName(t)))
	client, stopUplink := runUplink(t, db, url, enrolled.Token)
	// FinalTimeout of 1 ns: no last shipment when it stops, as in a crash.
	sched := &Scheduler{Shipper: NewShipper(s, db), Interval: 30 * time.Millisecond, SnapshotInterval: time.Hour, FinalTimeout: time.Nanosecond, Logger: quietLogger()}
	stopBackup := runScheduler(t, sched)
	// A generation must exist before either copy is stopped, or a busy
	// machine can stop the scheduler before its first snapshot is done.
	stationtest.Poll(t, 30*time.Second, "the scheduler's first generation", func() bool { return sched.Status().Generation != "" })
	w := &workload{}
	for i := 0; i < 8; i++ {
		if i == 4 {
			// Halfway, one copy stops falling behind... by stopping.
			if centralAhead {
				stopBackup()
			} else {
				stopUplink()
			}
		}
		MustAppendN(t, db, w, 500)
		client.Notify()
		time.Sleep(20 * time.Millisecond)
	}
	lost, _ := db.Head(ctx)
	stationtest.Poll(t, 30*time.Second, "the copy still running reaches the station's head", func() bool {
		if centralAhead {
			h, err := store.Head(ctx, testStation)
			return err == nil && h.Seq == lost.Seq
		}
		return sched.Status().ShippedSeq == lost.Seq
	})
	// Destroyed: everything stops at once and the file is gone.
	stopBackup()
	stopUplink()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	centralHead, err := store.Head(ctx, testStation)
	if err != nil {
		t.Fatal(err)
	}

	// Restore from object storage into the same path.
	res, err := Restore(ctx, s, RestoreOptions{Path: path, Open: openRestored})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("station had seq %d; the backup restores to seq %d; the central holds seq %d", lost.Seq, res.Head.Seq, centralHead.Seq)
	clock.mu.Lock()
	clock.now = lost.Time // the station clock goes on from where it was
	clock.mu.Unlock()
	restored, err := localdb.Open(ctx, path, localdb.Options{Station: testStation, Clock: clock, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Close() })
	// Whatever the central holds beyond the backup comes back from it,
	// checked against the chain, before the station records anything new.
	for next := res.Head.Seq + 1; next <= centralHead.Seq; {
		evs, err := store.Events(ctx, testStation, next, 1000)
		if err != nil {
			t.Fatal(err)
		}
		st, err := restored.Import(ctx, evs)
		if err != nil {
			t.Fatalf("import the central's events from seq %d: %v", next, err)
		}
		next = st.Head.Seq + 1
	}
	head, _ := restored.Head(ctx)
	if head.Seq != lost.Seq || head.Hash != lost.Hash {
		t.Fatalf("after the catch-up the station is at seq %d (%s), want the seq %d it had (%s)", head.Seq, head.Hash, lost.Seq, lost.Hash)
	}
	if centralAhead && res.Head.Seq >= centralHead.Seq || !centralAhead && res.Head.Seq != lost.Seq {
		t.Fatalf("the backup restores to seq %d and the central holds %d: not the case under test", res.Head.Seq, centralHead.Seq)
	}

	// The station resumes: new events reach the central and the backup.
	client2, _ := runUplink(t, restored, url, enrolled.Token)
	sched2 := &Scheduler{Shipper: NewShipper(s, restored), Interval: 30 * time.Millisecond, SnapshotInterval: time.Hour, Logger: quietLogger()}
	runScheduler(t, sched2)
	evs := make([]station.NewEvent, 0, 200)
	for i := 0; i < 200; i++ {
		evs = append(evs, station.NewEvent{Payload: station.SSCCAllocated{SSCC: ssccN(i), Level: station.LevelCase}, User: testUser})
	}
	if _, err := restored.Append(ctx, evs...); err != nil {
		t.Fatalf("the restored station cannot append: %v", err)
	}
	client2.Notify()
	final, _ := restored.Head(ctx)
	stationtest.Poll(t, 30*time.Second, "the central and the backup reach the restored station's head", func() bool {
		h, err := store.Head(ctx, testStation)
		return err == nil && h.Seq == final.Seq && sched2.Status().ShippedSeq == final.Seq
	})
	if h, _ := store.Head(ctx, testStation); h.Hash != final.Hash {
		t.Fatalf("the central's head hash %s differs from the station's %s", h.Hash, final.Hash)
	}
	stationEvents := allEvents(t, restored)
	centralEvents, err := centraltest.AllStored(ctx, store, testStation)
	if err != nil {
		t.Fatal(err)
	}
	if d := centraltest.SameJournal(stationEvents, centralEvents); d != "" {
		t.Fatalf("the central's journal differs from the restored station's: %s", d)
	}
	rep, err := store.VerifyStation(ctx, testStation)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the central's copy of the journal does not verify: %+v", rep)
	}
	if lrep, err := restored.Verify(ctx); err != nil || !lrep.OK() {
		t.Fatalf("the restored ledger does not verify: %+v, %v", lrep, err)
	}
}
