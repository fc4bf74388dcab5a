package station_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/station/gs1"
)

// Fixtures: a US product with NDC 0001-0123-45.
const (
	unitGTIN = "00300010123455"
	caseGTIN = "10300010123452"
	testLine = "line-1"
	pin      = "246810"
)

// lightParams keep argon2id fast in tests (a real station uses the defaults).
var lightParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

// testClock is a station clock the test controls: every reading advances it
// by a millisecond; its state can be set.
type testClock struct {
	mu    sync.Mutex
	now   time.Time
	state station.ClockState
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), state: station.ClockSynced}
}

func (c *testClock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	t := station.Time{UTC: c.now, State: c.state, LastSync: c.now}
	if c.state == station.ClockUnsynced {
		t.Reason = "test: no time server answers"
	}
	return t
}

func (c *testClock) SetState(s station.ClockState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// world is a station with a real ledger, a product, users and a service.
type world struct {
	t       testing.TB
	ctx     context.Context
	db      *localdb.DB
	clock   *testClock
	svc     *station.Service
	printer *fakePrinter
	product station.Product
}

// MustWorld opens a ledger in a temp dir and a service over it, defines the
// test product and the users admin, sup, qa, op and pack (PIN 246810).
func MustWorld(tb testing.TB, pool station.PoolPolicy) *world {
	tb.Helper()
	return mustWorldConfig(tb, pool, nil)
}

// mustWorldConfig is MustWorld with the service's config changed by set.
func mustWorldConfig(tb testing.TB, pool station.PoolPolicy, set func(*station.Config)) *world {
	tb.Helper()
	ctx := context.Background()
	clock := newTestClock()
	db, err := localdb.Open(ctx, filepath.Join(tb.TempDir(), "station.db"), localdb.Options{Station: "station-1", Clock: clock, Create: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	printer := &fakePrinter{}
	cfg := station.Config{Ledger: db, Clock: clock, Line: testLine, Printer: printer, Pool: pool,
		Auth: station.AuthPolicy{Params: lightParams}, Logger: slog.New(slog.DiscardHandler)}
	if set != nil {
		set(&cfg)
	}
	svc, err := station.NewService(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		svc.Close()
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	w := &world{t: tb, ctx: ctx, db: db, clock: clock, svc: svc, printer: printer, product: testProduct()}
	must(tb, svc.ImportProduct(ctx, w.product))
	for _, u := range []station.User{
		{ID: "admin", Name: "Ada Admin", Roles: []station.Role{station.RoleAdmin}, Active: true},
		{ID: "sup", Name: "Sam Supervisor", Roles: []station.Role{station.RoleSupervisor}, Badge: "B-SUP", Active: true},
		{ID: "qa", Name: "Quinn QA", Roles: []station.Role{station.RoleQA}, Active: true},
		{ID: "op", Name: "Olga Operator", Roles: []station.Role{station.RoleOperator}, Badge: "B-OP", Active: true},
		{ID: "pack", Name: "Pat Packer", Roles: []station.Role{station.RolePacker}, Active: true},
	} {
		must(tb, svc.ImportUser(ctx, u))
		hash, err := auth.Hash(pin, lightParams)
		must(tb, err)
		must(tb, svc.ImportCredential(ctx, u.ID, station.CredentialPIN, hash))
	}
	return w
}

// testProduct: units, cases of 40 (SSCC), pallets of 5 cases.
func testProduct() station.Product {
	return station.Product{
		GTIN: unitGTIN, NDC: "0001-0123-45", Name: "Examplamol 500 mg tablets", DosageForm: "tablet, film coated",
		Strength: "500 mg", NetContent: "30 tablets", Manufacturer: "Example Pharma Inc.",
		Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
		Levels: []station.PackagingLevel{
			{Level: station.LevelCase, SSCC: true, Quantity: 40, Extension: 0},
			{Level: station.LevelPallet, SSCC: true, Quantity: 5, Extension: 1},
		},
	}
}

// MustOrder imports, releases an order and fills the pool with n serials.
func (w *world) MustOrder(id string, qty int, serials int) {
	w.t.Helper()
	must(w.t, w.svc.ImportOrder(w.ctx, station.Order{ID: id, GTIN: unitGTIN, Lot: "LOT-" + id, Expiry: "280600", Quantity: qty,
		Line: testLine, ExpectedYield: 0.98}))
	must(w.t, w.svc.ReleaseOrder(w.ctx, "sup", id))
	if serials > 0 {
		must(w.t, w.svc.Pools().Fill(w.ctx, unitGTIN, serials))
	}
}

func (w *world) sig(user string, m station.Meaning, reason string) *station.SignRequest {
	return &station.SignRequest{User: user, Secret: pin, Meaning: m, Reason: reason}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// wantErr fails unless err has code and its message contains want.
func wantErr(tb testing.TB, err error, code, want string) {
	tb.Helper()
	if station.ErrorCode(err) != code || !strings.Contains(station.ErrorMessage(err), want) {
		tb.Fatalf("err = %v, want %s containing %q", err, code, want)
	}
}

// unitScan is the scanner output of a unit's DataMatrix.
func unitScan(o station.OrderStatus, serial string) string {
	return "]d2" + "01" + o.GTIN + "17" + o.Expiry + "10" + o.Lot + "\x1d21" + serial
}

// checkScan makes sure a scan string parses as GS1 (a test helper's guard).
func checkScan(tb testing.TB, s string) {
	tb.Helper()
	if _, err := gs1.ParseScanData(s); err != nil {
		tb.Fatalf("test scan %q: %v", s, err)
	}
}

// fakePrinter is a label printer that confirms every label unless told to fail.
type fakePrinter struct {
	mu     sync.Mutex
	labels []station.Label
	fail   error
}

func (p *fakePrinter) Health() station.Health {
	return station.Health{Device: "label-printer", Kind: "printer", State: station.DeviceConnected}
}

func (p *fakePrinter) Print(ctx context.Context, l station.Label) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.labels = append(p.labels, l)
	return nil
}

func (p *fakePrinter) Status(ctx context.Context) (station.PrinterStatus, error) {
	return station.PrinterStatus{}, nil
}

func (p *fakePrinter) Labels() []station.Label {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]station.Label(nil), p.labels...)
}
