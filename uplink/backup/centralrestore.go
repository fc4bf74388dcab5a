package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/linestation/linestation/station"
)

// CentralStore is a restored central store file, opened to prove it: cmd
// implements it over localdb/centraldb.
type CentralStore interface {
	// State returns what the store holds.
	State(ctx context.Context) (CentralState, error)
	// Check verifies the whole store: SQLite's integrity, and every
	// station's journal from its genesis. An error says what is wrong.
	Check(ctx context.Context) error
	// MarkRestored records in the store that it was restored from
	// generation, so that the serial and SSCC authority issues nothing until
	// every enrolled station has synced with it again; it returns the
	// stations awaited.
	MarkRestored(ctx context.Context, generation string) ([]string, error)
	// Close closes the file, leaving it complete on its own (no
	// write-ahead log beside it).
	Close() error
}

// CentralRestoreOptions say what to restore and where.
type CentralRestoreOptions struct {
	// Path is the store file to write (DATA/central.db). Its folder must
	// exist.
	Path string
	// Generation restores that generation; empty: the newest complete one.
	Generation string
	// Force replaces an existing file at Path. Stop the service using it
	// first.
	Force bool
	// Open opens the downloaded file as a central store (which refuses a
	// file that is not one) for the checks.
	Open func(ctx context.Context, path string) (CentralStore, error)
	// Logger defaults to the Store's.
	Logger *slog.Logger
}

// CentralRestoreResult says what RestoreCentral did.
type CentralRestoreResult struct {
	Path       string
	Generation string
	Manifest   *CentralManifest
	Downloaded int64 // bytes downloaded
	// Awaited are the stations the restored store waits for before it
	// issues serials and SSCC blocks again.
	Awaited []string
}

// RestoreCentral puts a central store back from store into opts.Path: it
// picks the generation, downloads its snapshot and checks it against the
// manifest (sizes and SHA-256 of the stored object and of the file), opens
// it as a central store, checks that it holds exactly the station heads
// and high-water marks the manifest names, runs SQLite's integrity check
// and verifies every station's journal, and only then moves the file into
// place (fsync, then a link or rename in the same folder). On any failure
// nothing is left at opts.Path and the error names the object at fault. An
// existing file is refused unless Force.
//
// The restored store lacks what stations pushed after the snapshot; each
// station's uplink notices that the central holds less than it
// acknowledged and sends it again. Since it also lacks the serials and
// SSCC blocks issued after the snapshot, the restored store is marked
// (CentralStore.MarkRestored): it issues none until every station enrolled
// in it has synced again.
func RestoreCentral(ctx context.Context, store *Store, opts CentralRestoreOptions) (*CentralRestoreResult, error) {
	if opts.Open == nil {
		return nil, errors.New("restore central: no Open function")
	}
	log := opts.Logger
	if log == nil {
		log = store.Logger
	}
	target, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("restore central store to %s: %w", opts.Path, err)
	}
	if err := checkTarget(target, opts.Force); err != nil {
		return nil, err
	}
	if err := store.CheckBucket(ctx); err != nil {
		return nil, err
	}
	m, err := chooseCentralGeneration(ctx, store, opts.Generation)
	if err != nil {
		return nil, err
	}
	// The station code's helpers take a station manifest: give them the
	// fields they read.
	shim := &Manifest{Generation: m.Generation, Encryption: m.Encryption, Snapshot: m.Snapshot}
	key, err := store.keyFor(shim)
	if err != nil {
		return nil, err
	}
	res := &CentralRestoreResult{Path: target, Generation: m.Generation, Manifest: m}
	manifestURL := store.URL(genKey(m.Generation, manifestName))
	snapshotURL := store.URL(genKey(m.Generation, m.Snapshot.Key))

	dir, err := os.MkdirTemp(filepath.Dir(target), ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore central store to %s: %w", target, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(target))
	var fetched RestoreResult
	err = fetchSnapshot(ctx, store, shim, key, dir, tmp, &fetched)
	res.Downloaded = fetched.Downloaded
	if err != nil {
		return nil, err
	}

	cs, err := opts.Open(ctx, tmp)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "snapshot %s is not a usable central store: %v", snapshotURL, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = cs.Close()
		}
	}()
	got, err := cs.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore central: read the snapshot's state: %w", err)
	}
	if d := m.CentralState.diff(got); d != "" {
		return nil, station.Errorf(station.EINVALID, "manifest %s does not describe its snapshot %s: the manifest says %s",
			manifestURL, snapshotURL, d)
	}
	if err := cs.Check(ctx); err != nil {
		return nil, station.Errorf(station.EINVALID, "snapshot %s fails verification, nothing was written to %s: %v", snapshotURL, target, err)
	}
	// Serials and SSCC blocks issued after the snapshot are not in it: the
	// authority must hear from every station before it issues again.
	if res.Awaited, err = cs.MarkRestored(ctx, m.Generation); err != nil {
		return nil, fmt.Errorf("restore central: %w", err)
	}
	closed = true
	if err := cs.Close(); err != nil {
		return nil, fmt.Errorf("restore central: close the restored store: %w", err)
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(tmp + suffix); err == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("restore central: the restored store left %s (%d bytes) beside it after closing: it is not complete on its own", filepath.Base(tmp+suffix), fi.Size())
		}
	}
	if err := place(tmp, target, opts.Force); err != nil {
		return nil, err
	}
	log.Info("central store restored", "path", target, logKeyGeneration, m.Generation, "stations", len(m.Stations), "feed", m.Feed, "awaited", len(res.Awaited))
	return res, nil
}

// chooseCentralGeneration reads the manifest of the generation asked for,
// or of the newest complete one.
func chooseCentralGeneration(ctx context.Context, store *Store, gen string) (*CentralManifest, error) {
	if gen != "" {
		if !ValidGenerationID(gen) {
			return nil, station.Errorf(station.EINVALID, "%q is not a generation id (run 'linestation backup list --central')", gen)
		}
		m, err := store.CentralManifest(ctx, gen)
		if isNotFound(err) {
			return nil, station.Errorf(station.ENOTFOUND, "generation %s has no manifest at %s: it does not exist or is incomplete", gen, store.Location())
		}
		return m, err
	}
	gens, err := store.Generations(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(gens) - 1; i >= 0; i-- {
		m, err := store.CentralManifest(ctx, gens[i])
		if isNotFound(err) {
			continue // incomplete: its snapshot never finished
		}
		if station.ErrorCode(err) == station.EINVALID {
			return nil, fmt.Errorf("%w (restore another generation with --generation)", err)
		}
		return m, err
	}
	return nil, station.Errorf(station.ENOTFOUND, "no complete central backup generation at %s", store.Location())
}
