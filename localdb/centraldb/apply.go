package centraldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/linestation/linestation/station"
)

// The repository is applied a batch at a time: the rows a batch touches are
// read in a few queries, the events are applied to them in memory in seq
// order, and the result is written back with a few multi-row statements.
// A pack's allocation, printing, verification and commissioning then cost
// one row write instead of four statements each (on this kind of machine a
// statement through cgo costs more than the B-tree work it does).
//
// Unlike a station's ledger, the central never refuses an event for what it
// says: the station's journal is the record, already durable at the station,
// and refusing it would only stop that station's uplink. What the repository
// cannot apply (a serial reserved at two stations, a unit unknown here, a
// child already in another parent) becomes a conflict row for people to
// investigate, and the event is stored all the same.

type skey struct{ gtin, serial string }

type serialRow struct {
	station, state, order, reason string
	reservedFeed, feed            int64
	dirty                         bool
}

type aggRow struct {
	parent, level, station string
	feed                   int64
	dirty                  bool
}

// Counters of station_orders, in column order.
const (
	cAllocated = iota
	cPrinted
	cVerified
	cCommissioned
	cRejected
	cDecommissioned
	cSampled
	cVoided
)

type orderRow struct {
	gtin, lot, expiry, line, state string
	quantity                       int64
	counts                         [8]int64
	feed                           int64
	exists, dirty                  bool
}

type histRow struct {
	item string
	feed int64
}

type conflictRow struct {
	feed, seq int64
	problem   string
}

type issuedChange struct {
	k      skey
	state  string
	reason string
}

// projector holds one batch's rows while it is applied.
type projector struct {
	c   conn
	st  string
	now string // when the batch is stored (station.FormatTime)
	// restoring: the store was restored from a backup and awaits this
	// station, whose journal may hold serials and SSCC blocks issued after
	// the snapshot: they are entered as issued, not reported as conflicts.
	restoring bool

	serials  map[skey]*serialRow // nil value: not in the repository
	issued   map[skey]string     // holder of an issued serial, for the reserved serials of the batch
	released []issuedChange
	local    []skey            // serials a station made itself, to enter into issued_serials
	ssccs    map[string]string // SSCC -> station that allocated it ("" none)
	newSSCC  []newSSCC
	agg      map[string]*aggRow // child -> its row (parent "" when in none)
	orders   map[string]*orderRow
	rejects  map[[2]string]int64
	history  []histRow
	conflict []conflictRow
	problems []string // of the event being applied
}

type newSSCC struct {
	sscc, level, order string
	feed               int64
}

// load reads every row the batch touches.
func (p *projector) load(ctx context.Context, evs []station.Event, pls []station.Payload) error {
	p.serials, p.issued = map[skey]*serialRow{}, map[skey]string{}
	p.ssccs, p.agg, p.orders, p.rejects = map[string]string{}, map[string]*aggRow{}, map[string]*orderRow{}, map[[2]string]int64{}
	var awaited int
	if err := p.c.QueryRowContext(ctx, `SELECT COUNT(*) FROM restore_gate WHERE station = ?`, p.st).Scan(&awaited); err != nil {
		return formatError(fmt.Errorf("read the restore wait of station %s: %w", p.st, err))
	}
	p.restoring = awaited > 0
	serials := map[string][]string{} // by GTIN
	reserved := map[string][]string{}
	var ssccs, children, orders []string
	addSerial := func(gtin, s string) {
		k := skey{gtin, s}
		if _, ok := p.serials[k]; !ok {
			p.serials[k] = nil
			serials[gtin] = append(serials[gtin], s)
		}
	}
	for i := range evs {
		switch pl := pls[i].(type) {
		case *station.PoolReserved:
			for _, s := range pl.Serials {
				addSerial(pl.GTIN, s)
			}
			reserved[pl.GTIN] = append(reserved[pl.GTIN], pl.Serials...)
		case *station.PoolReturned:
			for _, s := range pl.Serials {
				addSerial(pl.GTIN, s)
			}
		case *station.PoolVoided:
			for _, s := range pl.Serials {
				addSerial(pl.GTIN, s)
			}
		case *station.UnitAllocated:
			addSerial(pl.GTIN, pl.Serial)
			orders = append(orders, pl.Order)
		case *station.UnitVoided:
			for _, s := range pl.Serials {
				addSerial(pl.GTIN, s)
			}
			orders = append(orders, pl.Order)
		case *station.UnitPrinted:
			addSerial(pl.GTIN, pl.Serial)
		case *station.UnitVerified:
			addSerial(pl.GTIN, pl.Serial)
		case *station.UnitCommissioned:
			addSerial(pl.GTIN, pl.Serial)
		case *station.UnitRejected:
			addSerial(pl.GTIN, pl.Serial)
		case *station.UnitDecommissioned:
			addSerial(pl.GTIN, pl.Serial)
		case *station.UnitSampled:
			addSerial(pl.GTIN, pl.Serial)
		case *station.SSCCAllocated:
			ssccs = append(ssccs, pl.SSCC)
		case *station.AggregationPacked:
			for _, ch := range pl.Children {
				children = append(children, ch.Key())
			}
		case *station.AggregationUnpacked:
			for _, ch := range pl.Children {
				children = append(children, ch.Key())
			}
		case *station.OrderCreated:
			orders = append(orders, pl.Order)
		case *station.OrderStateChanged:
			orders = append(orders, pl.Order)
		}
	}
	for gtin, ss := range serials {
		err := queryIn(ctx, p.c, `SELECT serial, station, state, order_id, reason, reserved_feed, feed FROM serials WHERE gtin = ? AND serial IN `, []any{gtin}, ss,
			func(rows *sql.Rows) error {
				var s string
				var order sql.NullString
				r := &serialRow{}
				if err := rows.Scan(&s, &r.station, &r.state, &order, &r.reason, &r.reservedFeed, &r.feed); err != nil {
					return err
				}
				r.order = order.String
				p.serials[skey{gtin, s}] = r
				if r.order != "" {
					orders = append(orders, r.order)
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("read serials of GTIN %s: %w", gtin, err)
		}
	}
	for gtin, ss := range reserved {
		err := queryIn(ctx, p.c, `SELECT serial, holder FROM issued_serials WHERE gtin = ? AND serial IN `, []any{gtin}, ss, func(rows *sql.Rows) error {
			var s, holder string
			if err := rows.Scan(&s, &holder); err != nil {
				return err
			}
			p.issued[skey{gtin, s}] = holder
			return nil
		})
		if err != nil {
			return fmt.Errorf("read issued serials of GTIN %s: %w", gtin, err)
		}
	}
	if err := queryIn(ctx, p.c, `SELECT sscc, station FROM ssccs WHERE sscc IN `, nil, ssccs, func(rows *sql.Rows) error {
		var s, st string
		if err := rows.Scan(&s, &st); err != nil {
			return err
		}
		p.ssccs[s] = st
		return nil
	}); err != nil {
		return fmt.Errorf("read SSCCs: %w", err)
	}
	for _, ch := range children {
		p.agg[ch] = &aggRow{}
	}
	if err := queryIn(ctx, p.c, `SELECT child, parent, level, station, feed FROM aggregation WHERE child IN `, nil, children, func(rows *sql.Rows) error {
		var child string
		r := &aggRow{}
		if err := rows.Scan(&child, &r.parent, &r.level, &r.station, &r.feed); err != nil {
			return err
		}
		p.agg[child] = r
		return nil
	}); err != nil {
		return fmt.Errorf("read aggregation: %w", err)
	}
	slices.Sort(orders)
	orders = slices.Compact(orders)
	if err := queryIn(ctx, p.c, `SELECT order_id, gtin, lot, expiry, quantity, line, state, allocated, printed, verified, commissioned, rejected,
		decommissioned, sampled, voided, feed FROM station_orders WHERE station = ? AND order_id IN `, []any{p.st}, orders, func(rows *sql.Rows) error {
		var id string
		o := &orderRow{exists: true}
		k := &o.counts
		if err := rows.Scan(&id, &o.gtin, &o.lot, &o.expiry, &o.quantity, &o.line, &o.state, &k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6], &k[7], &o.feed); err != nil {
			return err
		}
		p.orders[id] = o
		return nil
	}); err != nil {
		return fmt.Errorf("read orders of station %s: %w", p.st, err)
	}
	return nil
}

// queryIn runs query (ending in "IN ") for keys in chunks, with args before them.
func queryIn(ctx context.Context, c conn, query string, args []any, keys []string, scan func(*sql.Rows) error) error {
	const chunk = 500
	for lo := 0; lo < len(keys); lo += chunk {
		part := keys[lo:min(lo+chunk, len(keys))]
		all := make([]any, 0, len(args)+len(part))
		all = append(all, args...)
		for _, k := range part {
			all = append(all, k)
		}
		rows, err := c.QueryContext(ctx, query+"("+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+")", all...)
		if err != nil {
			return formatError(err)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return formatError(err)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return formatError(err)
		}
	}
	return nil
}

func (p *projector) problem(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// apply applies one event in memory and returns the item it is about (for
// events.item), or "" when it is about none or several.
func (p *projector) apply(ctx context.Context, ev *station.Event, feed int64, pl station.Payload) (string, error) {
	p.problems = p.problems[:0]
	item := ""
	switch pl := pl.(type) {
	case *station.PoolReserved:
		p.reserve(feed, pl)
	case *station.PoolReturned:
		p.release(feed, pl.GTIN, pl.Serials, station.UnitStateReturned, "", "returned")
	case *station.PoolVoided:
		p.release(feed, pl.GTIN, pl.Serials, station.UnitStateVoided, pl.Reason, "voided")
	case *station.UnitAllocated:
		item = station.SGTIN(pl.GTIN, pl.Serial).Key()
		p.allocate(feed, pl)
	case *station.UnitVoided:
		p.void(feed, pl)
	case *station.UnitPrinted:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStatePrinted, "", cPrinted)
	case *station.UnitVerified:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStateVerified, "", cVerified)
	case *station.UnitCommissioned:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStateCommissioned, "", cCommissioned)
	case *station.UnitRejected:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStateRejected, string(pl.Reason), cRejected)
	case *station.UnitDecommissioned:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStateDecommissioned, string(pl.Reason), cDecommissioned)
	case *station.UnitSampled:
		item = p.unit(feed, pl.GTIN, pl.Serial, station.UnitStateSampled, pl.Purpose, cSampled)
	case *station.SSCCAllocated:
		item = station.SSCCItem(pl.SSCC).Key()
		if other := p.ssccs[pl.SSCC]; other != "" {
			p.problem("SSCC %s was already allocated at station %s: an SSCC is never reused", pl.SSCC, other)
			break
		}
		p.ssccs[pl.SSCC] = p.st
		p.newSSCC = append(p.newSSCC, newSSCC{pl.SSCC, string(pl.Level), pl.Order, feed})
	case *station.SSCCRangeReceived:
		if err := p.enterSSCCRange(ctx, ev.Seq, pl); err != nil {
			return "", err
		}
	case *station.AggregationPacked:
		p.pack(feed, pl)
	case *station.AggregationUnpacked:
		p.unpack(feed, pl)
	case *station.OrderCreated:
		if err := p.createOrder(ctx, feed, pl); err != nil {
			return "", err
		}
	case *station.OrderStateChanged:
		o := p.orders[pl.Order]
		switch {
		case o == nil:
			p.problem("order %s was never created at station %s", pl.Order, p.st)
		case o.state != string(pl.From):
			p.problem("order %s at station %s is %s, not %s: it cannot become %s", pl.Order, p.st, o.state, pl.From, pl.To)
		default:
			o.state, o.feed, o.dirty = string(pl.To), feed, true
		}
	case *station.ClockStepped:
	default:
		// A type the repository has no projection for (the catalogue grows
		// with the domain): stored, and in the history of the items it names.
		items := itemsOf(ev)
		if len(items) == 1 {
			item = items[0]
		} else {
			for _, it := range items {
				p.history = append(p.history, histRow{it, feed})
			}
		}
	}
	if len(p.problems) > 0 {
		p.conflict = append(p.conflict, conflictRow{feed: feed, seq: ev.Seq, problem: joinProblems(p.problems)})
	}
	return item, nil
}

// joinProblems keeps a conflict record readable when an event has many.
func joinProblems(ps []string) string {
	if len(ps) == 1 {
		return ps[0]
	}
	return fmt.Sprintf("%s (and %d more problems in this event)", ps[0], len(ps)-1)
}

func (p *projector) serialProblem(k skey, action string) {
	r := p.serials[k]
	if r == nil {
		p.problem("serial %s of GTIN %s was never reserved at any station: it cannot be %s", k.serial, k.gtin, action)
		return
	}
	p.problem("serial %s of GTIN %s (station %s) is %s: it cannot be %s", k.serial, k.gtin, r.station, r.state, action)
}

func (p *projector) reserve(feed int64, pl *station.PoolReserved) {
	for _, s := range pl.Serials {
		k := skey{pl.GTIN, s}
		if r := p.serials[k]; r != nil {
			p.problem("serial %s of GTIN %s was already reserved at station %s", s, pl.GTIN, r.station)
			continue
		}
		p.serials[k] = &serialRow{station: p.st, state: string(station.UnitStateAvailable), reservedFeed: feed, feed: feed, dirty: true}
		// The authority's ledger: a central serial must have been issued to
		// this station; a local one (standalone mode) is entered so that the
		// authority never issues it again.
		// A central serial the authority does not know is entered too: the
		// store was restored from a snapshot older than its reservation
		// (expected while the station is awaited), or it is a conflict to
		// investigate; either way it must never be issued again.
		holder, issued := p.issued[k]
		switch {
		case !issued:
			if pl.Source == "central" && !p.restoring {
				p.problem("serial %s of GTIN %s is recorded as from the central service, which never issued it", s, pl.GTIN)
			}
			p.issued[k] = p.st
			p.local = append(p.local, k)
		case holder != p.st:
			p.problem("serial %s of GTIN %s was issued to %s, not to station %s", s, pl.GTIN, holder, p.st)
		}
	}
}

func (p *projector) release(feed int64, gtin string, serials []string, to station.UnitState, reason, what string) {
	state := "returned"
	if to == station.UnitStateVoided {
		state = "voided"
	}
	for _, s := range serials {
		k := skey{gtin, s}
		p.history = append(p.history, histRow{station.SGTIN(gtin, s).Key(), feed})
		r := p.serials[k]
		if r == nil || r.state != string(station.UnitStateAvailable) {
			p.serialProblem(k, what)
		} else {
			r.state, r.reason, r.feed, r.dirty = string(to), reason, feed, true
		}
		p.released = append(p.released, issuedChange{k, state, reason})
	}
}

func (p *projector) allocate(feed int64, pl *station.UnitAllocated) {
	k := skey{pl.GTIN, pl.Serial}
	r := p.serials[k]
	if r == nil || r.state != string(station.UnitStateAvailable) {
		p.serialProblem(k, "allocated")
		return
	}
	r.state, r.order, r.reason, r.feed, r.dirty = string(station.UnitStateAllocated), pl.Order, "", feed, true
	o := p.orders[pl.Order]
	if o == nil {
		p.problem("order %s was never created at station %s", pl.Order, p.st)
		return
	}
	o.counts[cAllocated]++
	o.feed, o.dirty = feed, true
}

// void moves allocated, never printed serials of an order to voided: they
// are never to be used, so the authority marks them voided too.
func (p *projector) void(feed int64, pl *station.UnitVoided) {
	o := p.orders[pl.Order]
	for _, s := range pl.Serials {
		k := skey{pl.GTIN, s}
		p.history = append(p.history, histRow{station.SGTIN(pl.GTIN, s).Key(), feed})
		r := p.serials[k]
		if r == nil || r.state != string(station.UnitStateAllocated) || r.order != pl.Order {
			p.serialProblem(k, "voided as an allocated serial of order "+pl.Order)
			continue
		}
		r.state, r.reason, r.feed, r.dirty = string(station.UnitStateVoided), pl.Reason, feed, true
		p.released = append(p.released, issuedChange{k, "voided", pl.Reason})
		if o != nil {
			o.counts[cVoided]++
			o.feed, o.dirty = feed, true
		}
	}
}

// unit moves an allocated serial to a new state and counts it on its order
// at this station.
func (p *projector) unit(feed int64, gtin, serial string, to station.UnitState, reason string, counter int) string {
	k := skey{gtin, serial}
	r := p.serials[k]
	if r == nil || r.order == "" {
		p.serialProblem(k, string(to)+" (it is not allocated to an order)")
		return station.SGTIN(gtin, serial).Key()
	}
	r.state, r.reason, r.feed, r.dirty = string(to), reason, feed, true
	if o := p.orders[r.order]; o != nil {
		o.counts[counter]++
		o.feed, o.dirty = feed, true
		if to == station.UnitStateRejected {
			p.rejects[[2]string{r.order, reason}]++
		}
	}
	return station.SGTIN(gtin, serial).Key()
}

func (p *projector) pack(feed int64, pl *station.AggregationPacked) {
	parent := pl.Parent.Key()
	p.history = append(p.history, histRow{parent, feed})
	for _, ch := range pl.Children {
		child := ch.Key()
		p.history = append(p.history, histRow{child, feed})
		r := p.agg[child]
		if r.parent != "" {
			p.problem("%s is already in %s: it was not packed into %s", child, r.parent, parent)
			continue
		}
		*r = aggRow{parent: parent, level: string(pl.Level), station: p.st, feed: feed, dirty: true}
	}
}

func (p *projector) unpack(feed int64, pl *station.AggregationUnpacked) {
	parent := pl.Parent.Key()
	p.history = append(p.history, histRow{parent, feed})
	for _, ch := range pl.Children {
		child := ch.Key()
		p.history = append(p.history, histRow{child, feed})
		r := p.agg[child]
		if r.parent != parent {
			p.problem("%s is not in %s: it cannot be unpacked from it", child, parent)
			continue
		}
		*r = aggRow{dirty: true}
	}
}

func (p *projector) createOrder(ctx context.Context, feed int64, pl *station.OrderCreated) error {
	if o := p.orders[pl.Order]; o != nil {
		p.problem("order %s was created twice at station %s", pl.Order, p.st)
		return nil
	}
	p.orders[pl.Order] = &orderRow{gtin: pl.GTIN, lot: pl.Lot, expiry: pl.Expiry, line: pl.Line, quantity: pl.Quantity,
		state: string(station.OrderPlanned), feed: feed, dirty: true}
	var gtin, lot string
	err := p.c.QueryRowContext(ctx, `SELECT gtin, lot FROM orders WHERE id = ?`, pl.Order).Scan(&gtin, &lot)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// An order entered at the station (by a supervisor).
	case err != nil:
		return formatError(fmt.Errorf("read order %s: %w", pl.Order, err))
	case gtin != pl.GTIN || lot != pl.Lot:
		p.problem("order %s at station %s is for GTIN %s lot %s, but the ERP's order is for GTIN %s lot %s", pl.Order, p.st, pl.GTIN, pl.Lot, gtin, lot)
	}
	return nil
}

// flush writes every changed row back.
func (p *projector) flush(ctx context.Context) error {
	var rows [][]any
	for k, r := range p.serials {
		if r != nil && r.dirty {
			var order any
			if r.order != "" {
				order = r.order
			}
			rows = append(rows, []any{k.gtin, k.serial, r.station, r.state, order, r.reason, r.reservedFeed, r.feed})
		}
	}
	if err := insertRows(ctx, p.c, `INSERT INTO serials (gtin, serial, station, state, order_id, reason, reserved_feed, feed) VALUES `, rows,
		` ON CONFLICT (gtin, serial) DO UPDATE SET state = excluded.state, order_id = excluded.order_id, reason = excluded.reason, feed = excluded.feed`); err != nil {
		return fmt.Errorf("write serials: %w", err)
	}

	rows = rows[:0]
	counts := map[string]int64{}
	for _, k := range p.local {
		rows = append(rows, []any{k.gtin, k.serial, p.st, nil, "reserved"})
		counts[k.gtin]++
	}
	if err := insertRows(ctx, p.c, `INSERT INTO issued_serials (gtin, serial, holder, reservation, state) VALUES `, rows, ``); err != nil {
		return fmt.Errorf("enter local serials: %w", err)
	}
	for gtin, n := range counts {
		if _, err := p.c.ExecContext(ctx, `INSERT INTO serial_counters (gtin, issued, next) VALUES (?, ?, 0)
			ON CONFLICT (gtin) DO UPDATE SET issued = issued + excluded.issued`, gtin, n); err != nil {
			return formatError(fmt.Errorf("count local serials of GTIN %s: %w", gtin, err))
		}
	}
	for _, ch := range p.released {
		if _, err := p.c.ExecContext(ctx, `UPDATE issued_serials SET state = ?, reason = ? WHERE gtin = ? AND serial = ? AND holder = ? AND state = 'reserved'`,
			ch.state, ch.reason, ch.k.gtin, ch.k.serial, p.st); err != nil {
			return formatError(fmt.Errorf("mark issued serial %s of GTIN %s %s: %w", ch.k.serial, ch.k.gtin, ch.state, err))
		}
	}

	rows = rows[:0]
	for _, s := range p.newSSCC {
		var order any
		if s.order != "" {
			order = s.order
		}
		rows = append(rows, []any{s.sscc, s.level, order, p.st, s.feed})
	}
	if err := insertRows(ctx, p.c, `INSERT INTO ssccs (sscc, level, order_id, station, feed) VALUES `, rows, ``); err != nil {
		return fmt.Errorf("write SSCCs: %w", err)
	}
	if err := p.raiseSeenSSCCs(ctx); err != nil {
		return fmt.Errorf("write SSCCs: %w", err)
	}

	var gone []string
	rows = rows[:0]
	for child, r := range p.agg {
		if !r.dirty {
			continue
		}
		gone = append(gone, child)
		if r.parent != "" {
			rows = append(rows, []any{child, r.parent, r.level, r.station, r.feed})
		}
	}
	for lo := 0; lo < len(gone); lo += 500 {
		part := gone[lo:min(lo+500, len(gone))]
		args := make([]any, len(part))
		for i, g := range part {
			args[i] = g
		}
		if _, err := p.c.ExecContext(ctx, `DELETE FROM aggregation WHERE child IN (`+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+`)`, args...); err != nil {
			return formatError(fmt.Errorf("write aggregation: %w", err))
		}
	}
	if err := insertRows(ctx, p.c, `INSERT INTO aggregation (child, parent, level, station, feed) VALUES `, rows, ``); err != nil {
		return fmt.Errorf("write aggregation: %w", err)
	}

	rows = rows[:0]
	for _, h := range p.history {
		rows = append(rows, []any{h.item, h.feed})
	}
	if err := insertRows(ctx, p.c, `INSERT INTO item_history (item, feed) VALUES `, rows, ` ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("write item history: %w", err)
	}

	for id, o := range p.orders {
		if !o.dirty {
			continue
		}
		k := o.counts
		var err error
		if o.exists {
			_, err = p.c.ExecContext(ctx, `UPDATE station_orders SET state = ?, allocated = ?, printed = ?, verified = ?, commissioned = ?, rejected = ?,
				decommissioned = ?, sampled = ?, voided = ?, feed = ? WHERE order_id = ? AND station = ?`,
				o.state, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], o.feed, id, p.st)
		} else {
			_, err = p.c.ExecContext(ctx, `INSERT INTO station_orders (order_id, station, gtin, lot, expiry, quantity, line, state, allocated, printed,
				verified, commissioned, rejected, decommissioned, sampled, voided, feed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, p.st, o.gtin, o.lot, o.expiry, o.quantity, o.line, o.state, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], o.feed)
		}
		if err != nil {
			return formatError(fmt.Errorf("write order %s of station %s: %w", id, p.st, err))
		}
	}
	for k, n := range p.rejects {
		if _, err := p.c.ExecContext(ctx, `INSERT INTO station_order_rejects (order_id, station, reason, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (order_id, station, reason) DO UPDATE SET count = count + excluded.count`, k[0], p.st, k[1], n); err != nil {
			return formatError(fmt.Errorf("count rejects of order %s: %w", k[0], err))
		}
	}

	rows = rows[:0]
	for _, c := range p.conflict {
		rows = append(rows, []any{c.feed, p.st, c.seq, c.problem})
	}
	if err := insertRows(ctx, p.c, `INSERT INTO conflicts (feed, station, seq, problem) VALUES `, rows, ``); err != nil {
		return fmt.Errorf("record repository conflicts: %w", err)
	}
	return nil
}

// insertRows runs head + "(?, ...), (?, ...)" + tail for rows, in
// statements of at most 900 parameters.
//
// On the writer's connection it hands the parameters to the SQLite driver
// itself: database/sql would check and copy each of them into a fresh
// slice first, and at a row per journal event (14 parameters) that copying
// and the garbage it leaves cost more than a third of the insert. Values
// must then already be driver values (string, int64, nil, ...); any other
// goes through the driver's default conversion as database/sql would do.
func insertRows(ctx context.Context, c conn, head string, rows [][]any, tail string) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0])
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	per := max(900/cols, 1)
	raw, _ := c.(*sql.Conn)
	var named []driver.NamedValue
	for lo := 0; lo < len(rows); lo += per {
		part := rows[lo:min(lo+per, len(rows))]
		q := head + strings.TrimSuffix(strings.Repeat(tuple+",", len(part)), ",") + tail
		if raw == nil {
			args := make([]any, 0, len(part)*cols)
			for _, r := range part {
				args = append(args, r...)
			}
			if _, err := c.ExecContext(ctx, q, args...); err != nil {
				return formatError(err)
			}
			continue
		}
		if named == nil {
			named = make([]driver.NamedValue, 0, len(part)*cols)
		}
		named = named[:0]
		for _, r := range part {
			for _, v := range r {
				dv, err := driverValue(v)
				if err != nil {
					return err
				}
				named = append(named, driver.NamedValue{Ordinal: len(named) + 1, Value: dv})
			}
		}
		err := raw.Raw(func(dc any) error {
			ex, ok := dc.(driver.ExecerContext)
			if !ok {
				return fmt.Errorf("the SQLite driver's connection (%T) cannot execute statements", dc)
			}
			_, err := ex.ExecContext(ctx, q, named)
			return err
		})
		if err != nil {
			return formatError(err)
		}
	}
	return nil
}

// driverValue returns v as a driver value, as database/sql would convert it.
func driverValue(v any) (driver.Value, error) {
	switch v.(type) {
	case nil, string, int64:
		return v, nil
	}
	dv, err := driver.DefaultParameterConverter.ConvertValue(v)
	if err != nil {
		return nil, fmt.Errorf("convert %T for the store: %w", v, err)
	}
	return dv, nil
}
