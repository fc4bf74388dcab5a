package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/backup"
)

// The kiosk's scheduled backups ([backup] in the config): the station
// ledger goes to object storage as a snapshot per generation and the
// journal after it every segment_interval, while the line runs. How it
// goes is the kiosk's backup lamp, red while backups fail (the station's
// alarm); failures are logged by the scheduler.

// kioskBackupFinal bounds the last shipment when the kiosk closes.
const kioskBackupFinal = 10 * time.Second

// kioskBackup runs the backup scheduler of the station ledger and reports
// its state as a lamp.
type kioskBackup struct {
	sched    *backup.Scheduler
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	state station.DeviceState
	since time.Time
}

// newKioskBackup opens the backup location of cfg for db: credentials and
// endpoint fall back to the AWS environment variables (getenv), the key to
// backup.encryption_key_file or LINESTATION_BACKUP_KEY. It does not contact
// the storage: the scheduler's first round does.
func newKioskBackup(cfg Config, db *localdb.DB, logger *slog.Logger, getenv func(string) string) (*kioskBackup, error) {
	b := cfg.Backup
	bc := backup.Config{URL: b.To, Endpoint: b.Endpoint, EncryptionKeyFile: cfg.Path(b.EncryptionKeyFile)}
	if err := bc.ApplyEnv(getenv); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	store, err := backup.Open(bc)
	if err != nil {
		return nil, fmt.Errorf("backup to %s: %w", b.To, err)
	}
	logger = logger.With("component", "backup")
	store.Logger = logger
	sh := backup.NewShipper(store, db)
	sh.Program = versionString()
	sh.Logger = logger
	return &kioskBackup{
		sched: &backup.Scheduler{Shipper: sh, Interval: b.SegmentInterval.Duration, SnapshotInterval: b.SnapshotInterval.Duration,
			Keep: b.Keep, FinalTimeout: kioskBackupFinal, Logger: logger},
		interval: b.SegmentInterval.Duration,
		now:      time.Now,
	}, nil
}

// openBackup checks the backup settings and credentials of a station with
// backup.to, before the line starts; startBackup runs them.
func (st *kioskStation) openBackup() error {
	if st.cfg.Backup.To == "" {
		return nil
	}
	b, err := newKioskBackup(st.cfg, st.db, st.logger, os.Getenv)
	if err != nil {
		return err
	}
	st.backups = b
	return nil
}

// startBackup runs the station ledger's scheduled backups until ctx ends
// or the station closes (with a last shipment then). Without backup.to it
// does nothing.
func (st *kioskStation) startBackup(ctx context.Context) error {
	b := st.backups
	if b == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.sched.Run(ctx) // failures are logged and kept in Status; Run returns nil
	}()
	st.stops = append(st.stops, func() { cancel(); <-done })
	st.logger.Info("scheduled backups started", "to", st.cfg.Backup.To, "every", st.cfg.Backup.SegmentInterval.String(),
		"snapshot_every", st.cfg.Backup.SnapshotInterval.String())
	return nil
}

// Health is the backup lamp: green once a round succeeded, amber before
// the first one finished or while the last success is overdue, red while
// rounds fail. It never blocks.
func (b *kioskBackup) Health() station.Health {
	s := b.sched.Status()
	now := b.now()
	h := station.Health{Device: s.Location, Kind: "backup", State: station.DeviceConnected}
	shipped := "nothing yet"
	if s.ShippedSeq > 0 {
		shipped = fmt.Sprintf("up to record %d of %s", s.ShippedSeq, s.ShippedAt.UTC().Format(time.RFC3339))
	}
	switch {
	case s.Failures > 0:
		h.State = station.DeviceFaulted
		h.Reason = fmt.Sprintf("Backups to %s fail (%d attempts in a row): %s. The storage holds this station's records %s; "+
			"what was recorded after that is only on this PC.", s.Location, s.Failures, station.ErrorMessage(s.LastError), shipped)
	case s.LastSuccess.IsZero():
		h.State = station.DeviceDegraded
		h.Reason = fmt.Sprintf("The first backup to %s is under way.", s.Location)
	case now.Sub(s.LastSuccess) > 5*max(b.interval, backup.DefaultInterval):
		h.State = station.DeviceDegraded
		h.Reason = fmt.Sprintf("The last backup to %s finished %s ago; the next one is taking long. The storage holds this station's records %s.",
			s.Location, now.Sub(s.LastSuccess).Round(time.Second), shipped)
	default:
		h.Reason = fmt.Sprintf("Backed up to %s %s.", s.Location, shipped)
	}
	b.mu.Lock()
	if h.State != b.state {
		b.state, b.since = h.State, now.UTC()
	}
	h.Since = b.since
	b.mu.Unlock()
	return h
}
