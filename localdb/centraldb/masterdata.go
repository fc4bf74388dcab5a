package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// recordChange numbers one master-data change for the stations' pull and
// returns its seq.
// It runs on the writer, in a write: the commit then wakes the long pulls.
func (db *DB) recordChange(ctx context.Context, c conn, kind, key, line, state string, data []byte, at string) (int64, error) {
	db.changeRecorded = true
	res, err := c.ExecContext(ctx, `INSERT INTO changes (kind, key, line, state, data, at) VALUES (?, ?, ?, ?, ?, ?)`, kind, key, line, state, string(data), at)
	if err != nil {
		return 0, formatError(fmt.Errorf("record %s %s change: %w", kind, key, err))
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record %s %s change: %w", kind, key, err)
	}
	return seq, nil
}

// PutProduct creates or replaces a product (validated first) and reports
// whether it was new.
func (db *DB) PutProduct(ctx context.Context, p station.Product) (created bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		created, err = db.putProduct(ctx, c, p)
		return err
	})
	return created, err
}

func (db *DB) putProduct(ctx context.Context, c conn, p station.Product) (bool, error) {
	now := db.now().UTC()
	data, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode product %s: %w", p.GTIN, err)
	}
	var one int
	err = c.QueryRowContext(ctx, `SELECT 1 FROM products WHERE gtin = ?`, p.GTIN).Scan(&one)
	created := errors.Is(err, sql.ErrNoRows)
	if err != nil && !created {
		return false, formatError(fmt.Errorf("read product %s: %w", p.GTIN, err))
	}
	at := station.FormatTime(now)
	change, err := db.recordChange(ctx, c, uplink.KindProduct, p.GTIN, "", "", data, at)
	if err != nil {
		return false, err
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO products (gtin, data, updated_at, change) VALUES (?, ?, ?, ?)
		ON CONFLICT (gtin) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, change = excluded.change`,
		p.GTIN, string(data), at, change); err != nil {
		return false, formatError(fmt.Errorf("store product %s: %w", p.GTIN, err))
	}
	return created, nil
}

// ImportProducts creates or replaces products all at once: either every
// product is stored or none is.
func (db *DB) ImportProducts(ctx context.Context, ps []station.Product) (uplink.ImportResult, error) {
	var res uplink.ImportResult
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			return res, fmt.Errorf("product %d (%s): %w", i+1, ps[i].GTIN, err)
		}
	}
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		res = uplink.ImportResult{}
		for _, p := range ps {
			created, err := db.putProduct(ctx, c, p)
			if err != nil {
				return err
			}
			if created {
				res.Created++
			} else {
				res.Updated++
			}
		}
		return nil
	})
	return res, err
}

// Product returns a product; ENOTFOUND when unknown.
func (db *DB) Product(ctx context.Context, gtin string) (station.Product, error) {
	var p station.Product
	var data string
	err := db.r.QueryRowContext(ctx, `SELECT data FROM products WHERE gtin = ?`, gtin).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return p, station.Errorf(station.ENOTFOUND, "product %s does not exist", gtin)
	}
	if err != nil {
		return p, formatError(fmt.Errorf("read product %s: %w", gtin, err))
	}
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("decode product %s: %w", gtin, err)
	}
	return p, nil
}

// Products returns every product, by GTIN.
func (db *DB) Products(ctx context.Context) ([]station.Product, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM products ORDER BY gtin`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read products: %w", err))
	}
	defer rows.Close()
	out := []station.Product{}
	for rows.Next() {
		var data string
		var p station.Product
		if err := rows.Scan(&data); err != nil {
			return nil, formatError(fmt.Errorf("read products: %w", err))
		}
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return nil, fmt.Errorf("decode product: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read products: %w", err))
	}
	return out, nil
}

// PutOrder creates an order or changes one from the ERP. A new order starts
// planned or released; a planned order may be changed freely; after that the
// ERP may only move its state along the order state machine (and changes no
// other field). The product must exist.
func (db *DB) PutOrder(ctx context.Context, o uplink.Order) (created bool, err error) {
	if err := o.Validate(); err != nil {
		return false, err
	}
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var one int
		if err := c.QueryRowContext(ctx, `SELECT 1 FROM products WHERE gtin = ?`, o.GTIN).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "order %s: product %s does not exist: create the product first", o.ID, o.GTIN)
		} else if err != nil {
			return formatError(fmt.Errorf("read product %s: %w", o.GTIN, err))
		}
		var data string
		err := c.QueryRowContext(ctx, `SELECT data FROM orders WHERE id = ?`, o.ID).Scan(&data)
		created = errors.Is(err, sql.ErrNoRows)
		switch {
		case created:
			if o.State != station.OrderPlanned && o.State != station.OrderReleased {
				return station.Errorf(station.EINVALID, "order %s: a new order is planned or released, not %s", o.ID, o.State)
			}
		case err != nil:
			return formatError(fmt.Errorf("read order %s: %w", o.ID, err))
		default:
			var old uplink.Order
			if err := json.Unmarshal([]byte(data), &old); err != nil {
				return fmt.Errorf("decode order %s: %w", o.ID, err)
			}
			if old.State != station.OrderPlanned {
				same := old
				same.State, same.Updated = o.State, time.Time{}
				cmp := o
				cmp.Updated = time.Time{}
				if same != cmp {
					return station.Errorf(station.ECONFLICT, "order %s is %s: only a planned order can be changed; send the same fields with a new state", o.ID, old.State)
				}
			}
			if o.State != old.State {
				if err := station.CheckOrderTransition(old.State, o.State); err != nil {
					return station.Errorf(station.ECONFLICT, "order %s: %s", o.ID, station.ErrorMessage(err))
				}
			}
		}
		now := db.now().UTC()
		o.Updated = now
		b, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode order %s: %w", o.ID, err)
		}
		at := station.FormatTime(now)
		change, err := db.recordChange(ctx, c, uplink.KindOrder, o.ID, o.Line, string(o.State), b, at)
		if err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO orders (id, gtin, lot, line, state, data, updated_at, change) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET gtin = excluded.gtin, lot = excluded.lot, line = excluded.line, state = excluded.state,
			data = excluded.data, updated_at = excluded.updated_at, change = excluded.change`,
			o.ID, o.GTIN, o.Lot, o.Line, string(o.State), string(b), at, change); err != nil {
			return formatError(fmt.Errorf("store order %s: %w", o.ID, err))
		}
		return nil
	})
	return created, err
}

// Orders returns the ERP's orders, optionally only those in one state.
func (db *DB) Orders(ctx context.Context, state station.OrderState) ([]uplink.Order, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM orders WHERE ? = '' OR state = ? ORDER BY id`, string(state), string(state))
	if err != nil {
		return nil, formatError(fmt.Errorf("read orders: %w", err))
	}
	defer rows.Close()
	out := []uplink.Order{}
	for rows.Next() {
		var data string
		var o uplink.Order
		if err := rows.Scan(&data); err != nil {
			return nil, formatError(fmt.Errorf("read orders: %w", err))
		}
		if err := json.Unmarshal([]byte(data), &o); err != nil {
			return nil, fmt.Errorf("decode order: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read orders: %w", err))
	}
	return out, nil
}

// OrderProgress returns an order with what every station recorded for it
// and its reconciliation; ENOTFOUND when neither the ERP nor any station
// knows it.
func (db *DB) OrderProgress(ctx context.Context, id string) (uplink.OrderProgress, error) {
	p := uplink.OrderProgress{Stations: []uplink.StationProgress{}, Totals: uplink.Counters{Rejects: map[string]int64{}}}
	var data string
	err := db.r.QueryRowContext(ctx, `SELECT data FROM orders WHERE id = ?`, id).Scan(&data)
	erp := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, formatError(fmt.Errorf("read order %s: %w", id, err))
	}
	if erp {
		if err := json.Unmarshal([]byte(data), &p.Order); err != nil {
			return p, fmt.Errorf("decode order %s: %w", id, err)
		}
	}
	rows, err := db.r.QueryContext(ctx, `SELECT station, gtin, lot, expiry, quantity, line, state, allocated, printed, verified,
		commissioned, rejected, decommissioned, sampled, voided FROM station_orders WHERE order_id = ? ORDER BY station`, id)
	if err != nil {
		return p, formatError(fmt.Errorf("read progress of order %s: %w", id, err))
	}
	defer rows.Close()
	for rows.Next() {
		var sp uplink.StationProgress
		var o uplink.Order
		var state string
		k := &sp.Counters
		if err := rows.Scan(&sp.Station, &o.GTIN, &o.Lot, &o.Expiry, &o.Quantity, &o.Line, &state, &k.Allocated, &k.Printed, &k.Verified,
			&k.Commissioned, &k.Rejected, &k.Decommissioned, &k.Sampled, &k.Voided); err != nil {
			return p, formatError(fmt.Errorf("read progress of order %s: %w", id, err))
		}
		sp.State = station.OrderState(state)
		k.Rejects = map[string]int64{}
		if !erp && p.Order.ID == "" {
			o.ID, o.State = id, sp.State
			p.Order = o
		}
		p.Stations = append(p.Stations, sp)
	}
	if err := rows.Err(); err != nil {
		return p, formatError(fmt.Errorf("read progress of order %s: %w", id, err))
	}
	rows.Close()
	if !erp && len(p.Stations) == 0 {
		return p, station.Errorf(station.ENOTFOUND, "order %s does not exist", id)
	}
	rr, err := db.r.QueryContext(ctx, `SELECT station, reason, count FROM station_order_rejects WHERE order_id = ?`, id)
	if err != nil {
		return p, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
	}
	defer rr.Close()
	for rr.Next() {
		var st, reason string
		var n int64
		if err := rr.Scan(&st, &reason, &n); err != nil {
			return p, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
		}
		for i := range p.Stations {
			if p.Stations[i].Station == st {
				p.Stations[i].Counters.Rejects[reason] = n
			}
		}
	}
	if err := rr.Err(); err != nil {
		return p, formatError(fmt.Errorf("read rejects of order %s: %w", id, err))
	}
	t := &p.Totals
	for _, sp := range p.Stations {
		k := sp.Counters
		t.Allocated += k.Allocated
		t.Printed += k.Printed
		t.Verified += k.Verified
		t.Commissioned += k.Commissioned
		t.Rejected += k.Rejected
		t.Decommissioned += k.Decommissioned
		t.Sampled += k.Sampled
		t.Voided += k.Voided
		for r, n := range k.Rejects {
			t.Rejects[r] += n
		}
	}
	p.Reconcile()
	return p, nil
}

// PutUser creates or replaces a user and reports whether it was new.
func (db *DB) PutUser(ctx context.Context, u uplink.User) (created bool, err error) {
	if err := u.Validate(); err != nil {
		return false, err
	}
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, u.ID).Scan(&one)
		created = errors.Is(err, sql.ErrNoRows)
		if err != nil && !created {
			return formatError(fmt.Errorf("read user %s: %w", u.ID, err))
		}
		now := db.now().UTC()
		u.Updated = now
		b, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("encode user %s: %w", u.ID, err)
		}
		at := station.FormatTime(now)
		change, err := db.recordChange(ctx, c, uplink.KindUser, u.ID, "", "", b, at)
		if err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO users (id, data, updated_at, change) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at, change = excluded.change`,
			u.ID, string(b), at, change); err != nil {
			return formatError(fmt.Errorf("store user %s: %w", u.ID, err))
		}
		return nil
	})
	return created, err
}

// Users returns every user, by id, without their credential hashes.
func (db *DB) Users(ctx context.Context) ([]uplink.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM users ORDER BY id`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read users: %w", err))
	}
	defer rows.Close()
	out := []uplink.User{}
	for rows.Next() {
		var data string
		var u uplink.User
		if err := rows.Scan(&data); err != nil {
			return nil, formatError(fmt.Errorf("read users: %w", err))
		}
		if err := json.Unmarshal([]byte(data), &u); err != nil {
			return nil, fmt.Errorf("decode user: %w", err)
		}
		u.CredentialHash, u.CredentialKind = "", ""
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read users: %w", err))
	}
	return out, nil
}

// MasterData returns the master-data changes after seq after that a station
// of the given line needs: every product and user change, and changes of the
// line's orders once they left the planned state.
func (db *DB) MasterData(ctx context.Context, line string, after int64, limit int) (uplink.MasterData, error) {
	md := uplink.MasterData{Records: []uplink.MasterRecord{}, Next: after}
	if limit <= 0 || limit > 10000 {
		return md, station.Errorf(station.EINVALID, "limit %d must be 1 to 10000", limit)
	}
	// One snapshot for both reads, so a change committed in between is
	// neither skipped nor counted.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return md, formatError(fmt.Errorf("read master data after %d: %w", after, err))
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT seq, kind, key, data FROM changes
		WHERE seq > ? AND (kind <> 'order' OR (line = ? AND state <> 'planned')) ORDER BY seq LIMIT ?`, after, line, limit)
	if err != nil {
		return md, formatError(fmt.Errorf("read master data after %d: %w", after, err))
	}
	defer rows.Close()
	for rows.Next() {
		var r uplink.MasterRecord
		var data string
		if err := rows.Scan(&r.Seq, &r.Kind, &r.Key, &data); err != nil {
			return md, formatError(fmt.Errorf("read master data: %w", err))
		}
		r.Data = json.RawMessage(data)
		md.Records = append(md.Records, r)
		md.Next = r.Seq
	}
	if err := rows.Err(); err != nil {
		return md, formatError(fmt.Errorf("read master data after %d: %w", after, err))
	}
	rows.Close()
	if len(md.Records) < limit {
		// Skip over changes this line does not see, so the next pull starts after them.
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&last); err == nil && last.Int64 > md.Next {
			md.Next = last.Int64
		}
	}
	return md, nil
}
