package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/linestation/linestation/station"
)

// ImportStats says what Import did.
type ImportStats struct {
	Imported int64        // events added to the journal
	Skipped  int64        // events that were already recorded, identical
	Head     station.Head // the journal's head afterwards
}

// Import records events that were already recorded elsewhere (a backup
// segment, another copy of this station's journal) exactly as they are:
// their seq, id, time, clock reading, user and hashes are kept, nothing is
// stamped anew. The events must continue this journal: they are checked with
// station.ChainChecker from the ledger's head (seq continuity, each hash, the
// link to the previous hash, the station, time order) and applied to the
// projections in the same transaction as the journal rows, through the same
// functions Append uses.
//
// An event whose seq is already recorded is skipped when it is identical
// (same hash) and refused with ECONFLICT when it differs: the journals have
// diverged. Importing the same batch twice therefore changes nothing.
//
// Import is all or nothing: on any error (a break in the chain, an unknown
// type, a payload or state the projections refuse) the ledger is left as it
// was. The error names the seq. It runs on the writer goroutine between two
// group commits, so Append may be called concurrently.
func (db *DB) Import(ctx context.Context, evs []station.Event) (ImportStats, error) {
	var st ImportStats
	err := db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		var err error
		st, err = w.importEvents(ctx, evs)
		return err
	})
	return st, err
}

func (w *writer) importEvents(ctx context.Context, evs []station.Event) (ImportStats, error) {
	start := w.head
	if len(evs) == 0 {
		return ImportStats{Head: start}, nil
	}
	if _, err := w.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return ImportStats{Head: start}, formatError(fmt.Errorf("import into ledger %s: begin: %w", w.db.path, err))
	}
	st, err := w.importTx(ctx, evs)
	if err == nil {
		if _, err = w.conn.ExecContext(ctx, `COMMIT`); err != nil {
			err = formatError(fmt.Errorf("import into ledger %s: commit: %w", w.db.path, err))
		}
	}
	if err != nil {
		if _, rerr := w.conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			w.db.logger.Debug("ledger rollback after a failed import", logKeyPath, w.db.path, "error", rerr)
		}
		w.head = start
		// A failed COMMIT may still have reached the disk (as in write):
		// take the head from the file, not from memory.
		if lerr := w.loadHead(context.WithoutCancel(ctx)); lerr != nil {
			w.db.logger.Error("ledger head unknown after a failed import", logKeyPath, w.db.path, "error", lerr)
		}
		return ImportStats{Head: w.head}, err
	}
	w.commits.Add(1)
	w.events.Add(st.Imported)
	st.Head = w.head
	if st.Imported > 0 {
		w.db.logger.Debug("ledger events imported", logKeyPath, w.db.path, logKeyEvents, st.Imported, logKeySeq, w.head.Seq)
	}
	return st, nil
}

// importTx checks and inserts evs inside the import transaction.
func (w *writer) importTx(ctx context.Context, evs []station.Event) (ImportStats, error) {
	var st ImportStats
	start := w.head
	chain := station.ChainChecker{Prev: w.head, Station: w.db.station}
	for i := range evs {
		ev := evs[i] // a copy: the caller's slice is not changed
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("import into ledger %s: %w", w.db.path, err)
		}
		if ev.Seq >= 1 && ev.Seq <= chain.Prev.Seq {
			if err := w.sameAsRecorded(ctx, &ev); err != nil {
				return st, err
			}
			st.Skipped++
			continue
		}
		if err := chain.Check(&ev); err != nil {
			return st, station.Errorf(station.EINVALID, "import into ledger %s: event %d of %d does not continue the journal (head seq %d): %v",
				w.db.path, i+1, len(evs), start.Seq, err)
		}
		if err := checkImported(&ev); err != nil {
			return st, station.Errorf(station.EINVALID, "import into ledger %s: seq %d: %v", w.db.path, ev.Seq, err)
		}
		p, err := station.DecodePayload(ev.Type, ev.Payload)
		if err != nil {
			return st, fmt.Errorf("import into ledger %s: seq %d: %w", w.db.path, ev.Seq, err)
		}
		ev.Time = ev.Time.UTC()
		if err := w.insert(ctx, &ev, p); err != nil {
			return st, fmt.Errorf("import into ledger %s: seq %d (%s): %w", w.db.path, ev.Seq, ev.Type, err)
		}
		st.Imported++
	}
	return st, nil
}

// sameAsRecorded accepts an event whose seq is already in the journal only
// when it is the very event recorded there.
func (w *writer) sameAsRecorded(ctx context.Context, ev *station.Event) error {
	var hash string
	err := w.conn.QueryRowContext(ctx, `SELECT hash FROM journal WHERE seq = ?`, ev.Seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Errorf(station.EINVALID, "import into ledger %s: seq %d is below the head but not recorded: the journal has a gap", w.db.path, ev.Seq)
	}
	if err != nil {
		return formatError(fmt.Errorf("import into ledger %s: read seq %d: %w", w.db.path, ev.Seq, err))
	}
	if hash != ev.Hash {
		return station.Errorf(station.ECONFLICT, "import into ledger %s: seq %d is recorded with hash %s but the imported event has hash %s: the journals have diverged",
			w.db.path, ev.Seq, shortHash(hash), shortHash(ev.Hash))
	}
	return nil
}

// checkImported checks what the chain does not: fields that Append
// validates before it stamps an event.
func checkImported(ev *station.Event) error {
	switch ev.ClockState {
	case station.ClockSynced, station.ClockDegraded, station.ClockUnsynced:
	default:
		return fmt.Errorf("unknown clock state %q", ev.ClockState)
	}
	if ev.ID == "" {
		return errors.New("the event has no id")
	}
	if ev.Time.IsZero() {
		return errors.New("the event has no time")
	}
	return validateUser(ev.User)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// SnapshotFile writes a consistent copy of the ledger to a new file at path
// (see SnapshotTo) and returns the head that the copy holds, read from the
// copy itself, so that a backup's manifest describes exactly the file it
// ships even while the station keeps appending.
func (db *DB) SnapshotFile(ctx context.Context, path string) (station.Head, error) {
	if err := db.SnapshotTo(ctx, path); err != nil {
		return station.Head{}, err
	}
	cp, err := Open(ctx, path, Options{ReadOnly: true, Station: db.station, Logger: db.logger})
	if err != nil {
		_ = os.Remove(path)
		return station.Head{}, fmt.Errorf("snapshot ledger %s: open the copy: %w", db.path, err)
	}
	h, err := cp.Head(ctx)
	if cerr := cp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return station.Head{}, fmt.Errorf("snapshot ledger %s: read the copy's head: %w", db.path, err)
	}
	return h, nil
}

// Checkpoint copies everything in the write-ahead log into the database
// file and empties the log (PRAGMA wal_checkpoint(TRUNCATE)), so that the
// file alone holds the whole ledger: a restore calls it before it closes
// the rebuilt file and moves it into place. It fails with EUNAVAILABLE when
// a reader keeps part of the log from being copied.
func (db *DB) Checkpoint(ctx context.Context) error {
	return db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		var busy, logFrames, done int64
		if err := w.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			return formatError(fmt.Errorf("checkpoint ledger %s: %w", w.db.path, err))
		}
		if busy != 0 {
			return station.Errorf(station.EUNAVAILABLE, "checkpoint ledger %s: a reader kept %d of %d log frames from being copied", w.db.path, logFrames-done, logFrames)
		}
		return nil
	})
}
