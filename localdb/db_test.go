package localdb

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

func TestOpen(t *testing.T) {
	t.Run("Pragmas", func(t *testing.T) {
		db := MustOpenDB(t, newTestClock())
		ctx := context.Background()
		pragmas := func(q interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}) (journal string, sync, fk, busy int) {
			q.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal)
			q.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
			q.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
			q.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy)
			return
		}
		// The writer's one connection is held by the writer goroutine:
		// ask through it.
		err := db.exclusive(ctx, func(ctx context.Context, w *writer) error {
			journal, sync, fk, busy := pragmas(w.conn)
			if journal != "wal" || sync != 2 || fk != 1 || busy != 5000 {
				t.Errorf("writer: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d, want wal 2 (FULL) 1 5000", journal, sync, fk, busy)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		journal, _, fk, busy := pragmas(conn)
		conn.Close()
		if journal != "wal" || fk != 1 || busy != 5000 {
			t.Errorf("reader: journal_mode=%s foreign_keys=%d busy_timeout=%d, want wal 1 5000", journal, fk, busy)
		}
		if got := db.w.Stats().MaxOpenConnections; got != 1 {
			t.Errorf("writer pool max conns = %d, want 1", got)
		}
		// The read pool cannot write.
		if _, err := db.r.Exec(`INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("write through the read pool: %v, want a read-only error", err)
		}
	})

	t.Run("Migrations", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		MustOpenPath(t, path, Options{Station: testStation, Clock: newTestClock(), Create: true}).Close()
		db := MustOpenPath(t, path, Options{Clock: newTestClock()})
		if db.Station() != testStation {
			t.Fatalf("station = %q, want %q from the file", db.Station(), testStation)
		}
		var names []string
		rows, err := db.r.Query(`SELECT name FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		embedded, err := fs.Glob(migrationFS, "migration/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for i := range embedded {
			embedded[i] = filepath.Base(embedded[i])
		}
		if len(embedded) == 0 || embedded[0] != "0001_init.sql" || !slices.Equal(names, embedded) {
			t.Fatalf("migrations = %v, want every embedded migration %v recorded once, in order", names, embedded)
		}
	})

	t.Run("ErrNewerMigration", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		MustOpenPath(t, path, Options{Station: testStation, Clock: newTestClock(), Create: true}).Close()
		raw := rawDB(t, path)
		if _, err := raw.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('0999_future.sql', 'x')`); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), path, Options{Logger: quietLogger()})
		if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "newer linestation") {
			t.Fatalf("err = %v, want ECONFLICT about a newer version", err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.db")
		for _, opts := range []Options{{}, {ReadOnly: true}, {Station: testStation}} {
			opts.Logger = quietLogger()
			_, err := Open(context.Background(), path, opts)
			if station.ErrorCode(err) != station.ENOTFOUND {
				t.Fatalf("%+v: err = %v, want ENOTFOUND", opts, err)
			}
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("open without Create made %s", path)
		}
	})

	t.Run("ErrNotLedger", func(t *testing.T) {
		dir := t.TempDir()
		junk := filepath.Join(dir, "junk.db")
		os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 100)), 0o644)
		other := filepath.Join(dir, "other.db")
		raw := rawDB(t, other)
		raw.Exec(`CREATE TABLE things (id INTEGER)`)
		empty := filepath.Join(dir, "empty.db")
		os.WriteFile(empty, nil, 0o644)
		for _, tt := range []struct {
			path string
			opts Options
			want string
		}{
			{junk, Options{ReadOnly: true}, "not a linestation ledger"},
			{junk, Options{Station: testStation}, "not a linestation ledger"},
			{other, Options{ReadOnly: true}, "has no migrations table"},
			{other, Options{Station: testStation, Create: true}, "has no migrations table"},
			{empty, Options{Station: testStation}, "the database is empty"},
			{dir, Options{ReadOnly: true}, "is a directory"},
		} {
			tt.opts.Logger = quietLogger()
			_, err := Open(context.Background(), tt.path, tt.opts)
			if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s %+v: err = %v, want EINVALID %q", filepath.Base(tt.path), tt.opts, err, tt.want)
			}
		}
		var n int
		raw.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n)
		if n != 1 {
			t.Fatalf("other database has %d schema objects, want its 1 table untouched", n)
		}
		// An empty file may become a ledger when asked to.
		db := MustOpenPath(t, empty, Options{Station: testStation, Clock: newTestClock(), Create: true})
		MustAppend(t, db, ev(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelPallet}))
	})

	t.Run("ErrStation", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		MustOpenPath(t, path, Options{Station: testStation, Clock: newTestClock(), Create: true}).Close()
		_, err := Open(context.Background(), path, Options{Station: "line-2", Logger: quietLogger()})
		if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), `belongs to station "line-1"`) {
			t.Fatalf("err = %v, want ECONFLICT naming line-1", err)
		}
		_, err = Open(context.Background(), filepath.Join(t.TempDir(), "n.db"), Options{Create: true, Logger: quietLogger()})
		if station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("create without station: %v, want EINVALID", err)
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "l.db")
		w := MustOpenPath(t, path, Options{Station: testStation, Clock: newTestClock(), Create: true})
		MustSetupOrder(t, w, serials("R", 2))
		// A reader beside a live writer sees what was committed.
		r := MustOpenPath(t, path, Options{ReadOnly: true})
		h, err := r.Head(context.Background())
		if err != nil || h.Seq != 2 {
			t.Fatalf("head = %+v, %v; want seq 2", h, err)
		}
		if _, err := r.Append(context.Background(), ev(station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelCase})); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("append read-only: %v, want EINVALID", err)
		}
		if _, err := r.Rebuild(context.Background()); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("rebuild read-only: %v, want EINVALID", err)
		}
		// After the writer closes, the file is still readable read-only.
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r2 := MustOpenPath(t, path, Options{ReadOnly: true})
		if rep, err := r2.Verify(context.Background()); err != nil || !rep.OK() || rep.Events != 2 {
			t.Fatalf("verify read-only after close: %+v, %v", rep, err)
		}
	})
}
