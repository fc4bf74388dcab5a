package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

// The benchmarks compare durable appends through the ledger (group commit,
// hash chain, projections) with raw SQLite inserts of the same journal rows
// under the same pragmas, measured in the same run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./localdb
//
// BenchmarkDB_Append reports events/s, events per commit and the ratio to
// each baseline (x_raw_tx: one row per transaction; x_raw_batch: 1000 rows
// per transaction, the best case for raw SQLite).

// benchPayload is a unit.verified payload of about 200 bytes, the largest
// event a pack produces on the line.
func benchPayload(serial string) station.UnitVerified {
	return station.UnitVerified{
		GTIN: testGTIN, Serial: serial, Device: "camera-line1-exit",
		Read:  "(01)" + testGTIN + "(17)270600(10)LOT2026-03-A(21)" + serial + "(712)123456789012",
		Grade: "A",
	}
}

func benchSerial(i int) string { return fmt.Sprintf("S%012d", i) }

// rawRow is one journal row as the ledger would write it, made in advance
// so that the baselines time only SQLite.
type rawRow struct {
	seq                                           int64
	id, typ, payload, ts, state, user, prev, hash string
}

func rawRows(n int) []rawRow {
	rows := make([]rawRow, n)
	prev := station.GenesisHash
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for i := range rows {
		_, p, _, _ := station.CanonicalPayload("", benchPayload(benchSerial(i)))
		tm := t0.Add(time.Duration(i) * time.Microsecond)
		e := station.Event{Seq: int64(i + 1), ID: station.NewEventID(tm), Station: testStation, Type: station.EventUnitVerified,
			Payload: p, Time: tm, ClockState: station.ClockSynced, User: testUser, PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		rows[i] = rawRow{e.Seq, e.ID, string(e.Type), string(e.Payload), station.FormatTime(e.Time), string(e.ClockState), e.User, e.PrevHash, e.Hash}
	}
	return rows
}

// openRaw opens a plain SQLite file with the ledger's pragmas and a bare
// journal table (same columns, no triggers, no projections).
func openRaw(tb testing.TB) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "raw.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=rwc&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000&_stmt_cache_size=64")
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })
	if _, err := raw.Exec(`CREATE TABLE journal (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, station TEXT NOT NULL, type TEXT NOT NULL,
		payload TEXT NOT NULL, time TEXT NOT NULL, offset_ns INTEGER NOT NULL, clock_state TEXT NOT NULL, user TEXT NOT NULL,
		prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT`); err != nil {
		tb.Fatal(err)
	}
	return raw
}

// rawInsert writes rows in transactions of batch rows each and returns the
// rate in rows per second.
func rawInsert(tb testing.TB, raw *sql.DB, rows []rawRow, batch int) float64 {
	tb.Helper()
	const q = `INSERT INTO journal (seq, id, station, type, payload, time, offset_ns, clock_state, user, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`
	start := time.Now()
	for i := 0; i < len(rows); i += batch {
		tx, err := raw.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows[i:min(i+batch, len(rows))] {
			if _, err := tx.Exec(q, r.seq, r.id, testStation, r.typ, r.payload, r.ts, r.state, r.user, r.prev, r.hash); err != nil {
				tb.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(len(rows)) / time.Since(start).Seconds()
}

// baselines are measured once per process, with fixed row counts.
var baselines struct {
	once           sync.Once
	perTx, batched float64
}

func measureBaselines(tb testing.TB) (perTx, batched float64) {
	baselines.once.Do(func() {
		baselines.perTx = rawInsert(tb, openRaw(tb), rawRows(1000), 1)
		baselines.batched = rawInsert(tb, openRaw(tb), rawRows(50000), 1000)
	})
	return baselines.perTx, baselines.batched
}

// BenchmarkRaw_TxPerRow is the baseline of one durable transaction per row.
func BenchmarkRaw_TxPerRow(b *testing.B) {
	rows := rawRows(b.N)
	raw := openRaw(b)
	b.ResetTimer()
	rate := rawInsert(b, raw, rows, 1)
	b.ReportMetric(rate, "rows/s")
}

// BenchmarkRaw_Batched is the best case: 1000 rows per transaction.
func BenchmarkRaw_Batched(b *testing.B) {
	rows := rawRows(b.N)
	raw := openRaw(b)
	b.ResetTimer()
	rate := rawInsert(b, raw, rows, 1000)
	b.ReportMetric(rate, "rows/s")
}

// BenchmarkDB_Append appends one unit.verified event (about 200 bytes,
// projections included: the serial's state and the order's counter) per
// call from many goroutines, each call durable before it returns.
func BenchmarkDB_Append(b *testing.B) {
	perTx, batched := measureBaselines(b)
	db := MustOpenDB(b, newTestClock())
	ctx := context.Background()
	// Setup: an order and b.N allocated serials, in large appends.
	MustAppend(b, db, ev(station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "LOT2026-03-A", Expiry: "270600", Quantity: int64(b.N) + 1}))
	for i := 0; i < b.N; i += 2000 {
		var ss []string
		for j := i; j < min(i+2000, b.N); j++ {
			ss = append(ss, benchSerial(j))
		}
		evs := []station.NewEvent{ev(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"})}
		for _, s := range ss {
			evs = append(evs, ev(station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: testOrder}))
			evs = append(evs, ev(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "p"}))
		}
		MustAppend(b, db, evs...)
	}
	var next atomic.Int64
	commits0, events0 := db.wr.commits.Load(), db.wr.events.Load()
	b.SetParallelism(64) // 64 goroutines per CPU: a line's many producers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			if _, err := db.Append(ctx, ev(benchPayload(benchSerial(i)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	if o, err := db.Order(ctx, testOrder); err != nil || o.Verified != int64(b.N) {
		b.Fatalf("order counters %+v (%v): want %d verified", o, err, b.N)
	}
	b.ReportMetric(float64(db.wr.events.Load()-events0)/float64(db.wr.commits.Load()-commits0), "events/commit")
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(perTx, "raw_tx_rows/s")
	b.ReportMetric(batched, "raw_batch_rows/s")
	b.ReportMetric(rate/perTx, "x_raw_tx")
	b.ReportMetric(rate/batched, "x_raw_batch")
}

// BenchmarkDB_Append_Serial appends from one goroutine: one event per
// transaction, the worst case of group commit.
func BenchmarkDB_Append_Serial(b *testing.B) {
	perTx, _ := measureBaselines(b)
	db := MustOpenDB(b, newTestClock())
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := db.Append(ctx, ev(station.SSCCAllocated{SSCC: sscc(i), Level: station.LevelCase, Order: ""})); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rate/perTx, "x_raw_tx")
}

// BenchmarkDB_Append_Batched appends 1000 events per call from one
// goroutine: the ledger's cost per event without waiting for callers, to
// compare with BenchmarkRaw_Batched.
func BenchmarkDB_Append_Batched(b *testing.B) {
	_, batched := measureBaselines(b)
	db := MustOpenDB(b, newTestClock())
	MustAppend(b, db, ev(station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "LOT2026-03-A", Expiry: "270600", Quantity: int64(b.N) + 1}))
	for i := 0; i < b.N; i += 2000 {
		var ss []string
		for j := i; j < min(i+2000, b.N); j++ {
			ss = append(ss, benchSerial(j))
		}
		evs := []station.NewEvent{ev(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"})}
		for _, s := range ss {
			evs = append(evs, ev(station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: testOrder}))
			evs = append(evs, ev(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "p"}))
		}
		MustAppend(b, db, evs...)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += 1000 {
		var evs []station.NewEvent
		for j := i; j < min(i+1000, b.N); j++ {
			evs = append(evs, ev(benchPayload(benchSerial(j))))
		}
		MustAppend(b, db, evs...)
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rate/batched, "x_raw_batch")
}
