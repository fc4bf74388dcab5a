package ntp_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/ntp"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// MustNewClock returns a Clock for cfg that logs to the test's output.
func MustNewClock(tb testing.TB, cfg ntp.Config) *ntp.Clock {
	tb.Helper()
	c, err := ntp.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	c.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return c
}

// fakeClocks are a wall and a monotonic clock that follow the real ones, plus
// shifts that a test sets: Advance moves both (time passes), Jump moves only
// the wall clock (someone sets the PC's clock).
type fakeClocks struct {
	start   time.Time
	elapsed atomic.Int64 // added to both, ns
	jumped  atomic.Int64 // added to the wall clock only, ns
}

func newFakeClocks() *fakeClocks { return &fakeClocks{start: time.Now()} }

func (f *fakeClocks) Wall() time.Time {
	return time.Now().Round(0).Add(time.Duration(f.elapsed.Load() + f.jumped.Load()))
}

func (f *fakeClocks) Mono() time.Duration {
	return time.Since(f.start) + time.Duration(f.elapsed.Load())
}

func (f *fakeClocks) Advance(d time.Duration) { f.elapsed.Add(int64(d)) }
func (f *fakeClocks) Jump(d time.Duration)    { f.jumped.Add(int64(d)) }

// within reports whether d is within tol of want.
func within(d, want, tol time.Duration) bool { return (d - want).Abs() <= tol }

func TestClock_Sync(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})

		before := c.Now()
		if got, want := before.State, station.ClockUnsynced; got != want {
			t.Fatalf("State before the first sync=%q, want %q", got, want)
		}
		if err := before.Trusted(); station.ErrorCode(err) != station.ECLOCK {
			t.Fatalf("Trusted before the first sync=%v, want ECLOCK", err)
		}

		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		now := c.Now()
		if got, want := now.State, station.ClockSynced; got != want {
			t.Fatalf("State=%q (%s), want %q", got, now.Reason, want)
		}
		if now.Reason != "" {
			t.Fatalf("Reason=%q, want none when synced", now.Reason)
		}
		// chronyd -x serves this machine's own clock: the offset is noise.
		if !within(now.Offset, 0, 10*time.Millisecond) {
			t.Fatalf("Offset=%s, want about 0 against a server on the same clock", now.Offset)
		}
		if now.LastSync.IsZero() || now.LastSync.After(now.UTC) {
			t.Fatalf("LastSync=%s, want a time before the reading %s", now.LastSync, now.UTC)
		}
		if err := now.Trusted(); err != nil {
			t.Fatalf("Trusted: %v", err)
		}
		if h := c.Health(); h.State != station.DeviceConnected || h.Kind != "clock" || h.Device != "ntp" {
			t.Fatalf("Health=%+v, want a connected clock named ntp", h)
		}
		st := c.Status()
		if got, want := st.Syncs, 1; got != want {
			t.Fatalf("Syncs=%d, want %d", got, want)
		}
		s := st.Servers[0]
		if !s.Used || s.Error != "" || s.Stratum != 10 || s.LastAnswer.IsZero() {
			t.Fatalf("Servers[0]=%+v, want the used answer of a stratum 10 server", s)
		}
	})

	t.Run("ErrSkewedDegraded", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{Skew: "+30s"})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		now := c.Now()
		if !within(now.Offset, 30*time.Second, time.Second) {
			t.Fatalf("Offset=%s, want about +30s from a server 30 s ahead", now.Offset)
		}
		// The offset is applied: the reading follows the server.
		if d := now.UTC.Sub(time.Now()); !within(d, 30*time.Second, time.Second) {
			t.Fatalf("reading is %s from the system clock, want about +30s", d)
		}
		if got, want := now.State, station.ClockDegraded; got != want {
			t.Fatalf("State=%q (%s), want %q", got, now.Reason, want)
		}
		if !strings.Contains(now.Reason, "30s behind the time servers") {
			t.Fatalf("Reason=%q, want it to say the PC is 30s behind", now.Reason)
		}
		if err := now.Trusted(); err != nil {
			t.Fatalf("Trusted=%v, want nil: degraded time may commission", err)
		}
		if got, want := c.Health().State, station.DeviceDegraded; got != want {
			t.Fatalf("Health.State=%q, want %q", got, want)
		}
	})

	t.Run("ErrSkewedUnsynced", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{Skew: "-2m"})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		now := c.Now()
		if !within(now.Offset, -2*time.Minute, time.Second) {
			t.Fatalf("Offset=%s, want about -2m from a server 2 min behind", now.Offset)
		}
		if got, want := now.State, station.ClockUnsynced; got != want {
			t.Fatalf("State=%q (%s), want %q", got, now.Reason, want)
		}
		err := now.Trusted()
		if got, want := station.ErrorCode(err), station.ECLOCK; got != want {
			t.Fatalf("ErrorCode(Trusted)=%q, want %q", got, want)
		}
		if msg := station.ErrorMessage(err); !strings.Contains(msg, "2m0s ahead of the time servers (limit 1m0s)") ||
			!strings.Contains(msg, "Commissioning is stopped") {
			t.Fatalf("ErrorMessage=%q, want the refusal with the offset and the limit", msg)
		}
		if got, want := c.Health().State, station.DeviceFaulted; got != want {
			t.Fatalf("Health.State=%q, want %q", got, want)
		}
	})

	t.Run("MedianOutvotesSkewed", func(t *testing.T) {
		good1 := MustStartChrony(t, chronyOptions{})
		good2 := MustStartChrony(t, chronyOptions{})
		bad := MustStartChrony(t, chronyOptions{Skew: "+30s"})
		c := MustNewClock(t, ntp.Config{Servers: []string{good1.Addr, bad.Addr, good2.Addr}})
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		now := c.Now()
		if got, want := now.State, station.ClockSynced; got != want {
			t.Fatalf("State=%q (%s), want %q", got, now.Reason, want)
		}
		if !within(now.Offset, 0, 10*time.Millisecond) {
			t.Fatalf("Offset=%s, want the good servers' (about 0), not a mean with the skewed one", now.Offset)
		}
		st := c.Status()
		if got, want := st.Agreed, 2; got != want {
			t.Fatalf("Agreed=%d, want %d", got, want)
		}
		if s := st.Servers[1]; s.Used || !strings.Contains(s.Error, "disagrees with the other servers") ||
			!within(s.Offset, 30*time.Second, time.Second) {
			t.Fatalf("Servers[1]=%+v, want the skewed server rejected as disagreeing", s)
		}
		if !st.Servers[0].Used || !st.Servers[2].Used {
			t.Fatalf("Servers=%+v, want both good servers used", st.Servers)
		}
		// Production goes on, but the lamp asks for attention.
		if h := c.Health(); h.State != station.DeviceDegraded || !strings.Contains(h.Reason, bad.Addr) {
			t.Fatalf("Health=%+v, want degraded naming %s", h, bad.Addr)
		}
	})

	t.Run("MedianSkipsUnsynchronised", func(t *testing.T) {
		good1 := MustStartChrony(t, chronyOptions{})
		good2 := MustStartChrony(t, chronyOptions{})
		lost := MustStartChrony(t, chronyOptions{Unsynchronised: true})
		c := MustNewClock(t, ntp.Config{Servers: []string{lost.Addr, good1.Addr, good2.Addr}})
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if now := c.Now(); now.State != station.ClockSynced {
			t.Fatalf("State=%q (%s), want synced on the two good servers", now.State, now.Reason)
		}
		if s := c.Status().Servers[0]; s.Used || !strings.Contains(s.Error, "not synchronised") {
			t.Fatalf("Servers[0]=%+v, want it rejected as not synchronised", s)
		}
	})

	t.Run("ErrDisagree", func(t *testing.T) {
		good := MustStartChrony(t, chronyOptions{})
		bad := MustStartChrony(t, chronyOptions{Skew: "+30s"})
		c := MustNewClock(t, ntp.Config{Servers: []string{good.Addr, bad.Addr}})
		err := c.Sync(ctx)
		if got, want := station.ErrorCode(err), station.EDEVICE; got != want {
			t.Fatalf("ErrorCode(Sync)=%q (%v), want %q", got, err, want)
		}
		if !strings.Contains(err.Error(), "the time servers disagree") {
			t.Fatalf("Sync=%v, want it to say the servers disagree", err)
		}
		now := c.Now()
		if now.State != station.ClockUnsynced || !strings.Contains(now.Reason, "disagree") {
			t.Fatalf("Now=%+v, want unsynced because the servers disagree", now)
		}
		if got, want := station.ErrorCode(now.Trusted()), station.ECLOCK; got != want {
			t.Fatalf("ErrorCode(Trusted)=%q, want %q", got, want)
		}
	})

	t.Run("ErrNotSynchronised", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{Unsynchronised: true})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})
		err := c.Sync(ctx)
		if station.ErrorCode(err) != station.EDEVICE || !strings.Contains(err.Error(), "not synchronised itself") {
			t.Fatalf("Sync=%v, want EDEVICE saying the server is not synchronised", err)
		}
		if got, want := c.Now().State, station.ClockUnsynced; got != want {
			t.Fatalf("State=%q, want %q", got, want)
		}
	})

	t.Run("ErrRootDistance", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}, MaxRootDistance: time.Nanosecond})
		err := c.Sync(ctx)
		if station.ErrorCode(err) != station.EDEVICE || !strings.Contains(err.Error(), "root distance") {
			t.Fatalf("Sync=%v, want EDEVICE naming the root distance", err)
		}
		if s := c.Status().Servers[0]; s.Used || s.Stratum != 10 || !strings.Contains(s.Error, "above the limit 1ns") {
			t.Fatalf("Servers[0]=%+v, want its rejected answer with the reason", s)
		}
	})

	t.Run("ErrCanceled", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{})
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}})
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.Sync(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sync with a done ctx=%v, want context.Canceled", err)
		}
		if got := c.Status(); got.LastRound != (time.Time{}) || got.Syncs != 0 {
			t.Fatalf("Status=%+v, want no round recorded", got)
		}
	})
}

func TestClock_Now(t *testing.T) {
	ctx := context.Background()

	t.Run("StoppedServerDegradesThenUnsyncs", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{})
		clk := newFakeClocks()
		c := MustNewClock(t, ntp.Config{Servers: []string{srv.Addr}, Wall: clk.Wall, Mono: clk.Mono})
		if err := c.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		srv.Stop()

		clk.Advance(10 * time.Minute) // below DegradedAfter (15m)
		if err := c.Sync(ctx); err == nil || !strings.Contains(err.Error(), "no NTP server is listening") {
			t.Fatalf("Sync with the server stopped=%v, want it to say nothing listens", err)
		}
		if now := c.Now(); now.State != station.ClockSynced {
			t.Fatalf("State after 10 min=%q (%s), want still synced", now.State, now.Reason)
		}

		clk.Advance(6 * time.Minute) // 16 min
		now := c.Now()
		if got, want := now.State, station.ClockDegraded; got != want {
			t.Fatalf("State after 16 min=%q (%s), want %q", got, now.Reason, want)
		}
		if !strings.Contains(now.Reason, "no good time sync for 16m0s") || !strings.Contains(now.Reason, srv.Addr) {
			t.Fatalf("Reason=%q, want the age and the failing server", now.Reason)
		}
		if err := now.Trusted(); err != nil {
			t.Fatalf("Trusted after 16 min=%v, want nil", err)
		}
		// The reading still applies the last offset to the system clock.
		if d := now.UTC.Sub(clk.Wall()); !within(d, 0, 10*time.Millisecond) {
			t.Fatalf("reading is %s from the (fake) system clock, want the last offset, about 0", d)
		}

		clk.Advance(12 * time.Hour)
		now = c.Now()
		if got, want := now.State, station.ClockUnsynced; got != want {
			t.Fatalf("State after 12 h=%q (%s), want %q", got, now.Reason, want)
		}
		err := now.Trusted()
		if station.ErrorCode(err) != station.ECLOCK || !strings.Contains(station.ErrorMessage(err), "no good time sync for 12h16m0s") {
			t.Fatalf("Trusted after 12 h=%v, want ECLOCK naming the age", err)
		}
		if h := c.Health(); h.State != station.DeviceFaulted {
			t.Fatalf("Health=%+v, want faulted", h)
		}
	})

	t.Run("SystemClockJumpResyncs", func(t *testing.T) {
		srv := MustStartChrony(t, chronyOptions{})
		clk := newFakeClocks()
		c := MustNewClock(t, ntp.Config{
			Servers:      []string{srv.Addr},
			PollInterval: time.Hour, // only the first poll and the jump make it sync
			Wall:         clk.Wall,
			Mono:         clk.Mono,
			Policy: station.ClockPolicy{
				WarnOffset: time.Minute, MaxOffset: time.Hour,
				DegradedAfter: 2 * time.Hour, UnsyncedAfter: 12 * time.Hour,
			},
		})
		ctx, cancel := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- c.Run(ctx) }()
		stationtest.Poll(t, 5*time.Second, "first sync", func() bool { return c.Status().Syncs == 1 })
		if err := c.Run(ctx); err != ntp.ErrRunning {
			t.Fatalf("second Run=%v, want ErrRunning", err)
		}

		clk.Jump(10 * time.Second) // someone sets the PC's clock 10 s ahead
		now := c.Now()
		if now.State != station.ClockUnsynced || !strings.Contains(now.Reason, "the system clock jumped by 10s") {
			t.Fatalf("Now after the jump=%+v, want unsynced naming the jump", now)
		}
		stationtest.Poll(t, 5*time.Second, "a new sync after the jump", func() bool { return c.Status().Syncs == 2 })

		st := c.Status()
		if !within(st.LastStep, -10*time.Second, 10*time.Millisecond) {
			t.Fatalf("LastStep=%s, want about -10s: the new offset undoes the jump", st.LastStep)
		}
		if st.Time.State != station.ClockSynced {
			t.Fatalf("State after the new sync=%q (%s), want synced", st.Time.State, st.Time.Reason)
		}
		if d := st.Time.UTC.Sub(time.Now()); !within(d, 0, 10*time.Millisecond) {
			t.Fatalf("reading is %s from the real clock, want about 0 after the new sync", d)
		}

		cancel()
		if err := <-ran; err != nil {
			t.Fatalf("Run=%v, want nil after cancel", err)
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      ntp.Config
		contains string // "" for valid
	}{
		{"OK", ntp.Config{Servers: []string{"127.0.0.1:123"}}, ""},
		{"ErrDefaultHasNoServers", ntp.DefaultConfig(), "Servers is empty"},
		{"ErrNoServers", ntp.Config{}, "Servers is empty"},
		{"ErrEmptyServer", ntp.Config{Servers: []string{"a", " "}}, "Servers[1] is empty"},
		{"ErrDuplicate", ntp.Config{Servers: []string{"a", "b", "a"}}, `"a" is listed twice`},
		{"ErrMinGood", ntp.Config{Servers: []string{"a", "b"}, MinGood: 3}, "MinGood is 3"},
		{"ErrNegativeTimeout", ntp.Config{Servers: []string{"a"}, Timeout: -time.Second}, "Timeout is -1s"},
		{"ErrWallWithoutMono", ntp.Config{Servers: []string{"a"}, Wall: time.Now}, "Wall and Mono"},
		{"ErrPollSlowerThanPolicy", ntp.Config{Servers: []string{"a"}, PollInterval: 20 * time.Minute}, "PollInterval (20m0s) is not below the policy's DegradedAfter (15m0s)"},
		{"ErrPolicy", ntp.Config{Servers: []string{"a"}, Policy: station.ClockPolicy{WarnOffset: time.Hour}}, "WarnOffset (1h0m0s) is above MaxOffset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.contains == "" {
				if err != nil {
					t.Fatalf("Validate=%v, want nil", err)
				}
				if _, err := ntp.New(tt.cfg); err != nil {
					t.Fatalf("New=%v, want nil", err)
				}
				return
			}
			if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Validate=%v, want EINVALID containing %q", err, tt.contains)
			}
			if _, err := ntp.New(tt.cfg); station.ErrorCode(err) != station.EINVALID {
				t.Fatalf("New=%v, want EINVALID", err)
			}
		})
	}

	t.Run("Defaults", func(t *testing.T) {
		for _, tt := range []struct {
			servers []string
			minGood int
		}{{[]string{"a"}, 1}, {[]string{"a", "b"}, 1}, {[]string{"a", "b", "c"}, 2}} {
			c, err := ntp.New(ntp.Config{Servers: tt.servers})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			cfg := c.Config()
			if cfg.MinGood != tt.minGood || cfg.PollInterval != ntp.DefaultPollInterval ||
				cfg.Policy != station.DefaultClockPolicy() {
				t.Fatalf("Config for %d servers=%+v, want MinGood %d and the defaults", len(tt.servers), cfg, tt.minGood)
			}
		}
	})
}
