package uplink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

// The fault test's children are this test binary run again with these
// variables set: a central service, or a station that produces events and
// runs its uplink.
const (
	envRole    = "UPLINK_FAULT_ROLE" // central or station
	envPath    = "UPLINK_FAULT_DB"
	envAddr    = "UPLINK_FAULT_ADDR"
	envStation = "UPLINK_FAULT_STATION"
	envIndex   = "UPLINK_FAULT_INDEX"
	envRun     = "UPLINK_FAULT_RUN"
	envURL     = "UPLINK_FAULT_URL"
	envToken   = "UPLINK_FAULT_TOKEN"
	envStop    = "UPLINK_FAULT_STOP" // a file whose existence ends production
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "central":
		os.Exit(centralChild())
	case "station":
		os.Exit(stationChild())
	}
	os.Exit(m.Run())
}

// centralChild serves the central API over the store at envPath on envAddr
// until SIGTERM (or SIGKILL).
func centralChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	db, err := centraldb.Open(ctx, os.Getenv(envPath), centraldb.Options{Create: true, Logger: centraltest.Quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "central child:", err)
		return 3
	}
	srv, err := central.New(central.Config{Store: db, Addr: os.Getenv(envAddr), Logger: centraltest.Quiet()})
	if err == nil {
		err = srv.Open()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "central child:", err)
		return 3
	}
	fmt.Println("ready")
	<-ctx.Done()
	code := 0
	if err := srv.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "central child: close:", err)
		code = 4
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "central child: close store:", err)
		code = 4
	}
	return code
}

// stationChild opens (or creates) a station ledger, runs its uplink, and
// appends events until the file envStop exists; it prints "head N" lines as
// it goes, "done N" once production stopped, and runs until SIGTERM (or
// SIGKILL).
func stationChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	id, run := os.Getenv(envStation), os.Getenv(envRun)
	idx, _ := strconv.Atoi(os.Getenv(envIndex))
	runN, _ := strconv.Atoi(run)
	stopFile := os.Getenv(envStop)
	db, err := localdb.Open(ctx, os.Getenv(envPath), localdb.Options{Station: id, Clock: &centraltest.Clock{}, Create: true, Logger: centraltest.Quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "station child:", err)
		return 3
	}
	api, err := uplink.NewAPI(os.Getenv(envURL), os.Getenv(envToken), &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "station child:", err)
		return 3
	}
	client, err := uplink.New(uplink.Config{Journal: db, API: api, BatchSize: 200, Interval: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Logger: centraltest.Quiet()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "station child:", err)
		return 3
	}
	runDone := make(chan error, 1)
	go func() { runDone <- client.Run(ctx) }()
	prod := &centraltest.Producer{Order: fmt.Sprintf("PO-%s-%s", id, run), Prefix: fmt.Sprintf("%c%s-", 'A'+idx, run), SSCCBase: idx*100 + runN}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}
	say("ready")
	code := 0
	for ctx.Err() == nil {
		head, err := db.Head(ctx)
		if err != nil {
			break
		}
		if _, err := os.Stat(stopFile); err == nil {
			say("done %d", head.Seq)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		say("head %d", head.Seq)
		if _, err := prod.Produce(ctx, db, 12); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "station child: produce:", err)
			code = 5
			break
		}
		client.Notify()
		time.Sleep(2 * time.Millisecond) // a line's pace, not a flood: production spans every fault
	}
	stop()
	<-runDone
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "station child: close:", err)
		code = 4
	}
	return code
}

// child is a running child process.
type child struct {
	name   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	head   atomic.Int64 // the last "head N" (or "done N") a station printed
	done   atomic.Bool  // it printed "done N": production stopped
	ready  chan struct{}
	exited chan struct{}
	err    error
}

func startChild(t *testing.T, name string, env ...string) *child {
	t.Helper()
	c := &child{name: name, stderr: &bytes.Buffer{}, ready: make(chan struct{}), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = &lockedWriter{w: c.stderr}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		readyOnce := sync.OnceFunc(func() { close(c.ready) })
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				readyOnce()
			} else if n, ok := strings.CutPrefix(line, "head "); ok {
				v, _ := strconv.ParseInt(n, 10, 64)
				c.head.Store(v)
			} else if n, ok := strings.CutPrefix(line, "done "); ok {
				v, _ := strconv.ParseInt(n, 10, 64)
				c.head.Store(v)
				c.done.Store(true)
			}
		}
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case <-c.ready:
	case <-c.exited:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, c.err, c.stderrText())
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatalf("%s was not ready within 30s\n%s", name, c.stderrText())
	}
	t.Cleanup(c.kill)
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *child) stderrText() string {
	w := c.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return c.stderr.String()
}

// kill SIGKILLs the child and waits for it.
func (c *child) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop asks the child to finish (SIGTERM) and returns its exit error.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatalf("%s did not stop within 30s of SIGTERM\n%s", c.name, c.stderrText())
	}
	if c.err != nil {
		t.Fatalf("%s exited with %v\n%s", c.name, c.err, c.stderrText())
	}
}

// Proxy fault modes, chosen per connection.
const (
	modePass     = iota // forward, then cut the connection after a random number of bytes either way
	modeDrop            // close at once
	modeCutUp           // forward part of the requests, then close (the central gets a truncated body)
	modeCutDown         // forward part of the answers, then close (the central stored, the station does not know)
	modeStall           // forward for a while, then stop without closing until the client gives up
	modeHoldUp          // armed: forward half of a push's first bytes, then hold (to kill the station mid-request)
	modeHoldDown        // armed: forward a push, hold the central's answer (to kill the station before it learns the answer)
)

var modeNames = []string{"pass", "drop", "cut-request", "cut-answer", "stall", "hold-request", "hold-answer"}

// proxy is a TCP proxy between one station and the central that breaks
// connections at random while faulty is set.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	faulty atomic.Bool

	mu      sync.Mutex
	rng     *rand.Rand
	conns   int
	counts  [7]int
	refused int           // connections refused while the central was down
	arm     int           // modeHoldUp or modeHoldDown when armed, else 0
	held    chan struct{} // closed when an armed hold happened
}

func newProxy(t *testing.T, target string, seed uint64) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, 7))}
	p.faulty.Store(true)
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

// armHold makes the next push through the proxy hold (mode modeHoldUp or
// modeHoldDown) and returns a channel closed when it does.
func (p *proxy) armHold(mode int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arm, p.held = mode, make(chan struct{})
	return p.held
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// conn is one proxied connection.
type conn struct {
	p          *proxy
	mode       int
	limit      int64 // bytes before the fault acts
	stall      time.Duration
	mu         sync.Mutex
	seen       int64
	push       bool // the last request on the connection is a push
	client, up net.Conn
	closeOnce  sync.Once
	closed     chan struct{}
}

func (p *proxy) handle(client net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close() // the central is down: the station sees a refused or reset connection
		p.mu.Lock()
		p.refused++
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	c := &conn{p: p, client: client, up: up, closed: make(chan struct{})}
	p.conns++
	if p.faulty.Load() {
		// Every kind of fault at least once early on, then at random.
		if p.conns <= 5 {
			c.mode = []int{modeDrop, modeCutUp, modeCutDown, modeStall, modePass}[p.conns-1]
		} else {
			switch r := p.rng.IntN(100); {
			case r < 40:
				c.mode = modePass
			case r < 55:
				c.mode = modeDrop
			case r < 72:
				c.mode = modeCutUp
			case r < 90:
				c.mode = modeCutDown
			default:
				c.mode = modeStall
			}
		}
		c.limit = p.rng.Int64N(32 << 10)
		if c.mode == modePass {
			c.limit = 8<<10 + p.rng.Int64N(64<<10)
		}
		c.stall = time.Duration(1000+p.rng.IntN(2000)) * time.Millisecond
	}
	p.counts[c.mode]++
	p.mu.Unlock()
	if c.mode == modeDrop {
		c.close()
		return
	}
	go c.pump(up, client, true)
	c.pump(client, up, false)
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		c.up.Close()
		close(c.closed)
	})
}

// pump copies one direction, applying the connection's fault.
func (c *conn) pump(dst, src net.Conn, upstream bool) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			fwd, hold, cut, stall := c.gate(upstream, buf[:n])
			if fwd > 0 {
				if _, werr := dst.Write(buf[:fwd]); werr != nil {
					return
				}
			}
			switch {
			case hold:
				<-c.closed // until the test kills the station
				return
			case stall:
				select {
				case <-c.closed:
				case <-time.After(c.stall):
				}
				return
			case cut:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// gate decides how much of a chunk to forward and what happens after.
func (c *conn) gate(upstream bool, chunk []byte) (fwd int, hold, cut, stall bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.p
	if upstream && (bytes.HasPrefix(chunk, []byte("POST ")) || bytes.HasPrefix(chunk, []byte("GET "))) {
		c.push = bytes.HasPrefix(chunk, []byte("POST "+uplink.PathSyncEvents))
		p.mu.Lock()
		arm := p.arm
		if arm == modeHoldUp && c.push {
			p.arm = 0
			p.counts[modeHoldUp]++
			close(p.held)
			p.mu.Unlock()
			return len(chunk) / 2, true, false, false
		}
		if arm == modeHoldDown && c.push {
			p.arm = 0
			c.mode = modeHoldDown
		}
		p.mu.Unlock()
	}
	if !upstream && c.mode == modeHoldDown {
		p.mu.Lock()
		p.counts[modeHoldDown]++
		close(p.held)
		p.mu.Unlock()
		return 0, true, false, false
	}
	n := int64(len(chunk))
	if c.mode == modePass && !c.p.faulty.Load() {
		return len(chunk), false, false, false
	}
	switch c.mode {
	case modePass:
	case modeCutUp, modeStall:
		if !upstream {
			return len(chunk), false, false, false
		}
	case modeCutDown:
		if upstream {
			return len(chunk), false, false, false
		}
	default:
		return len(chunk), false, false, false
	}
	if c.seen+n <= c.limit {
		c.seen += n
		return len(chunk), false, false, false
	}
	part := int(c.limit - c.seen)
	c.seen = c.limit
	if c.mode == modeStall {
		return part, false, false, true
	}
	return part, false, true, false
}

func (p *proxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for m, n := range p.counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", modeNames[m], n))
		}
	}
	return fmt.Sprintf("%d connections: %s; %d refused while the central was down", p.conns, strings.Join(parts, ", "), p.refused)
}

// TestFault_ThreeStations is the uplink's fault test. Three station
// processes produce events and sync them through TCP proxies that drop,
// cut (requests and answers) and stall connections at random, to a central
// process that is SIGKILLed and restarted twice; one station is SIGKILLed
// twice mid-batch (once while its push is half sent, once after the central
// stored a push but before its answer arrived) and restarted. Afterwards the
// central holds, for each station, exactly the station's journal: same
// count, same events and hashes, no duplicates, no gaps, and both verify.
func TestFault_ThreeStations(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped with -short")
	}
	const target = 2500 // events per station at least
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	centralPath := filepath.Join(dir, "central.db")
	ids := []string{"line-1", "line-2", "line-3"}

	// Enroll the stations and an ERP client in the store before the
	// central starts (the tokens go to the children).
	tokens := map[string]string{}
	store, err := centraldb.Open(ctx, centralPath, centraldb.Options{Create: true, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		_, codeHash, _ := central.NewEnrollmentCode()
		token, tokenHash, _ := central.NewToken()
		if err := store.AddStation(ctx, id, "", codeHash, time.Now().Add(time.Hour), false); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Enroll(ctx, codeHash, tokenHash); err != nil {
			t.Fatal(err)
		}
		tokens[id] = token
	}
	erpToken, err := central.AddClient(ctx, store, "monitor", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	startCentralProc := func() *child {
		return startChild(t, "central", envRole+"=central", envPath+"="+centralPath, envAddr+"="+addr)
	}
	cen := startCentralProc()
	proxies := make([]*proxy, len(ids))
	for i := range ids {
		proxies[i] = newProxy(t, addr, seed+uint64(i))
	}
	runs := make([]int, len(ids))
	stations := make([]*child, len(ids))
	startStation := func(i int) {
		runs[i]++
		stations[i] = startChild(t, fmt.Sprintf("%s (run %d)", ids[i], runs[i]), envRole+"=station", envStation+"="+ids[i], envIndex+"="+strconv.Itoa(i),
			envRun+"="+strconv.Itoa(runs[i]), envPath+"="+filepath.Join(dir, ids[i]+".db"), envURL+"="+proxies[i].url(),
			envToken+"="+tokens[ids[i]], envStop+"="+filepath.Join(dir, "stop-production"))
	}
	for i := range ids {
		startStation(i)
	}
	minHead := func() int64 {
		m := stations[0].head.Load()
		for _, s := range stations[1:] {
			m = min(m, s.head.Load())
		}
		return m
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	restartCentral := func(n int) {
		waitFor(fmt.Sprintf("stations at %d events", n), func() bool { return minHead() >= int64(n) })
		cen.kill()
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		cen = startCentralProc()
		t.Logf("central SIGKILLed and restarted with the stations at %d+ events", n)
	}
	killMidBatch := func(n, mode int) {
		waitFor(fmt.Sprintf("%s at %d events", ids[1], n), func() bool { return stations[1].head.Load() >= int64(n) })
		proxies[1].faulty.Store(false)
		held := proxies[1].armHold(mode)
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			t.Fatalf("no push of %s came through its proxy to hold", ids[1])
		}
		stations[1].kill()
		proxies[1].faulty.Store(true)
		t.Logf("%s SIGKILLed while its push was held (%s) at %d events", ids[1], modeNames[mode], stations[1].head.Load())
		startStation(1)
	}
	restartCentral(target / 4)
	killMidBatch(target*2/5, modeHoldUp)
	restartCentral(target * 11 / 20)
	killMidBatch(target*7/10, modeHoldDown)
	waitFor("every station to reach its target", func() bool { return minHead() >= target })
	if err := os.WriteFile(filepath.Join(dir, "stop-production"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("every station to stop producing", func() bool {
		for _, s := range stations {
			if !s.done.Load() {
				return false
			}
		}
		return true
	})

	// Heal the network and let the backlog drain.
	for _, p := range proxies {
		p.faulty.Store(false)
	}
	heads := func() map[string]int64 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/stations", nil)
		req.Header.Set("Authorization", "Bearer "+erpToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var sts []uplink.StationInfo
		if json.NewDecoder(resp.Body).Decode(&sts) != nil {
			return nil
		}
		out := map[string]int64{}
		for _, s := range sts {
			out[s.ID] = s.HeadSeq
		}
		return out
	}
	waitFor("the central to hold every journal", func() bool {
		h := heads()
		for i, id := range ids {
			if h == nil || h[id] != stations[i].head.Load() {
				return false
			}
		}
		return true
	})
	for i := range ids {
		t.Logf("%s: proxy %s", ids[i], proxies[i].summary())
		stations[i].stop(t)
	}
	cen.stop(t)

	// Compare, station by station.
	cstore, err := centraldb.Open(ctx, centralPath, centraldb.Options{Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer cstore.Close()
	for _, id := range ids {
		led, err := localdb.Open(ctx, filepath.Join(dir, id+".db"), localdb.Options{ReadOnly: true, Logger: centraltest.Quiet()})
		if err != nil {
			t.Fatal(err)
		}
		local, err := centraltest.AllEvents(ctx, led)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := led.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("%s: the station's ledger does not verify: %+v", id, rep.Break)
		}
		// The repository applied every event once: the order counters match.
		run := 1
		for ; ; run++ {
			o, err := led.Order(ctx, fmt.Sprintf("PO-%s-%d", id, run))
			if err != nil {
				break
			}
			p, err := cstore.OrderProgress(ctx, o.Order)
			if err != nil || len(p.Stations) != 1 {
				t.Fatalf("%s: order %s at the central: %+v, %v", id, o.Order, p, err)
			}
			k := p.Stations[0].Counters
			if k.Allocated != o.Allocated || k.Printed != o.Printed || k.Verified != o.Verified || k.Commissioned != o.Commissioned || k.Rejected != o.Rejected {
				t.Fatalf("%s: order %s counters at the central %+v differ from the station's %+v", id, o.Order, k, o)
			}
		}
		if run == 1 {
			t.Fatalf("%s: no order found in its ledger", id)
		}
		led.Close()
		held, err := centraltest.AllStored(ctx, cstore, id)
		if err != nil {
			t.Fatal(err)
		}
		if d := centraltest.SameJournal(local, held); d != "" {
			t.Fatalf("%s: the central's journal differs from the station's: %s", id, d)
		}
		crep, err := cstore.VerifyStation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !crep.OK() || crep.Events != int64(len(local)) {
			t.Fatalf("%s: the central's copy does not verify: %+v", id, crep)
		}
		if len(local) < target {
			t.Fatalf("%s: %d events, want at least %d", id, len(local), target)
		}
		t.Logf("%s: %d events, identical on both sides, both verify", id, len(local))
	}
	sts, err := cstore.Stations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Conflicts != 0 {
			cs, _ := cstore.Conflicts(ctx, st.ID, 5)
			t.Fatalf("%s: %d repository conflicts (an event applied twice?): %q", st.ID, st.Conflicts, cs)
		}
	}
	var faults [7]int
	for _, p := range proxies {
		p.mu.Lock()
		for m, n := range p.counts {
			faults[m] += n
		}
		p.mu.Unlock()
	}
	for _, m := range []int{modeDrop, modeCutUp, modeCutDown, modeStall, modeHoldUp, modeHoldDown} {
		if faults[m] == 0 {
			t.Fatalf("no connection went through fault %s: the test did not exercise it", modeNames[m])
		}
	}
	if runs[1] != 3 {
		t.Fatalf("%s ran %d times, want 3 (two kills mid-batch)", ids[1], runs[1])
	}
}
