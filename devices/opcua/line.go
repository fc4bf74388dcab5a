// Package opcua is the line PLC driver: a station.Line over OPC UA (the
// github.com/gopcua/opcua client) for a PackML unit.
//
// One background loop owns the connection: it connects (security None, or
// Basic256Sha256 as configured), resolves the configured node ids against the
// server's namespace array, reads every datum once, then follows them with a
// subscription (monitored items), falling back to polling reads only when the
// server refuses subscriptions or monitored items. A periodic read of the
// server's state detects a half-open connection. When anything fails the
// session is dropped and rebuilt with exponential backoff; the gopcua client's
// own reconnection is off, since it gives up on a refused connection.
//
// Commands are OPC UA method calls (OPC 30050: Start, Stop, Hold, ... on the
// unit object) or writes of PackTags command tags (Command.CntrlCmd, then
// Command.CmdChangeRequest), as configured; the reject gate is a method with
// the unit's id as its argument or a tag written with it. Command and Reject
// never wait for a connection: while the PLC is away they fail at once with
// EDEVICE.
//
// Health: disconnected while there is no session (with the last error),
// faulted when the PLC is Aborting or Aborted or does not expose a configured
// node, degraded when it is stopped or held with a stop reason, whose text
// becomes the reason shown; connected otherwise.
package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

var _ station.Line = (*Line)(nil)

// Line is a PackML line PLC reached over OPC UA. Open starts it, Close stops
// it; its methods are safe for concurrent use.
type Line struct {
	// Logger receives connection events; default slog.Default() with
	// component=opcua and the device name. Set it before Open.
	Logger *slog.Logger
	// Clock stamps Health.Since; default the system clock in UTC. Set it
	// before Open.
	Clock station.Clock

	cfg Config

	// pollOnly is set once the server has refused subscriptions; only the
	// connection loop touches it.
	pollOnly bool

	mu       sync.Mutex
	status   station.LineStatus
	health   station.Health
	sess     *session // nil while not connected
	watchers map[*watcher]struct{}
	opened   bool
	closed   bool

	cancel context.CancelFunc
	done   chan struct{} // closed when Close begins
	wg     sync.WaitGroup
}

// New returns a driver for cfg, or an EINVALID error naming what is wrong in
// it. Open connects.
func New(cfg Config) (*Line, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Line{
		Logger:   slog.Default().With("component", "opcua", "device", cfg.Name),
		cfg:      cfg,
		watchers: map[*watcher]struct{}{},
		done:     make(chan struct{}),
	}
	l.health = station.Health{
		Device: cfg.Name, Kind: "plc", State: station.DeviceDisconnected,
		Reason: fmt.Sprintf("connecting to the PLC at %s", cfg.Endpoint),
	}
	return l, nil
}

// Open starts the connection loop and returns at once; Health and Watch tell
// when the PLC is reached.
func (l *Line) Open() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened || l.closed {
		return fmt.Errorf("open PLC %s: already opened", l.cfg.Name)
	}
	l.opened = true
	l.health.Since = l.now()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go l.run(ctx)
	return nil
}

// Close stops the connection loop, closes the session and every Watch
// channel, and waits for the driver's goroutines.
func (l *Line) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	l.wg.Wait()
	return nil
}

// Health returns the PLC's health; it never blocks.
func (l *Line) Health() station.Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// Status returns the last known status; it never blocks.
func (l *Line) Status() station.LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

func (l *Line) now() time.Time {
	if l.Clock != nil {
		return l.Clock.Now().UTC
	}
	return time.Now().UTC()
}

// run keeps a session with the PLC until ctx is done.
func (l *Line) run(ctx context.Context) {
	defer l.wg.Done()
	wait := l.cfg.ReconnectMin
	for {
		connected, err := l.session(ctx)
		if ctx.Err() != nil {
			l.setClosed()
			return
		}
		if connected {
			wait = l.cfg.ReconnectMin
		}
		l.setDisconnected(err)
		if connected {
			l.Logger.Warn("PLC connection lost, reconnecting", "err", err, "wait", wait)
		} else {
			l.Logger.Debug("PLC connection attempt failed", "err", err, "wait", wait)
		}
		select {
		case <-ctx.Done():
			l.setClosed()
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, l.cfg.ReconnectMax)
	}
}

// update applies f to the status and, when that changes it, recomputes the
// health and tells the watchers.
func (l *Line) update(f func(st *station.LineStatus)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updateLocked(f)
}

func (l *Line) updateLocked(f func(st *station.LineStatus)) {
	old := l.status
	f(&l.status)
	if l.status == old {
		return
	}
	l.setHealthLocked(l.healthOf(l.status))
	for w := range l.watchers {
		w.push(l.status)
	}
}

// setConnected installs a live session with its first full reading.
func (l *Line) setConnected(s *session, st station.LineStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sess = s
	st.Connected = true
	l.updateLocked(func(cur *station.LineStatus) { *cur = st })
	l.setHealthLocked(l.healthOf(l.status)) // even when the status did not change
}

// setDisconnected records that there is no session, and why.
func (l *Line) setDisconnected(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sess = nil
	var nerr *nodeError
	switch {
	case errors.As(cause, &nerr):
		l.setHealthLocked(station.DeviceFaulted, nerr.operatorText())
	default:
		l.setHealthLocked(station.DeviceDisconnected,
			fmt.Sprintf("no connection to the PLC at %s (%v); reconnecting", l.cfg.Endpoint, cause))
	}
	l.updateLocked(func(st *station.LineStatus) { st.Connected = false })
}

// setClosed records that the driver was closed.
func (l *Line) setClosed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sess = nil
	l.setHealthLocked(station.DeviceDisconnected, "the PLC driver is closed")
	l.updateLocked(func(st *station.LineStatus) { st.Connected = false })
}

// healthOf says how a connected PLC in status st is doing.
func (l *Line) healthOf(st station.LineStatus) (station.DeviceState, string) {
	if !st.Connected {
		return l.health.State, l.health.Reason
	}
	why := ""
	if !st.StopReason.IsZero() {
		why = ": " + stopReasonText(st.StopReason)
	}
	switch st.State {
	case station.LineStateAborting, station.LineStateAborted:
		if why == "" {
			why = " (the PLC gives no stop reason)"
		}
		return station.DeviceFaulted, "PLC " + st.State.String() + why
	case station.LineStateHolding, station.LineStateHeld, station.LineStateStopping, station.LineStateStopped:
		if why != "" {
			return station.DeviceDegraded, "PLC " + st.State.String() + why
		}
	}
	return station.DeviceConnected, ""
}

func stopReasonText(r station.LineStopReason) string {
	switch {
	case r.Message != "" && r.ID != 0:
		return fmt.Sprintf("%s (stop reason %d)", r.Message, r.ID)
	case r.Message != "":
		return r.Message
	}
	return fmt.Sprintf("stop reason %d", r.ID)
}

func (l *Line) setHealthLocked(state station.DeviceState, reason string) {
	if state != l.health.State {
		l.health.Since = l.now()
		l.Logger.Info("PLC health", "state", state, "reason", reason)
	}
	l.health.State, l.health.Reason = state, reason
}

// current returns the live session, or an EDEVICE error.
func (l *Line) current(what string) (*session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess == nil {
		return nil, station.Errorf(station.EDEVICE, "PLC %s is not connected: cannot %s (%s)", l.cfg.Name, what, l.health.Reason)
	}
	return l.sess, nil
}

// requestCtx bounds a request by the configured timeout when ctx has no
// deadline of its own.
func (l *Line) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, l.cfg.RequestTimeout)
}

// Watch delivers the current status, then every change, until ctx is done or
// the driver is closed.
func (l *Line) Watch(ctx context.Context) <-chan station.LineStatus {
	out := make(chan station.LineStatus)
	w := &watcher{wake: make(chan struct{}, 1)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		close(out)
		return out
	}
	w.push(l.status)
	l.watchers[w] = struct{}{}
	l.wg.Add(1) // under l.mu, so never after Close began waiting
	l.mu.Unlock()

	go func() {
		defer l.wg.Done()
		defer close(out)
		defer func() {
			l.mu.Lock()
			delete(l.watchers, w)
			l.mu.Unlock()
		}()
		for {
			st, ok := w.pop()
			if !ok {
				select {
				case <-w.wake:
					continue
				case <-ctx.Done():
					return
				case <-l.done:
					return
				}
			}
			select {
			case out <- st:
			case <-ctx.Done():
				return
			case <-l.done:
				return
			}
		}
	}()
	return out
}

// watcherQueue is how many statuses a watcher may fall behind before the
// oldest are dropped.
const watcherQueue = 256

// watcher queues statuses for one Watch channel, so that a slow receiver
// never blocks the driver.
type watcher struct {
	mu    sync.Mutex
	queue []station.LineStatus
	wake  chan struct{}
}

func (w *watcher) push(st station.LineStatus) {
	w.mu.Lock()
	if len(w.queue) == watcherQueue {
		w.queue = w.queue[1:]
	}
	w.queue = append(w.queue, st)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) pop() (station.LineStatus, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return station.LineStatus{}, false
	}
	st := w.queue[0]
	w.queue = w.queue[1:]
	return st, true
}
