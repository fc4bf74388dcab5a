package centraldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// Reserve issues count serials of a GTIN to holder (a station id, or
// erp:<client> for an ERP range request), made with the product's serial
// scheme. Every serial ever issued for the GTIN is in issued_serials, whose
// primary key makes a second issue impossible; the density rule of the
// scheme (station.SerialScheme.CheckDensity) bounds what may ever be issued.
// A request with a RequestID the holder used before returns that
// reservation again (ECONFLICT when it asked for something else).
// Errors: EINVALID for a bad request, ENOTFOUND for an unknown product,
// ECONFLICT when the density rule or the serial space refuses it.
func (db *DB) Reserve(ctx context.Context, holder string, req uplink.ReserveRequest) (uplink.Reservation, error) {
	var r uplink.Reservation
	if req.Count < 1 || req.Count > uplink.MaxReserveCount {
		return r, station.Errorf(station.EINVALID, "count %d must be 1 to %d", req.Count, uplink.MaxReserveCount)
	}
	if req.RequestID == "" || len(req.RequestID) > 64 {
		return r, station.Errorf(station.EINVALID, "request_id must be 1 to 64 characters, unique per request (a retry reuses it)")
	}
	p, err := db.Product(ctx, req.GTIN)
	if err != nil {
		return r, err
	}
	scheme := p.Serial.WithDefaults()
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		r, err = db.reserve(ctx, c, holder, req, scheme)
		return err
	})
	if err != nil {
		return r, err
	}
	if r.Serials == nil {
		// An earlier reservation returned again: read its serials.
		r.Serials, err = db.reservationSerials(ctx, r.ID)
	}
	return r, err
}

func (db *DB) reserve(ctx context.Context, c conn, holder string, req uplink.ReserveRequest, scheme station.SerialScheme) (uplink.Reservation, error) {
	r := uplink.Reservation{GTIN: req.GTIN, Holder: holder, RequestID: req.RequestID}
	var count int
	var created string
	err := c.QueryRowContext(ctx, `SELECT id, gtin, count, created_at FROM reservations WHERE holder = ? AND request_id = ?`, holder, req.RequestID).
		Scan(&r.ID, &r.GTIN, &count, &created)
	if err == nil {
		if r.GTIN != req.GTIN || count != req.Count {
			return r, station.Errorf(station.ECONFLICT, "request_id %s was used for %d serials of GTIN %s: use a new id for a new request", req.RequestID, count, r.GTIN)
		}
		r.Created, err = parseTime(created)
		return r, err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, formatError(fmt.Errorf("read reservation %s of %s: %w", req.RequestID, holder, err))
	}
	if err := checkRestoreGate(ctx, c); err != nil {
		return r, err
	}
	var issued, next int64
	err = c.QueryRowContext(ctx, `SELECT issued, next FROM serial_counters WHERE gtin = ?`, req.GTIN).Scan(&issued, &next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return r, formatError(fmt.Errorf("read serial counter of GTIN %s: %w", req.GTIN, err))
	}
	if err := scheme.CheckDensity(issued, int64(req.Count)); err != nil {
		return r, station.Errorf(station.ECONFLICT, "GTIN %s: %s", req.GTIN, station.ErrorMessage(err))
	}
	now := db.now().UTC()
	r.Created = now
	res, err := c.ExecContext(ctx, `INSERT INTO reservations (gtin, holder, request_id, count, created_at) VALUES (?, ?, ?, ?, ?)`,
		req.GTIN, holder, req.RequestID, req.Count, station.FormatTime(now))
	if err != nil {
		return r, formatError(fmt.Errorf("record reservation of %s: %w", holder, err))
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return r, fmt.Errorf("record reservation of %s: %w", holder, err)
	}
	r.Serials = make([]string, 0, req.Count)
	// Draws that hit an issued serial are retried; in a space that the
	// density rule keeps at least 10,000 times larger than what is issued,
	// a miss is rare, so many misses in a row mean a broken scheme.
	misses, maxMisses := 0, 1000+req.Count
	for len(r.Serials) < req.Count {
		var s string
		if scheme.Sequential {
			s, err = scheme.Nth(uint64(next))
			next++
		} else {
			s, err = scheme.Random()
		}
		if err != nil {
			return r, station.Errorf(station.ECONFLICT, "GTIN %s: %s", req.GTIN, station.ErrorMessage(err))
		}
		res, err := c.ExecContext(ctx, `INSERT INTO issued_serials (gtin, serial, holder, reservation, state) VALUES (?, ?, ?, ?, 'reserved')
			ON CONFLICT (gtin, serial) DO NOTHING`, req.GTIN, s, holder, r.ID)
		if err != nil {
			return r, formatError(fmt.Errorf("issue serial of GTIN %s: %w", req.GTIN, err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if scheme.Sequential {
				// Issued already (entered from a station's journal after
				// a restore): the sequence goes on past it.
				continue
			}
			if misses++; misses > maxMisses {
				return r, station.Errorf(station.ECONFLICT, "GTIN %s: %d draws in a row hit serials issued before: the serial space is exhausted or the scheme is broken", req.GTIN, misses)
			}
			continue
		}
		r.Serials = append(r.Serials, s)
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO serial_counters (gtin, issued, next) VALUES (?, ?, ?)
		ON CONFLICT (gtin) DO UPDATE SET issued = issued + excluded.issued, next = excluded.next`, req.GTIN, req.Count, next); err != nil {
		return r, formatError(fmt.Errorf("count serials of GTIN %s: %w", req.GTIN, err))
	}
	return r, nil
}

func (db *DB) reservationSerials(ctx context.Context, id int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT serial FROM issued_serials WHERE reservation = ? ORDER BY serial`, id)
	if err != nil {
		return nil, formatError(fmt.Errorf("read serials of reservation %d: %w", id, err))
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, formatError(fmt.Errorf("read serials of reservation %d: %w", id, err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read serials of reservation %d: %w", id, err))
	}
	return out, nil
}

// Reservations returns holder's reservations with an id above after, at
// most limit, with their serials.
func (db *DB) Reservations(ctx context.Context, holder string, after int64, limit int) ([]uplink.Reservation, error) {
	if limit <= 0 || limit > 1000 {
		return nil, station.Errorf(station.EINVALID, "limit %d must be 1 to 1000", limit)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, gtin, request_id, created_at FROM reservations WHERE holder = ? AND id > ? ORDER BY id LIMIT ?`, holder, after, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read reservations of %s: %w", holder, err))
	}
	out := []uplink.Reservation{}
	for rows.Next() {
		r := uplink.Reservation{Holder: holder}
		var created string
		if err := rows.Scan(&r.ID, &r.GTIN, &r.RequestID, &created); err != nil {
			rows.Close()
			return nil, formatError(fmt.Errorf("read reservations of %s: %w", holder, err))
		}
		if r.Created, err = parseTime(created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read reservations of %s: %w", holder, err)
		}
		out = append(out, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, formatError(fmt.Errorf("read reservations of %s: %w", holder, err))
	}
	for i := range out {
		if out[i].Serials, err = db.reservationSerials(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Release returns or voids unused serials that were issued to holder, all
// or none: ENOTFOUND names a serial never issued to holder, ECONFLICT one
// already released the other way. Releasing a serial again the same way
// changes nothing and is not an error (a retried request).
func (db *DB) Release(ctx context.Context, holder string, req uplink.ReleaseRequest) (uplink.ReleaseResult, error) {
	var res uplink.ReleaseResult
	state := ""
	switch req.Action {
	case uplink.ReleaseReturn:
		state = "returned"
	case uplink.ReleaseVoid:
		state = "voided"
		if req.Reason == "" {
			return res, station.Errorf(station.EINVALID, "reason is missing: say why the serials are voided")
		}
	default:
		return res, station.Errorf(station.EINVALID, "action %q is neither %s nor %s", req.Action, uplink.ReleaseReturn, uplink.ReleaseVoid)
	}
	if len(req.Serials) == 0 || len(req.Serials) > uplink.MaxReserveCount {
		return res, station.Errorf(station.EINVALID, "%d serials: release 1 to %d at a time", len(req.Serials), uplink.MaxReserveCount)
	}
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		res = uplink.ReleaseResult{}
		for _, s := range req.Serials {
			var h, cur string
			err := c.QueryRowContext(ctx, `SELECT holder, state FROM issued_serials WHERE gtin = ? AND serial = ?`, req.GTIN, s).Scan(&h, &cur)
			switch {
			case errors.Is(err, sql.ErrNoRows) || (err == nil && h != holder):
				return station.Errorf(station.ENOTFOUND, "serial %s of GTIN %s was not issued to %s", s, req.GTIN, holder)
			case err != nil:
				return formatError(fmt.Errorf("read serial %s of GTIN %s: %w", s, req.GTIN, err))
			case cur == state:
				continue
			case cur != "reserved":
				return station.Errorf(station.ECONFLICT, "serial %s of GTIN %s is already %s: it cannot be %s", s, req.GTIN, cur, state)
			}
			if _, err := c.ExecContext(ctx, `UPDATE issued_serials SET state = ?, reason = ? WHERE gtin = ? AND serial = ?`, state, req.Reason, req.GTIN, s); err != nil {
				return formatError(fmt.Errorf("release serial %s of GTIN %s: %w", s, req.GTIN, err))
			}
			res.Released++
		}
		return nil
	})
	return res, err
}
