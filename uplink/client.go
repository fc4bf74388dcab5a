// Package uplink is everything that leaves a station for the central
// service: the wire protocol (protocol.go) that stations, the ERP and the
// central service speak, the HTTP handle on that API (API), and the
// station's store-and-forward sync client (Client).
//
// The client sends the outbox, the journal past the last seq the central
// acknowledged, in seq order and in gzip-compressed batches. It moves the
// cursor only after the central's answer, and the central stores events
// idempotently on (station, seq) and refuses gaps, so a crash of either side
// at any point loses nothing and duplicates nothing. Failures are retried
// with exponential backoff and jitter; while the central is unreachable the
// station goes on recording, and the backlog drains by itself once it is back.
//
// The central's side of the protocol is uplink/central; its store is
// localdb/centraldb. Object-storage backup is uplink/backup.
package uplink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// Journal is what the sync client needs of the station's ledger.
// Implemented by *localdb.DB.
type Journal interface {
	// Station is the id of the station the journal belongs to.
	Station() string
	// Events returns up to limit events with Seq >= fromSeq, in seq order.
	Events(ctx context.Context, fromSeq int64, limit int) ([]station.Event, error)
	// Head returns the last recorded event's seq, hash and time.
	Head(ctx context.Context) (station.Head, error)
	// Acknowledged returns the head of the prefix the central holds.
	Acknowledged(ctx context.Context) (station.Head, error)
	// Acknowledge moves the cursor to what the central reports holding;
	// ECONFLICT when the central's seq or hash does not match this journal.
	Acknowledge(ctx context.Context, seq int64, hash string) error
}

// MasterDataCursor keeps the seq of the last master-data change applied at
// the station. Implemented by *localdb.DB.
type MasterDataCursor interface {
	PulledMasterData(ctx context.Context) (int64, error)
	SetPulledMasterData(ctx context.Context, seq int64) error
}

// Log attribute keys.
const (
	logKeySeq     = "seq"
	logKeyEvents  = "events"
	logKeyWaiting = "waiting"
	logKeyBackoff = "backoff"
)

// Config configures a Client.
type Config struct {
	// Journal is the station's ledger. Required.
	Journal Journal
	// API is the handle on the central service, with the station's token. Required.
	API *API
	// BatchSize is the most events sent in one request; default 1000, at
	// most MaxBatchEvents.
	BatchSize int
	// Interval is how often an idle client looks for new events; default 1s.
	// Notify wakes it at once.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, which
	// doubles from MinBackoff up to MaxBackoff, each wait drawn at random
	// between half and all of it (jitter) so that stations coming back
	// after an outage do not all knock at once. Defaults 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Version is reported to the central with each batch; default station.Version.
	Version string
	// OnMasterData, when set, makes the client also pull master-data
	// changes (products, users, this line's released orders, holds) every
	// PullInterval and hand them over in order; it records them at the
	// station (for example as product.defined and user.defined events).
	// The pull cursor advances only once it returns nil, so a change is
	// delivered at least once: applying one twice must be harmless.
	OnMasterData func(ctx context.Context, recs []MasterRecord) error
	// MasterCursor keeps the pull cursor across restarts (*localdb.DB
	// does); nil keeps it in memory, and every start pulls everything.
	MasterCursor MasterDataCursor
	// PullWait is how long each pull asks the central to wait for a change
	// when nothing is new (a long pull: a hold or an order released at the
	// central reaches the station at once); default 20s, negative for no
	// waiting. With a central that does not wait, or with no waiting,
	// master data is pulled every PullInterval (default 30s).
	PullWait     time.Duration
	PullInterval time.Duration
	// Logger defaults to slog.Default() with component=uplink.
	Logger *slog.Logger
	// Now is the time source for status ages; default time.Now.
	Now func() time.Time
}

// Status is the uplink's state for the kiosk's lamps and status screen.
type Status struct {
	Connected     bool          // the last exchange with the central succeeded
	LastSync      time.Time     // when the central last acknowledged (zero: not since start)
	Acked         int64         // the last seq the central holds
	Head          int64         // the journal's last seq
	Waiting       int64         // events the central does not hold yet
	OldestWaiting time.Time     // time of the oldest waiting event; zero when none
	OldestAge     time.Duration // how long the oldest waiting event has waited
	Failures      int           // failed attempts in a row
	LastError     string        // why the last attempt failed, for the operator; "" after a success
	LastPull      time.Time     // when master data was last pulled (zero: not since start, or not pulling)
	PullError     string        // why the last master-data pull failed; "" after a success
}

// Client is the station's sync client. Run it in its own goroutine; read
// Status and Health from any goroutine.
type Client struct {
	cfg    Config
	logger *slog.Logger
	notify chan struct{}
	pull   chan struct{} // wakes the master-data pull

	mu     sync.Mutex
	status Status
	since  time.Time // when Connected last changed
	rng    *mrand.Rand
}

// New checks cfg and returns a client; Run starts it.
func New(cfg Config) (*Client, error) {
	if cfg.Journal == nil || cfg.API == nil {
		return nil, station.Errorf(station.EINVALID, "uplink: a journal and a central API are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchSize > MaxBatchEvents {
		return nil, station.Errorf(station.EINVALID, "uplink: batch size %d is above the protocol's %d", cfg.BatchSize, MaxBatchEvents)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PullInterval <= 0 {
		cfg.PullInterval = 30 * time.Second
	}
	if cfg.PullWait == 0 {
		cfg.PullWait = 20 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, station.Errorf(station.EINVALID, "uplink: max backoff %s is below min backoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.Version == "" {
		cfg.Version = station.Version
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "uplink")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		cfg:    cfg,
		logger: cfg.Logger,
		notify: make(chan struct{}, 1),
		pull:   make(chan struct{}, 1),
		rng:    mrand.New(mrand.NewPCG(beUint64(seed[:8]), beUint64(seed[8:]))),
		since:  cfg.Now(),
	}
	return c, nil
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// Notify wakes an idle client to look for new events now. It never blocks.
func (c *Client) Notify() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Pull wakes the master-data pull to look for changes now rather than at
// the next PullInterval (a hold placed at the central, for example). It
// never blocks; without OnMasterData it does nothing.
func (c *Client) Pull() {
	select {
	case c.pull <- struct{}{}:
	default:
	}
}

// Status returns the current state. It never blocks on I/O.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	if !s.OldestWaiting.IsZero() {
		s.OldestAge = max(c.cfg.Now().Sub(s.OldestWaiting), 0)
	}
	return s
}

// Health reports the uplink as a lamp: connected, or disconnected with the
// backlog in words an operator can act on.
func (c *Client) Health() station.Health {
	s := c.Status()
	c.mu.Lock()
	since := c.since
	c.mu.Unlock()
	h := station.Health{Device: "central", Kind: "uplink", State: station.DeviceConnected, Since: since.UTC()}
	if !s.Connected {
		h.State = station.DeviceDisconnected
		h.Reason = "The central service cannot be reached; production goes on and records are kept here."
		if s.Waiting > 0 {
			h.Reason += fmt.Sprintf(" %d records wait to be sent, the oldest for %s.", s.Waiting, s.OldestAge.Round(time.Second))
		}
		if s.LastError != "" {
			h.Reason += " Last error: " + s.LastError
		}
	}
	return h
}

// Run sends the outbox (and, with OnMasterData, pulls master data) until
// ctx is done, then returns nil. Failures are logged and retried; they
// never end Run.
func (c *Client) Run(ctx context.Context) error {
	if c.cfg.OnMasterData != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			c.pullLoop(ctx)
		}()
	}
	synced := false // whether the cursor was checked against the central since the last failure
	for {
		err := c.drain(ctx, &synced)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			synced = false
			wait := c.fail(err)
			if !sleep(ctx, wait, nil) {
				return nil
			}
			continue
		}
		if !sleep(ctx, c.cfg.Interval, c.notify) {
			return nil
		}
	}
}

// masterPage is how many master-data changes one pull asks for.
const masterPage = 1000

// pullBreath is the pause between long pulls.
const pullBreath = 100 * time.Millisecond

// pullLoop pulls master data until ctx is done. The first pull, and the
// first after a failure, answers at once (the status then shows the pull
// at once); the following ones are long pulls the central holds until
// there is a change, one after the other. A central that does not hold
// them (an older one) is pulled every PullInterval.
func (c *Client) pullLoop(ctx context.Context) {
	var cursor int64
	loaded := false
	long := false // ask the central to hold the pull
	for failures := 0; ; {
		waits := true // the central holds pulls (or has not said it does not)
		err := func() error {
			if !loaded && c.cfg.MasterCursor != nil {
				seq, err := c.cfg.MasterCursor.PulledMasterData(ctx)
				if err != nil {
					return fmt.Errorf("read master-data cursor: %w", err)
				}
				cursor = seq
			}
			loaded = true
			for {
				var wait time.Duration
				if long {
					wait = c.cfg.PullWait
				}
				md, err := c.cfg.API.MasterDataWait(ctx, cursor, masterPage, wait)
				if err != nil {
					return fmt.Errorf("pull master data after %d: %w", cursor, err)
				}
				if len(md.Records) > 0 {
					if err := c.cfg.OnMasterData(ctx, md.Records); err != nil {
						return fmt.Errorf("apply master data %d to %d: %w", md.Records[0].Seq, md.Records[len(md.Records)-1].Seq, err)
					}
				}
				if md.Next != cursor && c.cfg.MasterCursor != nil {
					if err := c.cfg.MasterCursor.SetPulledMasterData(ctx, md.Next); err != nil {
						return fmt.Errorf("record master-data cursor %d: %w", md.Next, err)
					}
				}
				cursor = md.Next
				if wait > 0 && md.Wait == 0 {
					waits = false
				}
				if len(md.Records) < masterPage {
					return nil
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		wait := c.cfg.PullInterval
		long = err == nil && c.cfg.PullWait > 0
		if long && waits {
			// The central holds the next pull until there is a change:
			// ask again at once (after a breath, should it answer too
			// soon).
			wait = pullBreath
		}
		c.mu.Lock()
		if err != nil {
			failures++
			c.status.PullError = station.ErrorMessage(err)
			wait = min(wait, Backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, failures, c.rng.Float64()))
			c.logger.Warn("master-data pull failed", "error", err, "failures", failures)
		} else {
			failures = 0
			c.status.PullError = ""
			c.status.LastPull = c.cfg.Now().UTC()
		}
		c.mu.Unlock()
		if !sleep(ctx, wait, c.pull) {
			return
		}
	}
}

// sleep waits d, or until wake (when not nil) or ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// drain sends batches until nothing waits.
func (c *Client) drain(ctx context.Context, synced *bool) error {
	j := c.cfg.Journal
	acked, err := j.Acknowledged(ctx)
	if err != nil {
		return fmt.Errorf("read outbox cursor: %w", err)
	}
	// The backlog is known without the central: keep the status true
	// while it cannot be reached.
	if err := c.refreshBacklog(ctx, acked.Seq); err != nil {
		return err
	}
	// After a start or a failure the station reports its head even when it
	// has nothing to send: a central restored from a backup waits for that
	// word from every station before it issues serials again.
	report := !*synced
	if !*synced {
		// After a start or a failure, take the central's word for what it
		// holds: it may hold more (its answer was lost) or less (it was
		// restored from a backup).
		held, err := c.cfg.API.Head(ctx)
		if err != nil {
			return fmt.Errorf("ask the central what it holds: %w", err)
		}
		if held.Seq != acked.Seq || held.Hash != acked.Hash {
			if err := j.Acknowledge(ctx, held.Seq, held.Hash); err != nil {
				return fmt.Errorf("align the outbox cursor with the central (seq %d): %w", held.Seq, err)
			}
			c.logger.Info("outbox cursor aligned with the central", logKeySeq, held.Seq, "was", acked.Seq)
			acked = held.Head()
		}
		*synced = true
		c.succeed(acked.Seq)
	}
	for rewinds := 0; ; {
		head, err := j.Head(ctx)
		if err != nil {
			return fmt.Errorf("read journal head: %w", err)
		}
		evs, err := j.Events(ctx, acked.Seq+1, c.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read outbox from seq %d: %w", acked.Seq+1, err)
		}
		c.setBacklog(acked.Seq, head.Seq, evs)
		if len(evs) == 0 && !report {
			return nil
		}
		b := &Batch{Station: j.Station(), Events: evs, Outbox: OutboxReport{
			Head: head.Seq, Waiting: head.Seq - acked.Seq, Sent: c.cfg.Now().UTC(), Version: c.cfg.Version,
		}}
		if len(evs) == 0 {
			b.Events = []station.Event{}
		} else {
			b.Outbox.Oldest = evs[0].Time
		}
		report = false
		ack, err := c.cfg.API.Push(ctx, b)
		var aerr *APIError
		if errors.As(err, &aerr) && aerr.Detail.Held != nil && rewinds < 3 && aerr.Detail.Held.Seq != acked.Seq {
			// A gap: the central holds less (or more) than the cursor says.
			held := aerr.Detail.Held
			c.logger.Warn("central refused the batch; resending from what it holds", logKeySeq, acked.Seq+1, "held", held.Seq, "error", aerr.Detail.Message)
			if err := j.Acknowledge(ctx, held.Seq, held.Hash); err != nil {
				return fmt.Errorf("align the outbox cursor with the central (seq %d): %w", held.Seq, err)
			}
			acked = held.Head()
			rewinds++
			continue
		}
		if err != nil {
			if len(evs) == 0 {
				return fmt.Errorf("report head seq %d: %w", head.Seq, err)
			}
			return fmt.Errorf("send seq %d to %d: %w", evs[0].Seq, evs[len(evs)-1].Seq, err)
		}
		if err := j.Acknowledge(ctx, ack.Seq, ack.Hash); err != nil {
			return fmt.Errorf("record the central's acknowledgement of seq %d: %w", ack.Seq, err)
		}
		c.logger.Debug("batch acknowledged", logKeySeq, ack.Seq, logKeyEvents, len(evs), "stored", ack.Stored, "duplicates", ack.Duplicates)
		acked = ack.Head()
		rewinds = 0
		c.succeed(acked.Seq)
	}
}

// refreshBacklog reads the journal head and the oldest waiting event.
func (c *Client) refreshBacklog(ctx context.Context, acked int64) error {
	head, err := c.cfg.Journal.Head(ctx)
	if err != nil {
		return fmt.Errorf("read journal head: %w", err)
	}
	var oldest []station.Event
	if head.Seq > acked {
		if oldest, err = c.cfg.Journal.Events(ctx, acked+1, 1); err != nil {
			return fmt.Errorf("read outbox at seq %d: %w", acked+1, err)
		}
	}
	c.setBacklog(acked, head.Seq, oldest)
	return nil
}

// setBacklog records what waits after a read of the outbox.
func (c *Client) setBacklog(acked, head int64, evs []station.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Acked, c.status.Head = acked, head
	c.status.Waiting = max(head-acked, 0)
	c.status.OldestWaiting = time.Time{}
	if len(evs) > 0 {
		c.status.OldestWaiting = evs[0].Time
	}
}

func (c *Client) succeed(acked int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.status.Connected {
		c.since = c.cfg.Now()
		if c.status.Failures > 0 {
			c.logger.Info("central reachable again", "failures", c.status.Failures, logKeySeq, acked)
		}
	}
	c.status.Connected = true
	c.status.LastSync = c.cfg.Now().UTC()
	c.status.Acked = acked
	c.status.Failures = 0
	c.status.LastError = ""
}

// fail records a failed attempt and returns how long to wait.
func (c *Client) fail(err error) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.Connected {
		c.since = c.cfg.Now()
	}
	c.status.Connected = false
	c.status.Failures++
	c.status.LastError = station.ErrorMessage(err)
	wait := Backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, c.status.Failures, c.rng.Float64())
	level := slog.LevelWarn
	if c.status.Failures > 1 {
		level = slog.LevelDebug // one warning per outage, not one per retry
	}
	c.logger.Log(context.Background(), level, "uplink attempt failed", "error", err, logKeyWaiting, c.status.Waiting, "failures", c.status.Failures, logKeyBackoff, wait)
	return wait
}

// Backoff returns the wait before retry number failures (1 for the first):
// min doubled failures-1 times, capped at max, then scaled by a jitter in
// [0.5, 1] taken from u in [0, 1).
func Backoff(min, max time.Duration, failures int, u float64) time.Duration {
	d := min
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Duration(float64(d) * (0.5 + u/2))
}

// NewRequestID returns a random id for an idempotent request.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
