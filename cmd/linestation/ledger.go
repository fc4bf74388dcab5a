package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

const ledgerUsage = `Usage: linestation ledger COMMAND --db FILE [FLAGS]

Tools for a station's ledger file (the SQLite journal and its projections).

Commands:
  verify    check the file, the hash chain and the sequence; exit 1 if broken
  export    write the journal as JSON lines
  rebuild   rebuild the projections (serials, aggregation, pools, orders) from the journal

Run 'linestation ledger COMMAND --help' for the flags of a command.
`

const ledgerVerifyUsage = `Usage: linestation ledger verify --db FILE

Runs SQLite's integrity and foreign key checks, recomputes every event's
hash and its link to the previous one, and checks that the sequence runs
from 1 without gaps and that time goes backwards only where a clock.stepped
event records it. Prints a summary; on any break names the first bad seq and
exits with status 1. Opens the file read-only.

Flags:
`

const ledgerExportUsage = `Usage: linestation ledger export --db FILE [--from SEQ]

Writes the journal to standard output as JSON lines, one event per line, in
seq order, with every field that its hash covers. Opens the file read-only.

Flags:
`

const ledgerRebuildUsage = `Usage: linestation ledger rebuild --db FILE

Empties the projections (serial state, aggregation tree, pools, order
counters) and replays the whole journal into them, in one transaction,
checking the hash chain as it goes. A broken journal leaves the projections
as they were and exits with status 1.

Flags:
`

// runLedger runs 'linestation ledger ...'.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ledgerUsage)
		return &usageError{message: "ledger needs a command: verify, export or rebuild"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, ledgerUsage)
		return nil
	case "verify":
		return runLedgerVerify(ctx, args[1:], stdout, stderr)
	case "export":
		return runLedgerExport(ctx, args[1:], stdout, stderr)
	case "rebuild":
		return runLedgerRebuild(ctx, args[1:], stdout, stderr)
	}
	return &usageError{message: fmt.Sprintf("unknown ledger command %q", args[0]), hint: "run 'linestation ledger --help'"}
}

// ledgerFlags parses the flags shared by the ledger commands.
func ledgerFlags(name, text string, args []string, stdout io.Writer, extra func(fs *flag.FlagSet)) (string, error) {
	fs := newFlagSet(name, text, stdout)
	path := fs.String("db", "", "the ledger `FILE` (required)")
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", &usageError{message: fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0)), hint: fmt.Sprintf("run 'linestation %s --help'", name)}
	}
	if *path == "" {
		return "", &usageError{message: name + ": --db FILE is required", hint: fmt.Sprintf("run 'linestation %s --help'", name)}
	}
	return *path, nil
}

// openLedger opens a ledger file that must exist; problems are printed and
// returned as a failure.
func openLedger(ctx context.Context, name, path string, readOnly bool, stderr io.Writer) (*localdb.DB, error) {
	db, err := localdb.Open(ctx, path, localdb.Options{
		ReadOnly: readOnly,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, fail(stderr, name, err)
	}
	return db, nil
}

// fail prints err for a person (the operator-safe message of a station
// error, the whole chain otherwise) and returns it as a failure (exit 1).
func fail(stderr io.Writer, name string, err error) error {
	msg := err.Error()
	if station.ErrorCode(err) != station.EINTERNAL {
		msg = station.ErrorMessage(err)
	}
	fmt.Fprintf(stderr, "linestation: %s: %s\n", name, msg)
	return &failure{reason: msg}
}

func runLedgerVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "ledger verify"
	path, err := ledgerFlags(name, ledgerVerifyUsage, args, stdout, nil)
	if err != nil {
		return err
	}
	db, err := openLedger(ctx, name, path, true, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.Verify(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	printReport(stdout, db.Path(), rep)
	if rep.OK() {
		return nil
	}
	if rep.Break != nil {
		return fail(stderr, name, fmt.Errorf("the ledger is broken at seq %d", rep.Break.Seq))
	}
	return fail(stderr, name, fmt.Errorf("the ledger file fails SQLite's integrity check"))
}

// printReport prints what verify found, one "label  value" line per fact.
func printReport(w io.Writer, path string, rep *localdb.Report) {
	fmt.Fprintf(w, "ledger     %s\n", path)
	fmt.Fprintf(w, "station    %s\n", rep.Station)
	if len(rep.Integrity) == 0 {
		fmt.Fprintf(w, "sqlite     integrity ok, foreign keys ok\n")
	} else {
		fmt.Fprintf(w, "sqlite     %d problems:\n", len(rep.Integrity))
		for i, p := range rep.Integrity {
			if i == 10 {
				fmt.Fprintf(w, "           ... and %d more\n", len(rep.Integrity)-i)
				break
			}
			fmt.Fprintf(w, "           %s\n", p)
		}
	}
	checked := ""
	if rep.Break != nil {
		checked = " checked before the break"
	}
	if rep.Events == 0 {
		fmt.Fprintf(w, "events     0%s\n", checked)
	} else {
		fmt.Fprintf(w, "events     %d%s (seq %d to %d)\n", rep.Events, checked, rep.FirstSeq, rep.LastSeq)
		fmt.Fprintf(w, "time       %s (seq %d) to %s (seq %d)\n", station.FormatTime(rep.FirstTime), rep.FirstSeq, station.FormatTime(rep.LastTime), rep.LastSeq)
		states := make([]string, 0, len(rep.ClockStates))
		for _, s := range []station.ClockState{station.ClockSynced, station.ClockDegraded, station.ClockUnsynced} {
			if n := rep.ClockStates[s]; n > 0 {
				states = append(states, fmt.Sprintf("%s %d", s, n))
			}
		}
		var other []string
		for s, n := range rep.ClockStates {
			if s != station.ClockSynced && s != station.ClockDegraded && s != station.ClockUnsynced {
				other = append(other, fmt.Sprintf("%q %d", s, n))
			}
		}
		slices.Sort(other)
		fmt.Fprintf(w, "clock      %s; %d clock steps recorded\n", strings.Join(append(states, other...), ", "), rep.ClockSteps)
	}
	switch {
	case rep.Break != nil:
		fmt.Fprintf(w, "result     BROKEN at seq %d: %s\n", rep.Break.Seq, rep.Break.Reason)
	case len(rep.Integrity) > 0:
		fmt.Fprintf(w, "result     BROKEN: the file fails SQLite's integrity check\n")
	default:
		fmt.Fprintf(w, "result     intact\n")
	}
}

func runLedgerExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "ledger export"
	var from *int64
	path, err := ledgerFlags(name, ledgerExportUsage, args, stdout, func(fs *flag.FlagSet) {
		from = fs.Int64("from", 1, "the first `SEQ` to export")
	})
	if err != nil {
		return err
	}
	if *from < 1 {
		return &usageError{message: fmt.Sprintf("%s: --from %d: seqs start at 1", name, *from)}
	}
	db, err := openLedger(ctx, name, path, true, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	bw := bufio.NewWriter(stdout)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for next := *from; ; {
		evs, err := db.Events(ctx, next, 1000)
		if err != nil {
			return fail(stderr, name, err)
		}
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				return fail(stderr, name, fmt.Errorf("write seq %d: %w", evs[i].Seq, err))
			}
		}
		if len(evs) < 1000 {
			break
		}
		next = evs[len(evs)-1].Seq + 1
	}
	if err := bw.Flush(); err != nil {
		return fail(stderr, name, fmt.Errorf("write export: %w", err))
	}
	return nil
}

func runLedgerRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "ledger rebuild"
	path, err := ledgerFlags(name, ledgerRebuildUsage, args, stdout, nil)
	if err != nil {
		return err
	}
	db, err := openLedger(ctx, name, path, false, stderr)
	if err != nil {
		return err
	}
	st, rerr := db.Rebuild(ctx)
	if cerr := db.Close(); rerr == nil && cerr != nil {
		rerr = cerr
	}
	if rerr != nil {
		return fail(stderr, name, rerr)
	}
	fmt.Fprintf(stdout, "rebuilt the projections of %s from %d events (last seq %d)\n", db.Path(), st.Events, st.LastSeq)
	return nil
}
