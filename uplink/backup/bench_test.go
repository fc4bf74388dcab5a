package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The benchmarks measure backup and restore against the real MinIO on
// loopback, each with a baseline measured in the same run:
//
//	go test -run '^$' -bench . -benchtime 3x ./uplink/backup
//
// BenchmarkShip: events/s shipped (read, JSON lines, gzip, upload, read
// back) against the rate the same ledger appended them (x_append: how many
// times faster backups go than a station at full speed records; above 1,
// at most one interval of events is ever at risk).
// BenchmarkSnapshot: MB/s of a new generation against VACUUM INTO alone.
// BenchmarkRestore: events/s restored from object storage against
// importing the same events from memory into a ledger.

const benchEvents = 20000

func BenchmarkShip(b *testing.B) {
	ctx := context.Background()
	s := MustStore(b, testConfig(SharedMinIO(b), bucketName(b)))
	if err := s.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	db := MustLedger(b, newTestClock())
	sh := NewShipper(s, db)
	if _, err := sh.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	w := &workload{}
	var appendTime, shipTime time.Duration
	var bytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		start := time.Now()
		MustAppendN(b, db, w, benchEvents)
		appendTime += time.Since(start)
		b.StartTimer()
		start = time.Now()
		st, err := sh.Ship(ctx)
		if err != nil {
			b.Fatal(err)
		}
		shipTime += time.Since(start)
		bytes += st.Bytes
	}
	n := float64(b.N * benchEvents)
	ship, appended := n/shipTime.Seconds(), n/appendTime.Seconds()
	b.ReportMetric(ship, "events/s")
	b.ReportMetric(appended, "append_events/s")
	b.ReportMetric(ship/appended, "x_append")
	b.ReportMetric(float64(bytes)/n, "stored_B/event")
}

func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	s := MustStore(b, testConfig(SharedMinIO(b), bucketName(b)))
	if err := s.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	db := MustLedger(b, newTestClock())
	MustAppendN(b, db, &workload{}, 5*benchEvents)
	dir := b.TempDir()
	var vacuum time.Duration
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := filepath.Join(dir, "copy.db")
		start := time.Now()
		if _, err := db.SnapshotFile(ctx, p); err != nil {
			b.Fatal(err)
		}
		vacuum += time.Since(start)
		fi, _ := os.Stat(p)
		size = fi.Size()
		os.Remove(p)
		b.StartTimer()
		if _, err := NewShipper(s, db).Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	mb := float64(size) / 1e6 * float64(b.N)
	full := mb / b.Elapsed().Seconds()
	b.ReportMetric(full, "MB/s")
	b.ReportMetric(mb/vacuum.Seconds(), "vacuum_MB/s")
	b.ReportMetric(full/(mb/vacuum.Seconds()), "x_vacuum")
}

func BenchmarkRestore(b *testing.B) {
	ctx := context.Background()
	s := MustStore(b, testConfig(SharedMinIO(b), bucketName(b)))
	if err := s.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	db := MustLedger(b, newTestClock())
	w := &workload{}
	MustAppendN(b, db, w, 1000)
	sh := NewShipper(s, db)
	if _, err := sh.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	MustAppendN(b, db, w, benchEvents)
	if _, err := sh.Ship(ctx); err != nil {
		b.Fatal(err)
	}
	evs := allEvents(b, db)
	dir := b.TempDir()
	var baseline time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		base := MustLedgerAt(b, filepath.Join(dir, "base"+time.Now().Format("150405.000000")+".db"), newTestClock())
		start := time.Now()
		if _, err := base.Import(ctx, evs[1000:]); err == nil {
			b.Fatal("import of a suffix into an empty ledger succeeded")
		}
		if _, err := base.Import(ctx, evs); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(start)
		base.Close()
		path := filepath.Join(dir, "r"+time.Now().Format("150405.000000")+".db")
		b.StartTimer()
		if _, err := Restore(ctx, s, RestoreOptions{Path: path, Open: openRestored}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N * len(evs))
	restore := n / b.Elapsed().Seconds()
	b.ReportMetric(restore, "events/s")
	b.ReportMetric(n/baseline.Seconds(), "import_events/s")
	b.ReportMetric(restore/(n/baseline.Seconds()), "x_import")
}
