package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/linestation/linestation/station"
)

// sqlConn is what the projection functions need: the writer connection
// while appending, and the same connection while rebuilding.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// projectionTables lists the tables derived from the journal, children
// before the tables they reference (the order rebuild empties them in).
func projectionTables() []string {
	return []string{"order_rejects", "aggregation", "ssccs", "serials", "pools", "orders"}
}

// apply updates the projections for one event. It is the only code that
// writes projections, used both when appending and when rebuilding, so a
// rebuild gives the projections that appending gave. It checks what the
// ledger guarantees whatever the domain does: a serial is reserved once per
// GTIN and used only after that, a child has one parent, orders exist and
// change state from the state they are in.
func apply(ctx context.Context, c sqlConn, ev *station.Event, p station.Payload) error {
	switch p := p.(type) {
	case *station.PoolReserved:
		return applyPoolReserved(ctx, c, ev.Seq, p)
	case *station.PoolReturned:
		return applyPoolRelease(ctx, c, ev.Seq, p.GTIN, p.Serials, station.UnitStateReturned, "", "returned")
	case *station.PoolVoided:
		return applyPoolRelease(ctx, c, ev.Seq, p.GTIN, p.Serials, station.UnitStateVoided, p.Reason, "voided")
	case *station.UnitAllocated:
		return applyUnitAllocated(ctx, c, ev.Seq, p)
	case *station.UnitPrinted:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStatePrinted, "", "printed")
	case *station.UnitVerified:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateVerified, "", "verified")
	case *station.UnitCommissioned:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateCommissioned, "", "commissioned")
	case *station.UnitRejected:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateRejected, string(p.Reason), "rejected")
	case *station.UnitDecommissioned:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateDecommissioned, string(p.Reason), "decommissioned")
	case *station.UnitSampled:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateSampled, p.Purpose, "sampled")
	case *station.SSCCAllocated:
		return applySSCCAllocated(ctx, c, ev.Seq, p)
	case *station.AggregationPacked:
		return applyPacked(ctx, c, ev.Seq, p)
	case *station.AggregationUnpacked:
		return applyUnpacked(ctx, c, p)
	case *station.OrderCreated:
		return applyOrderCreated(ctx, c, ev.Seq, p)
	case *station.OrderStateChanged:
		return applyOrderStateChanged(ctx, c, ev.Seq, p)
	case *station.ClockStepped:
		return nil // the journal itself is the record; no projection
	}
	return fmt.Errorf("apply %s: no projection for payload %T", ev.Type, p)
}

func isConstraint(err error) bool {
	var serr sqlite3.Error
	return errors.As(err, &serr) && serr.Code == sqlite3.ErrConstraint
}

func applyPoolReserved(ctx context.Context, c sqlConn, seq int64, p *station.PoolReserved) error {
	for _, s := range p.Serials {
		_, err := c.ExecContext(ctx, `INSERT INTO serials (gtin, serial, state, reason, seq) VALUES (?, ?, 'available', '', ?)`, p.GTIN, s, seq)
		if isConstraint(err) {
			var state string
			var at int64
			if qerr := c.QueryRowContext(ctx, `SELECT state, seq FROM serials WHERE gtin = ? AND serial = ?`, p.GTIN, s).Scan(&state, &at); qerr == nil {
				return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s was already issued to this station (seq %d, now %s): a serial is issued once per GTIN, for ever", s, p.GTIN, at, state)
			}
		}
		if err != nil {
			return formatError(fmt.Errorf("reserve serial %s of GTIN %s: %w", s, p.GTIN, err))
		}
	}
	n := len(p.Serials)
	_, err := c.ExecContext(ctx, `INSERT INTO pools (gtin, reserved, available, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (gtin) DO UPDATE SET reserved = reserved + excluded.reserved, available = available + excluded.available, seq = excluded.seq`,
		p.GTIN, n, n, seq)
	if err != nil {
		return formatError(fmt.Errorf("update pool of GTIN %s: %w", p.GTIN, err))
	}
	return nil
}

// applyPoolRelease moves available serials to returned or voided.
func applyPoolRelease(ctx context.Context, c sqlConn, seq int64, gtin string, serials []string, to station.UnitState, reason, column string) error {
	for _, s := range serials {
		res, err := c.ExecContext(ctx, `UPDATE serials SET state = ?, reason = ?, seq = ? WHERE gtin = ? AND serial = ? AND state = 'available'`, string(to), reason, seq, gtin, s)
		if err != nil {
			return formatError(fmt.Errorf("mark serial %s of GTIN %s %s: %w", s, gtin, to, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return serialProblem(ctx, c, gtin, s, string(to))
		}
	}
	_, err := c.ExecContext(ctx, `UPDATE pools SET available = available - ?, `+column+` = `+column+` + ?, seq = ? WHERE gtin = ?`, len(serials), len(serials), seq, gtin)
	if err != nil {
		return formatError(fmt.Errorf("update pool of GTIN %s: %w", gtin, err))
	}
	return nil
}

// serialProblem explains why a serial could not change state.
func serialProblem(ctx context.Context, c sqlConn, gtin, serial, action string) error {
	var state string
	err := c.QueryRowContext(ctx, `SELECT state FROM serials WHERE gtin = ? AND serial = ?`, gtin, serial).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Errorf(station.ENOTFOUND, "serial %s of GTIN %s was never reserved for this station", serial, gtin)
	}
	if err != nil {
		return formatError(fmt.Errorf("read serial %s of GTIN %s: %w", serial, gtin, err))
	}
	return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is %s: it cannot be %s", serial, gtin, state, action)
}

func applyUnitAllocated(ctx context.Context, c sqlConn, seq int64, p *station.UnitAllocated) error {
	res, err := c.ExecContext(ctx, `UPDATE orders SET allocated = allocated + 1, seq = ? WHERE id = ?`, seq, p.Order)
	if err != nil {
		return formatError(fmt.Errorf("count allocation for order %s: %w", p.Order, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return station.Errorf(station.ENOTFOUND, "order %s does not exist", p.Order)
	}
	res, err = c.ExecContext(ctx, `UPDATE serials SET state = 'allocated', order_id = ?, reason = '', seq = ? WHERE gtin = ? AND serial = ? AND state = 'available'`, p.Order, seq, p.GTIN, p.Serial)
	if err != nil {
		return formatError(fmt.Errorf("allocate serial %s of GTIN %s: %w", p.Serial, p.GTIN, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return serialProblem(ctx, c, p.GTIN, p.Serial, "allocated")
	}
	_, err = c.ExecContext(ctx, `UPDATE pools SET available = available - 1, allocated = allocated + 1, seq = ? WHERE gtin = ?`, seq, p.GTIN)
	if err != nil {
		return formatError(fmt.Errorf("update pool of GTIN %s: %w", p.GTIN, err))
	}
	return nil
}

// applyUnit moves an allocated serial to a new state and counts the event
// on its order (column names the counter). The order is found through the
// serial in SQL (UPDATE ... RETURNING through database/sql costs twenty
// times more here).
func applyUnit(ctx context.Context, c sqlConn, seq int64, gtin, serial string, to station.UnitState, reason, column string) error {
	res, err := c.ExecContext(ctx, `UPDATE serials SET state = ?, reason = ?, seq = ? WHERE gtin = ? AND serial = ? AND order_id IS NOT NULL`,
		string(to), reason, seq, gtin, serial)
	if err != nil {
		return formatError(fmt.Errorf("mark serial %s of GTIN %s %s: %w", serial, gtin, to, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return serialProblem(ctx, c, gtin, serial, string(to)+" (it is not allocated to an order)")
	}
	_, err = c.ExecContext(ctx, `UPDATE orders SET `+column+` = `+column+` + 1, seq = ?
		WHERE id = (SELECT order_id FROM serials WHERE gtin = ? AND serial = ?)`, seq, gtin, serial)
	if err != nil {
		return formatError(fmt.Errorf("count %s of serial %s of GTIN %s on its order: %w", to, serial, gtin, err))
	}
	if to == station.UnitStateRejected {
		_, err := c.ExecContext(ctx, `INSERT INTO order_rejects (order_id, reason, count)
			SELECT order_id, ?, 1 FROM serials WHERE gtin = ? AND serial = ?
			ON CONFLICT (order_id, reason) DO UPDATE SET count = count + 1`, reason, gtin, serial)
		if err != nil {
			return formatError(fmt.Errorf("count reject %s of serial %s of GTIN %s on its order: %w", reason, serial, gtin, err))
		}
	}
	return nil
}

func applySSCCAllocated(ctx context.Context, c sqlConn, seq int64, p *station.SSCCAllocated) error {
	var order any
	if p.Order != "" {
		var one int
		if err := c.QueryRowContext(ctx, `SELECT 1 FROM orders WHERE id = ?`, p.Order).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "order %s does not exist", p.Order)
		} else if err != nil {
			return formatError(fmt.Errorf("read order %s: %w", p.Order, err))
		}
		order = p.Order
	}
	_, err := c.ExecContext(ctx, `INSERT INTO ssccs (sscc, level, order_id, seq) VALUES (?, ?, ?, ?)`, p.SSCC, string(p.Level), order, seq)
	if isConstraint(err) {
		var at int64
		if qerr := c.QueryRowContext(ctx, `SELECT seq FROM ssccs WHERE sscc = ?`, p.SSCC).Scan(&at); qerr == nil {
			return station.Errorf(station.ECONFLICT, "SSCC %s was already allocated (seq %d): an SSCC is never reused", p.SSCC, at)
		}
	}
	if err != nil {
		return formatError(fmt.Errorf("allocate SSCC %s: %w", p.SSCC, err))
	}
	return nil
}

// maxDepth bounds the walk up the aggregation tree (unit, bundle, case,
// pallet need 3; anything deeper than this is refused as corrupt).
const maxDepth = 32

func applyPacked(ctx context.Context, c sqlConn, seq int64, p *station.AggregationPacked) error {
	parent := p.Parent.Key()
	var level string
	err := c.QueryRowContext(ctx, `SELECT level FROM aggregation WHERE parent = ? LIMIT 1`, parent).Scan(&level)
	switch {
	case err == nil && level != string(p.Level):
		return station.Errorf(station.ECONFLICT, "parent %s holds children as a %s, not a %s", parent, level, p.Level)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return formatError(fmt.Errorf("read parent %s: %w", parent, err))
	}
	// The parent and its ancestors may not become children of it.
	ancestors := map[string]bool{parent: true}
	for cur, depth := parent, 0; ; depth++ {
		var up string
		err := c.QueryRowContext(ctx, `SELECT parent FROM aggregation WHERE child = ?`, cur).Scan(&up)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return formatError(fmt.Errorf("read parent of %s: %w", cur, err))
		}
		if ancestors[up] || depth >= maxDepth {
			return fmt.Errorf("aggregation above %s loops or is deeper than %d levels: run 'linestation ledger verify'", parent, maxDepth)
		}
		ancestors[up] = true
		cur = up
	}
	for _, ch := range p.Children {
		child := ch.Key()
		if ancestors[child] {
			return station.Errorf(station.ECONFLICT, "%s cannot be packed into %s: it already holds it", child, parent)
		}
		_, err := c.ExecContext(ctx, `INSERT INTO aggregation (child, parent, level, seq) VALUES (?, ?, ?, ?)`, child, parent, string(p.Level), seq)
		if isConstraint(err) {
			var other string
			var at int64
			if qerr := c.QueryRowContext(ctx, `SELECT parent, seq FROM aggregation WHERE child = ?`, child).Scan(&other, &at); qerr == nil {
				return station.Errorf(station.ECONFLICT, "%s is already in %s (seq %d): unpack it first", child, other, at)
			}
		}
		if err != nil {
			return formatError(fmt.Errorf("pack %s into %s: %w", child, parent, err))
		}
	}
	return nil
}

func applyUnpacked(ctx context.Context, c sqlConn, p *station.AggregationUnpacked) error {
	parent := p.Parent.Key()
	for _, ch := range p.Children {
		child := ch.Key()
		res, err := c.ExecContext(ctx, `DELETE FROM aggregation WHERE child = ? AND parent = ?`, child, parent)
		if err != nil {
			return formatError(fmt.Errorf("unpack %s from %s: %w", child, parent, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var other string
			err := c.QueryRowContext(ctx, `SELECT parent FROM aggregation WHERE child = ?`, child).Scan(&other)
			if errors.Is(err, sql.ErrNoRows) {
				return station.Errorf(station.ECONFLICT, "%s is not in %s: it is in no parent", child, parent)
			}
			if err != nil {
				return formatError(fmt.Errorf("read parent of %s: %w", child, err))
			}
			return station.Errorf(station.ECONFLICT, "%s is not in %s: it is in %s", child, parent, other)
		}
	}
	return nil
}

func applyOrderCreated(ctx context.Context, c sqlConn, seq int64, p *station.OrderCreated) error {
	_, err := c.ExecContext(ctx, `INSERT INTO orders (id, gtin, lot, expiry, quantity, line, state, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Order, p.GTIN, p.Lot, p.Expiry, p.Quantity, p.Line, string(station.OrderPlanned), seq)
	if isConstraint(err) {
		return station.Errorf(station.ECONFLICT, "order %s already exists", p.Order)
	}
	if err != nil {
		return formatError(fmt.Errorf("create order %s: %w", p.Order, err))
	}
	return nil
}

func applyOrderStateChanged(ctx context.Context, c sqlConn, seq int64, p *station.OrderStateChanged) error {
	res, err := c.ExecContext(ctx, `UPDATE orders SET state = ?, seq = ? WHERE id = ? AND state = ?`, string(p.To), seq, p.Order, string(p.From))
	if err != nil {
		return formatError(fmt.Errorf("change state of order %s: %w", p.Order, err))
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var state string
	err = c.QueryRowContext(ctx, `SELECT state FROM orders WHERE id = ?`, p.Order).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Errorf(station.ENOTFOUND, "order %s does not exist", p.Order)
	}
	if err != nil {
		return formatError(fmt.Errorf("read order %s: %w", p.Order, err))
	}
	return station.Errorf(station.ECONFLICT, "order %s is %s, not %s: it cannot become %s", p.Order, state, p.From, p.To)
}
