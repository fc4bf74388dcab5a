package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/linestation/linestation/station/gs1"
)

const gs1Usage = `Usage: linestation gs1 COMMAND [ARGS] [FLAGS]

Reads and writes GS1 identifiers and barcode data.

Commands:
  parse [INPUT...]          check GS1 data and print it as JSON (stdin: one input a line)
  ndc2gtin NDC              print the GTIN-14 that embeds a US NDC
  gtin2ndc GTIN             print the NDC embedded in a US GTIN
  sscc --prefix P --ext E --ref R
                            print the SSCC with its check digit
  check-digit DIGITS        print DIGITS with their GS1 check digit appended

Run 'linestation gs1 COMMAND --help' for the flags of a command.
`

// runGS1 runs 'linestation gs1 ...'.
func runGS1(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{message: "gs1: missing command", hint: "run 'linestation gs1 --help' for the list of commands"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, gs1Usage)
		return nil
	case "parse":
		return runGS1Parse(ctx, args[1:], stdin, stdout, stderr)
	case "ndc2gtin":
		return runGS1NDC2GTIN(args[1:], stdout, stderr)
	case "gtin2ndc":
		return runGS1GTIN2NDC(args[1:], stdout, stderr)
	case "sscc":
		return runGS1SSCC(args[1:], stdout, stderr)
	case "check-digit":
		return runGS1CheckDigit(args[1:], stdout, stderr)
	}
	return &usageError{message: fmt.Sprintf("gs1: unknown command %q", args[0]), hint: "run 'linestation gs1 --help' for the list of commands"}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (the flag package alone stops at the first
// positional), and returns the positionals in order. Everything after "--"
// is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		rest := args
		dashdash := -1
		for i, a := range args {
			if a == "--" {
				dashdash = i
				break
			}
		}
		if dashdash >= 0 {
			rest = args[:dashdash]
		}
		if err := parseFlags(fs, rest); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			if dashdash >= 0 {
				pos = append(pos, args[dashdash+1:]...)
			}
			return pos, nil
		}
		pos = append(pos, left[0])
		args = append(left[1:len(left):len(left)], tail(args, dashdash)...)
	}
}

func tail(args []string, dashdash int) []string {
	if dashdash < 0 {
		return nil
	}
	return args[dashdash:]
}

// gs1Failed prints a finding for the person at the terminal and makes the
// command exit 1.
func gs1Failed(stderr io.Writer, cmd string, err error) error {
	fmt.Fprintf(stderr, "linestation gs1 %s: %v\n", cmd, err)
	return &failure{reason: err.Error()}
}

const gs1ParseUsage = `Usage: linestation gs1 parse [INPUT...] [--no-associations]

Checks GS1 data against the GS1 Barcode Syntax Dictionary and prints one JSON
object per input, in order. With no INPUT it reads one input per line from
standard input (a GS byte inside a line is data; a trailing CR is removed).

The form of each input is told from its start:
  (                  bracketed element strings: (01)09506000134352(10)AB\(1)
  ^ or GS            FNC1 element string (^ stands for FNC1): ^0109506000134352
  ]                  scanner data with a symbology identifier: ]d2, ]C1, ]Q3, ]e0
  http(s)://         GS1 Digital Link URI, any host
  urn:epc:           EPC URI (sgtin, sscc, sgln, lgtin class, sgtin pattern)

Each object has: input, ok, error (when not ok), and when ok:
  hri           bracketed form, in the order read
  fnc1          element string to encode (^ for FNC1), fixed-length AIs first so
                that the fewest separators are needed
  digitalLink   GS1 Digital Link URI on https://id.gs1.org (when the data has a
                primary key and every other AI may be a query attribute)
  ais           [{ai, value, title}], in the order read
  gtin serial lot sscc     from (01) (21) (10) (00), when present
  expiry        (17) as YYYY-MM-DD; day 00 is the last day of the month
  ndc           (715) when present, else the 10 digits of the NDC embedded in a
                US GTIN (indicator, 03, NDC), without dashes: a GTIN does not
                record whether the NDC is 4-4-2, 5-3-2 or 5-4-1

Exit status: 0 when every input parsed, 1 when any did not, 2 for a usage error.

Flags:
`

// parseResult is one line of 'gs1 parse' output. The field order is the
// contract of the command.
type parseResult struct {
	Input       string    `json:"input"`
	OK          bool      `json:"ok"`
	Error       string    `json:"error,omitempty"`
	HRI         string    `json:"hri,omitempty"`
	FNC1        string    `json:"fnc1,omitempty"`
	DigitalLink string    `json:"digitalLink,omitempty"`
	AIs         []aiValue `json:"ais,omitempty"`
	GTIN        string    `json:"gtin,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	Lot         string    `json:"lot,omitempty"`
	Expiry      string    `json:"expiry,omitempty"`
	SSCC        string    `json:"sscc,omitempty"`
	NDC         string    `json:"ndc,omitempty"`
}

type aiValue struct {
	AI    string `json:"ai"`
	Value string `json:"value"`
	Title string `json:"title"`
}

func runGS1Parse(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("gs1 parse", gs1ParseUsage, stderr)
	noAssoc := fs.Bool("no-associations", false, "check only syntax, formats and linters, not the rules between AIs (requisite, exclusive, repeated)")
	inputs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	opts := gs1.Options{NoAssociations: *noAssoc}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	bad := 0
	answer := func(in string) error {
		r := parseOne(opts, in, time.Now())
		if !r.OK {
			bad++
		}
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		return nil
	}
	if len(inputs) > 0 {
		for _, in := range inputs {
			if err := answer(in); err != nil {
				return err
			}
		}
	} else {
		br := bufio.NewReader(stdin)
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("gs1 parse: %w", err)
			}
			line, err := br.ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("gs1 parse: read standard input: %w", err)
			}
			if line == "" && err != nil {
				break
			}
			line = strings.TrimSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\r")
			if werr := answer(line); werr != nil {
				return werr
			}
			if err != nil {
				break
			}
		}
	}
	if bad > 0 {
		return &failure{reason: fmt.Sprintf("%d input(s) did not parse", bad)}
	}
	return nil
}

// parseOne checks one input and builds its result.
func parseOne(opts gs1.Options, in string, now time.Time) parseResult {
	r := parseResult{Input: in}
	m, err := opts.Parse(in)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	r.HRI = m.HRI()
	r.FNC1 = m.Encode()
	if dl, err := m.DigitalLink(gs1.CanonicalDLStem); err == nil {
		r.DigitalLink = dl
	}
	for _, e := range m.Elements {
		r.AIs = append(r.AIs, aiValue{AI: e.AI, Value: e.Value, Title: e.Title()})
	}
	s := m.Summary(now)
	r.GTIN, r.Serial, r.Lot, r.Expiry, r.SSCC, r.NDC = s.GTIN, s.Serial, s.Lot, s.Expiry, s.SSCC, s.NDC
	return r
}

const ndc2gtinUsage = `Usage: linestation gs1 ndc2gtin NDC [--indicator N] [--format F]

Prints the GTIN-14 that embeds a 10-digit US National Drug Code: indicator
digit, 03, the ten NDC digits, check digit. Example:
  linestation gs1 ndc2gtin 0001-0123-45 --indicator 1   ->  10300010123452

Write the NDC with dashes (4-4-2, 5-3-2 or 5-4-1); ten bare digits need
--format. The 11-digit billing form (5-4-2) is refused.

Flags:
`

func runGS1NDC2GTIN(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gs1 ndc2gtin", ndc2gtinUsage, stderr)
	indicator := fs.Int("indicator", 0, "packaging indicator digit: 0 for the unit, 1-8 for cases and other levels")
	format := fs.String("format", "", "format of a 10-digit NDC written without dashes: 4-4-2, 5-3-2 or 5-4-1")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{message: "gs1 ndc2gtin: want exactly one NDC", hint: "run 'linestation gs1 ndc2gtin --help'"}
	}
	n, err := gs1.ParseNDC(pos[0], gs1.NDCFormat(*format))
	if err != nil {
		return gs1Failed(stderr, "ndc2gtin", err)
	}
	gtin, err := n.GTIN(*indicator)
	if err != nil {
		return gs1Failed(stderr, "ndc2gtin", err)
	}
	fmt.Fprintln(stdout, gtin)
	return nil
}

const gtin2ndcUsage = `Usage: linestation gs1 gtin2ndc GTIN [--format F]

Prints the US National Drug Code embedded in a GTIN whose digits after the
indicator start with 03. A GTIN keeps the ten NDC digits but not where the
dashes go, so by default the ten digits are printed without dashes; --format
prints them dashed in the format you know the product uses. Example:
  linestation gs1 gtin2ndc 10300010123452 --format 4-4-2   ->  0001-0123-45

Flags:
`

func runGS1GTIN2NDC(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gs1 gtin2ndc", gtin2ndcUsage, stderr)
	format := fs.String("format", "", "print the NDC dashed in this format: 4-4-2, 5-3-2 or 5-4-1")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{message: "gs1 gtin2ndc: want exactly one GTIN", hint: "run 'linestation gs1 gtin2ndc --help'"}
	}
	n, err := gs1.NDCFromGTIN(pos[0])
	if err != nil {
		return gs1Failed(stderr, "gtin2ndc", err)
	}
	if *format == "" {
		fmt.Fprintln(stdout, n.Digits)
		return nil
	}
	s, err := n.Dashed(gs1.NDCFormat(*format))
	if err != nil {
		return &usageError{message: "gs1 gtin2ndc: " + err.Error(), hint: "use --format 4-4-2, 5-3-2 or 5-4-1"}
	}
	fmt.Fprintln(stdout, s)
	return nil
}

const ssccUsage = `Usage: linestation gs1 sscc --prefix P --ext E --ref R

Prints the 18-digit SSCC made of the extension digit E, the GS1 Company
Prefix P and the serial reference R (17 digits together), then the check
digit. Example:
  linestation gs1 sscc --ext 4 --prefix 030001 --ref 1234567890   ->  403000112345678901

Flags:
`

func runGS1SSCC(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gs1 sscc", ssccUsage, stderr)
	prefix := fs.String("prefix", "", "GS1 Company Prefix, 4 to 12 digits")
	ext := fs.String("ext", "", "extension digit, 0-9")
	ref := fs.String("ref", "", "serial reference: 16 minus the prefix length digits")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return &usageError{message: "gs1 sscc takes no arguments, only flags", hint: "run 'linestation gs1 sscc --help'"}
	}
	if *prefix == "" || *ext == "" || *ref == "" {
		return &usageError{message: "gs1 sscc: --prefix, --ext and --ref are all required", hint: "run 'linestation gs1 sscc --help'"}
	}
	sscc, err := gs1.BuildSSCC(*ext, *prefix, *ref)
	if err != nil {
		return gs1Failed(stderr, "sscc", err)
	}
	fmt.Fprintln(stdout, sscc)
	return nil
}

const checkDigitUsage = `Usage: linestation gs1 check-digit DIGITS

Prints DIGITS followed by their GS1 mod-10 check digit (as used by GTIN, GLN,
SSCC and other GS1 keys): give the key without its check digit. Example:
  linestation gs1 check-digit 1030001012345   ->  10300010123452

Flags:
`

func runGS1CheckDigit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gs1 check-digit", checkDigitUsage, stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{message: "gs1 check-digit: want exactly one string of digits", hint: "run 'linestation gs1 check-digit --help'"}
	}
	full, err := gs1.AppendCheckDigit(pos[0])
	if err != nil {
		return gs1Failed(stderr, "check-digit", err)
	}
	fmt.Fprintln(stdout, full)
	return nil
}
