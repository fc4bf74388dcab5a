package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/linestation/linestation/station"
)

// Ledger is a station ledger file that Restore rebuilds: the snapshot,
// opened, with the segments imported into it. cmd implements it over
// localdb.
type Ledger interface {
	// Station is the id recorded in the file.
	Station() string
	// Head returns the last recorded event.
	Head(ctx context.Context) (station.Head, error)
	// Import records already-recorded events exactly as they are, checked
	// against the chain from the head; all or nothing. Events already
	// recorded identically are skipped.
	Import(ctx context.Context, evs []station.Event) (station.Head, error)
	// Verify checks the whole file: SQLite's integrity, and the hash
	// chain from seq 1. An error says what is wrong.
	Verify(ctx context.Context) error
	// Close closes the file, leaving it complete on its own: its
	// write-ahead log copied into it (an empty or no -wal file beside it).
	Close() error
}

// RestoreOptions say what to restore and where.
type RestoreOptions struct {
	// Path is the database file to write. Its folder must exist.
	Path string
	// Generation restores that generation; empty: the newest complete one
	// (or, with At, the newest whose snapshot is not later than At).
	Generation string
	// At restores the journal up to this time: events after it (from the
	// first event whose time is later on) are left out. Zero: everything.
	At time.Time
	// Force replaces an existing file at Path. Stop the station using it
	// first: a running station would go on writing to the replaced file.
	Force bool
	// Open opens the rebuilt file for import and verification.
	Open func(ctx context.Context, path string) (Ledger, error)
	// Logger defaults to the Store's.
	Logger *slog.Logger
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Path       string
	Generation string
	Manifest   *Manifest
	Segments   int          // segments imported
	Events     int64        // events imported from them
	Head       station.Head // the restored journal's last event
	Downloaded int64        // bytes downloaded
	// Shipped is the last event the generation's head.json records (nil
	// when it has none).
	Shipped *Progress
}

// importBatch is how many events one Import call takes.
const importBatch = 5000

// Restore rebuilds a station's ledger from store into opts.Path: it picks
// the generation, downloads its snapshot and checks it against the
// manifest (sizes, SHA-256 of the stored object and of the file, station,
// last seq and hash), imports the segments after it (each checked against
// the checksum in its name, then against the hash chain), checks that no
// shipped segment is missing, verifies the whole ledger, and only then
// moves the file into place (fsync, then rename in the same folder). On any
// failure nothing is left at opts.Path and the error names the object at
// fault. An existing file is refused unless Force.
func Restore(ctx context.Context, store *Store, opts RestoreOptions) (*RestoreResult, error) {
	if opts.Open == nil {
		return nil, errors.New("restore: no Open function")
	}
	log := opts.Logger
	if log == nil {
		log = store.Logger
	}
	target, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("restore to %s: %w", opts.Path, err)
	}
	if err := checkTarget(target, opts.Force); err != nil {
		return nil, err
	}
	if err := store.CheckBucket(ctx); err != nil {
		return nil, err
	}
	m, err := chooseGeneration(ctx, store, opts)
	if err != nil {
		return nil, err
	}
	key, err := store.keyFor(m)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Path: target, Generation: m.Generation, Manifest: m}
	manifestURL := store.URL(genKey(m.Generation, manifestName))

	dir, err := os.MkdirTemp(filepath.Dir(target), ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore to %s: %w", target, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(target))
	if err := fetchSnapshot(ctx, store, m, key, dir, tmp, res); err != nil {
		return nil, err
	}

	ledger, err := opts.Open(ctx, tmp)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "snapshot %s is not a usable ledger: %v", store.URL(genKey(m.Generation, m.Snapshot.Key)), err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = ledger.Close()
		}
	}()
	head, err := ledger.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore: read the snapshot's head: %w", err)
	}
	if ledger.Station() != m.Station || head.Seq != m.LastSeq || head.Hash != m.LastHash {
		return nil, station.Errorf(station.EINVALID, "manifest %s does not describe its snapshot: it says station %q, last seq %d, hash %s; the snapshot holds station %q, last seq %d, hash %s",
			manifestURL, m.Station, m.LastSeq, short(m.LastHash), ledger.Station(), head.Seq, short(head.Hash))
	}
	res.Head = head

	stopped, err := importSegments(ctx, store, m, key, ledger, opts.At, res)
	if err != nil {
		return nil, err
	}
	if opts.At.IsZero() || !stopped {
		if err := checkShipped(ctx, store, m, res); err != nil {
			return nil, err
		}
	}
	if err := ledger.Verify(ctx); err != nil {
		return nil, fmt.Errorf("restore: the rebuilt ledger fails verification, nothing was written to %s: %w", target, err)
	}
	closed = true
	if err := ledger.Close(); err != nil {
		return nil, fmt.Errorf("restore: close the rebuilt ledger: %w", err)
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(tmp + suffix); err == nil && fi.Size() > 0 {
			return nil, fmt.Errorf("restore: the rebuilt ledger left %s (%d bytes) beside it after closing: it is not complete on its own", filepath.Base(tmp+suffix), fi.Size())
		}
	}
	if err := place(tmp, target, opts.Force); err != nil {
		return nil, err
	}
	log.Info("ledger restored", "path", target, logKeyGeneration, m.Generation, logKeySeq, res.Head.Seq, "segments", res.Segments)
	return res, nil
}

// checkTarget refuses to overwrite a file without force, and a folder.
func checkTarget(target string, force bool) error {
	fi, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(target)); err != nil {
			return station.Errorf(station.ENOTFOUND, "restore to %s: the folder %s does not exist", target, filepath.Dir(target))
		}
		return nil
	case err != nil:
		return fmt.Errorf("restore to %s: %w", target, err)
	case fi.IsDir():
		return station.Errorf(station.EINVALID, "restore to %s: it is a folder; give a database file name", target)
	case !force:
		return station.Errorf(station.ECONFLICT, "restore to %s: the file exists and may be a live station database; give a new file name, or --force to replace it (stop the station first)", target)
	}
	return nil
}

// chooseGeneration picks the generation to restore and reads its manifest.
func chooseGeneration(ctx context.Context, store *Store, opts RestoreOptions) (*Manifest, error) {
	if opts.Generation != "" {
		if !ValidGenerationID(opts.Generation) {
			return nil, station.Errorf(station.EINVALID, "%q is not a generation id (run 'linestation backup list')", opts.Generation)
		}
		m, err := store.Manifest(ctx, opts.Generation)
		if isNotFound(err) {
			return nil, station.Errorf(station.ENOTFOUND, "generation %s has no manifest at %s: it does not exist or is incomplete", opts.Generation, store.Location())
		}
		if err != nil {
			return nil, err
		}
		if !opts.At.IsZero() && m.LastSeq > 0 && m.LastTime.After(opts.At) {
			return nil, station.Errorf(station.EINVALID, "generation %s's snapshot ends at %s, after %s", m.Generation, station.FormatTime(m.LastTime), station.FormatTime(opts.At))
		}
		return m, nil
	}
	gens, err := store.Generations(ctx)
	if err != nil {
		return nil, err
	}
	var oldest *Manifest
	for i := len(gens) - 1; i >= 0; i-- {
		m, err := store.Manifest(ctx, gens[i])
		if isNotFound(err) {
			continue // incomplete: its snapshot never finished
		}
		if err != nil {
			return nil, fmt.Errorf("%w (restore another generation with --generation)", err)
		}
		if opts.At.IsZero() || m.LastSeq == 0 || !m.LastTime.After(opts.At) {
			return m, nil
		}
		oldest = m
	}
	if oldest != nil {
		return nil, station.Errorf(station.ENOTFOUND, "no generation at %s has a snapshot from before %s (the oldest ends at %s)", store.Location(), station.FormatTime(opts.At), station.FormatTime(oldest.LastTime))
	}
	return nil, station.Errorf(station.ENOTFOUND, "no complete backup generation at %s", store.Location())
}

// fetchSnapshot downloads the snapshot to dir, checks the stored object
// against the manifest, and unpacks it to path, checking the file too.
func fetchSnapshot(ctx context.Context, store *Store, m *Manifest, key *Key, dir, path string, res *RestoreResult) error {
	rel := genKey(m.Generation, m.Snapshot.Key)
	objURL, manifestURL := store.URL(rel), store.URL(genKey(m.Generation, manifestName))
	storedPath := filepath.Join(dir, "snapshot.stored")
	f, err := os.OpenFile(storedPath, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	sum := newHashWriter()
	n, err := store.download(ctx, rel, io.MultiWriter(f, sum), m.Snapshot.StoredSize)
	res.Downloaded += n
	switch {
	case isNotFound(err):
		return station.Errorf(station.EINVALID, "snapshot %s is missing (manifest %s names it)", objURL, manifestURL)
	case n > m.Snapshot.StoredSize:
		return station.Errorf(station.EINVALID, "snapshot %s is corrupt or not the one manifest %s describes: it is larger than the %d bytes the manifest says",
			objURL, manifestURL, m.Snapshot.StoredSize)
	case err != nil:
		return err
	}
	if d := sum.digest(); d.Size != m.Snapshot.StoredSize || d.SHA256 != m.Snapshot.StoredSHA256 {
		return station.Errorf(station.EINVALID, "snapshot %s is corrupt or not the one manifest %s describes: %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
			objURL, manifestURL, d.Size, d.SHA256, m.Snapshot.StoredSize, m.Snapshot.StoredSHA256)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer out.Close()
	raw, err := unseal(out, f, key, m.Snapshot.Size)
	if err != nil {
		return station.Errorf(station.EINVALID, "snapshot %s cannot be unpacked: %v", objURL, err)
	}
	if raw.Size != m.Snapshot.Size || raw.SHA256 != m.Snapshot.SHA256 {
		return station.Errorf(station.EINVALID, "snapshot %s unpacks to %d bytes with SHA-256 %s, but manifest %s says %d bytes with %s",
			objURL, raw.Size, raw.SHA256, manifestURL, m.Snapshot.Size, m.Snapshot.SHA256)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("restore: sync %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.Close()
	return os.Remove(storedPath)
}

// importSegments imports the generation's segments into ledger, stopping
// at the first event later than at (when set); it reports whether it
// stopped there.
func importSegments(ctx context.Context, store *Store, m *Manifest, key *Key, ledger Ledger, at time.Time, res *RestoreResult) (bool, error) {
	segs, err := store.Segments(ctx, m.Generation)
	if err != nil {
		return false, err
	}
	plan, err := planSegments(store, m, segs)
	if err != nil {
		return false, err
	}
	for _, seg := range plan {
		evs, err := store.readSegment(ctx, m, seg)
		res.Downloaded += seg.Size
		if err != nil {
			return false, err
		}
		stopped := false
		if !at.IsZero() {
			for i := range evs {
				if evs[i].Time.After(at) {
					evs, stopped = evs[:i], true
					break
				}
			}
		}
		for len(evs) > 0 {
			n := min(len(evs), importBatch)
			before := res.Head.Seq
			head, err := ledger.Import(ctx, evs[:n])
			if err != nil {
				return false, station.Errorf(station.EINVALID, "segment %s does not continue the restored journal: %v", store.URL(genKey(m.Generation, seg.Key)), err)
			}
			res.Events += head.Seq - before
			res.Head = head
			evs = evs[n:]
		}
		res.Segments++
		if stopped {
			return true, nil
		}
	}
	return false, nil
}

// checkShipped compares the restored head with the generation's head.json:
// an event recorded as shipped that is not restored means a segment is
// missing.
func checkShipped(ctx context.Context, store *Store, m *Manifest, res *RestoreResult) error {
	p, err := store.Progress(ctx, m.Generation)
	if isNotFound(err) {
		return nil // written after the first segment; a crash can leave it out
	}
	if err != nil {
		return err
	}
	res.Shipped = p
	url := store.URL(genKey(m.Generation, headName))
	if p.LastSeq > res.Head.Seq {
		what := "the snapshot"
		if p.Segment != "" {
			what = store.URL(genKey(m.Generation, p.Segment))
		}
		return station.Errorf(station.EINVALID, "generation %s is missing segments: %s records seq %d as shipped (in %s) but the segments end at seq %d",
			m.Generation, url, p.LastSeq, what, res.Head.Seq)
	}
	if p.LastSeq == res.Head.Seq && p.LastHash != res.Head.Hash {
		return station.Errorf(station.EINVALID, "%s records seq %d with hash %s, but the restored event has hash %s", url, p.LastSeq, short(p.LastHash), short(res.Head.Hash))
	}
	return nil
}

// place moves the finished file tmp to target: a hard link where the
// target must not exist (it fails if the file appeared meanwhile), a
// rename with force; then the folder is synced.
func place(tmp, target string, force bool) error {
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	serr := f.Sync()
	f.Close()
	if serr != nil {
		return fmt.Errorf("restore: sync %s: %w", tmp, serr)
	}
	if force {
		// A stale journal beside the old file would be replayed into the
		// new one when it is opened.
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if err := os.Remove(target + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("restore: remove %s: %w", target+suffix, err)
			}
		}
		if err := os.Rename(tmp, target); err != nil {
			return fmt.Errorf("restore: move the ledger into place: %w", err)
		}
	} else {
		err := os.Link(tmp, target)
		if errors.Is(err, fs.ErrExist) {
			return station.Errorf(station.ECONFLICT, "restore to %s: the file appeared while restoring; nothing was replaced", target)
		}
		if err != nil {
			// A file system without hard links: check, then rename.
			if _, serr := os.Lstat(target); serr == nil {
				return station.Errorf(station.ECONFLICT, "restore to %s: the file appeared while restoring; nothing was replaced", target)
			}
			if err := os.Rename(tmp, target); err != nil {
				return fmt.Errorf("restore: move the ledger into place: %w", err)
			}
		}
	}
	d, err := os.Open(filepath.Dir(target))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("restore: sync folder %s: %w", filepath.Dir(target), err)
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
