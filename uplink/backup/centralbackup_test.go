package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
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
	"github.com/linestation/linestation/uplink/central"
)

// centralSource adapts centraldb.DB to CentralSource, as cmd does.
type centralSource struct{ db *centraldb.DB }

func (c centralSource) Path() string { return c.db.Path() }

func (c centralSource) SnapshotFile(ctx context.Context, path string) (CentralState, error) {
	st, err := c.db.SnapshotFile(ctx, path)
	return toCentralState(st), err
}

func toCentralState(st centraldb.State) CentralState {
	out := CentralState{Stations: make([]StationHead, len(st.Stations)), Feed: st.Feed, Changes: st.Changes, Reservations: st.Reservations}
	for i, h := range st.Stations {
		out.Stations[i] = StationHead{Station: h.Station, Seq: h.Seq, Hash: h.Hash, Time: h.Time}
	}
	return out
}

// restoredCentral adapts centraldb.DB to CentralStore, as cmd does.
type restoredCentral struct{ db *centraldb.DB }

func (r restoredCentral) State(ctx context.Context) (CentralState, error) {
	st, err := r.db.State(ctx)
	return toCentralState(st), err
}
func (r restoredCentral) Check(ctx context.Context) error { return r.db.Check(ctx) }
func (r restoredCentral) Close() error                    { return r.db.Close() }
func (r restoredCentral) MarkRestored(ctx context.Context, gen string) ([]string, error) {
	return r.db.MarkRestored(ctx, gen)
}

func openRestoredCentral(ctx context.Context, path string) (CentralStore, error) {
	db, err := centraldb.Open(ctx, path, centraldb.Options{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	return restoredCentral{db}, nil
}

// MustCentralStore opens a Store at s3://BUCKET/central on the shared
// MinIO, bucket created, with key (nil: unencrypted).
func MustCentralStore(tb testing.TB, key *Key) *Store {
	tb.Helper()
	bucket := bucketName(tb)
	cfg := testConfig(SharedMinIO(tb), bucket)
	cfg.URL = "s3://" + bucket + "/central"
	cfg.Key = key
	s := MustStore(tb, cfg)
	if err := s.EnsureBucket(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// ingester pushes journals of stations into a central store in the
// background, as stations would, until stopped or done.
type ingester struct {
	journals map[string][]station.Event
	stop     atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

// startIngest creates the stations and pushes perStation events of each
// in batches of 50.
func startIngest(tb testing.TB, db *centraldb.DB, stations []string, perStation int) *ingester {
	tb.Helper()
	ctx := context.Background()
	in := &ingester{journals: map[string][]station.Event{}}
	for i, id := range stations {
		if err := db.AddStation(ctx, id, "", "code-"+id, time.Now().Add(time.Hour), false); err != nil {
			tb.Fatal(err)
		}
		evs, err := centraltest.Journal(id, &centraltest.Producer{Order: "PO-" + id, Prefix: fmt.Sprintf("S%d-", i), SSCCBase: i + 1}, perStation, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC))
		if err != nil {
			tb.Fatal(err)
		}
		in.journals[id] = evs
	}
	for _, id := range stations {
		in.wg.Go(func() {
			evs := in.journals[id]
			for i := 0; i < len(evs) && !in.stop.Load(); i += 50 {
				batch := evs[i:min(i+50, len(evs))]
				if _, err := db.Ingest(ctx, id, batch, uplink.OutboxReport{Head: batch[len(batch)-1].Seq}); err != nil {
					in.mu.Lock()
					in.err = errors.Join(in.err, fmt.Errorf("ingest %s from seq %d: %w", id, batch[0].Seq, err))
					in.mu.Unlock()
					return
				}
			}
		})
	}
	tb.Cleanup(func() { in.Stop(tb) })
	return in
}

// Stop stops the pushes and fails the test if one failed.
func (in *ingester) Stop(tb testing.TB) {
	tb.Helper()
	in.stop.Store(true)
	in.wg.Wait()
	in.mu.Lock()
	err := in.err
	in.err = nil
	in.mu.Unlock()
	if err != nil {
		tb.Fatal(err)
	}
}

// MustCentralDB opens a central store with a product, whose serials an ERP
// reserves once.
func MustCentralDB(tb testing.TB, path string) *centraldb.DB {
	tb.Helper()
	db := centraltest.MustStorePath(tb, path)
	ctx := context.Background()
	if _, err := db.PutProduct(ctx, centraltest.Product()); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Reserve(ctx, "erp:test", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 20, RequestID: "r1"}); err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestCentralShipper_BackupRestore backs the central store up while two
// stations push, then restores it: the restored store opens, holds the
// heads and high-water marks the manifest names, and per station exactly
// the prefix of its journal up to that head; in the clear and encrypted,
// and refused without the key.
func TestCentralShipper_BackupRestore(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "Plain"
		if encrypted {
			name = "Encrypted"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var key *Key
			if encrypted {
				key = NewKey()
			}
			s := MustCentralStore(t, key)
			db := MustCentralDB(t, filepath.Join(t.TempDir(), "central.db"))
			const perStation = 6000
			in := startIngest(t, db, []string{"line-1", "line-2"}, perStation)
			stationtest.Poll(t, 30*time.Second, "ingest has begun", func() bool {
				st, err := db.State(ctx)
				return err == nil && st.Events() > 0
			})
			sh := NewCentralShipper(s, centralSource{db})
			sh.Program = "test"
			m, err := sh.Snapshot(ctx)
			if err != nil {
				t.Fatalf("backup while ingest runs: %v", err)
			}
			in.Stop(t)
			live, _ := db.State(ctx)
			t.Logf("the snapshot holds %d events (feed %d); the live store %d", m.Events(), m.Feed, live.Events())

			if m.Format != CentralFormat || m.Source != CentralSourceName || m.Program != "test" || len(m.Stations) != 2 || m.Reservations != 1 ||
				m.Created.IsZero() || (m.Encryption != nil) != encrypted || m.Snapshot.Size <= 0 || m.Snapshot.StoredSize <= 0 {
				t.Fatalf("manifest %+v", m)
			}
			if m.Snapshot.StoredSize >= m.Snapshot.Size {
				t.Fatalf("snapshot stored in %d bytes for %d: not compressed", m.Snapshot.StoredSize, m.Snapshot.Size)
			}
			// What was uploaded is the manifest as returned.
			stored, err := s.CentralManifest(ctx, m.Generation)
			if err != nil {
				t.Fatal(err)
			}
			if d := stored.CentralState.diff(m.CentralState); d != "" || stored.Snapshot != m.Snapshot {
				t.Fatalf("stored manifest differs: %s", d)
			}
			data := getObject(t, s, genKey(m.Generation, manifestName))
			if !strings.Contains(string(data), `"source": "central"`) || !strings.Contains(string(data), `"stations": [`) {
				t.Fatalf("manifest.json does not name the source and heads: %s", data)
			}

			if encrypted {
				cfg := testConfig(SharedMinIO(t), s.loc.Bucket)
				cfg.URL = s.loc.String()
				for what, k := range map[string]*Key{"NoKey": nil, "WrongKey": NewKey()} {
					cfg.Key = k
					other := MustStore(t, cfg)
					path := filepath.Join(t.TempDir(), "central.db")
					_, err := RestoreCentral(ctx, other, CentralRestoreOptions{Path: path, Open: openRestoredCentral})
					if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), m.Generation) {
						t.Fatalf("%s: restore of an encrypted generation: err=%v, want EUNAUTHORIZED naming it", what, err)
					}
					mustNothingAt(t, path)
				}
			}

			path := filepath.Join(t.TempDir(), "central.db")
			res, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Open: openRestoredCentral})
			if err != nil {
				t.Fatal(err)
			}
			if res.Generation != m.Generation || res.Downloaded != m.Snapshot.StoredSize {
				t.Fatalf("restored generation %s (%d bytes downloaded), want %s (%d)", res.Generation, res.Downloaded, m.Generation, m.Snapshot.StoredSize)
			}
			restored := centraltest.MustStorePath(t, path)
			got, err := restored.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := m.CentralState.diff(toCentralState(got)); d != "" {
				t.Fatalf("the restored store does not hold what the manifest names: %s", d)
			}
			for _, h := range m.Stations {
				evs, err := centraltest.AllStored(ctx, restored, h.Station)
				if err != nil {
					t.Fatal(err)
				}
				if d := centraltest.SameJournal(evs, in.journals[h.Station][:h.Seq]); d != "" {
					t.Fatalf("station %s: %s", h.Station, d)
				}
			}
			if m.Events() == 0 || m.Events() >= 2*perStation {
				t.Logf("note: the snapshot holds %d of %d events", m.Events(), 2*perStation)
			}
			if err := restored.Check(ctx); err != nil {
				t.Fatal(err)
			}

			t.Run("ErrExists", func(t *testing.T) {
				_, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Open: openRestoredCentral})
				if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "--force") {
					t.Fatalf("restore over an existing store without force: err=%v, want ECONFLICT", err)
				}
			})
		})
	}
}

// mustNothingAt fails unless nothing was written at path or beside it.
func mustNothingAt(tb testing.TB, path string) {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		tb.Fatalf("the refused restore left %s in %s", e.Name(), filepath.Dir(path))
	}
}

// TestRestoreCentral_Corrupt: a flipped byte in the snapshot, a manifest
// that lies about the heads, and a snapshot that is not a central store are
// refused with a message naming the object, and nothing is written.
func TestRestoreCentral_Corrupt(t *testing.T) {
	ctx := context.Background()
	s := MustCentralStore(t, nil)
	db := MustCentralDB(t, filepath.Join(t.TempDir(), "central.db"))
	in := startIngest(t, db, []string{"line-1"}, 300)
	in.wg.Wait()
	in.Stop(t)
	m, err := NewCentralShipper(s, centralSource{db}).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snapKey := genKey(m.Generation, m.Snapshot.Key)
	manifestKey := genKey(m.Generation, manifestName)
	goodSnap, goodManifest := getObject(t, s, snapKey), getObject(t, s, manifestKey)
	restoreFails := func(t *testing.T, wantIn ...string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "central.db")
		_, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Open: openRestoredCentral})
		if station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("restore: err=%v, want EINVALID", err)
		}
		for _, w := range wantIn {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("restore error %q does not name %s", err, w)
			}
		}
		mustNothingAt(t, path)
	}

	t.Run("FlippedByte", func(t *testing.T) {
		bad := append([]byte(nil), goodSnap...)
		bad[len(bad)/2] ^= 0x01
		replaceObject(t, s, snapKey, bad)
		defer replaceObject(t, s, snapKey, goodSnap)
		restoreFails(t, s.URL(snapKey), "corrupt")
	})
	t.Run("LyingManifest", func(t *testing.T) {
		var lie map[string]any
		if err := json.Unmarshal(goodManifest, &lie); err != nil {
			t.Fatal(err)
		}
		heads := lie["stations"].([]any)
		heads[0].(map[string]any)["seq"] = float64(m.Stations[0].Seq - 1)
		data, _ := json.MarshalIndent(lie, "", "  ")
		replaceObject(t, s, manifestKey, data)
		defer replaceObject(t, s, manifestKey, goodManifest)
		restoreFails(t, s.URL(manifestKey), "station line-1 at seq")
	})
	t.Run("LyingFeed", func(t *testing.T) {
		var lie map[string]any
		if err := json.Unmarshal(goodManifest, &lie); err != nil {
			t.Fatal(err)
		}
		lie["feed"] = float64(m.Feed + 100)
		data, _ := json.MarshalIndent(lie, "", "  ")
		replaceObject(t, s, manifestKey, data)
		defer replaceObject(t, s, manifestKey, goodManifest)
		restoreFails(t, s.URL(manifestKey), "feed")
	})
	t.Run("NotACentralStore", func(t *testing.T) {
		// A station ledger, stored and described as a central generation
		// would be, checksums and all.
		led := MustLedger(t, newTestClock())
		MustAppendN(t, led, &workload{}, 50)
		dir := t.TempDir()
		if _, err := led.SnapshotFile(ctx, filepath.Join(dir, "l.db")); err != nil {
			t.Fatal(err)
		}
		raw, st, err := sealFile(filepath.Join(dir, "l.stored"), filepath.Join(dir, "l.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "l.stored"))
		gen := newGenerationID(time.Now().Add(time.Minute))
		fake := *m
		fake.Generation = gen
		fake.Stations = []StationHead{}
		fake.Feed, fake.Changes, fake.Reservations = 0, 0, 0
		fake.Snapshot = Object{Key: centralSnapshotName, Size: raw.Size, SHA256: raw.SHA256, StoredSize: st.Size, StoredSHA256: st.SHA256}
		mdata, _ := json.Marshal(fake)
		if err := s.putBytes(ctx, genKey(gen, centralSnapshotName), data, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
		if err := s.putBytes(ctx, genKey(gen, manifestName), mdata, "application/json"); err != nil {
			t.Fatal(err)
		}
		defer s.deleteGeneration(ctx, gen)
		restoreFails(t, s.URL(genKey(gen, centralSnapshotName)), "not a usable central store")
	})
	t.Run("StationLocation", func(t *testing.T) {
		// Each kind of backup refuses the other's location.
		stationStore := MustStore(t, testConfig(SharedMinIO(t), s.loc.Bucket))
		led := MustLedger(t, newTestClock())
		MustAppendN(t, led, &workload{}, 50)
		if _, err := NewShipper(stationStore, led).Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := NewCentralShipper(stationStore, centralSource{db}).Snapshot(ctx); station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("central backup to a station's location: err=%v, want ECONFLICT", err)
		}
		path := filepath.Join(t.TempDir(), "central.db")
		if _, err := RestoreCentral(ctx, stationStore, CentralRestoreOptions{Path: path, Open: openRestoredCentral}); station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("central restore from a station's location: err=%v, want ECONFLICT", err)
		}
		mustNothingAt(t, path)
		if _, err := NewShipper(s, led).Snapshot(ctx); err == nil {
			t.Fatal("a station backup to the central's location was not refused")
		}
	})
	// Undamaged again, it restores.
	path := filepath.Join(t.TempDir(), "central.db")
	if _, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Open: openRestoredCentral, Generation: m.Generation}); err != nil {
		t.Fatalf("restore of the repaired generation: %v", err)
	}
}

// TestStore_RetainCentral deletes old generations only once a newer one is
// verified, keeps in-progress ones, and never deletes everything.
func TestStore_RetainCentral(t *testing.T) {
	ctx := context.Background()
	s := MustCentralStore(t, nil)
	db := MustCentralDB(t, filepath.Join(t.TempDir(), "central.db"))
	// An incomplete generation alone: nothing is verified, nothing goes.
	old := "20200101T000000.000Z-00000000"
	if err := s.putBytes(ctx, genKey(old, centralSnapshotName), []byte("half an upload"), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	if deleted, err := s.RetainCentral(ctx, 1); err != nil || len(deleted) != 0 {
		t.Fatalf("retention with no verified generation deleted %v (%v)", deleted, err)
	}
	sh := NewCentralShipper(s, centralSource{db})
	var made []string
	for i := 0; i < 3; i++ {
		m, err := sh.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, m.Generation)
	}
	// One in progress, newer than all: kept.
	newer := newGenerationID(time.Now().Add(time.Hour))
	if err := s.putBytes(ctx, genKey(newer, centralSnapshotName), []byte("in progress"), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.RetainCentral(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(deleted) != fmt.Sprint([]string{made[0], old}) {
		t.Fatalf("deleted %v, want the oldest verified %s and the old incomplete %s", deleted, made[0], old)
	}
	gens, err := s.Generations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gens) != fmt.Sprint([]string{made[1], made[2], newer}) {
		t.Fatalf("left %v, want %v", gens, []string{made[1], made[2], newer})
	}
	list, err := s.ListCentral(ctx)
	if err != nil || len(list) != 3 || list[2].Manifest != nil || list[0].Manifest == nil || list[0].Manifest.Generation != made[1] {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := s.RetainCentral(ctx, 0); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("keep 0: err=%v, want EINVALID", err)
	}
}

// TestCentralScheduler backs up every interval while stations push, keeps
// the newest Keep, reports in Status; a restarted scheduler takes up the
// last generation instead of uploading again; one that cannot reach the
// storage counts failures and has no success.
func TestCentralScheduler(t *testing.T) {
	ctx := context.Background()
	s := MustCentralStore(t, nil)
	db := MustCentralDB(t, filepath.Join(t.TempDir(), "central.db"))
	startIngest(t, db, []string{"line-1", "line-2"}, 20000)
	sched := &CentralScheduler{Shipper: NewCentralShipper(s, centralSource{db}), Interval: 50 * time.Millisecond, Keep: 2, Logger: quietLogger()}
	stop := runCentralScheduler(t, sched)
	seen := map[string]bool{}
	stationtest.Poll(t, 30*time.Second, "four generations made", func() bool {
		if g := sched.Status().Generation; g != "" {
			seen[g] = true
		}
		return len(seen) >= 4
	})
	stop()
	st := sched.Status()
	if !st.OK() || st.LastError != nil || st.FailuresTotal != 0 || st.Objects < 8 || st.Location != s.Location().String() {
		t.Fatalf("status %+v", st)
	}
	// Retention kept the 2 newest verified generations; a snapshot cut
	// short by the stop may have left an incomplete one after them.
	list, err := s.ListCentral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for i, g := range list {
		if g.Manifest != nil {
			kept = append(kept, g.ID)
		} else if i < len(list)-1 {
			t.Fatalf("generation %s is incomplete but not the newest: %+v", g.ID, list)
		}
	}
	if len(kept) != 2 || kept[1] != st.Generation {
		t.Fatalf("verified generations left %v, want the 2 newest ending with %s", kept, st.Generation)
	}
	newest, err := s.CentralManifest(ctx, st.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastSuccess.Equal(newest.Created) || st.Feed != newest.Feed {
		t.Fatalf("status says %s (feed %d), the newest manifest %s (feed %d)", st.LastSuccess, st.Feed, newest.Created, newest.Feed)
	}

	t.Run("TakesUp", func(t *testing.T) {
		cfg := testConfig(SharedMinIO(t), s.loc.Bucket)
		cfg.URL = s.loc.String()
		again := &CentralScheduler{Shipper: NewCentralShipper(MustStore(t, cfg), centralSource{db}), Interval: time.Hour, Keep: 2, Logger: quietLogger()}
		stop := runCentralScheduler(t, again)
		stationtest.Poll(t, 10*time.Second, "the last generation taken up", func() bool { return again.Status().Generation == newest.Generation })
		time.Sleep(100 * time.Millisecond)
		stop()
		if st := again.Status(); st.Objects != 0 || !st.LastSuccess.Equal(newest.Created) || !st.OK() {
			t.Fatalf("a restart within the interval: %+v, want no upload and the last generation's time", st)
		}
	})
	t.Run("ErrUnreachable", func(t *testing.T) {
		cfg := testConfig(SharedMinIO(t), s.loc.Bucket)
		cfg.URL = s.loc.String()
		cfg.SecretAccessKey = "not-the-secret"
		bad := &CentralScheduler{Shipper: NewCentralShipper(MustStore(t, cfg), centralSource{db}), Interval: time.Hour, Retry: 20 * time.Millisecond, Logger: quietLogger()}
		stop := runCentralScheduler(t, bad)
		stationtest.Poll(t, 10*time.Second, "three failures", func() bool { return bad.Status().FailuresTotal >= 3 })
		stop()
		st := bad.Status()
		if st.OK() || !st.LastSuccess.IsZero() || st.Failures < 3 || station.ErrorCode(st.LastError) != station.EUNAUTHORIZED || st.LastErrorAt.IsZero() {
			t.Fatalf("status with wrong credentials: %+v", st)
		}
	})
}

func runCentralScheduler(tb testing.TB, s *CentralScheduler) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("central scheduler run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// TestRestoreCentral_Resync: the central service is restored from a
// snapshot older than what a station pushed; the station's uplink takes
// the central's smaller head, sends its journal again, and the central
// ends with the station's whole journal, verified.
func TestRestoreCentral_Resync(t *testing.T) {
	ctx := context.Background()
	s := MustCentralStore(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "central.db")
	store := centraltest.MustStorePath(t, path)
	addr := freeAddr(t)
	url := "http://" + addr
	stopCentral := startCentralAt(t, store, addr)
	code, err := central.AddStation(ctx, store, testStation, "", time.Hour, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	anon, _ := uplink.NewAPI(url, "", nil)
	enrolled, err := anon.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	db := MustLedger(t, newTestClock())
	client, _ := runUplink(t, db, url, enrolled.Token)
	w := &workload{}
	synced := func(msg string) {
		head, _ := db.Head(ctx)
		client.Notify()
		stationtest.Poll(t, 30*time.Second, msg, func() bool {
			h, err := store.Head(ctx, testStation)
			return err == nil && h.Seq == head.Seq && client.Status().Acked == head.Seq
		})
	}
	MustAppendN(t, db, w, 1000)
	synced("the central holds the first 1000 events")
	m, err := NewCentralShipper(s, centralSource{store}).Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Stations) != 1 || m.Stations[0].Seq != 1000 {
		t.Fatalf("the snapshot holds %+v, want %s at seq 1000", m.Stations, testStation)
	}
	MustAppendN(t, db, w, 1500)
	synced("the central holds 2500 events")

	// The central's disk is lost; it is restored from the older snapshot.
	stopCentral()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Open: openRestoredCentral}); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("restore over the store without force: err=%v, want ECONFLICT", err)
	}
	if _, err := RestoreCentral(ctx, s, CentralRestoreOptions{Path: path, Force: true, Open: openRestoredCentral}); err != nil {
		t.Fatal(err)
	}
	restored := centraltest.MustStorePath(t, path)
	if h, err := restored.Head(ctx, testStation); err != nil || h.Seq != 1000 {
		t.Fatalf("the restored central holds seq %d (%v), want 1000", h.Seq, err)
	}
	startCentralAt(t, restored, addr)

	// The station, which kept running, produces more; its uplink resyncs.
	MustAppendN(t, db, w, 200)
	head, _ := db.Head(ctx)
	client.Notify()
	stationtest.Poll(t, 30*time.Second, "the restored central catches up with the station", func() bool {
		h, err := restored.Head(ctx, testStation)
		return err == nil && h.Seq == head.Seq
	})
	centralEvents, err := centraltest.AllStored(ctx, restored, testStation)
	if err != nil {
		t.Fatal(err)
	}
	if d := centraltest.SameJournal(allEvents(t, db), centralEvents); d != "" {
		t.Fatalf("the restored central's journal differs from the station's: %s", d)
	}
	if err := restored.Check(ctx); err != nil {
		t.Fatalf("the restored central does not verify after the resync: %v", err)
	}
	if h, _ := restored.Head(ctx, testStation); h.Hash != head.Hash {
		t.Fatalf("the central's head hash %s differs from the station's %s", h.Hash, head.Hash)
	}
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCentralAt runs the central service on store at addr until stop.
func startCentralAt(tb testing.TB, store *centraldb.DB, addr string) (stop func()) {
	tb.Helper()
	srv, err := central.New(central.Config{Store: store, Addr: addr, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = srv.Close(context.Background()) }) }
	tb.Cleanup(stop)
	return stop
}
