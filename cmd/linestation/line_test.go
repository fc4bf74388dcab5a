package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// MustOpenLine opens the line's devices for cfg and closes them when the
// test ends.
func MustOpenLine(tb testing.TB, cfg DevicesConfig) *lineDevices {
	tb.Helper()
	d, err := openLine(context.Background(), cfg, quietLog)
	if err != nil {
		tb.Fatalf("open line: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("close line: %v", err)
		}
	})
	return d
}

// TestOpenLine_Sim opens a simulated line as the kiosk's default config
// does, checks that every driver is connected to it, that a code queued on
// the coder comes back from the camera (the interlock feeds one carton for
// it), that a scan reaches the scanner driver (over a pseudo-terminal when
// socat is installed) and that Close takes everything down.
func TestOpenLine_Sim(t *testing.T) {
	cfg := DefaultConfig().Devices
	cfg.Sim.UnitsPerMin = 3000
	d := MustOpenLine(t, cfg)
	if d.Sim == nil || d.Printer == nil || d.Coder == nil || d.Camera == nil || d.Scanner == nil || d.Line == nil {
		t.Fatalf("devices %+v: want all five and the simulated line", d)
	}
	var kinds []string
	for _, h := range d.Health {
		hh := h.Health()
		if !hh.OK() {
			t.Fatalf("%s is %s (%s) after openLine, want connected", hh.Device, hh.State, hh.Reason)
		}
		kinds = append(kinds, hh.Kind)
	}
	if got, want := strings.Join(kinds, ","), "printer,coder,camera,scanner,plc"; got != want {
		t.Fatalf("lamps %s, want %s", got, want)
	}
	if st := d.Line.Status(); st.State != station.LineStateExecute {
		t.Fatalf("PLC state %s, want Execute", st.State)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("CoderToCamera", func(t *testing.T) {
		if err := d.Coder.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		code := station.UnitCode{Serial: "000000000042", Data: "01" + demoGTIN + "17271231" + "10LOT42A\x1d21000000000042"}
		if err := d.Coder.Queue(ctx, code); err != nil {
			t.Fatal(err)
		}
		ack, err := d.Coder.Printed(ctx)
		if err != nil || ack.Serial != code.Serial {
			t.Fatalf("coder acknowledged %+v, %v; want %s (and no unmarked carton before it)", ack, err, code.Serial)
		}
		read, err := d.Camera.Read(ctx)
		if err != nil || read.NoRead || read.Data != code.Data || read.Symbology != "]d2" {
			t.Fatalf("camera read %+v, %v; want ]d2 %q", read, err, code.Data)
		}
		if n := d.Sim.Cartons(); n != 1 {
			t.Fatalf("%d cartons fed, want 1: the infeed waits for the coder", n)
		}
	})
	t.Run("Scanner", func(t *testing.T) {
		if _, err := exec.LookPath("socat"); err == nil && d.Sim.Endpoints.ScannerSerial == "" {
			t.Fatal("socat is installed but the scanner is not on a pseudo-terminal")
		}
		data := "01" + demoGTIN + "17271231" + "10LOT42A\x1d21000000000042"
		stationtest.Poll(t, 10*time.Second, "the scanner driver's port is open", func() bool { return d.Sim.Line.Scanner.Clients() > 0 })
		d.Sim.Line.Scanner.Scan("]d2", data)
		sc, err := d.Scanner.Scan(ctx)
		if err != nil || sc.Symbology != "]d2" || sc.Data != data {
			t.Fatalf("scan %+v, %v; want ]d2 %q", sc, err, data)
		}
	})

	printer := d.Sim.Endpoints.Printer
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, h := range d.Health {
		if hh := h.Health(); hh.State != station.DeviceDisconnected {
			t.Fatalf("%s is %s after Close, want disconnected", hh.Device, hh.State)
		}
	}
	if c, err := net.DialTimeout("tcp", printer, time.Second); err == nil {
		c.Close()
		t.Fatalf("the simulated printer %s still accepts connections after Close", printer)
	}
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestOpenLine_Unreachable opens real devices that are not there: openLine
// does not fail, each lamp says why, and once a device comes up at its
// address the driver connects to it with nobody using it.
func TestOpenLine_Unreachable(t *testing.T) {
	coderAddr := freeAddr(t)
	cfg := DevicesConfig{Mode: "real", Printer: "tcp://" + freeAddr(t), Coder: "tcp://" + coderAddr,
		CameraCommand: "tcp://" + freeAddr(t), CameraResults: "tcp://" + freeAddr(t), PLC: "opc.tcp://" + freeAddr(t)}
	start := time.Now()
	d := MustOpenLine(t, cfg)
	if took := time.Since(start); took > openWait+2*probeTimeout {
		t.Fatalf("openLine took %s with nothing reachable, want at most about %s", took, openWait)
	}
	if d.Scanner != nil || d.Sim != nil {
		t.Fatalf("scanner %v, sim %v: want neither (not configured, real mode)", d.Scanner, d.Sim)
	}
	if len(d.Health) != 4 {
		t.Fatalf("%d lamps, want printer, coder, camera and plc", len(d.Health))
	}
	for _, h := range d.Health {
		hh := h.Health()
		if hh.State != station.DeviceDisconnected || hh.Reason == "" {
			t.Fatalf("%s: %s %q, want disconnected with a reason", hh.Device, hh.State, hh.Reason)
		}
		if hh.Kind != "plc" && !strings.Contains(hh.Reason, "connect") {
			t.Fatalf("%s: reason %q does not say it cannot connect", hh.Device, hh.Reason)
		}
	}

	c := sim.NewCoder()
	if _, err := c.ListenTCP(coderAddr); err != nil {
		t.Fatalf("start a coder at %s: %v", coderAddr, err)
	}
	defer c.Close()
	stationtest.Poll(t, 10*time.Second, "the coder's lamp turns green once it is up", func() bool { return d.Coder.Health().OK() })
}

// TestOpenLine_BadConfig checks that a malformed address or setting is an
// error that names it, and that nothing is left running.
func TestOpenLine_BadConfig(t *testing.T) {
	real := func(f func(c *DevicesConfig)) DevicesConfig {
		c := DevicesConfig{Mode: "real", Coder: "tcp://127.0.0.1:1"}
		f(&c)
		return c
	}
	for _, tt := range []struct {
		name string
		cfg  DevicesConfig
		want string
	}{
		{"Mode", DevicesConfig{Mode: "fake"}, `devices.mode "fake"`},
		{"Faults", DevicesConfig{Mode: "sim", Sim: SimConfig{Faults: "noread=2"}}, "devices.sim.faults"},
		{"Speed", DevicesConfig{Mode: "sim", Sim: SimConfig{UnitsPerMin: 60001}}, "devices.sim.units_per_min 60001"},
		{"Seed", DevicesConfig{Mode: "sim", Sim: SimConfig{Seed: -1}}, "devices.sim.seed -1"},
		{"Suffix", real(func(c *DevicesConfig) { c.ScannerSuffix = "tab" }), `devices.scanner_suffix "tab"`},
		{"NoPort", real(func(c *DevicesConfig) { c.Printer = "tcp://printer" }), `devices.printer "tcp://printer"`},
		{"Scheme", real(func(c *DevicesConfig) { c.Coder = "udp://127.0.0.1:9" }), `scheme "udp"`},
		{"Baud", real(func(c *DevicesConfig) { c.Scanner = "serial:///dev/ttyS0?baud=fast" }), `baud "fast"`},
		{"SerialHost", real(func(c *DevicesConfig) { c.Scanner = "serial://dev/ttyS0" }), "absolute path"},
		{"PLC", real(func(c *DevicesConfig) { c.PLC = "http://plc:4840" }), "devices.plc"},
		{"ResultsOnly", real(func(c *DevicesConfig) { c.CameraResults = "tcp://127.0.0.1:2" }), "devices.camera_command is empty"},
		{"TCPCameraNoResults", real(func(c *DevicesConfig) { c.CameraCommand = "tcp://127.0.0.1:2" }), "devices.camera_results \"\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := openLine(context.Background(), tt.cfg, quietLog)
			if err == nil {
				d.Close()
				t.Fatalf("openLine accepted %+v", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDeviceAddr(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want deviceAddr
		err  string
	}{
		{"tcp://127.0.0.1:9100", deviceAddr{TCP: "127.0.0.1:9100"}, ""},
		{"tcp://printer-1.line:9100/", deviceAddr{TCP: "printer-1.line:9100"}, ""},
		{"tcp://[::1]:23", deviceAddr{TCP: "[::1]:23"}, ""},
		{"serial:///dev/ttyUSB0", deviceAddr{Serial: "/dev/ttyUSB0", Baud: 9600}, ""},
		{"serial:///dev/ttyACM0?baud=115200", deviceAddr{Serial: "/dev/ttyACM0", Baud: 115200}, ""},
		{"tcp://host", deviceAddr{}, "no host:port"},
		{"tcp://:9100", deviceAddr{}, "no host:port"},
		{"tcp://host:70000", deviceAddr{}, `port "70000"`},
		{"tcp://host:9100/path", deviceAddr{}, "nothing after host:port"},
		{"tcp://host:9100?x=1", deviceAddr{}, "nothing after host:port"},
		{"serial:///dev/ttyS0?parity=even", deviceAddr{}, `unknown option "parity"`},
		{"serial:///dev/ttyS0?baud=0", deviceAddr{}, `baud "0"`},
		{"/dev/ttyS0", deviceAddr{}, "no scheme"},
		{"host:9100", deviceAddr{}, `scheme "host"`},
		{"tcp://host:9100%", deviceAddr{}, "invalid"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDeviceAddr("devices.x", tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "devices.x") {
					t.Fatalf("err=%v, want one naming devices.x and containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			back, err := parseDeviceAddr("devices.x", got.String())
			if err != nil || back != got {
				t.Fatalf("String()=%q reads back as %+v, %v", got.String(), back, err)
			}
		})
	}
}

// TestOpenLine_SerialCoder connects the coder driver over a real
// pseudo-terminal pair: a serial:// address, the path socat made.
func TestOpenLine_SerialCoder(t *testing.T) {
	stationtest.RequireCommand(t, "socat", "apt-get install socat")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pair, err := sim.StartPTYPair(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pair.Close()
	c := sim.NewCoder()
	defer c.Close()
	end, err := os.OpenFile(pair.B, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	go c.Serve(end)
	d := MustOpenLine(t, DevicesConfig{Mode: "real", Coder: "serial://" + pair.A + "?baud=115200"})
	if h := d.Coder.Health(); !h.OK() {
		t.Fatalf("coder on %s is %s: %s", pair.A, h.State, h.Reason)
	}
	if err := d.Coder.Select(ctx, "unit"); err != nil {
		t.Fatal(err)
	}
	if err := d.Coder.Queue(ctx, station.UnitCode{Serial: "000000000007", Data: "01" + demoGTIN + "21000000000007"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Queued(); got != 1 {
		t.Fatalf("the coder holds %d codes, want 1", got)
	}
	if err := d.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
