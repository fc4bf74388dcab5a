package opcua_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/opcua"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// wait is how long a test waits for the line to reach a condition; the
// conditions are reached in milliseconds, the margin is for a loaded CI.
const wait = 30 * time.Second

// MustOpenLine opens the driver with cfg and closes it when the test ends.
func MustOpenLine(tb testing.TB, cfg opcua.Config) *opcua.Line {
	tb.Helper()
	if cfg.PublishInterval == 0 {
		cfg.PublishInterval = 20 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 200*time.Millisecond
	}
	l, err := opcua.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("device", cfg.Name)
	if err := l.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// testWriter sends the driver's log to the test's log, shown when it fails.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func waitFor(tb testing.TB, l *opcua.Line, what string, cond func(station.LineStatus) bool) {
	tb.Helper()
	stationtest.Poll(tb, wait, what, func() bool { return cond(l.Status()) })
}

func waitState(tb testing.TB, l *opcua.Line, want station.LineState) {
	tb.Helper()
	waitFor(tb, l, "line state "+want.String(), func(st station.LineStatus) bool { return st.State == want })
}

func waitHealth(tb testing.TB, l *opcua.Line, want station.DeviceState) station.Health {
	tb.Helper()
	stationtest.Poll(tb, wait, "PLC health "+string(want), func() bool { return l.Health().State == want })
	return l.Health()
}

func command(tb testing.TB, l *opcua.Line, cmd station.LineCommand) {
	tb.Helper()
	if err := l.Command(context.Background(), cmd); err != nil {
		tb.Fatalf("%s: %v", cmd, err)
	}
}

// toIdle brings the PLC to Idle through the driver from whatever state an
// earlier test left.
func toIdle(tb testing.TB, l *opcua.Line) {
	tb.Helper()
	waitFor(tb, l, "connected", func(st station.LineStatus) bool { return st.Connected })
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var cmd station.LineCommand
		switch l.Status().State {
		case station.LineStateIdle:
			return
		case station.LineStateStopped, station.LineStateComplete:
			cmd = station.LineCmdReset
		case station.LineStateAborted:
			cmd = station.LineCmdClear
		case station.LineStateExecute, station.LineStateHeld, station.LineStateSuspended:
			cmd = station.LineCmdStop
		default: // acting: it ends by itself
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err := l.Command(context.Background(), cmd); err != nil && station.ErrorCode(err) != station.ECONFLICT {
			tb.Fatalf("toIdle: %s: %v", cmd, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("toIdle: line still %s", l.Status().State)
}

// recorder keeps every status a Watch channel delivers.
type recorder struct {
	mu   sync.Mutex
	seen []station.LineStatus
}

func record(tb testing.TB, l *opcua.Line) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	ch := l.Watch(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			r.mu.Lock()
			r.seen = append(r.seen, st)
			r.mu.Unlock()
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *recorder) statuses() []station.LineStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// states returns the delivered states with repeats folded.
func (r *recorder) states() []station.LineState {
	var out []station.LineState
	for _, st := range r.statuses() {
		if len(out) == 0 || out[len(out)-1] != st.State {
			out = append(out, st.State)
		}
	}
	return out
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []station.LineState) bool {
	i := 0
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestLine runs the contract suite against the project's simulator and
// against node-opcua, with commands as methods and as PackTags tags.
func TestLine(t *testing.T) {
	t.Run("sim", func(t *testing.T) {
		runContract(t, simPeer{sharedSim(t)})
	})
	t.Run("node-opcua", func(t *testing.T) {
		runContract(t, MustStartNode(t))
	})
}

func runContract(t *testing.T, p peer) {
	for i, mode := range []string{opcua.CommandsMethod, opcua.CommandsTag} {
		t.Run(mode, func(t *testing.T) {
			cfg := opcua.Config{Name: "plc-" + mode, Endpoint: p.Endpoint(), Commands: mode,
				KeepAlive: time.Hour, PollInterval: time.Hour} // updates can only come by subscription
			l := MustOpenLine(t, cfg)
			t.Run("StateFollowsCommands", func(t *testing.T) { testStateFollowsCommands(t, l) })
			t.Run("CountersBySubscription", func(t *testing.T) { testCounters(t, l, p) })
			t.Run("Reject", func(t *testing.T) { testReject(t, l, p, mode) })
			t.Run("StopReason", func(t *testing.T) { testStopReason(t, l, p) })
			if i == 0 { // reconnecting does not depend on the command mode
				t.Run("Reconnect", func(t *testing.T) { testReconnect(t, l, p) })
			}
		})
	}
}

func testStateFollowsCommands(t *testing.T, l *opcua.Line) {
	toIdle(t, l)
	rec := record(t, l)
	command(t, l, station.LineCmdStart)
	waitState(t, l, station.LineStateExecute)
	command(t, l, station.LineCmdHold)
	waitState(t, l, station.LineStateHeld)
	command(t, l, station.LineCmdUnhold)
	waitState(t, l, station.LineStateExecute)
	command(t, l, station.LineCmdStop)
	waitState(t, l, station.LineStateStopped)

	want := []station.LineState{station.LineStateIdle, station.LineStateExecute, station.LineStateHeld,
		station.LineStateExecute, station.LineStateStopped}
	stationtest.Poll(t, wait, "Watch delivers the states", func() bool { return isSubsequence(want, rec.states()) })
	for _, s := range rec.states() {
		if !s.Valid() {
			t.Fatalf("Watch delivered state %v among %v", s, rec.states())
		}
	}
	if got := l.Health(); got.State != station.DeviceConnected || got.Kind != "plc" {
		t.Fatalf("Health=%+v, want connected plc", got)
	}

	err := l.Command(context.Background(), station.LineCmdUnhold)
	if got, want := station.ErrorCode(err), station.ECONFLICT; got != want {
		t.Fatalf("Unhold in Stopped: %v (code %q), want code %q", err, got, want)
	}
	if !strings.Contains(station.ErrorMessage(err), "Unhold") {
		t.Fatalf("Unhold in Stopped: message %q does not name the command", station.ErrorMessage(err))
	}
	if got := l.Status().State; got != station.LineStateStopped {
		t.Fatalf("state after a refused command = %v, want Stopped", got)
	}
}

func testCounters(t *testing.T, l *opcua.Line, p peer) {
	waitFor(t, l, "connected", func(st station.LineStatus) bool { return st.Connected })
	base := l.Status()
	rec := record(t, l)
	p.Produce(t, 5, 2)
	p.Produce(t, 1, 0)
	stationtest.Poll(t, wait, "counters +6/+2 delivered by Watch", func() bool {
		for _, st := range rec.statuses() {
			if st.Processed == base.Processed+6 && st.Defective == base.Defective+2 {
				return true
			}
		}
		return false
	})
	if got := l.Status(); got.Processed != base.Processed+6 || got.Defective != base.Defective+2 {
		t.Fatalf("Status counters=%d/%d, want %d/%d", got.Processed, got.Defective, base.Processed+6, base.Defective+2)
	}
}

func testReject(t *testing.T, l *opcua.Line, p peer, mode string) {
	waitFor(t, l, "connected", func(st station.LineStatus) bool { return st.Connected })
	before := p.Rejects(t)
	units := []string{"SN-" + mode + "-0001", "SN-" + mode + "-0002"}
	for _, u := range units {
		if err := l.Reject(context.Background(), u); err != nil {
			t.Fatalf("Reject(%s): %v", u, err)
		}
	}
	stationtest.Poll(t, wait, "the server records both rejects", func() bool { return len(p.Rejects(t)) >= len(before)+2 })
	if got := p.Rejects(t)[len(before):]; !slices.Equal(got, units) {
		t.Fatalf("server rejects=%q, want %q", got, units)
	}
	if got := station.ErrorCode(l.Reject(context.Background(), "")); got != station.EINVALID {
		t.Fatalf("Reject(\"\") code %q, want %q", got, station.EINVALID)
	}
}

func testStopReason(t *testing.T, l *opcua.Line, p peer) {
	toIdle(t, l)
	command(t, l, station.LineCmdStart)
	waitState(t, l, station.LineStateExecute)

	jam := station.LineStopReason{ID: 42, Message: "jam at infeed"}
	p.Fault(t, station.LineCmdHold, jam)
	waitFor(t, l, "Held with the jam", func(st station.LineStatus) bool {
		return st.State == station.LineStateHeld && st.StopReason == jam
	})
	h := waitHealth(t, l, station.DeviceDegraded)
	if !strings.Contains(h.Reason, "jam at infeed") || !strings.Contains(h.Reason, "Held") {
		t.Fatalf("Health reason %q, want the state and the PLC's stop reason", h.Reason)
	}

	door := station.LineStopReason{ID: 7, Message: "guard door open"}
	p.Fault(t, station.LineCmdAbort, door)
	waitFor(t, l, "Aborted with the door", func(st station.LineStatus) bool {
		return st.State == station.LineStateAborted && st.StopReason == door
	})
	h = waitHealth(t, l, station.DeviceFaulted)
	if !strings.Contains(h.Reason, "guard door open") {
		t.Fatalf("Health reason %q, want the PLC's stop reason", h.Reason)
	}

	command(t, l, station.LineCmdClear)
	waitFor(t, l, "Stopped without reason", func(st station.LineStatus) bool {
		return st.State == station.LineStateStopped && st.StopReason.IsZero()
	})
	waitHealth(t, l, station.DeviceConnected)
}

func testReconnect(t *testing.T, l *opcua.Line, p peer) {
	waitHealth(t, l, station.DeviceConnected)
	rec := record(t, l)
	p.Down(t)
	h := waitHealth(t, l, station.DeviceDisconnected)
	if !strings.Contains(h.Reason, p.Endpoint()) {
		t.Fatalf("Health reason %q does not name the endpoint", h.Reason)
	}
	if l.Status().Connected {
		t.Fatal("Status().Connected while the server is down")
	}

	// Commands fail at once while the PLC is away: no ctx deadline needed.
	err := l.Command(context.Background(), station.LineCmdReset)
	if got, want := station.ErrorCode(err), station.EDEVICE; got != want {
		t.Fatalf("Reset while down: %v (code %q), want %q", err, got, want)
	}

	p.Up(t)
	waitHealth(t, l, station.DeviceConnected)
	waitFor(t, l, "connected", func(st station.LineStatus) bool { return st.Connected })

	var sawDown, sawUpAgain bool
	for _, st := range rec.statuses() {
		if !st.Connected {
			sawDown = true
		} else if sawDown {
			sawUpAgain = true
		}
	}
	if !sawDown || !sawUpAgain {
		t.Fatalf("Watch did not deliver connected -> disconnected -> connected: %+v", rec.statuses())
	}

	// The new session subscribes again: counters arrive without polling.
	base := l.Status().Processed
	p.Produce(t, 3, 0)
	waitFor(t, l, "counter after reconnect", func(st station.LineStatus) bool { return st.Processed == base+3 })
	toIdle(t, l)
}
