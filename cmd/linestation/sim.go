package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/sim/packml"
	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

const simUsage = `Usage: linestation sim COMMAND [FLAGS]

Simulated devices that speak the real wire protocols on loopback and on
pseudo-terminals, so that a whole line runs on one machine with no hardware.

Commands:
  line       run a simulated line: label printer, coder, camera, scanner and PLC
  scenario   run an order end to end on a simulated line and reconcile it

Run 'linestation sim COMMAND --help' for the flags of a command.
`

const simLineUsage = `Usage: linestation sim line [--units-per-min N] [--faults SPEC] [--seed N] [--interlock=false] [--json]

Starts a simulated packaging line on loopback and prints where each device
listens, one line per device (kind, transport, address or pseudo-terminal
path), or one JSON object with --json:

  printer   Zebra ZPL over raw TCP (like port 9100); ~HS status, renders labels
  coder     LSC/1 unit coder over TCP (devices/coder/PROTOCOL.md)
  camera    DataMan-style reader: DMCC commands on one TCP port, result lines
            on another
  scanner   handheld scanner frames over TCP (a serial server) and, when
            socat is installed, on a pseudo-terminal to open as a serial port
  plc       OPC UA PackML server (opc.tcp://...), unit Line1

Then it runs the conveyor until interrupted, logging a status line (cartons
so far, faults injected, PLC state) to standard error. The conveyor moves
one place every 1/N minute while the PLC is in Execute, where it starts:
Stop or Hold it over OPC UA and the cartons stop. With the interlock (the
default) the infeed waits for the coder's ready signal, as a line PLC does:
a carton is fed only while the coder has a code queued, so a station that
queues codes sets the pace up to N a minute, and no carton passes unmarked;
otherwise the conveyor moves on with an empty place. With --interlock=false
every place holds a carton, and one that finds nothing queued passes
unmarked (the coder says NO_CODE, the camera sends a no-read). Each carton
passes the coder, which marks the next queued code, and some places later
(3, or more on a fast line: at least 50 ms of travel) the camera, which
decodes the mark and sends its result. The PLC counts each carton processed
and each reject order defective.

SPEC spoils marks at the coder at the given rates, deterministically for a
seed: noread (smudged), wrong (other content), dup (the last good code
again), lowgrade (faded ink, grade D), as 1% or 0.01; ribbon=N runs the label
printer out of ribbon after N labels. Example:
  --faults 'noread=1%,wrong=0.5%,dup=0.2%,lowgrade=0.5%'

Flags:
`

const simScenarioUsage = `Usage: linestation sim scenario [--units N] [--faults SPEC] [--seed N] [--units-per-min N] [--db FILE] [--json]

Runs one packaging order end to end, headless: a station ledger (FILE, or a
temporary file removed afterwards), the station domain with a demo product
(NDC 0001-0123-45, 10 units a case, 10 cases a pallet) and a demo
supervisor, an order of N units released to the line, the simulated line of
'linestation sim line' with the real drivers connected to it, and the line
run, until the order's N units are commissioned. Progress goes to standard
error every second. Then it completes the order and prints its
reconciliation with rejects by reason, the faults the simulator injected
next to the rejections the ledger recorded for each, whether the order
balances, and whether the ledger verifies (as 'linestation ledger verify').

Each injected fault must be recorded under its reason: noread as no_read,
wrong as wrong_content, dup as duplicate, lowgrade as low_grade; any other
rejection is unexplained. Exits with status 0 when the order balances,
every injected fault is accounted for and nothing else was rejected, and the
ledger verifies; with status 1 otherwise, saying which.

Example:
  linestation sim scenario --units 2000 --faults 'noread=1%,wrong=0.5%,dup=0.2%,lowgrade=0.5%'

Flags:
`

// Defaults of 'sim line' and 'sim scenario'.
const (
	defaultUnitsPerMin = 120
	maxUnitsPerMin     = 60000 // one carton a millisecond
	defaultStatusEvery = 5 * time.Second
	// minPitch and minTravel set how many places lie between the coder and
	// the camera: at least minPitch, and enough for a carton to take
	// minTravel from one to the other, as on a real line, where the camera
	// sits a good way downstream of the coder.
	minPitch  = 3
	minTravel = 50 * time.Millisecond

	defaultScenarioUnits = 1000
	defaultScenarioRate  = 6000
	maxScenarioUnits     = 1000000
	// scenarioStall is how long a scenario waits for the next pack to be
	// decided before it gives up.
	scenarioStall = 30 * time.Second
	// scenarioWait bounds the wait for the devices before the run starts.
	scenarioWait = 15 * time.Second
)

// runSim runs 'linestation sim ...'.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, simUsage)
		return &usageError{message: "sim needs a command: line or scenario"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, simUsage)
		return nil
	case "line":
		return runSimLine(ctx, args[1:], stdout, stderr)
	case "scenario":
		return runSimScenario(ctx, args[1:], stdout, stderr)
	}
	return &usageError{message: fmt.Sprintf("unknown sim command %q", args[0]), hint: "run 'linestation sim --help'"}
}

// simEndpoints are where the devices of a simulated line listen; --json
// prints them as one JSON object on one line.
type simEndpoints struct {
	Printer       string `json:"printer"`                  // ZPL, host:port
	Coder         string `json:"coder"`                    // LSC/1, host:port
	CameraCommand string `json:"camera_command"`           // DMCC, host:port
	CameraResults string `json:"camera_results"`           // result lines, host:port
	Scanner       string `json:"scanner"`                  // scanner frames, host:port
	ScannerSerial string `json:"scanner_serial,omitempty"` // path of a pseudo-terminal; empty without socat
	PLC           string `json:"plc"`                      // OPC UA endpoint URL
}

// write prints e as a table, one line per device, or as JSON.
func (e simEndpoints) write(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("print endpoints: %w", err)
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return fmt.Errorf("print endpoints: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "printer\ttcp\t%s\n", e.Printer)
	fmt.Fprintf(tw, "coder\ttcp\t%s\n", e.Coder)
	fmt.Fprintf(tw, "camera\ttcp\t%s results %s\n", e.CameraCommand, e.CameraResults)
	fmt.Fprintf(tw, "scanner\ttcp\t%s\n", e.Scanner)
	if e.ScannerSerial != "" {
		fmt.Fprintf(tw, "scanner\tserial\t%s\n", e.ScannerSerial)
	}
	fmt.Fprintf(tw, "plc\topcua\t%s\n", e.PLC)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print endpoints: %w", err)
	}
	return nil
}

// runSimLine runs 'linestation sim line'.
func runSimLine(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("sim line", simLineUsage, stdout)
	rate := fs.Int("units-per-min", defaultUnitsPerMin, "conveyor speed in cartons a `minute` (1 to 60000)")
	spec := fs.String("faults", "", "fault `SPEC`, e.g. 'noread=1%,wrong=0.5%'; none by default")
	seed := fs.Uint64("seed", 1, "`seed` of the fault injection: the same seed spoils the same cartons")
	interlock := fs.Bool("interlock", true, "feed a carton only while the coder has a code queued")
	asJSON := fs.Bool("json", false, "print the endpoints as one JSON object instead of a table")
	statusEvery := fs.Duration("status-interval", defaultStatusEvery, "time between two status lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	hint := "run 'linestation sim line --help'"
	if fs.NArg() > 0 {
		return &usageError{message: fmt.Sprintf("sim line: unexpected argument %q", fs.Arg(0)), hint: hint}
	}
	if *rate < 1 || *rate > maxUnitsPerMin {
		return &usageError{message: fmt.Sprintf("sim line: --units-per-min %d: want 1 to %d", *rate, maxUnitsPerMin), hint: hint}
	}
	if *statusEvery <= 0 {
		return &usageError{message: fmt.Sprintf("sim line: --status-interval %s: want a positive duration", *statusEvery), hint: hint}
	}
	faults, err := sim.ParseFaults(*spec)
	if err != nil {
		return &usageError{message: fmt.Sprintf("sim line: --faults %q: %v", *spec, err), hint: hint}
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "sim")
	l, err := startSimLine(ctx, simOptions{UnitsPerMin: *rate, Faults: faults, Seed: *seed, Interlock: *interlock}, logger)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := l.Endpoints.write(stdout, *asJSON); err != nil {
		return err
	}
	logger.Info("line running", "units_per_min", *rate, "pitch", l.Line.Pitch, "interlock", *interlock, "faults", *spec, "seed", *seed)
	l.run(ctx, *statusEvery)
	logger.Info("line stopped", "units", l.Cartons())
	return nil
}

// simOptions configure a simulated line.
type simOptions struct {
	UnitsPerMin int        // conveyor speed in places a minute, 1 to maxUnitsPerMin
	Faults      sim.Faults // what the line spoils
	Seed        uint64     // seed of the fault injection
	// Interlock feeds a carton only while the coder is ready (see
	// sim.Line.Interlock).
	Interlock bool
	// ScannerSuffix ends the simulated scanner's frames; default "\r".
	ScannerSuffix string
}

// simLine is a running simulated line and its PLC: what 'sim line' runs
// and what openLine starts in sim mode.
type simLine struct {
	// Line holds the simulators and their fault knobs: Line.Coder.SetFault,
	// Line.Camera.SetOffline, Line.Printer.SetRibbonOut, Line.Scanner.Scan, ...
	Line *sim.Line
	// PLC is the OPC UA PackML server: PLC.Fault, PLC.Disconnect, ...
	PLC *packml.Server
	// Endpoints are where the devices listen.
	Endpoints simEndpoints

	interval time.Duration // between two conveyor steps
	ptyDir   string        // holds the scanner's pseudo-terminals; "" when none
	logger   *slog.Logger
}

var quietStdLog sync.Once

// pitchFor is the number of places between the coder and the camera for a
// conveyor that moves one place every interval.
func pitchFor(interval time.Duration) int {
	return max(minPitch, int((minTravel+interval-1)/interval))
}

// startSimLine starts every device; on error what was started is closed.
// The conveyor does not move before run.
func startSimLine(ctx context.Context, opt simOptions, logger *slog.Logger) (l *simLine, err error) {
	if opt.UnitsPerMin < 1 || opt.UnitsPerMin > maxUnitsPerMin {
		return nil, fmt.Errorf("start simulated line: %d units a minute: want 1 to %d", opt.UnitsPerMin, maxUnitsPerMin)
	}
	l = &simLine{Line: sim.NewLine(opt.Faults, opt.Seed), logger: logger, interval: time.Minute / time.Duration(opt.UnitsPerMin)}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	l.Line.Pitch = pitchFor(l.interval)
	l.Line.Interlock = opt.Interlock
	l.Line.Printer.Logger = logger.With("device", "printer")
	l.Line.Coder.Logger = logger.With("device", "coder")
	l.Line.Camera.Logger = logger.With("device", "camera")
	if opt.ScannerSuffix != "" {
		l.Line.Scanner.SetSuffix(opt.ScannerSuffix)
	}

	a, err := l.Line.Listen()
	if err != nil {
		return nil, fmt.Errorf("start simulated line: %w", err)
	}
	l.Endpoints = simEndpoints{
		Printer: a.Printer, Coder: a.Coder, CameraCommand: a.CameraCommand, CameraResults: a.CameraResults, Scanner: a.Scanner,
	}

	if _, lerr := exec.LookPath("socat"); lerr != nil {
		logger.Warn("no serial scanner: socat is not installed (apt-get install socat); the scanner is on TCP only")
	} else {
		if l.ptyDir, err = os.MkdirTemp("", "linestation-sim-"); err != nil {
			return nil, fmt.Errorf("start simulated scanner: %w", err)
		}
		if l.Endpoints.ScannerSerial, err = l.Line.ScannerPTY(ctx, l.ptyDir); err != nil {
			return nil, fmt.Errorf("start simulated scanner: %w", err)
		}
	}

	// gopcua's server prints its node-set import with the standard logger,
	// which nothing else here uses: keep it off standard error.
	quietStdLog.Do(func() { log.SetOutput(io.Discard) })
	l.PLC = packml.New(packml.Config{
		InitialState: station.LineStateExecute,
		OnReject:     l.rejected,
	})
	l.PLC.Logger = logger.With("device", "plc")
	if err := l.PLC.Open(); err != nil {
		l.PLC = nil
		return nil, fmt.Errorf("start simulated plc: %w", err)
	}
	l.Endpoints.PLC = l.PLC.Endpoint()
	return l, nil
}

// devices is the configuration that connects real drivers to the line: its
// addresses as tcp:// and serial:// URLs (the scanner on its
// pseudo-terminal when there is one), with the given scanner suffix.
func (l *simLine) devices(suffix string) DevicesConfig {
	e := l.Endpoints
	c := DevicesConfig{
		Mode: "real", Printer: "tcp://" + e.Printer, Coder: "tcp://" + e.Coder,
		CameraCommand: "tcp://" + e.CameraCommand, CameraResults: "tcp://" + e.CameraResults,
		Scanner: "tcp://" + e.Scanner, ScannerSuffix: suffix, PLC: e.PLC,
	}
	if e.ScannerSerial != "" {
		c.Scanner = "serial://" + e.ScannerSerial + "?baud=115200"
	}
	return c
}

// rejected counts a reject order as a defective pack, as the PLC's reject
// confirmation sensor would. It runs on the OPC UA server's request goroutine.
func (l *simLine) rejected(unit string) {
	if err := l.PLC.Produce(0, 1); err != nil {
		l.logger.Warn("count reject", "unit", unit, "error", err)
		return
	}
	l.logger.Debug("reject gate", "unit", unit)
}

// run moves the conveyor one place every interval while the PLC is in
// Execute, counting each carton on the PLC, and logs the line's status
// every statusEvery (never when 0), until ctx is done.
func (l *simLine) run(ctx context.Context, statusEvery time.Duration) {
	step := time.NewTicker(l.interval)
	defer step.Stop()
	var status <-chan time.Time
	if statusEvery > 0 {
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		status = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-step.C:
			if l.PLC.Status().State != station.LineStateExecute {
				continue
			}
			before := l.Line.Cartons()
			if _, _, err := l.Line.Step(); err != nil {
				l.logger.Warn("conveyor step", "error", err)
				continue
			}
			if n := l.Line.Cartons() - before; n > 0 {
				if err := l.PLC.Produce(n, 0); err != nil {
					l.logger.Warn("count carton", "error", err)
				}
			}
		case <-status:
			l.logStatus()
		}
	}
}

// Injected returns how many cartons got each fault so far (sim.Fault*).
func (l *simLine) Injected() map[string]int { return l.Line.Injected() }

// Cartons returns how many cartons passed the coder so far.
func (l *simLine) Cartons() int { return l.Line.Cartons() }

// logStatus logs one status line.
func (l *simLine) logStatus() {
	st := l.PLC.Status()
	inj := l.Line.Injected()
	l.logger.Info("line status",
		"units", l.Line.Cartons(),
		slog.Group("injected",
			sim.FaultNoRead, inj[sim.FaultNoRead], sim.FaultWrong, inj[sim.FaultWrong],
			sim.FaultDuplicate, inj[sim.FaultDuplicate], sim.FaultLowGrade, inj[sim.FaultLowGrade],
			sim.FaultUnmarked, inj[sim.FaultUnmarked]),
		"labels", len(l.Line.Printer.Printed()),
		"plc_state", st.State.String(),
		"processed", st.Processed,
		"defective", st.Defective,
	)
}

// close stops the PLC, then the devices, and removes the pseudo-terminals.
func (l *simLine) close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if l.PLC != nil {
		keep(l.PLC.Close())
	}
	keep(l.Line.Close())
	if l.ptyDir != "" {
		keep(os.RemoveAll(l.ptyDir))
	}
	return first
}

// runSimScenario runs 'linestation sim scenario'.
func runSimScenario(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim scenario", simScenarioUsage, stdout)
	units := fs.Int("units", defaultScenarioUnits, "the order's quantity: `N` units to commission")
	spec := fs.String("faults", DefaultConfig().Devices.Sim.Faults, "fault `SPEC` as for 'sim line' (no ribbon: the scenario prints no labels)")
	seed := fs.Uint64("seed", 1, "`seed` of the fault injection: the same seed spoils the same cartons")
	rate := fs.Int("units-per-min", defaultScenarioRate, "conveyor speed in cartons a `minute` (1 to 60000)")
	dbPath := fs.String("db", "", "write the ledger to `FILE` (a new file) and keep it; default a temporary file")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	hint := "run 'linestation sim scenario --help'"
	switch {
	case fs.NArg() > 0:
		return &usageError{message: fmt.Sprintf("sim scenario: unexpected argument %q", fs.Arg(0)), hint: hint}
	case *units < 1 || *units > maxScenarioUnits:
		return &usageError{message: fmt.Sprintf("sim scenario: --units %d: want 1 to %d", *units, maxScenarioUnits), hint: hint}
	case *rate < 1 || *rate > maxUnitsPerMin:
		return &usageError{message: fmt.Sprintf("sim scenario: --units-per-min %d: want 1 to %d", *rate, maxUnitsPerMin), hint: hint}
	}
	faults, err := sim.ParseFaults(*spec)
	if err != nil {
		return &usageError{message: fmt.Sprintf("sim scenario: --faults %q: %v", *spec, err), hint: hint}
	}
	if faults.RibbonAfter > 0 {
		return &usageError{message: fmt.Sprintf("sim scenario: --faults %q: the scenario prints no labels, so ribbon has nothing to act on", *spec), hint: hint}
	}
	path, temp := *dbPath, *dbPath == ""
	if temp {
		dir, err := os.MkdirTemp("", "linestation-scenario-")
		if err != nil {
			return fmt.Errorf("sim scenario: %w", err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "station.db")
	} else if _, err := os.Stat(path); err == nil {
		return &usageError{message: fmt.Sprintf("sim scenario: --db %s exists: the scenario writes a new ledger", path), hint: "name a file that does not exist yet"}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sim scenario: --db %s: %w", path, err)
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := runScenario(ctx, scenarioConfig{Units: *units, Faults: *spec, Seed: *seed, UnitsPerMin: *rate, DB: path}, stderr, logger)
	if err != nil {
		return err
	}
	rep.Ledger.Temporary = temp
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("sim scenario: write JSON: %w", err)
		}
	} else {
		rep.write(stdout)
	}
	if !rep.OK {
		for _, p := range rep.Problems {
			fmt.Fprintf(stderr, "linestation: sim scenario: %s\n", p)
		}
		return &failure{reason: strings.Join(rep.Problems, "; ")}
	}
	return nil
}

// scenarioConfig is one headless order on a simulated line.
type scenarioConfig struct {
	Units       int    // the order's quantity
	Faults      string // fault spec of the simulated line
	Seed        uint64 // seed of its fault injection
	UnitsPerMin int    // its speed
	DB          string // path of the ledger to create
}

// Demo master data of the scenario.
const (
	demoStationID = "sim-station"
	demoLine      = "line-1"
	demoUser      = "sim-supervisor"
	demoGTIN      = "00300010123455" // NDC 0001-0123-45 (DOMAIN.md)
)

// faultReasons maps each content fault of the simulator to the reject
// reason the station must record for it.
var faultReasons = []struct {
	fault  string
	reason station.RejectReason
}{
	{sim.FaultNoRead, station.RejectNoRead},
	{sim.FaultWrong, station.RejectWrongContent},
	{sim.FaultDuplicate, station.RejectDuplicate},
	{sim.FaultLowGrade, station.RejectLowGrade},
}

// scenarioReport is what a scenario found; --json prints it.
type scenarioReport struct {
	Order       string  `json:"order"`
	Units       int     `json:"units"`
	Faults      string  `json:"faults"`
	Seed        uint64  `json:"seed"`
	UnitsPerMin int     `json:"line_units_per_min"` // the conveyor's speed
	ElapsedS    float64 `json:"elapsed_s"`          // from the run's start to the last decision
	PacksPerMin float64 `json:"packs_per_min"`      // packs decided a minute
	// LatencyP50Ms and LatencyP99Ms are the run's times from taking a
	// camera result to its durable decision (station.Run.Latency).
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	// Injected counts the cartons the simulator spoiled, by fault.
	Injected map[string]int `json:"injected"`
	// Accounting sets each fault next to the rejections recorded for it.
	Accounting []faultAccount `json:"accounting"`
	// Unexplained are rejections under reasons no injected fault stands for.
	Unexplained []station.ReasonCount `json:"unexplained"`
	// Unidentified counts cartons the camera saw that carried no pack of
	// the run (rejected at the gate, recorded nowhere).
	Unidentified   int64                  `json:"unidentified"`
	Reconciliation station.Reconciliation `json:"reconciliation"`
	Ledger         ledgerCheck            `json:"ledger"`
	OK             bool                   `json:"ok"`
	Problems       []string               `json:"problems"`
}

// faultAccount is one fault kind and the rejections recorded for it.
type faultAccount struct {
	Fault    string `json:"fault"`
	Injected int    `json:"injected"`
	Reason   string `json:"reason"`
	Recorded int64  `json:"recorded"`
	OK       bool   `json:"ok"`
}

// ledgerCheck is what verifying the ledger found.
type ledgerCheck struct {
	Path      string `json:"path"`
	Temporary bool   `json:"temporary"` // removed when the scenario ends
	Events    int64  `json:"events"`
	Verified  bool   `json:"verified"`
	Problem   string `json:"problem,omitempty"`
}

// runScenario runs one order end to end (see 'sim scenario --help') and
// reports what it found; progress, when not nil, gets a line a second. An
// error means the scenario could not be set up or run; what it finds wrong
// is in the report.
func runScenario(ctx context.Context, cfg scenarioConfig, progress io.Writer, logger *slog.Logger) (rep scenarioReport, err error) {
	rep = scenarioReport{Order: fmt.Sprintf("SIM-%d", cfg.Seed), Units: cfg.Units, Faults: cfg.Faults, Seed: cfg.Seed, UnitsPerMin: cfg.UnitsPerMin,
		Ledger: ledgerCheck{Path: cfg.DB}}
	clock := systemClock()
	db, err := localdb.Open(ctx, cfg.DB, localdb.Options{Station: demoStationID, Clock: clock, Create: true, Logger: logger.With("component", "localdb")})
	if err != nil {
		return rep, fmt.Errorf("sim scenario: open ledger: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sim scenario: close ledger: %w", cerr)
		}
	}()
	svc, err := newDemoService(ctx, db, clock, logger)
	if err != nil {
		return rep, fmt.Errorf("sim scenario: %w", err)
	}
	defer svc.Close()
	if err := createDemoOrder(ctx, svc, rep.Order, cfg.Units); err != nil {
		return rep, fmt.Errorf("sim scenario: %w", err)
	}
	dev, err := openLine(ctx, DevicesConfig{Mode: "sim", Sim: SimConfig{UnitsPerMin: cfg.UnitsPerMin, Faults: cfg.Faults, Seed: int64(cfg.Seed)}}, logger)
	if err != nil {
		return rep, fmt.Errorf("sim scenario: %w", err)
	}
	res, runErr := driveOrder(ctx, svc, dev, station.RunConfig{Order: rep.Order}, progress)
	rep.Injected = dev.Sim.Injected()
	if err := dev.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close the line: %w", err)
	}
	if runErr != nil {
		return rep, fmt.Errorf("sim scenario: %w", runErr)
	}
	rep.ElapsedS = res.Elapsed.Seconds()
	if res.Elapsed > 0 {
		rep.PacksPerMin = float64(res.Snapshot.Commissioned+res.Snapshot.Rejected) / res.Elapsed.Minutes()
	}
	rep.LatencyP50Ms, rep.LatencyP99Ms = ms(res.Latency.P50), ms(res.Latency.P99)
	rep.Unidentified = res.Snapshot.Unidentified
	if res.Stopped != "" {
		rep.Problems = append(rep.Problems, res.Stopped)
	}

	// What the run left is reported even when ctx ended it (an interrupt).
	ctx = context.WithoutCancel(ctx)
	rec, err := station.Reconcile(ctx, db, rep.Order)
	if err != nil {
		return rep, fmt.Errorf("sim scenario: %w", err)
	}
	rep.Reconciliation = rec
	rep.account()

	vr, err := db.Verify(ctx)
	switch {
	case err != nil:
		rep.Ledger.Problem = err.Error()
	case vr.Break != nil:
		rep.Ledger.Problem = fmt.Sprintf("broken at seq %d: %s", vr.Break.Seq, vr.Break.Reason)
	case len(vr.Integrity) > 0:
		rep.Ledger.Problem = "the file fails SQLite's integrity check: " + vr.Integrity[0]
	default:
		rep.Ledger.Verified = true
	}
	if vr != nil {
		rep.Ledger.Events = vr.Events
	}
	if !rep.Ledger.Verified {
		rep.Problems = append(rep.Problems, "the ledger does not verify: "+rep.Ledger.Problem)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// account compares the injected faults with the rejections recorded and
// notes every difference as a problem.
func (rep *scenarioReport) account() {
	rec := rep.Reconciliation
	recorded := map[station.RejectReason]int64{}
	for _, rc := range rec.Rejects {
		recorded[station.RejectReason(rc.Reason)] = rc.Count
	}
	explained := map[station.RejectReason]bool{}
	for _, fr := range faultReasons {
		explained[fr.reason] = true
		a := faultAccount{Fault: fr.fault, Injected: rep.Injected[fr.fault], Reason: string(fr.reason), Recorded: recorded[fr.reason]}
		a.OK = int64(a.Injected) == a.Recorded
		rep.Accounting = append(rep.Accounting, a)
		if !a.OK {
			rep.Problems = append(rep.Problems, fmt.Sprintf("fault %s: %d injected, %d packs rejected as %s", a.Fault, a.Injected, a.Recorded, a.Reason))
		}
	}
	rep.Unexplained = []station.ReasonCount{}
	for _, rc := range rec.Rejects {
		if !explained[station.RejectReason(rc.Reason)] && rc.Count > 0 {
			rep.Unexplained = append(rep.Unexplained, rc)
			rep.Problems = append(rep.Problems, fmt.Sprintf("%d packs rejected as %s, which no injected fault explains", rc.Count, rc.Reason))
		}
	}
	if n := rep.Injected[sim.FaultUnmarked]; n > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d cartons passed the coder unmarked", n))
	}
	if rep.Unidentified > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the camera saw %d cartons that carried no pack of the run", rep.Unidentified))
	}
	if !rec.Balanced {
		rep.Problems = append(rep.Problems, "the order does not balance: "+strings.Join(rec.Differences(), "; "))
	}
	if rec.Commissioned != int64(rep.Units) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d of the order's %d units were commissioned", rec.Commissioned, rep.Units))
	}
}

// write prints the report for a person.
func (rep *scenarioReport) write(w io.Writer) {
	fmt.Fprintf(w, "Scenario: order %s of %d units on a simulated line at %d units/min, faults %q, seed %d\n",
		rep.Order, rep.Units, rep.UnitsPerMin, rep.Faults, rep.Seed)
	decided := rep.Reconciliation.Commissioned + rep.Reconciliation.Rejected
	fmt.Fprintf(w, "Decided %d packs in %.1fs (%.0f packs/min); camera result to durable decision p50 %.2f ms, p99 %.2f ms\n\n",
		decided, rep.ElapsedS, rep.PacksPerMin, rep.LatencyP50Ms, rep.LatencyP99Ms)
	printReconciliation(w, rep.Reconciliation)

	fmt.Fprintf(w, "\nInjected faults and the rejections recorded for them:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  fault\tinjected\trejected as\trecorded\t\n")
	for _, a := range rep.Accounting {
		mark := "ok"
		if !a.OK {
			mark = "MISMATCH"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\n", a.Fault, a.Injected, a.Reason, a.Recorded, mark)
	}
	tw.Flush()
	if len(rep.Unexplained) == 0 {
		fmt.Fprintf(w, "  other rejections: none\n")
	} else {
		for _, rc := range rep.Unexplained {
			fmt.Fprintf(w, "  other rejections: %s %d (UNEXPLAINED)\n", rc.Reason, rc.Count)
		}
	}
	if n := rep.Injected[sim.FaultUnmarked]; n > 0 || rep.Unidentified > 0 {
		fmt.Fprintf(w, "  unmarked cartons %d, cartons without a pack of the run %d\n", n, rep.Unidentified)
	}

	where := rep.Ledger.Path
	if rep.Ledger.Temporary {
		where += " (temporary, removed)"
	}
	if rep.Ledger.Verified {
		fmt.Fprintf(w, "\nLedger %s: %d events; verifies (hash chain, sequence, SQLite integrity)\n", where, rep.Ledger.Events)
	} else {
		fmt.Fprintf(w, "\nLedger %s: DOES NOT VERIFY: %s\n", where, rep.Ledger.Problem)
	}
	if rep.OK {
		fmt.Fprintf(w, "\nResult: OK: the order balances, every injected fault is accounted for under its reason, the ledger verifies\n")
		return
	}
	fmt.Fprintf(w, "\nResult: FAILED\n")
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// systemClock is the station clock of clock.source "system": the PC's own
// clock, not checked against time servers, so that every reading is
// degraded (and recorded so), which still lets the line produce.
func systemClock() station.Clock {
	return station.ClockFunc(func() station.Time {
		return station.Time{UTC: time.Now().UTC(), State: station.ClockDegraded,
			Reason: `clock.source is "system": the PC's own clock, not checked against time servers`}
	})
}

// demoProduct is the scenario's product: a US drug with NDC 0001-0123-45
// (unit GTIN 00300010123455), 10 units a case and 10 cases a pallet, both
// SSCCs, and random 12-digit serials (numeric, so that the simulator's
// "wrong" marks, whose serial ends in a letter, are never an issued code).
func demoProduct() station.Product {
	return station.Product{
		GTIN: demoGTIN, NDC: "0001-0123-45", Name: "Examplamol 500 mg tablets", DosageForm: "tablet, film coated",
		Strength: "500 mg", NetContent: "30 tablets", Manufacturer: "Example Pharma Inc.",
		Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
		Serial: station.SerialScheme{Alphabet: "0123456789", Length: 12},
		Levels: []station.PackagingLevel{
			{Level: station.LevelCase, SSCC: true, Quantity: 10, Extension: 0},
			{Level: station.LevelPallet, SSCC: true, Quantity: 10, Extension: 1},
		},
	}
}

// newDemoService returns a standalone station service on ledger with the
// demo product and the demo supervisor (who releases and runs orders;
// no credential: the scenario signs nothing).
func newDemoService(ctx context.Context, ledger station.Ledger, clock station.Clock, logger *slog.Logger) (*station.Service, error) {
	svc, err := station.NewService(station.Config{Ledger: ledger, Clock: clock, Line: demoLine,
		Pool: station.PoolPolicy{LowWater: 100, Batch: 5000}, Logger: logger.With("component", "station")})
	if err != nil {
		return nil, err
	}
	if err := svc.ImportProduct(ctx, demoProduct()); err != nil {
		svc.Close()
		return nil, fmt.Errorf("define the demo product: %w", err)
	}
	u := station.User{ID: demoUser, Name: "Simulation Supervisor", Roles: []station.Role{station.RoleSupervisor}, Active: true}
	if err := svc.ImportUser(ctx, u); err != nil {
		svc.Close()
		return nil, fmt.Errorf("define the demo user: %w", err)
	}
	return svc, nil
}

// createDemoOrder reserves serials for it (a quarter more than its units,
// so that the pool is not replenished while the line runs) and records an
// order of units of the demo product, expiring in two years, released to
// the line.
func createDemoOrder(ctx context.Context, svc *station.Service, id string, units int) error {
	if err := svc.Pools().Fill(ctx, demoGTIN, units+units/4+200); err != nil {
		return fmt.Errorf("reserve serials: %w", err)
	}
	expiry := time.Now().UTC().AddDate(2, 0, 0).Format("060102")
	o := station.Order{ID: id, GTIN: demoGTIN, Lot: "LOT-" + id, Expiry: expiry, Quantity: units, Line: demoLine, ExpectedYield: 0.98}
	if err := svc.ImportOrder(ctx, o); err != nil {
		return fmt.Errorf("create order %s: %w", id, err)
	}
	if err := svc.ReleaseOrder(ctx, demoUser, id); err != nil {
		return fmt.Errorf("release order %s: %w", id, err)
	}
	return nil
}

// orderRun is how a line run of an order went.
type orderRun struct {
	Snapshot station.RunSnapshot  // the run's last snapshot, after Complete
	Latency  station.LatencyStats // camera result to durable decision
	Elapsed  time.Duration        // from the start to the last decision
	// Stopped says why the run ended before the order's quantity was
	// commissioned; "" when it was.
	Stopped string
}

// driveOrder runs the order of cfg (run by the demo user on the devices,
// with cfg's tuning) until its quantity is commissioned, the run is held or
// stopped, no pack is decided for scenarioStall, or ctx is done; then it
// completes the order. progress, when not nil, gets a line a second. An
// error means the run could not start or complete.
func driveOrder(ctx context.Context, svc *station.Service, dev *lineDevices, cfg station.RunConfig, progress io.Writer) (res orderRun, err error) {
	order := cfg.Order
	if dev.Coder == nil || dev.Camera == nil || dev.Line == nil {
		return res, errors.New("the line needs a coder, a camera and a PLC")
	}
	if !dev.waitConnected(ctx, scenarioWait) {
		var why []string
		for _, h := range dev.Health {
			if hh := h.Health(); !hh.OK() {
				why = append(why, fmt.Sprintf("%s %s: %s", hh.Device, hh.State, hh.Reason))
			}
		}
		return res, fmt.Errorf("devices not connected after %s: %s", scenarioWait, strings.Join(why, "; "))
	}
	cfg.User, cfg.Coder, cfg.Camera, cfg.Line = demoUser, dev.Coder, dev.Camera, dev.Line
	run, err := svc.StartRun(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("start the run: %w", err)
	}
	defer run.Close()
	start := time.Now()
	last, lastAt := int64(-1), start
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			res.Stopped = "interrupted before the order's quantity was commissioned"
			break wait
		case <-report.C:
			if progress != nil {
				writeProgress(progress, run.Snapshot(), time.Since(start))
			}
		case <-poll.C:
			s := run.Snapshot()
			if n := s.Commissioned + s.Rejected; n != last {
				last, lastAt = n, time.Now()
			}
			switch {
			case s.State == station.RunDone:
				break wait
			case s.State == station.RunHeld || s.State == station.RunStopped:
				res.Stopped = fmt.Sprintf("the line was %s: %s", s.State, s.Reason)
				break wait
			case time.Since(lastAt) > scenarioStall:
				res.Stopped = fmt.Sprintf("no pack decided for %s (run %s, %d in flight, %d queued)", scenarioStall, s.State, s.InFlight, s.Queued)
				break wait
			}
		}
	}
	res.Elapsed = time.Since(start)
	if res.Stopped != "" {
		for _, a := range run.Snapshot().Alarms {
			res.Stopped += fmt.Sprintf("; alarm from %s: %s", a.Source, a.Message)
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := run.Complete(cctx, demoUser); err != nil {
		return res, fmt.Errorf("complete order %s: %w", order, err)
	}
	res.Snapshot, res.Latency = run.Snapshot(), run.Latency()
	if progress != nil {
		writeProgress(progress, res.Snapshot, res.Elapsed)
	}
	return res, nil
}

// writeProgress prints one progress line.
func writeProgress(w io.Writer, s station.RunSnapshot, elapsed time.Duration) {
	decided := s.Commissioned + s.Rejected
	rate := 0.0
	if elapsed > 0 {
		rate = float64(decided) / elapsed.Minutes()
	}
	var reasons []string
	for r, n := range s.Rejects {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
	}
	slices.Sort(reasons)
	by := ""
	if len(reasons) > 0 {
		by = " (" + strings.Join(reasons, ", ") + ")"
	}
	fmt.Fprintf(w, "%6.1fs  commissioned %d/%d  rejected %d%s  %.0f packs/min  run %s, PLC %s\n",
		elapsed.Seconds(), s.Commissioned, s.Quantity, s.Rejected, by, rate, s.State, s.Line.State)
}
