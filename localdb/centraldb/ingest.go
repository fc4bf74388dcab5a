package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linestation/linestation/localdb/internal/sqlitex"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// checked is a batch whose events passed the checks that need no store,
// with their journal rows made ready (all but feed, received_at and item,
// which the writer fills in) so that the writer does as little as it can.
type checked struct {
	evs      []station.Event
	payloads []station.Payload
	rows     [][]any
}

// Columns of a journal row in checked.rows, as INSERT INTO events lists them.
const (
	colFeed     = 0
	colReceived = 12
	colItem     = 13
)

// precheck verifies what a batch proves by itself: one station (the
// caller's), consecutive seqs, every hash, every link inside the batch and
// time order, and that every payload is a valid catalogue payload. It runs
// in the caller's goroutine, so pushes from many stations check in parallel
// and the writer only joins the batch to the stored head.
func precheck(stationID string, evs []station.Event) (*checked, error) {
	if len(evs) == 0 {
		return &checked{}, nil
	}
	if len(evs) > uplink.MaxBatchEvents {
		return nil, station.Errorf(station.EINVALID, "batch of %d events: at most %d per push", len(evs), uplink.MaxBatchEvents)
	}
	first := evs[0]
	if first.Seq < 1 {
		return nil, station.Errorf(station.EINVALID, "event 1 of the batch has seq %d: seqs start at 1", first.Seq)
	}
	chain := station.ChainChecker{Prev: station.Head{Seq: first.Seq - 1, Hash: first.PrevHash}, Station: stationID}
	if first.Seq == 1 {
		chain.Prev.Hash = station.GenesisHash
	}
	out := &checked{evs: evs, payloads: make([]station.Payload, len(evs)), rows: make([][]any, len(evs))}
	for i := range evs {
		ev := &evs[i]
		if ev.Station != stationID {
			return nil, station.Errorf(station.EUNAUTHORIZED, "seq %d belongs to station %q: a station may write only its own journal (%q)", ev.Seq, ev.Station, stationID)
		}
		if err := chain.Check(ev); err != nil {
			var brk *station.ChainBreak
			if errors.As(err, &brk) {
				return nil, &uplink.RefusedError{Seq: brk.Seq, Msg: "the batch breaks the hash chain at seq " + fmt.Sprint(brk.Seq) + ": " + brk.Reason}
			}
			return nil, err
		}
		p, err := uplink.DecodePayload(ev.Type, ev.Payload)
		if err != nil {
			return nil, station.Errorf(station.EINVALID, "seq %d (%s): %s", ev.Seq, ev.Type, station.ErrorMessage(err))
		}
		out.payloads[i] = p
		out.rows[i] = []any{nil, ev.Station, ev.Seq, ev.ID, string(ev.Type), string(ev.Payload), station.FormatTime(ev.Time),
			int64(ev.ClockOffset), string(ev.ClockState), ev.User, ev.PrevHash, ev.Hash, nil, nil}
	}
	return out, nil
}

// Ingest stores a batch of a station's journal and applies it to the
// repository, atomically. Events the store already holds are skipped when
// they are identical (a resend after a lost answer) and refused when they
// differ; the first new event must follow the stored head without a gap and
// chain to its hash. It returns what the store holds afterwards. A refusal
// is an *uplink.RefusedError (nothing stored), EINVALID for a malformed event,
// EUNAUTHORIZED for an event of another station, ENOTFOUND for an unknown
// station. rep, the station's outbox report, is recorded with the batch.
func (db *DB) Ingest(ctx context.Context, stationID string, evs []station.Event, rep uplink.OutboxReport) (uplink.Ack, error) {
	ck, err := precheck(stationID, evs)
	if err != nil {
		var ref *uplink.RefusedError
		if errors.As(err, &ref) {
			if h, herr := db.Head(ctx, stationID); herr == nil {
				ref.Held = h
			}
		}
		return uplink.Ack{}, err
	}
	report, err := json.Marshal(rep)
	if err != nil {
		return uplink.Ack{}, fmt.Errorf("encode outbox report: %w", err)
	}
	var ack uplink.Ack
	var resynced bool
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		ack, err = db.ingest(ctx, c, stationID, ck, string(report))
		if err == nil {
			resynced, err = clearRestoreGate(ctx, c, stationID, ack.Seq, rep.Head)
		}
		return err
	})
	if err == nil && resynced {
		left, lerr := db.RestoreAwaited(ctx)
		if lerr == nil {
			db.logger.Info("station synced after the restore", "station", stationID, "seq", ack.Seq, "awaited", len(left))
			if len(left) == 0 {
				db.logger.Info("every station synced after the restore: serials and SSCC blocks are issued again")
			}
		}
	}
	return ack, err
}

func (db *DB) ingest(ctx context.Context, c conn, stationID string, ck *checked, report string) (uplink.Ack, error) {
	var head station.Head
	var ts string
	err := c.QueryRowContext(ctx, `SELECT head_seq, head_hash, head_time FROM stations WHERE id = ?`, stationID).Scan(&head.Seq, &head.Hash, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return uplink.Ack{}, station.Errorf(station.ENOTFOUND, "station %q is not known to the central service", stationID)
	}
	if err != nil {
		return uplink.Ack{}, formatError(fmt.Errorf("read head of station %s: %w", stationID, err))
	}
	if head.Time, err = parseTime(ts); err != nil {
		return uplink.Ack{}, fmt.Errorf("read head of station %s: %w", stationID, err)
	}
	ack := uplink.Ack{Station: stationID, Seq: head.Seq, Hash: head.Hash}
	evs := ck.evs
	// Resent events: they must be exactly what is held.
	i := 0
	for i < len(evs) && evs[i].Seq <= head.Seq {
		i++
	}
	if i > 0 {
		held := make(map[int64]string, i)
		rows, err := c.QueryContext(ctx, `SELECT seq, hash FROM events WHERE station = ? AND seq BETWEEN ? AND ?`, stationID, evs[0].Seq, evs[i-1].Seq)
		if err != nil {
			return ack, formatError(fmt.Errorf("read seq %d to %d of station %s: %w", evs[0].Seq, evs[i-1].Seq, stationID, err))
		}
		for rows.Next() {
			var seq int64
			var hash string
			if err := rows.Scan(&seq, &hash); err != nil {
				rows.Close()
				return ack, formatError(fmt.Errorf("read seq %d to %d of station %s: %w", evs[0].Seq, evs[i-1].Seq, stationID, err))
			}
			held[seq] = hash
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return ack, formatError(fmt.Errorf("read seq %d to %d of station %s: %w", evs[0].Seq, evs[i-1].Seq, stationID, err))
		}
		for _, ev := range evs[:i] {
			if hash := held[ev.Seq]; hash != ev.Hash {
				return ack, &uplink.RefusedError{Held: ack, Seq: ev.Seq, Msg: fmt.Sprintf(
					"seq %d differs from the event the central holds (hash %.12s…, held %.12s…): the station's journal is not the one it sent before",
					ev.Seq, ev.Hash, hash)}
			}
		}
		ack.Duplicates = i
	}
	now := db.stamp()
	if i == len(evs) {
		if _, err := c.ExecContext(ctx, `UPDATE stations SET last_sync = ?, report = ? WHERE id = ?`, now, report, stationID); err != nil {
			return ack, formatError(fmt.Errorf("record sync of station %s: %w", stationID, err))
		}
		return ack, nil
	}
	fresh, pls, rows := evs[i:], ck.payloads[i:], ck.rows[i:]
	first := &fresh[0]
	if first.Seq != head.Seq+1 {
		return ack, &uplink.RefusedError{Held: ack, Seq: head.Seq + 1, Msg: fmt.Sprintf(
			"gap: the central holds station %s up to seq %d, and the batch starts at seq %d: send from seq %d", stationID, head.Seq, first.Seq, head.Seq+1)}
	}
	join := station.ChainChecker{Prev: head, Station: stationID}
	if head.Seq == 0 {
		join.Prev = station.Head{}
	}
	if err := join.Check(first); err != nil {
		var brk *station.ChainBreak
		if errors.As(err, &brk) {
			return ack, &uplink.RefusedError{Held: ack, Seq: brk.Seq, Msg: "the batch does not chain to the journal the central holds: seq " + fmt.Sprint(brk.Seq) + ": " + brk.Reason}
		}
		return ack, err
	}

	// Feeds are numbered here (one writer, so MAX+1 is free) so that the
	// repository can name events before they are written.
	var base int64
	if err := c.QueryRowContext(ctx, `SELECT COALESCE(MAX(feed), 0) FROM events`).Scan(&base); err != nil {
		return ack, formatError(fmt.Errorf("read the events feed: %w", err))
	}
	p := &projector{c: c, st: stationID, now: now}
	if err := p.load(ctx, fresh, pls); err != nil {
		return ack, fmt.Errorf("apply station %s to the repository: %w", stationID, err)
	}
	for k := range fresh {
		ev := &fresh[k]
		feed := base + 1 + int64(k)
		item, err := p.apply(ctx, ev, feed, pls[k])
		if err != nil {
			return ack, fmt.Errorf("apply seq %d (%s) of station %s to the repository: %w", ev.Seq, ev.Type, stationID, err)
		}
		row := rows[k]
		row[colFeed], row[colReceived], row[colItem] = feed, now, nil
		if item != "" {
			row[colItem] = item
		}
	}
	if err := insertRows(ctx, c, `INSERT INTO events (feed, station, seq, id, type, payload, time, offset_ns, clock_state, user, prev_hash, hash, received_at, item) VALUES `, rows, ``); err != nil {
		return ack, fmt.Errorf("store seq %d to %d of station %s: %w", fresh[0].Seq, fresh[len(fresh)-1].Seq, stationID, err)
	}
	if err := p.flush(ctx); err != nil {
		return ack, fmt.Errorf("apply station %s to the repository: %w", stationID, err)
	}
	for _, cf := range p.conflict {
		db.logger.Warn("repository conflict", "station", stationID, "seq", cf.seq, "problem", cf.problem)
	}
	last := fresh[len(fresh)-1]
	ack.Seq, ack.Hash, ack.Stored = last.Seq, last.Hash, len(fresh)
	if _, err := c.ExecContext(ctx, `UPDATE stations SET head_seq = ?, head_hash = ?, head_time = ?, last_sync = ?, report = ?, conflicts = conflicts + ? WHERE id = ?`,
		last.Seq, last.Hash, station.FormatTime(last.Time), now, report, len(p.conflict), stationID); err != nil {
		return ack, formatError(fmt.Errorf("move head of station %s: %w", stationID, err))
	}
	return ack, nil
}

// Head returns what the store holds of a station's journal; ENOTFOUND for
// an unknown station.
func (db *DB) Head(ctx context.Context, stationID string) (uplink.Ack, error) {
	ack := uplink.Ack{Station: stationID}
	err := db.r.QueryRowContext(ctx, `SELECT head_seq, head_hash FROM stations WHERE id = ?`, stationID).Scan(&ack.Seq, &ack.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return ack, station.Errorf(station.ENOTFOUND, "station %q is not known to the central service", stationID)
	}
	if err != nil {
		return ack, formatError(fmt.Errorf("read head of station %s: %w", stationID, err))
	}
	return ack, nil
}

const selectEvents = `SELECT feed, station, seq, id, type, payload, time, offset_ns, clock_state, user, prev_hash, hash FROM events`

func scanEvent(rows interface{ Scan(...any) error }) (uplink.FeedEvent, error) {
	var fe uplink.FeedEvent
	ev := &fe.Event
	var c sqlitex.EventColumns
	if err := rows.Scan(&fe.Cursor, &ev.Station, &ev.Seq, &ev.ID, &c.Type, &c.Payload, &c.Time, &c.ClockOffset, &c.ClockState, &ev.User, &ev.PrevHash, &ev.Hash); err != nil {
		return fe, formatError(fmt.Errorf("scan event: %w", err))
	}
	return fe, c.Fill(ev)
}

// Events returns up to limit stored events of a station with Seq >= fromSeq,
// in seq order.
func (db *DB) Events(ctx context.Context, stationID string, fromSeq int64, limit int) ([]station.Event, error) {
	if limit <= 0 {
		return nil, station.Errorf(station.EINVALID, "events: limit %d must be positive", limit)
	}
	rows, err := db.r.QueryContext(ctx, selectEvents+` WHERE station = ? AND seq >= ? ORDER BY seq LIMIT ?`, stationID, fromSeq, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read events of station %s: %w", stationID, err))
	}
	defer rows.Close()
	var out []station.Event
	for rows.Next() {
		fe, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events of station %s: %w", stationID, err)
		}
		out = append(out, fe.Event)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read events of station %s: %w", stationID, err))
	}
	return out, nil
}

// Feed returns up to limit events of every station stored after cursor
// after, in the order the central stored them.
func (db *DB) Feed(ctx context.Context, after int64, limit int) (uplink.FeedPage, error) {
	page := uplink.FeedPage{Events: []uplink.FeedEvent{}, Next: after}
	if limit <= 0 || limit > 10000 {
		return page, station.Errorf(station.EINVALID, "limit %d must be 1 to 10000", limit)
	}
	rows, err := db.r.QueryContext(ctx, selectEvents+` WHERE feed > ? ORDER BY feed LIMIT ?`, after, limit)
	if err != nil {
		return page, formatError(fmt.Errorf("read events feed after %d: %w", after, err))
	}
	defer rows.Close()
	for rows.Next() {
		fe, err := scanEvent(rows)
		if err != nil {
			return page, fmt.Errorf("read events feed: %w", err)
		}
		page.Events = append(page.Events, fe)
		page.Next = fe.Cursor
	}
	if err := rows.Err(); err != nil {
		return page, formatError(fmt.Errorf("read events feed after %d: %w", after, err))
	}
	return page, nil
}

// Report is what VerifyStation found.
type Report struct {
	Station string
	Events  int64               // events checked (up to the first break)
	LastSeq int64               // the last seq checked
	HeadSeq int64               // the head the store records
	Break   *station.ChainBreak // nil when the journal is intact
}

// OK reports whether the station's journal is intact and complete up to its head.
func (r *Report) OK() bool { return r.Break == nil && r.LastSeq == r.HeadSeq }

// VerifyStation reads a station's stored journal in seq order and checks it
// with station.ChainChecker from the genesis, and that it ends at the
// recorded head. It does not trust the triggers.
func (db *DB) VerifyStation(ctx context.Context, stationID string) (*Report, error) {
	rep := &Report{Station: stationID}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, formatError(fmt.Errorf("verify station %s: %w", stationID, err))
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT head_seq FROM stations WHERE id = ?`, stationID).Scan(&rep.HeadSeq); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, station.Errorf(station.ENOTFOUND, "station %q is not known to the central service", stationID)
		}
		return nil, formatError(fmt.Errorf("verify station %s: %w", stationID, err))
	}
	rows, err := tx.QueryContext(ctx, selectEvents+` WHERE station = ? ORDER BY seq`, stationID)
	if err != nil {
		return nil, formatError(fmt.Errorf("verify station %s: %w", stationID, err))
	}
	defer rows.Close()
	chain := station.ChainChecker{Station: stationID}
	for rows.Next() {
		fe, err := scanEvent(rows)
		var brk *station.ChainBreak
		if errors.As(err, &brk) {
			rep.Break = brk
			return rep, nil
		}
		if err != nil {
			return nil, fmt.Errorf("verify station %s: %w", stationID, err)
		}
		if err := chain.Check(&fe.Event); err != nil {
			if errors.As(err, &brk) {
				rep.Break = brk
				return rep, nil
			}
			return nil, fmt.Errorf("verify station %s: %w", stationID, err)
		}
		rep.Events++
		rep.LastSeq = fe.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("verify station %s: %w", stationID, err))
	}
	if rep.LastSeq != rep.HeadSeq {
		rep.Break = &station.ChainBreak{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("missing: the recorded head is seq %d but the journal ends at seq %d", rep.HeadSeq, rep.LastSeq)}
	}
	return rep, nil
}
