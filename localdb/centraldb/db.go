// Package centraldb is the central service's store in one SQLite file: every
// station's journal exactly as recorded (idempotent on station and seq,
// gap-free, hash-chained), the repository applied from those journals (the
// state of every serial, SSCC and aggregation tree across stations, order
// progress), master data from the ERP with its change log for stations to
// pull, the serial authority (reservations that can never overlap), and
// station enrollment with hashed credentials.
//
// All SQL of the central service lives here, kept to plain SQL so that a
// PostgreSQL store can follow the same schema (migration/*.sql) for sites
// that outgrow one machine. It implements uplink/central's Store.
//
// Like localdb, a DB has one writer connection owned by one goroutine, which
// gathers concurrent writes (for instance pushes from many stations) into
// one transaction and one fsync, each write in its own savepoint so that
// one refused batch never takes the others down; reads use a separate pool.
package centraldb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/linestation/linestation/localdb/internal/sqlitex"
	"github.com/linestation/linestation/station"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// storeFormat is meta.format of a central store file.
const storeFormat = "linestation.central"

// BusyTimeout is how long a connection waits for a lock held by another
// process (an admin command on the same file) before failing.
const BusyTimeout = 5 * time.Second

// ErrClosed is returned by writes once Close has begun.
var ErrClosed = station.Errorf(station.EUNAVAILABLE, "the central store is closed")

// Options configure Open.
type Options struct {
	// Create makes a new store when path does not exist.
	Create bool
	// Logger defaults to slog.Default() with component=centraldb.
	Logger *slog.Logger
	// Now is the central's clock for received and created times; default time.Now.
	Now func() time.Time
	// ReadConns is the size of the read pool; default 4. Each connection
	// caches up to 16 MiB of pages.
	ReadConns int
	// MaxGroup bounds the writes committed in one transaction; default 64.
	MaxGroup int
}

// DB is the central store. All methods are safe for concurrent use.
type DB struct {
	path   string
	logger *slog.Logger
	now    func() time.Time
	opts   Options

	w *sql.DB // exactly one connection, held by the writer goroutine
	r *sql.DB // read-only pool

	mu     sync.RWMutex // guards closed and sends on jobs
	closed bool
	jobs   chan *job
	done   chan struct{}
	conn   *sql.Conn

	// changeRecorded is set by the writer when a write of the open group
	// recorded a master-data change; changed is closed (and replaced) when
	// such a group commits, to wake the stations' long pulls.
	changeRecorded bool
	changedMu      sync.Mutex
	changed        chan struct{}

	ckpt     *sql.DB       // one read-write connection, held by the checkpointer
	kick     chan struct{} // the writer committed: the log has grown
	ckptDone chan struct{}
}

// checkpointEvery is how often at most the checkpointer copies the
// write-ahead log into the database file while writes come in.
const checkpointEvery = time.Second

// Open opens (or with Create makes) the store at path, applies pending
// migrations and starts the writer.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("component", "centraldb")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 64
	}
	abs, err := sqlitex.CheckFile(sqlitex.Store{What: "central store", Path: path}, opts.Create)
	if err != nil {
		return nil, err
	}
	db := &DB{path: abs, logger: opts.Logger, now: opts.Now, opts: opts, changed: make(chan struct{})}
	base := "file:" + (&url.URL{Path: abs}).EscapedPath()
	// _mutex=no: SQLite's multi-thread mode, without a lock around every
	// call on a connection. database/sql already uses each connection from
	// one goroutine at a time, which is all that mode asks, and the writer
	// makes tens of calls per event it stores.
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on&_stmt_cache_size=64&_mutex=no", BusyTimeout.Milliseconds())
	mode := "rw"
	if opts.Create {
		mode = "rwc"
	}
	db.w, err = sql.Open("sqlite3", base+"?mode="+mode+"&_journal_mode=WAL&_synchronous=FULL&_cache_size=-65536&"+common)
	if err != nil {
		return nil, fmt.Errorf("open central store %s: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	db.conn, err = db.w.Conn(ctx)
	if err != nil {
		db.w.Close()
		return nil, notStore(abs, err)
	}
	// The checkpointer goroutine copies the write-ahead log into the file
	// (see checkpointer); the writer checkpoints itself only if the log
	// reaches 128 MiB all the same.
	if _, err := db.conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 32768`); err != nil {
		db.conn.Close()
		db.w.Close()
		return nil, notStore(abs, err)
	}
	// Keep the statement and savepoint journals in memory. Every write runs
	// in a savepoint of the group's transaction and every multi-row INSERT
	// in a statement transaction, and SQLite copies each page such a
	// statement changes first into that journal: in a temporary file, one
	// write system call per page, which made up a good part of ingest. They
	// only serve to roll a statement or savepoint back inside the open
	// transaction; what is durable is what COMMIT writes to the write-ahead
	// log, which this does not touch.
	if _, err := db.conn.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		db.conn.Close()
		db.w.Close()
		return nil, notStore(abs, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.conn.Close()
		db.w.Close()
		return nil, err
	}
	// Each reader keeps 16 MiB of pages (SQLite's default is 2): the tree
	// of a 50,000-unit shipment and its indexes are read several times to
	// make its document, from the cache rather than the file and WAL.
	db.r, err = sql.Open("sqlite3", base+"?mode=ro&_cache_size=-16384&"+common)
	if err != nil {
		db.conn.Close()
		db.w.Close()
		return nil, fmt.Errorf("open central store %s for reading: %w", path, err)
	}
	db.r.SetMaxOpenConns(opts.ReadConns)
	db.r.SetMaxIdleConns(opts.ReadConns)
	db.ckpt, err = sql.Open("sqlite3", base+"?mode=rw&"+common)
	if err != nil {
		db.r.Close()
		db.conn.Close()
		db.w.Close()
		return nil, fmt.Errorf("open central store %s for checkpoints: %w", path, err)
	}
	db.ckpt.SetMaxOpenConns(1)
	db.ckpt.SetMaxIdleConns(1)
	db.kick = make(chan struct{}, 1)
	db.ckptDone = make(chan struct{})
	go db.checkpointer()
	db.jobs = make(chan *job, 256)
	db.done = make(chan struct{})
	go db.run()
	return db, nil
}

func notStore(path string, err error) error {
	var serr sqlite3.Error
	if errors.As(err, &serr) && (serr.Code == sqlite3.ErrNotADB || serr.Code == sqlite3.ErrCorrupt) {
		return station.Errorf(station.EINVALID, "%s is not a linestation central store: %v", path, serr)
	}
	return formatError(fmt.Errorf("open central store %s: %w", path, err))
}

// migrate checks the file and applies the embedded migrations not yet
// recorded, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	c := db.conn
	var tables []string
	rows, err := c.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return notStore(db.path, err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return notStore(db.path, err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) > 0 {
		var format string
		if !slices.Contains(tables, "meta") || c.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'format'`).Scan(&format) != nil || format != storeFormat {
			return station.Errorf(station.EINVALID, "%s is not a linestation central store (meta.format is %q)", db.path, format)
		}
	}
	return sqlitex.Migrate(ctx, c, sqlitex.Store{What: "central store", Path: db.path}, migrationFS, "migration", db.stamp, db.logger)
}

// stamp is the central's current time in the journal's text form.
func (db *DB) stamp() string { return station.FormatTime(db.now()) }

// Path returns the absolute path of the store file.
func (db *DB) Path() string { return db.path }

// Ping checks that the store answers reads.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, `SELECT 1 FROM meta WHERE key = 'format'`).Scan(&one); err != nil {
		return formatError(fmt.Errorf("ping central store %s: %w", db.path, err))
	}
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// Close lets queued writes finish and closes the file. Safe to call twice.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.jobs)
	db.mu.Unlock()
	<-db.done
	close(db.kick)
	<-db.ckptDone
	// Readers first: the last connection to close checkpoints the
	// write-ahead log into the file and removes it, which a read-only one
	// cannot do.
	var first error
	if err := db.r.Close(); err != nil {
		first = fmt.Errorf("close central store %s readers: %w", db.path, err)
	}
	if err := db.ckpt.Close(); err != nil && first == nil {
		first = fmt.Errorf("close central store %s checkpointer: %w", db.path, err)
	}
	if err := db.conn.Close(); err != nil && first == nil {
		first = fmt.Errorf("close central store %s writer: %w", db.path, err)
	}
	if err := db.w.Close(); err != nil && first == nil {
		first = fmt.Errorf("close central store %s: %w", db.path, err)
	}
	return first
}

// conn is what write functions run SQL on: the writer connection inside the
// group's transaction.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// job is one write waiting for the writer.
type job struct {
	ctx  context.Context
	fn   func(ctx context.Context, c conn) error
	err  error
	done chan struct{}
}

// write runs fn in a transaction on the writer goroutine, possibly together
// with other writes (group commit), and returns once it is durable or
// rolled back. fn must not keep state outside the database that a rollback
// would leave wrong.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, c conn) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.jobs <- j:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return fmt.Errorf("write to central store: %w", ctx.Err())
	}
	<-j.done
	return j.err
}

// run is the writer goroutine.
func (db *DB) run() {
	defer close(db.done)
	var group []*job
	for {
		j, ok := <-db.jobs
		if !ok {
			return
		}
		group = append(group[:0], j)
	gather:
		for len(group) < db.opts.MaxGroup {
			select {
			case j, ok := <-db.jobs:
				if !ok {
					break gather
				}
				group = append(group, j)
			default:
				break gather
			}
		}
		db.commit(group)
	}
}

// commit runs a group of writes in one transaction, each in a savepoint.
func (db *DB) commit(group []*job) {
	ctx := context.Background()
	live := group[:0:0]
	for _, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.err = fmt.Errorf("write to central store: %w", err)
			close(j.done)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	finish := func(err error) {
		for _, j := range live {
			if err != nil && j.err == nil {
				j.err = err
			}
			close(j.done)
		}
	}
	c := db.conn
	db.changeRecorded = false // a group rolled back may have left it set
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		finish(formatError(fmt.Errorf("write to central store %s: begin: %w", db.path, err)))
		return
	}
	single := len(live) == 1
	for _, j := range live {
		if !single {
			if _, err := c.ExecContext(ctx, `SAVEPOINT job`); err != nil {
				_, _ = c.ExecContext(ctx, `ROLLBACK`)
				finish(formatError(fmt.Errorf("write to central store %s: savepoint: %w", db.path, err)))
				return
			}
		}
		j.err = j.fn(ctx, c)
		if single && j.err != nil {
			if _, err := c.ExecContext(ctx, `ROLLBACK`); err != nil {
				db.logger.Error("central store rollback failed", "path", db.path, "error", err)
			}
			close(j.done)
			return
		}
		if single {
			break
		}
		if j.err != nil {
			if _, err := c.ExecContext(ctx, `ROLLBACK TO job`); err != nil {
				_, _ = c.ExecContext(ctx, `ROLLBACK`)
				finish(formatError(fmt.Errorf("write to central store %s: rollback to savepoint: %w", db.path, err)))
				return
			}
		}
		if _, err := c.ExecContext(ctx, `RELEASE job`); err != nil {
			_, _ = c.ExecContext(ctx, `ROLLBACK`)
			finish(formatError(fmt.Errorf("write to central store %s: release savepoint: %w", db.path, err)))
			return
		}
	}
	if _, err := c.ExecContext(ctx, `COMMIT`); err != nil {
		_, _ = c.ExecContext(ctx, `ROLLBACK`)
		err = formatError(fmt.Errorf("write to central store %s: commit: %w", db.path, err))
		for _, j := range live {
			j.err = err // even a write that failed alone: the group's outcome is what counts
		}
		finish(nil)
		return
	}
	finish(nil)
	if db.changeRecorded {
		db.changeRecorded = false
		db.changedMu.Lock()
		close(db.changed)
		db.changed = make(chan struct{})
		db.changedMu.Unlock()
	}
	select {
	case db.kick <- struct{}{}:
	default: // the checkpointer is busy or already told
	}
}

// Changed returns a channel that is closed when master data changes are
// next committed. Take it before reading MasterData, and wait on it when
// nothing new was read: a change committed after the read closes it.
func (db *DB) Changed() <-chan struct{} {
	db.changedMu.Lock()
	defer db.changedMu.Unlock()
	return db.changed
}

// checkpointer copies the write-ahead log into the database file after
// commits, at most once per checkpointEvery, on its own connection: a
// checkpoint reads and writes as many pages as were committed since the
// last one, and done by the writer inside COMMIT (SQLite's automatic
// checkpoint) it held up every station's push meanwhile. A PASSIVE
// checkpoint runs beside the writer and the readers; the writer starts
// the log over once all of it is in the file.
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	ctx := context.Background()
	for range db.kick {
		var busy, frames, done int
		if err := db.ckpt.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
			db.logger.Warn("checkpoint of the central store failed; the writer checkpoints at 128 MiB of log instead", "path", db.path, "error", err)
		}
		select {
		case <-time.After(checkpointEvery):
		case <-db.done: // closing: the kick channel closes next
		}
	}
}

// formatError maps SQLite errors to station codes, keeping the chain.
func formatError(err error) error { return sqlitex.FormatError(err) }

func isConstraint(err error) bool { return sqlitex.IsConstraint(err) }

// parseTime parses a stored time; ” is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return station.ParseTime(s)
}
