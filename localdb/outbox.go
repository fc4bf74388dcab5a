package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/linestation/linestation/station"
)

// The outbox is the part of the journal the central service has not yet
// confirmed holding: every event after the acknowledged seq. The uplink
// sends it in seq order and moves the cursor with Acknowledge only once the
// central has answered, so a crash of either side at any point leaves the
// cursor at or behind what the central holds, and the central's idempotent
// store turns any resent event into a no-op.

// Outbox is the uplink cursor and what waits behind it, for status screens
// and commands.
type Outbox struct {
	Acked   station.Head // the acknowledged prefix: its last seq, hash and event time
	AckedAt time.Time    // when the central last answered (UTC); zero before the first answer
	Head    station.Head // the journal's last event
	Waiting int64        // events past Acked.Seq
	Oldest  time.Time    // time of the oldest waiting event; zero when none wait
}

// Acknowledged returns the head of the journal prefix the central service
// has acknowledged: its seq, the hash of that event and the event's time
// (Seq 0 and GenesisHash when nothing is acknowledged yet).
func (db *DB) Acknowledged(ctx context.Context) (station.Head, error) {
	var h station.Head
	var at string
	err := db.r.QueryRowContext(ctx, `SELECT acked_seq, acked_hash, acked_at FROM outbox WHERE id = 1`).Scan(&h.Seq, &h.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("read outbox of ledger %s: the cursor row is missing", db.path)
	}
	if err != nil {
		return h, formatError(fmt.Errorf("read outbox of ledger %s: %w", db.path, err))
	}
	if h.Seq == 0 {
		return h, nil
	}
	var ts string
	err = db.r.QueryRowContext(ctx, `SELECT time FROM journal WHERE seq = ?`, h.Seq).Scan(&ts)
	if err != nil {
		return h, formatError(fmt.Errorf("read outbox of ledger %s: acknowledged seq %d: %w", db.path, h.Seq, err))
	}
	if h.Time, err = station.ParseTime(ts); err != nil {
		return h, fmt.Errorf("read outbox of ledger %s: acknowledged seq %d: %w", db.path, h.Seq, err)
	}
	return h, nil
}

// Outbox returns the cursor, the journal head and what waits between them,
// read from one consistent snapshot.
func (db *DB) Outbox(ctx context.Context) (Outbox, error) {
	var o Outbox
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return o, formatError(fmt.Errorf("read outbox of ledger %s: %w", db.path, err))
	}
	defer tx.Rollback()
	var at string
	if err := tx.QueryRowContext(ctx, `SELECT acked_seq, acked_hash, acked_at FROM outbox WHERE id = 1`).Scan(&o.Acked.Seq, &o.Acked.Hash, &at); err != nil {
		return o, formatError(fmt.Errorf("read outbox of ledger %s: %w", db.path, err))
	}
	if at != "" {
		if o.AckedAt, err = station.ParseTime(at); err != nil {
			return o, fmt.Errorf("read outbox of ledger %s: acked_at: %w", db.path, err)
		}
	}
	o.Head = station.Head{Hash: station.GenesisHash}
	var ts string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash, time FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&o.Head.Seq, &o.Head.Hash, &ts)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return o, nil
	case err != nil:
		return o, formatError(fmt.Errorf("read outbox of ledger %s: head: %w", db.path, err))
	}
	if o.Head.Time, err = station.ParseTime(ts); err != nil {
		return o, fmt.Errorf("read outbox of ledger %s: head seq %d: %w", db.path, o.Head.Seq, err)
	}
	if o.Acked.Seq > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT time FROM journal WHERE seq = ?`, o.Acked.Seq).Scan(&ts); err != nil {
			return o, formatError(fmt.Errorf("read outbox of ledger %s: acknowledged seq %d: %w", db.path, o.Acked.Seq, err))
		}
		if o.Acked.Time, err = station.ParseTime(ts); err != nil {
			return o, fmt.Errorf("read outbox of ledger %s: acknowledged seq %d: %w", db.path, o.Acked.Seq, err)
		}
	}
	o.Waiting = o.Head.Seq - o.Acked.Seq
	if o.Waiting > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT time FROM journal WHERE seq = ?`, o.Acked.Seq+1).Scan(&ts); err != nil {
			return o, formatError(fmt.Errorf("read outbox of ledger %s: oldest waiting seq %d: %w", db.path, o.Acked.Seq+1, err))
		}
		if o.Oldest, err = station.ParseTime(ts); err != nil {
			return o, fmt.Errorf("read outbox of ledger %s: oldest waiting seq %d: %w", db.path, o.Acked.Seq+1, err)
		}
	}
	return o, nil
}

// Acknowledge records that the central service holds this station's journal
// up to seq, whose event has the given hash. The cursor takes the central's
// word, forwards or backwards (a central restored from an older backup holds
// less, and the uplink must send the rest again), but only for a journal the
// central really shares: seq beyond this journal's head, or a hash that
// differs from the event recorded here at seq, is refused with ECONFLICT
// and the cursor stays where it was. seq 0 with GenesisHash resets it.
func (db *DB) Acknowledge(ctx context.Context, seq int64, hash string) error {
	if seq < 0 {
		return station.Errorf(station.EINVALID, "acknowledge seq %d: seqs start at 1 (0 for none)", seq)
	}
	return db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		if seq > w.head.Seq {
			return station.Errorf(station.ECONFLICT, "the central service reports holding seq %d of station %s, but this journal ends at seq %d: the central holds events this station does not (was this ledger restored from an older copy?)",
				seq, w.db.station, w.head.Seq)
		}
		want := station.GenesisHash
		if seq > 0 {
			if err := w.conn.QueryRowContext(ctx, `SELECT hash FROM journal WHERE seq = ?`, seq).Scan(&want); err != nil {
				return formatError(fmt.Errorf("acknowledge seq %d in ledger %s: %w", seq, w.db.path, err))
			}
		}
		if hash != want {
			return station.Errorf(station.ECONFLICT, "the central service holds a different event at seq %d of station %s (hash %.12s…, here %.12s…): the two journals have diverged",
				seq, w.db.station, hash, want)
		}
		var prev int64
		if err := w.conn.QueryRowContext(ctx, `SELECT acked_seq FROM outbox WHERE id = 1`).Scan(&prev); err != nil {
			return formatError(fmt.Errorf("acknowledge seq %d in ledger %s: %w", seq, w.db.path, err))
		}
		now := time.Now().UTC()
		if w.db.clock != nil {
			now = w.db.clock.Now().UTC
		}
		if _, err := w.conn.ExecContext(ctx, `UPDATE outbox SET acked_seq = ?, acked_hash = ?, acked_at = ? WHERE id = 1`, seq, hash, station.FormatTime(now)); err != nil {
			return formatError(fmt.Errorf("acknowledge seq %d in ledger %s: %w", seq, w.db.path, err))
		}
		if seq < prev {
			w.db.logger.Warn("outbox cursor moved back: the central holds less than it acknowledged before", logKeyPath, w.db.path, logKeySeq, seq, "previous", prev)
		}
		return nil
	})
}

// PulledMasterData returns the seq of the last master-data change pulled
// from the central service and applied here (0 for none).
func (db *DB) PulledMasterData(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.r.QueryRowContext(ctx, `SELECT pulled_seq FROM outbox WHERE id = 1`).Scan(&seq); err != nil {
		return 0, formatError(fmt.Errorf("read master-data cursor of ledger %s: %w", db.path, err))
	}
	return seq, nil
}

// SetPulledMasterData records that master-data changes up to seq were
// applied here.
func (db *DB) SetPulledMasterData(ctx context.Context, seq int64) error {
	if seq < 0 {
		return station.Errorf(station.EINVALID, "master-data cursor %d must not be negative", seq)
	}
	return db.exclusive(ctx, func(ctx context.Context, w *writer) error {
		if _, err := w.conn.ExecContext(ctx, `UPDATE outbox SET pulled_seq = ? WHERE id = 1`, seq); err != nil {
			return formatError(fmt.Errorf("record master-data cursor %d in ledger %s: %w", seq, w.db.path, err))
		}
		return nil
	})
}
