package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

// The DSCSA exchange follows the station journals (events) with its own
// cursor and keeps shipments and their outbound documents here.

// JournalCursor returns how far the exchange has followed the journals.
func (db *DB) JournalCursor(ctx context.Context) (int64, error) {
	var feed int64
	if err := db.r.QueryRowContext(ctx, `SELECT feed FROM dscsa_cursor WHERE name = 'journal'`).Scan(&feed); err != nil {
		return 0, formatError(fmt.Errorf("read the exchange's journal cursor: %w", err))
	}
	return feed, nil
}

// JournalWindow returns the stored events of the given types with feed in
// (after, after+window], and where the window ends (at most the last feed
// stored).
func (db *DB) JournalWindow(ctx context.Context, after, window int64, types []station.EventType) ([]uplink.FeedEvent, int64, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, after, formatError(fmt.Errorf("read the journals: %w", err))
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(feed), 0) FROM events`).Scan(&top); err != nil {
		return nil, after, formatError(fmt.Errorf("read the journals: %w", err))
	}
	to := min(after+window, top)
	if to <= after || len(types) == 0 {
		return nil, max(after, to), nil
	}
	args := []any{after, to}
	for _, t := range types {
		args = append(args, string(t))
	}
	rows, err := tx.QueryContext(ctx, selectEvents+` WHERE feed > ? AND feed <= ? AND type IN (`+placeholders(len(types))+`) ORDER BY feed`, args...)
	if err != nil {
		return nil, after, formatError(fmt.Errorf("read the journals after feed %d: %w", after, err))
	}
	defer rows.Close()
	var out []uplink.FeedEvent
	for rows.Next() {
		fe, err := scanEvent(rows)
		if err != nil {
			return nil, after, fmt.Errorf("read the journals after feed %d: %w", after, err)
		}
		out = append(out, fe)
	}
	if err := rows.Err(); err != nil {
		return nil, after, formatError(fmt.Errorf("read the journals after feed %d: %w", after, err))
	}
	return out, to, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// ApplyJournal applies shipment changes and derived EPCIS events and moves
// the cursor from from to to, in one transaction; ECONFLICT when the
// cursor is not at from (another follower moved it).
func (db *DB) ApplyJournal(ctx context.Context, from, to int64, ch *dscsa.JournalChanges) error {
	return db.write(ctx, func(ctx context.Context, c conn) error {
		var cur int64
		if err := c.QueryRowContext(ctx, `SELECT feed FROM dscsa_cursor WHERE name = 'journal'`).Scan(&cur); err != nil {
			return formatError(fmt.Errorf("read the exchange's journal cursor: %w", err))
		}
		if cur != from {
			return station.Errorf(station.ECONFLICT, "the exchange's journal cursor is at %d, not %d", cur, from)
		}
		for i := range ch.Shipments {
			if err := db.applyShipment(ctx, c, &ch.Shipments[i]); err != nil {
				return err
			}
		}
		if _, err := insertEvents(ctx, c, ch.Events, ""); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `UPDATE dscsa_cursor SET feed = ? WHERE name = 'journal'`, to); err != nil {
			return formatError(fmt.Errorf("move the exchange's journal cursor: %w", err))
		}
		return nil
	})
}

func (db *DB) applyShipment(ctx context.Context, c conn, sc *dscsa.ShipmentChange) error {
	if sc.Kind == dscsa.ShipmentCreated {
		data, err := json.Marshal(sc.Shipment)
		if err != nil {
			return fmt.Errorf("encode shipment %s: %w", sc.ID, err)
		}
		res, err := c.ExecContext(ctx, `INSERT INTO dscsa_shipments (id, station, data, status, created_feed, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, sc.ID, sc.Station, string(data), string(station.ShipmentStatusOpen), sc.Feed, station.FormatTime(sc.Time))
		if err != nil {
			return formatError(fmt.Errorf("record shipment %s: %w", sc.ID, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			db.logger.Warn("shipment id used twice: the second is not exchanged", "shipment", sc.ID, "station", sc.Station, "feed", sc.Feed)
		}
		return nil
	}
	var owner, status, data string
	err := c.QueryRowContext(ctx, `SELECT station, status, data FROM dscsa_shipments WHERE id = ?`, sc.ID).Scan(&owner, &status, &data)
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != sc.Station {
		db.logger.Warn("shipment event for a shipment not created at its station", "shipment", sc.ID, "station", sc.Station, "feed", sc.Feed, "kind", sc.Kind)
		return nil
	}
	if err != nil {
		return formatError(fmt.Errorf("read shipment %s: %w", sc.ID, err))
	}
	switch sc.Kind {
	case dscsa.ShipmentPicked:
		rows := make([][]any, len(sc.Items))
		for i, it := range sc.Items {
			rows[i] = []any{sc.ID, it.Key(), sc.Feed}
		}
		if err := insertRows(ctx, c, `INSERT INTO dscsa_shipment_items (shipment, item, feed) VALUES `, rows, ` ON CONFLICT DO NOTHING`); err != nil {
			return fmt.Errorf("record items of shipment %s: %w", sc.ID, err)
		}
	case dscsa.ShipmentUnpicked:
		for _, it := range sc.Items {
			if _, err := c.ExecContext(ctx, `DELETE FROM dscsa_shipment_items WHERE shipment = ? AND item = ?`, sc.ID, it.Key()); err != nil {
				return formatError(fmt.Errorf("record items of shipment %s: %w", sc.ID, err))
			}
		}
	case dscsa.ShipmentPacked:
		if _, err := c.ExecContext(ctx, `UPDATE dscsa_shipments SET status = ? WHERE id = ?`, string(station.ShipmentStatusPacked), sc.ID); err != nil {
			return formatError(fmt.Errorf("record shipment %s packed: %w", sc.ID, err))
		}
	case dscsa.ShipmentShipped:
		var sh station.Shipment
		if err := json.Unmarshal([]byte(data), &sh); err != nil {
			return fmt.Errorf("decode shipment %s: %w", sc.ID, err)
		}
		at := station.FormatTime(sc.Time)
		if _, err := c.ExecContext(ctx, `UPDATE dscsa_shipments SET status = ?, shipped_at = ? WHERE id = ?`, string(station.ShipmentStatusShipped), at, sc.ID); err != nil {
			return formatError(fmt.Errorf("record shipment %s shipped: %w", sc.ID, err))
		}
		if _, err := c.ExecContext(ctx, shipmentTreeSQL, sc.ID, sc.ID); err != nil {
			return formatError(fmt.Errorf("record what shipment %s holds: %w", sc.ID, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO dscsa_deliveries (shipment, partner_gln, document_id, status, next_attempt, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (shipment) DO NOTHING`, sc.ID, sh.Partner, sc.DocumentID, dscsa.DeliveryPending, db.stamp(), db.stamp()); err != nil {
			return formatError(fmt.Errorf("queue the document of shipment %s: %w", sc.ID, err))
		}
	}
	return nil
}

type rowQuerier interface { // a read transaction or a connection
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readShipment(ctx context.Context, q rowQuerier, id string) (dscsa.ShipmentRecord, error) {
	var rec dscsa.ShipmentRecord
	var data, created, shipped string
	err := q.QueryRowContext(ctx, `SELECT station, data, status, created_at, shipped_at FROM dscsa_shipments WHERE id = ?`, id).
		Scan(&rec.Station, &data, &rec.Status, &created, &shipped)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, station.Errorf(station.ENOTFOUND, "shipment %s is not known to the central service (has its station's journal arrived?)", id)
	}
	if err != nil {
		return rec, formatError(fmt.Errorf("read shipment %s: %w", id, err))
	}
	if err := json.Unmarshal([]byte(data), &rec.Shipment); err != nil {
		return rec, fmt.Errorf("decode shipment %s: %w", id, err)
	}
	var e1, e2 error
	rec.CreatedAt, e1 = parseTime(created)
	rec.ShippedAt, e2 = parseTime(shipped)
	if err := errors.Join(e1, e2); err != nil {
		return rec, fmt.Errorf("read shipment %s: %w", id, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT item FROM dscsa_shipment_items WHERE shipment = ? ORDER BY feed, item`, id)
	if err != nil {
		return rec, formatError(fmt.Errorf("read items of shipment %s: %w", id, err))
	}
	defer rows.Close()
	rec.Items = []station.Item{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return rec, formatError(fmt.Errorf("read items of shipment %s: %w", id, err))
		}
		it, err := station.ParseItemKey(k)
		if err != nil {
			return rec, fmt.Errorf("read items of shipment %s: %w", id, err)
		}
		rec.Items = append(rec.Items, it)
	}
	if err := rows.Err(); err != nil {
		return rec, formatError(fmt.Errorf("read items of shipment %s: %w", id, err))
	}
	return rec, nil
}

// Shipment returns what is known of a shipment.
func (db *DB) Shipment(ctx context.Context, id string) (dscsa.ShipmentRecord, error) {
	return readShipment(ctx, db.r, id)
}

// shipmentTreeSQL records what a shipment holds as it ships: every item of
// its trees (the picked items and everything packed in them, from the
// repository's aggregation), when and where each was commissioned (an
// SSCC: allocated) with its lot and expiry, and when and where it was
// packed. Its document is made from this record, so later changes (a pack
// unpacked after a return) do not change what was shipped.
const shipmentTreeSQL = `INSERT OR IGNORE INTO dscsa_shipment_tree (shipment, item, sscc, gtin, parent, depth, link, ltime, lstation, cfeed, ctime, cstation, lot, expiry)
WITH RECURSIVE tree(item, parent, depth, link) AS (
	SELECT item, '', 0, 0 FROM dscsa_shipment_items WHERE shipment = ?
	UNION ALL
	SELECT a.child, a.parent, t.depth + 1, a.feed FROM aggregation a JOIN tree t ON a.parent = t.item WHERE t.depth < 8
), info(item, parent, depth, link, cfeed, order_id, owner) AS (
	SELECT t.item, t.parent, t.depth, t.link,
		CASE WHEN substr(t.item, 1, 4) = '(00)' THEN x.feed
			WHEN e.type = 'unit.commissioned' THEN s.feed
			ELSE (SELECT MAX(feed) FROM events WHERE item = t.item AND type = 'unit.commissioned') END,
		s.order_id, s.station
	FROM tree t
	LEFT JOIN serials s ON substr(t.item, 1, 4) = '(01)' AND s.gtin = substr(t.item, 5, 14) AND s.serial = substr(t.item, 23)
	LEFT JOIN events e ON e.feed = s.feed
	LEFT JOIN ssccs x ON substr(t.item, 1, 4) = '(00)' AND x.sscc = substr(t.item, 5)
)
SELECT ?, i.item, substr(i.item, 1, 4) = '(00)', CASE WHEN substr(i.item, 1, 4) = '(00)' THEN '' ELSE substr(i.item, 5, 14) END,
	i.parent, i.depth, i.link, COALESCE(l.time, ''), COALESCE(l.station, ''), i.cfeed, COALESCE(c.time, ''), COALESCE(c.station, ''),
	COALESCE(o.lot, ''), COALESCE(o.expiry, '')
FROM info i
LEFT JOIN events l ON i.depth > 0 AND l.feed = i.link
LEFT JOIN events c ON c.feed = i.cfeed
LEFT JOIN station_orders o ON o.order_id = i.order_id AND o.station = i.owner`

// shipmentSnapshot reads a shipment and what it held when it shipped, in
// one read transaction.
type shipmentSnapshot struct {
	tx  *sql.Tx
	id  string
	rec dscsa.ShipmentRecord
}

// OpenShipment returns a consistent snapshot of a shipment and its trees.
func (db *DB) OpenShipment(ctx context.Context, id string) (dscsa.ShipmentSnapshot, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, formatError(fmt.Errorf("read shipment %s: %w", id, err))
	}
	rec, err := readShipment(ctx, tx, id)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	return &shipmentSnapshot{tx: tx, id: id, rec: rec}, nil
}

func (s *shipmentSnapshot) Record() dscsa.ShipmentRecord { return s.rec }

func (s *shipmentSnapshot) Close() error { return s.tx.Rollback() }

func (s *shipmentSnapshot) strings(ctx context.Context, what, q string, args ...any) ([]string, error) {
	rows, err := s.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(fmt.Errorf("read %s of shipment %s: %w", what, s.id, err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, formatError(fmt.Errorf("read %s of shipment %s: %w", what, s.id, err))
		}
		out = append(out, v)
	}
	return out, formatError(rows.Err())
}

func (s *shipmentSnapshot) Contents(ctx context.Context) (dscsa.ShipmentContents, error) {
	var c dscsa.ShipmentContents
	// The unknown items are listed only when there are some.
	var unknown int
	if err := s.tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(cfeed IS NULL), 0) FROM dscsa_shipment_tree WHERE shipment = ?`, s.id).
		Scan(&c.Items, &unknown); err != nil {
		return c, formatError(fmt.Errorf("read shipment %s: %w", s.id, err))
	}
	var err error
	// DISTINCT first, so that the UNION sorts the few stations, not a row
	// per item; each side reads an index that holds the column.
	if c.Stations, err = s.strings(ctx, "stations", `SELECT s FROM (SELECT DISTINCT cstation AS s FROM dscsa_shipment_tree WHERE shipment = ? AND cstation != '')
		UNION SELECT s FROM (SELECT DISTINCT lstation AS s FROM dscsa_shipment_tree WHERE shipment = ? AND lstation != '') ORDER BY 1`, s.id, s.id); err != nil {
		return c, err
	}
	if c.GTINs, err = s.strings(ctx, "GTINs", `SELECT DISTINCT gtin FROM dscsa_shipment_tree WHERE shipment = ? AND sscc = 0 ORDER BY 1`, s.id); err != nil {
		return c, err
	}
	if unknown > 0 {
		if c.Unknown, err = s.strings(ctx, "unknown items", `SELECT item FROM dscsa_shipment_tree WHERE shipment = ? AND cfeed IS NULL ORDER BY item LIMIT 10`, s.id); err != nil {
			return c, err
		}
	}
	return c, nil
}

// splitItems parses a tab-separated list of item keys.
func splitItems(list string) ([]station.Item, error) {
	parts := strings.Split(list, "\t")
	out := make([]station.Item, len(parts))
	for i, k := range parts {
		it, err := station.ParseItemKey(k)
		if err != nil {
			return nil, err
		}
		out[i] = it
	}
	return out, nil
}

// The commissioning of a shipment is read from the index
// dscsa_shipment_tree_commissioning (shipment, sscc, gtin, lot, expiry,
// cstation, cfeed, ctime, item), by seeks, so that nothing is sorted and
// only a group's worth of items is read at a time: commissionNextSQL finds
// the next group (SSCC or not, GTIN, lot, expiry, station) after the one
// given; commissionEndSQL the last item of a chunk of max items after the
// position (cfeed, ctime, item) given, none when the rest of the group is
// shorter; commissionChunkSQL the items in between, in commissioning order.
// ctime is a function of cfeed (the time of that event), so the order of
// (cfeed, ctime, item) is commissioning order, ties (not made by station
// journals: one commissioning event per item) broken by item.
const (
	commissionNextSQL = `SELECT sscc, gtin, lot, expiry, cstation FROM dscsa_shipment_tree
	WHERE shipment = ? AND cfeed IS NOT NULL AND (sscc, gtin, lot, expiry, cstation) > (?, ?, ?, ?, ?)
	ORDER BY sscc, gtin, lot, expiry, cstation LIMIT 1`
	commissionEndSQL = `SELECT cfeed, ctime, item FROM dscsa_shipment_tree
	WHERE shipment = ? AND sscc = ? AND gtin = ? AND lot = ? AND expiry = ? AND cstation = ? AND (cfeed, ctime, item) > (?, ?, ?)
	ORDER BY cfeed, ctime, item LIMIT 1 OFFSET ?`
	commissionChunkSQL = `SELECT MAX(ctime), group_concat(item, char(9) ORDER BY cfeed, ctime, item) FROM dscsa_shipment_tree
	WHERE shipment = ? AND sscc = ? AND gtin = ? AND lot = ? AND expiry = ? AND cstation = ? AND (cfeed, ctime, item) > (?, ?, ?) AND (cfeed, ctime, item) <= (?, ?, ?)`
)

// commissionGroup is a group of commissionNextSQL; commissionPos a
// position in a group, of commissionEndSQL.
type (
	commissionGroup struct {
		sscc                       int64
		gtin, lot, expiry, station string
	}
	commissionPos struct {
		cfeed       int64
		ctime, item string
	}
)

func (s *shipmentSnapshot) Commissioned(ctx context.Context, max int, fn func(*dscsa.CommissionGroup) error) error {
	if max <= 0 {
		max = 1000
	}
	wrap := func(err error) error {
		return formatError(fmt.Errorf("read the commissioning of shipment %s: %w", s.id, err))
	}
	var stmts [3]*sql.Stmt
	for i, q := range []string{commissionNextSQL, commissionEndSQL, commissionChunkSQL} {
		st, err := s.tx.PrepareContext(ctx, q)
		if err != nil {
			return wrap(err)
		}
		defer st.Close()
		stmts[i] = st
	}
	next, end, chunk := stmts[0], stmts[1], stmts[2]
	// Groups in index order: SGTINs (sscc 0) by GTIN, lot, expiry and
	// station, then SSCCs by station; sscc -1 is before them all.
	k := commissionGroup{sscc: -1}
	var g dscsa.CommissionGroup
	for {
		err := next.QueryRowContext(ctx, s.id, k.sscc, k.gtin, k.lot, k.expiry, k.station).Scan(&k.sscc, &k.gtin, &k.lot, &k.expiry, &k.station)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return wrap(err)
		}
		// Chunks of max items, from before the group's first item (feeds
		// are positive) to its end (a feed past any).
		from := commissionPos{cfeed: -1}
		for done := false; !done; {
			to := commissionPos{cfeed: math.MaxInt64}
			err := end.QueryRowContext(ctx, s.id, k.sscc, k.gtin, k.lot, k.expiry, k.station, from.cfeed, from.ctime, from.item, max-1).
				Scan(&to.cfeed, &to.ctime, &to.item)
			if errors.Is(err, sql.ErrNoRows) {
				done = true
			} else if err != nil {
				return wrap(err)
			}
			var ts, items sql.NullString
			if err := chunk.QueryRowContext(ctx, s.id, k.sscc, k.gtin, k.lot, k.expiry, k.station, from.cfeed, from.ctime, from.item, to.cfeed, to.ctime, to.item).
				Scan(&ts, &items); err != nil {
				return wrap(err)
			}
			if !items.Valid { // the group ended with the previous chunk, a full one
				break
			}
			g.Lot, g.Expiry, g.Station = k.lot, k.expiry, k.station
			if g.Time, err = station.ParseTime(ts.String); err != nil {
				return fmt.Errorf("read the commissioning of shipment %s: %w", s.id, err)
			}
			if g.Items, err = splitItems(items.String); err != nil {
				return fmt.Errorf("read the commissioning of shipment %s: %w", s.id, err)
			}
			if err := fn(&g); err != nil {
				return err
			}
			from = to
		}
	}
}

func (s *shipmentSnapshot) Packing(ctx context.Context, fn func(*dscsa.PackGroup) error) error {
	// The packing station is where the parent was commissioned (its label
	// printed) or allocated: where it was opened and filled. The groups
	// are read from dscsa_shipment_tree_packing in parent order, each
	// parent's children in packing order, so only the parents are sorted
	// (by depth), not the whole tree.
	rows, err := s.tx.QueryContext(ctx, `SELECT g.parent, g.tmax, COALESCE(p.cstation, ''), g.kids FROM (
		SELECT parent, MAX(depth) AS depth, MAX(ltime) AS tmax, group_concat(item, char(9) ORDER BY link, item) AS kids
		FROM dscsa_shipment_tree WHERE shipment = ? AND depth > 0 GROUP BY parent) g
		LEFT JOIN dscsa_shipment_tree p ON p.shipment = ? AND p.item = g.parent
		ORDER BY g.depth DESC, g.parent`, s.id, s.id)
	if err != nil {
		return formatError(fmt.Errorf("read the packing of shipment %s: %w", s.id, err))
	}
	defer rows.Close()
	var g dscsa.PackGroup
	var parent, ts, kids string
	for rows.Next() {
		if err := rows.Scan(&parent, &ts, &g.Station, &kids); err != nil {
			return formatError(fmt.Errorf("read the packing of shipment %s: %w", s.id, err))
		}
		if g.Parent, err = station.ParseItemKey(parent); err != nil {
			return err
		}
		if g.Time, err = station.ParseTime(ts); err != nil {
			return fmt.Errorf("packing of %s: %w", parent, err)
		}
		if g.Children, err = splitItems(kids); err != nil {
			return fmt.Errorf("packing of %s: %w", parent, err)
		}
		if err := fn(&g); err != nil {
			return err
		}
	}
	return formatError(rows.Err())
}

func (s *shipmentSnapshot) Holds(ctx context.Context) ([]dscsa.Hold, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+holdColumns+` FROM dscsa_holds h WHERE h.released_at = '' AND (
		h.item IN (SELECT item FROM dscsa_shipment_tree WHERE shipment = ?)
		OR h.item = '' AND EXISTS (SELECT 1 FROM dscsa_shipment_tree t WHERE t.shipment = ? AND t.sscc = 0
			AND t.gtin = h.gtin AND t.lot = h.lot)) ORDER BY h.id`, s.id, s.id)
	if err != nil {
		return nil, formatError(fmt.Errorf("read the holds on shipment %s: %w", s.id, err))
	}
	return scanHolds(rows)
}

// DueDeliveries returns deliveries due at now, oldest first.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]dscsa.Delivery, error) {
	return db.deliveries(ctx, `WHERE status IN (?, ?) AND next_attempt <= ? ORDER BY id LIMIT ?`,
		dscsa.DeliveryPending, dscsa.DeliveryHeld, station.FormatTime(now), limit)
}

// Deliveries lists deliveries, newest first, of one shipment or all.
func (db *DB) Deliveries(ctx context.Context, shipment string, limit int) ([]dscsa.Delivery, error) {
	if shipment != "" {
		return db.deliveries(ctx, `WHERE shipment = ? ORDER BY id DESC LIMIT ?`, shipment, limit)
	}
	return db.deliveries(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

// Delivery returns one delivery.
func (db *DB) Delivery(ctx context.Context, id int64) (dscsa.Delivery, error) {
	ds, err := db.deliveries(ctx, `WHERE id = ?`, id)
	if err != nil {
		return dscsa.Delivery{}, err
	}
	if len(ds) == 0 {
		return dscsa.Delivery{}, station.Errorf(station.ENOTFOUND, "delivery %d does not exist", id)
	}
	return ds[0], nil
}

func (db *DB) deliveries(ctx context.Context, where string, args ...any) ([]dscsa.Delivery, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, shipment, partner_gln, partner, document_id, format, status, attempts, next_attempt,
		last_error, created_at, delivered_at, events_recorded, receipt FROM dscsa_deliveries `+where, args...)
	if err != nil {
		return nil, formatError(fmt.Errorf("read deliveries: %w", err))
	}
	defer rows.Close()
	out := []dscsa.Delivery{}
	for rows.Next() {
		var d dscsa.Delivery
		var next, created, delivered, receipt string
		if err := rows.Scan(&d.ID, &d.Shipment, &d.PartnerGLN, &d.Partner, &d.DocumentID, &d.Format, &d.Status, &d.Attempts, &next,
			&d.LastError, &created, &delivered, &d.EventsRecorded, &receipt); err != nil {
			return nil, formatError(fmt.Errorf("read deliveries: %w", err))
		}
		var e1, e2, e3 error
		d.NextAttempt, e1 = parseTime(next)
		d.CreatedAt, e2 = parseTime(created)
		d.DeliveredAt, e3 = parseTime(delivered)
		if err := errors.Join(e1, e2, e3); err != nil {
			return nil, fmt.Errorf("read delivery %d: %w", d.ID, err)
		}
		if receipt != "" {
			d.Receipt = &dscsa.DeliveryReceipt{}
			if err := json.Unmarshal([]byte(receipt), d.Receipt); err != nil {
				return nil, fmt.Errorf("decode receipt of delivery %d: %w", d.ID, err)
			}
		}
		out = append(out, d)
	}
	return out, formatError(rows.Err())
}

// UpdateDelivery records a delivery's progress.
func (db *DB) UpdateDelivery(ctx context.Context, d dscsa.Delivery) error {
	receipt := ""
	if d.Receipt != nil {
		b, err := json.Marshal(d.Receipt)
		if err != nil {
			return fmt.Errorf("encode receipt of delivery %d: %w", d.ID, err)
		}
		receipt = string(b)
	}
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return station.FormatTime(t)
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		res, err := c.ExecContext(ctx, `UPDATE dscsa_deliveries SET partner = ?, format = ?, status = ?, attempts = ?, next_attempt = ?, last_error = ?,
			delivered_at = ?, events_recorded = ?, receipt = ? WHERE id = ?`,
			d.Partner, d.Format, d.Status, d.Attempts, tm(d.NextAttempt), d.LastError, tm(d.DeliveredAt), d.EventsRecorded, receipt, d.ID)
		if err != nil {
			return formatError(fmt.Errorf("record delivery %d: %w", d.ID, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return station.Errorf(station.ENOTFOUND, "delivery %d does not exist", d.ID)
		}
		return nil
	})
}
