package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

const (
	testGTIN = "00300010123455"
	testSSCC = "403000112345678901"
)

// steppingClock gives increasing times, except when told to step back.
type steppingClock struct {
	mu    sync.Mutex
	now   time.Time
	state station.ClockState
}

func (c *steppingClock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(250 * time.Millisecond)
	return station.Time{UTC: c.now, Offset: -3 * time.Millisecond, State: c.state}
}

// MustLedger writes a small but varied ledger (orders, pools, the unit
// lifecycle, aggregation, a clock step, degraded time) and returns its
// path and event count.
func MustLedger(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "station.db")
	clock := &steppingClock{now: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), state: station.ClockSynced}
	db, err := localdb.Open(context.Background(), path, localdb.Options{Station: "line-1", Clock: clock, Create: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ne := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "op1"} }
	unit := func(s string) station.Item { return station.SGTIN(testGTIN, s) }
	steps := [][]station.NewEvent{
		{ne(station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L1", Expiry: "270600", Quantity: 10})},
		{ne(station.PoolReserved{GTIN: testGTIN, Serials: []string{"S1", "S2", "S3", "S4"}, Source: "central"})},
		{ne(station.OrderStateChanged{Order: "PO-1", From: station.OrderPlanned, To: station.OrderReleased})},
		{ne(station.UnitAllocated{GTIN: testGTIN, Serial: "S1", Order: "PO-1"}), ne(station.UnitAllocated{GTIN: testGTIN, Serial: "S2", Order: "PO-1"}),
			ne(station.UnitAllocated{GTIN: testGTIN, Serial: "S3", Order: "PO-1"})},
		{ne(station.UnitPrinted{GTIN: testGTIN, Serial: "S1", Device: "printer-1"})},
		{ne(station.UnitPrinted{GTIN: testGTIN, Serial: "S2", Device: "printer-1"})},
		{ne(station.UnitVerified{GTIN: testGTIN, Serial: "S1", Device: "camera-1", Read: "(01)" + testGTIN + "(21)S1", Grade: "A"})},
		{ne(station.UnitCommissioned{GTIN: testGTIN, Serial: "S1", Device: "camera-1"})},
		{ne(station.UnitRejected{GTIN: testGTIN, Serial: "S2", Reason: station.RejectLowGrade, Device: "camera-1"})},
		{ne(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelCase, Order: "PO-1"})},
		{ne(station.AggregationPacked{Parent: station.SSCCItem(testSSCC), Level: station.LevelCase, Children: []station.Item{unit("S1")}})},
		{ne(station.PoolVoided{GTIN: testGTIN, Serials: []string{"S4"}, Reason: "order closed"})},
	}
	for i, evs := range steps {
		if i == 8 {
			clock.mu.Lock()
			clock.now = clock.now.Add(-time.Hour) // the system clock steps back
			clock.state = station.ClockDegraded
			clock.mu.Unlock()
		}
		if _, err := db.Append(context.Background(), evs...); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	h, err := db.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, int(h.Seq)
}

// tamper runs SQL on the file as an attacker at the sqlite3 shell would,
// dropping the append-only triggers first.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range append([]string{`DROP TRIGGER IF EXISTS journal_no_update`, `DROP TRIGGER IF EXISTS journal_no_delete`}, stmts...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("tamper %q: %v", q, err)
		}
	}
}

// rehash returns SQL that sets seq's hash to what its (tampered) contents
// hash to, as an attacker who knows the algorithm would.
func rehash(t *testing.T, path string, seq int64) string {
	t.Helper()
	db, err := localdb.Open(context.Background(), path, localdb.Options{ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Events(context.Background(), seq, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("read seq %d: %v", seq, err)
	}
	return fmt.Sprintf(`UPDATE journal SET hash = '%s' WHERE seq = %d`, evs[0].ComputeHash(), seq)
}

func TestLedger_Verify(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		path, n := MustLedger(t)
		code, out, errOut := run(t, "", "ledger", "verify", "--db", path)
		if code != exitOK {
			t.Fatalf("exit=%d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{
			"station    line-1\n",
			"sqlite     integrity ok, foreign keys ok\n",
			fmt.Sprintf("events     %d (seq 1 to %d)\n", n, n),
			"time       2026-03-01T06:00:00.250000000Z (seq 1) to 2026-03-01T05:00:03.000000000Z (seq 15)\n",
			"clock      synced 10, degraded 5; 1 clock steps recorded\n",
			"result     intact\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})

	// Each kind of break, made with the triggers dropped, is found at the
	// first bad seq.
	for _, tt := range []struct {
		name   string
		sql    func(t *testing.T, path string) []string
		seq    int64
		reason string
	}{
		{"ChangedPayload", func(t *testing.T, path string) []string {
			return []string{`UPDATE journal SET payload = replace(payload, '"quantity":10', '"quantity":99') WHERE seq = 1`}
		}, 1, "contents do not match the stored hash"},
		{"ChangedUser", func(t *testing.T, path string) []string {
			return []string{`UPDATE journal SET user = 'op2' WHERE seq = 6`}
		}, 6, "contents do not match the stored hash"},
		{"DeletedRow", func(t *testing.T, path string) []string {
			return []string{`DELETE FROM journal WHERE seq = 4`}
		}, 4, "missing: seq 3 is followed by seq 5"},
		{"DeletedFirstRow", func(t *testing.T, path string) []string {
			return []string{`DELETE FROM journal WHERE seq = 1`}
		}, 1, "missing: the journal starts at seq 2"},
		{"ReorderedRows", func(t *testing.T, path string) []string {
			return []string{`UPDATE journal SET seq = -7 WHERE seq = 7`, `UPDATE journal SET seq = 7 WHERE seq = 8`, `UPDATE journal SET seq = 8 WHERE seq = -7`}
		}, 7, "contents do not match the stored hash"},
		{"EditedHash", func(t *testing.T, path string) []string {
			return []string{`UPDATE journal SET hash = '` + strings.Repeat("ab", 32) + `' WHERE seq = 9`}
		}, 9, "contents do not match the stored hash"},
		{"RehashedRow", func(t *testing.T, path string) []string {
			// Change a row and give it a matching hash: the next row's
			// prev_hash no longer matches.
			tamper(t, path, `UPDATE journal SET payload = replace(payload, '"S2"', '"S3"') WHERE seq = 8`)
			return []string{rehash(t, path, 8)}
		}, 9, "prev_hash"},
		{"NonCanonicalTime", func(t *testing.T, path string) []string {
			return []string{`UPDATE journal SET time = substr(time, 1, 19) || 'Z' WHERE seq = 2`}
		}, 2, "not in canonical form"},
		{"TimeBackwards", func(t *testing.T, path string) []string {
			// Forge the step record away: re-stamp seq 5 an hour earlier
			// and re-hash the whole chain after it, as a determined
			// attacker could. The time rule still catches it.
			return forgeTimeBack(t, path, 5)
		}, 5, "time goes backwards"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := MustLedger(t)
			tamper(t, path, tt.sql(t, path)...)
			code, out, errOut := run(t, "", "ledger", "verify", "--db", path)
			if code != exitFail {
				t.Fatalf("exit=%d, want %d\nstdout:\n%s", code, exitFail, out)
			}
			want := fmt.Sprintf("result     BROKEN at seq %d: ", tt.seq)
			if !strings.Contains(out, want) || !strings.Contains(out, tt.reason) {
				t.Fatalf("stdout lacks %q ... %q:\n%s", want, tt.reason, out)
			}
			if wantErr := fmt.Sprintf("the ledger is broken at seq %d", tt.seq); !strings.Contains(errOut, wantErr) {
				t.Fatalf("stderr = %q, want %q", errOut, wantErr)
			}
		})
	}
}

// forgeTimeBack moves seq back by an hour and re-chains every event from
// it to the end, returning the SQL that writes the forgery.
func forgeTimeBack(t *testing.T, path string, seq int64) []string {
	t.Helper()
	db, err := localdb.Open(context.Background(), path, localdb.Options{ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Events(context.Background(), 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	prev := evs[seq-2].Hash
	for i := seq - 1; i < int64(len(evs)); i++ {
		e := evs[i]
		if e.Seq == seq {
			e.Time = evs[seq-2].Time.Add(-time.Hour)
		}
		e.PrevHash = prev
		e.Hash = e.ComputeHash()
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf(`UPDATE journal SET time = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d`,
			station.FormatTime(e.Time), e.PrevHash, e.Hash, e.Seq))
	}
	return stmts
}

func TestLedger_Verify_Integrity(t *testing.T) {
	path, _ := MustLedger(t)
	// A projection row pointing at an order that is not there: SQLite's
	// foreign key check reports it.
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=off")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE serials SET order_id = 'PO-GONE' WHERE serial = 'S3'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	code, out, _ := run(t, "", "ledger", "verify", "--db", path)
	if code != exitFail || !strings.Contains(out, "serials row") || !strings.Contains(out, "result     BROKEN: the file fails SQLite's integrity check") {
		t.Fatalf("exit=%d, want 1 with a foreign key problem:\n%s", code, out)
	}
}

func TestLedger_Export(t *testing.T) {
	path, n := MustLedger(t)
	t.Run("OK", func(t *testing.T) {
		code, out, errOut := run(t, "", "ledger", "export", "--db", path)
		if code != exitOK {
			t.Fatalf("exit=%d: %s", code, errOut)
		}
		evs := parseExport(t, out)
		if len(evs) != n {
			t.Fatalf("%d lines, want %d", len(evs), n)
		}
		// The export holds everything the hash covers: the chain can be
		// checked from it alone.
		chain := station.ChainChecker{}
		for i := range evs {
			if err := chain.Check(&evs[i]); err != nil {
				t.Fatalf("exported chain: %v", err)
			}
		}
		if evs[0].Type != station.EventOrderCreated || evs[0].Station != "line-1" || evs[0].User != "op1" {
			t.Fatalf("first line = %+v", evs[0])
		}
	})
	t.Run("From", func(t *testing.T) {
		code, out, _ := run(t, "", "ledger", "export", "--db", path, "--from", "5")
		evs := parseExport(t, out)
		if code != exitOK || len(evs) != n-4 || evs[0].Seq != 5 {
			t.Fatalf("exit=%d, %d lines from seq %d, want %d lines from 5", code, len(evs), evs[0].Seq, n-4)
		}
		code, out, _ = run(t, "", "ledger", "export", "--db", path, "--from", fmt.Sprint(n+1))
		if code != exitOK || out != "" {
			t.Fatalf("past the head: exit=%d, stdout %q, want 0 and nothing", code, out)
		}
	})
}

func parseExport(t *testing.T, out string) []station.Event {
	t.Helper()
	var evs []station.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e station.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// dump returns every projection row (every table but the journal and the
// bookkeeping), with rowids, as text.
func dump(t *testing.T, path string) string {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var tables []string
	rows, err := raw.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT IN ('journal', 'migrations', 'meta') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("projection tables %v: expected at least 5", tables)
	}
	var b strings.Builder
	for _, tb := range tables {
		rows, err := raw.Query(`SELECT rowid, * FROM ` + tb + ` ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "## %s %v\n", tb, cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func TestLedger_Rebuild(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		path, n := MustLedger(t)
		before := dump(t, path)
		if !strings.Contains(before, "S1") || !strings.Contains(before, "(00)"+testSSCC) {
			t.Fatalf("projections look empty:\n%s", before)
		}
		// Wreck the projections; the journal is untouched.
		raw, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`UPDATE serials SET state = 'voided'`, `DELETE FROM aggregation`, `UPDATE orders SET printed = 0, state = 'closed'`, `DELETE FROM order_rejects`, `DELETE FROM pools`} {
			if _, err := raw.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		raw.Close()
		if dump(t, path) == before {
			t.Fatal("wrecking the projections changed nothing")
		}
		code, out, errOut := run(t, "", "ledger", "rebuild", "--db", path)
		if code != exitOK {
			t.Fatalf("exit=%d: %s", code, errOut)
		}
		if want := fmt.Sprintf("from %d events (last seq %d)", n, n); !strings.Contains(out, want) {
			t.Fatalf("stdout %q lacks %q", out, want)
		}
		if after := dump(t, path); after != before {
			t.Fatalf("projections after rebuild differ:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	t.Run("ErrBrokenJournal", func(t *testing.T) {
		path, _ := MustLedger(t)
		tamper(t, path, `DELETE FROM journal WHERE seq = 3`)
		before := dump(t, path)
		code, _, errOut := run(t, "", "ledger", "rebuild", "--db", path)
		if code != exitFail || !strings.Contains(errOut, "seq 3: missing") {
			t.Fatalf("exit=%d, stderr %q: want 1 naming seq 3", code, errOut)
		}
		if after := dump(t, path); after != before {
			t.Fatal("a failed rebuild changed the projections")
		}
	})
}

func TestLedger_Usage(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	raw, err := sql.Open("sqlite3", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoCommand", []string{"ledger"}, exitUsage, "ledger needs a command"},
		{"UnknownCommand", []string{"ledger", "frob"}, exitUsage, `unknown ledger command "frob"`},
		{"NoDB", []string{"ledger", "verify"}, exitUsage, "--db FILE is required"},
		{"ExtraArg", []string{"ledger", "export", "--db", missing, "x"}, exitUsage, `unexpected argument "x"`},
		{"BadFrom", []string{"ledger", "export", "--db", missing, "--from", "0"}, exitUsage, "seqs start at 1"},
		{"MissingVerify", []string{"ledger", "verify", "--db", missing}, exitFail, "does not exist"},
		{"MissingExport", []string{"ledger", "export", "--db", missing}, exitFail, "does not exist"},
		{"MissingRebuild", []string{"ledger", "rebuild", "--db", missing}, exitFail, "does not exist"},
		{"JunkVerify", []string{"ledger", "verify", "--db", junk}, exitFail, "is not a linestation ledger"},
		{"OtherDBVerify", []string{"ledger", "verify", "--db", other}, exitFail, "is not a linestation ledger: it has no migrations table"},
		{"OtherDBRebuild", []string{"ledger", "rebuild", "--db", other}, exitFail, "is not a linestation ledger"},
		{"Directory", []string{"ledger", "verify", "--db", dir}, exitFail, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit=%d stderr=%q, want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("a command created %s (stat: %v)", missing, err)
	}
	raw, _ = sql.Open("sqlite3", "file:"+other+"?mode=ro")
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the other database has %d schema objects (%v), want its 1 table untouched", n, err)
	}

	t.Run("Help", func(t *testing.T) {
		for _, args := range [][]string{{"ledger", "--help"}, {"ledger", "verify", "--help"}, {"ledger", "export", "-h"}, {"ledger", "rebuild", "--help"}} {
			code, out, _ := run(t, "", args...)
			if code != exitOK || !strings.Contains(out, "Usage: linestation ledger") {
				t.Fatalf("%v: exit=%d stdout=%q, want 0 and the usage", args, code, out)
			}
		}
	})
}
