// Package link owns the connection to one device for the stream drivers
// (devices/zpl, devices/coder, devices/camera, devices/scanner): it connects
// and reconnects with backoff, runs one reader goroutine per connection that
// splits the byte stream into tokens, hands responses to the request in
// progress and events to whoever waits for them, and keeps the device's
// Health. No method blocks beyond its ctx.
//
// It also holds what those drivers open their connections with: DialTCP,
// OpenSerial and DialSerial.
package link

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

// Default reconnect backoff: the first retry waits DefaultMinBackoff, each
// failure doubles the wait up to DefaultMaxBackoff, and a successful
// connection resets it.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// LogKeyDevice is the log attribute naming the device.
const LogKeyDevice = "device"

// ErrClosed is returned once the link was closed.
var ErrClosed = errors.New("driver closed")

// Options configure a Link. Health and Split are required.
type Options struct {
	// Dial reconnects after the connection fails (and connects first when
	// New gets a nil io.ReadWriter). Nil: no reconnection.
	Dial DialFunc
	// Health is the device's health, kept up to date by the Link.
	Health *Health
	// Split splits the byte stream into tokens.
	Split bufio.SplitFunc
	// IsEvent tells events (unsolicited tokens, read with Event) from
	// responses (read with Recv). Nil: every token is a response.
	IsEvent func(tok []byte) bool
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Link holds the connection to one device. It is safe for concurrent use;
// keeping requests and their responses in step is the driver's job.
type Link struct {
	health     *Health
	dial       DialFunc
	split      bufio.SplitFunc
	isEvent    func(tok []byte) bool
	minBackoff time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger

	events chan event // events of every connection, in order

	mu      sync.Mutex
	fixed   io.ReadWriter // the connection given at construction, not yet used
	cur     *Conn
	dialing chan struct{} // closed when the dial in progress ends; nil when none
	backoff time.Duration
	retryAt time.Time
	closed  bool
}

// event is one event token and when the reader goroutine read it.
type event struct {
	tok []byte
	at  time.Time // time.Now, with its monotonic reading
}

// Conn is one connection and its reader goroutine. It is valid until
// dropped; Get returns the next one.
type Conn struct {
	rw      io.ReadWriter
	resp    chan []byte   // responses, in order
	done    chan struct{} // closed when the reader stopped; err says why
	err     error
	once    sync.Once
	started time.Time
}

// New returns a link to the device at the other end of rw (nil when
// opt.Dial makes the first connection). Nothing is read before the first
// Get.
func New(rw io.ReadWriter, opt Options) *Link {
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(DefaultMaxBackoff, opt.MinBackoff)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Link{
		health: opt.Health, dial: opt.Dial, split: opt.Split, isEvent: opt.IsEvent,
		minBackoff: opt.MinBackoff, maxBackoff: opt.MaxBackoff, logger: opt.Logger,
		events: make(chan event, 1024), fixed: rw, backoff: opt.MinBackoff,
	}
}

// Health returns the device's health, which the link updates.
func (l *Link) Health() *Health { return l.health }

// Get returns the live connection, connecting first if needed. It does not
// wait for a backoff to pass: while one runs it fails with EDEVICE at once.
// Once the link is closed it fails with EDEVICE and ErrClosed.
func (l *Link) Get(ctx context.Context) (*Conn, error) {
	for {
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is closed", l.health.Name()), ErrClosed)
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
			return nil, station.Errorf(station.EDEVICE, "%s: connection lost and no way to reconnect", l.health.Name())
		case l.dialing != nil:
			wait := l.dialing
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: still connecting", l.health.Name()), ctx.Err())
			}
		case time.Now().Before(l.retryAt):
			in := time.Until(l.retryAt).Round(time.Millisecond)
			l.mu.Unlock()
			return nil, station.Errorf(station.EDEVICE, "%s is not connected: retrying in %s", l.health.Name(), in)
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
			l.health.Set(station.DeviceDisconnected, "cannot connect: "+err.Error())
			l.logger.Debug("connect failed", "retry_in", wait, "error", err)
			return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is not connected", l.health.Name()), err)
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
func (l *Link) waitRetry(ctx context.Context) error {
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
func (l *Link) start(rw io.ReadWriter) *Conn {
	c := &Conn{rw: rw, resp: make(chan []byte, 64), done: make(chan struct{}), started: time.Now()}
	l.cur = c
	l.health.Set(station.DeviceConnected, "")
	go l.read(c)
	return c
}

func (l *Link) read(c *Conn) {
	sc := bufio.NewScanner(c.rw)
	sc.Buffer(make([]byte, 4096), 1<<20)
	sc.Split(l.split)
	for sc.Scan() {
		at := time.Now()
		tok := append([]byte(nil), sc.Bytes()...)
		if l.isEvent != nil && l.isEvent(tok) {
			select {
			case l.events <- event{tok: tok, at: at}:
			case <-c.done:
				return
			}
			continue
		}
		select {
		case c.resp <- tok:
		case <-c.done:
			return
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	l.Drop(c, fmt.Errorf("read: %w", err))
}

// Drop ends c (closing it if it can be closed) and marks the device
// disconnected; err says why. Later calls for the same connection do
// nothing. Drivers drop a connection that sent something they cannot read,
// to resynchronise on a fresh one.
func (l *Link) Drop(c *Conn, err error) {
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
			l.health.Set(station.DeviceDisconnected, "connection lost: "+err.Error())
			l.logger.Warn("connection lost", "error", err)
		}
	})
}

// Send writes p on c. The write runs in its own goroutine so that a stuck
// device cannot hold the caller beyond ctx; if ctx ends first the connection
// is dropped, since a half-written frame leaves the device in an unknown state.
func (l *Link) Send(ctx context.Context, c *Conn, p []byte) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.rw.Write(p)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			l.Drop(c, fmt.Errorf("write: %w", err))
			return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while sending", l.health.Name()), err)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while sending", l.health.Name()), c.err)
	case <-ctx.Done():
		l.Drop(c, fmt.Errorf("write: %w", ctx.Err()))
		return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s did not accept data in time", l.health.Name()), ctx.Err())
	}
}

// Recv waits for the next response on c. When ctx ends first the connection
// is dropped: a late answer would otherwise be taken for the next request's.
func (l *Link) Recv(ctx context.Context, c *Conn) ([]byte, error) {
	select {
	case tok := <-c.resp:
		return tok, nil
	case <-c.done:
		select { // a response read just before the end still counts
		case tok := <-c.resp:
			return tok, nil
		default:
		}
		return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s: connection lost while waiting for an answer", l.health.Name()), c.err)
	case <-ctx.Done():
		l.Drop(c, fmt.Errorf("no answer: %w", ctx.Err()))
		return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s did not answer in time", l.health.Name()), ctx.Err())
	}
}

// Drain discards the responses on c that arrived unasked (late or
// unsolicited) and returns how many there were.
func (l *Link) Drain(c *Conn) int {
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

// Event waits for the next event, reconnecting (with backoff) as long as ctx
// allows. Events read before a connection was lost are delivered first.
func (l *Link) Event(ctx context.Context) ([]byte, error) {
	tok, _, err := l.EventAt(ctx)
	return tok, err
}

// EventAt is Event, and also returns when the reader goroutine read the
// event off the connection (time.Now, with its monotonic reading), so that
// a driver can tell how long the event waited before it was taken.
func (l *Link) EventAt(ctx context.Context) ([]byte, time.Time, error) {
	for {
		select {
		case ev := <-l.events:
			return ev.tok, ev.at, nil
		default:
		}
		c, err := l.Get(ctx)
		if errors.Is(err, ErrClosed) {
			return nil, time.Time{}, err
		}
		if err != nil {
			if werr := l.waitRetry(ctx); werr != nil {
				return nil, time.Time{}, fmt.Errorf("%w: %w", err, werr)
			}
			continue
		}
		select {
		case ev := <-l.events:
			return ev.tok, ev.at, nil
		case <-c.done:
			continue
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		}
	}
}

// Close ends the current connection and refuses new ones. It always
// returns nil.
func (l *Link) Close() error {
	l.mu.Lock()
	l.closed = true
	c := l.cur
	fixed := l.fixed
	l.fixed = nil
	l.mu.Unlock()
	if c != nil {
		l.Drop(c, ErrClosed)
	} else if cl, ok := fixed.(io.Closer); ok {
		cl.Close()
	}
	l.health.Set(station.DeviceDisconnected, "closed")
	return nil
}

// Health is a device's station.Health, safe for concurrent use.
type Health struct {
	clock station.Clock
	mu    sync.Mutex
	h     station.Health
}

// NewHealth returns the health of a device called name, of the given kind
// ("printer", "coder", ...): disconnected, not connected yet. clock stamps
// state changes.
func NewHealth(name, kind string, clock station.Clock) *Health {
	return &Health{
		clock: clock,
		h:     station.Health{Device: name, Kind: kind, State: station.DeviceDisconnected, Reason: "not connected yet", Since: clock.Now().UTC},
	}
}

// Name is the device's name.
func (s *Health) Name() string { return s.h.Device } // never changes: no lock

// Get returns the health as last set; it never blocks on I/O.
func (s *Health) Get() station.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// Set records a state and its reason; Since changes only with the state.
func (s *Health) Set(state station.DeviceState, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.State != state {
		s.h.Since = s.clock.Now().UTC
	}
	s.h.State, s.h.Reason = state, reason
}

// Replace records state and reason only while the state is from, and
// reports whether it did: a driver clearing a condition of its own (a
// warning) does not overwrite a state the link set meanwhile.
func (s *Health) Replace(from, state station.DeviceState, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.State != from {
		return false
	}
	if state != from {
		s.h.Since = s.clock.Now().UTC
	}
	s.h.State, s.h.Reason = state, reason
	return true
}

// SystemClock returns the default clock of the drivers: the system's UTC,
// trusted as synced.
func SystemClock() station.Clock { return station.ClockFunc(systemNow) }

func systemNow() station.Time {
	return station.Time{UTC: time.Now().UTC(), State: station.ClockSynced}
}
