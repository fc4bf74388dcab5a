package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/devices/camera"
	"github.com/linestation/linestation/devices/coder"
	"github.com/linestation/linestation/devices/opcua"
	"github.com/linestation/linestation/devices/scanner"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/station"
)

// How openLine connects the devices.
const (
	// openWait bounds openLine's wait for the devices to connect before it
	// returns with whatever the lamps show.
	openWait = 3 * time.Second
	// probeEvery is how often a device that is not connected is tried again,
	// so that its lamp turns green once it is back even while nothing uses it.
	probeEvery = time.Second
	// probeTimeout bounds one such try.
	probeTimeout = 2 * time.Second
	// printerPollEvery is how often the label printer's status is asked
	// while it is connected, so that a head opened or ribbon run out while
	// no label is printed shows on its lamp.
	printerPollEvery = 5 * time.Second
	// defaultBaud is the baud rate of a serial address without ?baud=.
	defaultBaud = 9600
)

// lineDevices are the line's devices as openLine opened them: the drivers
// the station uses and, in sim mode, the simulated line they are connected
// to. A device that is not configured is nil. Close closes everything.
type lineDevices struct {
	Printer station.Printer // label printer for bundles, cases and pallets
	Coder   station.Coder   // unit coder
	Camera  station.Camera  // vision camera after the coder
	Scanner station.Scanner // handheld scanner; nil for a keyboard-wedge one
	Line    station.Line    // line PLC (PackML over OPC UA)
	// Health lists the devices opened, for the kiosk's lamps, in the order
	// printer, coder, camera, scanner, plc.
	Health []station.HealthReporter
	// Sim is the simulated line in sim mode: its simulators' fault knobs
	// (Sim.Line.Coder.SetFault, Sim.Line.Camera.SetOffline,
	// Sim.Line.Printer.SetRibbonOut, Sim.PLC.Fault, ...) and the faults it
	// injected (Sim.Injected). Nil in real mode.
	Sim *simLine

	logger  *slog.Logger
	cancel  context.CancelFunc // stops the conveyor and the prober
	wg      sync.WaitGroup
	closers []func() error // in opening order
	probes  []probe
	once    sync.Once
	err     error
}

// probe keeps one device's lamp honest while nothing else uses the device.
type probe struct {
	name   string
	h      station.HealthReporter
	try    func(ctx context.Context) error // connects (and asks for status)
	always bool                            // also while connected, every printerPollEvery
}

// openLine opens the line's devices from cfg. In mode "sim" it starts the
// simulated line in-process (the simulators 'linestation sim line' runs,
// with the conveyor interlocked to the coder, at cfg.Sim's speed, faults and
// seed) and connects the real drivers to it over loopback TCP and, for the
// scanner when socat is installed, a pseudo-terminal. In mode "real" it
// connects the drivers to the configured addresses: tcp://host:port or
// serial:///dev/ttyX?baud=N, and opc.tcp://host:port for the PLC.
//
// A device that cannot be reached is not an error: its driver keeps
// reconnecting and its Health says why; openLine waits at most openWait
// for the devices to connect. Only a malformed address or setting, or a
// simulated line that cannot start, is an error. Close the result when done.
func openLine(ctx context.Context, cfg DevicesConfig, logger *slog.Logger) (*lineDevices, error) {
	if logger == nil {
		logger = slog.Default()
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &lineDevices{logger: logger, cancel: cancel}
	opened := false
	defer func() {
		if !opened {
			d.Close() // what was started before the error
		}
	}()
	suffix, err := scannerSuffix(cfg.ScannerSuffix)
	if err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case "sim":
		opt, err := simOptionsFrom(cfg.Sim)
		if err != nil {
			return nil, err
		}
		opt.ScannerSuffix = suffix
		l, err := startSimLine(ctx, opt, logger.With("component", "sim"))
		if err != nil {
			return nil, err
		}
		d.Sim = l
		d.closers = append(d.closers, l.close)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			l.run(life, 0)
		}()
		cfg = l.devices(cfg.ScannerSuffix)
	case "real":
	default:
		return nil, fmt.Errorf("devices.mode %q: use \"sim\" or \"real\"", cfg.Mode)
	}
	if err := d.connect(cfg, suffix); err != nil {
		return nil, err
	}
	d.start(ctx, life)
	opened = true
	return d, nil
}

// simOptionsFrom checks the [devices.sim] settings.
func simOptionsFrom(c SimConfig) (simOptions, error) {
	faults, err := sim.ParseFaults(c.Faults)
	if err != nil {
		return simOptions{}, fmt.Errorf("devices.sim.faults %q: %w", c.Faults, err)
	}
	rate := c.UnitsPerMin
	if rate == 0 {
		rate = defaultUnitsPerMin
	}
	if rate < 1 || rate > maxUnitsPerMin {
		return simOptions{}, fmt.Errorf("devices.sim.units_per_min %d: use 1 to %d", c.UnitsPerMin, maxUnitsPerMin)
	}
	if c.Seed < 0 {
		return simOptions{}, fmt.Errorf("devices.sim.seed %d: use 0 or more", c.Seed)
	}
	return simOptions{UnitsPerMin: rate, Faults: faults, Seed: uint64(c.Seed), Interlock: true}, nil
}

// scannerSuffix maps devices.scanner_suffix to the bytes that end a frame.
func scannerSuffix(s string) (string, error) {
	switch s {
	case "", "cr":
		return "\r", nil
	case "lf":
		return "\n", nil
	case "crlf":
		return "\r\n", nil
	}
	return "", fmt.Errorf("devices.scanner_suffix %q: use \"cr\", \"lf\" or \"crlf\"", s)
}

// connect builds the drivers for the addresses in cfg.
func (d *lineDevices) connect(cfg DevicesConfig, suffix string) error {
	addr := func(key, val string) (deviceAddr, bool, error) {
		if val == "" {
			return deviceAddr{}, false, nil
		}
		a, err := parseDeviceAddr(key, val)
		return a, err == nil, err
	}
	pa, okP, err := addr("devices.printer", cfg.Printer)
	if err != nil {
		return err
	}
	ca, okC, err := addr("devices.coder", cfg.Coder)
	if err != nil {
		return err
	}
	cc, okCC, err := addr("devices.camera_command", cfg.CameraCommand)
	if err != nil {
		return err
	}
	cr, okCR, err := addr("devices.camera_results", cfg.CameraResults)
	if err != nil {
		return err
	}
	sa, okS, err := addr("devices.scanner", cfg.Scanner)
	if err != nil {
		return err
	}
	var plc *opcua.Line
	if cfg.PLC != "" {
		if plc, err = opcua.New(opcua.Config{Name: "plc", Endpoint: cfg.PLC}); err != nil {
			return fmt.Errorf("devices.plc %q: %w", cfg.PLC, err)
		}
	}
	if okCR && !okCC {
		return fmt.Errorf("devices.camera_results is set but devices.camera_command is empty: give the camera's command address too")
	}

	log := func(component string) *slog.Logger { return d.logger.With("component", component) }
	if okP {
		p := zpl.NewPrinter(nil, zpl.Options{Dial: dialer(pa, zpl.DialTCP, zpl.OpenSerial), Logger: log("zpl")})
		d.Printer = p
		d.add(p, p.Close, probe{name: "printer", h: p, always: true, try: func(ctx context.Context) error {
			_, err := p.Status(ctx)
			return err
		}})
	}
	if okC {
		c := coder.NewCoder(nil, coder.Options{Dial: dialer(ca, coder.DialTCP, coder.OpenSerial), Logger: log("coder")})
		d.Coder = c
		d.add(c, c.Close, probe{name: "coder", h: c, try: func(ctx context.Context) error {
			_, err := c.Version(ctx)
			return err
		}})
	}
	if okCC {
		opt := camera.Options{DialCommand: dialer(cc, camera.DialTCP, camera.OpenSerial), Logger: log("camera")}
		if okCR && cr != cc {
			opt.DialResults = dialer(cr, camera.DialTCP, camera.OpenSerial)
		} else if cc.Serial == "" {
			return fmt.Errorf("devices.camera_results %q: a camera on TCP sends its results on a port of their own: give it, other than devices.camera_command", cfg.CameraResults)
		} // else: a serial camera sends results on its one port
		c := camera.NewCamera(nil, nil, opt)
		d.Camera = c
		d.add(c, c.Close, probe{name: "camera", h: c, try: c.Connect})
	}
	if okS {
		s := scanner.NewScanner(nil, scanner.Options{Dial: dialer(sa, scanner.DialTCP, scanner.OpenSerial), Suffix: suffix, Logger: log("scanner")})
		d.Scanner = s
		d.add(s, s.Close, probe{name: "scanner", h: s, try: s.Connect})
	}
	if plc != nil {
		plc.Logger = log("opcua").With("device", "plc")
		if err := plc.Open(); err != nil {
			return fmt.Errorf("open PLC: %w", err)
		}
		d.Line = plc
		d.add(plc, plc.Close, probe{})
	}
	return nil
}

// add records an opened driver: its lamp, how to close it, how to probe it.
func (d *lineDevices) add(h station.HealthReporter, closer func() error, p probe) {
	d.Health = append(d.Health, h)
	d.closers = append(d.closers, closer)
	if p.try != nil {
		d.probes = append(d.probes, p)
	}
}

// start connects every device once, waits up to openWait (or until ctx
// is done) for them all to be connected, and starts the prober.
func (d *lineDevices) start(ctx, life context.Context) {
	var wg sync.WaitGroup
	for _, p := range d.probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.try(ctx, p)
		}()
	}
	wg.Wait()
	if !d.waitConnected(ctx, openWait) {
		for _, h := range d.Health {
			if hh := h.Health(); !hh.OK() {
				d.logger.Warn("device not connected", "device", hh.Device, "state", hh.State, "reason", hh.Reason)
			}
		}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.prober(life)
	}()
}

// waitConnected waits until every device is connected, trying again those
// that are not, for at most limit or until ctx is done. It reports whether
// they all are.
func (d *lineDevices) waitConnected(ctx context.Context, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !d.allConnected() {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
			for _, p := range d.probes {
				if p.h.Health().State == station.DeviceDisconnected {
					d.try(ctx, p)
				}
			}
		}
	}
	return true
}

func (d *lineDevices) allConnected() bool {
	for _, h := range d.Health {
		if !h.Health().OK() {
			return false
		}
	}
	return true
}

// try runs one probe; its failure shows in the device's Health.
func (d *lineDevices) try(ctx context.Context, p probe) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := p.try(ctx); err != nil && ctx.Err() == nil {
		d.logger.Debug("device probe", "device", p.name, "error", err)
	}
}

// prober tries the devices that are not connected every probeEvery, and
// asks the printer for its status every printerPollEvery, until ctx is done.
func (d *lineDevices) prober(ctx context.Context) {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	polled := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		poll := time.Since(polled) >= printerPollEvery
		if poll {
			polled = time.Now()
		}
		for _, p := range d.probes {
			st := p.h.Health().State
			if st == station.DeviceDisconnected || (p.always && (st != station.DeviceConnected || poll)) {
				d.try(ctx, p)
			}
		}
	}
}

// Close stops the conveyor and the prober, closes the drivers, then the
// simulated line, in the reverse order of opening, and waits for them. It
// returns the first error; later calls return the same.
func (d *lineDevices) Close() error {
	d.once.Do(func() {
		d.cancel()
		d.wg.Wait()
		for i := len(d.closers) - 1; i >= 0; i-- {
			if err := d.closers[i](); err != nil && d.err == nil {
				d.err = err
			}
		}
	})
	return d.err
}

// deviceAddr is a stream device's address: a TCP host:port, or a serial
// port with its baud rate.
type deviceAddr struct {
	TCP    string // host:port; "" for a serial port
	Serial string // path of the serial port; "" for TCP
	Baud   int    // serial baud rate
}

// parseDeviceAddr reads tcp://host:port or serial:///dev/ttyX[?baud=N];
// key names the setting in errors.
func parseDeviceAddr(key, s string) (deviceAddr, error) {
	bad := func(why string) (deviceAddr, error) {
		return deviceAddr{}, fmt.Errorf("%s %q: %s; write it as tcp://host:port or serial:///dev/ttyX?baud=9600", key, s, why)
	}
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return bad(err.Error())
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" || u.Hostname() == "" {
			return bad("no host:port")
		}
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			return bad(fmt.Sprintf("port %q is not 1 to 65535", u.Port()))
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return bad("a TCP address has nothing after host:port")
		}
		return deviceAddr{TCP: u.Host}, nil
	case "serial":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") || len(u.Path) < 2 {
			return bad("a serial port is an absolute path after three slashes")
		}
		a := deviceAddr{Serial: u.Path, Baud: defaultBaud}
		q := u.Query()
		for k := range q {
			if k != "baud" {
				return bad(fmt.Sprintf("unknown option %q (only baud)", k))
			}
		}
		if v := q.Get("baud"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 50 || n > 4000000 {
				return bad(fmt.Sprintf("baud %q is not a baud rate", v))
			}
			a.Baud = n
		}
		return a, nil
	case "":
		return bad("no scheme")
	}
	return bad(fmt.Sprintf("scheme %q is neither tcp nor serial", u.Scheme))
}

// String writes the address back as a URL.
func (a deviceAddr) String() string {
	if a.Serial != "" {
		return "serial://" + a.Serial + "?baud=" + strconv.Itoa(a.Baud)
	}
	return "tcp://" + a.TCP
}

// dialer returns how a driver (re)connects to a: with the driver's own
// DialTCP, or by opening the serial port with its OpenSerial.
func dialer[D ~func(context.Context) (io.ReadWriteCloser, error)](a deviceAddr, tcp func(addr string) D, open func(name string, baud int) (io.ReadWriteCloser, error)) D {
	if a.Serial == "" {
		return tcp(a.TCP)
	}
	name, baud := a.Serial, a.Baud
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return open(name, baud)
	}
}
