// Command linestation is the serialization line station: a touchscreen kiosk at
// each packaging line and warehouse station (the default), and the headless
// commands around it (the central service, ledger tools, GS1 tools).
//
// main parses the subcommand and wires implementations together; only the
// kiosk command creates a Fyne app, so every other command runs on a machine
// with no display.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	_ "github.com/linestation/linestation/cmd/linestation/internal/locale" // before Fyne reads the locale
	"github.com/linestation/linestation/station"
)

// Exit statuses shared by every command.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (invalid input, broken ledger, ...)
	exitUsage = 2 // the command line itself was wrong
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run executes one command line and returns the process exit status. It is
// separate from main so that tests can run the real program in-process.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		setCrashOutput(args[0])
	}
	name, rest := "kiosk", args
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		name, rest = "help", args[1:]
	} else if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		name, rest = args[0], args[1:]
	}
	var err error
	switch name {
	case "kiosk":
		err = runKiosk(ctx, rest, stdout, stderr)
	case "gs1":
		err = runGS1(ctx, rest, stdin, stdout, stderr)
	case "backup":
		err = runBackup(ctx, rest, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "restore":
		err = runRestore(ctx, rest, stdout, stderr)
	case "epcis":
		err = runEPCIS(ctx, rest, stdin, stdout, stderr)
	case "ledger":
		err = runLedger(ctx, rest, stdout, stderr)
	case "order":
		err = runOrder(ctx, rest, stdout, stderr)
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "sim":
		err = runSim(ctx, rest, stdout, stderr)
	case "version":
		err = runVersion(rest, stdout)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		err = &usageError{message: fmt.Sprintf("unknown command %q", name), hint: "run 'linestation help' for the list of commands"}
	}
	return report(err, stderr)
}

// report prints err for a person and maps it to an exit status.
func report(err error, stderr io.Writer) int {
	var uerr *usageError
	var ferr *failure
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "linestation: %s\n", uerr.message)
		if uerr.hint != "" {
			fmt.Fprintf(stderr, "%s\n", uerr.hint)
		}
		return exitUsage
	case errors.As(err, &ferr):
		// The command already printed what was wrong; only the status is left.
		return exitFail
	default:
		fmt.Fprintf(stderr, "linestation: %v\n", err)
		return exitFail
	}
}

const usage = `linestation: the serialization line station.

Usage:
  linestation [COMMAND] [FLAGS]

Commands:
  kiosk      start the touchscreen station app (the default)
  gs1        parse and build GS1 identifiers and barcode data
  backup     back a ledger up to S3-compatible storage, or list the backups
  restore    rebuild a ledger from its backups, verified
  epcis      validate and convert EPCIS documents (1.2 XML, 2.0 XML, 2.0 JSON-LD)
  ledger     verify, export and rebuild a station ledger file
  order      print a packaging order's reconciliation
  serve      run the central sync service (headless; serve --init, serve station add NAME)
  sim        run a simulated packaging line (printer, coder, camera, scanner, PLC)
  demo       seed a central service with the demo master data (demos only)
  version    print the version
  help       print this text

Run 'linestation COMMAND --help' for the flags of a command.
`

// usageError is a mistake on the command line: the message says what is
// wrong, the hint what to do instead. It exits with status 2.
type usageError struct {
	message string
	hint    string
}

func (e *usageError) Error() string { return e.message }

// failure means the command ran, printed its findings and must exit 1.
type failure struct{ reason string }

func (e *failure) Error() string { return e.reason }

// newFlagSet returns a flag set that reports errors instead of exiting.
// Its usage text (text followed by the flags' defaults) goes to stdout when
// asked for with -h or --help; parse errors become usage errors on stderr.
func newFlagSet(name, text string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns flag errors into usage errors. The flag
// package's own printing is silenced: help goes to the flag set's output,
// errors to the caller.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	} else if err != nil {
		return &usageError{message: fmt.Sprintf("%s: %v", fs.Name(), err), hint: fmt.Sprintf("run 'linestation %s --help'", fs.Name())}
	}
	return nil
}

func runVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "Usage: linestation version\n\nPrints the version and build commit.\n", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{message: "version takes no arguments"}
	}
	fmt.Fprintf(stdout, "%s %s\n", station.AppName, versionString())
	return nil
}

// versionString is the version with the commit when the build recorded one.
func versionString() string {
	if station.Commit != "" {
		return station.Version + " (" + station.Commit + ")"
	}
	return station.Version
}

// setCrashOutput keeps the trace of a fatal crash in a file beside the
// working directory's logs, so that a kiosk that dies unattended leaves a trace.
func setCrashOutput(command string) {
	if command != "kiosk" && command != "serve" {
		return
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return
	}
	dir += "/linestation"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(dir+"/crash.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	_ = debug.SetCrashOutput(f, debug.CrashOptions{})
	f.Close()
}
