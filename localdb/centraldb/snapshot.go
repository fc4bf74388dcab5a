package centraldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/linestation/linestation/station"
)

// State is what a central store holds, in the terms a backup's manifest
// records and a restore checks: every station's head and the store-wide
// high-water marks. Events are never deleted and seqs are gap-free, so the
// heads say exactly which events the store holds.
type State struct {
	// Stations are every station's head, ordered by station id (seq 0 and
	// the genesis hash for a station that has pushed nothing).
	Stations []StationHead
	// Feed is the store-wide high-water mark: the events feed cursor of
	// the last event stored (0: none).
	Feed int64
	// Changes is the seq of the last master-data change (0: none).
	Changes int64
	// Reservations is the id of the last serial reservation (0: none).
	Reservations int64
}

// StationHead is the last event of a station's journal that a store holds.
type StationHead struct {
	Station string
	station.Head
}

// Events returns how many events the state holds: the sum of the heads.
func (s State) Events() int64 {
	var n int64
	for _, h := range s.Stations {
		n += h.Seq
	}
	return n
}

// Head returns the head of one station and whether the state has it.
func (s State) Head(stationID string) (station.Head, bool) {
	for _, h := range s.Stations {
		if h.Station == stationID {
			return h.Head, true
		}
	}
	return station.Head{}, false
}

// querier is a read transaction or a connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// State returns what the store holds now, read in one transaction.
func (db *DB) State(ctx context.Context) (State, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return State{}, formatError(fmt.Errorf("read state of central store %s: %w", db.path, err))
	}
	defer tx.Rollback()
	st, err := readState(ctx, tx)
	if err != nil {
		return st, fmt.Errorf("read state of central store %s: %w", db.path, err)
	}
	return st, nil
}

func readState(ctx context.Context, q querier) (State, error) {
	var st State
	rows, err := q.QueryContext(ctx, `SELECT id, head_seq, head_hash, head_time FROM stations ORDER BY id`)
	if err != nil {
		return st, formatError(fmt.Errorf("read station heads: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var h StationHead
		var ts string
		if err := rows.Scan(&h.Station, &h.Seq, &h.Hash, &ts); err != nil {
			return st, formatError(fmt.Errorf("read station heads: %w", err))
		}
		if h.Time, err = parseTime(ts); err != nil {
			return st, fmt.Errorf("read head of station %s: %w", h.Station, err)
		}
		st.Stations = append(st.Stations, h)
	}
	if err := rows.Err(); err != nil {
		return st, formatError(fmt.Errorf("read station heads: %w", err))
	}
	err = q.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(feed), 0) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM changes),
		(SELECT COALESCE(MAX(id), 0) FROM reservations)`).Scan(&st.Feed, &st.Changes, &st.Reservations)
	if err != nil {
		return st, formatError(fmt.Errorf("read high-water marks: %w", err))
	}
	return st, nil
}

// SnapshotFile writes a consistent copy of the store to a new file at path
// while the service goes on writing: VACUUM INTO from a read connection,
// which sees one committed state of the store and blocks no writer. It
// returns the state that the copy holds, read from the copy itself, so
// that a backup's manifest describes exactly the file it ships. It refuses
// to overwrite a file; on failure nothing is left at path.
func (db *DB) SnapshotFile(ctx context.Context, path string) (State, error) {
	if _, err := os.Lstat(path); err == nil {
		return State{}, station.Errorf(station.ECONFLICT, "snapshot target %s already exists", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("snapshot central store %s: %w", db.path, err)
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return State{}, formatError(fmt.Errorf("snapshot central store %s: %w", db.path, err))
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, path)
	conn.Close()
	if err != nil {
		removeFile(path)
		return State{}, formatError(fmt.Errorf("snapshot central store %s into %s: %w", db.path, path, err))
	}
	st, err := readFileState(ctx, path)
	if err != nil {
		removeFile(path)
		return State{}, fmt.Errorf("snapshot central store %s: read the copy: %w", db.path, err)
	}
	return st, nil
}

// removeFile removes a file that was being written and its SQLite side
// files.
func removeFile(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

// readFileState reads the state of a store file without changing it.
func readFileState(ctx context.Context, path string) (State, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return State{}, err
	}
	cp, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?mode=ro")
	if err != nil {
		return State{}, err
	}
	defer cp.Close()
	tx, err := cp.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return State{}, notStore(abs, err)
	}
	defer tx.Rollback()
	var format string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'format'`).Scan(&format); err != nil || format != storeFormat {
		return State{}, station.Errorf(station.EINVALID, "%s is not a linestation central store (meta.format %q: %v)", abs, format, err)
	}
	return readState(ctx, tx)
}

// Check verifies the whole store: SQLite's integrity check, the foreign
// keys, and every station's journal from its genesis to its recorded head
// (VerifyStation). It returns EINVALID naming the first problems found.
func (db *DB) Check(ctx context.Context) error {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return formatError(fmt.Errorf("check central store %s: %w", db.path, err))
	}
	defer conn.Close()
	var problems []string
	for _, pragma := range []string{`PRAGMA integrity_check(20)`, `PRAGMA foreign_key_check`} {
		rows, err := conn.QueryContext(ctx, pragma)
		if err != nil {
			return formatError(fmt.Errorf("check central store %s: %s: %w", db.path, pragma, err))
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return formatError(fmt.Errorf("check central store %s: %s: %w", db.path, pragma, err))
			}
			if len(vals) == 1 && fmt.Sprint(vals[0]) == "ok" {
				continue
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				parts[i] = fmt.Sprint(v)
			}
			problems = append(problems, strings.TrimPrefix(pragma, "PRAGMA ")+": "+strings.Join(parts, " "))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return formatError(fmt.Errorf("check central store %s: %s: %w", db.path, pragma, err))
		}
	}
	if len(problems) > 0 {
		return station.Errorf(station.EINVALID, "central store %s fails SQLite's checks: %s", db.path, strings.Join(problems, "; "))
	}
	st, err := db.State(ctx)
	if err != nil {
		return err
	}
	for _, h := range st.Stations {
		rep, err := db.VerifyStation(ctx, h.Station)
		if err != nil {
			return fmt.Errorf("check central store %s: %w", db.path, err)
		}
		if !rep.OK() {
			return station.Errorf(station.EINVALID, "central store %s: the journal of station %s is broken at seq %d: %s", db.path, h.Station, rep.Break.Seq, rep.Break.Reason)
		}
	}
	return nil
}
