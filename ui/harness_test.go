package ui

import (
	"context"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/station/stationtest"
)

// The screen-flow tests run the kiosk on Fyne's test driver against a real
// ledger (SQLite in t.TempDir()), the real station service, and in-process
// fakes of the line devices below. Background work reports to the screen
// through Kiosk.do; here that is a queue the test goroutine drains (the
// test is the Fyne goroutine), so that widgets are only ever touched by one
// goroutine, as in the app.

// Fixtures: a US product with NDC 0001-0123-45, cases of 4 (SSCC) and
// pallets of 2 cases, sequential serials so that markup is the same on
// every run.
const (
	unitGTIN = "00300010123455"
	testLine = "line-1"
	pin      = "246810"
)

var lightParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

// testNow is the time of every test: the ledger's clock and the screen's.
var testNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// testClock is a station clock the test controls.
type testClock struct {
	mu    sync.Mutex
	now   time.Time
	state station.ClockState
}

func (c *testClock) Now() station.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := station.Time{UTC: c.now, State: c.state, LastSync: c.now}
	if c.state != station.ClockSynced {
		t.Reason = "test: no time server answers"
	}
	return t
}

func (c *testClock) set(s station.ClockState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// loop is the test's Fyne goroutine: background work queues functions,
// the test runs them.
type loop struct {
	mu sync.Mutex
	fs []func()
}

func (l *loop) post(f func()) {
	l.mu.Lock()
	l.fs = append(l.fs, f)
	l.mu.Unlock()
}

// drain runs what is queued; it reports whether it ran anything.
func (l *loop) drain() bool {
	l.mu.Lock()
	fs := l.fs
	l.fs = nil
	l.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return len(fs) > 0
}

// harness is a kiosk on the test driver over a real ledger.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *localdb.DB
	svc   *station.Service
	clock *testClock
	w     fyne.Window
	k     *Kiosk
	loop  *loop
	now   atomic.Pointer[time.Time] // the screen's time

	printer *fakePrinter
	coder   *stationtest.Coder
	camera  *stationtest.Camera
	plc     *stationtest.PLC
	scanner *fakeScanner
}

type harnessOpts struct {
	size     fyne.Size
	language string
	deps     func(*Deps)
	orderQty int // 0: no order
	inbound  station.Inbound
}

// MustKiosk opens a ledger with the fixtures (product, users admin, sup,
// qa, op, pack with PIN 246810, order PO-1 released to line-1 with 200
// serials in the pool) and builds the kiosk on a test window.
func MustKiosk(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.size.IsZero() {
		o.size = fyne.NewSize(1024, 768)
	}
	if o.orderQty == 0 {
		o.orderQty = 20
	}
	ctx := context.Background()
	clock := &testClock{now: testNow, state: station.ClockSynced}
	db, err := localdb.Open(ctx, filepath.Join(t.TempDir(), "station.db"), localdb.Options{Station: "station-1", Clock: clock, Create: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, db: db, clock: clock, loop: &loop{},
		printer: &fakePrinter{}, coder: stationtest.NewCoder(1000), camera: stationtest.NewCamera(1000), plc: stationtest.NewPLC(), scanner: newFakeScanner()}
	// The same stamps on every run, for the rendered screens.
	h.coder.Now = func() time.Time { return testNow }
	h.camera.Now = func() time.Time { return testNow }
	svc, err := station.NewService(station.Config{Ledger: db, Clock: clock, Line: testLine, Printer: h.printer,
		Pool:    station.PoolPolicy{LowWater: 10, Batch: 200},
		Auth:    station.AuthPolicy{Params: lightParams, MaxFailures: 3, IdleTimeout: 5 * time.Minute},
		Inbound: o.inbound, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	must(t, svc.ImportProduct(ctx, testProduct()))
	for _, u := range []station.User{
		{ID: "admin", Name: "Ada Admin", Roles: []station.Role{station.RoleAdmin}, Active: true},
		{ID: "sup", Name: "Sam Supervisor", Roles: []station.Role{station.RoleSupervisor}, Badge: "B-SUP", Active: true},
		{ID: "qa", Name: "Quinn QA", Roles: []station.Role{station.RoleQA}, Active: true},
		{ID: "op", Name: "Olga Operator", Roles: []station.Role{station.RoleOperator}, Badge: "B-OP", Active: true},
		{ID: "pack", Name: "Pat Packer", Roles: []station.Role{station.RolePacker}, Active: true},
		{ID: "jonas", Name: "Jonas Bediener", Roles: []station.Role{station.RoleOperator}, Active: true, Language: "de"},
	} {
		must(t, svc.ImportUser(ctx, u))
		hash, err := auth.Hash(pin, lightParams)
		must(t, err)
		must(t, svc.ImportCredential(ctx, u.ID, station.CredentialPIN, hash))
	}
	must(t, svc.ImportOrder(ctx, station.Order{ID: "PO-1", GTIN: unitGTIN, Lot: "L2603A", Expiry: "280600", Quantity: o.orderQty, Line: testLine}))
	must(t, svc.Pools().Fill(ctx, unitGTIN, 200))
	must(t, svc.ReleaseOrder(ctx, "sup", "PO-1"))

	now := testNow
	h.now.Store(&now)
	a := test.NewTempApp(t)
	h.w = test.NewTempWindow(t, nil)
	h.w.Resize(o.size)
	d := Deps{Service: svc, Station: "station-1", Line: testLine, Language: o.language,
		Printer: h.printer, Coder: h.coder, Camera: h.camera, Scanner: h.scanner, PLC: h.plc, Clock: clock,
		Partners: []Partner{{Name: "Example Wholesale", GLN: "0614141000005", ShipTo: "0614141000012"}},
		ShipFrom: "0300010000008", Owner: "0300010000015",
		Now: func() time.Time { return *h.now.Load() }, Location: time.UTC,
		PollEvery: 20 * time.Millisecond, HangAfter: 200 * time.Millisecond, NotifyEvery: 10 * time.Millisecond,
		Quit: func() {}, Logger: slog.New(slog.DiscardHandler)}
	if o.deps != nil {
		o.deps(&d)
	}
	k, err := New(a, h.w, d)
	if err != nil {
		t.Fatal(err)
	}
	k.do = h.loop.post
	h.k = k
	h.w.SetContent(k.Content())
	t.Cleanup(func() {
		// Stop the background work and the run; what they still post to
		// the screen is dropped with the queue.
		k.cancel()
		k.wg.Wait()
		if k.run != nil {
			k.run.Close()
		}
		svc.Close()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
		k.setLanguage("en") // back to English for the next test
	})
	return h
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// testProduct: units, cases of 4 (SSCC), pallets of 2 cases (SSCC).
func testProduct() station.Product {
	return station.Product{
		GTIN: unitGTIN, NDC: "0001-0123-45", Name: "Examplamol 500 mg tablets", DosageForm: "tablet, film coated",
		Strength: "500 mg", NetContent: "30 tablets", Manufacturer: "Example Pharma Inc.",
		Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
		Serial: station.SerialScheme{Sequential: true, Length: 8, Start: 1},
		Levels: []station.PackagingLevel{
			{Level: station.LevelCase, SSCC: true, Quantity: 4, Extension: 0},
			{Level: station.LevelPallet, SSCC: true, Quantity: 2, Extension: 1},
		},
	}
}

// settle runs the screen's queued work until no station call is under way.
func (h *harness) settle() {
	h.t.Helper()
	h.until("the screen settles", func() bool { return h.k.busy == 0 })
}

// until runs the screen's queued work until cond holds (checked on the
// test's Fyne goroutine), or fails after 10 s.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.loop.drain()
		if cond() {
			h.loop.drain()
			if cond() {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting until %s; message bar: %q", what, h.k.message.Text)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tap taps a button and lets the screen settle.
func (h *harness) tap(b *widget.Button) {
	h.t.Helper()
	if b.Disabled() {
		h.t.Fatalf("button %q is disabled", b.Text)
	}
	test.Tap(b)
	h.settle()
}

// signIn signs user in with the keypad.
func (h *harness) signIn(user string) {
	h.t.Helper()
	s := h.k.signin
	if s == nil || h.k.session != nil {
		h.t.Fatalf("not on the sign-in screen")
	}
	test.Type(s.user, user)
	for _, d := range pin {
		test.Tap(s.keypad.keys[string(d)])
	}
	test.Tap(s.keypad.keys["enter"])
	h.settle()
	if h.k.session == nil || h.k.session.User.ID != user {
		h.t.Fatalf("%s is not signed in: %q / %q", user, s.msg.Text, h.k.message.Text)
	}
}

// sign fills the signature dialog shown and signs it.
func (h *harness) sign(user, secret, reason string) {
	h.t.Helper()
	d := h.k.dlg
	if d == nil || d.keypad == nil {
		h.t.Fatalf("no signature dialog is shown")
	}
	d.fields["user"].SetText(user)
	if reason != "" {
		d.fields["reason"].SetText(reason)
	}
	d.keypad.Type(secret)
	test.Tap(d.keypad.keys["enter"])
	h.settle()
}

// scan types a code into a scan field as a keyboard-wedge scanner does
// (characters, then Enter).
func (h *harness) scan(field *widget.Entry, code string) {
	h.t.Helper()
	h.w.Canvas().Focus(field)
	test.Type(field, code)
	field.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.settle()
}

// startLine loads PO-1 (the run screen loads the only released order),
// starts it and waits for the run.
func (h *harness) startLine() {
	h.t.Helper()
	h.k.show(ScreenRun)
	h.settle()
	h.until("PO-1 is loaded", func() bool { return h.k.runScr.info != nil && !h.k.runScr.start.Disabled() })
	h.tap(h.k.runScr.start)
	if h.k.run == nil {
		h.t.Fatalf("the line did not start: %q", h.k.message.Text)
	}
}

// pass moves cartons past the coder and the camera, one at a time, each
// with its fault ("" for a good one), and waits until the run decided
// them all.
func (h *harness) pass(faults ...string) {
	h.t.Helper()
	r := h.k.run
	for _, f := range faults {
		before := r.Snapshot()
		var code station.UnitCode
		deadline := time.Now().Add(10 * time.Second)
		for {
			var ok bool
			if code, ok = h.coder.Print(); ok {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("the coder got no code to print; run %s %q", r.Snapshot().State, r.Snapshot().Reason)
			}
			h.loop.drain()
			time.Sleep(time.Millisecond)
		}
		for r.Snapshot().Acked <= before.Acked {
			h.loop.drain()
			time.Sleep(time.Millisecond)
		}
		read := station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8}
		switch f {
		case "noread":
			read = station.CameraRead{NoRead: true, Grade: station.NoGrade}
		case "lowgrade":
			read.Grade = 1.0
		}
		h.camera.Send(read)
		h.until("the pack is decided", func() bool {
			s := r.Snapshot()
			return s.Commissioned+s.Rejected > before.Commissioned+before.Rejected && s.Deciding == 0
		})
	}
	h.until("the screen shows the run's counters", func() bool {
		s := r.Snapshot()
		return h.k.snap.Version >= s.Version
	})
}

// png writes what the test window shows to $UI_PNG_DIR/name.png when that
// variable is set: a way to look at a screen while working on it.
func (h *harness) png(name string) {
	h.t.Helper()
	dir := os.Getenv("UI_PNG_DIR")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name+".png"))
	must(h.t, err)
	defer f.Close()
	must(h.t, png.Encode(f, h.w.Canvas().Capture()))
}

// commission makes n packs of PO-1 commissioned (as a line run would
// record them) and the order running, and returns their serials.
func (h *harness) commission(n int) []string {
	h.t.Helper()
	ss, err := h.svc.Pools().Allocate(h.ctx, "PO-1", unitGTIN, "op", n)
	must(h.t, err)
	var evs []station.NewEvent
	if o, _ := h.db.Order(h.ctx, "PO-1"); o.State == station.OrderReleased {
		evs = append(evs, station.NewEvent{Payload: station.OrderStateChanged{Order: "PO-1", From: station.OrderReleased, To: station.OrderRunning}, User: "op"})
	}
	for _, sr := range ss {
		evs = append(evs,
			station.NewEvent{Payload: station.UnitPrinted{GTIN: unitGTIN, Serial: sr, Device: "coder-1"}, User: "op"},
			station.NewEvent{Payload: station.UnitCommissioned{GTIN: unitGTIN, Serial: sr, Device: "camera-1"}, User: "op"})
	}
	_, err = h.db.Append(h.ctx, evs...)
	must(h.t, err)
	return ss
}

// conveyor keeps the line moving in the background (good packs) until
// the returned stop is called: while a run completes, the packs queued at
// the coder reach the camera. It does not touch the screen.
func (h *harness) conveyor() (stop func()) {
	r := h.k.run
	base := int64(h.coder.PrintedCount()) - r.Snapshot().Acked // printed before this run
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			code, ok := h.coder.Print()
			if !ok {
				time.Sleep(time.Millisecond)
				continue
			}
			n := int64(h.coder.PrintedCount()) - base
			for r.Snapshot().Acked < n && r.Snapshot().State != station.RunCompleted {
				time.Sleep(100 * time.Microsecond)
			}
			h.camera.Send(station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8})
		}
	}()
	return func() { close(quit); <-done }
}
