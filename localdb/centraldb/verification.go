package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

// Suspect product investigations, holds, and the verification responder's
// lookups and records.

const holdColumns = `h.id, h.investigation, h.item, h.gtin, h.lot, h.reason, h.placed_at, h.placed_by, h.released_at, h.released_by`

func scanHolds(rows *sql.Rows) ([]dscsa.Hold, error) {
	defer rows.Close()
	out := []dscsa.Hold{}
	for rows.Next() {
		var h dscsa.Hold
		var placed, released string
		if err := rows.Scan(&h.ID, &h.Investigation, &h.Item, &h.GTIN, &h.Lot, &h.Reason, &placed, &h.PlacedBy, &released, &h.ReleasedBy); err != nil {
			return nil, formatError(fmt.Errorf("read holds: %w", err))
		}
		var e1, e2 error
		h.PlacedAt, e1 = parseTime(placed)
		h.ReleasedAt, e2 = parseTime(released)
		if err := errors.Join(e1, e2); err != nil {
			return nil, fmt.Errorf("read hold %d: %w", h.ID, err)
		}
		out = append(out, h)
	}
	return out, formatError(rows.Err())
}

// activeHolds returns the holds in force on any of the items or lots.
func activeHolds(ctx context.Context, q rowQuerier, items []string, lots []dscsa.LotKey) ([]dscsa.Hold, error) {
	var conds []string
	var args []any
	if len(items) > 0 {
		conds = append(conds, `h.item IN (`+placeholders(len(items))+`)`)
		for _, it := range items {
			args = append(args, it)
		}
	}
	for _, l := range lots {
		conds = append(conds, `(h.item = '' AND h.gtin = ? AND h.lot = ?)`)
		args = append(args, l.GTIN, l.Lot)
	}
	if len(conds) == 0 {
		return []dscsa.Hold{}, nil
	}
	where := conds[0]
	for _, c := range conds[1:] {
		where += " OR " + c
	}
	rows, err := q.QueryContext(ctx, `SELECT `+holdColumns+` FROM dscsa_holds h WHERE h.released_at = '' AND (`+where+`) ORDER BY h.id`, args...)
	if err != nil {
		return nil, formatError(fmt.Errorf("read holds: %w", err))
	}
	return scanHolds(rows)
}

// ActiveHolds returns the holds in force on any of the items or lots.
func (db *DB) ActiveHolds(ctx context.Context, items []string, lots []dscsa.LotKey) ([]dscsa.Hold, error) {
	return activeHolds(ctx, db.r, items, lots)
}

// OpenInvestigation records an investigation and places its holds; it
// fills in the ids.
func (db *DB) OpenInvestigation(ctx context.Context, inv *dscsa.Investigation) error {
	subject, err := json.Marshal(struct {
		Items []string       `json:"items"`
		Lots  []dscsa.LotKey `json:"lots"`
	}{inv.Items, inv.Lots})
	if err != nil {
		return fmt.Errorf("encode investigation: %w", err)
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		res, err := c.ExecContext(ctx, `INSERT INTO dscsa_investigations (reason, description, subject, status, opened_at, opened_by) VALUES (?, ?, ?, ?, ?, ?)`,
			inv.Reason, inv.Description, string(subject), inv.Status, station.FormatTime(inv.OpenedAt), inv.OpenedBy)
		if err != nil {
			return formatError(fmt.Errorf("record investigation: %w", err))
		}
		if inv.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("record investigation: %w", err)
		}
		for i := range inv.Holds {
			h := &inv.Holds[i]
			h.Investigation = inv.ID
			res, err := c.ExecContext(ctx, `INSERT INTO dscsa_holds (investigation, item, gtin, lot, reason, placed_at, placed_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				inv.ID, h.Item, h.GTIN, h.Lot, h.Reason, station.FormatTime(h.PlacedAt), h.PlacedBy)
			if err != nil {
				return formatError(fmt.Errorf("place hold: %w", err))
			}
			if h.ID, err = res.LastInsertId(); err != nil {
				return fmt.Errorf("place hold: %w", err)
			}
			if err := db.recordHoldChange(ctx, c, *h); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordHoldChange numbers a hold's change (placed, reason changed,
// released) for the stations' master-data pull, so that the stations
// refuse to pick and ship what is held.
func (db *DB) recordHoldChange(ctx context.Context, c conn, h dscsa.Hold) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode hold %d: %w", h.ID, err)
	}
	at := h.PlacedAt
	if !h.ReleasedAt.IsZero() {
		at = h.ReleasedAt
	}
	_, err = db.recordChange(ctx, c, uplink.KindHold, strconv.FormatInt(h.ID, 10), "", "", data, station.FormatTime(at))
	return err
}

func readInvestigation(ctx context.Context, q rowQuerier, id int64) (dscsa.Investigation, error) {
	var inv dscsa.Investigation
	var subject, opened, closed string
	err := q.QueryRowContext(ctx, `SELECT id, reason, description, subject, status, outcome, note, opened_at, opened_by, closed_at, closed_by
		FROM dscsa_investigations WHERE id = ?`, id).Scan(&inv.ID, &inv.Reason, &inv.Description, &subject, &inv.Status, &inv.Outcome, &inv.Note,
		&opened, &inv.OpenedBy, &closed, &inv.ClosedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return inv, station.Errorf(station.ENOTFOUND, "investigation %d does not exist", id)
	}
	if err != nil {
		return inv, formatError(fmt.Errorf("read investigation %d: %w", id, err))
	}
	var s struct {
		Items []string       `json:"items"`
		Lots  []dscsa.LotKey `json:"lots"`
	}
	var e1, e2 error
	inv.OpenedAt, e1 = parseTime(opened)
	inv.ClosedAt, e2 = parseTime(closed)
	if err := errors.Join(e1, e2, json.Unmarshal([]byte(subject), &s)); err != nil {
		return inv, fmt.Errorf("read investigation %d: %w", id, err)
	}
	inv.Items, inv.Lots = s.Items, s.Lots
	rows, err := q.QueryContext(ctx, `SELECT `+holdColumns+` FROM dscsa_holds h WHERE h.investigation = ? ORDER BY h.id`, id)
	if err != nil {
		return inv, formatError(fmt.Errorf("read holds of investigation %d: %w", id, err))
	}
	inv.Holds, err = scanHolds(rows)
	return inv, err
}

// Investigation returns one investigation with its holds.
func (db *DB) Investigation(ctx context.Context, id int64) (dscsa.Investigation, error) {
	return readInvestigation(ctx, db.r, id)
}

// CloseInvestigation records an investigation's outcome: cleared releases
// its holds, illegitimate keeps them as illegitimate. ECONFLICT when it is
// closed already.
func (db *DB) CloseInvestigation(ctx context.Context, id int64, outcome, by, note string, at time.Time) (dscsa.Investigation, error) {
	var inv dscsa.Investigation
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		var err error
		if inv, err = readInvestigation(ctx, c, id); err != nil {
			return err
		}
		if inv.Status != "open" {
			return station.Errorf(station.ECONFLICT, "investigation %d is already closed (%s)", id, inv.Outcome)
		}
		ts := station.FormatTime(at)
		if _, err := c.ExecContext(ctx, `UPDATE dscsa_investigations SET status = 'closed', outcome = ?, note = ?, closed_at = ?, closed_by = ? WHERE id = ?`,
			outcome, note, ts, by, id); err != nil {
			return formatError(fmt.Errorf("close investigation %d: %w", id, err))
		}
		if outcome == dscsa.OutcomeCleared {
			_, err = c.ExecContext(ctx, `UPDATE dscsa_holds SET released_at = ?, released_by = ? WHERE investigation = ? AND released_at = ''`, ts, by, id)
		} else {
			_, err = c.ExecContext(ctx, `UPDATE dscsa_holds SET reason = ? WHERE investigation = ? AND released_at = ''`, dscsa.HoldIllegitimate, id)
		}
		if err != nil {
			return formatError(fmt.Errorf("update the holds of investigation %d: %w", id, err))
		}
		if inv, err = readInvestigation(ctx, c, id); err != nil {
			return err
		}
		for _, h := range inv.Holds {
			if err := db.recordHoldChange(ctx, c, h); err != nil {
				return err
			}
		}
		return nil
	})
	return inv, err
}

// SerialInfo returns what the repository knows of an SGTIN for the
// verification responder, in one read transaction.
func (db *DB) SerialInfo(ctx context.Context, gtin, serial string) (dscsa.SerialInfo, error) {
	var info dscsa.SerialInfo
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return info, formatError(fmt.Errorf("read serial %s of GTIN %s: %w", serial, gtin, err))
	}
	defer tx.Rollback()
	var state, order, owner string
	var orderN sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT state, reason, order_id, station FROM serials WHERE gtin = ? AND serial = ?`, gtin, serial).
		Scan(&state, &info.Reason, &orderN, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return info, nil
	}
	if err != nil {
		return info, formatError(fmt.Errorf("read serial %s of GTIN %s: %w", serial, gtin, err))
	}
	info.Known, info.State, order = true, station.UnitState(state), orderN.String
	if order != "" {
		err := tx.QueryRowContext(ctx, `SELECT lot, expiry FROM station_orders WHERE order_id = ? AND station = ?`, order, owner).Scan(&info.Lot, &info.Expiry)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return info, formatError(fmt.Errorf("read order %s: %w", order, err))
		}
	}
	key := station.SGTIN(gtin, serial).Key()
	items := []string{key}
	for cur, depth := key, 0; depth < 8; depth++ {
		var parent string
		err := tx.QueryRowContext(ctx, `SELECT parent FROM aggregation WHERE child = ?`, cur).Scan(&parent)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return info, formatError(fmt.Errorf("read parent of %s: %w", cur, err))
		}
		info.Parents = append(info.Parents, parent)
		items = append(items, parent)
		cur = parent
	}
	var lots []dscsa.LotKey
	if info.Lot != "" {
		lots = []dscsa.LotKey{{GTIN: gtin, Lot: info.Lot}}
	}
	if info.Holds, err = activeHolds(ctx, tx, items, lots); err != nil {
		return info, err
	}
	return info, nil
}

// LogVerification keeps a verification request and its answer.
func (db *DB) LogVerification(ctx context.Context, v *dscsa.VerificationRecord) error {
	r := v.Request
	return db.write(ctx, func(ctx context.Context, c conn) error {
		res, err := c.ExecContext(ctx, `INSERT INTO dscsa_verifications (at, requester, gtin, serial, lot, expiry, req_gln, corr_uuid, context, status, response)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, station.FormatTime(v.At), v.Requester, r.GTIN, r.Serial, r.Lot, r.Expiry, r.RequesterGLN,
			r.CorrUUID, r.Context, v.Status, string(v.Response))
		if err != nil {
			return formatError(fmt.Errorf("keep verification request %s: %w", r.CorrUUID, err))
		}
		v.ID, err = res.LastInsertId()
		return err
	})
}

// Verifications lists the kept verification requests, newest first.
func (db *DB) Verifications(ctx context.Context, limit int) ([]dscsa.VerificationRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, requester, gtin, serial, lot, expiry, req_gln, corr_uuid, context, status, response
		FROM dscsa_verifications ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read verification requests: %w", err))
	}
	defer rows.Close()
	out := []dscsa.VerificationRecord{}
	for rows.Next() {
		var v dscsa.VerificationRecord
		var at, resp string
		r := &v.Request
		if err := rows.Scan(&v.ID, &at, &v.Requester, &r.GTIN, &r.Serial, &r.Lot, &r.Expiry, &r.RequesterGLN, &r.CorrUUID, &r.Context, &v.Status, &resp); err != nil {
			return nil, formatError(fmt.Errorf("read verification requests: %w", err))
		}
		if v.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read verification request %d: %w", v.ID, err)
		}
		v.Response = json.RawMessage(resp)
		out = append(out, v)
	}
	return out, formatError(rows.Err())
}
