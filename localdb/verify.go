package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/linestation/linestation/station"
)

// Report is what Verify found.
type Report struct {
	Station     string
	Integrity   []string // problems reported by SQLite's integrity and foreign key checks; empty when fine
	Events      int64    // events checked (up to the first break)
	FirstSeq    int64
	LastSeq     int64
	FirstTime   time.Time
	LastTime    time.Time
	ClockStates map[station.ClockState]int64 // events per clock state
	ClockSteps  int64                        // clock.stepped events
	Break       *station.ChainBreak          // the first break of the chain; nil when intact
}

// OK reports whether the file and the chain are intact.
func (r *Report) OK() bool { return len(r.Integrity) == 0 && r.Break == nil }

// Verify runs SQLite's integrity check and foreign key check, then reads the
// whole journal in seq order and checks it with station.ChainChecker: seq
// continuity from 1, every event's hash, every link to the previous hash,
// one station, and time that goes backwards only in a clock.stepped record.
// It does not trust the triggers: a journal edited with the triggers dropped
// fails at the first edited, deleted or moved row. It reads one consistent
// snapshot, so it may run while the station appends. The error is for
// failures to read; what is wrong with the ledger is in the report.
func (db *DB) Verify(ctx context.Context) (*Report, error) {
	rep := &Report{Station: db.station, ClockStates: map[station.ClockState]int64{}}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, formatError(fmt.Errorf("verify ledger %s: %w", db.path, err))
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, formatError(fmt.Errorf("verify ledger %s: integrity check: %w", db.path, err))
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, formatError(fmt.Errorf("verify ledger %s: integrity check: %w", db.path, err))
		}
		if line != "ok" {
			rep.Integrity = append(rep.Integrity, line)
		}
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return nil, formatError(fmt.Errorf("verify ledger %s: foreign key check: %w", db.path, err))
	}
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int64
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			rows.Close()
			return nil, formatError(fmt.Errorf("verify ledger %s: foreign key check: %w", db.path, err))
		}
		rep.Integrity = append(rep.Integrity, fmt.Sprintf("%s row %d refers to a missing %s row", table, rowid.Int64, parent))
	}
	rows.Close()

	rows, err = tx.QueryContext(ctx, selectEvents+` ORDER BY seq`)
	if err != nil {
		return nil, formatError(fmt.Errorf("verify ledger %s: read journal: %w", db.path, err))
	}
	defer rows.Close()
	chain := station.ChainChecker{Station: db.station}
	for rows.Next() {
		ev, err := scanEvent(rows)
		var brk *station.ChainBreak
		if errors.As(err, &brk) {
			rep.Break = brk
			return rep, nil
		}
		if err != nil {
			return nil, fmt.Errorf("verify ledger %s: %w", db.path, err)
		}
		if err := chain.Check(&ev); err != nil {
			if !errors.As(err, &brk) {
				return nil, fmt.Errorf("verify ledger %s: %w", db.path, err)
			}
			rep.Break = brk
			return rep, nil
		}
		if rep.Events == 0 {
			rep.FirstSeq, rep.FirstTime = ev.Seq, ev.Time
		}
		rep.Events++
		rep.LastSeq, rep.LastTime = ev.Seq, ev.Time
		rep.ClockStates[ev.ClockState]++
		if ev.Type == station.EventClockStepped {
			rep.ClockSteps++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("verify ledger %s: read journal: %w", db.path, err))
	}
	return rep, nil
}

// RebuildStats says what Rebuild did.
type RebuildStats struct {
	Events  int64
	LastSeq int64
}

// Rebuild empties every projection and replays the whole journal through
// the same projection functions Append uses, in one transaction, checking
// the chain as it goes. On any error (a broken chain, an event the
// projections refuse) nothing changes. Appends wait while it runs.
func (db *DB) Rebuild(ctx context.Context) (RebuildStats, error) {
	var st RebuildStats
	err := db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		var err error
		st, err = w.rebuild(ctx)
		return err
	})
	return st, err
}

// rebuildPage is how many events rebuild reads at a time.
const rebuildPage = 1000

func (w *writer) rebuild(ctx context.Context) (st RebuildStats, err error) {
	if _, err := w.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return st, formatError(fmt.Errorf("rebuild ledger %s: begin: %w", w.db.path, err))
	}
	defer func() {
		if err != nil {
			_, _ = w.conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	for _, t := range projectionTables() {
		if _, err := w.conn.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return st, formatError(fmt.Errorf("rebuild ledger %s: empty %s: %w", w.db.path, t, err))
		}
	}
	chain := station.ChainChecker{Station: w.db.station}
	for {
		page, err := w.readPage(ctx, chain.Prev.Seq)
		if err != nil {
			return st, err
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			ev := &page[i]
			if err := chain.Check(ev); err != nil {
				return st, fmt.Errorf("rebuild ledger %s: the journal is broken, projections left as they were: %w", w.db.path, err)
			}
			p, err := station.DecodePayload(ev.Type, ev.Payload)
			if err != nil {
				return st, fmt.Errorf("rebuild ledger %s: seq %d: %w", w.db.path, ev.Seq, err)
			}
			if err := apply(ctx, w.conn, ev, p); err != nil {
				return st, fmt.Errorf("rebuild ledger %s: seq %d (%s): %w", w.db.path, ev.Seq, ev.Type, err)
			}
			st.Events++
			st.LastSeq = ev.Seq
		}
	}
	if st.LastSeq != w.head.Seq {
		return st, fmt.Errorf("rebuild ledger %s: replayed up to seq %d but the head is seq %d", w.db.path, st.LastSeq, w.head.Seq)
	}
	if _, err := w.conn.ExecContext(ctx, `COMMIT`); err != nil {
		return st, formatError(fmt.Errorf("rebuild ledger %s: commit: %w", w.db.path, err))
	}
	w.db.logger.Info("ledger projections rebuilt", logKeyPath, w.db.path, logKeyEvents, st.Events)
	return st, nil
}

// readPage reads up to rebuildPage events after seq on the writer
// connection (inside the rebuild transaction).
func (w *writer) readPage(ctx context.Context, after int64) ([]station.Event, error) {
	rows, err := w.conn.QueryContext(ctx, selectEvents+` WHERE seq > ? ORDER BY seq LIMIT ?`, after, rebuildPage)
	if err != nil {
		return nil, formatError(fmt.Errorf("rebuild ledger %s: read journal after seq %d: %w", w.db.path, after, err))
	}
	defer rows.Close()
	var out []station.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("rebuild ledger %s: %w", w.db.path, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("rebuild ledger %s: read journal after seq %d: %w", w.db.path, after, err))
	}
	return out, nil
}

// Snapshot writes a consistent copy of the whole ledger, as an SQLite file,
// to w. It runs VACUUM INTO a temporary file beside the ledger from a read
// connection, so appends go on while it runs, then copies that file to w and
// removes it.
func (db *DB) Snapshot(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp(filepath.Dir(db.path), ".snapshot-")
	if err != nil {
		return fmt.Errorf("snapshot ledger %s: %w", db.path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "snapshot.db")
	if err := db.SnapshotTo(ctx, tmp); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("snapshot ledger %s: %w", db.path, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("snapshot ledger %s: copy: %w", db.path, err)
	}
	return nil
}

// SnapshotTo writes a consistent copy of the ledger to a new file at path
// (VACUUM INTO). It refuses to overwrite an existing file.
func (db *DB) SnapshotTo(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return station.Errorf(station.ECONFLICT, "snapshot target %s already exists", path)
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return formatError(fmt.Errorf("snapshot ledger %s: %w", db.path, err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return formatError(fmt.Errorf("snapshot ledger %s into %s: %w", db.path, path, err))
	}
	return nil
}
