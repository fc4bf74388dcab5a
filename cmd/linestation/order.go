package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/linestation/linestation/station"
)

const orderUsage = `Usage: linestation order COMMAND --db FILE [FLAGS]

Packaging orders in a station ledger.

Commands:
  report    print an order's reconciliation; exit 1 when it does not balance

Run 'linestation order COMMAND --help' for the flags of a command.
`

const orderReportUsage = `Usage: linestation order report --db FILE --order ID [--json]

Prints the reconciliation of a packaging order: what became of every serial
allocated to it (allocated = printed + unused; printed = commissioned +
rejected; commissioned = aggregated + loose + sampled + decommissioned),
rejects by reason, decommissionings and samples, and any difference with
what it is made of. Opens the ledger read-only. Exits with status 1 when
the order does not balance.

Flags:
`

// runOrder runs 'linestation order ...'.
func runOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, orderUsage)
		return &usageError{message: "order needs a command: report"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, orderUsage)
		return nil
	case "report":
		return runOrderReport(ctx, args[1:], stdout, stderr)
	}
	return &usageError{message: fmt.Sprintf("unknown order command %q", args[0]), hint: "run 'linestation order --help'"}
}

func runOrderReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "order report"
	var id string
	var asJSON bool
	path, err := ledgerFlags(name, orderReportUsage, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "order", "", "the order `ID` (required)")
		fs.BoolVar(&asJSON, "json", false, "print the reconciliation as JSON")
	})
	if err != nil {
		return err
	}
	if id == "" {
		return &usageError{message: name + ": --order ID is required", hint: "run 'linestation order report --help'"}
	}
	db, err := openLedger(ctx, name, path, true, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	rec, err := station.Reconcile(ctx, db, id)
	if err != nil {
		return fail(stderr, name, err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("%s: write JSON: %w", name, err)
		}
	} else {
		printReconciliation(stdout, rec)
	}
	if !rec.Balanced {
		return &failure{reason: "order " + id + " does not balance"}
	}
	return nil
}

// printReconciliation writes a reconciliation for a person.
func printReconciliation(w io.Writer, r station.Reconciliation) {
	fmt.Fprintf(w, "Order %s: GTIN %s, lot %s, expiry %s, quantity %d, %s\n", r.Order, r.GTIN, r.Lot, r.Expiry, r.Quantity, r.State)
	fmt.Fprintf(w, "As of journal seq %d (%s)\n\n", r.AsOfSeq, r.AsOfHash)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range []struct {
		name string
		n    int64
	}{
		{"allocated", r.Allocated}, {"printed", r.Printed}, {"unused (voided)", r.Unused}, {"pending (allocated, not printed)", r.Pending},
		{"commissioned", r.Commissioned}, {"rejected", r.Rejected}, {"undecided (printed, no decision)", r.Undecided},
		{"aggregated", r.Aggregated}, {"loose", r.Loose}, {"sampled", r.Sampled}, {"decommissioned", r.Decommissions},
	} {
		fmt.Fprintf(tw, "  %s\t%d\n", row.name, row.n)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRejects by reason:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, rc := range r.Rejects {
		fmt.Fprintf(tw, "  %s\t%d\n", rc.Reason, rc.Count)
	}
	tw.Flush()
	for _, part := range []struct {
		title string
		rows  []station.ReasonCount
	}{{"Decommissioned by reason", r.DecommissionReasons}, {"Sampled by purpose", r.SamplePurposes}} {
		if len(part.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", part.title)
		for _, rc := range part.rows {
			fmt.Fprintf(w, "  %s %d\n", rc.Reason, rc.Count)
		}
	}
	fmt.Fprintf(w, "\nEquations:\n")
	for _, e := range r.Equations {
		mark := "ok"
		if e.Difference != 0 {
			mark = fmt.Sprintf("DIFFERENCE %+d: %s", e.Difference, e.Explanation)
		}
		fmt.Fprintf(w, "  %s: %d = %d  %s\n", e.Name, e.Left, e.Right, mark)
	}
	if len(r.UndecidedSerials) > 0 {
		fmt.Fprintf(w, "\nPrinted without a decision (serials): %v\n", r.UndecidedSerials)
	}
	if r.Printed > 0 {
		fmt.Fprintf(w, "\nYield %.2f%%", 100*r.Yield)
		if r.ExpectedYield > 0 {
			fmt.Fprintf(w, " (expected %.2f%%)", 100*r.ExpectedYield)
		}
		fmt.Fprintln(w)
	}
	if r.Balanced {
		fmt.Fprintf(w, "\nBalanced: yes (%d cases, %d pallets)\n", r.Cases, r.Pallets)
	} else {
		fmt.Fprintf(w, "\nBalanced: NO\n")
	}
}
