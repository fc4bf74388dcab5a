package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

// The benchmarks compare durable appends through the ledger (group commit,
// hash chain, projections) with raw SQLite writes under the same pragmas
// (WAL, synchronous=FULL, foreign keys, busy timeout, statement cache),
// measured in the same run, right after the ledger's timed part so that a
// shared machine's load changes as little as possible in between:
//
//	go test -run '^$' -bench . -benchtime 20000x -count 3 ./localdb
//
// The raw baselines, from the least to the most work per event:
//
//   - raw_tx: the journal row alone, one row per transaction: one fsync per
//     row, what an append costs without group commit.
//   - raw_batch: the journal row alone, 1000 rows per transaction, in a bare
//     journal table (no projections, no other index than the ledger's).
//   - raw_event_grp: every row the ledger writes for the event (for a
//     unit.verified: the journal row, the serial's new state, the order's
//     counter) in the ledger's own schema, in transactions of as many
//     events as the ledger committed together in that run (events/commit):
//     the same rows with the same batching, done by hand.
//   - raw_event_1000: the same rows, 1000 events per transaction: the best
//     case for raw SQLite, which group commit reaches only with 1000
//     callers waiting at once.
//
// Every raw baseline writes rows made in advance (payloads encoded, hashes
// chained) with the least SQL that gives the same rows: plain INSERT and
// UPDATE by primary key, without the ledger's checks. BenchmarkDB_Append
// reports each rate (rows/s or events/s) and its ratio x_<baseline> =
// ledger events/s over baseline rate.
//
// The ledger benchmarks also report cpu_us/event: the CPU time of the whole
// process (callers, writer, SQLite, runtime) per event during the timed
// part. On a machine shared with other work it varies less than the
// rates do, which depend on how much CPU and disk the others leave.

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
	seq                                                   int64
	id, typ, payload, ts, state, user, prev, hash, serial string
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
		rows[i] = rawRow{e.Seq, e.ID, string(e.Type), string(e.Payload), station.FormatTime(e.Time), string(e.ClockState), e.User, e.PrevHash, e.Hash, benchSerial(i)}
	}
	return rows
}

// rawDSN is the ledger writer's connection string (see Open).
func rawDSN(path string) string {
	return "file:" + path + "?mode=rw&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=5000&_stmt_cache_size=64"
}

func openRawFile(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", rawDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })
	return raw
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

// openRawLedger makes a file with the ledger's schema (through the
// production Open and migrations), holding an order and one printed serial
// of it per row, and opens it raw with the ledger writer's pragmas.
func openRawLedger(tb testing.TB, rows []rawRow) *sql.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "raw-ledger.db")
	db, err := Open(context.Background(), path, Options{Station: testStation, Create: true, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	raw := openRawFile(tb, path)
	tx, err := raw.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO orders (id, gtin, lot, expiry, quantity, line, state, seq) VALUES (?, ?, 'LOT2026-03-A', '270600', ?, '', 'running', 0)`,
		testOrder, testGTIN, len(rows)); err != nil {
		tb.Fatal(err)
	}
	for _, r := range rows {
		if _, err := tx.Exec(`INSERT INTO serials (gtin, serial, state, order_id, reason, seq) VALUES (?, ?, 'printed', ?, '', 0)`, testGTIN, r.serial, testOrder); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return raw
}

// rawEventInsert writes, for each row, every row the ledger writes for a
// unit.verified event (the journal row, the serial's state, the order's
// counter), in transactions of batch events, and returns events per second.
func rawEventInsert(tb testing.TB, raw *sql.DB, rows []rawRow, batch int) float64 {
	tb.Helper()
	start := time.Now()
	for i := 0; i < len(rows); i += batch {
		tx, err := raw.Begin()
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows[i:min(i+batch, len(rows))] {
			if _, err := tx.Exec(`INSERT INTO journal (seq, id, station, type, payload, time, offset_ns, clock_state, user, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
				r.seq, r.id, testStation, r.typ, r.payload, r.ts, r.state, r.user, r.prev, r.hash); err != nil {
				tb.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE serials SET state = 'verified', reason = '', seq = ? WHERE gtin = ? AND serial = ?`, r.seq, testGTIN, r.serial); err != nil {
				tb.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE orders SET verified = verified + 1, seq = ? WHERE id = ?`, r.seq, testOrder); err != nil {
				tb.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(len(rows)) / time.Since(start).Seconds()
}

// Row counts of the baselines measured inside the ledger benchmarks: enough
// commits for a stable rate, few enough for a shared 2-core machine.
const (
	baseTxRows    = 1000  // raw_tx: 1000 fsyncs
	baseBatchRows = 50000 // raw_batch, raw_event_1000: 50 commits
	baseGroupRows = 20000 // raw_event_grp
)

// BenchmarkRaw_TxPerRow is the baseline of one durable transaction per row.
func BenchmarkRaw_TxPerRow(b *testing.B) {
	rows := rawRows(b.N)
	raw := openRaw(b)
	b.ResetTimer()
	rate := rawInsert(b, raw, rows, 1)
	b.ReportMetric(rate, "rows/s")
}

// BenchmarkRaw_Batched is the best case for the journal row alone: 1000
// rows per transaction.
func BenchmarkRaw_Batched(b *testing.B) {
	rows := rawRows(b.N)
	raw := openRaw(b)
	b.ResetTimer()
	rate := rawInsert(b, raw, rows, 1000)
	b.ReportMetric(rate, "rows/s")
}

// BenchmarkRaw_EventRows_Batched is the best case for every row of an
// event: 1000 unit.verified events (journal, serial, order counter) per
// transaction in the ledger's schema.
func BenchmarkRaw_EventRows_Batched(b *testing.B) {
	rows := rawRows(b.N)
	raw := openRawLedger(b, rows)
	b.ResetTimer()
	rate := rawEventInsert(b, raw, rows, 1000)
	b.ReportMetric(rate, "events/s")
}

// MustSetupBench records an order and n allocated, printed serials of it
// (benchSerial(0) to benchSerial(n-1)), in large appends.
func MustSetupBench(tb testing.TB, db *DB, n int) {
	tb.Helper()
	MustAppend(tb, db, ev(station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "LOT2026-03-A", Expiry: "270600", Quantity: int64(n) + 1}))
	for i := 0; i < n; i += 2000 {
		var ss []string
		for j := i; j < min(i+2000, n); j++ {
			ss = append(ss, benchSerial(j))
		}
		evs := []station.NewEvent{ev(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"})}
		for _, s := range ss {
			evs = append(evs, ev(station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: testOrder}))
			evs = append(evs, ev(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "p"}))
		}
		MustAppend(tb, db, evs...)
	}
}

// reportBaselines measures the raw baselines named in want ("tx", "batch",
// "event_grp", "event_1000") and reports each with the ledger's ratio to
// it. group is the ledger's events per commit, for event_grp. It does
// nothing on the warm-up run of one iteration, whose metrics go unprinted.
func reportBaselines(b *testing.B, rate, group float64, want ...string) {
	if b.N < 100 {
		return
	}
	for _, name := range want {
		var base float64
		unit := "rows/s"
		switch name {
		case "tx":
			base = rawInsert(b, openRaw(b), rawRows(baseTxRows), 1)
		case "batch":
			base = rawInsert(b, openRaw(b), rawRows(baseBatchRows), 1000)
		case "event_grp":
			rows := rawRows(baseGroupRows)
			base = rawEventInsert(b, openRawLedger(b, rows), rows, max(1, int(math.Round(group))))
			unit = "events/s"
		case "event_1000":
			rows := rawRows(baseBatchRows)
			base = rawEventInsert(b, openRawLedger(b, rows), rows, 1000)
			unit = "events/s"
		default:
			b.Fatalf("unknown baseline %q", name)
		}
		b.ReportMetric(base, "raw_"+name+"_"+unit)
		b.ReportMetric(rate/base, "x_raw_"+name)
	}
}

// reportCPU reports the process's CPU time per event (see above), where
// the platform tells it.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu_us/event")
	}
}

// BenchmarkDB_Append appends one unit.verified event (about 200 bytes,
// projections included: the serial's state and the order's counter) per
// call from 128 goroutines, each call durable before it returns: group
// commit under load. It reports events/s, events/commit and its ratio to
// every baseline.
func BenchmarkDB_Append(b *testing.B) {
	db := MustOpenDB(b, newTestClock())
	ctx := context.Background()
	MustSetupBench(b, db, b.N)
	var next atomic.Int64
	commits0, events0 := db.wr.commits.Load(), db.wr.events.Load()
	b.SetParallelism(64) // 64 goroutines per CPU: a line's many producers
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
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
	cpu = processCPU() - cpu
	b.StopTimer()
	if o, err := db.Order(ctx, testOrder); err != nil || o.Verified != int64(b.N) {
		b.Fatalf("order counters %+v (%v): want %d verified", o, err, b.N)
	}
	group := float64(db.wr.events.Load()-events0) / float64(db.wr.commits.Load()-commits0)
	b.ReportMetric(group, "events/commit")
	b.ReportMetric(rate, "events/s")
	reportCPU(b, cpu)
	reportBaselines(b, rate, group, "tx", "batch", "event_grp", "event_1000")
}

// BenchmarkDB_Append_Serial appends from one goroutine: one event per
// transaction, the worst case of group commit, against raw_tx.
func BenchmarkDB_Append_Serial(b *testing.B) {
	db := MustOpenDB(b, newTestClock())
	ctx := context.Background()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := db.Append(ctx, ev(station.SSCCAllocated{SSCC: sscc(i), Level: station.LevelCase, Order: ""})); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	cpu = processCPU() - cpu
	b.StopTimer()
	b.ReportMetric(rate, "events/s")
	reportCPU(b, cpu)
	reportBaselines(b, rate, 1, "tx")
}

// BenchmarkDB_Append_Batched appends 1000 unit.verified events per call
// from one goroutine: the ledger's cost per event without waiting for
// callers (validation, hashing and projections in series with SQLite), to
// compare with 1000 rows or events per raw transaction.
func BenchmarkDB_Append_Batched(b *testing.B) {
	db := MustOpenDB(b, newTestClock())
	MustSetupBench(b, db, b.N)
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i += 1000 {
		var evs []station.NewEvent
		for j := i; j < min(i+1000, b.N); j++ {
			evs = append(evs, ev(benchPayload(benchSerial(j))))
		}
		MustAppend(b, db, evs...)
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	cpu = processCPU() - cpu
	b.StopTimer()
	b.ReportMetric(rate, "events/s")
	reportCPU(b, cpu)
	reportBaselines(b, rate, 1000, "batch", "event_1000")
}
