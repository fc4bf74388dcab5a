package localdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/linestation/linestation/localdb/internal/sqlitex"
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
	return []string{"central_holds", "sscc_ranges", "order_rejects", "shipment_items", "shipments", "stock", "containers", "aggregation", "ssccs", "serials", "pools",
		"product_gtins", "products", "users", "orders"}
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
	case *station.UnitVoided:
		return applyUnitVoided(ctx, c, ev.Seq, p)
	case *station.UnitPrinted:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStatePrinted, "", "printed")
	case *station.UnitVerified:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateVerified, "", "verified")
	case *station.UnitCommissioned:
		if ev.ClockState == station.ClockUnsynced {
			return station.Errorf(station.ECLOCK, "serial %s of GTIN %s cannot be commissioned: the station clock is not trusted (unsynced)", p.Serial, p.GTIN)
		}
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateCommissioned, "", "commissioned")
	case *station.UnitRejected:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateRejected, string(p.Reason), "rejected")
	case *station.UnitDecommissioned:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateDecommissioned, string(p.Reason), "decommissioned")
	case *station.UnitSampled:
		return applyUnit(ctx, c, ev.Seq, p.GTIN, p.Serial, station.UnitStateSampled, p.Purpose, "sampled")
	case *station.SSCCAllocated:
		return applySSCCAllocated(ctx, c, ev.Seq, p)
	case *station.SSCCRangeReceived:
		return applySSCCRange(ctx, c, ev.Seq, p)
	case *station.AggregationPacked:
		return applyPacked(ctx, c, ev.Seq, p)
	case *station.AggregationUnpacked:
		return applyUnpacked(ctx, c, ev.Seq, p)
	case *station.AggregationOpened:
		return applyOpened(ctx, c, ev.Seq, p)
	case *station.AggregationClosed:
		return applyClosed(ctx, c, ev.Seq, p)
	case *station.OrderCreated:
		return applyOrderCreated(ctx, c, ev.Seq, p)
	case *station.OrderStateChanged:
		return applyOrderStateChanged(ctx, c, ev.Seq, p)
	case *station.ClockStepped:
		return nil // the journal itself is the record; no projection
	case *station.ProductDefined:
		return applyProductDefined(ctx, c, ev.Seq, p)
	case *station.UserDefined:
		return applyUserDefined(ctx, c, ev.Seq, p)
	case *station.UserCredentialSet:
		return applyUser(ctx, c, ev.Seq, p.User, `kind = ?, hash = ?, failures = 0, locked = 0, lock_reason = ''`, string(p.Kind), p.Hash)
	case *station.UserSignedIn:
		return applyUser(ctx, c, ev.Seq, p.User, `failures = 0`)
	case *station.UserSignInFailed:
		// Unknown ids are recorded in the journal only.
		_, err := c.ExecContext(ctx, `UPDATE users SET failures = failures + 1, seq = ? WHERE id = ?`, ev.Seq, p.User)
		return formatError(err)
	case *station.UserLocked:
		return applyUser(ctx, c, ev.Seq, p.User, `locked = 1, lock_reason = ?`, p.Reason)
	case *station.UserUnlocked:
		return applyUser(ctx, c, ev.Seq, p.User, `locked = 0, lock_reason = '', failures = 0`)
	case *station.SignatureRecorded, *station.OrderReconciled:
		return nil // the journal itself is the record
	case *station.InboundReceived:
		return nil // the journal is the record: the partner's items are not this station's serials
	case *station.ShipmentCreated:
		return applyShipmentCreated(ctx, c, ev.Seq, p)
	case *station.ShipmentPicked:
		return applyPicked(ctx, c, ev.Seq, p)
	case *station.ShipmentUnpicked:
		return applyUnpicked(ctx, c, ev.Seq, p)
	case *station.ShipmentPacked:
		return applyShipmentState(ctx, c, ev.Seq, p.Shipment, station.ShipmentStatusOpen, station.ShipmentStatusPacked)
	case *station.ShipmentShipped:
		if err := applyShipmentState(ctx, c, ev.Seq, p.Shipment, station.ShipmentStatusPacked, station.ShipmentStatusShipped); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, `UPDATE stock SET status = 'shipped', seq = ? WHERE shipment = ? AND status = 'picked'`, ev.Seq, p.Shipment)
		return formatError(err)
	case *station.StockReceived:
		return applyStock(ctx, c, ev.Seq, p.Items, []station.StockStatus{station.StockShipped}, station.StockInStock, "received from "+p.From, "received")
	case *station.StockReturned:
		return applyStock(ctx, c, ev.Seq, p.Items, []station.StockStatus{station.StockShipped, station.StockInStock}, station.StockInQuarantine,
			"returned by "+p.From+": "+p.Reason, "returned")
	case *station.StockQuarantined:
		return applyStock(ctx, c, ev.Seq, p.Items, []station.StockStatus{station.StockInStock}, station.StockInQuarantine, p.Reason, "quarantined")
	case *station.StockReleased:
		return applyStock(ctx, c, ev.Seq, p.Items, []station.StockStatus{station.StockInQuarantine}, station.StockInStock, "", "released")
	case *station.StockHeld:
		_, err := c.ExecContext(ctx, `INSERT INTO central_holds (hold, investigation, item, gtin, lot, reason, placed_by, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hold) DO UPDATE SET reason = excluded.reason, seq = excluded.seq`,
			p.Hold, p.Investigation, itemKeyOrEmpty(p.Item), p.GTIN, p.Lot, p.Reason, p.By, ev.Seq)
		return formatError(err)
	case *station.StockHoldReleased:
		res, err := c.ExecContext(ctx, `DELETE FROM central_holds WHERE hold = ?`, p.Hold)
		if err != nil {
			return formatError(err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return station.Errorf(station.ENOTFOUND, "central hold %d is not in force at this station", p.Hold)
		}
		return nil
	}
	return fmt.Errorf("apply %s: no projection for payload %T", ev.Type, p)
}

func isConstraint(err error) bool { return sqlitex.IsConstraint(err) }

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
	// The order counts serials of its own GTIN; serials of a packaging
	// level's GTIN (bundles, cases) are allocated to it too, uncounted.
	res, err := c.ExecContext(ctx, `UPDATE orders SET allocated = allocated + (gtin = ?), seq = ? WHERE id = ?`, p.GTIN, seq, p.Order)
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

// unitFrom lists, for each unit event's target state, the states a serial
// may be in before it (as SQL), so that every pack goes allocated ->
// printed -> (verified ->) commissioned or rejected, and only a
// commissioned pack is decommissioned or sampled. Each counter of an order
// then counts each pack at most once, which keeps its reconciliation true.
var unitFrom = map[station.UnitState][]station.UnitState{
	station.UnitStatePrinted:        {station.UnitStateAllocated},
	station.UnitStateVerified:       {station.UnitStatePrinted},
	station.UnitStateCommissioned:   {station.UnitStatePrinted, station.UnitStateVerified},
	station.UnitStateRejected:       {station.UnitStatePrinted, station.UnitStateVerified},
	station.UnitStateDecommissioned: {station.UnitStateCommissioned},
	station.UnitStateSampled:        {station.UnitStateCommissioned},
}

// applyUnit moves a serial allocated to an order to a new state and counts
// the event on its order (column names the counter) when the serial is of
// the order's GTIN. The order is found through the serial in SQL (UPDATE
// ... RETURNING through database/sql costs twenty times more here).
func applyUnit(ctx context.Context, c sqlConn, seq int64, gtin, serial string, to station.UnitState, reason, column string) error {
	from := unitFrom[to]
	res, err := c.ExecContext(ctx, `UPDATE serials SET state = ?, reason = ?, seq = ? WHERE gtin = ? AND serial = ? AND order_id IS NOT NULL AND state IN (?, ?)`,
		string(to), reason, seq, gtin, serial, string(from[0]), string(from[len(from)-1]))
	if err != nil {
		return formatError(fmt.Errorf("mark serial %s of GTIN %s %s: %w", serial, gtin, to, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return unitProblem(ctx, c, gtin, serial, to, from)
	}
	_, err = c.ExecContext(ctx, `UPDATE orders SET `+column+` = `+column+` + 1, seq = ?
		WHERE id = (SELECT order_id FROM serials WHERE gtin = ? AND serial = ?) AND gtin = ?`, seq, gtin, serial, gtin)
	if err != nil {
		return formatError(fmt.Errorf("count %s of serial %s of GTIN %s on its order: %w", to, serial, gtin, err))
	}
	if to == station.UnitStateRejected {
		_, err := c.ExecContext(ctx, `INSERT INTO order_rejects (order_id, reason, count)
			SELECT s.order_id, ?, 1 FROM serials s JOIN orders o ON o.id = s.order_id WHERE s.gtin = ? AND s.serial = ? AND o.gtin = s.gtin
			ON CONFLICT (order_id, reason) DO UPDATE SET count = count + 1`, reason, gtin, serial)
		if err != nil {
			return formatError(fmt.Errorf("count reject %s of serial %s of GTIN %s on its order: %w", reason, serial, gtin, err))
		}
	}
	return nil
}

// unitProblem explains why a serial could not move to state to.
func unitProblem(ctx context.Context, c sqlConn, gtin, serial string, to station.UnitState, from []station.UnitState) error {
	var state string
	err := c.QueryRowContext(ctx, `SELECT state FROM serials WHERE gtin = ? AND serial = ?`, gtin, serial).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Errorf(station.ENOTFOUND, "serial %s of GTIN %s was never reserved for this station", serial, gtin)
	}
	if err != nil {
		return formatError(fmt.Errorf("read serial %s of GTIN %s: %w", serial, gtin, err))
	}
	if state == string(station.UnitStateAvailable) {
		return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is available, not allocated to an order: it cannot be %s", serial, gtin, to)
	}
	names := make([]string, len(from))
	for i, f := range from {
		names[i] = string(f)
	}
	return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is %s: it cannot be %s (only a %s pack can)", serial, gtin, state, to, strings.Join(names, " or "))
}

// applyUnitVoided moves allocated, never printed serials of an order to
// voided.
func applyUnitVoided(ctx context.Context, c sqlConn, seq int64, p *station.UnitVoided) error {
	for _, s := range p.Serials {
		res, err := c.ExecContext(ctx, `UPDATE serials SET state = 'voided', reason = ?, seq = ? WHERE gtin = ? AND serial = ? AND state = 'allocated' AND order_id = ?`,
			p.Reason, seq, p.GTIN, s, p.Order)
		if err != nil {
			return formatError(fmt.Errorf("void serial %s of GTIN %s: %w", s, p.GTIN, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var state string
			var order sql.NullString
			err := c.QueryRowContext(ctx, `SELECT state, order_id FROM serials WHERE gtin = ? AND serial = ?`, p.GTIN, s).Scan(&state, &order)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return station.Errorf(station.ENOTFOUND, "serial %s of GTIN %s was never reserved for this station", s, p.GTIN)
			case err != nil:
				return formatError(fmt.Errorf("read serial %s of GTIN %s: %w", s, p.GTIN, err))
			case order.String != p.Order:
				return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is not allocated to order %s", s, p.GTIN, p.Order)
			}
			return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is %s: only an allocated, unprinted serial can be voided", s, p.GTIN, state)
		}
	}
	_, err := c.ExecContext(ctx, `UPDATE orders SET voided = voided + ?, seq = ? WHERE id = ? AND gtin = ?`, len(p.Serials), seq, p.Order, p.GTIN)
	return formatError(err)
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

// applySSCCRange records a block of SSCC serial references; one that
// overlaps a block held before is refused, since its SSCCs could be made
// twice.
func applySSCCRange(ctx context.Context, c sqlConn, seq int64, p *station.SSCCRangeReceived) error {
	var first, last, at int64
	err := c.QueryRowContext(ctx, `SELECT first, last, seq FROM sscc_ranges WHERE prefix = ? AND first <= ? AND last >= ? LIMIT 1`,
		p.Prefix, int64(p.Last), int64(p.First)).Scan(&first, &last, &at)
	if err == nil {
		return station.Errorf(station.ECONFLICT, "SSCC block %d..%d of company prefix %s overlaps the block %d..%d this station received at seq %d: a block is given once",
			p.First, p.Last, p.Prefix, first, last, at)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return formatError(fmt.Errorf("read SSCC ranges of company prefix %s: %w", p.Prefix, err))
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO sscc_ranges (prefix, first, last, block, seq) VALUES (?, ?, ?, ?, ?)`,
		p.Prefix, int64(p.First), int64(p.Last), p.Block, seq); err != nil {
		return formatError(fmt.Errorf("record SSCC block %d of company prefix %s: %w", p.Block, p.Prefix, err))
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
	var status string
	var capacity int
	err = c.QueryRowContext(ctx, `SELECT status, capacity, level FROM containers WHERE item = ?`, parent).Scan(&status, &capacity, &level)
	switch {
	case err == nil && status != string(station.ContainerOpen):
		return station.Errorf(station.ECONFLICT, "%s %s is %s: nothing can be packed into it", level, parent, status)
	case err == nil && level != string(p.Level):
		return station.Errorf(station.ECONFLICT, "%s was opened as a %s, not a %s", parent, level, p.Level)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return formatError(fmt.Errorf("read container %s: %w", parent, err))
	}
	if err == nil {
		var n int
		if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM aggregation WHERE parent = ?`, parent).Scan(&n); err != nil {
			return formatError(fmt.Errorf("count children of %s: %w", parent, err))
		}
		if n+len(p.Children) > capacity {
			return station.Errorf(station.ECONFLICT, "%s %s holds %d of %d: %d more do not fit", level, parent, n, capacity, len(p.Children))
		}
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

func applyUnpacked(ctx context.Context, c sqlConn, seq int64, p *station.AggregationUnpacked) error {
	parent := p.Parent.Key()
	// A closed container that loses a child is open again.
	if _, err := c.ExecContext(ctx, `UPDATE containers SET status = 'open', seq = ? WHERE item = ? AND status = 'closed'`, seq, parent); err != nil {
		return formatError(fmt.Errorf("reopen %s: %w", parent, err))
	}
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
	_, err := c.ExecContext(ctx, `INSERT INTO orders (id, gtin, lot, expiry, quantity, line, state, seq, expected_yield, min_grade) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Order, p.GTIN, p.Lot, p.Expiry, p.Quantity, p.Line, string(station.OrderPlanned), seq, p.ExpectedYield, p.MinGrade)
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

func applyProductDefined(ctx context.Context, c sqlConn, seq int64, p *station.ProductDefined) error {
	body, err := json.Marshal(p.Product)
	if err != nil {
		return fmt.Errorf("encode product %s: %w", p.Product.GTIN, err)
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO products (gtin, body, seq) VALUES (?, ?, ?)
		ON CONFLICT (gtin) DO UPDATE SET body = excluded.body, seq = excluded.seq`, p.Product.GTIN, string(body), seq); err != nil {
		return formatError(fmt.Errorf("record product %s: %w", p.Product.GTIN, err))
	}
	if _, err := c.ExecContext(ctx, `DELETE FROM product_gtins WHERE product = ?`, p.Product.GTIN); err != nil {
		return formatError(fmt.Errorf("record product %s: %w", p.Product.GTIN, err))
	}
	add := func(gtin string, level station.AggregationLevel) error {
		_, err := c.ExecContext(ctx, `INSERT INTO product_gtins (gtin, product, level) VALUES (?, ?, ?)`, gtin, p.Product.GTIN, string(level))
		if isConstraint(err) {
			var other string
			_ = c.QueryRowContext(ctx, `SELECT product FROM product_gtins WHERE gtin = ?`, gtin).Scan(&other)
			return station.Errorf(station.ECONFLICT, "GTIN %s already belongs to product %s", gtin, other)
		}
		return formatError(err)
	}
	if err := add(p.Product.GTIN, station.LevelUnit); err != nil {
		return err
	}
	for _, l := range p.Product.Levels {
		if l.GTIN != "" {
			if err := add(l.GTIN, l.Level); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyUserDefined(ctx context.Context, c sqlConn, seq int64, p *station.UserDefined) error {
	body, err := json.Marshal(p.User)
	if err != nil {
		return fmt.Errorf("encode user %s: %w", p.User.ID, err)
	}
	var badge any
	if p.User.Badge != "" {
		badge = p.User.Badge
	}
	_, err = c.ExecContext(ctx, `INSERT INTO users (id, body, badge, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET body = excluded.body, badge = excluded.badge, seq = excluded.seq`, p.User.ID, string(body), badge, seq)
	if isConstraint(err) {
		return station.Errorf(station.ECONFLICT, "badge %s already belongs to another user", p.User.Badge)
	}
	return formatError(err)
}

// applyUser sets columns of an existing user (set is "col = ?, ...").
func applyUser(ctx context.Context, c sqlConn, seq int64, id, set string, args ...any) error {
	res, err := c.ExecContext(ctx, `UPDATE users SET `+set+`, seq = ? WHERE id = ?`, append(args, seq, id)...)
	if err != nil {
		return formatError(fmt.Errorf("update user %s: %w", id, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return station.Errorf(station.ENOTFOUND, "user %s does not exist", id)
	}
	return nil
}

func applyOpened(ctx context.Context, c sqlConn, seq int64, p *station.AggregationOpened) error {
	key := p.Parent.Key()
	var one int
	if p.Parent.SSCC != "" {
		err := c.QueryRowContext(ctx, `SELECT 1 FROM ssccs WHERE sscc = ?`, p.Parent.SSCC).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "SSCC %s was not allocated at this station", p.Parent.SSCC)
		} else if err != nil {
			return formatError(err)
		}
	} else {
		err := c.QueryRowContext(ctx, `SELECT 1 FROM serials WHERE gtin = ? AND serial = ? AND order_id = ?`, p.Parent.GTIN, p.Parent.Serial, p.Order).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "%s is not a serial allocated to order %s", key, p.Order)
		} else if err != nil {
			return formatError(err)
		}
	}
	_, err := c.ExecContext(ctx, `INSERT INTO containers (item, level, order_id, capacity, status, seq) VALUES (?, ?, ?, ?, 'open', ?)`,
		key, string(p.Level), p.Order, p.Capacity, seq)
	if isConstraint(err) {
		if qerr := c.QueryRowContext(ctx, `SELECT 1 FROM orders WHERE id = ?`, p.Order).Scan(&one); errors.Is(qerr, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "order %s does not exist", p.Order)
		}
		return station.Errorf(station.ECONFLICT, "%s was already opened", key)
	}
	return formatError(err)
}

func applyClosed(ctx context.Context, c sqlConn, seq int64, p *station.AggregationClosed) error {
	key := p.Parent.Key()
	var status, level string
	var capacity int
	err := c.QueryRowContext(ctx, `SELECT status, level, capacity FROM containers WHERE item = ?`, key).Scan(&status, &level, &capacity)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Errorf(station.ENOTFOUND, "%s was not opened at this station", key)
	} else if err != nil {
		return formatError(fmt.Errorf("read container %s: %w", key, err))
	}
	if status != string(station.ContainerOpen) {
		return station.Errorf(station.ECONFLICT, "%s %s is already %s", level, key, status)
	}
	if level != string(p.Level) {
		return station.Errorf(station.ECONFLICT, "%s is a %s, not a %s", key, level, p.Level)
	}
	var n int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM aggregation WHERE parent = ?`, key).Scan(&n); err != nil {
		return formatError(fmt.Errorf("count children of %s: %w", key, err))
	}
	if n != p.Count {
		return station.Errorf(station.ECONFLICT, "%s %s holds %d children, not %d", level, key, n, p.Count)
	}
	if !p.Partial && n < capacity {
		return station.Errorf(station.ECONFLICT, "%s %s holds %d of %d: closing it short is a partial close", level, key, n, capacity)
	}
	_, err = c.ExecContext(ctx, `UPDATE containers SET status = 'closed', partial = ?, labeled = (labeled OR ?), seq = ? WHERE item = ?`,
		p.Partial, p.Device != "", seq, key)
	return formatError(err)
}

func applyShipmentCreated(ctx context.Context, c sqlConn, seq int64, p *station.ShipmentCreated) error {
	body, err := json.Marshal(p.Shipment)
	if err != nil {
		return fmt.Errorf("encode shipment %s: %w", p.Shipment.ID, err)
	}
	_, err = c.ExecContext(ctx, `INSERT INTO shipments (id, body, status, seq) VALUES (?, ?, 'open', ?)`, p.Shipment.ID, string(body), seq)
	if isConstraint(err) {
		return station.Errorf(station.ECONFLICT, "shipment %s already exists", p.Shipment.ID)
	}
	return formatError(err)
}

// shipmentStatus reads a shipment's status; ENOTFOUND when unknown.
func shipmentStatus(ctx context.Context, c sqlConn, id string) (string, error) {
	var status string
	err := c.QueryRowContext(ctx, `SELECT status FROM shipments WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", station.Errorf(station.ENOTFOUND, "shipment %s does not exist", id)
	}
	return status, formatError(err)
}

func applyShipmentState(ctx context.Context, c sqlConn, seq int64, id string, from, to station.ShipmentStatus) error {
	status, err := shipmentStatus(ctx, c, id)
	if err != nil {
		return err
	}
	if status != string(from) {
		return station.Errorf(station.ECONFLICT, "shipment %s is %s, not %s: it cannot become %s", id, status, from, to)
	}
	_, err = c.ExecContext(ctx, `UPDATE shipments SET status = ?, seq = ? WHERE id = ?`, string(to), seq, id)
	return formatError(err)
}

// stockStatus reads an item's own warehouse status (in stock when none).
func stockStatus(ctx context.Context, c sqlConn, key string) (station.StockStatus, string, error) {
	var status, shipment string
	err := c.QueryRowContext(ctx, `SELECT status, shipment FROM stock WHERE item = ?`, key).Scan(&status, &shipment)
	if errors.Is(err, sql.ErrNoRows) {
		return station.StockInStock, "", nil
	}
	return station.StockStatus(status), shipment, formatError(err)
}

func setStock(ctx context.Context, c sqlConn, seq int64, key string, status station.StockStatus, shipment, reason string) error {
	_, err := c.ExecContext(ctx, `INSERT INTO stock (item, status, shipment, reason, seq) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (item) DO UPDATE SET status = excluded.status, shipment = excluded.shipment, reason = excluded.reason, seq = excluded.seq`,
		key, string(status), shipment, reason, seq)
	return formatError(err)
}

func applyPicked(ctx context.Context, c sqlConn, seq int64, p *station.ShipmentPicked) error {
	status, err := shipmentStatus(ctx, c, p.Shipment)
	if err != nil {
		return err
	}
	if status != string(station.ShipmentStatusOpen) {
		return station.Errorf(station.ECONFLICT, "shipment %s is %s: nothing can be picked into it", p.Shipment, status)
	}
	for _, it := range p.Items {
		key := it.Key()
		st, sh, err := stockStatus(ctx, c, key)
		if err != nil {
			return err
		}
		if st != station.StockInStock {
			return station.Errorf(station.ECONFLICT, "%s is %s (shipment %s): it cannot be picked", key, st, sh)
		}
		if err := setStock(ctx, c, seq, key, station.StockPicked, p.Shipment, ""); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO shipment_items (shipment, item, seq) VALUES (?, ?, ?)`, p.Shipment, key, seq); err != nil {
			return formatError(fmt.Errorf("pick %s into shipment %s: %w", key, p.Shipment, err))
		}
	}
	return nil
}

func applyUnpicked(ctx context.Context, c sqlConn, seq int64, p *station.ShipmentUnpicked) error {
	status, err := shipmentStatus(ctx, c, p.Shipment)
	if err != nil {
		return err
	}
	if status != string(station.ShipmentStatusOpen) {
		return station.Errorf(station.ECONFLICT, "shipment %s is %s: its items cannot change", p.Shipment, status)
	}
	for _, it := range p.Items {
		key := it.Key()
		res, err := c.ExecContext(ctx, `DELETE FROM shipment_items WHERE shipment = ? AND item = ?`, p.Shipment, key)
		if err != nil {
			return formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return station.Errorf(station.ECONFLICT, "%s is not in shipment %s", key, p.Shipment)
		}
		if err := setStock(ctx, c, seq, key, station.StockInStock, "", ""); err != nil {
			return err
		}
	}
	return nil
}

// applyStock moves items whose own status is one of from to status to.
func applyStock(ctx context.Context, c sqlConn, seq int64, items []station.Item, from []station.StockStatus, to station.StockStatus, reason, verb string) error {
	for _, it := range items {
		key := it.Key()
		st, sh, err := stockStatus(ctx, c, key)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || st == f
		}
		if !ok {
			return station.Errorf(station.ECONFLICT, "%s is %s: it cannot be %s", key, st, verb)
		}
		if to == station.StockInStock {
			sh = ""
		}
		if err := setStock(ctx, c, seq, key, to, sh, truncate(reason, 200)); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// itemKeyOrEmpty is the item's key, or "" for the zero item.
func itemKeyOrEmpty(it station.Item) string {
	if it == (station.Item{}) {
		return ""
	}
	return it.Key()
}
