package scanner

// link.go is the same in devices/zpl, devices/coder, devices/camera and
// devices/scanner (only the package clause differs): sibling packages may not
// import each other, and devices/ has no shared internal package yet.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// DialFunc opens a connection to a device. It must give up when ctx is done.
type DialFunc func(ctx context.Context) (io.ReadWriteCloser, error)

// Default reconnect backoff: the first retry waits minBackoff, each failure
// doubles the wait up to maxBackoff, and a successful connection resets it.
const (
	defaultMinBackoff = 100 * time.Millisecond
	defaultMaxBackoff = 5 * time.Second
)

// logKeyDevice is the log attribute naming the device.
const logKeyDevice = "device"

// errClosed is returned once the driver was closed.
var errClosed = errors.New("driver closed")

// link holds the connection to one device: it connects (and reconnects with
// backoff when it has a dial function), runs one reader goroutine per
// connection that splits the byte stream into tokens, hands responses to the
// request in progress and events to whoever waits for them, and keeps the
// device's Health. No method blocks beyond its ctx.
type link struct {
	health     healthState
	dial       DialFunc
	split      bufio.SplitFunc
	isEvent    func(tok []byte) bool // nil: every token is a response
	minBackoff time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger

	events chan []byte // events of every connection, in order

	mu      sync.Mutex
	fixed   io.ReadWriter // the connection given at construction, not yet used
	cur     *conn
	dialing chan struct{} // closed when the dial in progress ends; nil when none
	backoff time.Duration
	retryAt time.Time
	closed  bool
}

// conn is one connection and its reader goroutine.
type conn struct {
	rw      io.ReadWriter
	resp    chan []byte   // responses, in order
	done    chan struct{} // closed when the reader stopped; err says why
	err     error
	once    sync.Once
	started time.Time
}

func newLink(rw io.ReadWriter, dial DialFunc, h healthState, split bufio.SplitFunc, isEvent func([]byte) bool, minB, maxB time.Duration, logger *slog.Logger) *link {
	if minB <= 0 {
		minB = defaultMinBackoff
	}
	if maxB < minB {
		maxB = max(defaultMaxBackoff, minB)
	}
	return &link{
		health: h, dial: dial, split: split, isEvent: isEvent,
		minBackoff: minB, maxBackoff: maxB, logger: logger,
		events: make(chan []byte, 1024), fixed: rw, backoff: minB,
	}
}

// get returns the live connection, connecting first if needed. It does not
// wait for a backoff to pass: while one runs it fails with EDEVICE at once.
func (l *link) get(ctx context.Context) (*conn, error) {
	for {
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is closed", l.health.name()), errClosed)
		case l.cur != nil:
			c := l.cur
			l.mu.Unlock()
			return c, nil
		case l.fixed != nil:
			c := l.start(l.fixed)
			l.fixed = nil
			l.mu.Unlock()
			return c, nil
		case l.dial == nil:
			l.mu.Unlock()
			return nil, station.Errorf(station.EDEVICE, "%s: connection lost and no way to reconnect", l.health.name())
		case l.dialing != nil:
			wait := l.dialing
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: still connecting", l.health.name()), ctx.Err())
			}
		case time.Now().Before(l.retryAt):
			in := time.Until(l.retryAt).Round(time.Millisecond)
			l.mu.Unlock()
			return nil, station.Errorf(station.EDEVICE, "%s is not connected: retrying in %s", l.health.name(), in)
		}
		l.dialing = make(chan struct{})
		l.mu.Unlock()

		rwc, err := l.dial(ctx)

		l.mu.Lock()
		close(l.dialing)
		l.dialing = nil
		if err != nil {
			l.retryAt = time.Now().Add(l.backoff)
			wait := l.backoff
			l.backoff = min(2*l.backoff, l.maxBackoff)
			l.mu.Unlock()
			l.health.set(station.DeviceDisconnected, "cannot connect: "+err.Error())
			l.logger.Debug("connect failed", "retry_in", wait, "error", err)
			return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is not connected", l.health.name()), err)
		}
		if l.closed {
			l.mu.Unlock()
			rwc.Close()
			continue
		}
		l.backoff = l.minBackoff
		c := l.start(rwc)
		l.mu.Unlock()
		l.logger.Info("connected")
		return c, nil
	}
}

// waitRetry blocks until the backoff in progress has passed or ctx is done.
func (l *link) waitRetry(ctx context.Context) error {
	l.mu.Lock()
	d := time.Until(l.retryAt)
	l.mu.Unlock()
	if d <= 0 {
		d = l.minBackoff / 4
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start begins reading rw; the caller holds l.mu.
func (l *link) start(rw io.ReadWriter) *conn {
	c := &conn{rw: rw, resp: make(chan []byte, 64), done: make(chan struct{}), started: time.Now()}
	l.cur = c
	l.health.set(station.DeviceConnected, "")
	go l.read(c)
	return c
}

func (l *link) read(c *conn) {
	sc := bufio.NewScanner(c.rw)
	sc.Buffer(make([]byte, 4096), 1<<20)
	sc.Split(l.split)
	for sc.Scan() {
		tok := append([]byte(nil), sc.Bytes()...)
		ch := c.resp
		if l.isEvent != nil && l.isEvent(tok) {
			ch = l.events
		}
		select {
		case ch <- tok:
		case <-c.done:
			return
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	l.drop(c, fmt.Errorf("read: %w", err))
}

// drop ends c (closing it if it can be closed) and marks the device
// disconnected. Later calls for the same connection do nothing.
func (l *link) drop(c *conn, err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
		if cl, ok := c.rw.(io.Closer); ok {
			cl.Close()
		}
		l.mu.Lock()
		if l.cur == c {
			// Reconnect at once, but at most once per minBackoff, so that a
			// peer that accepts and hangs up cannot make us spin.
			l.cur = nil
			l.retryAt = c.started.Add(l.minBackoff)
		}
		closed := l.closed
		l.mu.Unlock()
		if !closed {
			l.health.set(station.DeviceDisconnected, "connection lost: "+err.Error())
			l.logger.Warn("connection lost", "error", err)
		}
	})
}

// send writes p on c. The write runs in its own goroutine so that a stuck
// device cannot hold the caller beyond ctx; if ctx ends first the connection
// is dropped, since a half-written frame leaves the device in an unknown state.
func (l *link) send(ctx context.Context, c *conn, p []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.rw.Write(p)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			l.drop(c, fmt.Errorf("write: %w", err))
			return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while sending", l.health.name()), err)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while sending", l.health.name()), c.err)
	case <-ctx.Done():
		l.drop(c, fmt.Errorf("write: %w", ctx.Err()))
		return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s did not accept data in time", l.health.name()), ctx.Err())
	}
}

// recv waits for the next response on c. When ctx ends first the connection
// is dropped: a late answer would otherwise be taken for the next request's.
func (l *link) recv(ctx context.Context, c *conn) ([]byte, error) {
	select {
	case tok := <-c.resp:
		return tok, nil
	case <-c.done:
		select { // a response read just before the end still counts
		case tok := <-c.resp:
			return tok, nil
		default:
		}
		return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while waiting for an answer", l.health.name()), c.err)
	case <-ctx.Done():
		l.drop(c, fmt.Errorf("no answer: %w", ctx.Err()))
		return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s did not answer in time", l.health.name()), ctx.Err())
	}
}

// drain discards responses that arrived unasked (late or unsolicited).
func (l *link) drain(c *conn) int {
	n := 0
	for {
		select {
		case <-c.resp:
			n++
		default:
			return n
		}
	}
}

// event waits for the next event, reconnecting (with backoff) as long as ctx
// allows. Events read before a connection was lost are delivered first.
func (l *link) event(ctx context.Context) ([]byte, error) {
	for {
		select {
		case tok := <-l.events:
			return tok, nil
		default:
		}
		c, err := l.get(ctx)
		if errors.Is(err, errClosed) {
			return nil, err
		}
		if err != nil {
			if werr := l.waitRetry(ctx); werr != nil {
				return nil, fmt.Errorf("%w: %w", err, werr)
			}
			continue
		}
		select {
		case tok := <-l.events:
			return tok, nil
		case <-c.done:
			continue
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close ends the current connection and refuses new ones.
func (l *link) close() error {
	l.mu.Lock()
	l.closed = true
	c := l.cur
	fixed := l.fixed
	l.fixed = nil
	l.mu.Unlock()
	if c != nil {
		l.drop(c, errClosed)
	} else if cl, ok := fixed.(io.Closer); ok {
		cl.Close()
	}
	l.health.set(station.DeviceDisconnected, "closed")
	return nil
}

// healthState is a device's Health, safe for concurrent use.
type healthState struct {
	mu    *sync.Mutex
	h     *station.Health
	clock station.Clock
}

func newHealth(name, kind string, clock station.Clock) healthState {
	return healthState{
		mu:    new(sync.Mutex),
		h:     &station.Health{Device: name, Kind: kind, State: station.DeviceDisconnected, Reason: "not connected yet", Since: clock.Now().UTC},
		clock: clock,
	}
}

func (s healthState) name() string { return s.h.Device }

func (s healthState) get() station.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.h
}

// set records a state and its reason; Since changes only with the state.
func (s healthState) set(state station.DeviceState, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.State != state {
		s.h.Since = s.clock.Now().UTC
	}
	s.h.State, s.h.Reason = state, reason
}

// systemClock is the default clock: the system's UTC, trusted as synced.
var systemClock = station.ClockFunc(func() station.Time {
	return station.Time{UTC: time.Now().UTC(), State: station.ClockSynced}
})
