package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/ui"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
	"github.com/linestation/linestation/uplink/dscsa"
)

// testCentral is a real central service (uplink/central over a real
// centraldb store) on loopback.
type testCentral struct {
	store *centraldb.DB
	srv   *central.Server
	addr  string
	url   string
}

// startTestCentral runs the central service on addr ("127.0.0.1:0" for any
// port) over store (a new one when nil) until stop or the end of the test.
func startTestCentral(t *testing.T, store *centraldb.DB, addr string) *testCentral {
	t.Helper()
	if store == nil {
		store = centraltest.MustStore(t)
	}
	srv, err := central.New(central.Config{Store: store, Addr: addr, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	c := &testCentral{store: store, srv: srv, url: srv.URL()}
	c.addr = strings.TrimPrefix(c.url, "http://")
	t.Cleanup(c.stop)
	return c
}

// openLine1 adds station line-1 to the central and opens the kiosk's
// station (simulated line) enrolled with its code, closed at the end.
func (c *testCentral) openLine1(t *testing.T) *kioskStation {
	t.Helper()
	ctx := context.Background()
	code, err := central.AddStation(ctx, c.store, "line-1", "", 0, time.Now(), false)
	must(t, err)
	st, err := openStation(ctx, centralKioskConfig(t, c.url, code), slog.New(slog.DiscardHandler), &strings.Builder{})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// startTestCentralDSCSA starts a central on loopback with a fresh store and
// the DSCSA exchange on for our company gln, its folders under dir (files
// for partners in dir/dscsa-outbound).
func startTestCentralDSCSA(t *testing.T, gln, dir string) (*testCentral, *dscsa.Exchange) {
	t.Helper()
	store := centraltest.MustStore(t)
	x, err := dscsa.New(dscsa.Config{Store: store, GLN: gln, SpoolDir: filepath.Join(dir, "spool"), FilesDir: filepath.Join(dir, "dscsa-outbound"),
		SecretsDir: filepath.Join(dir, "secrets"), Interval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	must(t, x.Open(context.Background()))
	t.Cleanup(func() { x.Close() })
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet(), Exchange: x})
	must(t, err)
	must(t, srv.Open())
	c := &testCentral{store: store, srv: srv, url: srv.URL(), addr: strings.TrimPrefix(srv.URL(), "http://")}
	t.Cleanup(c.stop)
	return c, x
}

func (c *testCentral) stop() {
	_ = c.srv.Close(context.Background())
}

// seedTestCentral records the demo master data through the ERP API with a
// token from the store, as 'make run' does.
func seedTestCentral(t *testing.T, c *testCentral) seedResult {
	t.Helper()
	ctx := context.Background()
	token, err := central.AddClient(ctx, c.store, "demo-"+fmt.Sprint(time.Now().UnixNano()), false)
	if err != nil {
		t.Fatal(err)
	}
	api, err := uplink.NewAPI(c.url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitCentral(ctx, api, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := seedCentral(ctx, api, "line-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// centralKioskConfig is a station on a fast simulated line that uplinks
// to url and enrolls with code.
func centralKioskConfig(t *testing.T, url, code string) Config {
	t.Helper()
	path := writeConfig(t, fmt.Sprintf(`[station]
id = "line-1"
line = "line-1"
db = "station.db"
[devices.sim]
units_per_min = 3000
faults = "noread=10%%"
seed = 3
[pool]
low_water = 100
batch = 1500
[central]
url = %q
enrollment_code = %q
`, url, code))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKiosk_Central opens a station against a real central seeded by the
// demo seeder: it enrolls (keeping its credential, mode 0600), receives
// the products, users and the released order, reserves its serials from
// the central, sends its journal, says connected, runs the line for the
// demo supervisor, keeps producing while the central is away and catches
// up when it is back; opened again (the central away) it uses its
// credential, not the code.
func TestKiosk_Central(t *testing.T) {
	ctx := context.Background()
	c := startTestCentral(t, nil, "127.0.0.1:0")
	if res := seedTestCentral(t, c); res.products != 2 || res.users != len(demoAccounts) || res.orders != 1 || res.order.Line != "line-1" || res.order.State != station.OrderReleased {
		t.Fatalf("first seed %+v, want 2 products, %d users, 1 order released to line-1", res, len(demoAccounts))
	}
	if res := seedTestCentral(t, c); res.products != 0 || res.users != 0 || res.orders != 0 || res.order.ID != demoOrderID {
		t.Fatalf("second seed %+v, want nothing added", res)
	}
	code, err := central.AddStation(ctx, c.store, "line-1", "", 0, time.Now(), false)
	must(t, err)
	cfg := centralKioskConfig(t, c.url, code)
	logger := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	st, err := openStation(ctx, cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	credPath := cfg.Path(cfg.Central.CredentialFile)
	fi, err := os.Stat(credPath)
	if err != nil {
		t.Fatalf("no credential file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode %s, want -rw-------", fi.Mode().Perm())
	}
	cred, err := readCredential(credPath, logger)
	if err != nil || cred.Station != "line-1" || cred.Line != "line-1" || !strings.HasPrefix(cred.Token, "lst_") || cred.Central != c.url {
		t.Fatalf("credential %+v, %v", cred, err)
	}

	// Master data arrives: the products, the users with their PINs, the
	// order released to this line, and its pool filled by the central.
	gtin := demoProducts()[0].GTIN
	stationtest.Poll(t, 20*time.Second, "the released demo order and its serials", func() bool {
		o, err := st.db.Order(ctx, demoOrderID)
		if err != nil || o.State != station.OrderReleased {
			return false
		}
		lvl, err := st.db.Pool(ctx, gtin)
		return err == nil && lvl.Available >= int64(cfg.Pool.Batch)
	})
	ps, err := st.db.Products(ctx)
	if err != nil || len(ps) != 2 {
		t.Fatalf("products %d, %v; want the 2 demo products", len(ps), err)
	}
	for _, u := range demoAccounts {
		if rec, err := st.db.User(ctx, u.ID); err != nil || rec.Hash == "" || rec.Kind != station.CredentialPIN {
			t.Fatalf("demo user %s: %+v, %v; want the user with a PIN", u.ID, rec, err)
		}
	}
	if _, err := st.svc.SignIn(ctx, "sam", "", "314159"); err != nil {
		t.Fatalf("the demo supervisor cannot sign in with the PIN from the central: %v", err)
	}
	if strings.Contains(out.String(), "314159") {
		t.Fatalf("a central station printed the demo PINs itself:\n%s", out.String())
	}

	// Every serial came from the central's serial authority.
	stationSerials := map[string]bool{}
	evs, err := st.db.Events(ctx, 1, 100000)
	must(t, err)
	for _, e := range evs {
		if e.Type != station.EventPoolReserved {
			continue
		}
		var p station.PoolReserved
		must(t, json.Unmarshal(e.Payload, &p))
		if p.Source != "central" {
			t.Fatalf("serials reserved from %q at seq %d, want central", p.Source, e.Seq)
		}
		for _, s := range p.Serials {
			stationSerials[s] = true
		}
	}
	rs, err := c.store.Reservations(ctx, "line-1", 0, 100)
	must(t, err)
	issued := 0
	for _, r := range rs {
		for _, s := range r.Serials {
			issued++
			if !stationSerials[s] {
				t.Fatalf("the central issued serial %s to line-1, but the station never recorded it", s)
			}
		}
	}
	if len(stationSerials) == 0 || issued != len(stationSerials) {
		t.Fatalf("the station holds %d serials, the central issued %d to it", len(stationSerials), issued)
	}

	// Master data delivered again records nothing.
	md, err := c.store.MasterData(ctx, "line-1", 0, 1000)
	must(t, err)
	before, err := st.db.Head(ctx)
	must(t, err)
	must(t, applyMasterData(ctx, st.svc, "line-1", logger, md.Records))
	if after, _ := st.db.Head(ctx); after.Seq != before.Seq {
		t.Fatalf("applying the master data again recorded %d events", after.Seq-before.Seq)
	}

	// The journal reaches the central, and the kiosk says connected.
	waitCentralHolds(t, st.db, c.store)
	if s := st.uplink(); !s.Connected || s.LastSync.IsZero() || s.LastError != "" {
		t.Fatalf("uplink status for the kiosk %+v, want connected", s)
	}

	// What 'make run' shows a new user: the demo supervisor signs in and
	// runs the line; the central sees the packs commissioned.
	tour := runTestTour(t, st, "signin\nshow run\nstart\nwait 20\n")
	if len(tour) != 4 || !strings.HasPrefix(tour[2], "started") || !strings.HasPrefix(tour[3], "commissioned") {
		t.Fatalf("tour answered %q", tour)
	}
	o, err := st.db.Order(ctx, demoOrderID)
	must(t, err)
	waitCentralHolds(t, st.db, c.store)
	prog, err := c.store.OrderProgress(ctx, demoOrderID)
	must(t, err)
	if o.Commissioned < 20 || prog.Totals.Commissioned != o.Commissioned || prog.Totals.Rejected != o.Rejected {
		t.Fatalf("the station commissioned %d, rejected %d; the central knows %+v", o.Commissioned, o.Rejected, prog.Totals)
	}

	// Offline: the station goes on from its pool, the kiosk says so, and
	// the backlog drains once the central is back.
	c.stop()
	if _, err := st.svc.Pools().Allocate(ctx, demoOrderID, gtin, "olga", 20); err != nil {
		t.Fatalf("allocating from the reserved pool while the central is away: %v", err)
	}
	stationtest.Poll(t, 20*time.Second, "the kiosk to show the central away with records waiting", func() bool {
		s := st.uplink()
		return !s.Connected && s.Waiting > 0 && s.LastError != ""
	})
	c = startTestCentral(t, c.store, c.addr)
	waitCentralHolds(t, st.db, c.store)
	stationtest.Poll(t, 20*time.Second, "the kiosk to show the central connected again", func() bool { return st.uplink().Connected })
	head, err := st.db.Head(ctx)
	must(t, err)
	must(t, st.Close())

	// Opened again while the central is away: the credential is used (the
	// used code is not sent again), and the station opens all the same.
	c.stop()
	st, err = openStation(ctx, cfg, logger, &out)
	if err != nil {
		t.Fatalf("second open, with the central away: %v", err)
	}
	defer st.Close()
	c = startTestCentral(t, c.store, c.addr)
	stationtest.Poll(t, 20*time.Second, "the reopened station to sync and pull", func() bool {
		s := st.client.Status()
		return s.Connected && !s.LastPull.IsZero()
	})
	if again, _ := st.db.Head(ctx); again.Seq != head.Seq {
		t.Fatalf("the second open recorded %d events (master data pulled twice?)", again.Seq-head.Seq)
	}
	sts, err := c.store.Stations(ctx)
	must(t, err)
	if len(sts) != 1 || sts[0].HeadSeq != head.Seq {
		t.Fatalf("central stations %+v, want line-1 at seq %d", sts, head.Seq)
	}
}

// waitCentralHolds waits until the central holds the station's whole journal.
func waitCentralHolds(t *testing.T, db *localdb.DB, store *centraldb.DB) {
	t.Helper()
	ctx := context.Background()
	stationtest.Poll(t, 20*time.Second, "the central to hold the station's journal", func() bool {
		h, err := db.Head(ctx)
		if err != nil {
			return false
		}
		ack, err := store.Head(ctx, db.Station())
		return err == nil && h.Seq > 0 && ack.Seq == h.Seq && ack.Hash == h.Hash
	})
}

// TestKiosk_CentralEnroll: every way enrollment can go wrong gives a
// message that says what to do, and a code for another station still
// leaves the credential behind so that fixing the config is enough.
func TestKiosk_CentralEnroll(t *testing.T) {
	ctx := context.Background()
	c := startTestCentral(t, nil, "127.0.0.1:0")
	logger := slog.New(slog.DiscardHandler)
	enroll := func(cfg Config) error {
		st := &kioskStation{cfg: cfg, logger: logger}
		_, err := st.enroll(ctx)
		return err
	}
	newCode := func(id string, again bool) string {
		code, err := central.AddStation(ctx, c.store, id, "", 0, time.Now(), again)
		must(t, err)
		return code
	}

	t.Run("NoCode", func(t *testing.T) {
		err := enroll(centralKioskConfig(t, c.url, ""))
		if err == nil || !strings.Contains(err.Error(), "not enrolled") || !strings.Contains(err.Error(), "'linestation serve station add line-1'") {
			t.Fatalf("err = %v, want what to ask IT for", err)
		}
	})
	t.Run("WrongCode", func(t *testing.T) {
		err := enroll(centralKioskConfig(t, c.url, "AAAA-BBBB-CCCC-DDDD"))
		if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "'linestation serve station add line-1 --new-code'") {
			t.Fatalf("err = %v, want EUNAUTHORIZED with the command for a new code", err)
		}
	})
	code := newCode("line-1", false)
	t.Run("UsedCode", func(t *testing.T) {
		first := centralKioskConfig(t, c.url, code)
		must(t, enroll(first))
		second := centralKioskConfig(t, c.url, code) // another PC with the same code
		err := enroll(second)
		if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "already used") || !strings.Contains(err.Error(), "--new-code") {
			t.Fatalf("err = %v, want the used code refused with the command for a new one", err)
		}
		if _, err := os.Stat(second.Path(second.Central.CredentialFile)); !os.IsNotExist(err) {
			t.Fatalf("a refused enrollment left a credential file: %v", err)
		}
		// The first PC goes on with its credential, code or no code.
		first.Central.EnrollmentCode = ""
		must(t, enroll(first))
	})
	t.Run("OtherStation", func(t *testing.T) {
		cfg := centralKioskConfig(t, c.url, newCode("line-2", false))
		err := enroll(cfg)
		if err == nil || !strings.Contains(err.Error(), "enrolled this station as station line-2") || !strings.Contains(err.Error(), `station.id "line-1"`) {
			t.Fatalf("err = %v, want the mismatch named", err)
		}
		cfg.Station.ID, cfg.Station.Line = "line-2", "line-2"
		must(t, enroll(cfg)) // the credential was kept: fixing the config is enough
	})
	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		addr := ln.Addr().String()
		ln.Close()
		err = enroll(centralKioskConfig(t, "http://"+addr, newCode("line-1", true)))
		if station.ErrorCode(err) != station.EUNAVAILABLE || !strings.Contains(err.Error(), "cannot be reached") {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
	})
	t.Run("DamagedCredential", func(t *testing.T) {
		cfg := centralKioskConfig(t, c.url, "")
		must(t, os.WriteFile(filepath.Join(filepath.Dir(cfg.Path("x")), "station.credential"), []byte("{"), 0o600))
		if err := enroll(cfg); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("err = %v, want the damaged credential named", err)
		}
	})
}

// runTestTour drives the kiosk of st on Fyne's test driver with tour
// commands, as 'kiosk --tour' does, closes it, and returns its answers.
func runTestTour(t *testing.T, st *kioskStation, cmds string) []string {
	t.Helper()
	a := test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	w.Resize(fyne.NewSize(1024, 768))
	d := st.deps(a)
	// Fyne's test driver runs fyne.Do on the caller's goroutine: serialize,
	// and deliver nothing once the kiosk is closed.
	var mu sync.Mutex
	ended := false
	d.Do = func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			f()
		}
	}
	k, err := ui.New(a, w, d)
	if err != nil {
		t.Fatal(err)
	}
	w.SetContent(k.Content())
	k.Start()
	var out bytes.Buffer
	runTour(context.Background(), k, strings.NewReader(cmds), &out, slog.New(slog.DiscardHandler))
	mu.Lock()
	ended = true
	mu.Unlock()
	if err := k.Close(); err != nil {
		t.Fatalf("close the kiosk: %v", err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}
