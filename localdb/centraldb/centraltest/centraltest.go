// Package centraltest helps the tests and benchmarks of the central store,
// the central service and the uplink: it makes realistic station journals,
// either appended through a real station ledger (localdb) or chained in
// memory, and opens real stores under a test's temp dir.
package centraltest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// Fixtures: a US product (NDC 0001-0123-45) with valid check digits.
const (
	GTIN     = "00300010123455"
	CaseGTIN = "10300010123452"
	Lot      = "L2026A"
	Expiry   = "270600"
)

// Product returns the fixtures' product: US market, NDC 0001-0123-45, cases
// of 10 by GTIN and pallets of 40 cases by SSCC.
func Product() station.Product {
	return station.Product{GTIN: GTIN, NDC: "0001-0123-45", Name: "Testacillin 10 mg tablets", DosageForm: "tablet", Strength: "10 mg",
		NetContent: "30 tablets", Manufacturer: "Test Pharma Inc.", Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
		Levels: []station.PackagingLevel{{Level: station.LevelCase, GTIN: CaseGTIN, Quantity: 10}, {Level: station.LevelPallet, SSCC: true, Quantity: 40}}}
}

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Clock is a station clock for tests: system time, synced. Readings never
// repeat a time (each is at least 1µs after the last), like a real station.
type Clock struct {
	mu   sync.Mutex
	last time.Time
	// Base, when set, replaces the system clock: readings start there and
	// advance by Tick per reading (deterministic journals).
	Base time.Time
	Tick time.Duration
}

// Now implements station.Clock.
func (c *Clock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	if !c.Base.IsZero() {
		if c.last.IsZero() {
			t = c.Base
		} else {
			t = c.last.Add(max(c.Tick, time.Microsecond))
		}
	} else {
		t = time.Now().UTC().Truncate(time.Microsecond)
		if !t.After(c.last) {
			t = c.last.Add(time.Microsecond)
		}
	}
	c.last = t
	return station.Time{UTC: t, State: station.ClockSynced}
}

// MustStore opens a new central store in a temp dir and closes it at the end.
func MustStore(tb testing.TB) *centraldb.DB {
	tb.Helper()
	return MustStorePath(tb, filepath.Join(tb.TempDir(), "central.db"))
}

// MustStorePath opens (creating) the central store at path and closes it at the end.
func MustStorePath(tb testing.TB, path string) *centraldb.DB {
	tb.Helper()
	db, err := centraldb.Open(context.Background(), path, centraldb.Options{Create: true, Logger: Quiet()})
	if err != nil {
		tb.Fatalf("open central store %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close central store: %v", err)
		}
	})
	return db
}

// MustLedger opens (creating) a station ledger at path and closes it at the end.
func MustLedger(tb testing.TB, path, stationID string, clock station.Clock) *localdb.DB {
	tb.Helper()
	if clock == nil {
		clock = &Clock{}
	}
	db, err := localdb.Open(context.Background(), path, localdb.Options{Station: stationID, Clock: clock, Create: true, Logger: Quiet()})
	if err != nil {
		tb.Fatalf("open ledger %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close ledger %s: %v", path, err)
		}
	})
	return db
}

// Producer makes a line's journal: one order, pools of local serials, and
// for each unit allocated, printed, verified and commissioned (every 50th
// rejected), ten units packed into a case with an SSCC. Serials start with
// Prefix, which keeps stations apart; SSCCs use SSCCBase (up to 7 digits).
type Producer struct {
	Order    string
	Prefix   string // serial prefix, e.g. "S1-"; with the counter at most 20 characters
	SSCCBase int    // distinguishes stations' SSCCs
	User     string

	started bool
	unit    int // units made
	cases   int
	pool    []string
	loose   []station.Item
}

// Next returns the next appends of the journal, each a slice of events
// recorded atomically (one Append call).
func (p *Producer) Next() [][]station.NewEvent {
	user := p.User
	if user == "" {
		user = "op1"
	}
	ev := func(pl station.Payload) station.NewEvent { return station.NewEvent{Payload: pl, User: user} }
	var out [][]station.NewEvent
	if !p.started {
		p.started = true
		out = append(out,
			[]station.NewEvent{ev(station.OrderCreated{Order: p.Order, GTIN: GTIN, Lot: Lot, Expiry: Expiry, Quantity: 1_000_000, Line: "line"})},
			[]station.NewEvent{ev(station.OrderStateChanged{Order: p.Order, From: station.OrderPlanned, To: station.OrderReleased})},
			[]station.NewEvent{ev(station.OrderStateChanged{Order: p.Order, From: station.OrderReleased, To: station.OrderRunning})})
	}
	if len(p.pool) == 0 {
		ss := make([]string, 100)
		for i := range ss {
			ss[i] = fmt.Sprintf("%s%07d", p.Prefix, p.unit+i)
		}
		p.pool = ss
		out = append(out, []station.NewEvent{ev(station.PoolReserved{GTIN: GTIN, Serials: ss, Source: "local"})})
	}
	s := p.pool[0]
	p.pool = p.pool[1:]
	p.unit++
	out = append(out,
		[]station.NewEvent{ev(station.UnitAllocated{GTIN: GTIN, Serial: s, Order: p.Order})},
		[]station.NewEvent{ev(station.UnitPrinted{GTIN: GTIN, Serial: s, Device: "printer-1"})})
	if p.unit%50 == 0 {
		out = append(out, []station.NewEvent{ev(station.UnitRejected{GTIN: GTIN, Serial: s, Reason: station.RejectLowGrade, Device: "camera-1", Detail: "grade D"})})
		return out
	}
	out = append(out, []station.NewEvent{
		ev(station.UnitVerified{GTIN: GTIN, Serial: s, Device: "camera-1", Read: "(01)" + GTIN + "(17)" + Expiry + "(10)" + Lot + "(21)" + s, Grade: "A"}),
		ev(station.UnitCommissioned{GTIN: GTIN, Serial: s, Device: "camera-1"}),
	})
	p.loose = append(p.loose, station.SGTIN(GTIN, s))
	if len(p.loose) == 10 {
		p.cases++
		sscc := SSCC(p.SSCCBase, p.cases)
		out = append(out, []station.NewEvent{
			ev(station.SSCCAllocated{SSCC: sscc, Level: station.LevelCase, Order: p.Order}),
			ev(station.AggregationPacked{Parent: station.SSCCItem(sscc), Level: station.LevelCase, Children: p.loose}),
		})
		p.loose = nil
	}
	return out
}

// Produce appends to db until at least n more events are recorded, and
// returns how many were.
func (p *Producer) Produce(ctx context.Context, db *localdb.DB, n int) (int, error) {
	done := 0
	for done < n {
		for _, evs := range p.Next() {
			out, err := db.Append(ctx, evs...)
			if err != nil {
				return done, err
			}
			done += len(out)
		}
	}
	return done, nil
}

// SSCC returns a valid SSCC: extension 4, company prefix 0300010, then base
// (7 digits) and n (3 digits), then the check digit.
func SSCC(base, n int) string {
	s, err := gs1.AppendCheckDigit(fmt.Sprintf("40300010%06d%03d", base%1_000_000, n%1000))
	if err != nil {
		panic(err) // digits only: cannot happen
	}
	return s
}

// Journal returns n events of a station's journal chained in memory, as a
// station's ledger would record them (same catalogue, same hashes), for
// benchmarks that must not time the station side. Times start at t0 and
// advance 1µs per event.
func Journal(stationID string, p *Producer, n int, t0 time.Time) ([]station.Event, error) {
	out := make([]station.Event, 0, n+8)
	prev := station.Head{Hash: station.GenesisHash}
	t := t0.UTC()
	for len(out) < n {
		for _, evs := range p.Next() {
			for _, ne := range evs {
				typ, raw, _, err := station.CanonicalPayload(ne.Type, ne.Payload)
				if err != nil {
					return nil, err
				}
				t = t.Add(time.Microsecond)
				e := station.Event{Seq: prev.Seq + 1, ID: station.NewEventID(t), Station: stationID, Type: typ, Payload: raw,
					Time: t, ClockState: station.ClockSynced, User: ne.User, PrevHash: prev.Hash}
				e.Hash = e.ComputeHash()
				prev = station.Head{Seq: e.Seq, Hash: e.Hash, Time: t}
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// AllEvents reads a whole journal from a ledger.
func AllEvents(ctx context.Context, db *localdb.DB) ([]station.Event, error) {
	var out []station.Event
	for from := int64(1); ; {
		evs, err := db.Events(ctx, from, 5000)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if len(evs) < 5000 {
			return out, nil
		}
		from = evs[len(evs)-1].Seq + 1
	}
}

// AllStored reads a station's whole journal from the central store.
func AllStored(ctx context.Context, db *centraldb.DB, stationID string) ([]station.Event, error) {
	var out []station.Event
	for from := int64(1); ; {
		evs, err := db.Events(ctx, stationID, from, 5000)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if len(evs) < 5000 {
			return out, nil
		}
		from = evs[len(evs)-1].Seq + 1
	}
}

// SameJournal returns "" when a and b hold the same events (seq, id, hash
// and every hashed field), else what differs first.
func SameJournal(a, b []station.Event) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d events against %d", len(a), len(b))
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Seq != y.Seq || x.ID != y.ID || x.Hash != y.Hash || x.PrevHash != y.PrevHash || string(x.Payload) != string(y.Payload) ||
			!x.Time.Equal(y.Time) || x.Type != y.Type || x.User != y.User || x.ClockState != y.ClockState || x.ClockOffset != y.ClockOffset || x.Station != y.Station {
			return fmt.Sprintf("event %d differs: seq %d %s %.12s… against seq %d %s %.12s…", i, x.Seq, x.Type, x.Hash, y.Seq, y.Type, y.Hash)
		}
	}
	return ""
}
