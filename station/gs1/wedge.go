package gs1

import (
	"fmt"
	"strings"
)

// Keyboard-wedge scanners type what they read into whatever field has the
// focus, as if it were typed on a keyboard. GS (the FNC1 separator after a
// variable-length value) is a control character that most keyboard layouts
// cannot type, so wedge input usually arrives without it:
// "0100300010123455172806001 0LOT1\x1d21SER1" becomes
// "010030001012345517280610LOT121SER1", which may mean lot "LOT1" and
// serial "SER1", or lot "LOT121SER1" and no serial at all.
//
// RepairWedge reads such input back into AIs by trying every way the AI
// table allows: each AI's length is fixed by its first digits, fixed-length
// values take their length, and a variable-length value may end at any place
// where its character set and linters accept it and the rest reads as AIs.
// A reading must then pass the rules between AIs (requisites, exclusions,
// repeats). When exactly one reading is left, the separators are put back;
// when several are left, nothing is guessed: RepairWedge returns an
// *AmbiguousError that lists them and tells the operator what to do.
//
// The caller can say what it expects: need lists sets of AIs, and a reading
// that holds all AIs of one set is preferred to one that holds none of the
// sets. A packing station scanning a pack asks for {"01", "21"} or {"00"}:
// then "(10)LOT121SER1" (no serial) is not a reading of a pack, and the
// example above repairs to (10)LOT1 (21)SER1. Readings are only ever
// filtered, never invented: what the AI table makes impossible stays
// impossible, and two readings that both hold a pack stay ambiguous.

// maxWedgeReadings is how many readings RepairWedge collects before it
// stops looking: more than this is ambiguous whatever the filters say.
const maxWedgeReadings = 16

// maxWedgeSteps bounds the search (values tried), so that long or
// pathological input cannot make it slow.
const maxWedgeSteps = 20000

// WedgeReading is GS1 data read from keyboard-wedge input.
type WedgeReading struct {
	// Message holds the AIs read.
	Message *Message
	// Repaired is true when GS separators were missing and were put back
	// (a variable-length value followed by another AI without one).
	Repaired bool
	// Symbology is the AIM symbology identifier typed before the data
	// ("]d2", "]C1", ...), or "" when the scanner sent none.
	Symbology string
}

// Data returns the reading in FNC1 form with GS separators, as a scanner in
// serial mode would have sent it after its symbology identifier: AIs and
// values run together, GS after each variable-length value followed by
// another AI, no leading FNC1.
func (r *WedgeReading) Data() string {
	return strings.ReplaceAll(strings.TrimPrefix(r.Message.ElementString(), "^"), "^", string(rune(gs)))
}

// AmbiguousError says that wedge input reads more than one way and which.
type AmbiguousError struct {
	Input    string     // what was typed
	Readings []*Message // the readings left after the filters, at most maxWedgeReadings
	More     bool       // there were more readings than listed
}

// Error says what is wrong and what to do, in English.
func (e *AmbiguousError) Error() string {
	ways := make([]string, len(e.Readings))
	for i, m := range e.Readings {
		ways[i] = m.HRI()
	}
	what := fmt.Sprintf("%d ways: %s", len(ways), strings.Join(ways, " or "))
	switch {
	case e.More && len(ways) == 0:
		what = "too many ways to list"
	case e.More:
		what = fmt.Sprintf("more than %d ways, among them %s", len(ways), strings.Join(ways, " or "))
	}
	return fmt.Sprintf("the scanner dropped the GS separators and %q reads %s; "+
		"set the scanner to send GS (FNC1) or use the serial scanner, or type the code in brackets: (01)...(21)...",
		e.Input, what)
}

// RepairWedge reads GS1 data typed by a keyboard-wedge scanner, with the
// default options. See Options.RepairWedge.
func RepairWedge(typed string, need ...[]string) (*WedgeReading, error) {
	return Options{}.RepairWedge(typed, need...)
}

// RepairWedge reads GS1 data typed by a keyboard-wedge scanner, putting
// back the GS separators it lost where the AI table makes that unambiguous.
// Input that needs no repair is parsed as it is: data with GS separators (with
// or without a symbology identifier), bracketed data, FNC1 data with "^", a
// Digital Link URI, an EPC URI. need lists sets of AIs the caller expects
// (see the comment at the top of this file). Errors: an *Error when the
// input reads no way at all (naming the furthest point any reading got to);
// an *AmbiguousError when it reads several ways. Unknown AIs are never
// accepted in a repair, since they would make any split possible.
func (o Options) RepairWedge(typed string, need ...[]string) (*WedgeReading, error) {
	s := strings.TrimSpace(typed)
	if s == "" {
		return nil, errAt(0, "syntax", "nothing was scanned")
	}
	sym, body, base := "", s, 0
	if strings.HasPrefix(s, "]") && len(s) >= 3 {
		id := lookupSymID(s[1:3])
		if id == nil || !id.gs1 || strings.ContainsRune(s, gs) {
			// Not GS1 data (or GS kept): the scan parser says what it is.
			m, err := o.Parse(s)
			if err != nil {
				return nil, err
			}
			return &WedgeReading{Message: m, Symbology: s[:3]}, nil
		}
		sym, body, base = s[:3], s[3:], 3
	} else if DetectForm(s) != "" {
		m, err := o.Parse(s)
		if err != nil {
			return nil, err
		}
		return &WedgeReading{Message: m}, nil
	} else if strings.ContainsRune(s, gs) {
		// GS kept, no symbology identifier: FNC1 data without its leading FNC1.
		m, err := o.ParseElementString(string(rune(gs)) + s)
		if err != nil {
			return nil, err
		}
		return &WedgeReading{Message: m}, nil
	}
	if body == "" {
		return nil, errAt(base, "syntax", "%s is followed by no data", sym)
	}

	w := &wedgeSearch{o: o, lc: o.lintCtx(), s: body, base: base}
	w.walk(0, nil)
	valid := w.found
	switch {
	case len(valid) == 0 && w.overflow:
		return nil, &AmbiguousError{Input: s, More: true}
	case len(valid) == 0 && w.ruleErr != nil:
		return nil, w.ruleErr
	case len(valid) == 0 && w.failure != nil && w.failure.Pos == base:
		return nil, errAt(base, "syntax", "%q is not GS1 data: %s", body, w.failure.Msg)
	case len(valid) == 0 && w.failure != nil:
		return nil, w.failure
	case len(valid) == 0:
		return nil, errAt(base, "syntax", "%q is not GS1 data", body)
	}
	if len(valid) > 1 && len(need) > 0 {
		var fit []*Message
		for _, m := range valid {
			if holdsAny(m, need) {
				fit = append(fit, m)
			}
		}
		if len(fit) > 0 {
			valid = fit
		}
	}
	if len(valid) > 1 || w.overflow {
		return nil, &AmbiguousError{Input: s, Readings: valid, More: w.overflow}
	}
	m := valid[0]
	repaired := false
	for _, e := range m.Elements[:len(m.Elements)-1] {
		if e.entry.fnc1() {
			repaired = true
		}
	}
	return &WedgeReading{Message: m, Repaired: repaired, Symbology: sym}, nil
}

// holdsAny reports whether m holds every AI of at least one of the sets.
func holdsAny(m *Message, sets [][]string) bool {
	for _, set := range sets {
		all := true
		for _, ai := range set {
			if _, ok := m.Get(ai); !ok {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func lookupSymID(id string) *symID {
	for i := range symIDs {
		if symIDs[i].id == id {
			return &symIDs[i]
		}
	}
	return nil
}

// wedgeSearch enumerates the ways an element string without separators
// splits into AIs.
type wedgeSearch struct {
	o    Options
	lc   *lintCtx
	s    string
	base int // offset of s in the typed input

	found    []*Message // readings that pass the rules between AIs
	overflow bool       // more readings than maxWedgeReadings, or the search ran too long
	steps    int
	failure  *Error // the syntax failure that got furthest, to explain no reading
	ruleErr  error  // the first rule between AIs a complete split broke
}

// fail keeps the failure furthest into the input.
func (w *wedgeSearch) fail(e *Error) {
	if w.failure == nil || e.Pos > w.failure.Pos {
		w.failure = e
	}
}

// walk extends the elements read so far (els, up to offset p).
func (w *wedgeSearch) walk(p int, els []Element) {
	if w.overflow {
		return
	}
	if p == len(w.s) {
		m := &Message{Elements: append([]Element(nil), els...)}
		if err := w.o.check(m); err != nil {
			if w.ruleErr == nil {
				w.ruleErr = err
			}
			return
		}
		if len(w.found) == maxWedgeReadings {
			w.overflow = true
			return
		}
		w.found = append(w.found, m)
		return
	}
	if len(els) >= MaxAIs {
		w.fail(errAt(w.base+p, "syntax", "more than %d AIs", MaxAIs))
		return
	}
	entry := lookupAIPrefix(w.s[p:], false)
	if entry == nil {
		show := w.s[p:]
		if len(show) > 4 {
			show = show[:4] + "..."
		}
		w.fail(errAt(w.base+p, "unknown-ai", "no known AI starts %q", show))
		return
	}
	q := p + len(entry.ai)
	lo, hi := entry.minLen(), entry.maxLen()
	if entry.fixedLen {
		lo = hi
	}
	lo = max(lo, 1)
	if q+lo > len(w.s) {
		w.fail(errAI(entry.ai, w.base+len(w.s), "length", "value %q is too short (at least %d characters)", w.s[q:], lo))
		return
	}
	for end := q + lo; end <= min(len(w.s), q+hi); end++ {
		w.steps++
		if w.steps > maxWedgeSteps {
			w.overflow = true
			return
		}
		v := w.s[q:end]
		n, f := lintValue(w.lc, entry, v)
		if f != nil {
			w.fail(placeFault(Element{AI: entry.ai, Value: v, entry: entry, pos: w.base + q}, f))
			if strings.HasPrefix(f.rule, "linter:cset") && f.pos < len(v) {
				break // a character the value may not hold: longer values hold it too
			}
			continue
		}
		if n != len(v) {
			continue
		}
		w.walk(end, append(els, Element{AI: entry.ai, Value: v, entry: entry, pos: w.base + q}))
		if w.overflow {
			return
		}
	}
}
