package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	"github.com/linestation/linestation/uplink/backup/backuptest"
)

// TestMain doubles as the drill's station process (see drill_test.go) and
// stops the shared MinIO server at the end.
func TestMain(m *testing.M) {
	if os.Getenv(drillChildEnv) != "" {
		os.Exit(drillChild())
	}
	code := m.Run()
	backuptest.StopShared()
	os.Exit(code)
}

// MustMinIO starts a MinIO server of the test's own (with extra
// environment), stopped at the end of the test.
func MustMinIO(tb testing.TB, env ...string) *backuptest.Server { return backuptest.Start(tb, env...) }

// SharedMinIO returns the package's MinIO server (stopped by TestMain).
func SharedMinIO(tb testing.TB) *backuptest.Server { return backuptest.Shared(tb) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// bucketName is a fresh bucket name for the test.
func bucketName(tb testing.TB) string {
	name := strings.ToLower(tb.Name())
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return strings.Trim("t-"+name, "-") + "-" + randomHex(4)
}

// testConfig is a Config for srv at s3://bucket/stations/line-1.
func testConfig(srv *backuptest.Server, bucket string) Config {
	return Config{
		URL:             "s3://" + bucket + "/stations/" + testStation,
		Endpoint:        srv.Endpoint,
		AccessKeyID:     srv.User,
		SecretAccessKey: srv.Password,
		Region:          DefaultRegion,
		PartSize:        MinPartSize,
		Attempts:        3,
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// MustStore opens a Store for cfg with a quiet logger.
func MustStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	s, err := Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.Logger = quietLogger()
	s.backoff = 20 * time.Millisecond
	return s
}

const (
	testStation = "line-1"
	testGTIN    = "00300010123455"
	testUser    = "op1"
	testOrder   = "PO-1"
)

// testClock is a station.Clock that advances by Tick on every reading.
type testClock struct {
	mu   sync.Mutex
	now  time.Time
	Tick time.Duration
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), Tick: time.Millisecond}
}

// Now implements station.Clock.
func (c *testClock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.Tick)
	return station.Time{UTC: c.now, Offset: 1500 * time.Microsecond, State: station.ClockSynced}
}

// MustLedger creates a station ledger under a temp dir.
func MustLedger(tb testing.TB, clock station.Clock) *localdb.DB {
	tb.Helper()
	return MustLedgerAt(tb, filepath.Join(tb.TempDir(), "station.db"), clock)
}

// MustLedgerAt opens (creating) the ledger at path, closed at the end of
// the test.
func MustLedgerAt(tb testing.TB, path string, clock station.Clock) *localdb.DB {
	tb.Helper()
	db, err := localdb.Open(context.Background(), path, localdb.Options{Station: testStation, Clock: clock, Create: true, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// workload produces a line's events: an order, pools of serials, and each
// unit allocated, printed and commissioned. Next returns the next n events.
type workload struct {
	started bool
	serial  int // serials reserved so far
	unit    int // next unit to move
	step    int // 0 allocate, 1 print, 2 commission
}

const poolSize = 500

func (w *workload) Next(n int) []station.NewEvent {
	ne := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: testUser} }
	out := make([]station.NewEvent, 0, n)
	for len(out) < n {
		switch {
		case !w.started:
			out = append(out, ne(station.OrderCreated{Order: testOrder, GTIN: testGTIN, Lot: "L2026-03", Expiry: "280300", Quantity: 10_000_000}))
			w.started = true
		case w.unit == w.serial:
			ss := make([]string, poolSize)
			for i := range ss {
				ss[i] = fmt.Sprintf("S%09d", w.serial+i)
			}
			out = append(out, ne(station.PoolReserved{GTIN: testGTIN, Serials: ss, Source: "central"}))
			w.serial += poolSize
		default:
			s := fmt.Sprintf("S%09d", w.unit)
			switch w.step {
			case 0:
				out = append(out, ne(station.UnitAllocated{GTIN: testGTIN, Serial: s, Order: testOrder}))
			case 1: // a device name with characters JSON escapes: the bytes must survive
				out = append(out, ne(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "printer<1>&"}))
			case 2:
				out = append(out, ne(station.UnitCommissioned{GTIN: testGTIN, Serial: s, Device: "camera-1"}))
				w.unit++
			}
			w.step = (w.step + 1) % 3
		}
	}
	return out
}

// MustAppendN appends n workload events in batches.
func MustAppendN(tb testing.TB, db *localdb.DB, w *workload, n int) {
	tb.Helper()
	for n > 0 {
		k := min(n, 500)
		if _, err := db.Append(context.Background(), w.Next(k)...); err != nil {
			tb.Fatalf("append: %v", err)
		}
		n -= k
	}
}

// restoreLedger adapts localdb.DB to Ledger, as cmd does.
type restoreLedger struct{ db *localdb.DB }

func (l restoreLedger) Station() string { return l.db.Station() }
func (l restoreLedger) Head(ctx context.Context) (station.Head, error) {
	return l.db.Head(ctx)
}
func (l restoreLedger) Import(ctx context.Context, evs []station.Event) (station.Head, error) {
	st, err := l.db.Import(ctx, evs)
	return st.Head, err
}
func (l restoreLedger) Verify(ctx context.Context) error {
	rep, err := l.db.Verify(ctx)
	if err != nil {
		return err
	}
	if rep.Break != nil {
		return rep.Break
	}
	if len(rep.Integrity) > 0 {
		return errors.New(strings.Join(rep.Integrity, "; "))
	}
	return nil
}
func (l restoreLedger) Close() error {
	err := l.db.Checkpoint(context.Background())
	if cerr := l.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func openRestored(ctx context.Context, path string) (Ledger, error) {
	db, err := localdb.Open(ctx, path, localdb.Options{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	return restoreLedger{db}, nil
}

// allEvents reads the whole journal of db.
func allEvents(tb testing.TB, db *localdb.DB) []station.Event {
	tb.Helper()
	var out []station.Event
	for next := int64(1); ; {
		evs, err := db.Events(context.Background(), next, 2000)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, evs...)
		if len(evs) < 2000 {
			return out
		}
		next = evs[len(evs)-1].Seq + 1
	}
}
