package uplink_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

var ctx = context.Background()

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startCentral runs the central service over store at addr until the
// returned stop is called (or the test ends).
func startCentral(t testing.TB, store central.Store, addr string) (stop func()) {
	t.Helper()
	srv, err := central.New(central.Config{Store: store, Addr: addr, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			if err := srv.Close(ctx); err != nil {
				t.Errorf("close central: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// station is a real station ledger with a producer and a running uplink.
type testStation struct {
	db     *localdb.DB
	prod   *centraltest.Producer
	client *uplink.Client
	cancel context.CancelFunc
	done   chan error
}

func newStation(t testing.TB, id, url, token string) *testStation {
	t.Helper()
	db := centraltest.MustLedger(t, filepath.Join(t.TempDir(), id+".db"), id, &centraltest.Clock{})
	api, err := uplink.NewAPI(url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := uplink.New(uplink.Config{Journal: db, API: api, BatchSize: 100, Interval: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	st := &testStation{db: db, prod: &centraltest.Producer{Order: "PO-" + id, Prefix: id[len(id)-1:] + "-", SSCCBase: int(id[len(id)-1])}, client: c, cancel: cancel, done: make(chan error, 1)}
	go func() { st.done <- c.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-st.done; err != nil {
			t.Errorf("uplink run: %v", err)
		}
	})
	return st
}

func (s *testStation) produce(t testing.TB, n int) {
	t.Helper()
	if _, err := s.prod.Produce(ctx, s.db, n); err != nil {
		t.Fatal(err)
	}
	s.client.Notify()
}

// waitSynced waits until the central holds the station's whole journal.
func waitSynced(t testing.TB, s *testStation, store *centraldb.DB) {
	t.Helper()
	head, err := s.db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stationtest.Poll(t, 20*time.Second, "the central to hold the station's journal", func() bool {
		h, err := store.Head(ctx, s.db.Station())
		return err == nil && h.Seq == head.Seq && s.client.Status().Acked == head.Seq
	})
}

// sameOnBothSides checks the station's journal equals what the central holds.
func sameOnBothSides(t testing.TB, s *testStation, store *centraldb.DB) {
	t.Helper()
	a, err := centraltest.AllEvents(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := centraltest.AllStored(ctx, store, s.db.Station())
	if err != nil {
		t.Fatal(err)
	}
	if d := centraltest.SameJournal(a, b); d != "" {
		t.Fatalf("station %s: the central's journal differs: %s", s.db.Station(), d)
	}
	if ack, _ := s.db.Acknowledged(ctx); ack.Seq != int64(len(a)) {
		t.Fatalf("station cursor at seq %d, want %d", ack.Seq, len(a))
	}
}

// enroll creates a station at the central and returns its token.
func enroll(t testing.TB, store *centraldb.DB, url, id string) string {
	t.Helper()
	code, err := central.AddStation(ctx, store, id, "", 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := uplink.NewAPI(url, "", nil)
	e, err := api.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	return e.Token
}

func TestClient_Sync(t *testing.T) {
	store := centraltest.MustStore(t)
	addr := freeAddr(t)
	startCentral(t, store, addr)
	url := "http://" + addr
	s := newStation(t, "line-1", url, enroll(t, store, url, "line-1"))
	s.produce(t, 1000)
	waitSynced(t, s, store)
	sameOnBothSides(t, s, store)
	st := s.client.Status()
	if !st.Connected || st.Waiting != 0 || !st.OldestWaiting.IsZero() || st.LastSync.IsZero() || st.LastError != "" {
		t.Fatalf("status=%+v, want connected with nothing waiting", st)
	}
	if h := s.client.Health(); h.State != station.DeviceConnected || h.Kind != "uplink" {
		t.Fatalf("health=%+v", h)
	}
	// More production is sent as it comes.
	s.produce(t, 250)
	waitSynced(t, s, store)
	sameOnBothSides(t, s, store)
}

// TestClient_Offline runs a station with the central down: it keeps
// producing, its status shows the backlog and its age, and when the central
// comes up the backlog drains without anyone doing anything.
func TestClient_Offline(t *testing.T) {
	store := centraltest.MustStore(t)
	addr := freeAddr(t)
	url := "http://" + addr
	stop := startCentral(t, store, addr)
	token := enroll(t, store, url, "line-1")
	stop()

	s := newStation(t, "line-1", url, token)
	s.produce(t, 600)
	stationtest.Poll(t, 10*time.Second, "the uplink to report the backlog while offline", func() bool {
		st := s.client.Status()
		return !st.Connected && st.Failures > 1 && st.Waiting >= 600 && !st.OldestWaiting.IsZero()
	})
	time.Sleep(20 * time.Millisecond)
	st := s.client.Status()
	if st.OldestAge <= 0 || !strings.Contains(st.LastError, "cannot be reached") {
		t.Fatalf("offline status=%+v, want an age and an operator message", st)
	}
	h := s.client.Health()
	if h.State != station.DeviceDisconnected || !strings.Contains(h.Reason, "records wait to be sent") {
		t.Fatalf("offline health=%+v", h)
	}
	if n, _ := store.Head(ctx, "line-1"); n.Seq != 0 {
		t.Fatalf("central holds seq %d while it was down", n.Seq)
	}
	startCentral(t, store, addr)
	waitSynced(t, s, store)
	sameOnBothSides(t, s, store)
	if st := s.client.Status(); !st.Connected || st.Failures != 0 {
		t.Fatalf("status after reconnecting=%+v", st)
	}
}

// TestClient_CentralRestored replaces the central's store with an empty one
// (a central restored from an old backup): the station notices that the
// central holds less than it acknowledged and sends its journal again.
func TestClient_CentralRestored(t *testing.T) {
	dir := t.TempDir()
	store := centraltest.MustStorePath(t, filepath.Join(dir, "a.db"))
	addr := freeAddr(t)
	url := "http://" + addr
	stop := startCentral(t, store, addr)
	token := enroll(t, store, url, "line-1")
	s := newStation(t, "line-1", url, token)
	s.produce(t, 300)
	waitSynced(t, s, store)
	stop()

	fresh := centraltest.MustStorePath(t, filepath.Join(dir, "b.db"))
	code, hash, _ := central.NewEnrollmentCode()
	_ = code
	if err := fresh.AddStation(ctx, "line-1", "", hash, time.Now().Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Enroll(ctx, hash, central.HashSecret(token)); err != nil {
		t.Fatal(err)
	}
	startCentral(t, fresh, addr)
	s.produce(t, 50)
	waitSynced(t, s, fresh)
	sameOnBothSides(t, s, fresh)
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for _, tt := range []struct {
		failures int
		u        float64
		want     time.Duration
	}{
		{1, 0, 50 * time.Millisecond},
		{1, 0.999999, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond},
		{3, 0.5, 300 * time.Millisecond},
		{5, 1, 1600 * time.Millisecond},
		{6, 1, 2 * time.Second},
		{60, 0, time.Second},
	} {
		got := uplink.Backoff(min, max, tt.failures, tt.u)
		if d := got - tt.want; d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("Backoff(%d failures, u=%g)=%s, want %s", tt.failures, tt.u, got, tt.want)
		}
	}
}

func TestNew_Err(t *testing.T) {
	db := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", nil)
	api, _ := uplink.NewAPI("http://127.0.0.1:1", "t", nil)
	if _, err := uplink.New(uplink.Config{API: api}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("no journal: err=%v", err)
	}
	if _, err := uplink.New(uplink.Config{Journal: db, API: api, BatchSize: uplink.MaxBatchEvents + 1}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("batch too large: err=%v", err)
	}
	if _, err := uplink.NewAPI("ftp://x", "", nil); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("ftp url: err=%v", err)
	}
}

// losingTransport delivers requests to the real server but loses the
// first n answers, as a cut connection would.
type losingTransport struct {
	mu sync.Mutex
	n  int
}

func (l *losingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.n > 0 {
		l.n--
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (the answer was lost)")
	}
	return resp, err
}

// TestSerialSource reserves serials from the central as the station's
// domain does, through a connection that loses the first answer: the retry
// gets the same serials, none is lost or issued twice, and the station's
// pool.reserved record of them is accepted by the central's authority.
func TestSerialSource(t *testing.T) {
	store := centraltest.MustStore(t)
	if _, err := store.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startCentral(t, store, addr)
	url := "http://" + addr
	token := enroll(t, store, url, "line-1")
	api, _ := uplink.NewAPI(url, token, &http.Client{Transport: &losingTransport{n: 1}})
	src := &uplink.SerialSource{API: api, Attempts: 1, Backoff: time.Millisecond}

	if _, err := src.Reserve(ctx, centraltest.GTIN, station.SerialScheme{}, 100); station.ErrorCode(err) != station.EUNAVAILABLE {
		t.Fatalf("lost answer: err=%v, want EUNAVAILABLE", err)
	}
	ss, err := src.Reserve(ctx, centraltest.GTIN, station.SerialScheme{}, 100)
	if err != nil || len(ss) != 100 {
		t.Fatalf("reserve: %d serials, %v", len(ss), err)
	}
	rs, err := store.Reservations(ctx, "line-1", 0, 10)
	if err != nil || len(rs) != 1 || len(rs[0].Serials) != 100 {
		t.Fatalf("reservations=%+v, %v; want one of 100 serials (the retry reused it)", rs, err)
	}
	led := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", nil)
	if _, err := led.Append(ctx, station.NewEvent{Payload: station.PoolReserved{GTIN: centraltest.GTIN, Serials: ss, Source: src.Name()}, User: "op1"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := centraltest.AllEvents(ctx, led)
	plain, _ := uplink.NewAPI(url, token, nil)
	if _, err := plain.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs}); err != nil {
		t.Fatal(err)
	}
	if sts, _ := store.Stations(ctx); sts[0].Conflicts != 0 {
		cs, _ := store.Conflicts(ctx, "line-1", 3)
		t.Fatalf("conflicts after recording central serials: %q", cs)
	}
	// A serial the central never issued, recorded as central: a conflict.
	bad := []string{"NOTISSUED01"}
	if _, err := led.Append(ctx, station.NewEvent{Payload: station.PoolReserved{GTIN: centraltest.GTIN, Serials: bad, Source: "central"}, User: "op1"}); err != nil {
		t.Fatal(err)
	}
	evs, _ = led.Events(ctx, int64(len(evs))+1, 10)
	if _, err := plain.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := store.Conflicts(ctx, "line-1", 3); len(cs) != 1 || !strings.Contains(cs[0], "never issued it") {
		t.Fatalf("conflicts=%q, want the unissued serial named", cs)
	}

	src = &uplink.SerialSource{API: plain}
	if _, err := src.Reserve(ctx, centraltest.GTIN, station.SerialScheme{Length: 10}, 5); station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "out of date") {
		t.Fatalf("scheme mismatch: err=%v, want ECONFLICT", err)
	}
	if _, err := src.Reserve(ctx, centraltest.CaseGTIN, station.SerialScheme{}, 5); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("unknown GTIN: err=%v, want ENOTFOUND", err)
	}
}

// TestClient_MasterData pulls products, users and this line's released
// orders, keeps the cursor in the station's ledger across a restart, and
// delivers later changes once each.
// pulled records what a client's OnMasterData is given, as "kind:key".
type pulled struct {
	mu  sync.Mutex
	got []string
}

func (p *pulled) on(ctx context.Context, recs []uplink.MasterRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		p.got = append(p.got, r.Kind+":"+r.Key)
	}
	return nil
}

func (p *pulled) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.got, " ")
}

func TestClient_MasterData(t *testing.T) {
	store := centraltest.MustStore(t)
	if _, err := store.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	order := uplink.Order{ID: "PO-1", GTIN: centraltest.GTIN, Lot: "L1", Expiry: "280100", Quantity: 100, Line: "line-1", State: station.OrderReleased}
	if _, err := store.PutOrder(ctx, order); err != nil {
		t.Fatal(err)
	}
	other := order
	other.ID, other.Line = "PO-2", "line-2"
	if _, err := store.PutOrder(ctx, other); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startCentral(t, store, addr)
	url := "http://" + addr
	token := enroll(t, store, url, "line-1")
	led := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", nil)

	var got pulled
	run := func() (stop func()) {
		api, _ := uplink.NewAPI(url, token, nil)
		c, err := uplink.New(uplink.Config{Journal: led, API: api, Interval: 20 * time.Millisecond, PullInterval: 20 * time.Millisecond,
			MasterCursor: led, Logger: centraltest.Quiet(), OnMasterData: got.on})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(rctx); close(done) }()
		stationtest.Poll(t, 10*time.Second, "a master-data pull", func() bool { return !c.Status().LastPull.IsZero() })
		return func() { cancel(); <-done }
	}
	seen := got.String
	stop := run()
	if want := "product:" + centraltest.GTIN + " order:PO-1"; seen() != want {
		t.Fatalf("pulled %q, want %q (not line-2's order)", seen(), want)
	}
	stop()
	if seq, _ := led.PulledMasterData(ctx); seq == 0 {
		t.Fatal("the cursor was not kept in the ledger")
	}
	stop = run()
	defer stop()
	if _, err := store.PutUser(ctx, uplink.User{User: station.User{ID: "u1", Name: "Ann", Roles: []station.Role{station.RoleOperator}, Active: true}}); err != nil {
		t.Fatal(err)
	}
	want := "product:" + centraltest.GTIN + " order:PO-1 user:u1"
	stationtest.Poll(t, 10*time.Second, "the new user to arrive", func() bool { return seen() == want })
}

// TestClient_LongPull: with the pull interval an hour, a change committed
// at the central (a hold, here a user) still reaches the station at once:
// the central holds each pull until there is a change.
func TestClient_LongPull(t *testing.T) {
	store := centraltest.MustStore(t)
	addr := freeAddr(t)
	startCentral(t, store, addr)
	url := "http://" + addr
	token := enroll(t, store, url, "line-1")
	led := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", nil)
	api, _ := uplink.NewAPI(url, token, nil)
	var got pulled
	c, err := uplink.New(uplink.Config{Journal: led, API: api, PullInterval: time.Hour, MasterCursor: led, Logger: centraltest.Quiet(),
		OnMasterData: got.on})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	stationtest.Poll(t, 10*time.Second, "the first master-data pull", func() bool { return !c.Status().LastPull.IsZero() })
	want := ""
	for _, id := range []string{"u1", "u2"} {
		if _, err := store.PutUser(ctx, uplink.User{User: station.User{ID: id, Name: "Ann", Roles: []station.Role{station.RoleOperator}, Active: true}}); err != nil {
			t.Fatal(err)
		}
		want = strings.TrimSpace(want + " user:" + id)
		stationtest.Poll(t, 10*time.Second, "user "+id+" to arrive with the pull interval an hour", func() bool { return got.String() == want })
	}
}
