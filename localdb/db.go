// Package localdb is the station's SQLite store: the append-only,
// hash-chained journal of every state change (station.Ledger), the
// projections derived from it (serial state, aggregation tree, pools,
// orders), their rebuild from the journal, verification, and online
// snapshots for backup.
//
// A DB has one writer connection, owned by one goroutine that gathers
// concurrent Append calls into one transaction and one fsync (group commit),
// and a separate pool of read-only connections for queries. The database
// runs in WAL mode with synchronous=FULL, so an Append that returned is on
// disk. Schema changes are forward-only migrations embedded from
// migration/*.sql and recorded in the migrations table.
//
// Every event is stamped with one reading of the injected station.Clock
// (UTC, offset, state). When a reading is earlier than the last event's
// time (the clock stepped back), the ledger first records a clock.stepped
// event holding both times, so journal time goes backwards only where the
// journal says so; Verify refuses any other backwards step.
//
// Projections are written only by the apply function of each event type, in
// the transaction of the event, and Rebuild replays the journal through the
// same functions. They enforce what must hold whatever the domain does: a
// serial is reserved once per GTIN and used only after that, a child has one
// parent, orders exist and change state from the state they are in.
package localdb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/linestation/linestation/localdb/internal/sqlitex"
	"github.com/linestation/linestation/station"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// ledgerFormat is meta.format of a linestation ledger file.
const ledgerFormat = "linestation.ledger"

// BusyTimeout is how long a connection waits for a lock held by another
// process (another linestation command on the same file) before failing.
const BusyTimeout = 5 * time.Second

// Log attribute keys.
const (
	logKeyPath   = "path"
	logKeySeq    = "seq"
	logKeyEvents = "events"
)

// ErrClosed is returned by Append once Close has begun.
var ErrClosed = station.Errorf(station.EUNAVAILABLE, "the station ledger is closed")

// Options configure Open. The zero value opens an existing ledger for
// reading and writing, and never creates one.
type Options struct {
	// Station is the id of the station whose journal this is. Required to
	// create a ledger; when opening one it must match the recorded id (or
	// be empty to accept it).
	Station string
	// Clock stamps every appended event. Required for Append; commands that
	// only read, verify or rebuild may leave it nil.
	Clock station.Clock
	// Create makes a new ledger when path does not exist (or is an empty
	// file). Without it a missing file is an error.
	Create bool
	// ReadOnly opens the file for queries, verification and export only:
	// no writer, no migrations, and Append fails.
	ReadOnly bool
	// Logger defaults to slog.Default() with component=localdb.
	Logger *slog.Logger
	// MaxBatchEvents bounds the events in one group-commit transaction;
	// default 4096.
	MaxBatchEvents int
	// ReadConns is the size of the read pool; default 4.
	ReadConns int
}

// DB is a station ledger in one SQLite file. It implements station.Ledger.
// All methods are safe for concurrent use.
type DB struct {
	path    string
	station string
	clock   station.Clock
	logger  *slog.Logger
	opts    Options

	w *sql.DB // the writer pool: exactly one connection, held by the writer goroutine
	r *sql.DB // read-only pool

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   chan *request
	done   chan struct{} // closed when the writer goroutine has stopped
	wr     *writer       // owned by the writer goroutine once started
}

var _ station.Ledger = (*DB)(nil)

// Open opens the ledger at path. It sets WAL, synchronous=FULL,
// foreign_keys=ON and a busy timeout on every connection, applies pending
// migrations (unless ReadOnly) and starts the writer. A file that is not a
// linestation ledger is refused with EINVALID, a missing one with ENOTFOUND
// (unless Create), and nothing is created by accident.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("component", "localdb")
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 4096
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.ReadOnly && opts.Create {
		return nil, station.Errorf(station.EINVALID, "open ledger %s: cannot create a ledger read-only", path)
	}
	abs, err := sqlitex.CheckFile(sqlitex.Store{What: "ledger", Path: path}, opts.Create)
	if err != nil {
		return nil, err
	}
	db := &DB{path: abs, station: opts.Station, clock: opts.Clock, logger: opts.Logger, opts: opts}

	base := "file:" + (&url.URL{Path: abs}).EscapedPath()
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on&_stmt_cache_size=64", BusyTimeout.Milliseconds())
	db.r, err = sql.Open("sqlite3", base+"?mode=ro&"+common)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s for reading: %w", path, err)
	}
	db.r.SetMaxOpenConns(opts.ReadConns)
	db.r.SetMaxIdleConns(opts.ReadConns)

	if opts.ReadOnly {
		if err := db.checkLedger(ctx, db.r, false); err != nil {
			db.r.Close()
			return nil, err
		}
		return db, nil
	}

	mode := "rw"
	if opts.Create {
		mode = "rwc"
	}
	db.w, err = sql.Open("sqlite3", base+"?mode="+mode+"&_journal_mode=WAL&_synchronous=FULL&"+common)
	if err != nil {
		db.r.Close()
		return nil, fmt.Errorf("open ledger %s for writing: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)

	if err := db.openWriter(ctx); err != nil {
		db.w.Close()
		db.r.Close()
		return nil, err
	}
	return db, nil
}

// openWriter checks the file, migrates it, records the station and starts
// the writer goroutine.
func (db *DB) openWriter(ctx context.Context) error {
	if err := db.checkLedger(ctx, db.w, db.opts.Create); err != nil {
		return err
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return formatError(fmt.Errorf("open ledger %s: %w", db.path, err))
	}
	if err := db.migrate(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	if err := db.bindStation(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	wr := &writer{db: db, conn: conn}
	if err := wr.loadHead(ctx); err != nil {
		conn.Close()
		return err
	}
	db.wr = wr
	db.reqs = make(chan *request, 1024)
	db.done = make(chan struct{})
	go wr.run(db.reqs, db.done)
	db.logger.Debug("ledger open", logKeyPath, db.path, logKeySeq, wr.head.Seq)
	return nil
}

// checkLedger refuses files that are not SQLite or not a linestation
// ledger. An empty database is accepted only when creating.
func (db *DB) checkLedger(ctx context.Context, pool *sql.DB, create bool) error {
	var tables []string
	rows, err := pool.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return notLedger(db.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return notLedger(db.path, err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		return notLedger(db.path, err)
	}
	if len(tables) == 0 {
		if create {
			return nil
		}
		return station.Errorf(station.EINVALID, "%s is not a linestation ledger: the database is empty", db.path)
	}
	for _, t := range []string{"migrations", "meta", "journal"} {
		if !slices.Contains(tables, t) {
			return station.Errorf(station.EINVALID, "%s is not a linestation ledger: it has no %s table", db.path, t)
		}
	}
	var format string
	if err := pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'format'`).Scan(&format); err != nil || format != ledgerFormat {
		return station.Errorf(station.EINVALID, "%s is not a linestation ledger: meta.format is %q", db.path, format)
	}
	if db.station == "" {
		// Accept the recorded station; bindStation checks it for writers.
		_ = pool.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'station'`).Scan(&db.station)
	}
	return nil
}

func notLedger(path string, err error) error {
	var serr sqlite3.Error
	if errors.As(err, &serr) && (serr.Code == sqlite3.ErrNotADB || serr.Code == sqlite3.ErrCorrupt) {
		return station.Errorf(station.EINVALID, "%s is not a linestation ledger: %v", path, serr)
	}
	if errors.As(err, &serr) && serr.Code == sqlite3.ErrCantOpen {
		return station.Errorf(station.ENOTFOUND, "ledger %s cannot be opened: %v", path, serr)
	}
	return fmt.Errorf("read ledger %s: %w", path, err)
}

// migrate applies the embedded migrations not yet recorded (see
// sqlitex.Migrate). Their time is bookkeeping, not a journal record: the
// system clock is good enough, and reading the station clock here would
// shift test clocks.
func (db *DB) migrate(ctx context.Context, conn *sql.Conn) error {
	stamp := func() string { return station.FormatTime(time.Now().UTC()) }
	return sqlitex.Migrate(ctx, conn, sqlitex.Store{What: "ledger", Path: db.path}, migrationFS, "migration", stamp, db.logger)
}

// bindStation records the station id in a new ledger and checks it in an
// existing one.
func (db *DB) bindStation(ctx context.Context, conn *sql.Conn) error {
	var recorded string
	err := conn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'station'`).Scan(&recorded)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if db.opts.Station == "" {
			return station.Errorf(station.EINVALID, "ledger %s has no station id: give one to create it", db.path)
		}
		if err := validateStationID(db.opts.Station); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('station', ?)`, db.opts.Station); err != nil {
			return formatError(fmt.Errorf("record station of %s: %w", db.path, err))
		}
		db.station = db.opts.Station
	case err != nil:
		return formatError(fmt.Errorf("read station of %s: %w", db.path, err))
	case db.opts.Station != "" && db.opts.Station != recorded:
		return station.Errorf(station.ECONFLICT, "ledger %s belongs to station %q, not %q", db.path, recorded, db.opts.Station)
	default:
		db.station = recorded
	}
	return nil
}

func validateStationID(id string) error {
	if id == "" || len(id) > 64 || strings.TrimSpace(id) != id || strings.ContainsAny(id, "\x00\n\r\t") {
		return station.Errorf(station.EINVALID, "station id %q must be 1 to 64 characters without surrounding spaces or control characters", id)
	}
	return nil
}

// Path returns the absolute path of the ledger file.
func (db *DB) Path() string { return db.path }

// Station returns the id of the station the ledger belongs to.
func (db *DB) Station() string { return db.station }

// Close stops accepting appends, lets the writer finish every request
// already queued (each caller gets its answer), and closes the database.
// It is safe to call more than once.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	if db.reqs != nil {
		close(db.reqs)
	}
	db.mu.Unlock()

	var first error
	if db.done != nil {
		<-db.done
		if err := db.wr.conn.Close(); err != nil {
			first = fmt.Errorf("close ledger %s writer: %w", db.path, err)
		}
	}
	if db.w != nil {
		if err := db.w.Close(); err != nil && first == nil {
			first = fmt.Errorf("close ledger %s: %w", db.path, err)
		}
	}
	if err := db.r.Close(); err != nil && first == nil {
		first = fmt.Errorf("close ledger %s readers: %w", db.path, err)
	}
	return first
}

// formatError maps SQLite errors to station error codes; other errors pass
// through unchanged. The message keeps the context of err.
func formatError(err error) error { return sqlitex.FormatError(err) }
