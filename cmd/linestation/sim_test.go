package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/camera"
	"github.com/linestation/linestation/devices/coder"
	"github.com/linestation/linestation/devices/opcua"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// syncBuffer is a bytes.Buffer that the command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// simRun is 'sim line' running in-process.
type simRun struct {
	first    string      // the first line of its standard output
	stderr   *syncBuffer // its log
	cancel   context.CancelFunc
	finished chan struct{} // closed when it returned
	err      error         // what it returned, once finished
}

// MustStartSimLine runs 'linestation sim' with args in-process and returns
// once it printed its first line. The line is stopped when the test ends.
func MustStartSimLine(tb testing.TB, args ...string) *simRun {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &simRun{stderr: &syncBuffer{}, cancel: cancel, finished: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		r.err = runSim(ctx, args, pw, r.stderr)
		pw.Close()
		close(r.finished)
	}()
	tb.Cleanup(func() {
		cancel()
		<-r.finished
	})
	br := bufio.NewReader(pr)
	first, err := br.ReadString('\n')
	if err != nil {
		<-r.finished // it returned: the pipe is closed only then
		tb.Fatalf("sim line printed no line (%v): returned %v; log:\n%s", err, r.err, r.stderr)
	}
	r.first = first
	go io.Copy(io.Discard, br)
	return r
}

// stop interrupts the command and returns what it returned.
func (r *simRun) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case <-r.finished:
		return r.err
	case <-time.After(10 * time.Second):
		tb.Fatalf("sim line did not return 10s after its ctx ended; log:\n%s", r.stderr)
		return nil
	}
}

// statusLine is what a test reads from one "line status" log line.
type statusLine struct {
	units int
	plc   string
}

var (
	statusUnits = regexp.MustCompile(`msg="line status".* units=(\d+) `)
	statusPLC   = regexp.MustCompile(`msg="line status".* plc_state=(\w+) `)
)

// statusLines returns the status lines logged so far.
func (r *simRun) statusLines(tb testing.TB) []statusLine {
	tb.Helper()
	var out []statusLine
	for _, line := range strings.Split(r.stderr.String(), "\n") {
		u, p := statusUnits.FindStringSubmatch(line), statusPLC.FindStringSubmatch(line)
		if u == nil || p == nil {
			continue
		}
		n, err := strconv.Atoi(u[1])
		if err != nil {
			tb.Fatalf("status line %q: %v", line, err)
		}
		out = append(out, statusLine{units: n, plc: p[1]})
	}
	return out
}

// simJSON is the --json output as a launcher reads it.
type simJSON struct {
	Printer       string `json:"printer"`
	Coder         string `json:"coder"`
	CameraCommand string `json:"camera_command"`
	CameraResults string `json:"camera_results"`
	Scanner       string `json:"scanner"`
	ScannerSerial string `json:"scanner_serial"`
	PLC           string `json:"plc"`
}

var quietLog = slog.New(slog.DiscardHandler)

// TestRunSim_Line starts the simulated line, connects the real drivers to
// what it prints, checks that each device answers and that the conveyor
// follows the PLC, then interrupts it.
func TestRunSim_Line(t *testing.T) {
	r := MustStartSimLine(t, "line", "--units-per-min", "1200", "--seed", "7", "--json", "--status-interval", "100ms")
	var ep simJSON
	if err := json.Unmarshal([]byte(r.first), &ep); err != nil {
		t.Fatalf("first line %q is not the JSON endpoints: %v", r.first, err)
	}
	for name, addr := range map[string]string{"printer": ep.Printer, "coder": ep.Coder, "camera_command": ep.CameraCommand, "camera_results": ep.CameraResults, "scanner": ep.Scanner} {
		if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
			t.Fatalf("%s=%q, want a loopback host:port", name, addr)
		}
	}
	if !strings.HasPrefix(ep.PLC, "opc.tcp://127.0.0.1:") {
		t.Fatalf("plc=%q, want an opc.tcp loopback URL", ep.PLC)
	}
	if _, err := exec.LookPath("socat"); err == nil {
		if _, err := os.Stat(ep.ScannerSerial); err != nil {
			t.Fatalf("scanner_serial=%q with socat installed: %v", ep.ScannerSerial, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("Printer", func(t *testing.T) {
		p := zpl.NewPrinter(nil, zpl.Options{Dial: zpl.DialTCP(ep.Printer), Logger: quietLog})
		defer p.Close()
		// Print returns only once the printer's status confirms the label.
		if err := p.Print(ctx, simUnitLabel("SIM0001")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CoderAndCamera", func(t *testing.T) {
		cam := camera.NewCamera(nil, nil, camera.Options{DialCommand: camera.DialTCP(ep.CameraCommand), DialResults: camera.DialTCP(ep.CameraResults), Logger: quietLog})
		defer cam.Close()
		if err := cam.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		// With nothing queued the interlock feeds no carton: for 300 ms
		// (6 conveyor places at 1200 a minute) the camera sees nothing.
		quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		res, err := cam.Read(quiet)
		stop()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("camera result %+v, %v with nothing queued; want none", res, err)
		}
		cod := coder.NewCoder(nil, coder.Options{Dial: coder.DialTCP(ep.Coder), Logger: quietLog})
		defer cod.Close()
		if err := cod.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		code := station.UnitCode{Serial: "SIM0002", Data: "0100300010123455" + "17271231" + "10LOT42A\x1d" + "21SIM0002"}
		if err := cod.Queue(ctx, code); err != nil {
			t.Fatal(err)
		}
		// The first event is its acknowledgement: no carton passed unmarked.
		ack, err := cod.Printed(ctx)
		if err != nil || ack.Serial != code.Serial {
			t.Fatalf("coder acknowledged %+v, %v; want %q", ack, err, code.Serial)
		}
		// The marked carton reaches the camera a few places later, and is
		// the camera's first result.
		res, err = cam.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.NoRead || res.Data != code.Data || res.Symbology != "]d2" || res.Grade < 3 {
			t.Fatalf("camera read %q %q grade %.1f, want ]d2 %q grade 3 or better", res.Symbology, res.Data, res.Grade, code.Data)
		}
	})

	t.Run("PLC", func(t *testing.T) {
		line, err := opcua.New(opcua.Config{Endpoint: ep.PLC, PublishInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		line.Logger = quietLog
		if err := line.Open(); err != nil {
			t.Fatal(err)
		}
		defer line.Close()
		stationtest.Poll(t, 10*time.Second, "PLC in Execute, counting cartons", func() bool {
			st := line.Status()
			return st.Connected && st.State == station.LineStateExecute && st.Processed > 0
		})
		// A reject order is counted defective.
		if err := line.Reject(ctx, "SIM0002"); err != nil {
			t.Fatal(err)
		}
		stationtest.Poll(t, 10*time.Second, "reject counted defective", func() bool { return line.Status().Defective == 1 })

		// Stopped, the conveyor holds: two status lines that both see the
		// PLC stopped count the same cartons.
		if err := line.Command(ctx, station.LineCmdStop); err != nil {
			t.Fatal(err)
		}
		stationtest.Poll(t, 10*time.Second, "PLC stopped", func() bool { return line.Status().State == station.LineStateStopped })
		seen := len(r.statusLines(t))
		var stopped []statusLine
		stationtest.Poll(t, 10*time.Second, "two status lines with the PLC stopped", func() bool {
			stopped = stopped[:0]
			for _, s := range r.statusLines(t)[seen:] {
				if s.plc == "Stopped" {
					stopped = append(stopped, s)
				}
			}
			return len(stopped) >= 2
		})
		if a, b := stopped[0].units, stopped[len(stopped)-1].units; a != b || a == 0 {
			t.Fatalf("units %d then %d while the PLC is stopped, want the same, above 0", a, b)
		}
	})

	if err := r.stop(t); err != nil {
		t.Fatalf("sim line returned %v, want nil after an interrupt", err)
	}
	if log := r.stderr.String(); !strings.Contains(log, `msg="line stopped"`) || strings.Contains(log, "level=ERROR") {
		t.Fatalf("log does not end cleanly:\n%s", log)
	}
	// Everything it started is gone.
	if c, err := net.DialTimeout("tcp", ep.Printer, time.Second); err == nil {
		c.Close()
		t.Fatalf("printer %s still accepts connections after the line stopped", ep.Printer)
	}
	if ep.ScannerSerial != "" {
		if _, err := os.Stat(filepath.Dir(ep.ScannerSerial)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("pseudo-terminal directory %s still there (%v)", filepath.Dir(ep.ScannerSerial), err)
		}
	}
}

// simUnitLabel is a unit label for the templates in assets/labels.
func simUnitLabel(serial string) station.Label {
	return station.Label{
		Template: "unit",
		Serial:   serial,
		Data:     "0100300010123455" + "17271231" + "10LOT42A\x1d" + "21" + serial,
		Fields: map[string]string{
			"product": "Amoxicillin 500 mg", "gtin": "00300010123455", "expiry": "271231", "lot": "LOT42A", "serial": serial,
		},
	}
}

// TestRunSim_LineTable checks the endpoints table: one line per device.
func TestRunSim_LineTable(t *testing.T) {
	r := MustStartSimLine(t, "line")
	if !strings.HasPrefix(r.first, "printer ") {
		t.Fatalf("first line %q, want the printer's", r.first)
	}
	f := strings.Fields(r.first)
	if len(f) != 3 || f[1] != "tcp" {
		t.Fatalf("printer line %q, want: printer tcp host:port", r.first)
	}
	c, err := net.DialTimeout("tcp", f[2], 5*time.Second)
	if err != nil {
		t.Fatalf("printer line %q: %v", r.first, err)
	}
	c.Close()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestRunSim_LineNoInterlock runs the conveyor free: cartons pass the coder
// with nothing queued, unmarked, and the camera reports no-reads.
func TestRunSim_LineNoInterlock(t *testing.T) {
	r := MustStartSimLine(t, "line", "--interlock=false", "--units-per-min", "6000", "--json")
	var ep simJSON
	if err := json.Unmarshal([]byte(r.first), &ep); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cod := coder.NewCoder(nil, coder.Options{Dial: coder.DialTCP(ep.Coder), Logger: quietLog})
	defer cod.Close()
	if err := cod.Select(ctx, "unit"); err != nil {
		t.Fatal(err)
	}
	if _, err := cod.Printed(ctx); !strings.Contains(station.ErrorMessage(err), "passed unmarked") {
		t.Fatalf("coder event %v, want a unit that passed unmarked (NO_CODE)", err)
	}
	cam := camera.NewCamera(nil, nil, camera.Options{DialCommand: camera.DialTCP(ep.CameraCommand), DialResults: camera.DialTCP(ep.CameraResults), Logger: quietLog})
	defer cam.Close()
	if err := cam.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := cam.Read(ctx); err != nil || !res.NoRead {
		t.Fatalf("camera result %+v, %v; want a no-read of an unmarked carton", res, err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`msg="line stopped".* units=[1-9]`).MatchString(r.stderr.String()) {
		t.Fatalf("log does not count the cartons that passed:\n%s", r.stderr)
	}
}

// scenarioJSON is the --json output of 'sim scenario' as a test reads it.
type scenarioJSON struct {
	Order       string         `json:"order"`
	Units       int            `json:"units"`
	PacksPerMin float64        `json:"packs_per_min"`
	Injected    map[string]int `json:"injected"`
	Accounting  []struct {
		Fault    string `json:"fault"`
		Injected int    `json:"injected"`
		Reason   string `json:"reason"`
		Recorded int64  `json:"recorded"`
		OK       bool   `json:"ok"`
	} `json:"accounting"`
	Unexplained    []station.ReasonCount  `json:"unexplained"`
	Unidentified   int64                  `json:"unidentified"`
	Reconciliation station.Reconciliation `json:"reconciliation"`
	Ledger         struct {
		Path      string `json:"path"`
		Temporary bool   `json:"temporary"`
		Events    int64  `json:"events"`
		Verified  bool   `json:"verified"`
	} `json:"ledger"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

// TestRunSim_Scenario runs an order of 300 units with every content fault
// at 2 % and checks, from the JSON result, that each injected fault is
// recorded under its reason and nothing else was rejected, that the order
// balances with every unit commissioned, that the ledger verified, and that
// the temporary ledger is gone.
func TestRunSim_Scenario(t *testing.T) {
	const units = 300
	var out, errOut syncBuffer
	err := runSim(context.Background(), []string{"scenario", "--units", strconv.Itoa(units), "--faults", "noread=2%,wrong=2%,dup=2%,lowgrade=2%",
		"--seed", "3", "--units-per-min", "12000", "--json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("scenario: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	var rep scenarioJSON
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, out.String())
	}
	want := map[string]string{sim.FaultNoRead: "no_read", sim.FaultWrong: "wrong_content", sim.FaultDuplicate: "duplicate", sim.FaultLowGrade: "low_grade"}
	recorded := map[string]int64{}
	for _, rc := range rep.Reconciliation.Rejects {
		recorded[rc.Reason] = rc.Count
	}
	var injected int64
	for fault, reason := range want {
		n := rep.Injected[fault]
		if n == 0 {
			t.Fatalf("no %s fault injected in %d units at 2%% with seed 3: %v", fault, units, rep.Injected)
		}
		if got := recorded[reason]; got != int64(n) {
			t.Fatalf("%s: injected %d, ledger recorded %d rejected as %s (rejects %v)", fault, n, got, reason, rep.Reconciliation.Rejects)
		}
		injected += int64(n)
	}
	for _, a := range rep.Accounting {
		if reason := want[a.Fault]; reason != a.Reason || int64(a.Injected) != recorded[reason] || a.Recorded != recorded[reason] || !a.OK {
			t.Fatalf("accounting row %+v does not match the ledger (%s: %d)", a, reason, recorded[reason])
		}
	}
	if len(rep.Accounting) != len(want) {
		t.Fatalf("%d accounting rows, want %d", len(rep.Accounting), len(want))
	}
	rec := rep.Reconciliation
	if rec.Rejected != injected || len(rep.Unexplained) != 0 || rep.Unidentified != 0 || rep.Injected[sim.FaultUnmarked] != 0 {
		t.Fatalf("rejected %d, unexplained %v, unidentified %d, unmarked %d: want exactly the %d injected faults",
			rec.Rejected, rep.Unexplained, rep.Unidentified, rep.Injected[sim.FaultUnmarked], injected)
	}
	if !rec.Balanced || rec.Commissioned != units || rec.Printed != units+injected || rec.Undecided != 0 || rec.Pending != 0 || rec.State != station.OrderCompleted {
		t.Fatalf("reconciliation %+v: want balanced, completed, %d commissioned of %d printed", rec, units, units+injected)
	}
	if !rep.Ledger.Verified || !rep.Ledger.Temporary || rep.Ledger.Events == 0 || !rep.OK || len(rep.Problems) != 0 {
		t.Fatalf("ledger %+v, ok %v, problems %v: want a verified temporary ledger and no problem", rep.Ledger, rep.OK, rep.Problems)
	}
	if _, err := os.Stat(rep.Ledger.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary ledger %s still there (%v)", rep.Ledger.Path, err)
	}
	if !strings.Contains(errOut.String(), "commissioned 300/300") {
		t.Fatalf("progress on stderr does not reach 300/300:\n%s", errOut.String())
	}
}

// TestRunSim_ScenarioDB keeps the ledger with --db and checks it with the
// ledger and order commands afterwards, as an auditor would; a second run
// refuses to write into it.
func TestRunSim_ScenarioDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scenario.db")
	var out, errOut syncBuffer
	ctx := context.Background()
	if err := runSim(ctx, []string{"scenario", "--units", "60", "--units-per-min", "12000", "--db", path}, &out, &errOut); err != nil {
		t.Fatalf("scenario: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"Balanced: yes", "  noread ", "Ledger " + path + ":", "verifies", "Result: OK"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("scenario output lacks %q:\n%s", want, out.String())
		}
	}
	var vout, verr bytes.Buffer
	if code := Run(ctx, []string{"ledger", "verify", "--db", path}, nil, &vout, &verr); code != exitOK || !strings.Contains(vout.String(), "result     intact") {
		t.Fatalf("ledger verify exit %d:\n%s%s", code, vout.String(), verr.String())
	}
	var rout, rerr bytes.Buffer
	if code := Run(ctx, []string{"order", "report", "--db", path, "--order", "SIM-1"}, nil, &rout, &rerr); code != exitOK || !strings.Contains(rout.String(), "quantity 60, completed") {
		t.Fatalf("order report exit %d:\n%s%s", code, rout.String(), rerr.String())
	}
	err := runSim(ctx, []string{"scenario", "--units", "10", "--db", path}, io.Discard, io.Discard)
	var uerr *usageError
	if !errors.As(err, &uerr) || !strings.Contains(uerr.message, "exists") {
		t.Fatalf("second scenario into %s: %v, want a usage error saying it exists", path, err)
	}
}

func TestRunSim_Usage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"NoCommand", nil, "sim needs a command"},
		{"UnknownCommand", []string{"frob"}, `unknown sim command "frob"`},
		{"ScenarioUnits", []string{"scenario", "--units", "0"}, "--units 0"},
		{"ScenarioSpeed", []string{"scenario", "--units-per-min", "70000"}, "--units-per-min 70000"},
		{"ScenarioRibbon", []string{"scenario", "--faults", "ribbon=3"}, "prints no labels"},
		{"ScenarioFault", []string{"scenario", "--faults", "smudge=1%"}, `fault "smudge"`},
		{"ScenarioArgument", []string{"scenario", "now"}, `unexpected argument "now"`},
		{"UnknownFault", []string{"line", "--faults", "noread=1%,bogus=2%"}, `fault "bogus"`},
		{"BadRate", []string{"line", "--faults", "wrong=150%"}, `wrong="150%"`},
		{"ZeroSpeed", []string{"line", "--units-per-min", "0"}, "--units-per-min 0"},
		{"ExtraArgument", []string{"line", "extra"}, `unexpected argument "extra"`},
		{"UnknownFlag", []string{"line", "--nope"}, "flag provided but not defined: -nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runSim(context.Background(), tt.args, &out, &errOut)
			var uerr *usageError
			if !errors.As(err, &uerr) {
				t.Fatalf("err=%v, want a usage error", err)
			}
			if !strings.Contains(uerr.message, tt.want) {
				t.Fatalf("message=%q, want it to contain %q", uerr.message, tt.want)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout=%q, want nothing", out.String())
			}
		})
	}
}

func TestRunSim_Help(t *testing.T) {
	var out bytes.Buffer
	if err := runSim(context.Background(), []string{"--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"line", "scenario"} {
		if !strings.Contains(out.String(), "\n  "+cmd+" ") {
			t.Fatalf("sim usage does not list %q:\n%s", cmd, out.String())
		}
	}
	out.Reset()
	err := runSim(context.Background(), []string{"line", "--help"}, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err=%v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: linestation sim line", "-units-per-min", "-faults", "-seed", "-interlock", "-json"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("sim line usage lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	err = runSim(context.Background(), []string{"scenario", "--help"}, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err=%v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: linestation sim scenario", "-units", "-faults", "-seed", "-units-per-min", "-db", "-json"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("sim scenario usage lacks %q:\n%s", want, out.String())
		}
	}
}
