package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/backup"
)

const backupUsage = `Usage: linestation backup --db FILE --to s3://BUCKET/PREFIX [FLAGS]
       linestation backup list --from s3://BUCKET/PREFIX [FLAGS]

Backs a station ledger up to S3-compatible object storage: a consistent
snapshot taken while the station keeps running (a new generation), gzip-
compressed, read back and described by a manifest, then the journal
recorded meanwhile as a segment. The bucket is created when missing. Each
station needs a prefix of its own. Run 'linestation backup list' to see the
generations at a location, 'linestation restore' to get a ledger back.
Scheduled backups (a segment every minute) run inside serve and kiosk.

Credentials: --access-key-id and --secret-access-key-file, else the
environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. Client-side encryption
(AES-256-GCM): --key-file FILE or LINESTATION_BACKUP_KEY, 64 hex digits
(make one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n').
Keep the key apart from the backups: without it nothing can be restored.

Flags:
`

const backupListUsage = `Usage: linestation backup list --from s3://BUCKET/PREFIX [--central] [FLAGS]

Lists the generations at a backup location, oldest first, with their
manifests: station, snapshot (last seq and hash, sizes, SHA-256), the
journal segments after it, and whether anything is missing. Downloads no
snapshot or segment. --central lists the central store's backups (made by
'linestation serve' with a [backup] section): per-station heads, sizes,
SHA-256.

Flags:
`

const restoreUsage = `Usage: linestation restore --from s3://BUCKET/PREFIX --db NEWFILE [--at TIME | --generation ID] [FLAGS]
       linestation restore --central --from s3://BUCKET/PREFIX --data DIR [--generation ID] [--force] [FLAGS]

Rebuilds a station ledger from object storage into NEWFILE: downloads the
newest complete generation's snapshot (or the one asked for), checks it
against its manifest, imports the journal segments after it (checking each
checksum and the hash chain), checks that no shipped segment is missing,
verifies the whole ledger as 'linestation ledger verify' does, and only then
moves the file into place. On any problem it names the object at fault,
writes nothing and exits 1. An existing NEWFILE is refused unless --force
(stop the station that uses it first).

--at TIME (RFC 3339, e.g. 2026-03-01T14:00:00Z) restores the journal as it
was then: the newest generation whose snapshot is not later, and its events
up to that time.

--central restores the central service's store into DIR/central.db (the
serve data folder) from its newest snapshot (or --generation ID): checked
against the manifest (SHA-256, sizes, every station's head), opened as a
central store, SQLite's integrity check and every station's journal
verified, then moved into place. Stop 'linestation serve' first (a serve
running on DIR is detected, and the restore refused); an existing store
is replaced only with --force. Stations send again what
they pushed after the snapshot when they next connect.

Credentials and the encryption key: as for 'linestation backup'.

Flags:
`

// storageFlags are the flags every backup command has for reaching the
// storage.
type storageFlags struct {
	endpoint, region, accessKeyID, secretFile, keyFile, sse, sseKMSKeyID string
	partSize                                                             int64
}

func (f *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "", "the storage's `URL` (http://127.0.0.1:9000 for a local MinIO); default AWS S3")
	fs.StringVar(&f.region, "region", "", "the bucket's `REGION` (default us-east-1)")
	fs.StringVar(&f.accessKeyID, "access-key-id", "", "the storage access key `ID` (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.secretFile, "secret-access-key-file", "", "a `FILE` holding the secret access key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&f.keyFile, "key-file", "", "a `FILE` holding the client-side encryption key, 64 hex digits (default $LINESTATION_BACKUP_KEY)")
}

func (f *storageFlags) registerUpload(fs *flag.FlagSet) {
	fs.StringVar(&f.sse, "sse", "", "server-side encryption to ask the storage for: `MODE` AES256 or aws:kms")
	fs.StringVar(&f.sseKMSKeyID, "sse-kms-key-id", "", "the KMS key `ID` for --sse aws:kms")
	fs.Int64Var(&f.partSize, "part-size", backup.DefaultPartSize, "`BYTES` per part of a multipart upload (at least 5 MiB)")
}

// openStore builds the configuration from the flags and the environment
// and opens the store. Bad configuration is a usage error.
func (f *storageFlags) openStore(name, url string, stderr io.Writer) (*backup.Store, error) {
	cfg := backup.Config{
		URL: url, Endpoint: f.endpoint, Region: f.region, AccessKeyID: f.accessKeyID,
		SSE: f.sse, SSEKMSKeyID: f.sseKMSKeyID, EncryptionKeyFile: f.keyFile, PartSize: f.partSize,
	}
	hint := fmt.Sprintf("run 'linestation %s --help'", name)
	if f.secretFile != "" {
		data, err := os.ReadFile(f.secretFile)
		if err != nil {
			return nil, &usageError{message: fmt.Sprintf("%s: read the secret access key file: %v", name, err), hint: hint}
		}
		cfg.SecretAccessKey = strings.TrimSpace(string(data))
	}
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return nil, &usageError{message: fmt.Sprintf("%s: %s", name, station.ErrorMessage(err)), hint: hint}
	}
	store, err := backup.Open(cfg)
	if station.ErrorCode(err) == station.EINVALID {
		return nil, &usageError{message: fmt.Sprintf("%s: %s", name, station.ErrorMessage(err)), hint: hint}
	}
	if err != nil {
		return nil, fail(stderr, name, err)
	}
	store.Logger = warnLogger(stderr).With("component", "backup")
	return store, nil
}

func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// runBackup runs 'linestation backup ...'.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "list" {
		return runBackupList(ctx, args[1:], stdout, stderr)
	}
	const name = "backup"
	fs := newFlagSet(name, backupUsage, stdout)
	dbPath := fs.String("db", "", "the ledger `FILE` to back up (required); the station may keep running")
	to := fs.String("to", "", "the backup location, `s3://BUCKET/PREFIX` (required)")
	keep := fs.Int("keep", 0, "after the backup, delete all but the `N` newest verified generations (0: delete nothing)")
	var sf storageFlags
	sf.register(fs)
	sf.registerUpload(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	hint := "run 'linestation backup --help'"
	switch {
	case fs.NArg() > 0:
		return &usageError{message: fmt.Sprintf("backup: unexpected argument %q", fs.Arg(0)), hint: hint}
	case *dbPath == "":
		return &usageError{message: "backup: --db FILE is required", hint: hint}
	case *to == "":
		return &usageError{message: "backup: --to s3://BUCKET/PREFIX is required", hint: hint}
	case *keep < 0:
		return &usageError{message: fmt.Sprintf("backup: --keep %d must be 0 or more", *keep), hint: hint}
	}
	store, err := sf.openStore(name, *to, stderr)
	if err != nil {
		return err
	}
	db, err := localdb.Open(ctx, *dbPath, localdb.Options{ReadOnly: true, Logger: warnLogger(stderr)})
	if err != nil {
		return fail(stderr, name, err)
	}
	defer db.Close()
	start := time.Now()
	if err := store.EnsureBucket(ctx); err != nil {
		return fail(stderr, name, err)
	}
	sh := backup.NewShipper(store, db)
	sh.Program = versionString()
	m, err := sh.Snapshot(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	st, err := sh.Ship(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	fmt.Fprintf(stdout, "backup     %s\n", store.Location())
	fmt.Fprintf(stdout, "ledger     %s (station %s)\n", db.Path(), db.Station())
	fmt.Fprintf(stdout, "generation %s\n", m.Generation)
	fmt.Fprintf(stdout, "snapshot   seq %d (hash %s), %d bytes, stored %s\n", m.LastSeq, shortHash(m.LastHash), m.Snapshot.Size, storedDesc(m))
	fmt.Fprintf(stdout, "journal    %d events after the snapshot in %d segments; last seq %d\n", st.Events, st.Segments, st.LastSeq)
	if *keep > 0 {
		deleted, err := store.Retain(ctx, *keep)
		if err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "retention  kept the %d newest generations, deleted %d\n", *keep, len(deleted))
	}
	fmt.Fprintf(stdout, "verified   every object read back (%d bytes uploaded in %s)\n", store.Stats().Bytes, time.Since(start).Round(time.Millisecond))
	return nil
}

func storedDesc(m *backup.Manifest) string {
	s := fmt.Sprintf("%d bytes %s", m.Snapshot.StoredSize, m.Compression)
	if m.Encryption != nil {
		s += fmt.Sprintf(", encrypted %s (key id %s)", m.Encryption.Algorithm, m.Encryption.KeyID)
	}
	if m.ServerSideEncryption != "" {
		s += ", server-side " + m.ServerSideEncryption
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// runBackupList runs 'linestation backup list'.
func runBackupList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "backup list"
	fs := newFlagSet(name, backupListUsage, stdout)
	from := fs.String("from", "", "the backup location, `s3://BUCKET/PREFIX` (required)")
	asJSON := fs.Bool("json", false, "print one JSON object per generation (its manifest included)")
	centralList := fs.Bool("central", false, "list the central store's backups (made by serve)")
	var sf storageFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	hint := "run 'linestation backup list --help'"
	switch {
	case fs.NArg() > 0:
		return &usageError{message: fmt.Sprintf("backup list: unexpected argument %q", fs.Arg(0)), hint: hint}
	case *from == "":
		return &usageError{message: "backup list: --from s3://BUCKET/PREFIX is required", hint: hint}
	}
	store, err := sf.openStore(name, *from, stderr)
	if err != nil {
		return err
	}
	if err := store.CheckBucket(ctx); err != nil {
		return fail(stderr, name, err)
	}
	if *centralList {
		if err := printCentralList(ctx, store, *asJSON, stdout); err != nil {
			return fail(stderr, name, err)
		}
		return nil
	}
	infos, err := store.List(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, info := range infos {
			if err := enc.Encode(listJSON(info)); err != nil {
				return fail(stderr, name, fmt.Errorf("write: %w", err))
			}
		}
		return nil
	}
	if len(infos) == 0 {
		fmt.Fprintf(stdout, "no backup generations at %s\n", store.Location())
		return nil
	}
	for i, info := range infos {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printGeneration(stdout, info)
	}
	return nil
}

// generationJSON is one line of 'backup list --json'.
type generationJSON struct {
	Generation   string           `json:"generation"`
	Complete     bool             `json:"complete"`
	Problem      string           `json:"problem,omitempty"`
	Manifest     *backup.Manifest `json:"manifest,omitempty"`
	Head         *backup.Progress `json:"head,omitempty"`
	Segments     int              `json:"segments"`
	SegmentBytes int64            `json:"segment_bytes"`
	LastSeq      int64            `json:"last_seq"`
	Gap          string           `json:"gap,omitempty"`
}

func listJSON(info backup.GenerationInfo) generationJSON {
	return generationJSON{Generation: info.ID, Complete: info.Manifest != nil && info.Gap == "", Problem: info.Problem, Manifest: info.Manifest,
		Head: info.Progress, Segments: info.Segments, SegmentBytes: info.SegmentBytes, LastSeq: info.LastSeq, Gap: info.Gap}
}

func printGeneration(w io.Writer, info backup.GenerationInfo) {
	m := info.Manifest
	state := "complete"
	switch {
	case m == nil:
		state = "NOT RESTORABLE: " + info.Problem
	case info.Gap != "":
		state = "DAMAGED: " + info.Gap
	case info.Problem != "":
		state = "DAMAGED: " + info.Problem
	}
	fmt.Fprintf(w, "generation %s  %s\n", info.ID, state)
	if m != nil {
		fmt.Fprintf(w, "  station   %s  (source %s, %s)\n", m.Station, m.Source, m.Program)
		fmt.Fprintf(w, "  created   %s\n", m.Created.UTC().Format(time.RFC3339))
		last := "empty journal"
		if m.LastSeq > 0 {
			last = fmt.Sprintf("seq %d at %s, hash %s", m.LastSeq, station.FormatTime(m.LastTime), m.LastHash)
		}
		fmt.Fprintf(w, "  snapshot  %s\n", last)
		fmt.Fprintf(w, "            %d bytes sha256 %s\n", m.Snapshot.Size, m.Snapshot.SHA256)
		fmt.Fprintf(w, "            stored as %s: %s, sha256 %s\n", m.Snapshot.Key, storedDesc(m), m.Snapshot.StoredSHA256)
	}
	fmt.Fprintf(w, "  journal   %d segments, %d bytes; restores to seq %d\n", info.Segments, info.SegmentBytes, info.LastSeq)
	if p := info.Progress; p != nil {
		fmt.Fprintf(w, "  head      seq %d at %s shipped %s\n", p.LastSeq, station.FormatTime(p.LastTime), p.Updated.UTC().Format(time.RFC3339))
	}
}

// runRestore runs 'linestation restore'.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "restore"
	fs := newFlagSet(name, restoreUsage, stdout)
	from := fs.String("from", "", "the backup location, `s3://BUCKET/PREFIX` (required)")
	dbPath := fs.String("db", "", "the ledger `FILE` to write (required); must not exist unless --force")
	at := fs.String("at", "", "restore the journal as it was at `TIME` (RFC 3339)")
	gen := fs.String("generation", "", "restore this generation `ID` (see 'linestation backup list')")
	force := fs.Bool("force", false, "replace an existing file (stop the station using it first)")
	centralStore := fs.Bool("central", false, "restore the central service's store (with --data DIR) instead of a station ledger")
	data := fs.String("data", "", "with --central: the central service's data `DIR`; the store goes to DIR/"+centralStoreName)
	var sf storageFlags
	sf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *centralStore {
		return runRestoreCentral(ctx, centralRestoreArgs{from: *from, data: *data, gen: *gen, db: *dbPath, at: *at, force: *force, sf: &sf, nargs: fs.NArg()}, stdout, stderr)
	}
	hint := "run 'linestation restore --help'"
	if *data != "" {
		return &usageError{message: "restore: --data is for --central; a station ledger goes to --db NEWFILE", hint: hint}
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{message: fmt.Sprintf("restore: unexpected argument %q", fs.Arg(0)), hint: hint}
	case *from == "":
		return &usageError{message: "restore: --from s3://BUCKET/PREFIX is required", hint: hint}
	case *dbPath == "":
		return &usageError{message: "restore: --db NEWFILE is required", hint: hint}
	case *at != "" && *gen != "":
		return &usageError{message: "restore: give --at or --generation, not both", hint: hint}
	}
	opts := backup.RestoreOptions{Path: *dbPath, Generation: *gen, Force: *force, Open: openRestoreLedger(stderr)}
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return &usageError{message: fmt.Sprintf("restore: --at %q is not an RFC 3339 time (2026-03-01T14:00:00Z)", *at), hint: hint}
		}
		opts.At = t.UTC()
	}
	if *gen != "" && !backup.ValidGenerationID(*gen) {
		return &usageError{message: fmt.Sprintf("restore: --generation %q is not a generation id", *gen), hint: "run 'linestation backup list --from " + *from + "'"}
	}
	store, err := sf.openStore(name, *from, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := backup.Restore(ctx, store, opts)
	if err != nil {
		return fail(stderr, name, err)
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "restored   %s\n", res.Path)
	fmt.Fprintf(stdout, "from       %s generation %s (station %s)\n", store.Location(), res.Generation, m.Station)
	fmt.Fprintf(stdout, "snapshot   seq %d, %d bytes, checksums match the manifest\n", m.LastSeq, m.Snapshot.Size)
	fmt.Fprintf(stdout, "journal    %d events imported from %d segments, hash chain intact\n", res.Events, res.Segments)
	fmt.Fprintf(stdout, "head       seq %d at %s, hash %s\n", res.Head.Seq, station.FormatTime(res.Head.Time), res.Head.Hash)
	if !opts.At.IsZero() {
		fmt.Fprintf(stdout, "at         %s: later events left out\n", station.FormatTime(opts.At))
	}
	fmt.Fprintf(stdout, "verify     intact (%d bytes downloaded in %s)\n", res.Downloaded, time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreLedger is the ledger a restore rebuilds, over localdb.
type restoreLedger struct{ db *localdb.DB }

var _ backup.Ledger = restoreLedger{}

// *localdb.DB is what scheduled backups read.
var _ backup.Source = (*localdb.DB)(nil)

// openRestoreLedger opens the rebuilt file with localdb.
func openRestoreLedger(stderr io.Writer) func(ctx context.Context, path string) (backup.Ledger, error) {
	return func(ctx context.Context, path string) (backup.Ledger, error) {
		db, err := localdb.Open(ctx, path, localdb.Options{Logger: warnLogger(stderr)})
		if err != nil {
			return nil, err
		}
		return restoreLedger{db}, nil
	}
}

func (l restoreLedger) Station() string { return l.db.Station() }

func (l restoreLedger) Head(ctx context.Context) (station.Head, error) { return l.db.Head(ctx) }

func (l restoreLedger) Import(ctx context.Context, evs []station.Event) (station.Head, error) {
	st, err := l.db.Import(ctx, evs)
	return st.Head, err
}

// Verify runs what 'linestation ledger verify' runs.
func (l restoreLedger) Verify(ctx context.Context) error {
	rep, err := l.db.Verify(ctx)
	if err != nil {
		return err
	}
	if rep.Break != nil {
		return fmt.Errorf("the journal is broken at %w", rep.Break)
	}
	if len(rep.Integrity) > 0 {
		return errors.New("SQLite's integrity check: " + strings.Join(rep.Integrity, "; "))
	}
	return nil
}

// Close checkpoints the write-ahead log into the file, so that the file
// alone is the whole ledger, and closes it.
func (l restoreLedger) Close() error {
	err := l.db.Checkpoint(context.Background())
	if cerr := l.db.Close(); err == nil {
		err = cerr
	}
	return err
}
