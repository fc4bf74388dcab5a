package gs1

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The conformance vectors are the unit tests of the GS1 Barcode Syntax
// Engine and of the Syntax Dictionary's linters, one macro call per line.
// They live in the shared standards folder beside the project.
const (
	engineVectors = "../../../shared/standards/gs1/gs1-syntax-engine-test-vectors.jsonl"
	linterVectors = "../../../shared/standards/gs1/gs1-syntax-dictionary-linter-vectors.jsonl"
	dictionary    = "../../../shared/standards/gs1/gs1-syntax-dictionary.txt"
)

// vector is one line of a vectors file.
type vector struct {
	File    string            `json:"file"`
	Line    int               `json:"line"`
	Macro   string            `json:"macro"`
	Args    []json.RawMessage `json:"args"`
	Comment string            `json:"comment"`
	// Linter vectors.
	Kind   string          `json:"kind"`
	Linter string          `json:"linter"`
	Input  json.RawMessage `json:"input"`
	Error  string          `json:"error"`
	Markup json.RawMessage `json:"markup"`
}

func (v vector) where() string { return fmt.Sprintf("%s:%d", v.File, v.Line) }

func loadVectors(tb testing.TB, path string) []vector {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("open conformance vectors (the shared standards folder must sit beside the project): %v", err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s: bad vector line: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return out
}

// arg decodes argument i: a string, a bool, null, or {"expr": name} for an
// argument the C test built in code.
type arg struct {
	str    string
	b      bool
	isNull bool
	expr   string
}

func (v vector) arg(tb testing.TB, i int) arg {
	tb.Helper()
	raw := v.Args[i]
	var a arg
	switch {
	case string(raw) == "null":
		a.isNull = true
	case string(raw) == "true" || string(raw) == "false":
		a.b = string(raw) == "true"
	case strings.HasPrefix(string(raw), "{"):
		var e struct{ Expr string }
		if err := json.Unmarshal(raw, &e); err != nil {
			tb.Fatalf("%s: arg %d: %v", v.where(), i, err)
		}
		a.expr = e.Expr
	default:
		if err := json.Unmarshal(raw, &a.str); err != nil {
			tb.Fatalf("%s: arg %d: %v", v.where(), i, err)
		}
	}
	return a
}

// bytesOf turns a JSON string whose runes stand for bytes (the vectors write
// byte 0xFF as "ÿ") back into those bytes.
func bytesOf(s string) string {
	var b []byte
	for _, r := range s {
		if r > 0xFF {
			return s
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// dlOptions are the engine options the C tests switch on around some
// Digital Link cases (permitZeroSuppressedGTINinDLuris, permitConvenienceAlphas,
// permitUnknownAIs, and vUNKNOWN_AI_NOT_DL_ATTR switched off).
var dlOptions = map[string]Options{
	"dl.c:1437": {PermitConvenienceAlphas: true},
	"dl.c:1438": {PermitConvenienceAlphas: true},
	"dl.c:1439": {PermitConvenienceAlphas: true},
	"dl.c:1440": {PermitConvenienceAlphas: true},
	"dl.c:1441": {PermitConvenienceAlphas: true},
	"dl.c:1449": {PermitZeroSuppressedGTIN: true},
	"dl.c:1459": {PermitZeroSuppressedGTIN: true},
	"dl.c:1469": {PermitZeroSuppressedGTIN: true},
	"dl.c:1484": {PermitZeroSuppressedGTIN: true},
	"dl.c:1494": {PermitZeroSuppressedGTIN: true},
	"dl.c:1502": {PermitZeroSuppressedGTIN: true},
	"dl.c:1635": {PermitZeroSuppressedGTIN: true},
	"dl.c:1641": {PermitZeroSuppressedGTIN: true},
	"dl.c:1669": {PermitZeroSuppressedGTIN: true},
	"dl.c:1679": {PermitZeroSuppressedGTIN: true},
	"dl.c:1689": {PermitZeroSuppressedGTIN: true},
	"dl.c:1699": {PermitZeroSuppressedGTIN: true},
	"dl.c:1763": {PermitUnknownAIs: true},
	"dl.c:1767": {PermitUnknownAIs: true, UnknownAIsAsDLAttributes: true},
	"dl.c:2203": {PermitUnknownAIs: true},
	"dl.c:2206": {PermitUnknownAIs: true, UnknownAIsAsDLAttributes: true},
	// ai.c's processAIdata test switches permitUnknownAIs on for its last case.
	"ai.c:1867": {PermitUnknownAIs: true},
}

// addCheckDigitLines are the generateScanData cases run with the engine's
// addCheckDigit option on.
var addCheckDigitLines = map[string]bool{"scandata.c:744": true, "scandata.c:745": true, "scandata.c:804": true}

// exprArgs rebuilds arguments that the C tests computed in code, from the
// meaning the tests give them.
func exprArg(v vector, name string) (string, bool) {
	switch v.where() + " " + name {
	case "ai.c:1422 inbuf": // "Exactly 90 chars": the longest value, AI (99) X..90
		return "(99)" + strings.Repeat("A", 90), true
	case "ai.c:1422 expbuf":
		return "^99" + strings.Repeat("A", 90), true
	case "ai.c:1427 inbuf": // "91 chars, too long"
		return "(99)" + strings.Repeat("A", 91), true
	case "ai.c:1815 buf":
		return "^99" + strings.Repeat("A", 90), true
	case "ai.c:1822 buf":
		return "^99" + strings.Repeat("A", 91), true
	case "ai.c:1851 buf": // "Exactly 64 AIs"
		return "^" + strings.TrimSuffix(strings.Repeat("99A^", 64), "^"), true
	case "ai.c:1860 buf": // "65 AIs, too many"
		return "^" + strings.TrimSuffix(strings.Repeat("99A^", 65), "^"), true
	}
	switch name {
	case "dataStr1":
		return "(01)12345678901231", true
	case "dataStr2":
		return "(98)DEF(97)GHI(96)JKL(95)MNO", true
	case "dataStr3":
		return "(01)12345678901231(235)ABC123(8002)123456", true
	}
	return "", false
}

func (v vector) strArg(t *testing.T, i int) string {
	t.Helper()
	a := v.arg(t, i)
	if a.expr != "" {
		s, ok := exprArg(v, a.expr)
		if !ok {
			t.Fatalf("%s: no reconstruction for expression %q", v.where(), a.expr)
		}
		return s
	}
	return a.str
}

func TestConformance_Engine(t *testing.T) {
	vectors := loadVectors(t, engineVectors)
	if len(vectors) < 450 {
		t.Fatalf("only %d engine vectors; the file looks truncated", len(vectors))
	}
	ran := 0
	for _, v := range vectors {
		v := v
		opts := dlOptions[v.where()]
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("%s %s(%s) %s: %s", v.where(), v.Macro, argsText(v), v.Comment, fmt.Sprintf(format, args...))
		}
		ran++
		switch v.Macro {
		case "test_parseAIdata":
			ok, in, want := v.arg(t, 0).b, v.strArg(t, 1), v.strArg(t, 2)
			m, err := opts.parseBracketed(in)
			if ok != (err == nil) {
				fail("ok=%v, got err=%v", ok, err)
			} else if ok && m.ElementString() != want {
				fail("got %q, want %q", m.ElementString(), want)
			}
		case "test_processAIdata":
			ok, in := v.arg(t, 0).b, v.strArg(t, 1)
			_, err := opts.parseFNC1(in, 0)
			if ok != (err == nil) {
				fail("ok=%v, got err=%v", ok, err)
			}
		case "test_validateAIs":
			ok, fn, in := v.arg(t, 0).b, v.arg(t, 1).expr, v.strArg(t, 2)
			m, err := Options{PermitUnknownAIs: true}.parseBracketed(in)
			if err != nil {
				fail("parse failed: %v", err)
				continue
			}
			checks := map[string]func() error{
				"validateAIrepeats":                   m.checkRepeats,
				"validateAImutex":                     m.checkExclusive,
				"validateAIrequisites":                m.checkRequisites,
				"validateDigSigRequiresSerialisedKey": m.checkDigSig,
			}
			check, known := checks[fn]
			if !known {
				fail("no counterpart for %s", fn)
				continue
			}
			if err := check(); ok != (err == nil) {
				fail("ok=%v, got err=%v", ok, err)
			}
		case "test_errMarkup":
			in, want := v.strArg(t, 0), v.strArg(t, 1)
			_, err := Options{}.parseBracketed(in)
			var e *Error
			if !errors.As(err, &e) || e.Markup != want {
				fail("markup of %v is %q, want %q", err, markupOf(err), want)
			}
		case "test_existsInAIdata":
			ok, data, needle, ignore, want := v.arg(t, 0).b, v.strArg(t, 1), v.strArg(t, 2), v.arg(t, 3), v.arg(t, 4)
			m, err := ParseBracketed(data)
			if err != nil {
				fail("parse: %v", err)
				continue
			}
			got, found := m.find(needle, ignore.str)
			if found != ok {
				fail("found=%v, want %v", found, ok)
			} else if !want.isNull && got.AI != want.str {
				fail("matched (%s), want (%s)", got.AI, want.str)
			}
		case "test_testProcessScanData":
			ok, in, sym, want := v.arg(t, 0).b, v.strArg(t, 1), v.arg(t, 2).expr, v.strArg(t, 3)
			sc, err := opts.ParseScanData(in)
			if ok != (err == nil) {
				fail("ok=%v, got err=%v", ok, err)
			} else if ok && (string(sc.Symbology) != sym || sc.Data != want) {
				fail("got %s %q, want %s %q", sc.Symbology, sc.Data, sym, want)
			}
		case "test_testGenerateScanData":
			sym, in, want := v.arg(t, 0).expr, v.strArg(t, 1), v.arg(t, 2)
			got, err := GenerateScanData(Symbology(sym), in, addCheckDigitLines[v.where()])
			if want.isNull != (err != nil) {
				fail("want failure=%v, got %q, err=%v", want.isNull, got, err)
			} else if !want.isNull && got != want.str {
				fail("got %q, want %q", got, want.str)
			}
		case "test_parseDLuri":
			ok, in, want := v.arg(t, 0).b, v.strArg(t, 1), v.strArg(t, 2)
			dl, err := opts.ParseDigitalLink(in)
			if ok != (err == nil) {
				fail("ok=%v, got err=%v", ok, err)
			} else if ok && dl.ElementString() != want {
				fail("got %q, want %q", dl.ElementString(), want)
			}
		case "test_testGenerateDLuri":
			ok, stem, in, want := v.arg(t, 0).b, v.arg(t, 1), v.strArg(t, 2), v.strArg(t, 3)
			m, err := opts.parseBracketed(in)
			if err != nil {
				fail("parse: %v", err)
				continue
			}
			got, err := opts.DigitalLink(m, stem.str)
			if ok != (err == nil) {
				fail("ok=%v, got %q err=%v", ok, got, err)
			} else if ok && got != want {
				fail("got %q, want %q", got, want)
			}
		case "test_URIunescape":
			in, path, query := v.strArg(t, 0), bytesOf(v.strArg(t, 1)), bytesOf(v.strArg(t, 2))
			if got, _ := URIUnescape(in, false); got != path {
				fail("path: got %q, want %q", got, path)
			}
			if got, _ := URIUnescape(in, true); got != query {
				fail("query: got %q, want %q", got, query)
			}
		case "test_URIescape":
			in, path, query := v.strArg(t, 0), v.strArg(t, 1), v.strArg(t, 2)
			if got := URIEscape(in, false); got != path {
				fail("path: got %q, want %q", got, path)
			}
			if got := URIEscape(in, true); got != query {
				fail("query: got %q, want %q", got, query)
			}
		default:
			ran--
			t.Errorf("%s: macro %s has no counterpart", v.where(), v.Macro)
		}
	}
	t.Logf("ran %d engine vectors", ran)
}

func argsText(v vector) string {
	var parts []string
	for _, a := range v.Args {
		parts = append(parts, string(a))
	}
	return strings.Join(parts, ", ")
}

func markupOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Markup
	}
	return ""
}

// gcpLookupLines are the linter cases run with the test GCP lookup of the
// reference implementation (test-gcp-lookup.h): countdown lookups succeed,
// then the lookup answers invalid or offline.
var gcpLookupLines = map[string]struct {
	countdown int
	offline   bool
}{
	"lint_couponcode.c:1431": {0, false}, "lint_couponcode.c:1433": {0, true},
	"lint_couponcode.c:1438": {1, false}, "lint_couponcode.c:1441": {1, true},
	"lint_couponcode.c:1446": {1, false}, "lint_couponcode.c:1449": {1, true},
	"lint_couponcode.c:1454": {1, false}, "lint_couponcode.c:1457": {1, true},
	"lint_gcppos1.c:221": {0, false}, "lint_gcppos1.c:223": {0, true},
	"lint_gcppos2.c:183": {0, false}, "lint_gcppos2.c:185": {0, true},
}

// gcpExpr rebuilds the gcppos cases whose inputs the C tests build in loops,
// as (input, markup) pairs; markup is "" for a pass.
var gcpExpr = map[string][][2]string{
	"lint_gcppos1.c:169": {{"01234", ""}},
	"lint_gcppos1.c:171": {{"0123", ""}},
	"lint_gcppos1.c:189": {{"012", "*012*"}, {"01", "*01*"}, {"0", "*0*"}, {"", "**"}},
	"lint_gcppos1.c:199": {{"0123A", ""}},
	"lint_gcppos1.c:216": {{"012AA", "012*A*A"}, {"01AAA", "01*A*AA"}, {"0AAAA", "0*A*AAA"}, {"AAAAA", "*A*AAAA"}},
	"lint_gcppos2.c:114": {{"I01234", ""}},
	"lint_gcppos2.c:116": {{"I0123", ""}},
	"lint_gcppos2.c:134": {{"I012", "I*012*"}, {"I01", "I*01*"}, {"I0", "I*0*"}},
	"lint_gcppos2.c:150": {{"I", "*I*"}, {"", "**"}},
	"lint_gcppos2.c:161": {{"I0123A", ""}},
	"lint_gcppos2.c:178": {{"I012AA", "I012*A*A"}, {"I01AAA", "I01*A*AA"}, {"I0AAAA", "I0*A*AAA"}, {"IAAAAA", "I*A*AAAA"}},
}

func TestConformance_Linters(t *testing.T) {
	vectors := loadVectors(t, linterVectors)
	if len(vectors) < 5000 {
		t.Fatalf("only %d linter vectors; the file looks truncated", len(vectors))
	}
	ran := 0
	for _, v := range vectors {
		name := strings.TrimPrefix(v.Linter, "gs1_lint_")
		lint := lookupLinter(name)
		if lint == nil {
			t.Errorf("%s: no linter %q", v.where(), name)
			continue
		}
		type tcase struct{ in, markup string }
		var cases []tcase
		var in string
		if err := json.Unmarshal(v.Input, &in); err == nil {
			var mk string
			if v.Kind == "UNIT_TEST_FAIL" {
				if err := json.Unmarshal(v.Markup, &mk); err != nil {
					t.Fatalf("%s: markup: %v", v.where(), err)
				}
			}
			cases = append(cases, tcase{bytesOf(in), bytesOf(mk)})
		} else {
			rebuilt, ok := gcpExpr[v.where()]
			if !ok {
				t.Errorf("%s: no reconstruction for input %s", v.where(), v.Input)
				continue
			}
			for _, r := range rebuilt {
				cases = append(cases, tcase{r[0], r[1]})
			}
		}
		for _, c := range cases {
			ran++
			lc := &lintCtx{}
			if g, ok := gcpLookupLines[v.where()]; ok {
				countdown := g.countdown
				lc.gcp = func(string) (bool, bool) {
					if countdown > 0 {
						countdown--
						return true, false
					}
					return false, g.offline
				}
			}
			f := lint(lc, c.in)
			switch {
			case v.Kind == "UNIT_TEST_PASS" && f != nil:
				t.Errorf("%s: %s(%q) failed with %s at %d+%d, want pass", v.where(), name, c.in, f.code, f.pos, f.len)
			case v.Kind == "UNIT_TEST_FAIL" && f == nil:
				t.Errorf("%s: %s(%q) passed, want %s", v.where(), name, c.in, v.Error)
			case v.Kind == "UNIT_TEST_FAIL":
				got := c.in[:f.pos] + "*" + c.in[f.pos:f.pos+f.len] + "*" + c.in[f.pos+f.len:]
				if "GS1_LINTER_"+string(f.code) != v.Error || got != c.markup {
					t.Errorf("%s: %s(%q) = %s %q, want %s %q", v.where(), name, c.in, f.code, got, v.Error, c.markup)
				}
			}
		}
	}
	t.Logf("ran %d linter cases", ran)
}
