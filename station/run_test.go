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
	coder  *fakeCoder
	camera *fakeCamera
	plc    *fakeLine
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
	l := &line{w: w, coder: newFakeCoder(), camera: newFakeCamera(), plc: newFakeLine(), done: make(chan struct{})}
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
		for s := l.run.Snapshot(); (s.Deciding > 0 || s.Reads < int64(l.camera.sent())) && time.Now().Before(deadline); s = l.run.Snapshot() {
			time.Sleep(100 * time.Microsecond)
		}
		l.w.clock.SetState(station.ClockUnsynced)
		l.camera.send(station.CameraRead{Symbology: "]d2", Data: c.code.Data, Grade: 3.8})
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
			l.coder.repair()
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
	coder := newFakeCoder()
	coder.state = station.DeviceFaulted
	cfg := station.RunConfig{Order: "PO-R", User: "op", Coder: coder, Camera: newFakeCamera(), Line: newFakeLine()}
	wantErr(t, errOf(w.svc.StartRun(w.ctx, cfg)), station.EDEVICE, "the coder coder-1 is faulted: HEAD_FAULT")
	coder.repair()
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
