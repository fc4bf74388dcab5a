package backup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Scheduler defaults.
const (
	DefaultInterval         = time.Minute
	DefaultSnapshotInterval = 24 * time.Hour
	DefaultKeep             = 7
	DefaultFinalTimeout     = 30 * time.Second
)

// Scheduler runs a Shipper in the background of 'serve' and 'kiosk': it
// takes up the last generation (or starts one), ships the journal every
// Interval, starts a new generation every SnapshotInterval, and applies
// retention after each new generation. Status reports how it goes, for the
// station's alarm and the service's metrics.
type Scheduler struct {
	// Shipper does the work. Required.
	Shipper *Shipper
	// Interval between two shipments of the journal: at most this much of
	// the journal is at risk. Default 1 minute.
	Interval time.Duration
	// SnapshotInterval between two generations; default 24 hours.
	SnapshotInterval time.Duration
	// Keep is how many verified generations retention keeps; default 7.
	Keep int
	// FinalTimeout bounds the last shipment when Run's context ends;
	// default 30 s.
	FinalTimeout time.Duration
	// Logger defaults to the Shipper's.
	Logger *slog.Logger

	mu     sync.Mutex
	status Status
	genAt  time.Time // when the current generation was started (or taken up)
}

// Status is how backups are going.
type Status struct {
	Location   string    // s3://bucket/prefix
	Generation string    // the generation being extended; empty before the first success
	ShippedSeq int64     // the last event stored in object storage
	ShippedAt  time.Time // that event's time
	// LastSuccess is when a round last finished without error.
	LastSuccess time.Time
	// LastError is the error of the last failed round (nil once a round
	// succeeds again); LastErrorAt is when it happened.
	LastError   error
	LastErrorAt time.Time
	// Failures counts failed rounds since the last success: the station
	// raises its alarm while it is above zero.
	Failures int
	// Bytes, Objects and Retries count uploads since the start.
	Bytes   int64
	Objects int64
	Retries int64
}

// OK reports whether the last round succeeded.
func (st Status) OK() bool { return st.Failures == 0 && !st.LastSuccess.IsZero() }

// Status returns a copy of the current status.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if s.Shipper != nil {
		u := s.Shipper.store.Stats()
		st.Bytes, st.Objects, st.Retries = u.Bytes, u.Objects, u.Retries
		st.Location = s.Shipper.store.loc.String()
	}
	return st
}

// Run ships until ctx ends, then ships once more (bounded by FinalTimeout)
// so that a clean shutdown leaves nothing behind, and returns nil. Each
// round's failure is logged and kept in Status; the next round tries again.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.Shipper == nil {
		return errors.New("backup scheduler: no shipper")
	}
	interval := orDefault(s.Interval, DefaultInterval)
	log := s.Logger
	if log == nil {
		log = s.Shipper.Logger
	}
	s.round(ctx, log)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(s.FinalTimeout, DefaultFinalTimeout))
			if gen, _ := s.Shipper.Position(); gen != nil {
				_, err := s.Shipper.Ship(fctx)
				s.record(err, log)
			}
			cancel()
			return nil
		case <-t.C:
			s.round(ctx, log)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// round does one step: establish a generation, rotate it when due, ship.
func (s *Scheduler) round(ctx context.Context, log *slog.Logger) {
	err := s.step(ctx, log)
	if ctx.Err() != nil && err != nil {
		return // shutting down: the final shipment reports
	}
	s.record(err, log)
}

func (s *Scheduler) step(ctx context.Context, log *slog.Logger) error {
	sh := s.Shipper
	now := sh.Now()
	gen, _ := sh.Position()
	if gen != nil && now.Sub(s.genAt) >= orDefault(s.SnapshotInterval, DefaultSnapshotInterval) {
		// Close the old generation with what is recorded so far, then
		// start a new one.
		if _, err := sh.Ship(ctx); err != nil && !errors.Is(err, ErrDiverged) {
			log.Warn("backup could not finish the old generation before a new one", logKeyGeneration, gen.Generation, "error", err)
		}
		gen = nil
	}
	if gen == nil {
		if err := sh.store.EnsureBucket(ctx); err != nil {
			return err
		}
		resumed := false
		if s.genAt.IsZero() {
			// Only at start: a running scheduler's own generation ended
			// because it was due or the ledger diverged.
			var err error
			if resumed, err = sh.Resume(ctx); err != nil {
				return err
			}
		}
		if !resumed {
			if _, err := sh.Snapshot(ctx); err != nil {
				return err
			}
			if deleted, err := sh.store.Retain(ctx, s.keep()); err != nil {
				log.Warn("backup retention failed", "error", err)
			} else if len(deleted) > 0 {
				log.Info("backup retention deleted old generations", "generations", len(deleted))
			}
		}
		s.mu.Lock()
		s.genAt = now
		s.mu.Unlock()
	}
	_, err := sh.Ship(ctx)
	return err
}

func (s *Scheduler) keep() int {
	if s.Keep <= 0 {
		return DefaultKeep
	}
	return s.Keep
}

// record updates the status after a round.
func (s *Scheduler) record(err error, log *slog.Logger) {
	gen, cursor := s.Shipper.Position()
	now := s.Shipper.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != nil {
		s.status.Generation = gen.Generation
		s.status.ShippedSeq, s.status.ShippedAt = cursor.Seq, cursor.Time
	}
	if err == nil {
		s.status.LastSuccess = now
		s.status.LastError = nil
		s.status.Failures = 0
		return
	}
	s.status.LastError, s.status.LastErrorAt = err, now
	s.status.Failures++
	log.Error("backup failed", "error", err, "failures", s.status.Failures)
}
