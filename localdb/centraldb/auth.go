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

// Credentials are stored as hex SHA-256 hashes only (see uplink/central for
// how secrets are made and hashed); nothing here ever sees a secret.

// AddStation creates a station on a line with a one-time enrollment code
// (its hash) valid until expires. With newCode an existing station gets a
// new code instead (its current credential stays valid until the new code
// is used). ECONFLICT when the station exists and newCode is false,
// ENOTFOUND when it does not and newCode is true.
func (db *DB) AddStation(ctx context.Context, id, line, codeHash string, expires time.Time, newCode bool) error {
	if err := uplink.ValidateID("station id", id); err != nil {
		return err
	}
	if line == "" {
		line = id
	}
	if err := uplink.ValidateID("line", line); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		now := db.stamp()
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM stations WHERE id = ?`, id).Scan(&one)
		exists := err == nil
		switch {
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return formatError(fmt.Errorf("read station %s: %w", id, err))
		case exists && !newCode:
			return station.Errorf(station.ECONFLICT, "station %s already exists: to enroll it again (a new PC, a lost credential), ask for a new code", id)
		case !exists && newCode:
			return station.Errorf(station.ENOTFOUND, "station %s does not exist: add it first", id)
		case !exists:
			if _, err := c.ExecContext(ctx, `INSERT INTO stations (id, line, created_at) VALUES (?, ?, ?)`, id, line, now); err != nil {
				return formatError(fmt.Errorf("add station %s: %w", id, err))
			}
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO enrollment_codes (code_hash, station, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			codeHash, id, now, station.FormatTime(expires)); err != nil {
			return formatError(fmt.Errorf("add enrollment code of station %s: %w", id, err))
		}
		return nil
	})
}

// Enroll exchanges a one-time code (its hash) for a station credential (its
// hash): the code is marked used, the station's earlier credentials are
// revoked, and the new one recorded, in one transaction. EUNAUTHORIZED when
// the code is unknown, used or expired.
func (db *DB) Enroll(ctx context.Context, codeHash, tokenHash string) (uplink.StationInfo, error) {
	var info uplink.StationInfo
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		var expires, used string
		err := c.QueryRowContext(ctx, `SELECT e.station, s.line, e.expires_at, e.used_at FROM enrollment_codes e JOIN stations s ON s.id = e.station WHERE e.code_hash = ?`, codeHash).
			Scan(&info.ID, &info.Line, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.EUNAUTHORIZED, "unknown enrollment code: check it, or ask the administrator for a new one ('linestation serve station add NAME')")
		}
		if err != nil {
			return formatError(fmt.Errorf("read enrollment code: %w", err))
		}
		now := db.now().UTC()
		if used != "" {
			return station.Errorf(station.EUNAUTHORIZED, "this enrollment code was already used (at %s): a code works once; ask the administrator for a new one", used)
		}
		exp, err := parseTime(expires)
		if err != nil {
			return fmt.Errorf("read enrollment code of station %s: %w", info.ID, err)
		}
		if !now.Before(exp) {
			return station.Errorf(station.EUNAUTHORIZED, "this enrollment code expired at %s: ask the administrator for a new one", expires)
		}
		at := station.FormatTime(now)
		if _, err := c.ExecContext(ctx, `UPDATE enrollment_codes SET used_at = ? WHERE code_hash = ?`, at, codeHash); err != nil {
			return formatError(fmt.Errorf("use enrollment code of station %s: %w", info.ID, err))
		}
		if _, err := c.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, revoked_why = ? WHERE principal = ? AND role = 'station' AND revoked_at = ''`,
			at, "the station was enrolled again: use the new one", info.ID); err != nil {
			return formatError(fmt.Errorf("revoke old credentials of station %s: %w", info.ID, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO credentials (token_hash, principal, role, created_at) VALUES (?, ?, 'station', ?)`, tokenHash, info.ID, at); err != nil {
			return formatError(fmt.Errorf("record credential of station %s: %w", info.ID, err))
		}
		if _, err := c.ExecContext(ctx, `UPDATE stations SET enrolled_at = ? WHERE id = ?`, at, info.ID); err != nil {
			return formatError(fmt.Errorf("record enrollment of station %s: %w", info.ID, err))
		}
		info.Enrolled = now
		return nil
	})
	return info, err
}

// AddClient creates an ERP client with a credential (its hash). With
// replace an existing client's credentials are revoked and replaced.
// ECONFLICT when the client exists and replace is false.
func (db *DB) AddClient(ctx context.Context, name, role, tokenHash string, replace bool) error {
	if err := uplink.ValidateID("client name", name); err != nil {
		return err
	}
	if role != uplink.RoleERP {
		return station.Errorf(station.EINVALID, "client role %q: clients have role %s", role, uplink.RoleERP)
	}
	return db.write(ctx, func(ctx context.Context, c conn) error {
		now := db.stamp()
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE name = ?`, name).Scan(&one)
		switch {
		case err == nil && !replace:
			return station.Errorf(station.ECONFLICT, "client %s already exists: replace its token to issue a new one", name)
		case err == nil:
			if _, err := c.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, revoked_why = ? WHERE principal = ? AND role = ? AND revoked_at = ''`,
				now, "a new token was issued for this client: use that one", name, role); err != nil {
				return formatError(fmt.Errorf("revoke credentials of client %s: %w", name, err))
			}
		case errors.Is(err, sql.ErrNoRows):
			if _, err := c.ExecContext(ctx, `INSERT INTO clients (name, role, created_at) VALUES (?, ?, ?)`, name, role, now); err != nil {
				return formatError(fmt.Errorf("add client %s: %w", name, err))
			}
		default:
			return formatError(fmt.Errorf("read client %s: %w", name, err))
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO credentials (token_hash, principal, role, created_at) VALUES (?, ?, ?, ?)`, tokenHash, name, role, now); err != nil {
			return formatError(fmt.Errorf("record credential of client %s: %w", name, err))
		}
		return nil
	})
}

// Authenticate returns who holds the credential with this hash;
// EUNAUTHORIZED when none (or a revoked one) does.
func (db *DB) Authenticate(ctx context.Context, tokenHash string) (uplink.Principal, error) {
	var p uplink.Principal
	var revoked, why string
	err := db.r.QueryRowContext(ctx, `SELECT c.principal, c.role, c.revoked_at, c.revoked_why, COALESCE(s.line, '') FROM credentials c
		LEFT JOIN stations s ON c.role = 'station' AND s.id = c.principal WHERE c.token_hash = ?`, tokenHash).Scan(&p.Name, &p.Role, &revoked, &why, &p.Line)
	if errors.Is(err, sql.ErrNoRows) {
		return p, station.Errorf(station.EUNAUTHORIZED, "unknown credential: enroll the station (or ask for an ERP token) and send it as 'Authorization: Bearer TOKEN'")
	}
	if err != nil {
		return p, formatError(fmt.Errorf("read credential: %w", err))
	}
	if revoked != "" {
		if why == "" {
			why = "use the current one"
		}
		return uplink.Principal{}, station.Errorf(station.EUNAUTHORIZED, "this credential was revoked at %s: %s", revoked, why)
	}
	return p, nil
}

// RevokeStation revokes a station's credentials and its unused
// enrollment codes (a stolen or retired station PC): its requests are
// refused until it is enrolled again with a new code. Its journal stays.
// It returns how many credentials it revoked; ENOTFOUND for an unknown
// station.
func (db *DB) RevokeStation(ctx context.Context, id string) (int, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM stations WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return station.Errorf(station.ENOTFOUND, "station %q is not known to the central service", id)
		}
		if err != nil {
			return formatError(fmt.Errorf("read station %s: %w", id, err))
		}
		at := db.stamp()
		res, err := c.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, revoked_why = ? WHERE principal = ? AND role = 'station' AND revoked_at = ''`,
			at, "the administrator revoked this station's access: enroll it again with a new code ('linestation serve station add "+id+" --new-code')", id)
		if err != nil {
			return formatError(fmt.Errorf("revoke credentials of station %s: %w", id, err))
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("revoke credentials of station %s: %w", id, err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE enrollment_codes SET expires_at = ? WHERE station = ? AND used_at = '' AND expires_at > ?`, at, id, at); err != nil {
			return formatError(fmt.Errorf("void enrollment codes of station %s: %w", id, err))
		}
		return nil
	})
	return int(n), err
}

// Stations returns every station with its head, last report and whether
// it holds a credential in force.
func (db *DB) Stations(ctx context.Context) ([]uplink.StationInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, line, enrolled_at, head_seq, head_hash, head_time, last_sync, report, conflicts,
		CASE WHEN EXISTS (SELECT 1 FROM credentials c WHERE c.principal = s.id AND c.role = 'station' AND c.revoked_at = '') THEN 'active'
			WHEN EXISTS (SELECT 1 FROM credentials c WHERE c.principal = s.id AND c.role = 'station') THEN 'revoked' ELSE 'none' END
		FROM stations s ORDER BY id`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read stations: %w", err))
	}
	defer rows.Close()
	out := []uplink.StationInfo{}
	for rows.Next() {
		var s uplink.StationInfo
		var enrolled, headTime, lastSync, report string
		if err := rows.Scan(&s.ID, &s.Line, &enrolled, &s.HeadSeq, &s.HeadHash, &headTime, &lastSync, &report, &s.Conflicts, &s.Credential); err != nil {
			return nil, formatError(fmt.Errorf("read stations: %w", err))
		}
		var e1, e2, e3 error
		s.Enrolled, e1 = parseTime(enrolled)
		s.HeadTime, e2 = parseTime(headTime)
		s.LastSync, e3 = parseTime(lastSync)
		if err := errors.Join(e1, e2, e3, json.Unmarshal([]byte(report), &s.Reported)); err != nil {
			return nil, fmt.Errorf("read station %s: %w", s.ID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read stations: %w", err))
	}
	return out, nil
}
