package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/linestation/linestation/station/epcis"
)

const epcisUsage = `Usage: linestation epcis COMMAND [ARGS]

Checks and converts EPCIS documents: EPCIS 1.2 XML (DSCSA, GS1 US guideline),
EPCIS 2.0 XML and EPCIS 2.0 JSON-LD. The format of an input is detected.

Commands:
  validate FILE                             check a document; exit 1 when it is invalid
  convert FILE --to xml12|xml20|jsonld20    write the document in another format
  export --shipment ID [--format F] [-o OUT] a shipped shipment's document from the central store

FILE may be - for standard input. Run 'linestation epcis COMMAND --help' for details.
`

const epcisValidateUsage = `Usage: linestation epcis validate FILE

Checks an EPCIS document (1.2 XML, 2.0 XML or 2.0 JSON-LD, detected) as its
XML schema or JSON schema would, plus CBV code lists, EPC URIs and check
digits. A valid document prints a one-line summary and exits 0; an invalid one
prints each problem with the event index (from 0), the path and the reason,
and exits 1. FILE may be - for standard input.
`

const epcisConvertUsage = `Usage: linestation epcis convert FILE --to xml12|xml20|jsonld20 [-o OUT]

Writes the document in another format. A document that the target format
cannot carry whole (for example an AssociationEvent, sensor data,
persistentDisposition or certificationInfo in EPCIS 1.2) is refused with the
reason, never converted with parts dropped. OUT is written atomically (a
temporary file, then a rename); - (the default) is standard output. FILE may be
- for standard input.

Flags:
`

// runEPCIS runs 'linestation epcis ...'.
func runEPCIS(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, epcisUsage)
		return &usageError{message: "epcis needs a command: validate or convert", hint: "run 'linestation epcis --help'"}
	}
	switch args[0] {
	case "validate":
		return runEPCISValidate(ctx, args[1:], stdin, stdout)
	case "convert":
		return runEPCISConvert(ctx, args[1:], stdin, stdout, stderr)
	case "export":
		return runEPCISExport(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, epcisUsage)
		return nil
	}
	return &usageError{message: fmt.Sprintf("unknown epcis command %q", args[0]), hint: "run 'linestation epcis --help'"}
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fsName string, parse func([]string) error, remaining func() []string, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(args); err != nil {
			return nil, err
		}
		rest := remaining()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("open EPCIS document: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func runEPCISValidate(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("epcis validate", epcisValidateUsage, stdout)
	pos, err := parseInterspersed(fs.Name(), func(a []string) error { return parseFlags(fs, a) }, fs.Args, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{message: "epcis validate takes one FILE (or - for standard input)", hint: "run 'linestation epcis validate --help'"}
	}
	in, done, err := openInput(pos[0], stdin)
	if err != nil {
		return err
	}
	defer done()
	rep, err := epcis.Validate(ctx, in, nil)
	if err != nil {
		return fmt.Errorf("validate %s: %w", pos[0], err)
	}
	if rep.Valid() {
		fmt.Fprintf(stdout, "valid: %s\n", rep.Summary())
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "invalid: %s\n", p)
	}
	if rep.Format != 0 {
		fmt.Fprintf(stdout, "%s: %d problems in %s\n", pos[0], len(rep.Problems), rep.Summary())
	}
	return &failure{reason: "invalid EPCIS document"}
}

func runEPCISConvert(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("epcis convert", epcisConvertUsage, stdout)
	to := fs.String("to", "", "target format: xml12, xml20 or jsonld20")
	out := fs.String("o", "-", "output file, - for standard output")
	pos, err := parseInterspersed(fs.Name(), func(a []string) error { return parseFlags(fs, a) }, fs.Args, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{message: "epcis convert takes one FILE (or - for standard input)", hint: "run 'linestation epcis convert --help'"}
	}
	if *to == "" {
		return &usageError{message: "epcis convert needs --to xml12, xml20 or jsonld20", hint: "run 'linestation epcis convert --help'"}
	}
	target, err := epcis.ParseFormat(*to)
	if err != nil {
		return &usageError{message: err.Error(), hint: "run 'linestation epcis convert --help'"}
	}
	path := pos[0]
	if path == "-" {
		// The input may be read twice (see convert): keep stdin in a file.
		spool, err := os.CreateTemp("", ".epcis-stdin-*")
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		if _, err := io.Copy(spool, stdin); err != nil {
			return fmt.Errorf("convert: read standard input: %w", err)
		}
		path = spool.Name()
	}

	// Write to a temporary file first: a refused event half way leaves
	// neither a partial OUT nor partial standard output.
	dir := os.TempDir()
	if *out != "-" {
		dir = filepath.Dir(*out)
	}
	tmp, err := os.CreateTemp(dir, ".epcis-convert-*")
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := convert(ctx, path, tmp, target)
	if err != nil {
		fmt.Fprintf(stderr, "linestation epcis convert: %s: %v\n", pos[0], err)
		return &failure{reason: err.Error()}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("convert: write %s: %w", tmp.Name(), err)
	}
	if *out == "-" {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		if _, err := io.Copy(stdout, tmp); err != nil {
			return fmt.Errorf("convert: write standard output: %w", err)
		}
		return nil
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("convert: write %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %s: %d events as %s\n", *out, n, target.Title())
	return nil
}

// convert streams the document at path to out in the target format and
// returns the number of events. EPCIS 2.0 XML keeps header extensions after
// the events, so converting it to a format that needs them first takes a
// first pass to find them (in bounded memory, like the second).
func convert(ctx context.Context, path string, out io.Writer, target epcis.Format) (int, error) {
	var trailing []epcis.Element
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open EPCIS document: %w", err)
	}
	defer f.Close()
	rd, err := epcis.NewReader(f, nil)
	if err != nil {
		return 0, err
	}
	if rd.Format() == epcis.FormatXML20 && target != epcis.FormatXML20 {
		before := len(rd.Header().Extensions)
		if err := drain(ctx, rd); err != nil {
			return 0, err
		}
		trailing = rd.Header().Extensions[before:]
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("convert: %w", err)
		}
		if rd, err = epcis.NewReader(f, nil); err != nil {
			return 0, err
		}
	}
	h := rd.Header()
	h.Extensions = append(h.Extensions, trailing...)
	if h.CreationDate.IsZero() {
		h.CreationDate = time.Now().UTC()
	}
	w, err := epcis.NewWriter(out, target, h)
	if err != nil {
		return 0, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return w.Count(), err
		}
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return w.Count(), err
		}
		if err := w.WriteEvent(e); err != nil {
			return w.Count(), err
		}
	}
	return w.Count(), w.Close()
}

func drain(ctx context.Context, rd *epcis.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := rd.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}
