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
		// Nothing is queued yet, so cartons pass unmarked: the first no-read
		// shows the camera's result connection is served.
		if res, err := cam.Read(ctx); err != nil || !res.NoRead {
			t.Fatalf("first camera result %+v, %v; want a no-read of an unmarked carton", res, err)
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
		for {
			ack, err := cod.Printed(ctx)
			if err != nil && strings.Contains(station.ErrorMessage(err), "passed unmarked") {
				continue // a carton before the code was queued
			}
			if err != nil {
				t.Fatal(err)
			}
			if ack.Serial != code.Serial {
				t.Fatalf("coder acknowledged %q, want %q", ack.Serial, code.Serial)
			}
			break
		}
		// The marked carton reaches the camera a few cartons later.
		for {
			res, err := cam.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.NoRead {
				continue // an unmarked carton ahead of it
			}
			if res.Data != code.Data || res.Symbology != "]d2" || res.Grade < 3 {
				t.Fatalf("camera read %q %q grade %.1f, want ]d2 %q grade 3 or better", res.Symbology, res.Data, res.Grade, code.Data)
			}
			break
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

func TestRunSim_Usage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"NoCommand", nil, "sim needs a command"},
		{"UnknownCommand", []string{"frob"}, `unknown sim command "frob"`},
		{"Scenario", []string{"scenario", "--units", "10"}, "sim scenario is not built yet"},
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
	for _, want := range []string{"Usage: linestation sim line", "-units-per-min", "-faults", "-seed", "-json"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("sim line usage lacks %q:\n%s", want, out.String())
		}
	}
}
