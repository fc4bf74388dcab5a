package link_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/internal/link"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 80 * time.Millisecond
)

// dialer dials a loopback address that the test can change, and records
// when each attempt started.
type dialer struct {
	mu     sync.Mutex
	addr   string
	starts []time.Time
}

func (d *dialer) setAddr(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addr = addr
}

func (d *dialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.starts)
}

func (d *dialer) times() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.starts...)
}

func (d *dialer) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	d.mu.Lock()
	d.starts = append(d.starts, time.Now())
	addr := d.addr
	d.mu.Unlock()
	return link.DialTCP("printer", addr)(ctx)
}

// MustListen listens on loopback and hands each accepted connection to
// serve in its own goroutine.
func MustListen(tb testing.TB, serve func(net.Conn)) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln
}

// closedAddr returns a loopback address nothing listens on: a dial there is
// refused at once.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newLink(rw io.ReadWriter, dial link.DialFunc, clock station.Clock) *link.Link {
	if clock == nil {
		clock = link.SystemClock()
	}
	isEvent := func(tok []byte) bool { return strings.HasPrefix(string(tok), "EV ") }
	return link.New(rw, link.Options{
		Dial: dial, Health: link.NewHealth("p1", "printer", clock), Split: link.ScanLines, IsEvent: isEvent,
		MinBackoff: minBackoff, MaxBackoff: maxBackoff, Logger: slog.New(slog.DiscardHandler),
	})
}

// retryIn reads how long a Get refused during a backoff says it waits.
func retryIn(tb testing.TB, err error) time.Duration {
	tb.Helper()
	msg := station.ErrorMessage(err)
	_, after, ok := strings.Cut(msg, "retrying in ")
	if !ok {
		tb.Fatalf("Get refused with %q, want 'retrying in'", msg)
	}
	d, perr := time.ParseDuration(after)
	if perr != nil {
		tb.Fatalf("Get refused with %q: %v", msg, perr)
	}
	return d
}

// failUntilDial calls Get until it makes a dial attempt, which must fail,
// checking that every refusal before it waits at most wait.
func failUntilDial(tb testing.TB, l *link.Link, d *dialer, wait time.Duration) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		n := d.count()
		_, err := l.Get(ctx)
		if err == nil {
			tb.Fatal("Get succeeded, want a refused dial")
		}
		if got := station.ErrorCode(err); got != station.EDEVICE {
			tb.Fatalf("ErrorCode=%q, want %q (err: %v)", got, station.EDEVICE, err)
		}
		if d.count() > n {
			return err
		}
		if got := retryIn(tb, err); got > wait {
			tb.Fatalf("retrying in %s, want at most %s", got, wait)
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatal("no dial attempt within 5s")
	return nil
}

func TestLink_Reconnect(t *testing.T) {
	t.Run("Backoff", func(t *testing.T) {
		d := &dialer{addr: closedAddr(t)}
		l := newLink(nil, d.dial, nil)
		defer l.Close()

		// Each refused dial doubles the wait before the next, up to maxBackoff.
		waits := []time.Duration{0, 10, 20, 40, 80, 80}
		for i, w := range waits {
			err := failUntilDial(t, l, d, w*time.Millisecond)
			if i == 0 {
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("first dial: err=%v, want connection refused", err)
				}
				h := l.Health().Get()
				if h.State != station.DeviceDisconnected || !strings.HasPrefix(h.Reason, "cannot connect: dial printer ") {
					t.Fatalf("Health=%s %q, want disconnected, cannot connect", h.State, h.Reason)
				}
			}
		}
		starts := d.times()
		for i := 1; i < len(starts); i++ {
			if got, want := starts[i].Sub(starts[i-1]), waits[i]*time.Millisecond; got < want {
				t.Fatalf("dial %d came %s after the one before, want at least %s", i, got, want)
			}
		}

		// The peer comes back: the next attempt connects, and an event is read.
		ln := MustListen(t, func(c net.Conn) {
			io.WriteString(c, "EV hello\n")
			io.Copy(io.Discard, c) // until the link drops it
			c.Close()
		})
		d.setAddr(ln.Addr().String())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ev, err := l.Event(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(ev), "EV hello"; got != want {
			t.Fatalf("Event=%q, want %q", got, want)
		}
		if got := l.Health().Get().State; got != station.DeviceConnected {
			t.Fatalf("Health.State=%s, want connected", got)
		}

		// A connection resets the backoff: after it is lost and the peer is
		// gone again, the first refused dial waits minBackoff, not maxBackoff.
		c, err := l.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.setAddr(closedAddr(t))
		l.Drop(c, errors.New("test drops it"))
		failUntilDial(t, l, d, minBackoff)
		failUntilDial(t, l, d, minBackoff)
		failUntilDial(t, l, d, 2*minBackoff)
	})

	t.Run("PeerHangsUp", func(t *testing.T) {
		// A peer that accepts and hangs up at once must not make the link
		// spin: it reconnects at most once per minBackoff.
		var accepted atomic.Int32
		ln := MustListen(t, func(c net.Conn) {
			accepted.Add(1)
			c.Close()
		})
		d := &dialer{addr: ln.Addr().String()}
		l := newLink(nil, d.dial, nil)
		defer l.Close()
		const window = 30 * minBackoff
		ctx, cancel := context.WithTimeout(context.Background(), window)
		defer cancel()
		_, err := l.Event(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Event err=%v, want the deadline", err)
		}
		starts := d.times()
		if len(starts) < 3 {
			t.Fatalf("%d dials in %s, want the link to keep reconnecting", len(starts), window)
		}
		for i := 1; i < len(starts); i++ {
			if got := starts[i].Sub(starts[i-1]); got < minBackoff {
				t.Fatalf("dial %d came %s after the one before, want at least %s", i, got, minBackoff)
			}
		}
		stationtest.Poll(t, 5*time.Second, "peer saw the connections", func() bool { return int(accepted.Load()) >= len(starts)-1 })
	})
}

func TestHealth_Transitions(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ticks atomic.Int64
	clock := station.ClockFunc(func() station.Time {
		return station.Time{UTC: base.Add(time.Duration(ticks.Add(1)) * time.Second), State: station.ClockSynced}
	})

	ours, peer := net.Pipe()
	defer peer.Close()
	l := newLink(ours, nil, clock)
	h := l.Health()
	if got, want := h.Name(), "p1"; got != want {
		t.Fatalf("Name=%q, want %q", got, want)
	}
	h0 := h.Get()
	if h0.State != station.DeviceDisconnected || h0.Reason != "not connected yet" || h0.Kind != "printer" || h0.Device != "p1" {
		t.Fatalf("initial Health=%+v, want printer p1 disconnected, not connected yet", h0)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h1 := h.Get()
	if h1.State != station.DeviceConnected || h1.Reason != "" || !h1.Since.After(h0.Since) {
		t.Fatalf("Health=%+v after connecting, want connected since after %s", h1, h0.Since)
	}

	// Since moves with the state, not with the reason.
	h.Set(station.DeviceDegraded, "ink low")
	h2 := h.Get()
	h.Set(station.DeviceDegraded, "ink very low")
	h3 := h.Get()
	if !h2.Since.After(h1.Since) || !h3.Since.Equal(h2.Since) || h3.Reason != "ink very low" {
		t.Fatalf("Health=%+v then %+v, want Since to move on the state change only", h2, h3)
	}
	// Replace changes only the state it expects.
	if h.Replace(station.DeviceConnected, station.DeviceFaulted, "no") || h.Get() != h3 {
		t.Fatalf("Replace from connected changed %+v to %+v", h3, h.Get())
	}
	if !h.Replace(station.DeviceDegraded, station.DeviceDegraded, "ink low") || h.Get().Reason != "ink low" || !h.Get().Since.Equal(h3.Since) {
		t.Fatalf("Health=%+v, want degraded, ink low, since %s", h.Get(), h3.Since)
	}

	// The peer goes away: the reader sees it and the link says so.
	if _, err := io.WriteString(peer, "OK 1\n"); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	stationtest.Poll(t, 5*time.Second, "health disconnected", func() bool { return h.Get().State == station.DeviceDisconnected })
	if got := h.Get().Reason; got != "connection lost: read: EOF" {
		t.Fatalf("Reason=%q, want connection lost: read: EOF", got)
	}
	// A response read before the end is still delivered.
	tok, err := l.Recv(ctx, c)
	if err != nil || string(tok) != "OK 1" {
		t.Fatalf("Recv=%q, %v; want the last answer", tok, err)
	}
	if _, err := l.Recv(ctx, c); station.ErrorCode(err) != station.EDEVICE || !errors.Is(err, io.EOF) {
		t.Fatalf("Recv on a lost connection err=%v, want EDEVICE wrapping EOF", err)
	}
	// No dial function: no way back.
	if _, err := l.Get(ctx); station.ErrorCode(err) != station.EDEVICE || !strings.Contains(err.Error(), "no way to reconnect") {
		t.Fatalf("Get err=%v, want EDEVICE, no way to reconnect", err)
	}

	l.Close()
	if got := h.Get(); got.State != station.DeviceDisconnected || got.Reason != "closed" {
		t.Fatalf("Health=%+v after Close, want disconnected, closed", got)
	}
	if _, err := l.Get(ctx); !errors.Is(err, link.ErrClosed) || station.ErrorCode(err) != station.EDEVICE {
		t.Fatalf("Get after Close err=%v, want EDEVICE and ErrClosed", err)
	}
	if _, err := l.Event(ctx); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("Event after Close err=%v, want ErrClosed", err)
	}
}

func TestLink_Routing(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	l := newLink(ours, nil, nil)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An answer nobody asked for is drained before the next request.
	if _, err := io.WriteString(peer, "OK late\r\n"); err != nil {
		t.Fatal(err)
	}
	stationtest.Poll(t, 5*time.Second, "unasked answer drained", func() bool { return l.Drain(c) == 1 })
	// Events go to Event, responses to Recv.
	go io.WriteString(peer, "EV 1\nOK 7\n")
	ev, err := l.Event(ctx)
	if err != nil || string(ev) != "EV 1" {
		t.Fatalf("Event=%q, %v; want EV 1", ev, err)
	}
	tok, err := l.Recv(ctx, c)
	if err != nil || string(tok) != "OK 7" {
		t.Fatalf("Recv=%q, %v; want OK 7", tok, err)
	}
	// EventAt says when the event was read, not when it was taken: the
	// response after it was read later, and before it was taken.
	sent := time.Now()
	go io.WriteString(peer, "EV 2\nOK 8\n")
	if tok, err := l.Recv(ctx, c); err != nil || string(tok) != "OK 8" {
		t.Fatalf("Recv=%q, %v; want OK 8", tok, err)
	}
	taken := time.Now()
	ev, at, err := l.EventAt(ctx)
	if err != nil || string(ev) != "EV 2" || at.Before(sent) || at.After(taken) {
		t.Fatalf("EventAt=%q at %v, %v; want EV 2 read between %v and %v", ev, at, err, sent, taken)
	}
}

// mustEndWithCtx calls f with a ctx that ends in 20 ms, and fails the test
// unless f returns EDEVICE wrapping the deadline, long before it could be
// a slow machine rather than a hang.
func mustEndWithCtx(t *testing.T, what string, f func(ctx context.Context) error) error {
	t.Helper()
	const limit = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- f(ctx) }()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) || station.ErrorCode(err) != station.EDEVICE {
			t.Fatalf("%s err=%v, want EDEVICE and the deadline", what, err)
		}
		return err
	case <-time.After(limit):
		t.Fatalf("%s still blocked %s after its ctx ended", what, limit)
		return nil
	}
}

func TestLink_NeverBlocksPastCtx(t *testing.T) {
	t.Run("Recv", func(t *testing.T) {
		// A peer that accepts and never answers.
		ln := MustListen(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
		l := newLink(nil, link.DialTCP("printer", ln.Addr().String()), nil)
		defer l.Close()
		c, err := l.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mustEndWithCtx(t, "Recv", func(ctx context.Context) error { _, err := l.Recv(ctx, c); return err })
		// The late answer could be taken for the next request's: the
		// connection is dropped.
		if h := l.Health().Get(); h.State != station.DeviceDisconnected || !strings.Contains(h.Reason, "no answer") {
			t.Fatalf("Health=%s %q, want disconnected, no answer", h.State, h.Reason)
		}
	})

	t.Run("Send", func(t *testing.T) {
		// net.Pipe: a write blocks until the other end reads, which it never does.
		ours, peer := net.Pipe()
		defer peer.Close()
		l := newLink(ours, nil, nil)
		defer l.Close()
		c, err := l.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mustEndWithCtx(t, "Send", func(ctx context.Context) error { return l.Send(ctx, c, []byte("^XA^XZ")) })
		// A half-written frame leaves the device in an unknown state.
		if h := l.Health().Get(); h.State != station.DeviceDisconnected || !strings.Contains(h.Reason, "write") {
			t.Fatalf("Health=%s %q after a stuck write, want disconnected, write", h.State, h.Reason)
		}
	})

	t.Run("GetWhileDialing", func(t *testing.T) {
		// One caller's dial hangs; another caller gives up with its ctx.
		entered, release := make(chan struct{}), make(chan struct{})
		ours, peer := net.Pipe()
		defer peer.Close()
		dial := func(ctx context.Context) (io.ReadWriteCloser, error) {
			close(entered)
			<-release
			return ours, nil
		}
		l := newLink(nil, dial, nil)
		defer l.Close()
		first := make(chan error, 1)
		go func() { _, err := l.Get(context.Background()); first <- err }()
		<-entered
		err := mustEndWithCtx(t, "Get", func(ctx context.Context) error { _, err := l.Get(ctx); return err })
		if !strings.Contains(err.Error(), "still connecting") {
			t.Fatalf("Get err=%v, want still connecting", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatalf("first Get: %v", err)
		}
	})

	t.Run("Event", func(t *testing.T) {
		// Nothing to connect to: Event keeps retrying until its ctx ends.
		l := newLink(nil, link.DialTCP("printer", closedAddr(t)), nil)
		defer l.Close()
		mustEndWithCtx(t, "Event", func(ctx context.Context) error { _, err := l.Event(ctx); return err })
	})
}
