package opcua_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/sim/packml"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// peer is a PackML OPC UA server the contract suite runs against, with the
// hooks a test needs to play the machine's part.
type peer interface {
	Endpoint() string
	Produce(tb testing.TB, processed, defective int)
	Fault(tb testing.TB, cmd station.LineCommand, reason station.LineStopReason)
	Rejects(tb testing.TB) []string
	Down(tb testing.TB) // the server drops every connection and stops listening
	Up(tb testing.TB)   // it comes back on the same endpoint
}

// simPeer is the project's simulator.
type simPeer struct{ s *packml.Server }

// MustOpenSim starts a simulator and closes it when the test ends.
func MustOpenSim(tb testing.TB, cfg packml.Config) *packml.Server {
	tb.Helper()
	s := packml.New(cfg)
	s.Logger = slog.New(slog.DiscardHandler)
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var (
	sharedOnce sync.Once
	shared     *packml.Server
	sharedErr  error
)

// sharedSim returns the package's shared simulator (default config), started
// on first use and closed by TestMain: each start of gopcua's server loads
// its standard address space, seconds under the race detector. Tests using
// it must not assume the state or counters an earlier test left.
func sharedSim(tb testing.TB) *packml.Server {
	tb.Helper()
	sharedOnce.Do(func() {
		shared = packml.New(packml.Config{})
		shared.Logger = slog.New(slog.DiscardHandler)
		sharedErr = shared.Open()
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

func (p simPeer) Endpoint() string { return p.s.Endpoint() }

func (p simPeer) Produce(tb testing.TB, processed, defective int) {
	tb.Helper()
	if err := p.s.Produce(processed, defective); err != nil {
		tb.Fatal(err)
	}
}

func (p simPeer) Fault(tb testing.TB, cmd station.LineCommand, reason station.LineStopReason) {
	tb.Helper()
	if err := p.s.Fault(cmd, reason); err != nil {
		tb.Fatal(err)
	}
}

func (p simPeer) Rejects(tb testing.TB) []string { return p.s.Rejects() }

func (p simPeer) Down(tb testing.TB) {
	tb.Helper()
	if err := p.s.Disconnect(); err != nil {
		tb.Fatal(err)
	}
}

func (p simPeer) Up(tb testing.TB) {
	tb.Helper()
	if err := p.s.Reconnect(); err != nil {
		tb.Fatal(err)
	}
}

// nodePeer is node-opcua running testdata/packml-server.js: an OPC UA stack
// no one here wrote.
type nodePeer struct {
	node, modules, pki string
	port               int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan error // receives once the running process ended
	stdin   io.WriteCloser
	replies chan string
	rejects []string
}

// nodeOPCUA is the npm package spec the suite installs.
const nodeOPCUA = "node-opcua@2.186.4"

const nodeHint = "install Node.js and npm ('make deps'), then 'scripts/npm-peers.sh " + nodeOPCUA + "' (about 20 s, once)"

var (
	installOnce sync.Once
	installDir  string
	installErr  error
)

// MustStartNode installs node-opcua (once per test binary, a no-op when
// build/npm has it) and starts the JS server. Missing Node.js or a failed
// install fails the test under CI=true and skips it elsewhere.
func MustStartNode(tb testing.TB) *nodePeer {
	tb.Helper()
	node := stationtest.RequireCommand(tb, "node", nodeHint)
	stationtest.RequireCommand(tb, "npm", nodeHint)
	installOnce.Do(func() {
		out, err := exec.Command("../../scripts/npm-peers.sh", nodeOPCUA).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				err = fmt.Errorf("%w: %s", err, ee.Stderr)
			}
			installErr = fmt.Errorf("scripts/npm-peers.sh %s: %w", nodeOPCUA, err)
			return
		}
		fields := strings.Fields(string(out))
		if len(fields) != 3 {
			installErr = fmt.Errorf("scripts/npm-peers.sh %s printed %q, want name, version, folder", nodeOPCUA, out)
			return
		}
		installDir = fields[2]
	})
	if installErr != nil {
		stationtest.Missing(tb, "node-opcua is not installed: "+installErr.Error(), nodeHint)
	}
	p := &nodePeer{
		node: node, modules: filepath.Join(installDir, "node_modules"), pki: tb.TempDir(), port: freePort(tb),
	}
	p.Up(tb)
	tb.Cleanup(func() { p.kill() })
	return p
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (p *nodePeer) Endpoint() string { return "opc.tcp://127.0.0.1:" + strconv.Itoa(p.port) }

// Up starts the JS server on the peer's port and waits for its "ready" line.
func (p *nodePeer) Up(tb testing.TB) {
	tb.Helper()
	cmd := exec.Command(p.node, "testdata/packml-server.js", strconv.Itoa(p.port), p.pki)
	cmd.Env = append(os.Environ(), "NODE_PATH="+p.modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start node-opcua server: %v", err)
	}
	ready, replies := make(chan string, 1), make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			verb, rest, _ := strings.Cut(sc.Text(), " ")
			switch verb {
			case "ready":
				ready <- rest
			case "reject":
				p.mu.Lock()
				p.rejects = append(p.rejects, rest)
				p.mu.Unlock()
			case "ok", "error":
				replies <- sc.Text()
			}
		}
		close(replies)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-ready:
	case err := <-exited:
		tb.Fatalf("node-opcua server exited before it was ready: %v\n%s", err, cmd.Stderr.(*lockedWriter))
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		tb.Fatalf("node-opcua server not ready after 60 s\n%s", cmd.Stderr.(*lockedWriter))
	}
	p.mu.Lock()
	p.cmd, p.exited, p.stdin, p.replies = cmd, exited, stdin, replies
	p.mu.Unlock()
}

// Down kills the JS server: the PLC drops off the network at once.
func (p *nodePeer) Down(tb testing.TB) { p.kill() }

// kill ends the process at once and waits until it is gone, so that its
// port and files are free.
func (p *nodePeer) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-exited
	}
}

// do sends one stdin line and waits for its reply.
func (p *nodePeer) do(tb testing.TB, line string) {
	tb.Helper()
	p.mu.Lock()
	stdin, replies := p.stdin, p.replies
	p.mu.Unlock()
	if _, err := fmt.Fprintln(stdin, line); err != nil {
		tb.Fatalf("node-opcua server: %s: %v", line, err)
	}
	select {
	case r := <-replies:
		if r != "ok" {
			tb.Fatalf("node-opcua server: %s: %s", line, r)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("node-opcua server: %s: no reply", line)
	}
}

func (p *nodePeer) Produce(tb testing.TB, processed, defective int) {
	tb.Helper()
	p.do(tb, fmt.Sprintf("produce %d %d", processed, defective))
}

func (p *nodePeer) Fault(tb testing.TB, cmd station.LineCommand, reason station.LineStopReason) {
	tb.Helper()
	p.do(tb, fmt.Sprintf("fault %s %d %s", cmd, reason.ID, reason.Message))
}

func (p *nodePeer) Rejects(tb testing.TB) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.rejects)
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
