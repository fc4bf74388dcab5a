// Package dict parses the GS1 Barcode Syntax Dictionary, the plain-text file
// that describes every GS1 Application Identifier (format, linters,
// attributes, title). The generator in ../gen uses it to write the AI table of
// package gs1, and a test of package gs1 uses it to prove that the committed
// table still equals the dictionary.
package dict

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Component is one part of an AI's data field, such as "N6,yymmd0" or
// "[X..17]".
type Component struct {
	CSet     byte     // 'N' digits, 'X' CSET 82, 'Y' CSET 39, 'Z' base64url
	Min, Max int      // length bounds in characters; Min == Max for fixed length
	Optional bool     // the component is in brackets and may be left out at the end
	Linters  []string // linter names in the order the dictionary lists them
}

// Entry is one Application Identifier, with a range such as 3100-3105
// expanded into one Entry per AI.
type Entry struct {
	AI         string      // the AI digits, 2 to 4 of them
	FixedLen   bool        // "*" flag: predefined length, no FNC1 separator needed after it
	DLAttr     bool        // "?" flag: permitted as a GS1 Digital Link data attribute
	Components []Component // the data field, in order
	Attrs      []string    // attribute tokens as written, e.g. "req=01,02", "ex=255", "dlpkey=22,10,21|235"
	Title      string      // the text after "#", trimmed
	Line       int         // line number in the dictionary, for error messages
}

// flagChars are the characters the dictionary reserves for flags.
const flagChars = `*!?"$%&'()+,-./:;<=>@[\]^_` + "`{|}~"

// Parse reads a dictionary and returns its entries in file order.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(text), "#") || strings.TrimSpace(text) == "" {
			continue
		}
		entries, err := parseLine(text, line)
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read dictionary: %w", err)
	}
	return out, nil
}

func parseLine(text string, line int) ([]Entry, error) {
	title := ""
	if i := strings.IndexByte(text, '#'); i >= 0 {
		title = strings.TrimSpace(text[i+1:])
		text = text[:i]
	}
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return nil, fmt.Errorf("dictionary line %d: want AIs and a specification, got %q", line, text)
	}
	first, last, err := parseRange(fields[0])
	if err != nil {
		return nil, fmt.Errorf("dictionary line %d: %w", line, err)
	}
	rest := fields[1:]
	var e Entry
	if isFlags(rest[0]) {
		e.FixedLen = strings.Contains(rest[0], "*")
		e.DLAttr = strings.Contains(rest[0], "?")
		rest = rest[1:]
	}
	for _, tok := range rest {
		switch {
		case tok[0] == '[' || strings.ContainsRune("NXYZ", rune(tok[0])):
			if len(e.Attrs) > 0 {
				return nil, fmt.Errorf("dictionary line %d: component %q after attributes", line, tok)
			}
			c, err := parseComponent(tok)
			if err != nil {
				return nil, fmt.Errorf("dictionary line %d: %w", line, err)
			}
			if n := len(e.Components); n > 0 && e.Components[n-1].Optional && !c.Optional {
				return nil, fmt.Errorf("dictionary line %d: mandatory component %q follows an optional one", line, tok)
			}
			e.Components = append(e.Components, c)
		case tok[0] >= 'a' && tok[0] <= 'z':
			e.Attrs = append(e.Attrs, tok)
		default:
			return nil, fmt.Errorf("dictionary line %d: unexpected token %q", line, tok)
		}
	}
	if len(e.Components) == 0 {
		return nil, fmt.Errorf("dictionary line %d: no data components", line)
	}
	e.Title = title
	e.Line = line
	width := len(fields[0])
	if i := strings.IndexByte(fields[0], '-'); i >= 0 {
		width = i
	}
	var out []Entry
	for n := first; n <= last; n++ {
		x := e
		x.AI = fmt.Sprintf("%0*d", width, n)
		x.Components = append([]Component(nil), e.Components...)
		x.Attrs = append([]string(nil), e.Attrs...)
		out = append(out, x)
	}
	return out, nil
}

// parseRange reads "01" or "3100-3105".
func parseRange(s string) (first, last int, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	if len(lo) < 2 || len(lo) > 4 || len(hi) != len(lo) || !allDigits(lo) || !allDigits(hi) {
		return 0, 0, fmt.Errorf("bad AI or AI range %q", s)
	}
	first, _ = strconv.Atoi(lo)
	last, _ = strconv.Atoi(hi)
	if last < first {
		return 0, 0, fmt.Errorf("AI range %q runs backwards", s)
	}
	return first, last, nil
}

func isFlags(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if !strings.ContainsRune(flagChars, rune(tok[i])) {
			return false
		}
	}
	return tok != ""
}

// parseComponent reads "N18,csum,gcppos2", "X..20", "[N6],yymmdd" or "[X..17]".
func parseComponent(tok string) (Component, error) {
	var c Component
	parts := strings.Split(tok, ",")
	typ := parts[0]
	if strings.HasPrefix(typ, "[") {
		if !strings.HasSuffix(typ, "]") {
			return c, fmt.Errorf("unclosed optional component %q", tok)
		}
		c.Optional = true
		typ = typ[1 : len(typ)-1]
	}
	if typ == "" || !strings.ContainsRune("NXYZ", rune(typ[0])) {
		return c, fmt.Errorf("bad component type in %q", tok)
	}
	c.CSet = typ[0]
	length := typ[1:]
	if lo, hi, ok := strings.Cut(length, ".."); ok {
		if lo == "" {
			lo = "1"
		}
		if !allDigits(lo) || !allDigits(hi) || hi == "" {
			return c, fmt.Errorf("bad length in %q", tok)
		}
		c.Min, _ = strconv.Atoi(lo)
		c.Max, _ = strconv.Atoi(hi)
	} else {
		if !allDigits(length) || length == "" {
			return c, fmt.Errorf("bad length in %q", tok)
		}
		c.Min, _ = strconv.Atoi(length)
		c.Max = c.Min
	}
	if c.Min < 1 || c.Max < c.Min {
		return c, fmt.Errorf("bad length bounds in %q", tok)
	}
	for _, l := range parts[1:] {
		if l == "" {
			return c, fmt.Errorf("empty linter name in %q", tok)
		}
		c.Linters = append(c.Linters, l)
	}
	return c, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
