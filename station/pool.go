package station

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// SerialSource gives the station new serial numbers for a GTIN: the
// central service's serial authority (over HTTP, in uplink) or, in
// standalone mode, LocalSource. Whatever it is, a serial it returns must
// never have been issued for that GTIN before (by anyone it knows of), and
// the serials it issues per GTIN stay below MaxSerialDensity of the
// product's serial space. Serials the station gives back or voids reach the
// central service as pool.returned and pool.voided events of the journal.
type SerialSource interface {
	// Name is recorded as the pool.reserved event's source: "central" or "local".
	Name() string
	// Reserve returns n new serials of gtin made with scheme.
	// Errors: ECONFLICT when the density rule or the serial space refuses
	// the request; EUNAVAILABLE when the authority cannot be reached;
	// ENOTFOUND when it does not know the GTIN.
	Reserve(ctx context.Context, gtin string, scheme SerialScheme, n int) ([]string, error)
}

// LocalSource generates serials at the station (standalone mode) with the
// same guarantees as the central authority: each serial is checked against
// every serial this station's ledger ever received for the GTIN (and the
// ledger's unique key refuses a repeat), and the density rule counts every
// serial ever reserved here. It is safe for concurrent use.
type LocalSource struct {
	Ledger Ledger
	mu     sync.Mutex
}

var _ SerialSource = (*LocalSource)(nil)

// Name implements SerialSource.
func (*LocalSource) Name() string { return "local" }

// Reserve implements SerialSource.
func (s *LocalSource) Reserve(ctx context.Context, gtin string, scheme SerialScheme, n int) ([]string, error) {
	if n <= 0 || n > maxSerials {
		return nil, Errorf(EINVALID, "reserve %d serials: want 1 to %d", n, maxSerials)
	}
	if err := scheme.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var issued int64
	lvl, err := s.Ledger.Pool(ctx, gtin)
	switch {
	case err == nil:
		issued = lvl.Reserved
	case ErrorCode(err) != ENOTFOUND:
		return nil, fmt.Errorf("reserve serials of GTIN %s: %w", gtin, err)
	}
	if err := scheme.CheckDensity(issued, int64(n)); err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	seen := make(map[string]bool, n)
	next := uint64(issued)
	for tries := 0; len(out) < n; tries++ {
		if tries > 10*n+100 {
			return nil, Errorf(ECONFLICT, "could not draw %d new serials of GTIN %s: the serial space is nearly used up", n, gtin)
		}
		var serial string
		if scheme.Sequential {
			serial, err = scheme.Nth(next)
			next++
		} else {
			serial, err = scheme.Random()
		}
		if err != nil {
			return nil, err
		}
		if seen[serial] {
			continue
		}
		_, err := s.Ledger.Serial(ctx, gtin, serial)
		if err == nil {
			continue // issued before: never again
		} else if ErrorCode(err) != ENOTFOUND {
			return nil, fmt.Errorf("reserve serials of GTIN %s: %w", gtin, err)
		}
		seen[serial] = true
		out = append(out, serial)
	}
	return out, nil
}

// ErrPoolEmpty is returned (wrapped, with the GTIN) when a GTIN's pool has
// no serial left: the line stops rather than invent a number.
var ErrPoolEmpty = Errorf(EUNAVAILABLE, "The serial pool is empty: production stops until new serials arrive from the serial authority. Check the connection to the central service, then resume.")

// PoolPolicy says how far ahead the station reserves serials. Zero fields
// mean their defaults.
type PoolPolicy struct {
	// LowWater is the pool level that triggers a replenishment. Default 2000.
	LowWater int
	// Batch is how many serials one replenishment asks for. Default 5000.
	Batch int
	// RetryAfter is the least time between two failed replenishments of a
	// GTIN. Default 10s.
	RetryAfter time.Duration
}

func (p PoolPolicy) withDefaults() PoolPolicy {
	if p.LowWater <= 0 {
		p.LowWater = 2000
	}
	if p.Batch <= 0 {
		p.Batch = 5000
	}
	if p.RetryAfter <= 0 {
		p.RetryAfter = 10 * time.Second
	}
	return p
}

// PoolStatus is a GTIN's pool as the kiosk shows it.
type PoolStatus struct {
	GTIN         string
	Available    int64     // serials in the pool, not yet allocated
	LowWater     int       // replenishment starts below this
	Replenishing bool      // a request to the serial source is under way
	LastError    string    // why the last replenishment failed; "" when it did not
	LastFill     time.Time // when serials last arrived (UTC); zero when never in this process
}

// Pools hands out serials from the station's reserved pools and tops them up
// in the background: allocation never waits for the serial source while
// the pool has serials, and an empty pool is an error (ErrPoolEmpty), never
// an invented number. All allocation of a GTIN's serials goes through one
// Pools, which serializes it per GTIN. Safe for concurrent use.
type Pools struct {
	ledger Ledger
	source SerialSource
	policy PoolPolicy
	logger *slog.Logger
	scheme func(ctx context.Context, gtin string) (SerialScheme, error)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	gtins map[string]*gtinPool
}

// gtinPool is one GTIN's allocation state.
type gtinPool struct {
	mu       sync.Mutex // serializes allocation and release of the GTIN
	cache    []string   // available serials read ahead from the ledger, oldest first
	state    sync.Mutex // guards the fields below
	inflight bool
	lastErr  string
	failedAt time.Time
	lastFill time.Time
	wake     chan struct{} // closed and replaced when serials arrive
}

func newPools(ledger Ledger, source SerialSource, policy PoolPolicy, logger *slog.Logger,
	scheme func(ctx context.Context, gtin string) (SerialScheme, error)) *Pools {
	ctx, cancel := context.WithCancel(context.Background())
	return &Pools{ledger: ledger, source: source, policy: policy.withDefaults(), logger: logger, scheme: scheme,
		ctx: ctx, cancel: cancel, gtins: map[string]*gtinPool{}}
}

func (p *Pools) pool(gtin string) *gtinPool {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.gtins[gtin]
	if g == nil {
		g = &gtinPool{wake: make(chan struct{})}
		p.gtins[gtin] = g
	}
	return g
}

// Close stops replenishments under way and waits for them.
func (p *Pools) Close() {
	p.cancel()
	p.wg.Wait()
}

// Allocate takes up to n serials of gtin from the pool and records them as
// allocated to order (unit.allocated, durable) before returning them. It
// returns fewer than n when the pool holds fewer, and an error wrapping
// ErrPoolEmpty when it holds none. A level below the low-water mark starts
// a replenishment in the background.
func (p *Pools) Allocate(ctx context.Context, order, gtin, user string, n int) ([]string, error) {
	if n <= 0 {
		return nil, Errorf(EINVALID, "allocate %d serials: want at least 1", n)
	}
	g := p.pool(gtin)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.cache) < n {
		fresh, err := p.ledger.AvailableSerials(ctx, gtin, max(n, 1000))
		if err != nil {
			return nil, fmt.Errorf("allocate serials of GTIN %s: %w", gtin, err)
		}
		g.cache = fresh
	}
	take := g.cache[:min(n, len(g.cache))]
	if len(take) == 0 {
		p.replenish(gtin, g)
		return nil, fmt.Errorf("GTIN %s: %w", gtin, ErrPoolEmpty)
	}
	evs := make([]NewEvent, len(take))
	for i, s := range take {
		evs[i] = NewEvent{Payload: UnitAllocated{GTIN: gtin, Serial: s, Order: order}, User: user}
	}
	if _, err := p.ledger.Append(ctx, evs...); err != nil {
		g.cache = nil // re-read: the ledger knows better
		return nil, fmt.Errorf("allocate %d serials of GTIN %s to order %s: %w", len(take), gtin, order, err)
	}
	out := slices.Clone(take)
	g.cache = g.cache[len(take):]
	if lvl, err := p.ledger.Pool(ctx, gtin); err == nil && lvl.Available < int64(p.policy.LowWater) {
		p.replenish(gtin, g)
	}
	return out, nil
}

// Release gives every available serial of gtin back to the serial source
// (pool.returned), or voids them (pool.voided) when void is true, in
// events of at most 100,000 serials. It returns how many it released.
func (p *Pools) Release(ctx context.Context, gtin, user string, void bool, reason string) (int, error) {
	g := p.pool(gtin)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cache = nil
	total := 0
	for {
		ss, err := p.ledger.AvailableSerials(ctx, gtin, maxSerials)
		if err != nil {
			return total, fmt.Errorf("release serials of GTIN %s: %w", gtin, err)
		}
		if len(ss) == 0 {
			return total, nil
		}
		var pl Payload = PoolReturned{GTIN: gtin, Serials: ss}
		if void {
			pl = PoolVoided{GTIN: gtin, Serials: ss, Reason: reason}
		}
		if _, err := p.ledger.Append(ctx, NewEvent{Payload: pl, User: user}); err != nil {
			return total, fmt.Errorf("release %d serials of GTIN %s: %w", len(ss), gtin, err)
		}
		total += len(ss)
	}
}

// Ensure starts a replenishment of gtin when its pool is below the low-water
// mark (for example when an order is released), without waiting for it.
func (p *Pools) Ensure(ctx context.Context, gtin string) {
	lvl, err := p.ledger.Pool(ctx, gtin)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		p.logger.Warn("read pool level", "gtin", gtin, "error", err)
		return
	}
	if lvl.Available < int64(p.policy.LowWater) {
		p.replenish(gtin, p.pool(gtin))
	}
}

// fillChunk is the most serials one pool.reserved event of Fill records.
const fillChunk = 500

// Fill asks the source for one batch of gtin and records it, waiting for
// the answer: for setting a station up, not for the line.
func (p *Pools) Fill(ctx context.Context, gtin string, n int) error {
	scheme, err := p.scheme(ctx, gtin)
	if err != nil {
		return err
	}
	ss, err := p.source.Reserve(ctx, gtin, scheme, n)
	if err != nil {
		return fmt.Errorf("reserve %d serials of GTIN %s from %s: %w", n, gtin, p.source.Name(), err)
	}
	// Recorded in parts, so that a large batch never holds the ledger's
	// writer for long while the line is deciding packs.
	for len(ss) > 0 {
		part := ss[:min(len(ss), fillChunk)]
		if _, err := p.ledger.Append(ctx, NewEvent{Payload: PoolReserved{GTIN: gtin, Serials: part, Source: p.source.Name()}, User: SystemUser}); err != nil {
			return fmt.Errorf("record %d serials of GTIN %s: %w", len(part), gtin, err)
		}
		ss = ss[len(part):]
	}
	g := p.pool(gtin)
	g.state.Lock()
	g.lastFill = time.Now().UTC()
	close(g.wake)
	g.wake = make(chan struct{})
	g.state.Unlock()
	return nil
}

// replenish starts one background request for gtin unless one is under way
// or the last one failed less than RetryAfter ago.
func (p *Pools) replenish(gtin string, g *gtinPool) {
	g.state.Lock()
	if g.inflight || (!g.failedAt.IsZero() && time.Since(g.failedAt) < p.policy.RetryAfter) || p.ctx.Err() != nil {
		g.state.Unlock()
		return
	}
	g.inflight = true
	g.state.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := p.Fill(p.ctx, gtin, p.policy.Batch)
		g.state.Lock()
		g.inflight = false
		if err != nil {
			g.lastErr, g.failedAt = ErrorMessage(err), time.Now()
		} else {
			g.lastErr, g.failedAt = "", time.Time{}
		}
		g.state.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			p.logger.Warn("serial pool replenishment failed", "gtin", gtin, "source", p.source.Name(), "error", err)
		}
	}()
}

// Filled returns a channel closed the next time serials of gtin arrive.
func (p *Pools) Filled(gtin string) <-chan struct{} {
	g := p.pool(gtin)
	g.state.Lock()
	defer g.state.Unlock()
	return g.wake
}

// Status returns the pool level of gtin for the kiosk.
func (p *Pools) Status(ctx context.Context, gtin string) (PoolStatus, error) {
	st := PoolStatus{GTIN: gtin, LowWater: p.policy.LowWater}
	lvl, err := p.ledger.Pool(ctx, gtin)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return st, err
	}
	st.Available = lvl.Available
	g := p.pool(gtin)
	g.state.Lock()
	st.Replenishing, st.LastError, st.LastFill = g.inflight, g.lastErr, g.lastFill
	g.state.Unlock()
	return st, nil
}
