package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

// TestMain doubles as the crash test's child process: with crashChildEnv
// set, the test binary appends events until it is killed (see crash_test.go).
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

// Fixtures: valid identifiers (check digits included).
const (
	testGTIN     = "00300010123455" // unit, NDC 0001-0123-45
	testCaseGTIN = "10300010123452" // case of the same product
	testSSCC     = "403000112345678901"
	testOrder    = "PO-1"
	testUser     = "op1"
	testStation  = "line-1"
)

// testClock is a station.Clock whose time the test sets; every reading
// advances it by Tick so events get distinct times.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	Tick   time.Duration
	State  station.ClockState
	Offset time.Duration
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), Tick: time.Millisecond, State: station.ClockSynced, Offset: 1500 * time.Microsecond}
}

// Now implements station.Clock.
func (c *testClock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.Tick)
	return station.Time{UTC: c.now, Offset: c.Offset, State: c.State}
}

// Set moves the clock to t (which may be earlier: a step back).
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// SetState changes the clock state of the following readings.
func (c *testClock) SetState(s station.ClockState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.State = s
}

// MustOpenDB creates a ledger in a temp dir through the production Open and
// closes it at the end of the test.
func MustOpenDB(tb testing.TB, clock station.Clock) *DB {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "ledger.db"), Options{Station: testStation, Clock: clock, Create: true})
}

// MustOpenPath opens path with opts and closes it at the end of the test.
func MustOpenPath(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close %s: %v", path, err)
		}
	})
	return db
}

// MustAppend appends evs and fails the test on error.
func MustAppend(tb testing.TB, db *DB, evs ...station.NewEvent) []station.Event {
	tb.Helper()
	out, err := db.Append(context.Background(), evs...)
	if err != nil {
		tb.Fatalf("append %d events: %v", len(evs), err)
	}
	if len(out) != len(evs) {
		tb.Fatalf("append returned %d events, want %d", len(out), len(evs))
	}
	return out
}

// ev is shorthand for a NewEvent by testUser.
func ev(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: testUser} }

// serials returns n distinct serials with a prefix.
func serials(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return out
}

// MustSetupOrder creates testOrder and reserves serials for testGTIN.
func MustSetupOrder(tb testing.TB, db *DB, ss []string) {
	tb.Helper()
	MustAppend(tb, db,
		ev(station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "L1", Expiry: "270600", Quantity: 1000}),
		ev(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"}))
}

// rawDB opens the file with the plain driver, as an attacker or a person at
// the sqlite3 shell would: no triggers are bypassed unless the test drops them.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// dumpProjections returns every row (with its rowid) of every projection
// table as text, for comparing projections before and after a rebuild.
func dumpProjections(tb testing.TB, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) string {
	tb.Helper()
	var b strings.Builder
	for _, t := range projectionTables() {
		rows, err := q.QueryContext(context.Background(), `SELECT rowid, * FROM `+t+` ORDER BY rowid`)
		if err != nil {
			tb.Fatalf("dump %s: %v", t, err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "## %s %v\n", t, cols)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatalf("dump %s: %v", t, err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				if i > 0 {
					b.WriteByte('|')
				}
				fmt.Fprint(&b, v)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			tb.Fatalf("dump %s: %v", t, err)
		}
		rows.Close()
	}
	return b.String()
}

// quietLogger drops the ledger's log lines in tests.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
