package localdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	err := db.r.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id).
		Scan(orderTargets(&o, &state)...)
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

// orderColumns are the columns orderTargets scans, in order.
const orderColumns = `id, gtin, lot, expiry, quantity, state, allocated, printed, verified, commissioned,
	rejected, decommissioned, sampled, seq, line, expected_yield, min_grade, voided`

func orderTargets(o *station.OrderStatus, state *string) []any {
	return []any{&o.Order, &o.GTIN, &o.Lot, &o.Expiry, &o.Quantity, state, &o.Allocated, &o.Printed, &o.Verified, &o.Commissioned,
		&o.Rejected, &o.Decommissioned, &o.Sampled, &o.Seq, &o.Line, &o.ExpectedYield, &o.MinGrade, &o.Voided}
}

// Orders returns the orders in any of states (every order when none is
// given), by id, with their reject counts.
func (db *DB) Orders(ctx context.Context, states ...station.OrderState) ([]station.OrderStatus, error) {
	q := `SELECT ` + orderColumns + ` FROM orders`
	var args []any
	if len(states) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(", ?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, string(st))
		}
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, formatError(fmt.Errorf("read orders: %w", err))
	}
	var out []station.OrderStatus
	for rows.Next() {
		var o station.OrderStatus
		var state string
		if err := rows.Scan(orderTargets(&o, &state)...); err != nil {
			rows.Close()
			return nil, formatError(fmt.Errorf("read orders: %w", err))
		}
		o.State = station.OrderState(state)
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read orders: %w", err))
	}
	for i := range out {
		full, err := db.Order(ctx, out[i].Order)
		if err != nil {
			return nil, err
		}
		out[i].Rejects = full.Rejects
	}
	return out, nil
}

// OrderUnits counts the order's serials of its GTIN by state and where the
// commissioned ones are.
func (db *DB) OrderUnits(ctx context.Context, order string) (station.OrderUnits, error) {
	u := station.OrderUnits{States: map[station.UnitState]int64{}, Decommissions: map[string]int64{}, Samples: map[string]int64{}}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return u, formatError(fmt.Errorf("count units of order %s: %w", order, err))
	}
	defer tx.Rollback()
	var ostate string
	if err := tx.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, order).Scan(orderTargets(&u.Order, &ostate)...); errors.Is(err, sql.ErrNoRows) {
		return u, station.Errorf(station.ENOTFOUND, "order %s does not exist at this station", order)
	} else if err != nil {
		return u, formatError(fmt.Errorf("count units of order %s: %w", order, err))
	}
	u.Order.State = station.OrderState(ostate)
	u.Order.Rejects = map[station.RejectReason]int64{}
	gtin := u.Order.GTIN
	rrows, err := tx.QueryContext(ctx, `SELECT reason, count FROM order_rejects WHERE order_id = ?`, order)
	if err != nil {
		return u, formatError(fmt.Errorf("read rejects of order %s: %w", order, err))
	}
	for rrows.Next() {
		var reason string
		var n int64
		if err := rrows.Scan(&reason, &n); err != nil {
			rrows.Close()
			return u, formatError(fmt.Errorf("read rejects of order %s: %w", order, err))
		}
		u.Order.Rejects[station.RejectReason(reason)] = n
	}
	rrows.Close()
	u.AsOf = station.Head{Hash: station.GenesisHash}
	var ts string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash, time FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&u.AsOf.Seq, &u.AsOf.Hash, &ts)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return u, formatError(fmt.Errorf("read head: %w", err))
	}
	if err == nil {
		if u.AsOf.Time, err = station.ParseTime(ts); err != nil {
			return u, err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT state, reason, COUNT(*) FROM serials WHERE order_id = ? AND gtin = ? GROUP BY state, reason`, order, gtin)
	if err != nil {
		return u, formatError(fmt.Errorf("count units of order %s: %w", order, err))
	}
	for rows.Next() {
		var state, reason string
		var n int64
		if err := rows.Scan(&state, &reason, &n); err != nil {
			rows.Close()
			return u, formatError(fmt.Errorf("count units of order %s: %w", order, err))
		}
		u.States[station.UnitState(state)] += n
		switch station.UnitState(state) {
		case station.UnitStateDecommissioned:
			u.Decommissions[reason] += n
		case station.UnitStateSampled:
			u.Samples[reason] += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return u, formatError(fmt.Errorf("count units of order %s: %w", order, err))
	}
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM serials s JOIN aggregation a ON a.child = '(01)' || s.gtin || '(21)' || s.serial
		WHERE s.order_id = ? AND s.gtin = ? AND s.state = 'commissioned'`, order, gtin).Scan(&u.Aggregated)
	if err != nil {
		return u, formatError(fmt.Errorf("count aggregated units of order %s: %w", order, err))
	}
	return u, nil
}

// OrderSerials returns up to limit serials of the order's GTIN allocated to
// it that are in state, oldest first.
func (db *DB) OrderSerials(ctx context.Context, order string, state station.UnitState, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT s.serial FROM serials s JOIN orders o ON o.id = s.order_id
		WHERE s.order_id = ? AND s.state = ? AND s.gtin = o.gtin ORDER BY s.seq, s.rowid LIMIT ?`, order, string(state), limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read %s serials of order %s: %w", state, order, err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sr string
		if err := rows.Scan(&sr); err != nil {
			return nil, formatError(fmt.Errorf("read %s serials of order %s: %w", state, order, err))
		}
		out = append(out, sr)
	}
	return out, formatError(rows.Err())
}

// MaxSSCC returns the largest SSCC allocated here between from and to
// (inclusive), or "" when there is none.
func (db *DB) MaxSSCC(ctx context.Context, from, to string) (string, error) {
	var top sql.NullString
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(sscc) FROM ssccs WHERE sscc BETWEEN ? AND ?`, from, to).Scan(&top); err != nil {
		return "", formatError(fmt.Errorf("read SSCCs from %s to %s: %w", from, to, err))
	}
	return top.String, nil
}

// SSCCRanges returns the blocks of SSCC serial references of a company
// prefix this station received, by first reference.
func (db *DB) SSCCRanges(ctx context.Context, prefix string) ([]station.SSCCRange, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT first, last, block FROM sscc_ranges WHERE prefix = ? ORDER BY first`, prefix)
	if err != nil {
		return nil, formatError(fmt.Errorf("read SSCC ranges of company prefix %s: %w", prefix, err))
	}
	defer rows.Close()
	var out []station.SSCCRange
	for rows.Next() {
		r := station.SSCCRange{Prefix: prefix}
		var first, last int64
		if err := rows.Scan(&first, &last, &r.Block); err != nil {
			return nil, formatError(fmt.Errorf("read SSCC ranges of company prefix %s: %w", prefix, err))
		}
		r.First, r.Last = uint64(first), uint64(last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read SSCC ranges of company prefix %s: %w", prefix, err))
	}
	return out, nil
}

// Product returns the product whose unit or packaging-level GTIN is gtin.
func (db *DB) Product(ctx context.Context, gtin string) (station.Product, error) {
	var p station.Product
	var body string
	err := db.r.QueryRowContext(ctx, `SELECT p.body FROM product_gtins g JOIN products p ON p.gtin = g.product WHERE g.gtin = ?`, gtin).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return p, station.Errorf(station.ENOTFOUND, "no product has GTIN %s at this station", gtin)
	} else if err != nil {
		return p, formatError(fmt.Errorf("read product %s: %w", gtin, err))
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return p, fmt.Errorf("read product %s: %w", gtin, err)
	}
	return p, nil
}

// Products returns every product, by unit GTIN.
func (db *DB) Products(ctx context.Context) ([]station.Product, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT body FROM products ORDER BY gtin`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read products: %w", err))
	}
	defer rows.Close()
	var out []station.Product
	for rows.Next() {
		var body string
		var p station.Product
		if err := rows.Scan(&body); err != nil {
			return nil, formatError(fmt.Errorf("read products: %w", err))
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			return nil, fmt.Errorf("read products: %w", err)
		}
		out = append(out, p)
	}
	return out, formatError(rows.Err())
}

const userColumns = `body, kind, hash, failures, locked, lock_reason, seq`

func scanUser(row interface{ Scan(...any) error }) (station.UserRecord, error) {
	var u station.UserRecord
	var body, kind string
	if err := row.Scan(&body, &kind, &u.Hash, &u.Failures, &u.Locked, &u.LockReason, &u.Seq); err != nil {
		return u, err
	}
	u.Kind = station.CredentialKind(kind)
	if err := json.Unmarshal([]byte(body), &u.User); err != nil {
		return u, fmt.Errorf("decode user: %w", err)
	}
	return u, nil
}

// User returns an account with its credential and sign-in state.
func (db *DB) User(ctx context.Context, id string) (station.UserRecord, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, station.Errorf(station.ENOTFOUND, "user %s is not known at this station", id)
	}
	return u, formatError(err)
}

// UserByBadge returns the account with that badge id.
func (db *DB) UserByBadge(ctx context.Context, badge string) (station.UserRecord, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE badge = ?`, badge))
	if errors.Is(err, sql.ErrNoRows) {
		return u, station.Errorf(station.ENOTFOUND, "no user has badge %s at this station", badge)
	}
	return u, formatError(err)
}

// Users returns every account, by id.
func (db *DB) Users(ctx context.Context) ([]station.UserRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read users: %w", err))
	}
	defer rows.Close()
	var out []station.UserRecord
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("read users: %w", err))
		}
		out = append(out, u)
	}
	return out, formatError(rows.Err())
}

const containerColumns = `c.item, c.level, c.order_id, c.capacity, c.status, c.partial, c.labeled, c.seq,
	(SELECT COUNT(*) FROM aggregation a WHERE a.parent = c.item)`

func scanContainer(row interface{ Scan(...any) error }) (station.ContainerState, error) {
	var c station.ContainerState
	var key, level, status string
	if err := row.Scan(&key, &level, &c.Order, &c.Capacity, &status, &c.Partial, &c.Labeled, &c.Seq, &c.Count); err != nil {
		return c, err
	}
	it, err := station.ParseItemKey(key)
	if err != nil {
		return c, err
	}
	c.Parent, c.Level, c.Status = it, station.AggregationLevel(level), station.ContainerStatus(status)
	return c, nil
}

// Container returns a bundle, case or pallet opened at this station.
func (db *DB) Container(ctx context.Context, parent station.Item) (station.ContainerState, error) {
	c, err := scanContainer(db.r.QueryRowContext(ctx, `SELECT `+containerColumns+` FROM containers c WHERE c.item = ?`, parent.Key()))
	if errors.Is(err, sql.ErrNoRows) {
		return c, station.Errorf(station.ENOTFOUND, "%s was not opened at this station", parent.Key())
	}
	return c, formatError(err)
}

// Containers returns the containers opened for an order, in opening order.
func (db *DB) Containers(ctx context.Context, order string) ([]station.ContainerState, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+containerColumns+` FROM containers c WHERE c.order_id = ? ORDER BY c.rowid`, order)
	if err != nil {
		return nil, formatError(fmt.Errorf("read containers of order %s: %w", order, err))
	}
	defer rows.Close()
	var out []station.ContainerState
	for rows.Next() {
		c, err := scanContainer(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("read containers of order %s: %w", order, err))
		}
		out = append(out, c)
	}
	return out, formatError(rows.Err())
}

// Shipment returns a shipment with its items.
func (db *DB) Shipment(ctx context.Context, id string) (station.ShipmentState, error) {
	var sh station.ShipmentState
	var body, status string
	err := db.r.QueryRowContext(ctx, `SELECT body, status, seq FROM shipments WHERE id = ?`, id).Scan(&body, &status, &sh.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return sh, station.Errorf(station.ENOTFOUND, "shipment %s does not exist at this station", id)
	} else if err != nil {
		return sh, formatError(fmt.Errorf("read shipment %s: %w", id, err))
	}
	if err := json.Unmarshal([]byte(body), &sh.Shipment); err != nil {
		return sh, fmt.Errorf("read shipment %s: %w", id, err)
	}
	sh.Status = station.ShipmentStatus(status)
	rows, err := db.r.QueryContext(ctx, `SELECT item FROM shipment_items WHERE shipment = ? ORDER BY seq, rowid`, id)
	if err != nil {
		return sh, formatError(fmt.Errorf("read items of shipment %s: %w", id, err))
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return sh, formatError(fmt.Errorf("read items of shipment %s: %w", id, err))
		}
		it, err := station.ParseItemKey(key)
		if err != nil {
			return sh, fmt.Errorf("read items of shipment %s: %w", id, err)
		}
		sh.Items = append(sh.Items, it)
	}
	return sh, formatError(rows.Err())
}

// Stock returns the warehouse record of an item (in stock when none).
func (db *DB) Stock(ctx context.Context, item station.Item) (station.StockState, error) {
	st := station.StockState{Item: item, Status: station.StockInStock}
	var status string
	err := db.r.QueryRowContext(ctx, `SELECT status, shipment, reason, seq FROM stock WHERE item = ?`, item.Key()).Scan(&status, &st.Shipment, &st.Reason, &st.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	} else if err != nil {
		return st, formatError(fmt.Errorf("read stock of %s: %w", item.Key(), err))
	}
	st.Status = station.StockStatus(status)
	return st, nil
}

// StockBelow returns the warehouse records of root's descendants that have one.
func (db *DB) StockBelow(ctx context.Context, root station.Item) ([]station.StockState, error) {
	rows, err := db.r.QueryContext(ctx, `WITH RECURSIVE t (child, depth) AS (
			SELECT child, 1 FROM aggregation WHERE parent = ?1
			UNION ALL
			SELECT a.child, t.depth + 1 FROM aggregation a JOIN t ON a.parent = t.child WHERE t.depth < `+fmt.Sprint(maxDepth)+`
		)
		SELECT s.item, s.status, s.shipment, s.reason, s.seq FROM t JOIN stock s ON s.item = t.child ORDER BY s.seq`, root.Key())
	if err != nil {
		return nil, formatError(fmt.Errorf("read stock below %s: %w", root.Key(), err))
	}
	defer rows.Close()
	var out []station.StockState
	for rows.Next() {
		var st station.StockState
		var key, status string
		if err := rows.Scan(&key, &status, &st.Shipment, &st.Reason, &st.Seq); err != nil {
			return nil, formatError(fmt.Errorf("read stock below %s: %w", root.Key(), err))
		}
		if st.Item, err = station.ParseItemKey(key); err != nil {
			return nil, err
		}
		st.Status = station.StockStatus(status)
		out = append(out, st)
	}
	return out, formatError(rows.Err())
}

const centralHoldColumns = `h.hold, h.investigation, h.item, h.gtin, h.lot, h.reason, h.placed_by`

func scanCentralHold(sc interface{ Scan(...any) error }, extra ...any) (station.CentralHold, error) {
	var h station.CentralHold
	err := sc.Scan(append(extra, &h.ID, &h.Investigation, &h.Item, &h.GTIN, &h.Lot, &h.Reason, &h.PlacedBy)...)
	return h, err
}

// CentralHold returns a central hold in force; ENOTFOUND when none is.
func (db *DB) CentralHold(ctx context.Context, id int64) (station.CentralHold, error) {
	h, err := scanCentralHold(db.r.QueryRowContext(ctx, `SELECT `+centralHoldColumns+` FROM central_holds h WHERE h.hold = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, station.Errorf(station.ENOTFOUND, "central hold %d is not in force at this station", id)
	}
	if err != nil {
		return h, formatError(fmt.Errorf("read central hold %d: %w", id, err))
	}
	return h, nil
}

// CentralHolds returns every central hold in force, by id.
func (db *DB) CentralHolds(ctx context.Context) ([]station.CentralHold, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+centralHoldColumns+` FROM central_holds h ORDER BY h.hold`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read central holds: %w", err))
	}
	defer rows.Close()
	var out []station.CentralHold
	for rows.Next() {
		h, err := scanCentralHold(rows)
		if err != nil {
			return nil, formatError(fmt.Errorf("read central holds: %w", err))
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read central holds: %w", err))
	}
	return out, nil
}

// HoldsOn returns the central holds in force on root or on anything packed
// in it: holds on the item itself, and lot holds on the lot of a pack (its
// GTIN and its order's lot), by hold id.
func (db *DB) HoldsOn(ctx context.Context, root station.Item) ([]station.ItemHold, error) {
	// Most of the time no hold is in force: skip the walk down the tree.
	var held bool
	if err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM central_holds)`).Scan(&held); err != nil {
		return nil, formatError(fmt.Errorf("read central holds: %w", err))
	}
	if !held {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `WITH RECURSIVE t (item, depth) AS (
			SELECT ?1, 0
			UNION ALL
			SELECT a.child, t.depth + 1 FROM aggregation a JOIN t ON a.parent = t.item WHERE t.depth < `+fmt.Sprint(maxDepth)+`
		)
		SELECT t.item, `+centralHoldColumns+` FROM t JOIN central_holds h ON h.item = t.item AND h.item <> ''
		UNION ALL
		SELECT t.item, `+centralHoldColumns+` FROM t
			JOIN serials s ON t.item LIKE '(01)%' AND s.gtin = substr(t.item, 5, 14) AND s.serial = substr(t.item, 23)
			JOIN orders o ON o.id = s.order_id
			JOIN central_holds h ON h.item = '' AND h.gtin = s.gtin AND h.lot = o.lot
		ORDER BY 2`, root.Key())
	if err != nil {
		return nil, formatError(fmt.Errorf("read central holds on %s: %w", root.Key(), err))
	}
	defer rows.Close()
	var out []station.ItemHold
	for rows.Next() {
		var key string
		h, err := scanCentralHold(rows, &key)
		if err != nil {
			return nil, formatError(fmt.Errorf("read central holds on %s: %w", root.Key(), err))
		}
		it, err := station.ParseItemKey(key)
		if err != nil {
			return nil, err
		}
		out = append(out, station.ItemHold{Item: it, Hold: h})
	}
	return out, formatError(rows.Err())
}
