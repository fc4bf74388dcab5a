package centraldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/linestation/linestation/station"
)

// MarkRestored records that this store was restored from backup
// generation: every enrolled station is awaited, and the serial and SSCC
// authority issues nothing until each has synced again (its push brought
// the store up to its head, so that everything it holds is entered again)
// or an admin accepted that it is gone (AcceptRestore). It returns the
// stations awaited. 'linestation restore --central' calls it on the
// restored file before putting it in place.
func (db *DB) MarkRestored(ctx context.Context, generation string) ([]string, error) {
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO restore_gate (station, generation, restored_at, head_seq)
			SELECT id, ?, ?, head_seq FROM stations WHERE enrolled_at != ''
			ON CONFLICT (station) DO UPDATE SET generation = excluded.generation, restored_at = excluded.restored_at, head_seq = excluded.head_seq`,
			generation, db.stamp())
		return formatError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("mark the store restored from generation %s: %w", generation, err)
	}
	return db.RestoreAwaited(ctx)
}

// RestoreAwaited returns the stations a restored store still waits for
// before it issues serials and SSCC blocks again, by id; none when the
// store was not restored or every station has synced.
func (db *DB) RestoreAwaited(ctx context.Context) ([]string, error) {
	return restoreAwaited(ctx, db.r)
}

func restoreAwaited(ctx context.Context, c interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := c.QueryContext(ctx, `SELECT station FROM restore_gate ORDER BY station`)
	if err != nil {
		return nil, formatError(fmt.Errorf("read the stations a restore awaits: %w", err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, formatError(fmt.Errorf("read the stations a restore awaits: %w", err))
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read the stations a restore awaits: %w", err))
	}
	return out, nil
}

// AcceptRestore stops waiting for stations after a restore (a station that
// is gone for good: whatever it held after the snapshot stays unknown to
// the authority). It returns the stations still awaited; ENOTFOUND names a
// station that is not awaited.
func (db *DB) AcceptRestore(ctx context.Context, stations []string) ([]string, error) {
	err := db.write(ctx, func(ctx context.Context, c conn) error {
		for _, s := range stations {
			res, err := c.ExecContext(ctx, `DELETE FROM restore_gate WHERE station = ?`, s)
			if err != nil {
				return formatError(fmt.Errorf("accept the restore for station %s: %w", s, err))
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return station.Errorf(station.ENOTFOUND, "station %s is not awaited after a restore", s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	left, err := db.RestoreAwaited(ctx)
	if err == nil {
		db.logger.Warn("restore accepted without the stations' journals", "stations", strings.Join(stations, ","), "awaited", len(left))
	}
	return left, err
}

// checkRestoreGate refuses issuance while a restored store awaits stations.
func checkRestoreGate(ctx context.Context, c conn) error {
	awaited, err := restoreAwaited(ctx, c)
	if err != nil {
		return err
	}
	if len(awaited) == 0 {
		return nil
	}
	return station.Errorf(station.EUNAVAILABLE, "the central store was restored from a backup and issues no serials or SSCC blocks until every station has synced with it again, "+
		"so that nothing issued after the backup is issued twice; awaiting station %s. Start them (they sync on their own); for a station that is gone for good run 'linestation serve restore-accept STATION'",
		strings.Join(awaited, ", "))
}

// clearRestoreGate ends the wait for a station once the store holds its
// journal up to the head the station reported. It reports whether the
// station was awaited.
func clearRestoreGate(ctx context.Context, c conn, stationID string, held, reported int64) (bool, error) {
	if reported > held {
		return false, nil
	}
	res, err := c.ExecContext(ctx, `DELETE FROM restore_gate WHERE station = ?`, stationID)
	if err != nil {
		return false, formatError(fmt.Errorf("end the restore wait for station %s: %w", stationID, err))
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
