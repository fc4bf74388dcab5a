package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

// backupFixture is a ledger backed up as one generation: a snapshot at
// seq 500 and segments 501-800, 801-1100, 1101-1400, 1401-1500.
type backupFixture struct {
	store    *Store
	db       *localdb.DB
	manifest *Manifest
	segments []Segment
	events   []station.Event
}

func MustBackupFixture(tb testing.TB, key *Key) *backupFixture {
	tb.Helper()
	ctx := context.Background()
	cfg := testConfig(SharedMinIO(tb), bucketName(tb))
	cfg.Key = key
	s := MustStore(tb, cfg)
	if err := s.EnsureBucket(ctx); err != nil {
		tb.Fatal(err)
	}
	db := MustLedger(tb, newTestClock())
	w := &workload{}
	MustAppendN(tb, db, w, 500)
	sh := NewShipper(s, db)
	sh.MaxSegmentEvents = 300
	m, err := sh.Snapshot(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		MustAppendN(tb, db, w, 100)
	}
	if _, err := sh.Ship(ctx); err != nil {
		tb.Fatal(err)
	}
	segs, err := s.Segments(ctx, m.Generation)
	if err != nil {
		tb.Fatal(err)
	}
	if len(segs) != 4 || segs[1].First != 801 || segs[3].Last != 1500 {
		tb.Fatalf("fixture segments = %+v", segs)
	}
	return &backupFixture{store: s, db: db, manifest: m, segments: segs, events: allEvents(tb, db)}
}

// clone copies the fixture's objects, on the server, to a prefix of their
// own, so that a test can damage them without building the backup again.
func (f *backupFixture) clone(tb testing.TB, name string) *backupFixture {
	tb.Helper()
	ctx := context.Background()
	cfg := Config{URL: f.store.loc.String() + "-" + name, Endpoint: f.store.endpoint, Key: f.store.key}
	srv := SharedMinIO(tb)
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Attempts = srv.User, srv.Password, 3
	s := MustStore(tb, cfg)
	for _, rel := range objectNames(tb, f.store) {
		_, err := s.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.loc.Bucket, Object: s.fullKey(rel)},
			minio.CopySrcOptions{Bucket: f.store.loc.Bucket, Object: f.store.fullKey(rel)})
		if err != nil {
			tb.Fatalf("copy %s: %v", rel, err)
		}
	}
	cp := *f
	cp.store = s
	return &cp
}

func (f *backupFixture) rel(name string) string { return genKey(f.manifest.Generation, name) }

// mustRefuse restores into a fresh folder and checks that the restore
// fails with code, that the message has every want, and that nothing is
// left in the folder.
func mustRefuse(tb testing.TB, s *Store, opts RestoreOptions, code string, want ...string) {
	tb.Helper()
	dir := tb.TempDir()
	opts.Path = filepath.Join(dir, "restored.db")
	opts.Open = openRestored
	res, err := Restore(context.Background(), s, opts)
	if err == nil {
		tb.Fatalf("restore succeeded (%+v), want a refusal", res)
	}
	if got := station.ErrorCode(err); got != code {
		tb.Fatalf("restore: %v (code %s), want code %s", err, got, code)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Fatalf("restore error %q does not name %q", err, w)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		tb.Fatalf("a refused restore left %s in the folder", e.Name())
	}
}

func flip(data []byte, at int) []byte {
	out := bytes.Clone(data)
	out[at] ^= 0x01
	return out
}

func TestRestore_Corruption(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		var key *Key
		name := "Plain"
		if encrypted {
			key, name = NewKey(), "Encrypted"
		}
		t.Run(name, func(t *testing.T) { testCorruption(t, key) })
	}
}

func testCorruption(t *testing.T, key *Key) {
	ctx := context.Background()
	type fixCase struct {
		name   string
		damage func(t *testing.T, f *backupFixture) []string // returns what the error must name
	}
	putManifest := func(t *testing.T, f *backupFixture, edit func(m *Manifest)) string {
		m := *f.manifest
		edit(&m)
		data, _ := json.Marshal(&m)
		replaceObject(t, f.store, f.rel(manifestName), data)
		return f.store.URL(f.rel(manifestName))
	}
	cases := []fixCase{
		{"FlippedSnapshot", func(t *testing.T, f *backupFixture) []string {
			rel := f.rel(f.manifest.Snapshot.Key)
			data := getObject(t, f.store, rel)
			replaceObject(t, f.store, rel, flip(data, len(data)/2))
			return []string{f.store.URL(rel), "is corrupt"}
		}},
		{"FlippedSegment", func(t *testing.T, f *backupFixture) []string {
			rel := f.rel(f.segments[1].Key)
			data := getObject(t, f.store, rel)
			replaceObject(t, f.store, rel, flip(data, len(data)-20))
			return []string{f.store.URL(rel), "is corrupt"}
		}},
		{"SegmentRewritten", func(t *testing.T, f *backupFixture) []string {
			// Someone edits an event and stores the segment again under a
			// name with the right checksum: the hash chain refuses it.
			seg := f.segments[2]
			evs, err := f.store.readSegment(ctx, f.manifest, seg)
			if err != nil {
				t.Fatal(err)
			}
			evs[10].User = "intruder"
			data, d, err := encodeSegment(evs, key)
			if err != nil {
				t.Fatal(err)
			}
			rel := f.rel(segmentKey(seg.First, seg.Last, d.SHA256, key != nil))
			if err := f.store.putBytes(ctx, rel, data, ""); err != nil {
				t.Fatal(err)
			}
			if err := f.store.remove(ctx, []string{f.rel(seg.Key)}); err != nil {
				t.Fatal(err)
			}
			return []string{f.store.URL(rel), "seq 1111", "contents do not match the stored hash"}
		}},
		{"MissingSegment", func(t *testing.T, f *backupFixture) []string {
			if err := f.store.remove(ctx, []string{f.rel(f.segments[1].Key)}); err != nil {
				t.Fatal(err)
			}
			return []string{"missing events 801 to 1100", f.store.URL(f.rel(f.segments[2].Key))}
		}},
		{"MissingLastSegment", func(t *testing.T, f *backupFixture) []string {
			if err := f.store.remove(ctx, []string{f.rel(f.segments[3].Key)}); err != nil {
				t.Fatal(err)
			}
			return []string{"missing segments", "seq 1500", f.store.URL(f.rel(f.segments[3].Key)), "end at seq 1400"}
		}},
		{"MissingSnapshot", func(t *testing.T, f *backupFixture) []string {
			if err := f.store.remove(ctx, []string{f.rel(f.manifest.Snapshot.Key)}); err != nil {
				t.Fatal(err)
			}
			return []string{f.store.URL(f.rel(f.manifest.Snapshot.Key)), "is missing"}
		}},
		{"ManifestLiesAboutHead", func(t *testing.T, f *backupFixture) []string {
			u := putManifest(t, f, func(m *Manifest) { m.LastSeq, m.LastHash = 400, f.events[399].Hash })
			return []string{u, "does not describe its snapshot", "last seq 400", "last seq 500"}
		}},
		{"ManifestLiesAboutStation", func(t *testing.T, f *backupFixture) []string {
			u := putManifest(t, f, func(m *Manifest) { m.Station = "line-2" })
			return []string{u, `station "line-2"`}
		}},
		{"ManifestLiesAboutChecksum", func(t *testing.T, f *backupFixture) []string {
			u := putManifest(t, f, func(m *Manifest) { m.Snapshot.SHA256 = strings.Repeat("0", 64) })
			return []string{u, f.store.URL(f.rel(f.manifest.Snapshot.Key)), "unpacks to"}
		}},
		{"ManifestLiesAboutSize", func(t *testing.T, f *backupFixture) []string {
			u := putManifest(t, f, func(m *Manifest) { m.Snapshot.StoredSize-- })
			return []string{u, f.store.URL(f.rel(f.manifest.Snapshot.Key))}
		}},
		{"ManifestNotJSON", func(t *testing.T, f *backupFixture) []string {
			replaceObject(t, f.store, f.rel(manifestName), []byte("{\"format\": "))
			return []string{f.store.URL(f.rel(manifestName)), "is not valid"}
		}},
		{"StrayObjectInSegments", func(t *testing.T, f *backupFixture) []string {
			rel := f.rel(segmentsDir + "notes.txt")
			if err := f.store.putBytes(ctx, rel, []byte("hello"), ""); err != nil {
				t.Fatal(err)
			}
			return []string{f.store.URL(rel), "not a segment name"}
		}},
	}
	base := MustBackupFixture(t, key)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := base.clone(t, strings.ToLower(tc.name))
			want := tc.damage(t, f)
			// The newest generation is damaged: restore refuses it rather
			// than fall back silently.
			mustRefuse(t, f.store, RestoreOptions{}, station.EINVALID, want...)
		})
	}
}

func TestRestore_Target(t *testing.T) {
	ctx := context.Background()
	f := MustBackupFixture(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "station.db")
	live := []byte("a live station database")
	if err := os.WriteFile(path, live, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(ctx, f.store, RestoreOptions{Path: path, Open: openRestored})
	if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over an existing file: %v, want ECONFLICT naming --force", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, live) {
		t.Fatal("the refused restore changed the existing file")
	}
	// With force, the file is replaced, and a stale journal beside it is
	// removed so that it is not replayed into the restored ledger.
	if err := os.WriteFile(path+"-wal", []byte("stale wal of the old file"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, f.store, RestoreOptions{Path: path, Force: true, Open: openRestored})
	if err != nil {
		t.Fatal(err)
	}
	if res.Head.Seq != 1500 {
		t.Fatalf("restored head %d, want 1500", res.Head.Seq)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the stale -wal file is still beside the restored ledger")
	}
	db := MustLedgerAt(t, path, newTestClock())
	if rep, err := db.Verify(ctx); err != nil || !rep.OK() || rep.LastSeq != 1500 {
		t.Fatalf("forced restore verify = %+v, %v", rep, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".restore-") {
			t.Fatalf("restore left %s behind", e.Name())
		}
	}
	if _, err := Restore(ctx, f.store, RestoreOptions{Path: dir, Force: true, Open: openRestored}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("restore onto a folder: %v, want EINVALID", err)
	}
	if _, err := Restore(ctx, f.store, RestoreOptions{Path: filepath.Join(dir, "no", "such", "x.db"), Open: openRestored}); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("restore into a missing folder: %v, want ENOTFOUND", err)
	}
}

func TestRestore_PointInTime(t *testing.T) {
	ctx := context.Background()
	f := MustBackupFixture(t, nil)
	// Events of one Append share one clock reading: restoring to the time
	// of seq 1000 keeps every event of that time and none after.
	at := f.events[999].Time
	want := int64(0)
	for _, ev := range f.events {
		if !ev.Time.After(at) {
			want = ev.Seq
		}
	}
	path := filepath.Join(t.TempDir(), "pit.db")
	res, err := Restore(ctx, f.store, RestoreOptions{Path: path, At: at, Open: openRestored})
	if err != nil {
		t.Fatal(err)
	}
	if res.Head.Seq != want || want < 1000 || want >= 1100 {
		t.Fatalf("restored to seq %d, want %d (the last event at %s)", res.Head.Seq, want, at)
	}
	// Before the snapshot's last event: no generation qualifies.
	mustRefuse(t, f.store, RestoreOptions{At: f.events[0].Time.Add(-time.Second)}, station.ENOTFOUND, "no generation", "has a snapshot from before")
	// A generation by id.
	mustRefuse(t, f.store, RestoreOptions{Generation: "20200101T000000.000Z-00000000"}, station.ENOTFOUND, "no manifest")
	mustRefuse(t, f.store, RestoreOptions{Generation: "../../x"}, station.EINVALID, "not a generation id")
	res, err = Restore(ctx, f.store, RestoreOptions{Path: filepath.Join(t.TempDir(), "g.db"), Generation: f.manifest.Generation, At: time.Time{}, Open: openRestored})
	if err != nil || res.Head.Seq != 1500 {
		t.Fatalf("restore by generation = %+v, %v", res, err)
	}
}
