// Package ntp keeps the station's time. It polls several NTP servers, takes a
// robust offset of the station PC's system clock against them (the median of
// the good answers that a majority agrees on), and judges by a
// station.ClockPolicy whether that time can be trusted: synced, degraded or
// unsynced, always with the reason. Clock implements station.Clock, whose
// readings stamp every journal event, and station.HealthReporter for the
// kiosk's lamps.
//
// The package only measures and reports: it never sets the system clock. A
// reading is the system clock plus the last good offset; a new sync that
// changes the offset steps the corrected time, which Status reports
// (LastStep) and which the journal, comparing the offsets of its events,
// records.
package ntp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linestation/linestation/station"
)

// Defaults of Config; see its fields for the reasoning.
const (
	DefaultName            = "ntp"
	DefaultPollInterval    = 64 * time.Second
	DefaultTimeout         = 2 * time.Second
	DefaultMaxRootDistance = 1500 * time.Millisecond
	DefaultMaxSpread       = 250 * time.Millisecond
)

// Log attribute keys.
const (
	logKeyServer = "server"
	logKeyState  = "state"
	logKeyReason = "reason"
	logKeyOffset = "offset"
	logKeyStep   = "step"
)

// Config configures a Clock. Zero fields take their defaults (see
// DefaultConfig); only Servers is required.
type Config struct {
	// Name is the device name shown on the lamps and in the log. Default "ntp".
	Name string

	// Servers are the NTP servers to poll, as "host", "host:port" or
	// "[ipv6]:port" (port 123 when none is given). Use three or more for a
	// majority that can outvote a wrong one. Required; no duplicates.
	Servers []string

	// PollInterval is the time between two rounds of queries. Servers that
	// are not the site's own expect 64 s or more. Default 64s.
	PollInterval time.Duration

	// Timeout bounds one query to one server; the servers of a round are
	// asked in parallel. Default 2s.
	Timeout time.Duration

	// MinGood is how many good answers that agree with each other a round
	// needs to take an offset. Default 1 for one or two servers, 2 for three
	// or more (so that one good answer alone cannot sync a station that was
	// configured to be outvoted). At most len(Servers).
	MinGood int

	// MaxRootDistance rejects an answer whose root distance (the server's
	// own uncertainty against its reference, plus half the round trip) is
	// above it. Default 1.5s, the limit of the NTP specification's client.
	MaxRootDistance time.Duration

	// MaxSpread is how far apart the offsets of agreeing answers may be.
	// The largest group of good answers within MaxSpread of each other must
	// be a strict majority of the good answers; the others are rejected as
	// disagreeing, and with no such majority there is no sync at all.
	// Default 250ms: servers on a LAN or the internet agree within tens of
	// milliseconds.
	MaxSpread time.Duration

	// Policy sets when the clock is degraded or unsynced. Zero fields take
	// station.DefaultClockPolicy's values.
	Policy station.ClockPolicy

	// Wall reads the system (wall) clock; default time.Now. Offsets are
	// measured against it and readings apply them to it. Tests and the
	// simulator inject their own.
	Wall func() time.Time

	// Mono reads a monotonic clock: time elapsed since any fixed origin,
	// never stepped. It measures the age of the last sync and shows jumps
	// of Wall. Default: time since New on Go's monotonic clock. Inject it
	// together with Wall.
	Mono func() time.Duration
}

// DefaultConfig returns a Config with every field but Servers at its default.
func DefaultConfig() Config {
	return Config{
		Name:            DefaultName,
		PollInterval:    DefaultPollInterval,
		Timeout:         DefaultTimeout,
		MaxRootDistance: DefaultMaxRootDistance,
		MaxSpread:       DefaultMaxSpread,
		Policy:          station.DefaultClockPolicy(),
	}
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.Name == "" {
		cfg.Name = d.Name
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = d.PollInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.MinGood == 0 {
		cfg.MinGood = 1
		if len(cfg.Servers) >= 3 {
			cfg.MinGood = 2
		}
	}
	if cfg.MaxRootDistance == 0 {
		cfg.MaxRootDistance = d.MaxRootDistance
	}
	if cfg.MaxSpread == 0 {
		cfg.MaxSpread = d.MaxSpread
	}
	cfg.Policy = cfg.Policy.WithDefaults()
	return cfg
}

// Validate returns EINVALID, naming the field, for a config that New would
// refuse: no servers, an empty or duplicated server, negative durations, a
// MinGood out of range, an invalid policy, or a PollInterval that is not
// below the policy's DegradedAfter.
func (cfg Config) Validate() error {
	if len(cfg.Servers) == 0 {
		return station.Errorf(station.EINVALID, "ntp: Servers is empty; configure at least one NTP server")
	}
	seen := make(map[string]bool, len(cfg.Servers))
	for i, s := range cfg.Servers {
		if strings.TrimSpace(s) == "" {
			return station.Errorf(station.EINVALID, "ntp: Servers[%d] is empty", i)
		}
		if seen[s] {
			return station.Errorf(station.EINVALID, "ntp: server %q is listed twice; it would count twice in the majority", s)
		}
		seen[s] = true
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"PollInterval", cfg.PollInterval},
		{"Timeout", cfg.Timeout},
		{"MaxRootDistance", cfg.MaxRootDistance},
		{"MaxSpread", cfg.MaxSpread},
	} {
		if f.v < 0 {
			return station.Errorf(station.EINVALID, "ntp: %s is %s; it must be positive (or zero for the default)", f.name, f.v)
		}
	}
	if cfg.MinGood < 0 || cfg.MinGood > len(cfg.Servers) {
		return station.Errorf(station.EINVALID, "ntp: MinGood is %d; it must be between 1 and the number of servers (%d)", cfg.MinGood, len(cfg.Servers))
	}
	if (cfg.Wall == nil) != (cfg.Mono == nil) {
		return station.Errorf(station.EINVALID, "ntp: Wall and Mono must be injected together")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return fmt.Errorf("ntp: %w", err)
	}
	if d := cfg.withDefaults(); d.PollInterval >= d.Policy.DegradedAfter {
		return station.Errorf(station.EINVALID, "ntp: PollInterval (%s) is not below the policy's DegradedAfter (%s); "+
			"the clock would degrade between two polls", d.PollInterval, d.Policy.DegradedAfter)
	}
	return nil
}

// Clock is the station's NTP-disciplined clock. Create it with New, start Run
// in a goroutine, and read it with Now from anywhere: readings never block.
type Clock struct {
	// Logger receives state changes and server failures. Default
	// slog.Default() with component=ntp. Set it before Run.
	Logger *slog.Logger

	cfg       Config
	wall      func() time.Time
	mono      func() time.Duration
	queryWall func() time.Time // Wall when injected, else nil (kernel timestamps)
	wake      chan struct{}    // a reading saw the system clock jump: sync now
	running   atomic.Bool
	syncMu    sync.Mutex // one round at a time

	mu          sync.Mutex // guards what follows
	synced      bool       // last holds a good sync
	last        syncPoint
	syncs       int
	lastStep    time.Duration
	roundDone   bool
	roundAt     time.Time // corrected UTC at the end of the last round
	roundErr    string    // why the last round gave no sync
	servers     []serverState
	health      station.DeviceState
	healthSince time.Time
	loggedState station.ClockState
	jumpWoken   bool // a reading asked Run to sync after a jump since the last sync
}

// syncPoint is a good sync: the offset and the two clocks' readings when it
// was taken.
type syncPoint struct {
	wall   time.Time     // Wall at the sync, without monotonic reading
	mono   time.Duration // Mono at the sync
	offset time.Duration // reference minus system clock: the median of the agreeing answers
	spread time.Duration // largest minus smallest offset of the agreeing answers
	used   int           // how many answers agreed
}

// serverState is what the clock knows of one server.
type serverState struct {
	status   ServerStatus
	heldTill time.Duration // Mono before which it is not asked (kiss-of-death)
	failing  bool          // last query failed or was rejected (for logging changes)
}

var (
	_ station.Clock          = (*Clock)(nil)
	_ station.HealthReporter = (*Clock)(nil)
)

// ErrRunning is returned by Run when the clock is already running.
var ErrRunning = errors.New("ntp clock is already running")

// New returns a Clock for cfg, or EINVALID when cfg is invalid. It does not
// query anything: until Run (or Sync) has a good answer, readings are
// unsynced.
func New(cfg Config) (*Clock, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Clock{
		Logger: slog.Default().With("component", "ntp"),
		cfg:    cfg,
		wall:   cfg.Wall,
		mono:   cfg.Mono,
		wake:   make(chan struct{}, 1),
	}
	if c.wall == nil {
		start := time.Now()
		c.wall = time.Now
		c.mono = func() time.Duration { return time.Since(start) }
	} else {
		c.queryWall = cfg.Wall
	}
	c.servers = make([]serverState, len(cfg.Servers))
	for i, s := range cfg.Servers {
		c.servers[i].status.Address = s
	}
	return c, nil
}

// Config returns the clock's configuration with defaults applied.
func (c *Clock) Config() Config { return c.cfg }

// Run polls the servers at once and then every PollInterval, and sooner when
// a reading saw the system clock jump, until ctx is done; then it returns
// nil. Failed rounds are logged and retried at the next poll. It returns
// ErrRunning when the clock is already running.
func (c *Clock) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wake:
		}
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Debug("time sync round failed", "error", err)
		}
		c.logState()
		timer.Reset(c.cfg.PollInterval)
	}
}

// Sync runs one round: it asks every server once (in parallel, each within
// Timeout), rejects bad answers, and takes the median offset of the agreeing
// majority. It returns nil when the round gave a good sync, EDEVICE with the
// reason when it did not (the state then ages from the last good sync), and
// ctx's error when ctx ended first (the state is then unchanged). Run calls
// it; a "sync now" button may call it too.
func (c *Clock) Sync(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()

	startMono := c.mono()
	c.mu.Lock()
	held := make([]bool, len(c.servers))
	for i := range c.servers {
		held[i] = startMono < c.servers[i].heldTill
	}
	c.mu.Unlock()

	results := make([]result, len(c.cfg.Servers))
	var wg sync.WaitGroup
	for i, addr := range c.cfg.Servers {
		if held[i] {
			continue
		}
		wg.Go(func() { results[i] = c.query(ctx, addr) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ntp sync: %w", err)
	}
	wall, mono := c.wall().Round(0), c.mono()

	var good []answer
	for i, r := range results {
		if !held[i] && r.err == nil {
			good = append(good, answer{server: i, offset: r.resp.ClockOffset})
		}
	}
	ag, agreeErr := agree(good, c.cfg.MinGood, c.cfg.MaxSpread)
	inMajority := make(map[int]bool, len(ag.members))
	for _, m := range ag.members {
		inMajority[m] = true
	}

	// Logging waits until the lock is released, so that a slow log never
	// holds up a reading.
	var logs []func()
	defer func() {
		for _, log := range logs {
			log()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Corrected time of this round's end: by the new offset when there is
	// one, else by the last good one.
	corrected := wall
	if agreeErr == nil {
		corrected = wall.Add(ag.median)
	} else if c.synced {
		corrected = wall.Add(c.last.offset)
	}
	var failures []string
	for i := range c.servers {
		s := &c.servers[i]
		st := &s.status
		r := results[i]
		switch {
		case held[i]:
			// Keep its last error (the kiss-of-death) and answer.
		case r.resp != nil:
			st.LastAnswer = corrected.UTC()
			st.Offset = r.resp.ClockOffset
			st.RTT = r.resp.RTT
			st.Stratum = r.resp.Stratum
			st.RootDistance = r.resp.RootDistance
			st.Error = ""
			if r.err != nil {
				st.Error = r.err.Error()
			}
		default:
			st.Error = r.err.Error()
		}
		var kod *kissError
		if errors.As(r.err, &kod) {
			s.heldTill = mono + kod.hold(c.cfg.PollInterval)
		}
		st.Used = inMajority[i]
		if agreeErr == nil && !st.Used && st.Error == "" {
			st.Error = fmt.Sprintf("disagrees with the other servers: offset %s, agreed %s",
				st.Offset.Round(time.Millisecond), ag.median.Round(time.Millisecond))
		}
		if st.Error != "" {
			failures = append(failures, st.Address+": "+st.Error)
		}
		if failing := st.Error != ""; failing != s.failing {
			s.failing = failing
			addr, msg := st.Address, st.Error
			if failing {
				logs = append(logs, func() { c.Logger.Warn("time server failing", logKeyServer, addr, "error", msg) })
			} else {
				logs = append(logs, func() { c.Logger.Info("time server answering", logKeyServer, addr) })
			}
		}
	}
	c.roundDone = true
	c.roundAt = corrected.UTC()

	if agreeErr != nil {
		c.roundErr = agreeErr.Error()
		if len(failures) > 0 {
			c.roundErr += " (" + strings.Join(failures, "; ") + ")"
		}
		return station.Errorf(station.EDEVICE, "no time sync: %s", c.roundErr)
	}
	c.roundErr = ""
	if c.synced {
		c.lastStep = ag.median - c.last.offset
		if step, offset := c.lastStep, ag.median; step.Abs() > c.cfg.Policy.MaxStep {
			logs = append(logs, func() { c.Logger.Warn("corrected time stepped", logKeyStep, step, logKeyOffset, offset) })
		}
	}
	c.synced = true
	c.jumpWoken = false
	c.syncs++
	c.last = syncPoint{wall: wall, mono: mono, offset: ag.median, spread: ag.spread, used: len(ag.members)}
	return nil
}

// Now returns the corrected time with its offset and state. It never blocks
// on the network: it applies the last good offset to the system clock. When
// the system clock jumped since the last sync by more than the policy's
// MaxStep, the reading is unsynced and Run is asked (once) to sync at once.
func (c *Clock) Now() station.Time {
	wall, mono := c.wall().Round(0), c.mono()
	c.mu.Lock()
	t, jumped := c.reading(wall, mono)
	// Ask once per sync point: if that sync fails, the regular polls go on.
	wake := jumped && !c.jumpWoken
	if wake {
		c.jumpWoken = true
	}
	c.mu.Unlock()
	if wake {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return t
}

// reading computes a reading at the given clock values; c.mu must be held.
// It reports whether the system clock jumped since the last sync.
func (c *Clock) reading(wall time.Time, mono time.Duration) (station.Time, bool) {
	if !c.synced {
		reason := "no good time sync yet: waiting for the first answer from the time servers"
		if c.roundDone && c.roundErr != "" {
			reason = "no good time sync yet: " + c.roundErr
		}
		return station.Time{UTC: wall.UTC(), State: station.ClockUnsynced, Reason: reason}, false
	}
	p := c.last
	t := station.Time{
		UTC:      wall.Add(p.offset).UTC(),
		Offset:   p.offset,
		LastSync: p.wall.Add(p.offset).UTC(),
	}
	age := mono - p.mono
	t.State, t.Reason = c.cfg.Policy.Assess(p.offset, age)
	if t.State != station.ClockSynced && age > c.cfg.Policy.DegradedAfter && c.roundErr != "" {
		t.Reason += "; last attempt: " + c.roundErr
	}
	jump := wall.Sub(p.wall) - age
	jumped := jump.Abs() > c.cfg.Policy.MaxStep
	if jumped {
		why := fmt.Sprintf("the system clock jumped by %s since the last time sync; a new sync has been started",
			jump.Round(time.Millisecond))
		if t.State == station.ClockSynced {
			t.Reason = why
		} else {
			t.Reason = why + "; " + t.Reason
		}
		t.State = station.ClockUnsynced
	}
	return t, jumped
}

// Health reports the clock for the lamps: connected when synced and every
// server answered well; degraded when the clock is degraded, or synced while
// some server fails; faulted when unsynced (commissioning stops). Since is
// when Health first saw the current state.
func (c *Clock) Health() station.Health {
	wall, mono := c.wall().Round(0), c.mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _ := c.reading(wall, mono)
	h := station.Health{Device: c.cfg.Name, Kind: "clock", Reason: t.Reason}
	switch t.State {
	case station.ClockSynced:
		h.State = station.DeviceConnected
		var failing []string
		for _, s := range c.servers {
			if s.status.Error != "" {
				failing = append(failing, "time server "+s.status.Address+": "+s.status.Error)
			}
		}
		if len(failing) > 0 {
			h.State = station.DeviceDegraded
			h.Reason = strings.Join(failing, "; ")
		}
	case station.ClockDegraded:
		h.State = station.DeviceDegraded
	default:
		h.State = station.DeviceFaulted
	}
	if h.State != c.health || c.healthSince.IsZero() {
		c.health, c.healthSince = h.State, t.UTC
	}
	h.Since = c.healthSince
	return h
}

// Status is the clock's state in detail, for the UI's clock screen.
type Status struct {
	Time       station.Time   // a reading taken with the status
	Syncs      int            // good syncs since New
	LastStep   time.Duration  // change of offset at the last good sync: the corrected time stepped by this much then (0 before the second sync)
	Spread     time.Duration  // largest minus smallest offset of the answers that agreed at the last good sync
	Agreed     int            // how many answers agreed at the last good sync
	LastRound  time.Time      // corrected UTC at the end of the last round; zero before the first
	RoundError string         // why the last round gave no sync; empty when it did
	Servers    []ServerStatus // one per configured server, in order
}

// ServerStatus is what the clock knows of one server.
type ServerStatus struct {
	Address      string        // as configured
	Used         bool          // its answer was one of the agreeing majority in the last round
	LastAnswer   time.Time     // corrected UTC of its last answer, good or rejected; zero when none yet
	Offset       time.Duration // offset of the system clock against it in that answer (reference minus system)
	RTT          time.Duration // round trip of that answer
	Stratum      uint8         // its stratum in that answer
	RootDistance time.Duration // its root distance in that answer
	Error        string        // why its last query failed or its answer was not used; empty when used
}

// Status returns the clock's state in detail. It never blocks on the network.
func (c *Clock) Status() Status {
	wall, mono := c.wall().Round(0), c.mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _ := c.reading(wall, mono)
	s := Status{
		Time:       t,
		Syncs:      c.syncs,
		LastStep:   c.lastStep,
		RoundError: c.roundErr,
		LastRound:  c.roundAt,
		Servers:    make([]ServerStatus, len(c.servers)),
	}
	if c.synced {
		s.Spread, s.Agreed = c.last.spread, c.last.used
	}
	for i, srv := range c.servers {
		s.Servers[i] = srv.status
	}
	return s
}

// logState logs a change of the clock state since the last call.
func (c *Clock) logState() {
	wall, mono := c.wall().Round(0), c.mono()
	c.mu.Lock()
	t, _ := c.reading(wall, mono)
	changed := t.State != c.loggedState
	c.loggedState = t.State
	c.mu.Unlock()
	if !changed {
		return
	}
	if t.State == station.ClockSynced {
		c.Logger.Info("clock synced", logKeyState, t.State, logKeyOffset, t.Offset)
	} else {
		c.Logger.Warn("clock not synced", logKeyState, t.State, logKeyReason, t.Reason)
	}
}
