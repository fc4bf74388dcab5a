package centraldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/dscsa"
)

// The DSCSA exchange's master data: locations, trading partners and their
// credentials (hashes only).

var _ dscsa.Store = (*DB)(nil)

// PutLocation creates or replaces a location (validated first).
func (db *DB) PutLocation(ctx context.Context, l dscsa.Location) (bool, error) {
	if err := l.Validate(); err != nil {
		return false, err
	}
	data, err := json.Marshal(l)
	if err != nil {
		return false, fmt.Errorf("encode location %s: %w", l.GLN, err)
	}
	var created bool
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM dscsa_locations WHERE gln = ?`, l.GLN).Scan(&one)
		created = errors.Is(err, sql.ErrNoRows)
		if err != nil && !created {
			return formatError(fmt.Errorf("read location %s: %w", l.GLN, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO dscsa_locations (gln, data, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (gln) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, l.GLN, string(data), db.stamp()); err != nil {
			return formatError(fmt.Errorf("store location %s: %w", l.GLN, err))
		}
		return nil
	})
	return created, err
}

// Locations returns every location, by GLN.
func (db *DB) Locations(ctx context.Context) ([]dscsa.Location, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM dscsa_locations ORDER BY gln`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read locations: %w", err))
	}
	defer rows.Close()
	out := []dscsa.Location{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, formatError(fmt.Errorf("read locations: %w", err))
		}
		var l dscsa.Location
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			return nil, fmt.Errorf("decode location: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read locations: %w", err))
	}
	return out, nil
}

// PutPartner creates or replaces a partner (validated first). ECONFLICT
// when another partner has its GLN.
func (db *DB) PutPartner(ctx context.Context, p dscsa.Partner) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("encode partner %s: %w", p.ID, err)
	}
	var created bool
	err = db.write(ctx, func(ctx context.Context, c conn) error {
		var other string
		err := c.QueryRowContext(ctx, `SELECT id FROM dscsa_partners WHERE gln = ?`, p.GLN).Scan(&other)
		switch {
		case err == nil && other != p.ID:
			return station.Errorf(station.ECONFLICT, "partner %s already has GLN %s", other, p.GLN)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return formatError(fmt.Errorf("read partner %s: %w", p.ID, err))
		}
		var one int
		err = c.QueryRowContext(ctx, `SELECT 1 FROM dscsa_partners WHERE id = ?`, p.ID).Scan(&one)
		created = errors.Is(err, sql.ErrNoRows)
		if err != nil && !created {
			return formatError(fmt.Errorf("read partner %s: %w", p.ID, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO dscsa_partners (id, gln, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET gln = excluded.gln, data = excluded.data, updated_at = excluded.updated_at`, p.ID, p.GLN, string(data), db.stamp()); err != nil {
			return formatError(fmt.Errorf("store partner %s: %w", p.ID, err))
		}
		return nil
	})
	return created, err
}

func (db *DB) partnerWhere(ctx context.Context, where string, arg any, what string) (dscsa.Partner, error) {
	var p dscsa.Partner
	var data string
	err := db.r.QueryRowContext(ctx, `SELECT data FROM dscsa_partners WHERE `+where+` = ?`, arg).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return p, station.Errorf(station.ENOTFOUND, "no partner with %s %v", what, arg)
	}
	if err != nil {
		return p, formatError(fmt.Errorf("read partner %v: %w", arg, err))
	}
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("decode partner %v: %w", arg, err)
	}
	return p, nil
}

// Partner returns a partner by id.
func (db *DB) Partner(ctx context.Context, id string) (dscsa.Partner, error) {
	return db.partnerWhere(ctx, "id", id, "id")
}

// PartnerByGLN returns the partner with a GLN.
func (db *DB) PartnerByGLN(ctx context.Context, gln string) (dscsa.Partner, error) {
	return db.partnerWhere(ctx, "gln", gln, "GLN")
}

// Partners returns every partner, by id.
func (db *DB) Partners(ctx context.Context) ([]dscsa.Partner, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM dscsa_partners ORDER BY id`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read partners: %w", err))
	}
	defer rows.Close()
	out := []dscsa.Partner{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, formatError(fmt.Errorf("read partners: %w", err))
		}
		var p dscsa.Partner
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return nil, fmt.Errorf("decode partner: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read partners: %w", err))
	}
	return out, nil
}

// AddPartnerToken records a credential (its hash) of a partner; ENOTFOUND
// for an unknown partner.
func (db *DB) AddPartnerToken(ctx context.Context, partner, tokenHash string) error {
	return db.write(ctx, func(ctx context.Context, c conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM dscsa_partners WHERE id = ?`, partner).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "no partner with id %s", partner)
		}
		if err != nil {
			return formatError(fmt.Errorf("read partner %s: %w", partner, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO dscsa_partner_credentials (token_hash, partner, created_at) VALUES (?, ?, ?)`,
			tokenHash, partner, db.stamp()); err != nil {
			return formatError(fmt.Errorf("record credential of partner %s: %w", partner, err))
		}
		return nil
	})
}

// PartnerByToken returns the partner holding a credential hash;
// EUNAUTHORIZED when none (or a revoked one) does.
func (db *DB) PartnerByToken(ctx context.Context, tokenHash string) (dscsa.Partner, error) {
	var id, revoked string
	err := db.r.QueryRowContext(ctx, `SELECT partner, revoked_at FROM dscsa_partner_credentials WHERE token_hash = ?`, tokenHash).Scan(&id, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return dscsa.Partner{}, station.Errorf(station.EUNAUTHORIZED, "unknown partner credential")
	}
	if err != nil {
		return dscsa.Partner{}, formatError(fmt.Errorf("read partner credential: %w", err))
	}
	if revoked != "" {
		return dscsa.Partner{}, station.Errorf(station.EUNAUTHORIZED, "this partner credential was revoked at %s", revoked)
	}
	return db.Partner(ctx, id)
}
