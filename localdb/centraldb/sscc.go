package centraldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// ReserveSSCC issues holder (a station id) a block of req.Count SSCC serial
// references of a company prefix, starting at the prefix's watermark: above
// every block issued before and every SSCC any station's journal recorded,
// so a block is never issued twice and never overlaps another. A request
// with a RequestID the holder used before returns that block again
// (ECONFLICT when it asked for something else). The block is cut short at
// the end of the prefix's space. Errors: EINVALID for a bad request,
// ECONFLICT when the prefix's space is used up, EUNAVAILABLE while a
// restored store awaits its stations (see RestoreAwaited).
func (db *DB) ReserveSSCC(ctx context.Context, holder string, req uplink.SSCCRequest) (uplink.SSCCBlock, error) {
	var b uplink.SSCCBlock
	probe := station.SSCCRange{Prefix: req.Prefix}
	if err := probe.Validate(); err != nil {
		return b, err
	}
	if req.Count < 1 || req.Count > station.MaxSSCCBlock {
		return b, station.Errorf(station.EINVALID, "count %d must be 1 to %d", req.Count, station.MaxSSCCBlock)
	}
	if req.RequestID == "" || len(req.RequestID) > 64 {
		return b, station.Errorf(station.EINVALID, "request_id must be 1 to 64 characters, unique per request (a retry reuses it)")
	}
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		b, err = db.reserveSSCC(ctx, c, holder, req)
		return err
	})
	return b, err
}

func (db *DB) reserveSSCC(ctx context.Context, c conn, holder string, req uplink.SSCCRequest) (uplink.SSCCBlock, error) {
	b := uplink.SSCCBlock{Holder: holder, RequestID: req.RequestID}
	var first, last int64
	var created string
	err := c.QueryRowContext(ctx, `SELECT id, prefix, first, last, created_at FROM sscc_blocks WHERE holder = ? AND request_id = ?`, holder, req.RequestID).
		Scan(&b.ID, &b.Prefix, &first, &last, &created)
	if err == nil {
		if b.Prefix != req.Prefix {
			return b, station.Errorf(station.ECONFLICT, "request_id %s was used for SSCCs of company prefix %s: use a new id for a new request", req.RequestID, b.Prefix)
		}
		b.First, b.Last = uint64(first), uint64(last)
		b.Created, err = parseTime(created)
		return b, err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return b, formatError(fmt.Errorf("read SSCC block %s of %s: %w", req.RequestID, holder, err))
	}
	if err := checkRestoreGate(ctx, c); err != nil {
		return b, err
	}
	next, err := ssccWatermark(ctx, c, req.Prefix)
	if err != nil {
		return b, err
	}
	space := station.SSCCSpace(req.Prefix)
	if next >= space {
		return b, station.Errorf(station.ECONFLICT, "the SSCC serial references of company prefix %s are used up (%d issued): the company needs a new prefix", req.Prefix, space)
	}
	b.Prefix, b.First, b.Last = req.Prefix, next, min(next+req.Count-1, space-1)
	now := db.now().UTC()
	b.Created = now
	res, err := c.ExecContext(ctx, `INSERT INTO sscc_blocks (prefix, first, last, holder, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		b.Prefix, int64(b.First), int64(b.Last), holder, req.RequestID, station.FormatTime(now))
	if err != nil {
		return b, formatError(fmt.Errorf("record SSCC block of %s: %w", holder, err))
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return b, fmt.Errorf("record SSCC block of %s: %w", holder, err)
	}
	if err := raiseSSCCWatermark(ctx, c, req.Prefix, b.Last+1); err != nil {
		return b, err
	}
	return b, nil
}

// ssccWatermark returns the first serial reference of prefix that was never
// issued nor seen. Without a counter yet, it is found from the blocks and
// the repository's SSCCs (SSCCs a station made before the central issued
// anything of the prefix, standalone for instance).
func ssccWatermark(ctx context.Context, c conn, prefix string) (uint64, error) {
	var next int64
	err := c.QueryRowContext(ctx, `SELECT next FROM sscc_counters WHERE prefix = ?`, prefix).Scan(&next)
	if err == nil {
		return uint64(next), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, formatError(fmt.Errorf("read the SSCC watermark of company prefix %s: %w", prefix, err))
	}
	var blocks, seen sql.NullInt64
	if err := c.QueryRowContext(ctx, `SELECT MAX(last) FROM sscc_blocks WHERE prefix = ?`, prefix).Scan(&blocks); err != nil {
		return 0, formatError(fmt.Errorf("read the SSCC blocks of company prefix %s: %w", prefix, err))
	}
	n := len(prefix)
	if err := c.QueryRowContext(ctx, `SELECT MAX(CAST(substr(sscc, ?, ?) AS INTEGER)) FROM ssccs WHERE substr(sscc, 2, ?) = ?`,
		2+n, 16-n, n, prefix).Scan(&seen); err != nil {
		return 0, formatError(fmt.Errorf("read the SSCCs of company prefix %s: %w", prefix, err))
	}
	var w uint64
	if blocks.Valid {
		w = uint64(blocks.Int64) + 1
	}
	if seen.Valid && uint64(seen.Int64)+1 > w {
		w = uint64(seen.Int64) + 1
	}
	return w, nil
}

// raiseSSCCWatermark moves the watermark of prefix up to at least atLeast.
func raiseSSCCWatermark(ctx context.Context, c conn, prefix string, atLeast uint64) error {
	w, err := ssccWatermark(ctx, c, prefix)
	if err != nil {
		return err
	}
	w = max(w, atLeast)
	if _, err := c.ExecContext(ctx, `INSERT INTO sscc_counters (prefix, next) VALUES (?, ?)
		ON CONFLICT (prefix) DO UPDATE SET next = MAX(next, excluded.next)`, prefix, int64(w)); err != nil {
		return formatError(fmt.Errorf("raise the SSCC watermark of company prefix %s: %w", prefix, err))
	}
	return nil
}

// SSCCBlocks returns the blocks of SSCC serial references issued to holder
// (every holder when empty), by id.
func (db *DB) SSCCBlocks(ctx context.Context, holder string) ([]uplink.SSCCBlock, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, prefix, first, last, holder, request_id, created_at FROM sscc_blocks WHERE ? = '' OR holder = ? ORDER BY id`, holder, holder)
	if err != nil {
		return nil, formatError(fmt.Errorf("read SSCC blocks: %w", err))
	}
	defer rows.Close()
	var out []uplink.SSCCBlock
	for rows.Next() {
		var b uplink.SSCCBlock
		var first, last int64
		var created string
		if err := rows.Scan(&b.ID, &b.Prefix, &first, &last, &b.Holder, &b.RequestID, &created); err != nil {
			return nil, formatError(fmt.Errorf("read SSCC blocks: %w", err))
		}
		b.First, b.Last = uint64(first), uint64(last)
		if b.Created, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("read SSCC blocks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read SSCC blocks: %w", err))
	}
	return out, nil
}

// enterSSCCRange is the authority's side of a station's sscc.range_received
// event: the block is entered as the station's (it is there already unless
// the store was restored from a snapshot older than the block) and the
// watermark raised above it, so that it is never issued again. It returns a
// problem when the block overlaps another station's.
func (p *projector) enterSSCCRange(ctx context.Context, seq int64, pl *station.SSCCRangeReceived) error {
	var holder string
	var id int64
	err := p.c.QueryRowContext(ctx, `SELECT id, holder FROM sscc_blocks WHERE prefix = ? AND first <= ? AND last >= ? AND (holder != ? OR first != ? OR last != ?) LIMIT 1`,
		pl.Prefix, int64(pl.Last), int64(pl.First), p.st, int64(pl.First), int64(pl.Last)).Scan(&id, &holder)
	switch {
	case err == nil:
		p.problem("SSCC block %d..%d of company prefix %s overlaps block %d issued to %s", pl.First, pl.Last, pl.Prefix, id, holder)
	case !errors.Is(err, sql.ErrNoRows):
		return formatError(fmt.Errorf("read SSCC blocks of company prefix %s: %w", pl.Prefix, err))
	}
	var one int
	err = p.c.QueryRowContext(ctx, `SELECT 1 FROM sscc_blocks WHERE prefix = ? AND first = ? AND last = ? AND holder = ?`, pl.Prefix, int64(pl.First), int64(pl.Last), p.st).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		if !p.restoring {
			p.problem("SSCC block %d..%d of company prefix %s is recorded as from the central service, which never issued it", pl.First, pl.Last, pl.Prefix)
		}
		if _, err := p.c.ExecContext(ctx, `INSERT INTO sscc_blocks (prefix, first, last, holder, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			pl.Prefix, int64(pl.First), int64(pl.Last), p.st, "journal:"+strconv.FormatInt(seq, 10), p.now); err != nil {
			return formatError(fmt.Errorf("enter SSCC block %d..%d of station %s: %w", pl.First, pl.Last, p.st, err))
		}
	} else if err != nil {
		return formatError(fmt.Errorf("read SSCC blocks of company prefix %s: %w", pl.Prefix, err))
	}
	return raiseSSCCWatermark(ctx, p.c, pl.Prefix, pl.Last+1)
}

// raiseSeenSSCCs raises the watermark of every prefix the authority issues
// from above the SSCCs of the batch, so that a block never holds an SSCC a
// station already made (however it came by it).
func (p *projector) raiseSeenSSCCs(ctx context.Context) error {
	if len(p.newSSCC) == 0 {
		return nil
	}
	rows, err := p.c.QueryContext(ctx, `SELECT prefix, next FROM sscc_counters`)
	if err != nil {
		return formatError(fmt.Errorf("read SSCC watermarks: %w", err))
	}
	marks := map[string]uint64{}
	for rows.Next() {
		var prefix string
		var next int64
		if err := rows.Scan(&prefix, &next); err != nil {
			rows.Close()
			return formatError(fmt.Errorf("read SSCC watermarks: %w", err))
		}
		marks[prefix] = uint64(next)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return formatError(fmt.Errorf("read SSCC watermarks: %w", err))
	}
	raise := map[string]uint64{}
	for _, s := range p.newSSCC {
		for prefix, next := range marks {
			if !strings.HasPrefix(s.sscc[1:], prefix) {
				continue
			}
			ref, err := strconv.ParseUint(s.sscc[1+len(prefix):17], 10, 64)
			if err == nil && ref >= max(next, raise[prefix]) {
				raise[prefix] = ref + 1
			}
		}
	}
	for prefix, w := range raise {
		if err := raiseSSCCWatermark(ctx, p.c, prefix, w); err != nil {
			return err
		}
	}
	return nil
}
