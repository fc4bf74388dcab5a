package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/backup"
	"github.com/linestation/linestation/uplink/central"
)

// Backups of the central store: the [backup] section of serve's config,
// the scheduler inside 'serve', 'restore --central' and
// 'backup list --central'.

// defaultCentralBackupKeep is how many snapshots of the central store
// retention keeps by default: a day of hourly snapshots.
const defaultCentralBackupKeep = 24

// serveBackupConfig is the [backup] section of serve's config.
type serveBackupConfig struct {
	To                string   `toml:"to"`
	Endpoint          string   `toml:"endpoint"`
	Region            string   `toml:"region"`
	Interval          duration `toml:"interval"`
	Keep              int      `toml:"keep"`
	EncryptionKeyFile string   `toml:"encryption_key_file"`
}

func (b *serveBackupConfig) validate() error {
	if b.To == "" {
		return nil
	}
	if _, err := backup.ParseLocation(b.To); err != nil {
		return station.Errorf(station.EINVALID, "backup.to: %s", station.ErrorMessage(err))
	}
	if b.Interval.Duration < time.Second {
		return station.Errorf(station.EINVALID, "backup.interval %s must be at least 1s (an hour is usual)", b.Interval)
	}
	if b.Keep < 1 {
		return station.Errorf(station.EINVALID, "backup.keep %d must be at least 1", b.Keep)
	}
	return nil
}

// centralBackup runs the central store's scheduled backups inside serve.
// A nil *centralBackup (no backup.to) does nothing.
type centralBackup struct {
	sched  *backup.CentralScheduler
	cancel context.CancelFunc
	done   chan struct{}
}

// newCentralBackup opens the backup location of cfg (credentials from the
// AWS environment variables); nil when backups are not configured. It
// does not contact the storage: the scheduler's first round does.
func newCentralBackup(cfg *serveConfig, db *centraldb.DB, logger *slog.Logger) (*centralBackup, error) {
	b := cfg.Backup
	if b.To == "" {
		return nil, nil
	}
	bc := backup.Config{URL: b.To, Endpoint: b.Endpoint, Region: b.Region, EncryptionKeyFile: cfg.resolve(b.EncryptionKeyFile)}
	if err := bc.ApplyEnv(os.Getenv); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	store, err := backup.Open(bc)
	if err != nil {
		return nil, fmt.Errorf("backup to %s: %w", b.To, err)
	}
	store.Logger = logger.With("component", "backup")
	sh := backup.NewCentralShipper(store, centralBackupSource{db})
	sh.Program = versionString()
	return &centralBackup{sched: &backup.CentralScheduler{Shipper: sh, Interval: b.Interval.Duration, Keep: b.Keep, Logger: store.Logger}}, nil
}

// start runs the scheduler until ctx ends or stop is called.
func (b *centralBackup) start(ctx context.Context) {
	if b == nil {
		return
	}
	ctx, b.cancel = context.WithCancel(ctx)
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		_ = b.sched.Run(ctx) // failures are logged and counted by the scheduler; Run returns nil
	}()
}

// stop ends the scheduler (a snapshot in progress is abandoned: the next
// start takes another) and waits for it.
func (b *centralBackup) stop() {
	if b == nil || b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
}

// metricsFunc returns what the central service adds to /metrics; nil
// without backups.
func (b *centralBackup) metricsFunc() func() []central.Metric {
	if b == nil {
		return nil
	}
	return func() []central.Metric {
		st := b.sched.Status()
		last := 0.0
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		return []central.Metric{
			{Name: "linestation_backup_last_success_timestamp_seconds", Type: "gauge", Value: last,
				Help: "When the newest verified backup of the central store was taken (Unix time; 0: none)."},
			{Name: "linestation_backup_failures_total", Type: "counter", Value: float64(st.FailuresTotal),
				Help: "Failed backups of the central store since the service started."},
			{Name: "linestation_backup_consecutive_failures", Type: "gauge", Value: float64(st.Failures),
				Help: "Failed backups of the central store since the last success (alert when above 0)."},
			{Name: "linestation_backup_uploaded_bytes_total", Type: "counter", Value: float64(st.Bytes),
				Help: "Bytes of central store backups uploaded and verified since the service started."},
		}
	}
}

// centralBackupSource is the central store as backups read it.
type centralBackupSource struct{ db *centraldb.DB }

var _ backup.CentralSource = centralBackupSource{}

func (c centralBackupSource) Path() string { return c.db.Path() }

func (c centralBackupSource) SnapshotFile(ctx context.Context, path string) (backup.CentralState, error) {
	st, err := c.db.SnapshotFile(ctx, path)
	return toBackupState(st), err
}

func toBackupState(st centraldb.State) backup.CentralState {
	out := backup.CentralState{Stations: make([]backup.StationHead, len(st.Stations)), Feed: st.Feed, Changes: st.Changes, Reservations: st.Reservations}
	for i, h := range st.Stations {
		out.Stations[i] = backup.StationHead{Station: h.Station, Seq: h.Seq, Hash: h.Hash, Time: h.Time}
	}
	return out
}

// restoredCentralStore is a restored central store file, opened with
// centraldb (which refuses a file that is not a central store).
type restoredCentralStore struct{ db *centraldb.DB }

var _ backup.CentralStore = restoredCentralStore{}

func (r restoredCentralStore) State(ctx context.Context) (backup.CentralState, error) {
	st, err := r.db.State(ctx)
	return toBackupState(st), err
}

func (r restoredCentralStore) Check(ctx context.Context) error { return r.db.Check(ctx) }

func (r restoredCentralStore) Close() error { return r.db.Close() }

func (r restoredCentralStore) MarkRestored(ctx context.Context, generation string) ([]string, error) {
	return r.db.MarkRestored(ctx, generation)
}

func openRestoredCentral(stderr io.Writer) func(ctx context.Context, path string) (backup.CentralStore, error) {
	return func(ctx context.Context, path string) (backup.CentralStore, error) {
		db, err := centraldb.Open(ctx, path, centraldb.Options{Logger: warnLogger(stderr)})
		if err != nil {
			return nil, err
		}
		return restoredCentralStore{db}, nil
	}
}

// centralRestoreArgs are the flags of 'restore --central'.
type centralRestoreArgs struct {
	from, data, gen, db, at string
	force                   bool
	sf                      *storageFlags
	nargs                   int
}

// runRestoreCentral runs 'linestation restore --central'.
func runRestoreCentral(ctx context.Context, a centralRestoreArgs, stdout, stderr io.Writer) error {
	const name = "restore --central"
	hint := "run 'linestation restore --help'"
	switch {
	case a.nargs > 0:
		return &usageError{message: name + ": unexpected argument", hint: hint}
	case a.from == "":
		return &usageError{message: name + ": --from s3://BUCKET/PREFIX is required", hint: hint}
	case a.data == "":
		return &usageError{message: name + ": --data DIR (the central service's data folder) is required", hint: hint}
	case a.db != "" || a.at != "":
		return &usageError{message: name + ": --db and --at are for station ledgers; the central store goes to DIR/" + centralStoreName + " (--data DIR), from a whole snapshot (--generation ID)", hint: hint}
	case a.gen != "" && !backup.ValidGenerationID(a.gen):
		return &usageError{message: fmt.Sprintf("%s: --generation %q is not a generation id", name, a.gen), hint: "run 'linestation backup list --central --from " + a.from + "'"}
	}
	store, err := a.sf.openStore("restore", a.from, stderr)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(a.data)
	if err != nil {
		return fail(stderr, name, fmt.Errorf("--data %s: %w", a.data, err))
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(stderr, name, fmt.Errorf("create data folder %s: %w", dir, err))
	}
	// Not under a running service: it would go on with the store it has
	// open, and what it wrote after the restore would be lost.
	lock, err := lockData(dir, restoreHolder)
	if err != nil {
		return fail(stderr, name, err)
	}
	defer lock.release()
	start := time.Now()
	res, err := backup.RestoreCentral(ctx, store, backup.CentralRestoreOptions{
		Path: filepath.Join(dir, centralStoreName), Generation: a.gen, Force: a.force, Open: openRestoredCentral(stderr),
	})
	if err != nil {
		return fail(stderr, name, err)
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "restored   %s\n", res.Path)
	fmt.Fprintf(stdout, "from       %s generation %s (central store, taken %s)\n", store.Location(), res.Generation, m.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "snapshot   %d bytes, checksums match the manifest\n", m.Snapshot.Size)
	fmt.Fprintf(stdout, "holds      %d stations, %d events (feed %d), %d master-data changes, %d reservations\n", len(m.Stations), m.Events(), m.Feed, m.Changes, m.Reservations)
	for _, h := range m.Stations {
		fmt.Fprintf(stdout, "  station  %s at seq %d, hash %s\n", h.Station, h.Seq, shortHash(h.Hash))
	}
	fmt.Fprintf(stdout, "verify     SQLite integrity and every station's journal intact (%d bytes downloaded in %s)\n", res.Downloaded, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "next       start 'linestation serve': stations send again what they pushed after %s\n", m.Created.UTC().Format(time.RFC3339))
	if len(res.Awaited) > 0 {
		fmt.Fprintf(stdout, "issuance   no serials or SSCC blocks are issued until these stations have synced: %s\n", strings.Join(res.Awaited, ", "))
		fmt.Fprintf(stdout, "           (a station gone for good: 'linestation serve restore-accept STATION')\n")
	}
	return nil
}

// printCentralList prints 'backup list --central'.
func printCentralList(ctx context.Context, store *backup.Store, asJSON bool, stdout io.Writer) error {
	gens, err := store.ListCentral(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, g := range gens {
			line := struct {
				Generation string                  `json:"generation"`
				Complete   bool                    `json:"complete"`
				Problem    string                  `json:"problem,omitempty"`
				Manifest   *backup.CentralManifest `json:"manifest,omitempty"`
			}{g.ID, g.Manifest != nil, g.Problem, g.Manifest}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	}
	if len(gens) == 0 {
		fmt.Fprintf(stdout, "no backup generations at %s\n", store.Location())
		return nil
	}
	for i, g := range gens {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		m := g.Manifest
		if m == nil {
			fmt.Fprintf(stdout, "generation %s  NOT RESTORABLE: %s\n", g.ID, g.Problem)
			continue
		}
		fmt.Fprintf(stdout, "generation %s  complete (central store)\n", g.ID)
		fmt.Fprintf(stdout, "  source    %s (%s)\n", m.Host, m.Program)
		fmt.Fprintf(stdout, "  created   %s\n", m.Created.UTC().Format(time.RFC3339))
		fmt.Fprintf(stdout, "  holds     %d stations, %d events (feed %d), %d master-data changes, %d reservations\n", len(m.Stations), m.Events(), m.Feed, m.Changes, m.Reservations)
		for _, h := range m.Stations {
			fmt.Fprintf(stdout, "  station   %s at seq %d, hash %s\n", h.Station, h.Seq, h.Hash)
		}
		s := fmt.Sprintf("%d bytes %s", m.Snapshot.StoredSize, m.Compression)
		if m.Encryption != nil {
			s += fmt.Sprintf(", encrypted %s (key id %s)", m.Encryption.Algorithm, m.Encryption.KeyID)
		}
		fmt.Fprintf(stdout, "  snapshot  %d bytes sha256 %s\n", m.Snapshot.Size, m.Snapshot.SHA256)
		fmt.Fprintf(stdout, "            stored as %s: %s, sha256 %s\n", m.Snapshot.Key, s, m.Snapshot.StoredSHA256)
	}
	return nil
}
