package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/sim/packml"
	"github.com/linestation/linestation/station"
)

const simUsage = `Usage: linestation sim COMMAND [FLAGS]

Simulated devices that speak the real wire protocols on loopback and on
pseudo-terminals, so that a whole line runs on one machine with no hardware.

Commands:
  line       run a simulated line: label printer, coder, camera, scanner and PLC
  scenario   run an order end to end on a simulated line (not built yet)

Run 'linestation sim COMMAND --help' for the flags of a command.
`

const simLineUsage = `Usage: linestation sim line [--units-per-min N] [--faults SPEC] [--seed N] [--json]

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

Then it runs the conveyor until interrupted, logging a status line (units so
far, faults injected, PLC state) to standard error. The conveyor moves while
the PLC is in Execute, where it starts: Stop or Hold it over OPC UA and the
cartons stop. Each carton passes the coder, which marks the next code a
station queued (with none queued the carton passes unmarked and the coder
says NO_CODE), and 3 cartons later the camera, which decodes the mark and
sends its result. The PLC counts each carton processed and each reject
order defective.

SPEC spoils marks at the coder at the given rates, deterministically for a
seed: noread (smudged), wrong (other content), dup (the last good code
again), lowgrade (faded ink, grade D), as 1% or 0.01; ribbon=N runs the label
printer out of ribbon after N labels. Example:
  --faults 'noread=1%,wrong=0.5%,dup=0.2%,lowgrade=0.5%'

Flags:
`

// Defaults of 'sim line'.
const (
	defaultUnitsPerMin = 120
	maxUnitsPerMin     = 60000 // one carton a millisecond
	defaultStatusEvery = 5 * time.Second
	simPitch           = 3 // cartons between the coder and the camera
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
		return &usageError{
			message: "sim scenario is not built yet",
			hint:    "it needs the station domain; meanwhile run 'linestation sim line' and drive it with the real drivers",
		}
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
	l, err := startSimLine(ctx, faults, *seed, logger)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := l.endpoints.write(stdout, *asJSON); err != nil {
		return err
	}
	logger.Info("line running", "units_per_min", *rate, "faults", *spec, "seed", *seed)
	l.run(ctx, time.Minute/time.Duration(*rate), *statusEvery)
	logger.Info("line stopped", "units", l.units)
	return nil
}

// simLine is a running simulated line and its PLC.
type simLine struct {
	line      *sim.Line
	plc       *packml.Server
	ptyDir    string // holds the scanner's pseudo-terminals; "" when none
	endpoints simEndpoints
	logger    *slog.Logger
	units     int // cartons that passed the coder
}

// startSimLine starts every device; on error what was started is closed.
func startSimLine(ctx context.Context, faults sim.Faults, seed uint64, logger *slog.Logger) (l *simLine, err error) {
	l = &simLine{line: sim.NewLine(faults, seed), logger: logger}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	l.line.Pitch = simPitch
	l.line.Printer.Logger = logger.With("device", "printer")
	l.line.Coder.Logger = logger.With("device", "coder")
	l.line.Camera.Logger = logger.With("device", "camera")

	a, err := l.line.Listen()
	if err != nil {
		return nil, fmt.Errorf("start simulated line: %w", err)
	}
	l.endpoints = simEndpoints{
		Printer: a.Printer, Coder: a.Coder, CameraCommand: a.CameraCommand, CameraResults: a.CameraResults, Scanner: a.Scanner,
	}

	if _, lerr := exec.LookPath("socat"); lerr != nil {
		logger.Warn("no serial scanner: socat is not installed (apt-get install socat); the scanner is on TCP only")
	} else {
		if l.ptyDir, err = os.MkdirTemp("", "linestation-sim-"); err != nil {
			return nil, fmt.Errorf("start simulated scanner: %w", err)
		}
		if l.endpoints.ScannerSerial, err = l.line.ScannerPTY(ctx, l.ptyDir); err != nil {
			return nil, fmt.Errorf("start simulated scanner: %w", err)
		}
	}

	l.plc = packml.New(packml.Config{
		InitialState: station.LineStateExecute,
		OnReject:     l.rejected,
	})
	l.plc.Logger = logger.With("device", "plc")
	if err := l.plc.Open(); err != nil {
		l.plc = nil
		return nil, fmt.Errorf("start simulated plc: %w", err)
	}
	l.endpoints.PLC = l.plc.Endpoint()
	return l, nil
}

// rejected counts a reject order as a defective pack, as the PLC's reject
// confirmation sensor would. It runs on the OPC UA server's request goroutine.
func (l *simLine) rejected(unit string) {
	if err := l.plc.Produce(0, 1); err != nil {
		l.logger.Warn("count reject", "unit", unit, "error", err)
		return
	}
	l.logger.Info("reject gate", "unit", unit)
}

// run moves the conveyor one carton every interval while the PLC is in
// Execute, and logs the line's status every statusEvery, until ctx is done.
func (l *simLine) run(ctx context.Context, interval, statusEvery time.Duration) {
	step := time.NewTicker(interval)
	defer step.Stop()
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-step.C:
			if l.plc.Status().State != station.LineStateExecute {
				continue
			}
			if _, _, err := l.line.Step(); err != nil {
				l.logger.Warn("conveyor step", "error", err)
				continue
			}
			l.units++
			if err := l.plc.Produce(1, 0); err != nil {
				l.logger.Warn("count carton", "error", err)
			}
		case <-status.C:
			l.logStatus()
		}
	}
}

// logStatus logs one status line.
func (l *simLine) logStatus() {
	st := l.plc.Status()
	inj := l.line.Injected()
	l.logger.Info("line status",
		"units", l.units,
		slog.Group("injected",
			sim.FaultNoRead, inj[sim.FaultNoRead], sim.FaultWrong, inj[sim.FaultWrong],
			sim.FaultDuplicate, inj[sim.FaultDuplicate], sim.FaultLowGrade, inj[sim.FaultLowGrade],
			sim.FaultUnmarked, inj[sim.FaultUnmarked]),
		"labels", len(l.line.Printer.Printed()),
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
	if l.plc != nil {
		keep(l.plc.Close())
	}
	keep(l.line.Close())
	if l.ptyDir != "" {
		keep(os.RemoveAll(l.ptyDir))
	}
	return first
}
