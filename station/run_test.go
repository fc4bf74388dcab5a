package station_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// line is a started run with its fakes and conveyor.
type line struct {
	w      *world
	run    *station.Run
	coder  *stationtest.Coder
	camera *stationtest.Camera
	plc    *stationtest.PLC
	cv     *conveyor
	stop   context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	specials []carton
	busy     atomic.Bool // a special carton is being handled: do not resume yet
}

// MustLine starts a run of order with the conveyor applying plan.
func (w *world) MustLine(order string, plan func(int) fault, cfg station.RunConfig) *line {
	w.t.Helper()
	l := &line{w: w, coder: stationtest.NewCoder(100000), camera: stationtest.NewCamera(100000), plc: stationtest.NewPLC(), done: make(chan struct{})}
	cfg.Order, cfg.User, cfg.Coder, cfg.Camera, cfg.Line = order, "op", l.coder, l.camera, l.plc
	if cfg.HealthEvery == 0 {
		cfg.HealthEvery = 20 * time.Millisecond
	}
	run, err := w.svc.StartRun(w.ctx, cfg)
	if err != nil {
		w.t.Fatalf("start run: %v", err)
	}
	l.run = run
	l.cv = &conveyor{coder: l.coder, camera: l.camera, line: l.plc, plan: plan, lag: 6, onSpecial: l.special}
	l.cv.sync = func(printed int) {
		deadline := time.Now().Add(10 * time.Second)
		for l.run.Snapshot().Acked < int64(printed) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Microsecond)
		}
	}
	l.cv.canDrain = func() bool {
		s := l.run.Snapshot()
		return s.Queued == 0 && (s.State != station.RunRunning || s.Remaining-int64(s.Queued+s.InFlight+s.Deciding) <= 0)
	}
	w.t.Cleanup(func() {
		if l.stop != nil {
			l.stop()
			<-l.done
		}
		run.Close()
	})
	return l
}

// Go starts the conveyor.
func (l *line) Go() {
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go func() {
		defer close(l.done)
		l.cv.run(ctx)
	}()
}

// special handles manual and clock cartons: an operator takes a manual one
// off the line; for a clock one, the clock is unsynced while it is read.
func (l *line) special(c carton) {
	l.mu.Lock()
	l.specials = append(l.specials, c)
	l.mu.Unlock()
	switch c.fault {
	case fManual:
		if err := l.run.RejectManual(context.Background(), "op", c.code.Serial, "crushed carton"); err != nil {
			l.w.t.Errorf("manual reject of %s: %v", c.code.Serial, err)
		}
	case fClock:
		l.busy.Store(true)
		defer l.busy.Store(false)
		before := l.run.Snapshot().Rejects[station.RejectClock]
		// let the decisions under way be recorded first, so that the count
		// of clock rejects is exact
		deadline := time.Now().Add(10 * time.Second)
		for s := l.run.Snapshot(); (s.Deciding > 0 || s.Reads < int64(l.camera.Sent())) && time.Now().Before(deadline); s = l.run.Snapshot() {
			time.Sleep(100 * time.Microsecond)
		}
		l.w.clock.SetState(station.ClockUnsynced)
		l.camera.Send(station.CameraRead{Symbology: "]d2", Data: c.code.Data, Grade: 3.8})
		deadline = time.Now().Add(10 * time.Second)
		for l.run.Snapshot().Rejects[station.RejectClock] == before && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// resumeHolds resumes the run whenever it is held for the clock or the
// coder, after fixing the cause, until ctx is done.
func (l *line) resumeHolds(ctx context.Context, t testing.TB) {
	for ctx.Err() == nil {
		s := l.run.Snapshot()
		if (s.State == station.RunHeld || s.State == station.RunStopped) && !l.busy.Load() {
			l.coder.Repair()
			l.w.clock.SetState(station.ClockSynced)
			// wait for every decision before resuming, as an operator would
			if s.Deciding == 0 {
				if err := l.run.Resume(context.Background(), "op"); err != nil && station.ErrorCode(err) != station.ECONFLICT {
					t.Errorf("resume: %v", err)
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRun_Small drives 60 packs with one of each camera fault and checks
// counters, the reject gate and the ledger.
func TestRun_Small(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{LowWater: 10, Batch: 100})
	w.MustOrder("PO-S", 50, 100)
	plan := map[int]fault{5: fNoRead, 9: fWrong, 13: fDup, 17: fLowGrade, 21: fMissing, 30: fEarly, 40: fD1}
	l := w.MustLine("PO-S", func(i int) fault { return plan[i] }, station.RunConfig{AllocateBatch: 16})
	l.Go()
	stationtest.Poll(t, 20*time.Second, "the run commissions 50 packs", func() bool {
		return l.run.Snapshot().State == station.RunDone
	})
	s := l.run.Snapshot()
	want := map[station.RejectReason]int64{station.RejectNoRead: 1, station.RejectWrongContent: 2, station.RejectDuplicate: 1,
		station.RejectLowGrade: 1, station.RejectMissing: 1, station.RejectOutOfSequence: 1}
	if fmt.Sprint(s.Rejects) != fmt.Sprint(want) || s.Commissioned != 50 || s.Rejected != 7 {
		t.Fatalf("snapshot: commissioned %d rejected %d rejects %v, want 50, 7, %v", s.Commissioned, s.Rejected, s.Rejects, want)
	}
	if got := len(l.plc.Rejects()); got != 7 {
		t.Fatalf("reject gate got %d packs, want 7: %v", got, l.plc.Rejects())
	}
	must(t, l.run.Complete(w.ctx, "op"))
	o, err := w.svc.Order(w.ctx, "PO-S")
	must(t, err)
	if o.State != station.OrderCompleted || o.Commissioned != 50 || o.Rejected != 7 || o.Printed != 57 || o.Allocated != o.Printed+o.Voided {
		t.Fatalf("order = %+v", o)
	}
	rec, err := station.Reconcile(w.ctx, w.db, "PO-S")
	must(t, err)
	if !rec.Balanced {
		t.Fatalf("reconciliation does not balance: %v", rec.Differences())
	}
	if lat := l.run.Latency(); lat.N != 57 || lat.P99 <= 0 {
		t.Fatalf("latency = %+v, want 57 decisions", lat)
	}
}

// TestRun_Refusals: a run does not start with a faulted device or an
// untrusted clock, stops with an alarm when the pool runs empty (never an
// invented serial) and resumes once serials arrive.
func TestRun_Refusals(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	// The serial authority cannot be reached: the pool holds the 20
	// serials reserved before.
	svc, err := station.NewService(station.Config{Ledger: w.db, Clock: w.clock, Line: testLine, Source: downSource{},
		Pool: station.PoolPolicy{LowWater: 5, Batch: 10}, Auth: station.AuthPolicy{Params: lightParams}, Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	t.Cleanup(func() { svc.Close() })
	w.svc = svc
	must(t, w.svc.ImportOrder(w.ctx, station.Order{ID: "PO-R", GTIN: unitGTIN, Lot: "LOT-R", Expiry: "280600", Quantity: 30, Line: testLine}))
	must(t, w.svc.ReleaseOrder(w.ctx, "sup", "PO-R"))
	reserve := func(n int) {
		ss, err := (&station.LocalSource{Ledger: w.db}).Reserve(w.ctx, unitGTIN, station.SerialScheme{}, n)
		must(t, err)
		_, err = w.db.Append(w.ctx, station.NewEvent{Payload: station.PoolReserved{GTIN: unitGTIN, Serials: ss, Source: "central"}, User: station.SystemUser})
		must(t, err)
	}
	reserve(20)
	coder := stationtest.NewCoder(100000)
	coder.SetState(station.DeviceFaulted)
	cfg := station.RunConfig{Order: "PO-R", User: "op", Coder: coder, Camera: stationtest.NewCamera(100000), Line: stationtest.NewPLC()}
	wantErr(t, errOf(w.svc.StartRun(w.ctx, cfg)), station.EDEVICE, "the coder coder-1 is faulted: HEAD_FAULT")
	coder.Repair()
	w.clock.SetState(station.ClockUnsynced)
	wantErr(t, errOf(w.svc.StartRun(w.ctx, cfg)), station.ECLOCK, "Commissioning is stopped")
	w.clock.SetState(station.ClockSynced)
	cfg.User = "pack"
	wantErr(t, errOf(w.svc.StartRun(w.ctx, cfg)), station.EUNAUTHORIZED, "needs the role operator or supervisor")

	// The line stops when the 20 serials are used.
	l := w.MustLine("PO-R", func(int) fault { return fOK }, station.RunConfig{AllocateBatch: 8})
	l.Go()
	stationtest.Poll(t, 10*time.Second, "the line stops on the empty pool", func() bool {
		s := l.run.Snapshot()
		return s.State == station.RunStopped
	})
	s := l.run.Snapshot()
	if s.Allocated != 20 || s.Commissioned+int64(s.InFlight+s.Queued+s.Deciding) > 20 || len(s.Alarms) == 0 || !strings.Contains(s.Alarms[len(s.Alarms)-1].Message, "serial pool") {
		t.Fatalf("stopped run: %+v", s)
	}
	if st := l.plc.Status().State; st != station.LineStateStopped {
		t.Fatalf("PLC is %s, want Stopped", st)
	}
	stationtest.Poll(t, 5*time.Second, "the order is recorded held while the line is stopped", func() bool {
		o, _ := w.svc.Order(w.ctx, "PO-R")
		return o.State == station.OrderHeld
	})
	// Serials arrive: the operator resumes and the order finishes.
	reserve(20)
	must(t, l.run.AckAlarm(s.Alarms[len(s.Alarms)-1].ID, "op"))
	must(t, l.run.Resume(w.ctx, "op"))
	stationtest.Poll(t, 10*time.Second, "the order completes after the refill", func() bool { return l.run.Snapshot().State == station.RunDone })
	// An operator's hold and a device fault hold the line with the reason.
	must(t, l.run.Hold(w.ctx, "op", "break"))
	if s := l.run.Snapshot(); s.State != station.RunHeld || s.Reason != "break" || l.plc.Status().State != station.LineStateHeld {
		t.Fatalf("after hold: %s %q, PLC %s", s.State, s.Reason, l.plc.Status().State)
	}
	wantErr(t, l.run.Hold(w.ctx, "op", "again"), station.ECONFLICT, "it can be held while running")
	must(t, l.run.Complete(w.ctx, "op"))
	rec, err := station.Reconcile(w.ctx, w.db, "PO-R")
	must(t, err)
	if !rec.Balanced || rec.Commissioned != 30 {
		t.Fatalf("reconciliation: %+v", rec)
	}
	wantErr(t, l.run.Resume(w.ctx, "op"), station.ECONFLICT, "only a held or stopped line can resume")
}

// downSource is a serial authority that cannot be reached.
type downSource struct{}

func (downSource) Name() string { return "central" }

func (downSource) Reserve(ctx context.Context, gtin string, scheme station.SerialScheme, n int) ([]string, error) {
	return nil, station.Errorf(station.EUNAVAILABLE, "the central service cannot be reached")
}

// manual is a run whose line the test moves by hand: print the next code,
// show the camera a result.
type manual struct {
	t      *testing.T
	w      *world
	run    *station.Run
	coder  *stationtest.Coder
	camera *stationtest.Camera
}

// MustManualRun starts a run of order on w.svc with a fake coder and
// camera (and cfg.Line, or a fake PLC), moved by the test.
func MustManualRun(t *testing.T, w *world, order string, cfg station.RunConfig) *manual {
	t.Helper()
	m := &manual{t: t, w: w, coder: stationtest.NewCoder(100000), camera: stationtest.NewCamera(100000)}
	if cfg.Coder == nil {
		cfg.Coder = m.coder
	}
	if cfg.Line == nil {
		cfg.Line = stationtest.NewPLC()
	}
	cfg.Order, cfg.User, cfg.Camera = order, "op", m.camera
	if cfg.HealthEvery == 0 {
		cfg.HealthEvery = 20 * time.Millisecond
	}
	run, err := w.svc.StartRun(w.ctx, cfg)
	if err != nil {
		t.Fatalf("start run: %v", err)
	}
	t.Cleanup(func() { run.Close() })
	m.run = run
	return m
}

// print has the coder mark the next queued code, once the station queued
// one, and waits until the station took the acknowledgement.
func (m *manual) print() station.UnitCode {
	m.t.Helper()
	var code station.UnitCode
	stationtest.Poll(m.t, 10*time.Second, "a code queued at the coder", func() bool {
		var ok bool
		code, ok = m.coder.Print()
		return ok
	})
	n := int64(m.coder.PrintedCount())
	stationtest.Poll(m.t, 10*time.Second, "the station took the acknowledgement", func() bool { return m.run.Snapshot().Acked >= n })
	return code
}

// TestRun_LatencyFromReceived: a decision's latency runs from when the
// camera driver received the result (CameraRead.Received), not from when
// the run took it from the driver.
func TestRun_LatencyFromReceived(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	w.MustOrder("PO-L", 2, 10)
	m := MustManualRun(t, w, "PO-L", station.RunConfig{})
	code := m.print()
	// The result waited in the driver for an hour before the run took it.
	m.camera.Send(station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8, Received: time.Now().Add(-time.Hour)})
	stationtest.Poll(t, 10*time.Second, "the pack is commissioned", func() bool { return m.run.Snapshot().Commissioned == 1 })
	if lat := m.run.Latency(); lat.N != 1 || lat.P50 < time.Hour {
		t.Fatalf("latency = %+v, want one decision of at least the hour the result waited", lat)
	}
}

// gateLine is a PLC whose reject gate answers only when the test lets it,
// with err.
type gateLine struct {
	*stationtest.PLC
	calls   chan string
	release chan struct{}
	err     error
}

func (l *gateLine) Reject(ctx context.Context, unit string) error {
	l.calls <- unit
	<-l.release
	if l.err != nil {
		return l.err
	}
	return l.PLC.Reject(ctx, unit)
}

// TestRun_RejectGate: a rejected pack's decision is recorded while its
// reject gate command is under way, not after it; it is counted once the
// gate answered, and a gate that fails holds the line with the reason.
func TestRun_RejectGate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{{"OK", nil}, {"ErrGate", station.Errorf(station.EDEVICE, "the PLC did not answer")}} {
		t.Run(tc.name, func(t *testing.T) {
			w := MustWorld(t, station.PoolPolicy{})
			w.MustOrder("PO-G", 5, 20)
			plc := &gateLine{PLC: stationtest.NewPLC(), calls: make(chan string, 4), release: make(chan struct{}), err: tc.err}
			var once sync.Once
			open := func() { once.Do(func() { close(plc.release) }) }
			m := MustManualRun(t, w, "PO-G", station.RunConfig{Line: plc})
			t.Cleanup(open) // before the run's Close, which waits for the gate
			code := m.print()
			m.camera.Send(station.CameraRead{NoRead: true, Grade: station.NoGrade})
			select {
			case got := <-plc.calls:
				if got != code.Serial {
					t.Fatalf("reject gate got %q, want %q", got, code.Serial)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the reject gate was not commanded")
			}
			stationtest.Poll(t, 10*time.Second, "the rejection is durable while the gate has not answered", func() bool {
				st, err := w.db.Serial(w.ctx, unitGTIN, code.Serial)
				return err == nil && st.State == station.UnitStateRejected
			})
			if s := m.run.Snapshot(); s.Rejected != 0 || s.Deciding != 1 || s.State != station.RunRunning {
				t.Fatalf("before the gate answered: rejected %d deciding %d state %s, want 0, 1, running", s.Rejected, s.Deciding, s.State)
			}
			open()
			stationtest.Poll(t, 10*time.Second, "the decision is counted", func() bool { return m.run.Snapshot().Deciding == 0 })
			s := m.run.Snapshot()
			if s.Rejected != 1 || s.Rejects[station.RejectNoRead] != 1 {
				t.Fatalf("rejected %d %v, want 1 no-read", s.Rejected, s.Rejects)
			}
			if tc.err == nil {
				if got := plc.Rejects(); len(got) != 1 || got[0] != code.Serial || s.State != station.RunRunning {
					t.Fatalf("gate rejects %v, state %s: want %s and running", got, s.State, code.Serial)
				}
				return
			}
			if s.State != station.RunHeld || !strings.Contains(s.Reason, "the reject gate did not take pack "+code.Serial) ||
				!strings.Contains(s.Reason, "the PLC did not answer") {
				t.Fatalf("state %s %q, want held for the reject gate", s.State, s.Reason)
			}
		})
	}
}

// allocGate is the ledger with allocations (unit.allocated appends) that,
// after the first pass ones, wait until the test releases them.
type allocGate struct {
	station.Ledger
	pass    atomic.Int64
	calls   chan int // serials of each allocation that waits
	release chan struct{}
}

func (l *allocGate) Append(ctx context.Context, evs ...station.NewEvent) ([]station.Event, error) {
	if _, ok := evs[0].Payload.(station.UnitAllocated); ok && l.pass.Add(-1) < 0 {
		l.calls <- len(evs)
		<-l.release
	}
	return l.Ledger.Append(ctx, evs...)
}

// TestRun_AllocatesAhead: the next serials are allocated while the coder
// still has codes queued, before the spare ones run out, and no more than
// the order still needs, so that it ends with nothing to void.
func TestRun_AllocatesAhead(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	w.MustOrder("PO-A", 10, 40)
	gate := &allocGate{Ledger: w.db, calls: make(chan int, 4), release: make(chan struct{})}
	gate.pass.Store(1)
	svc, err := station.NewService(station.Config{Ledger: gate, Clock: w.clock, Line: testLine, Auth: station.AuthPolicy{Params: lightParams},
		Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	t.Cleanup(func() { svc.Close() })
	w.svc = svc
	var once sync.Once
	open := func() { once.Do(func() { close(gate.release) }) }
	m := MustManualRun(t, w, "PO-A", station.RunConfig{QueueAhead: 4, AllocateBatch: 8})
	t.Cleanup(open) // before the run's Close, which waits for the allocation
	// The first 8 serials are allocated; nothing printed yet, the coder
	// holds 4 codes, 4 serials are spare, and the order needs 6 more than
	// the coder holds.
	select {
	case n := <-gate.calls:
		if n != 2 {
			t.Fatalf("allocated %d serials ahead, want the 2 the order still needs", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no serials allocated ahead while the spare ones last")
	}
	if s := m.run.Snapshot(); s.Acked != 0 || s.Queued != 4 || s.Allocated != 8 {
		t.Fatalf("acked %d queued %d allocated %d, want 0, 4, 8", s.Acked, s.Queued, s.Allocated)
	}
	open()
	for i := 0; i < 10; i++ {
		code := m.print()
		m.camera.Send(station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8})
	}
	stationtest.Poll(t, 10*time.Second, "the order's quantity is commissioned", func() bool { return m.run.Snapshot().State == station.RunDone })
	must(t, m.run.Complete(w.ctx, "op"))
	o, err := w.svc.Order(w.ctx, "PO-A")
	must(t, err)
	if o.Commissioned != 10 || o.Allocated != 10 || o.Voided != 0 {
		t.Fatalf("order: commissioned %d allocated %d voided %d, want 10, 10, 0", o.Commissioned, o.Allocated, o.Voided)
	}
}

// warnCoder is a coder that warns that a unit passed unmarked (NO_CODE):
// it reports degraded until it is reset (Select), as devices/coder does.
type warnCoder struct {
	*stationtest.Coder
	warned atomic.Bool
}

func (c *warnCoder) Health() station.Health {
	if c.warned.Load() {
		return station.Health{Device: "coder-1", Kind: "coder", State: station.DeviceDegraded, Reason: "product passed with nothing queued"}
	}
	return c.Coder.Health()
}

func (c *warnCoder) Select(ctx context.Context, template string) error {
	if err := c.Coder.Select(ctx, template); err != nil {
		return err
	}
	c.warned.Store(false)
	return nil
}

func (c *warnCoder) unmarked() {
	c.warned.Store(true)
	c.Report(station.Errorf(station.EDEVICE, "coder-1: a unit passed unmarked: product passed with nothing queued"))
}

// TestRun_ResumeAfterUnmarked: a unit that passed the coder unmarked holds
// the line; resuming resets the coder, which clears its warning, and the
// line runs again.
func TestRun_ResumeAfterUnmarked(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	w.MustOrder("PO-U", 5, 20)
	coder := &warnCoder{Coder: stationtest.NewCoder(100000)}
	m := MustManualRun(t, w, "PO-U", station.RunConfig{Coder: coder})
	stationtest.Poll(t, 10*time.Second, "the coder gets codes", func() bool { return m.run.Snapshot().Queued > 0 })
	selects := coder.Selects()
	coder.unmarked()
	stationtest.Poll(t, 10*time.Second, "the line is held", func() bool { return m.run.Snapshot().State == station.RunHeld })
	if s := m.run.Snapshot(); !strings.Contains(s.Reason, "passed unmarked") {
		t.Fatalf("held for %q, want the unmarked unit", s.Reason)
	}
	must(t, m.run.Resume(w.ctx, "op"))
	if s := m.run.Snapshot(); s.State != station.RunRunning || coder.Selects() != selects+1 || coder.Health().State != station.DeviceConnected {
		t.Fatalf("after resume: state %s, %d resets, coder %s; want running, 1 reset, connected", s.State, coder.Selects()-selects, coder.Health().State)
	}
	m.coder = coder.Coder
	code := m.print()
	m.camera.Send(station.CameraRead{Symbology: "]d2", Data: code.Data, Grade: 3.8})
	stationtest.Poll(t, 10*time.Second, "a pack is commissioned after the resume", func() bool { return m.run.Snapshot().Commissioned == 1 })
}
