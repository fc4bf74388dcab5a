package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/station/gs1"
)

// RunState is where a line run is.
type RunState string

// Run states.
const (
	RunRunning    RunState = "running"    // producing: codes queued, packs verified
	RunHeld       RunState = "held"       // held by an operator or by a fault (Reason); Resume
	RunStopped    RunState = "stopped"    // the serial pool ran empty; Resume once serials arrived
	RunDone       RunState = "done"       // the order's quantity is commissioned; Complete
	RunCompleting RunState = "completing" // Complete is draining the line
	RunCompleted  RunState = "completed"  // the order is completed; the run is over
	RunEnded      RunState = "ended"      // Close stopped the run without completing the order
)

// RunConfig is what a line run needs. Coder, Camera and Line are required.
type RunConfig struct {
	Order  string // the packaging order to run (released, held, or running after a restart)
	User   string // the operator who starts it (role operator or supervisor)
	Coder  Coder
	Camera Camera
	Line   Line
	// Template is the coder template; default the product's "unit" label.
	Template string
	// QueueAhead is how many codes are kept queued at the coder. Default 4.
	QueueAhead int
	// AllocateBatch is how many serials one ledger append allocates. Default 50.
	AllocateBatch int
	// MaxSkip is how many packs may go missing before the camera's read of
	// a later pack counts as out of sequence instead. Default 2.
	MaxSkip int
	// MaxDeciding bounds the decisions being recorded at once. Default 1024.
	MaxDeciding int
	// StateTimeout bounds each wait for a PackML state change. Default 10s.
	StateTimeout time.Duration
	// DrainTimeout bounds Complete's wait for packs in flight. Default 10s.
	DrainTimeout time.Duration
	// Notify, when set, gets a snapshot at most every NotifyEvery (default
	// 250ms) while something changed: batched, never one call per pack.
	// It is called from the run's own goroutine and must not block long.
	Notify      func(RunSnapshot)
	NotifyEvery time.Duration
	// HealthEvery is how often device health, the clock and the pool are
	// checked. Default 500ms.
	HealthEvery time.Duration
	// Logger defaults to the service's.
	Logger *slog.Logger
}

func (c RunConfig) withDefaults() RunConfig {
	if c.QueueAhead <= 0 {
		c.QueueAhead = 4
	}
	if c.AllocateBatch <= 0 {
		c.AllocateBatch = 50
	}
	if c.MaxSkip <= 0 {
		c.MaxSkip = 2
	}
	if c.MaxDeciding <= 0 {
		c.MaxDeciding = 1024
	}
	if c.StateTimeout <= 0 {
		c.StateTimeout = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.NotifyEvery <= 0 {
		c.NotifyEvery = 250 * time.Millisecond
	}
	if c.HealthEvery <= 0 {
		c.HealthEvery = 500 * time.Millisecond
	}
	return c
}

// Alarm is something the operator must see and acknowledge.
type Alarm struct {
	ID      int64
	At      time.Time // UTC
	Source  string    // device or part: "coder", "camera", "line", "clock", "pool", "ledger", "run"
	Message string    // what happened and what to do
	Acked   bool
	AckedBy string
}

// ReadSummary is one recent camera result as the Line run screen lists it.
type ReadSummary struct {
	At      time.Time    // when the result arrived (UTC)
	Serial  string       // the pack it was matched to; "" for an unidentified carton
	Data    string       // what was read (HRI), or "no read"
	Outcome string       // "commissioned" or "rejected"
	Reason  RejectReason // for rejections
}

// RunSnapshot is a line run's state for the UI: cheap to take, a copy.
type RunSnapshot struct {
	Order    string
	GTIN     string
	Lot      string
	Expiry   string
	Product  string
	Quantity int64
	State    RunState
	Reason   string // why held or stopped

	Allocated    int64 // serials allocated by this run
	Acked        int64 // prints the coder acknowledged to this run
	Reads        int64 // camera results handled (reads and no-reads)
	Queued       int   // codes at the coder, not yet printed
	Printed      int64 // packs printed (durable)
	InFlight     int   // printed packs between the coder and the camera
	Deciding     int   // decisions being recorded
	Commissioned int64 // this run
	Rejected     int64 // this run
	Rejects      map[RejectReason]int64
	Unidentified int64 // cartons the camera saw without a pack the station printed (rejected at the gate)
	Late         int64 // packs read after they were rejected as missing (rejected at the gate again)
	Remaining    int64 // the order's quantity minus what is commissioned (order total)

	Pool      PoolStatus
	Line      LineStatus
	Devices   []Health
	LastReads []ReadSummary // newest first, at most 8
	Alarms    []Alarm       // not yet acknowledged, oldest first
	Version   uint64        // grows with every change
}

// LatencyStats are the times from a camera result to its durable decision.
type LatencyStats struct {
	N        int
	P50, P99 time.Duration
	Max      time.Duration
}

// unit is a printed pack on its way from the coder to the camera.
type unit struct {
	serial   string
	printed  chan struct{} // closed once unit.printed is durable (or failed)
	printErr error
	fault    RejectReason // set when the pack must be rejected whatever is read (printer_fault)
}

// decision is the outcome for one pack, to be recorded.
type decision struct {
	u          *unit
	commission bool
	reason     RejectReason
	detail     string
	read       string // HRI of the read (commissioned)
	grade      string
	received   time.Time
	gate       string // reject gate id when no unit is concerned
}

// Run drives one packaging order on the line: it allocates serials, queues
// their codes on the coder, matches each acknowledged print to the camera's
// read of it in print order, commissions or rejects each pack (commanding
// the reject gate), and holds the line on a fault. The decision for a pack
// is final once it is durable in the ledger; decisions are recorded
// concurrently, so the ledger's group commit takes many in one fsync, while
// each pack's decision waits for its own print record. All methods are safe
// for concurrent use.
type Run struct {
	s        *Service
	cfg      RunConfig
	order    OrderStatus
	product  Product
	minGrade string
	names    struct{ coder, camera, line string }
	logger   *slog.Logger

	ctx    context.Context // the run's goroutines
	cancel context.CancelFunc
	rec    context.Context // for records: not cancelled by Close
	wg     sync.WaitGroup
	dec    sync.WaitGroup
	sem    chan struct{}
	feed   chan struct{}
	ended  chan struct{}

	mu         sync.Mutex
	state      RunState
	reason     string
	spare      []string // allocated serials not yet queued, in order
	allocating bool     // an allocation of serials is under way (see allocateLocked)
	allocDry   bool     // the last allocation found the pool empty while spare serials were left
	queued     []string
	fifo       []*unit
	decided    map[string]RejectReason // "" for commissioned
	coderDirty bool
	snap       RunSnapshot // counters and the rest of the snapshot
	alarms     []Alarm
	nextAlarm  int64
	lat        []time.Duration
	latN       int
	endOnce    sync.Once
}

// latencyRing is how many recent decision latencies are kept.
const latencyRing = 1 << 16

// StartRun starts producing an order on the line: the order must be
// released, held or (after a station restart) running; the devices must be
// healthy and the clock trusted. It selects the coder template, starts the
// PLC (PackML Reset/Start as its state needs), records the order running
// and returns the run.
func (s *Service) StartRun(ctx context.Context, cfg RunConfig) (*Run, error) {
	if _, err := s.authorize(ctx, cfg.User, ActRunLine); err != nil {
		return nil, err
	}
	if cfg.Coder == nil || cfg.Camera == nil || cfg.Line == nil {
		return nil, Errorf(EINVALID, "a line run needs a coder, a camera and the line PLC")
	}
	cfg = cfg.withDefaults()
	o, err := s.ledger.Order(ctx, cfg.Order)
	if err != nil {
		return nil, err
	}
	switch o.State {
	case OrderReleased, OrderHeld, OrderRunning:
	default:
		return nil, Errorf(ECONFLICT, "order %s is %s: a released or held order can run", o.Order, o.State)
	}
	if s.line != "" && o.Line != "" && o.Line != s.line {
		return nil, Errorf(ECONFLICT, "order %s is for line %s, and this station is line %s", o.Order, o.Line, s.line)
	}
	p, err := s.ledger.Product(ctx, o.GTIN)
	if err != nil {
		return nil, fmt.Errorf("start order %s: %w", o.Order, err)
	}
	if cfg.Template == "" {
		cfg.Template = p.Label("unit")
	}
	if cfg.Logger == nil {
		cfg.Logger = s.logger
	}
	r := &Run{s: s, cfg: cfg, order: o, product: p, minGrade: p.MinGradeFor(o), logger: cfg.Logger.With("order", o.Order),
		sem: make(chan struct{}, cfg.MaxDeciding), feed: make(chan struct{}, 1), ended: make(chan struct{}),
		decided: map[string]RejectReason{}, lat: make([]time.Duration, 0, 1024)}
	r.names.coder = deviceName(cfg.Coder, "coder")
	r.names.camera = deviceName(cfg.Camera, "camera")
	r.names.line = deviceName(cfg.Line, "line")
	r.snap = RunSnapshot{Order: o.Order, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Product: p.Name, Quantity: o.Quantity,
		Rejects: map[RejectReason]int64{}, Remaining: max(0, o.Quantity-o.Commissioned)}

	if err := r.ready(ctx, false); err != nil {
		return nil, err
	}
	if err := cfg.Coder.Select(ctx, cfg.Template); err != nil {
		return nil, fmt.Errorf("select coder template %s: %w", cfg.Template, err)
	}
	// Codes allocated by an earlier run and never printed may have been in
	// the coder's queue, which Select just cleared: void them.
	voids, err := s.voidPending(ctx, o, cfg.User, "line restarted: cleared from the coder")
	if err != nil {
		return nil, err
	}
	if err := r.lineStart(ctx); err != nil {
		return nil, err
	}
	if o.State != OrderRunning {
		if err := s.changeOrder(ctx, cfg.User, o, OrderRunning, "line started", voids...); err != nil {
			return nil, err
		}
	} else if len(voids) > 0 {
		if _, err := s.ledger.Append(ctx, voids...); err != nil {
			return nil, fmt.Errorf("void codes of order %s: %w", o.Order, err)
		}
	}
	r.state = RunRunning
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.rec = context.WithoutCancel(ctx)
	if st, err := s.pools.Status(ctx, o.GTIN); err == nil {
		r.snap.Pool = st
	}
	r.snap.Line = cfg.Line.Status()
	for _, loop := range []func(){r.feeder, r.acker, r.camera, r.watchLine, r.watchHealth, r.notifier} {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			loop()
		}()
	}
	r.wake()
	r.logger.Info("line run started", "user", cfg.User, "template", cfg.Template)
	return r, nil
}

func deviceName(h HealthReporter, kind string) string {
	if n := h.Health().Device; n != "" {
		return n
	}
	return kind
}

// ready checks that the devices are connected, the clock trusted and (when
// pool is set) the pool not empty.
func (r *Run) ready(ctx context.Context, pool bool) error {
	for _, d := range []struct {
		kind string
		h    HealthReporter
	}{{"coder", r.cfg.Coder}, {"camera", r.cfg.Camera}, {"line PLC", r.cfg.Line}} {
		if h := d.h.Health(); !h.OK() {
			return Errorf(EDEVICE, "the %s %s is %s: %s", d.kind, h.Device, h.State, h.Reason)
		}
	}
	if err := r.s.clock.Now().Trusted(); err != nil {
		return err
	}
	if pool {
		if lvl, err := r.s.ledger.Pool(ctx, r.order.GTIN); err != nil || lvl.Available == 0 {
			r.mu.Lock()
			spare := len(r.spare)
			r.mu.Unlock()
			if spare == 0 {
				return fmt.Errorf("GTIN %s: %w", r.order.GTIN, ErrPoolEmpty)
			}
		}
	}
	return nil
}

// wake tells the feeder to look again.
func (r *Run) wake() {
	select {
	case r.feed <- struct{}{}:
	default:
	}
}

// Snapshot returns the run's counters and state. It only copies memory.
func (r *Run) Snapshot() RunSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked()
}

func (r *Run) snapshotLocked() RunSnapshot {
	s := r.snap
	s.State, s.Reason = r.state, r.reason
	s.Queued, s.InFlight = len(r.queued), len(r.fifo)
	s.Rejects = make(map[RejectReason]int64, len(r.snap.Rejects))
	for k, v := range r.snap.Rejects {
		s.Rejects[k] = v
	}
	s.Devices = slices.Clone(r.snap.Devices)
	s.LastReads = slices.Clone(r.snap.LastReads)
	for _, a := range r.alarms {
		if !a.Acked {
			s.Alarms = append(s.Alarms, a)
		}
	}
	return s
}

// Latency returns the distribution of the time from a camera result to its
// durable decision over the last 65,536 packs.
func (r *Run) Latency() LatencyStats {
	r.mu.Lock()
	ds := slices.Clone(r.lat)
	r.mu.Unlock()
	if len(ds) == 0 {
		return LatencyStats{}
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return LatencyStats{N: len(ds), P50: q(0.50), P99: q(0.99), Max: ds[len(ds)-1]}
}

// Done is closed when the run is over (completed or closed).
func (r *Run) Done() <-chan struct{} { return r.ended }

// alarmLocked raises an alarm.
func (r *Run) alarmLocked(source, msg string) {
	r.nextAlarm++
	r.alarms = append(r.alarms, Alarm{ID: r.nextAlarm, At: r.s.clock.Now().UTC, Source: source, Message: msg})
	if len(r.alarms) > 200 {
		r.alarms = slices.Delete(r.alarms, 0, len(r.alarms)-200)
	}
	r.snap.Version++
	r.logger.Warn("line alarm", "source", source, "message", msg)
}

func (r *Run) alarm(source, msg string) {
	r.mu.Lock()
	r.alarmLocked(source, msg)
	r.mu.Unlock()
}

// AckAlarm acknowledges an alarm.
func (r *Run) AckAlarm(id int64, user string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.alarms {
		if r.alarms[i].ID == id {
			r.alarms[i].Acked, r.alarms[i].AckedBy = true, user
			r.snap.Version++
			return nil
		}
	}
	return Errorf(ENOTFOUND, "alarm %d does not exist", id)
}

// Hold holds the line at an operator's request.
func (r *Run) Hold(ctx context.Context, user, reason string) error {
	if _, err := r.s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	if reason == "" {
		reason = "held by " + user
	}
	if !r.hold(ctx, user, "run", reason, RunHeld) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return Errorf(ECONFLICT, "the line is %s: it can be held while running", r.state)
	}
	return nil
}

// hold moves a running run to state to (held or stopped) with reason,
// raises an alarm, commands the PLC and records the order held. It
// returns false when the run was not running.
func (r *Run) hold(ctx context.Context, user, source, reason string, to RunState) bool {
	r.mu.Lock()
	if r.state != RunRunning && r.state != RunDone {
		r.mu.Unlock()
		return false
	}
	r.state, r.reason = to, reason
	r.alarmLocked(source, reason)
	r.mu.Unlock()
	cmd := LineCmdHold
	if to == RunStopped {
		cmd = LineCmdStop
	}
	if err := r.cfg.Line.Command(ctx, cmd); err != nil && ErrorCode(err) != ECONFLICT {
		r.alarm("line", fmt.Sprintf("the line PLC did not take %s: %s. Stop the line by hand.", cmd, ErrorMessage(err)))
	}
	if user == "" {
		user = SystemUser
	}
	if o, err := r.s.ledger.Order(r.recCtx(ctx), r.order.Order); err == nil && o.State == OrderRunning {
		if err := r.s.changeOrder(r.recCtx(ctx), user, o, OrderHeld, truncate(reason, 200)); err != nil {
			r.logger.Error("record order held", "error", err)
		}
	}
	return true
}

// recCtx is the context for records: the run's, which Close does not
// cancel, or ctx before the run started.
func (r *Run) recCtx(ctx context.Context) context.Context {
	if r.rec != nil {
		return r.rec
	}
	return ctx
}

// Resume restarts a held or stopped run once its cause is gone: the
// devices are connected, the clock is trusted and the pool has serials. A
// coder that faulted is reset (its queue cleared, the codes in it voided).
func (r *Run) Resume(ctx context.Context, user string) error {
	if _, err := r.s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	r.mu.Lock()
	st := r.state
	r.mu.Unlock()
	if st != RunHeld && st != RunStopped {
		return Errorf(ECONFLICT, "the line is %s: only a held or stopped line can resume", st)
	}
	// A coder that only warns (degraded: a unit passed unmarked) is reset
	// before the devices are checked, since the reset is what clears the
	// warning; a faulted or disconnected one is reported by ready.
	if r.cfg.Coder.Health().State == DeviceDegraded {
		if err := r.resetCoder(ctx, user); err != nil {
			return err
		}
	}
	if err := r.ready(ctx, true); err != nil {
		return err
	}
	if err := r.resetCoder(ctx, user); err != nil {
		return err
	}
	if err := r.lineStart(ctx); err != nil {
		return err
	}
	o, err := r.s.ledger.Order(ctx, r.order.Order)
	if err != nil {
		return err
	}
	if o.State == OrderHeld {
		if err := r.s.changeOrder(ctx, user, o, OrderRunning, "resumed"); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.state, r.reason = RunRunning, ""
	if r.snap.Remaining == 0 {
		r.state = RunDone
	}
	r.snap.Version++
	r.mu.Unlock()
	r.wake()
	return nil
}

// resetCoder resets a coder that faulted or went out of step (coderDirty):
// Select clears its queue, and the codes that were in it are voided.
func (r *Run) resetCoder(ctx context.Context, user string) error {
	r.mu.Lock()
	dirty := r.coderDirty
	r.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := r.cfg.Coder.Select(ctx, r.cfg.Template); err != nil {
		return fmt.Errorf("reset the coder: %w", err)
	}
	r.mu.Lock()
	lost := r.queued
	r.queued, r.coderDirty = nil, false
	r.mu.Unlock()
	if len(lost) > 0 {
		if _, err := r.s.ledger.Append(ctx, NewEvent{Payload: UnitVoided{GTIN: r.order.GTIN, Serials: lost, Order: r.order.Order,
			Reason: "cleared from the coder after a fault"}, User: user}); err != nil {
			return fmt.Errorf("void codes cleared from the coder: %w", err)
		}
	}
	return nil
}

// RejectManual records that an operator took a printed pack off the line
// before the camera: it is rejected (manual) and no longer expected there.
func (r *Run) RejectManual(ctx context.Context, user, serial, detail string) error {
	if _, err := r.s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	r.mu.Lock()
	i := slices.IndexFunc(r.fifo, func(u *unit) bool { return u.serial == serial })
	if i < 0 {
		r.mu.Unlock()
		return Errorf(ECONFLICT, "pack %s is not between the coder and the camera", serial)
	}
	u := r.fifo[i]
	r.fifo = slices.Delete(r.fifo, i, i+1)
	d := decision{u: u, reason: RejectManual, detail: truncate(detail, 200), received: time.Now()}
	r.decidedLocked(d)
	r.mu.Unlock()
	r.decide(d, user)
	return nil
}

// Complete ends the order's production: no more codes are queued, packs
// in flight are given DrainTimeout to reach the camera, the PLC is
// stopped, the coder's queue is cleared, every serial allocated and never
// printed is voided, and the order is recorded completed.
func (r *Run) Complete(ctx context.Context, user string) error {
	if _, err := r.s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	r.mu.Lock()
	prev := r.state
	switch prev {
	case RunCompleting, RunCompleted, RunEnded:
		r.mu.Unlock()
		return Errorf(ECONFLICT, "the run is already %s", prev)
	}
	r.state, r.reason = RunCompleting, ""
	r.snap.Version++
	r.mu.Unlock()

	if prev == RunRunning || prev == RunDone {
		deadline := time.Now().Add(r.cfg.DrainTimeout)
		for time.Now().Before(deadline) {
			r.mu.Lock()
			empty := len(r.queued) == 0 && len(r.fifo) == 0
			r.mu.Unlock()
			if empty || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := r.cfg.Line.Command(ctx, LineCmdStop); err != nil && ErrorCode(err) != ECONFLICT {
		r.alarm("line", "the line PLC did not take Stop: "+ErrorMessage(err))
	}
	if err := r.cfg.Coder.Select(ctx, r.cfg.Template); err != nil {
		r.alarm("coder", "the coder's queue could not be cleared: "+ErrorMessage(err)+". Clear it by hand before the next order.")
	}
	r.stop()
	o, err := r.s.ledger.Order(ctx, r.order.Order)
	if err != nil {
		return err
	}
	voids, err := r.s.voidPending(ctx, o, user, "order completed: never printed")
	if err != nil {
		return err
	}
	if err := r.s.changeOrder(ctx, user, o, OrderCompleted, "line run completed", voids...); err != nil {
		return err
	}
	r.mu.Lock()
	r.state = RunCompleted
	r.snap.Version++
	final := r.snapshotLocked()
	r.mu.Unlock()
	r.end(final)
	r.logger.Info("line run completed", "commissioned", final.Commissioned, "rejected", final.Rejected)
	return nil
}

// Close stops the run's goroutines without completing the order (the
// station shuts down); decisions already made are still recorded.
func (r *Run) Close() error {
	r.stop()
	r.mu.Lock()
	if r.state != RunCompleted {
		r.state = RunEnded
	}
	final := r.snapshotLocked()
	r.mu.Unlock()
	r.end(final)
	return nil
}

func (r *Run) stop() {
	r.cancel()
	r.wg.Wait()
	r.dec.Wait()
}

func (r *Run) end(final RunSnapshot) {
	r.endOnce.Do(func() {
		if r.cfg.Notify != nil {
			r.cfg.Notify(final)
		}
		close(r.ended)
	})
}

// feeder keeps the coder's queue filled while the run is running.
func (r *Run) feeder() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.feed:
		case <-tick.C:
		}
		for r.ctx.Err() == nil && r.fill() {
		}
	}
}

// fill queues codes once; it reports whether it did something. Serials
// come from the spare ones, which allocateLocked keeps ahead of the coder.
func (r *Run) fill() bool {
	r.mu.Lock()
	if r.state != RunRunning || r.coderDirty {
		r.mu.Unlock()
		return false
	}
	need := r.cfg.QueueAhead - len(r.queued)
	inProgress := int64(len(r.queued)+len(r.fifo)) + int64(r.snap.Deciding)
	remaining := r.snap.Remaining - inProgress
	r.allocateLocked(remaining)
	n := min(int64(need), remaining, int64(len(r.spare)))
	if n <= 0 {
		r.mu.Unlock()
		return false
	}
	take := slices.Clone(r.spare[:n])
	r.spare = r.spare[n:]
	// Queued before the call: a fast coder may acknowledge a code before
	// Queue returns.
	r.queued = append(r.queued, take...)
	r.mu.Unlock()
	codes := make([]UnitCode, len(take))
	for i, s := range take {
		codes[i] = r.unitCode(s)
	}
	if err := r.cfg.Coder.Queue(r.ctx, codes...); err != nil {
		if r.ctx.Err() != nil {
			return false
		}
		r.mu.Lock()
		r.coderDirty = true
		r.mu.Unlock()
		r.hold(r.rec, SystemUser, "coder", "the coder did not take the next codes: "+ErrorMessage(err), RunHeld)
		return false
	}
	return true
}

// spareLow is how few spare serials start the next allocation: enough to
// keep the coder's queue filled while that allocation is recorded.
func (r *Run) spareLow() int { return max(r.cfg.QueueAhead, r.cfg.AllocateBatch/2) }

// allocateLocked starts allocating serials in the background when the
// spare ones run low and codes still to be queued (want) need more: at
// most AllocateBatch, and no more than want, so that an order's end leaves
// few allocated serials to void. The coder's queue is thus refilled from
// spare serials while the ledger records the next allocation, instead of
// running empty while it waits for it. The allocation wakes the feeder.
//
// When the pool runs empty, the line is stopped once the spare serials are
// used: an allocation that finds it empty while spare serials are left is
// tried again when they are.
func (r *Run) allocateLocked(want int64) {
	short := want - int64(len(r.spare))
	if r.allocating || short <= 0 || len(r.spare) > r.spareLow() || (r.allocDry && len(r.spare) > 0) {
		return
	}
	r.allocating = true
	n := int(min(int64(r.cfg.AllocateBatch), short))
	r.wg.Add(1) // the feeder, which calls this, is counted: Add is safe
	go func() {
		defer r.wg.Done()
		ss, err := r.s.pools.Allocate(r.ctx, r.order.Order, r.order.GTIN, r.cfg.User, n)
		r.mu.Lock()
		r.allocating, r.allocDry = false, false
		if err == nil {
			r.spare = append(r.spare, ss...)
			r.snap.Allocated += int64(len(ss))
			r.snap.Version++
			r.mu.Unlock()
			r.wake()
			return
		}
		left := len(r.spare)
		r.allocDry = left > 0
		r.mu.Unlock()
		switch {
		case r.ctx.Err() != nil:
		case left > 0:
			// Try again when the spare serials are used.
			r.logger.Warn("serials could not be allocated ahead", "spare", left, "error", err)
		case errors.Is(err, ErrPoolEmpty):
			r.hold(r.ctx, SystemUser, "pool", fmt.Sprintf("The serial pool of %s (GTIN %s) is empty: the line is stopped until new serials arrive. Check the connection to the central service, then resume.",
				r.product.Name, r.order.GTIN), RunStopped)
		default:
			r.hold(r.ctx, SystemUser, "ledger", "serials could not be allocated: "+ErrorMessage(err), RunHeld)
		}
	}()
}

// unitCode is what the coder marks for one serial: a GS1 DataMatrix with
// (01) GTIN, (17) expiry, (10) lot and (21) serial, in FNC1 form.
func (r *Run) unitCode(serial string) UnitCode {
	o := r.order
	return UnitCode{
		Serial: serial,
		Data:   "01" + o.GTIN + "17" + o.Expiry + "10" + o.Lot + "\x1d21" + serial,
		Fields: map[string]string{"gtin": o.GTIN, "lot": o.Lot, "expiry": o.Expiry, "serial": serial},
	}
}

// acker takes the coder's print acknowledgements in print order.
func (r *Run) acker() {
	backoff := 50 * time.Millisecond
	for {
		ack, err := r.cfg.Coder.Printed(r.ctx)
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			r.coderFault(err)
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		r.acked(ack)
	}
}

// coderFault holds the line: the packs in flight are rejected when they
// reach the camera (their print is suspect) and the coder is reset on resume.
func (r *Run) coderFault(err error) {
	r.mu.Lock()
	r.coderDirty = true
	for _, u := range r.fifo {
		if u.fault == "" {
			u.fault = RejectPrinterFault
		}
	}
	r.mu.Unlock()
	r.hold(r.rec, SystemUser, "coder", "coder fault: "+ErrorMessage(err)+". Fix the coder, then resume.", RunHeld)
}

// acked moves an acknowledged code from the queue to the packs in flight
// and records it printed.
func (r *Run) acked(ack CoderAck) {
	r.mu.Lock()
	i := slices.Index(r.queued, ack.Serial)
	if i < 0 {
		_, seen := r.decided[ack.Serial]
		inFlight := slices.ContainsFunc(r.fifo, func(u *unit) bool { return u.serial == ack.Serial })
		r.mu.Unlock()
		if seen || inFlight {
			r.logger.Warn("coder acknowledged a serial twice", "serial", ack.Serial)
			return
		}
		r.mu.Lock()
		r.coderDirty = true
		r.mu.Unlock()
		r.hold(r.rec, SystemUser, "coder", fmt.Sprintf("the coder printed serial %q, which the station did not queue: the coder is out of step. Take the packs after the coder off the line, then resume.", ack.Serial), RunHeld)
		return
	}
	if i > 0 {
		// The coder skipped codes: they were never printed and stay
		// allocated until the order completes (then voided).
		r.logger.Warn("coder skipped queued codes", "skipped", r.queued[:i])
	}
	r.queued = r.queued[i+1:]
	r.snap.Acked++
	u := &unit{serial: ack.Serial, printed: make(chan struct{})}
	r.fifo = append(r.fifo, u)
	r.snap.Version++
	r.mu.Unlock()
	r.wake()
	r.sem <- struct{}{}
	r.dec.Add(1)
	go func() {
		defer func() { <-r.sem; r.dec.Done() }()
		_, err := r.s.ledger.Append(r.rec, NewEvent{Payload: UnitPrinted{GTIN: r.order.GTIN, Serial: u.serial, Device: r.names.coder}, User: r.cfg.User})
		u.printErr = err
		close(u.printed)
		r.mu.Lock()
		if err == nil {
			r.snap.Printed++
			r.snap.Version++
		}
		r.mu.Unlock()
		if err != nil {
			r.hold(r.rec, SystemUser, "ledger", fmt.Sprintf("the print of pack %s could not be recorded (%s): it will be rejected", u.serial, ErrorMessage(err)), RunHeld)
		}
	}()
}

// camera takes the camera's results in order.
func (r *Run) camera() {
	backoff := 50 * time.Millisecond
	for {
		read, err := r.cfg.Camera.Read(r.ctx)
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			r.hold(r.rec, SystemUser, "camera", "camera fault: "+ErrorMessage(err)+". Fix the camera, then resume.", RunHeld)
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		received := read.Received
		if received.IsZero() {
			received = time.Now()
		}
		r.handleRead(read, received)
	}
}

// readInfo is a parsed camera result.
type readInfo struct {
	gtin, serial string
	hri          string
	problem      string // why the data is not the expected kind of code
	mismatch     string // which element differs from what was printed (set per unit)
	msg          *gs1.Message
}

func (r *Run) parseRead(read CameraRead) readInfo {
	if read.NoRead {
		return readInfo{hri: "no read"}
	}
	if read.Symbology != "]d2" {
		return readInfo{hri: printable(read.Data), problem: fmt.Sprintf("symbology %q is not a GS1 DataMatrix (]d2)", read.Symbology)}
	}
	sc, err := gs1.ParseScanData(read.Symbology + read.Data)
	if err != nil || sc.Message == nil {
		msg := "no GS1 data"
		if err != nil {
			msg = err.Error()
		}
		return readInfo{hri: printable(read.Data), problem: "not GS1 data: " + msg}
	}
	ri := readInfo{msg: sc.Message, hri: sc.Message.HRI()}
	ri.gtin, _ = sc.Message.Get("01")
	ri.serial, _ = sc.Message.Get("21")
	return ri
}

// printable replaces control characters (GS) for records and screens.
func printable(s string) string {
	return truncate(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '|'
		}
		return r
	}, s), 200)
}

// content compares a read with what was printed for serial: exactly the
// four elements (01) (17) (10) (21) with the order's values.
func (r *Run) content(ri readInfo, serial string) string {
	want := map[string]string{"01": r.order.GTIN, "17": r.order.Expiry, "10": r.order.Lot, "21": serial}
	if len(ri.msg.Elements) != len(want) {
		return fmt.Sprintf("read %d elements, printed %d", len(ri.msg.Elements), len(want))
	}
	for _, e := range ri.msg.Elements {
		if w, ok := want[e.AI]; !ok || w != e.Value {
			return fmt.Sprintf("(%s) read %q, printed %q", e.AI, e.Value, w)
		}
	}
	return ""
}

// handleRead matches one camera result to the packs in flight and decides.
func (r *Run) handleRead(read CameraRead, received time.Time) {
	ri := r.parseRead(read)
	var prior UnitState
	if ri.msg != nil && ri.gtin == r.order.GTIN && ri.serial != "" {
		r.mu.Lock()
		_, known := r.decided[ri.serial]
		inFlight := slices.ContainsFunc(r.fifo, func(u *unit) bool { return u.serial == ri.serial })
		r.mu.Unlock()
		if !known && !inFlight {
			if st, err := r.s.ledger.Serial(r.rec, ri.gtin, ri.serial); err == nil {
				prior = st.State
			}
		}
	}
	r.mu.Lock()
	var ds []decision
	rejectHead := func(reason RejectReason, detail string) {
		if len(r.fifo) == 0 {
			ds = append(ds, decision{reason: reason, detail: detail, received: received, gate: fmt.Sprintf("trigger-%d", read.Trigger)})
			r.snap.Unidentified++
			return
		}
		u := r.fifo[0]
		r.fifo = r.fifo[1:]
		ds = append(ds, decision{u: u, reason: reason, detail: detail, received: received})
	}
	evaluate := func(u *unit) decision {
		d := decision{u: u, received: received}
		if u.fault != "" {
			d.reason, d.detail = u.fault, "in flight when the coder faulted"
		} else if m := r.content(ri, u.serial); m != "" {
			d.reason, d.detail = RejectWrongContent, truncate(m, 200)
		} else if read.Grade < gradeFloor(r.minGrade) {
			d.reason, d.detail = RejectLowGrade, fmt.Sprintf("grade %s, minimum %s", read.Grade, r.minGrade)
		} else if err := r.s.clock.Now().Trusted(); err != nil {
			d.reason, d.detail = RejectClock, "the station clock could not be trusted"
		} else {
			d.commission, d.read, d.grade = true, truncate(ri.hri, 200), read.Grade.Letter()
		}
		return d
	}
	switch {
	case read.NoRead:
		rejectHead(RejectNoRead, "")
	case ri.problem != "":
		rejectHead(RejectWrongContent, truncate(ri.problem, 200))
	case ri.gtin != r.order.GTIN || ri.serial == "":
		rejectHead(RejectWrongContent, "read "+truncate(ri.hri, 190))
	default:
		k := slices.IndexFunc(r.fifo, func(u *unit) bool { return u.serial == ri.serial })
		prev, known := r.decided[ri.serial]
		switch {
		case k == 0:
			ds = append(ds, evaluate(r.fifo[0]))
			r.fifo = r.fifo[1:]
		case k > 0 && k <= r.cfg.MaxSkip:
			for _, u := range r.fifo[:k] {
				ds = append(ds, decision{u: u, reason: RejectMissing, detail: "not seen by the camera; " + ri.serial + " came instead", received: received})
			}
			ds = append(ds, evaluate(r.fifo[k]))
			r.fifo = r.fifo[k+1:]
		case k > r.cfg.MaxSkip:
			u := r.fifo[k]
			r.fifo = slices.Delete(r.fifo, k, k+1)
			ds = append(ds, decision{u: u, reason: RejectOutOfSequence, detail: fmt.Sprintf("read %d packs before its turn", k), received: received})
		case known && prev == RejectMissing:
			// A pack rejected as missing came after all: reject it at the
			// gate again; its record stands.
			r.snap.Late++
			ds = append(ds, decision{reason: RejectMissing, received: received, gate: ri.serial})
		case known || prior == UnitStateCommissioned || prior == UnitStateVerified:
			rejectHead(RejectDuplicate, "code of "+ri.serial+" read again")
		default:
			rejectHead(RejectWrongContent, "read "+truncate(ri.hri, 190))
		}
	}
	for _, d := range ds {
		r.decidedLocked(d)
		r.snap.LastReads = append([]ReadSummary{summary(d, ri.hri, r.s.clock.Now().UTC)}, r.snap.LastReads...)
		if len(r.snap.LastReads) > 8 {
			r.snap.LastReads = r.snap.LastReads[:8]
		}
	}
	r.snap.Reads++
	r.snap.Version++
	r.mu.Unlock()
	for _, d := range ds {
		r.decide(d, r.cfg.User)
		if d.reason == RejectClock {
			r.hold(r.rec, SystemUser, "clock", ErrorMessage(r.s.clock.Now().Trusted()), RunHeld)
		}
	}
}

func summary(d decision, hri string, at time.Time) ReadSummary {
	s := ReadSummary{At: at, Data: hri, Outcome: "rejected", Reason: d.reason}
	if d.u != nil {
		s.Serial = d.u.serial
	}
	if d.commission {
		s.Outcome, s.Reason = "commissioned", ""
	}
	return s
}

// decidedLocked notes a decision before it is recorded.
func (r *Run) decidedLocked(d decision) {
	if d.u == nil {
		return
	}
	if d.commission {
		r.decided[d.u.serial] = ""
	} else {
		r.decided[d.u.serial] = d.reason
	}
	r.snap.Deciding++
}

// decide commands the reject gate and records the decision durably, in the
// background: the decision waits for its pack's print record, and many
// decisions share one group commit. A rejected pack's gate is commanded at
// once, while its decision is being recorded, so that the gate's round trip
// adds nothing to the time the decision takes to be durable; the decision
// is counted once both are done.
func (r *Run) decide(d decision, user string) {
	r.sem <- struct{}{}
	r.dec.Add(1)
	go func() {
		defer func() { <-r.sem; r.dec.Done() }()
		if d.u == nil {
			// A carton without a pack of ours: reject it at the gate only.
			if err := r.cfg.Line.Reject(r.rec, d.gate); err != nil {
				r.hold(r.rec, SystemUser, "line", fmt.Sprintf("the reject gate did not take carton %s (%s): take it off the line by hand", d.gate, ErrorMessage(err)), RunHeld)
			}
			return
		}
		serial := d.u.serial
		var gate chan error // the reject gate's answer, once commanded
		reject := func() {
			if gate == nil {
				gate = make(chan error, 1)
				go func() { gate <- r.cfg.Line.Reject(r.rec, serial) }()
			}
		}
		if !d.commission {
			reject()
		}
		<-d.u.printed
		var err error
		if d.u.printErr != nil {
			err = fmt.Errorf("its print was not recorded: %w", d.u.printErr)
		} else {
			var evs []NewEvent
			if d.commission {
				evs = []NewEvent{
					{Payload: UnitVerified{GTIN: r.order.GTIN, Serial: serial, Device: r.names.camera, Read: d.read, Grade: gradeOrEmpty(d.grade)}, User: user},
					{Payload: UnitCommissioned{GTIN: r.order.GTIN, Serial: serial, Device: r.names.camera}, User: user},
				}
			} else {
				evs = []NewEvent{{Payload: UnitRejected{GTIN: r.order.GTIN, Serial: serial, Reason: d.reason, Device: r.names.camera, Detail: d.detail}, User: user}}
			}
			_, err = r.s.ledger.Append(r.rec, evs...)
			if d.commission && ErrorCode(err) == ECLOCK {
				// The clock stopped being trusted between the decision and
				// its record: the ledger refuses the commissioning, so the
				// pack is rejected instead.
				reject()
				d.commission, d.reason, d.detail = false, RejectClock, "the station clock could not be trusted when the decision was recorded"
				_, err = r.s.ledger.Append(r.rec, NewEvent{Payload: UnitRejected{GTIN: r.order.GTIN, Serial: serial, Reason: RejectClock,
					Device: r.names.camera, Detail: d.detail}, User: user})
				r.hold(r.rec, SystemUser, "clock", ErrorMessage(r.s.clock.Now().Trusted()), RunHeld)
			}
		}
		durable := time.Now()
		if err != nil && d.commission {
			// Not recorded: the pack must not leave the line as good.
			reject()
		}
		var gateErr error
		if gate != nil {
			gateErr = <-gate
		}
		r.mu.Lock()
		r.snap.Deciding--
		if err == nil {
			if d.commission {
				r.snap.Commissioned++
				r.snap.Remaining = max(0, r.snap.Remaining-1)
				if r.snap.Remaining == 0 && r.state == RunRunning {
					r.state, r.reason = RunDone, "the order's quantity is commissioned: complete the order"
				}
			} else {
				r.snap.Rejected++
				r.snap.Rejects[d.reason]++
			}
			r.lat = appendRing(r.lat, &r.latN, durable.Sub(d.received))
		}
		r.snap.Version++
		r.mu.Unlock()
		if gateErr != nil {
			r.hold(r.rec, SystemUser, "line", fmt.Sprintf("the reject gate did not take pack %s (%s): take it off the line by hand", serial, ErrorMessage(gateErr)), RunHeld)
		}
		if err != nil {
			where := "the pack was sent to the reject gate"
			if gateErr != nil {
				where = "take it off the line by hand"
			}
			r.hold(r.rec, SystemUser, "ledger", fmt.Sprintf("the decision for pack %s could not be recorded (%s): %s", serial, ErrorMessage(err), where), RunHeld)
		}
		r.wake()
	}()
}

func gradeOrEmpty(letter string) string {
	if letter == "-" {
		return ""
	}
	return letter
}

func appendRing(ring []time.Duration, n *int, d time.Duration) []time.Duration {
	if len(ring) < latencyRing {
		return append(ring, d)
	}
	ring[*n%latencyRing] = d
	*n++
	return ring
}

// lineStart brings the PLC to Execute from whatever state it is in, with
// the PackML commands that state needs.
func (r *Run) lineStart(ctx context.Context) error {
	for step := 0; step < 8; step++ {
		st := r.cfg.Line.Status()
		if !st.Connected {
			return Errorf(EDEVICE, "the line PLC %s is not connected", r.names.line)
		}
		var cmd LineCommand
		switch st.State {
		case LineStateExecute:
			return nil
		case LineStateIdle:
			cmd = LineCmdStart
		case LineStateHeld:
			cmd = LineCmdUnhold
		case LineStateSuspended:
			cmd = LineCmdUnsuspend
		case LineStateStopped, LineStateComplete:
			cmd = LineCmdReset
		case LineStateAborted:
			cmd = LineCmdClear
		}
		if cmd != 0 {
			if err := r.cfg.Line.Command(ctx, cmd); err != nil {
				return fmt.Errorf("start the line (PackML %s in state %s): %w", cmd, st.State, err)
			}
		}
		if err := r.waitLine(ctx, st.State); err != nil {
			return err
		}
	}
	return Errorf(EDEVICE, "the line PLC did not reach Execute: it is %s", r.cfg.Line.Status().State)
}

// waitLine waits until the PLC leaves state from.
func (r *Run) waitLine(ctx context.Context, from LineState) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StateTimeout)
	defer cancel()
	for st := range r.cfg.Line.Watch(ctx) {
		if st.State != from || !st.Connected {
			return nil
		}
	}
	return Errorf(EDEVICE, "the line PLC stayed %s for %s", from, r.cfg.StateTimeout)
}

// watchLine holds the run when the PLC stops, holds or aborts by itself.
func (r *Run) watchLine() {
	for st := range r.cfg.Line.Watch(r.ctx) {
		r.mu.Lock()
		r.snap.Line = st
		r.snap.Version++
		running := r.state == RunRunning || r.state == RunDone
		r.mu.Unlock()
		if !running {
			continue
		}
		switch {
		case !st.Connected:
			r.hold(r.rec, SystemUser, "line", "the line PLC is not connected", RunHeld)
		case st.State == LineStateHeld || st.State == LineStateHolding || st.State == LineStateStopped || st.State == LineStateStopping ||
			st.State == LineStateAborted || st.State == LineStateAborting:
			why := ""
			if !st.StopReason.IsZero() {
				why = fmt.Sprintf(": reason %d %s", st.StopReason.ID, st.StopReason.Message)
			}
			r.hold(r.rec, SystemUser, "line", fmt.Sprintf("the line PLC went to %s by itself%s", st.State, why), RunHeld)
		}
	}
}

// watchHealth checks the devices, the clock and the pool.
func (r *Run) watchHealth() {
	tick := time.NewTicker(r.cfg.HealthEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		hs := []Health{r.cfg.Coder.Health(), r.cfg.Camera.Health(), r.cfg.Line.Health()}
		pool, perr := r.s.pools.Status(r.ctx, r.order.GTIN)
		r.mu.Lock()
		r.snap.Devices = hs
		if perr == nil {
			r.snap.Pool = pool
		}
		running := r.state == RunRunning || r.state == RunDone
		r.snap.Version++
		r.mu.Unlock()
		if !running {
			continue
		}
		for i, h := range hs {
			if !h.OK() {
				kind := []string{"coder", "camera", "line PLC"}[i]
				if i == 0 {
					r.mu.Lock()
					r.coderDirty = true
					r.mu.Unlock()
				}
				r.hold(r.rec, SystemUser, kind, fmt.Sprintf("the %s %s is %s: %s", kind, h.Device, h.State, h.Reason), RunHeld)
				break
			}
		}
		if err := r.s.clock.Now().Trusted(); err != nil {
			r.hold(r.rec, SystemUser, "clock", ErrorMessage(err), RunHeld)
		}
	}
}

// notifier sends batched snapshots to cfg.Notify.
func (r *Run) notifier() {
	if r.cfg.Notify == nil {
		return
	}
	tick := time.NewTicker(r.cfg.NotifyEvery)
	defer tick.Stop()
	var last uint64
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		v := r.snap.Version
		var s RunSnapshot
		if v != last {
			s = r.snapshotLocked()
		}
		r.mu.Unlock()
		if v != last {
			last = v
			r.cfg.Notify(s)
		}
	}
}
