package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// Item returns the repository's record of a pack, case or pallet: state,
// station, order with lot and expiry, parent, direct children and history
// across every station. ENOTFOUND when no station ever recorded it.
func (db *DB) Item(ctx context.Context, it station.Item) (uplink.ItemRecord, error) {
	key := it.Key()
	rec := uplink.ItemRecord{Key: key, Item: it, Children: []string{}, History: []uplink.HistoryEntry{}}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rec, formatError(fmt.Errorf("read item %s: %w", key, err))
	}
	defer tx.Rollback()
	found := false
	var reservedFeed int64
	if it.SSCC == "" {
		var state string
		var order sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT station, state, order_id, reserved_feed FROM serials WHERE gtin = ? AND serial = ?`, it.GTIN, it.Serial).
			Scan(&rec.Station, &state, &order, &reservedFeed)
		switch {
		case err == nil:
			found = true
			rec.State, rec.Order = station.UnitState(state), order.String
		case !errors.Is(err, sql.ErrNoRows):
			return rec, formatError(fmt.Errorf("read serial %s: %w", key, err))
		}
	} else {
		var level string
		var order sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT level, order_id, station FROM ssccs WHERE sscc = ?`, it.SSCC).Scan(&level, &order, &rec.Station)
		switch {
		case err == nil:
			found = true
			rec.Level, rec.Order = station.AggregationLevel(level), order.String
		case !errors.Is(err, sql.ErrNoRows):
			return rec, formatError(fmt.Errorf("read SSCC %s: %w", key, err))
		}
	}
	if rec.Order != "" {
		err := tx.QueryRowContext(ctx, `SELECT lot, expiry FROM station_orders WHERE order_id = ? ORDER BY station = ? DESC, station LIMIT 1`, rec.Order, rec.Station).
			Scan(&rec.Lot, &rec.Expiry)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return rec, formatError(fmt.Errorf("read order %s of %s: %w", rec.Order, key, err))
		}
	}
	err = tx.QueryRowContext(ctx, `SELECT parent FROM aggregation WHERE child = ?`, key).Scan(&rec.Parent)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return rec, formatError(fmt.Errorf("read parent of %s: %w", key, err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT child, level FROM aggregation WHERE parent = ? ORDER BY feed, child`, key)
	if err != nil {
		return rec, formatError(fmt.Errorf("read children of %s: %w", key, err))
	}
	for rows.Next() {
		var child, level string
		if err := rows.Scan(&child, &level); err != nil {
			rows.Close()
			return rec, formatError(fmt.Errorf("read children of %s: %w", key, err))
		}
		rec.Children = append(rec.Children, child)
		rec.Level = station.AggregationLevel(level)
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT station, seq, type, time, user, payload FROM events WHERE feed IN
		(SELECT feed FROM events WHERE item = ? UNION SELECT feed FROM item_history WHERE item = ? UNION SELECT ?) ORDER BY feed`, key, key, reservedFeed)
	if err != nil {
		return rec, formatError(fmt.Errorf("read history of %s: %w", key, err))
	}
	defer rows.Close()
	for rows.Next() {
		var h uplink.HistoryEntry
		var typ, ts, payload string
		if err := rows.Scan(&h.Station, &h.Seq, &typ, &ts, &h.User, &payload); err != nil {
			return rec, formatError(fmt.Errorf("read history of %s: %w", key, err))
		}
		h.Type, h.Payload = station.EventType(typ), json.RawMessage(payload)
		if h.Time, err = station.ParseTime(ts); err != nil {
			return rec, fmt.Errorf("read history of %s: seq %d of %s: %w", key, h.Seq, h.Station, err)
		}
		rec.History = append(rec.History, h)
	}
	if err := rows.Err(); err != nil {
		return rec, formatError(fmt.Errorf("read history of %s: %w", key, err))
	}
	if !found && len(rec.History) == 0 && rec.Parent == "" && len(rec.Children) == 0 {
		return rec, station.Errorf(station.ENOTFOUND, "%s is not known to the central service", key)
	}
	if rec.Station == "" && len(rec.History) > 0 {
		rec.Station = rec.History[0].Station
	}
	return rec, nil
}

// Conflicts returns the repository conflicts recorded for a station, oldest
// first, at most limit.
func (db *DB) Conflicts(ctx context.Context, stationID string, limit int) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, problem FROM conflicts WHERE station = ? ORDER BY feed LIMIT ?`, stationID, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read conflicts of station %s: %w", stationID, err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq int64
		var p string
		if err := rows.Scan(&seq, &p); err != nil {
			return nil, formatError(fmt.Errorf("read conflicts of station %s: %w", stationID, err))
		}
		out = append(out, fmt.Sprintf("seq %d: %s", seq, p))
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read conflicts of station %s: %w", stationID, err))
	}
	return out, nil
}
