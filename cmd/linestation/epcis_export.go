package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
)

const epcisExportUsage = `Usage: linestation epcis export --shipment ID [--format xml12|jsonld20] [-o FILE]
                               [--config FILE | --data DIR]

Writes the EPCIS document of a shipped shipment from the central store: the
transaction information (master data of every product and location,
commissioning of every unit, case and pallet, packing of every level, the
shipping event with its purchase order and despatch advice, source and
destination) and the DSCSA transaction statement, as EPCIS 1.2 XML per the
GS1 US guideline (the default) or EPCIS 2.0 JSON-LD. The document is
written as a stream; FILE is written atomically (- or no -o: standard
output). The store is the one 'linestation serve' uses (its --config, or
--data DIR); the service may be running.

Exit status 1 when the shipment is unknown, not shipped, or its products or
locations lack master data (the message names them).

Flags:
`

// runEPCISExport runs 'linestation epcis export'.
func runEPCISExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "epcis export"
	fs := newFlagSet(name, epcisExportUsage, stdout)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "the serve config `FILE` (default ./"+serveConfigName+" when it exists)")
	fs.StringVar(&f.data, "data", "", "data `DIR` of the central store, overriding the config")
	shipment := fs.String("shipment", "", "the shipment `ID`")
	format := fs.String("format", "xml12", "xml12 (EPCIS 1.2 XML, GS1 US guideline) or jsonld20 (EPCIS 2.0 JSON-LD)")
	out := fs.String("o", "-", "output `FILE`, - for standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{message: fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0)), hint: "run 'linestation epcis export --help'"}
	}
	if *shipment == "" {
		return &usageError{message: name + " needs --shipment ID", hint: "run 'linestation epcis export --help'"}
	}
	target, err := epcis.ParseFormat(*format)
	if err != nil || target == epcis.FormatXML20 {
		return &usageError{message: fmt.Sprintf("%s: --format %q must be xml12 or jsonld20", name, *format), hint: "run 'linestation epcis export --help'"}
	}
	store, cfg, logger, err := f.openAdminStore(ctx, name, false, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	spool, err := os.MkdirTemp("", ".linestation-export-*")
	if err != nil {
		return fail(stderr, name, fmt.Errorf("create a spool folder: %w", err))
	}
	defer os.RemoveAll(spool)
	x, err := dscsa.New(dscsa.Config{Store: store, GLN: cfg.DSCSA.GLN, SpoolDir: spool, Logger: logger})
	if err != nil {
		return fail(stderr, name, err)
	}
	// Follow the journals up to now, so that a shipment the station
	// pushed a moment ago is known.
	if err := x.Sync(ctx); err != nil {
		return fail(stderr, name, err)
	}
	dir := os.TempDir()
	if *out != "-" {
		dir = filepath.Dir(*out)
	}
	tmp, err := os.CreateTemp(dir, ".epcis-export-*")
	if err != nil {
		return fail(stderr, name, fmt.Errorf("write the document: %w", err))
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	info, err := x.WriteShipmentDocument(ctx, tmp, *shipment, target, dscsa.DocOptions{})
	if err != nil {
		return fail(stderr, name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(stderr, name, fmt.Errorf("write %s: %w", tmp.Name(), err))
	}
	if *out == "-" {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fail(stderr, name, err)
		}
		if _, err := io.Copy(stdout, tmp); err != nil {
			return fail(stderr, name, fmt.Errorf("write standard output: %w", err))
		}
		return nil
	}
	if err := tmp.Close(); err != nil {
		return fail(stderr, name, fmt.Errorf("write %s: %w", tmp.Name(), err))
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fail(stderr, name, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fail(stderr, name, fmt.Errorf("write %s: %w", *out, err))
	}
	fmt.Fprintf(stderr, "wrote %s: shipment %s to %s, %d items, %d events as %s\n", *out, info.Shipment, info.Partner, info.Items, info.Events, target.Title())
	return nil
}
