// Package sqlitex holds what the station ledger (localdb) and the central
// store (localdb/centraldb) do the same way with SQLite: checking the file
// before opening it, forward-only migrations embedded as numbered .sql
// files, and SQLite errors carrying station error codes.
package sqlitex

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/linestation/linestation/station"
)

// Store names a database in messages: what it is ("ledger", "central
// store") and its file.
type Store struct {
	What, Path string
}

// CheckFile resolves the database file of s to an absolute path and checks
// that it can be opened: it must exist unless create, and must not be a
// directory.
func CheckFile(s Store, create bool) (string, error) {
	abs, err := filepath.Abs(s.Path)
	if err != nil {
		return "", fmt.Errorf("open %s %s: %w", s.What, s.Path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return "", station.Errorf(station.ENOTFOUND, "%s %s does not exist", s.What, s.Path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("open %s %s: %w", s.What, s.Path, err)
	case err == nil && fi.IsDir():
		return "", station.Errorf(station.EINVALID, "%s %s is a directory, not a file", s.What, s.Path)
	}
	return abs, nil
}

// Migrate applies the migrations in fsys (dir/*.sql) not yet recorded in
// the migrations table, each in its own transaction, in lexical order,
// recording each with stamp() as its time and logging it. It refuses a
// file that records a migration this program does not know (written by a
// newer version).
func Migrate(ctx context.Context, conn *sql.Conn, s Store, fsys fs.FS, dir string, stamp func() string, logger *slog.Logger) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return FormatError(fmt.Errorf("create migrations table in %s: %w", s.Path, err))
	}
	applied := map[string]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return FormatError(fmt.Errorf("read migrations of %s: %w", s.Path, err))
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return FormatError(fmt.Errorf("read migrations of %s: %w", s.Path, err))
		}
		applied[name] = true
	}
	rows.Close()

	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	known := map[string]bool{}
	for _, n := range names {
		known[path.Base(n)] = true
	}
	for name := range applied {
		if !known[name] {
			return station.Errorf(station.ECONFLICT, "%s %s was migrated by a newer linestation (migration %s is unknown here): use that version", s.What, s.Path, name)
		}
	}
	for _, n := range names {
		name := path.Base(n)
		if applied[name] {
			continue
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		if err := apply(ctx, conn, s.Path, name, string(body), stamp()); err != nil {
			return err
		}
		logger.Info(s.What+" migrated", "path", s.Path, "migration", name)
	}
	return nil
}

// apply runs one migration and records it, in one transaction.
func apply(ctx context.Context, conn *sql.Conn, file, name, body, at string) (err error) {
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return FormatError(fmt.Errorf("migrate %s: %s: begin: %w", file, name, err))
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return FormatError(fmt.Errorf("migrate %s: %s: %w", file, name, err))
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, at); err != nil {
		return FormatError(fmt.Errorf("migrate %s: record %s: %w", file, name, err))
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return FormatError(fmt.Errorf("migrate %s: %s: commit: %w", file, name, err))
	}
	return nil
}

// EventColumns are the journal columns of an event that are stored as
// text or integers rather than as its own types.
type EventColumns struct {
	Type, Payload, Time, ClockState string
	ClockOffset                     int64
}

// Fill sets ev's fields from the columns. A time that is not in canonical
// form is a chain break naming the event's seq (set it first).
func (c EventColumns) Fill(ev *station.Event) error {
	ev.Type = station.EventType(c.Type)
	ev.Payload = json.RawMessage(c.Payload)
	ev.ClockOffset = time.Duration(c.ClockOffset)
	ev.ClockState = station.ClockState(c.ClockState)
	t, err := station.ParseTime(c.Time)
	if err != nil {
		return &station.ChainBreak{Seq: ev.Seq, Reason: err.Error()}
	}
	ev.Time = t
	return nil
}

// FormatError gives an SQLite error in err's chain the station code it
// means (a constraint: ECONFLICT; busy or locked: EUNAVAILABLE; not a
// database or corrupt: EINVALID; cannot open: ENOTFOUND), keeping the
// chain; other errors are returned as they are.
func FormatError(err error) error {
	if err == nil {
		return nil
	}
	var serr sqlite3.Error
	if !errors.As(err, &serr) {
		return err
	}
	var code string
	switch serr.Code {
	case sqlite3.ErrConstraint:
		code = station.ECONFLICT
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		code = station.EUNAVAILABLE
	case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
		code = station.EINVALID
	case sqlite3.ErrCantOpen:
		code = station.ENOTFOUND
	default:
		return err
	}
	return &codedError{code: code, err: err}
}

// codedError gives an SQLite error a station code while keeping it in the
// chain (errors.Is/As still see the sqlite3.Error).
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() []error {
	return []error{&station.Error{Code: e.code, Message: e.err.Error()}, e.err}
}

// IsConstraint reports whether err is an SQLite constraint violation.
func IsConstraint(err error) bool {
	var serr sqlite3.Error
	return errors.As(err, &serr) && serr.Code == sqlite3.ErrConstraint
}
