package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/linestation/linestation/station"
)

// Serial returns the state of one serial of a GTIN; ENOTFOUND when the
// station never received it.
func (db *DB) Serial(ctx context.Context, gtin, serial string) (station.SerialState, error) {
	s := station.SerialState{GTIN: gtin, Serial: serial}
	var state string
	var order sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT state, order_id, reason, seq FROM serials WHERE gtin = ? AND serial = ?`, gtin, serial).
		Scan(&state, &order, &s.Reason, &s.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return s, station.Errorf(station.ENOTFOUND, "serial %s of GTIN %s is not known at this station", serial, gtin)
	}
	if err != nil {
		return s, formatError(fmt.Errorf("read serial %s of GTIN %s: %w", serial, gtin, err))
	}
	s.State, s.Order = station.UnitState(state), order.String
	return s, nil
}

// AvailableSerials returns up to limit serials of gtin that are reserved
// for this station and not yet used, oldest reservation first.
func (db *DB) AvailableSerials(ctx context.Context, gtin string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, station.Errorf(station.EINVALID, "available serials: limit %d must be positive", limit)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT serial FROM serials WHERE gtin = ? AND state = 'available' ORDER BY rowid LIMIT ?`, gtin, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read available serials of GTIN %s: %w", gtin, err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, formatError(fmt.Errorf("read available serials of GTIN %s: %w", gtin, err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read available serials of GTIN %s: %w", gtin, err))
	}
	return out, nil
}

// Pool returns the pool level of a GTIN; ENOTFOUND when no serial of it was
// ever reserved here.
func (db *DB) Pool(ctx context.Context, gtin string) (station.PoolLevel, error) {
	p := station.PoolLevel{GTIN: gtin}
	err := db.r.QueryRowContext(ctx, `SELECT reserved, available, allocated, returned, voided FROM pools WHERE gtin = ?`, gtin).
		Scan(&p.Reserved, &p.Available, &p.Allocated, &p.Returned, &p.Voided)
	if errors.Is(err, sql.ErrNoRows) {
		return p, station.Errorf(station.ENOTFOUND, "no serials of GTIN %s were ever reserved at this station", gtin)
	}
	if err != nil {
		return p, formatError(fmt.Errorf("read pool of GTIN %s: %w", gtin, err))
	}
	return p, nil
}

// Children returns the items packed directly in parent, in packing order.
func (db *DB) Children(ctx context.Context, parent station.Item) ([]station.Link, error) {
	return db.links(ctx, `SELECT parent, child, level, seq FROM aggregation WHERE parent = ? ORDER BY seq, rowid`, parent.Key())
}

// Parent returns the link of child to its parent; ENOTFOUND when the child
// is in no parent.
func (db *DB) Parent(ctx context.Context, child station.Item) (station.Link, error) {
	links, err := db.links(ctx, `SELECT parent, child, level, seq FROM aggregation WHERE child = ?`, child.Key())
	if err != nil {
		return station.Link{}, err
	}
	if len(links) == 0 {
		return station.Link{}, station.Errorf(station.ENOTFOUND, "%s is in no parent", child.Key())
	}
	return links[0], nil
}

// Tree returns every link below root, level by level: root's children first,
// then their children, each level in packing order.
func (db *DB) Tree(ctx context.Context, root station.Item) ([]station.Link, error) {
	return db.links(ctx, `WITH RECURSIVE t (parent, child, level, seq, pos, depth) AS (
			SELECT parent, child, level, seq, rowid, 1 FROM aggregation WHERE parent = ?1
			UNION ALL
			SELECT a.parent, a.child, a.level, a.seq, a.rowid, t.depth + 1 FROM aggregation a JOIN t ON a.parent = t.child
			WHERE t.depth < `+fmt.Sprint(maxDepth)+`
		)
		SELECT parent, child, level, seq FROM t ORDER BY depth, seq, pos`, root.Key())
}

func (db *DB) links(ctx context.Context, query, key string) ([]station.Link, error) {
	rows, err := db.r.QueryContext(ctx, query, key)
	if err != nil {
		return nil, formatError(fmt.Errorf("read aggregation of %s: %w", key, err))
	}
	defer rows.Close()
	var out []station.Link
	for rows.Next() {
		var parent, child, level string
		var l station.Link
		if err := rows.Scan(&parent, &child, &level, &l.Seq); err != nil {
			return nil, formatError(fmt.Errorf("read aggregation of %s: %w", key, err))
		}
		if l.Parent, err = station.ParseItemKey(parent); err != nil {
			return nil, fmt.Errorf("read aggregation of %s: %w", key, err)
		}
		if l.Child, err = station.ParseItemKey(child); err != nil {
			return nil, fmt.Errorf("read aggregation of %s: %w", key, err)
		}
		l.Level = station.AggregationLevel(level)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read aggregation of %s: %w", key, err))
	}
	return out, nil
}

// SSCC returns a container code's record; ENOTFOUND when never allocated.
func (db *DB) SSCC(ctx context.Context, sscc string) (station.SSCCState, error) {
	s := station.SSCCState{SSCC: sscc}
	var level string
	var order sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT level, order_id, seq FROM ssccs WHERE sscc = ?`, sscc).Scan(&level, &order, &s.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return s, station.Errorf(station.ENOTFOUND, "SSCC %s was never allocated at this station", sscc)
	}
	if err != nil {
		return s, formatError(fmt.Errorf("read SSCC %s: %w", sscc, err))
	}
	s.Level, s.Order = station.AggregationLevel(level), order.String
	return s, nil
}

// Order returns a packaging order with its counters; ENOTFOUND when unknown.
func (db *DB) Order(ctx context.Context, id string) (station.OrderStatus, error) {
	o := station.OrderStatus{Order: id, Rejects: map[station.RejectReason]int64{}}
	var state string
	err := db.r.QueryRowContext(ctx, `SELECT gtin, lot, expiry, quantity, state, allocated, printed, verified, commissioned,
			rejected, decommissioned, sampled, seq FROM orders WHERE id = ?`, id).
		Scan(&o.GTIN, &o.Lot, &o.Expiry, &o.Quantity, &state, &o.Allocated, &o.Printed, &o.Verified, &o.Commissioned,
			&o.Rejected, &o.Decommissioned, &o.Sampled, &o.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return o, station.Errorf(station.ENOTFOUND, "order %s does not exist at this station", id)
	}
	if err != nil {
		return o, formatError(fmt.Errorf("read order %s: %w", id, err))
	}
	o.State = station.OrderState(state)
	rows, err := db.r.QueryContext(ctx, `SELECT reason, count FROM order_rejects WHERE order_id = ?`, id)
	if err != nil {
		return o, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
	}
	defer rows.Close()
	for rows.Next() {
		var reason string
		var n int64
		if err := rows.Scan(&reason, &n); err != nil {
			return o, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
		}
		o.Rejects[station.RejectReason(reason)] = n
	}
	if err := rows.Err(); err != nil {
		return o, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
	}
	return o, nil
}
