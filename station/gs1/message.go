package gs1

import (
	"fmt"
	"sort"
	"strings"
)

// Element is one AI and its value.
type Element struct {
	AI    string // 2 to 4 digits
	Value string // the value, unescaped

	entry *aiEntry
	pos   int   // byte offset of the value in the input, -1 when unknown
	src   []int // input offset of each value byte, when they are not contiguous
}

// Title returns the GS1 data title of the element's AI, "UNKNOWN" for an AI
// outside the table.
func (e Element) Title() string {
	if e.entry != nil {
		return e.entry.title
	}
	return Title(e.AI)
}

// at returns the input offset of byte i of the value.
func (e Element) at(i int) int {
	if e.src != nil {
		if i < len(e.src) {
			return e.src[i]
		}
		if len(e.src) > 0 {
			return e.src[len(e.src)-1] + 1 + i - len(e.src)
		}
	}
	if e.pos < 0 {
		return -1
	}
	return e.pos + i
}

// Message is a parsed set of GS1 element strings, in the order they were read.
type Message struct {
	Elements []Element
}

// Options choose how strictly data is checked. The zero value applies every
// rule, as the GS1 Barcode Syntax Engine does by default.
type Options struct {
	// NoAssociations checks only syntax, formats and linters, and skips the
	// rules between AIs (requisite, exclusive and repeated AIs, the digital
	// signature's serialised key). A scanner station uses it for a partial
	// read of one carrier among several.
	NoAssociations bool
	// PermitUnknownAIs accepts AIs that the table does not define, when they
	// do not clash with known ones.
	PermitUnknownAIs bool
	// PermitZeroSuppressedGTIN accepts GTIN-8, -12 and -13 in the (01) of a
	// Digital Link URI and pads them to 14 digits (a legacy form).
	PermitZeroSuppressedGTIN bool
	// PermitConvenienceAlphas accepts the deprecated Digital Link path names
	// such as /gtin/ for /01/.
	PermitConvenienceAlphas bool
	// UnknownAIsAsDLAttributes allows unknown AIs (with PermitUnknownAIs) as
	// Digital Link query attributes.
	UnknownAIsAsDLAttributes bool
	// GCPLookup, when set, checks GS1 Company Prefixes against a register.
	GCPLookup GCPLookup
}

func (o Options) lintCtx() *lintCtx { return &lintCtx{gcp: o.GCPLookup} }

// Get returns the value of the first element with the given AI.
func (m *Message) Get(ai string) (string, bool) {
	for _, e := range m.Elements {
		if e.AI == ai {
			return e.Value, true
		}
	}
	return "", false
}

// ParseBracketed parses and checks bracketed element strings such as
// "(01)09506000134352(17)261231(10)AB12(21)X9", with the default options.
func ParseBracketed(s string) (*Message, error) { return Options{}.ParseBracketed(s) }

// ParseBracketed parses and checks bracketed element strings. A "(" inside a
// value is written "\(".
func (o Options) ParseBracketed(s string) (*Message, error) {
	m, err := o.parseBracketed(s)
	if err != nil {
		return nil, err
	}
	return m, o.check(m)
}

func (o Options) parseBracketed(s string) (*Message, error) {
	if s == "" {
		return nil, errAt(0, "syntax", "bracketed data is empty")
	}
	m := &Message{}
	p := 0
	for p < len(s) {
		if s[p] != '(' {
			return nil, errAt(p, "syntax", "expected \"(\" to start an AI, found %q", s[p:p+1])
		}
		end := strings.IndexByte(s[p+1:], ')')
		if end < 0 {
			return nil, errAt(p, "syntax", "AI %q is not closed with \")\"", s[p:])
		}
		ai := s[p+1 : p+1+end]
		entry := lookupAI(ai, o.PermitUnknownAIs)
		if entry == nil {
			return nil, errAt(p+1, "unknown-ai", "%s", unknownAIText(ai))
		}
		v := p + 1 + end + 1
		if v >= len(s) {
			return nil, errAI(ai, v, "length", "value is missing after the AI")
		}
		var val strings.Builder
		var src []int
		escaped := false
		q := v
		for q < len(s) {
			if s[q] == '(' {
				if q > v && s[q-1] == '\\' {
					// "\(" is a bracket in the data: drop the backslash.
					cur := val.String()
					val.Reset()
					val.WriteString(cur[:len(cur)-1])
					src = src[:len(src)-1]
					escaped = true
				} else {
					break
				}
			}
			val.WriteByte(s[q])
			src = append(src, q)
			q++
		}
		el := Element{AI: ai, Value: val.String(), entry: entry, pos: v}
		if escaped {
			el.src = src
		}
		if f := checkLength(entry, el.Value); f != nil {
			return nil, placeFault(el, f)
		}
		if len(m.Elements) >= MaxAIs {
			return nil, errAt(p, "syntax", "more than %d AIs", MaxAIs)
		}
		m.Elements = append(m.Elements, el)
		p = q
	}
	lc := o.lintCtx()
	for _, el := range m.Elements {
		if _, f := lintValue(lc, el.entry, el.Value); f != nil {
			return nil, placeFault(el, f)
		}
	}
	return m, nil
}

func unknownAIText(ai string) string {
	switch {
	case ai == "":
		return "AI is empty"
	case !allDigits(ai):
		return fmt.Sprintf("AI %q is not all digits", ai)
	case len(ai) < 2 || len(ai) > 4:
		return fmt.Sprintf("AI %q must have 2 to 4 digits", ai)
	}
	return fmt.Sprintf("AI (%s) is not a known GS1 Application Identifier", ai)
}

// placeFault turns a finding in a value into an Error at its input position.
func placeFault(el Element, f *valueFault) *Error {
	return &Error{AI: el.AI, Value: el.Value, Pos: el.at(f.pos), Rule: f.rule, Lint: f.lint, Msg: f.msg, Markup: f.markup}
}

// ParseElementString parses and checks an element string in FNC1 form, with
// the default options: it starts with FNC1, written "^" (the GS1 engine's
// notation) or as the GS byte 0x1D, and FNC1 ends each variable-length value
// that is followed by another AI.
func ParseElementString(s string) (*Message, error) { return Options{}.ParseElementString(s) }

// ParseElementString parses and checks an element string in FNC1 form.
func (o Options) ParseElementString(s string) (*Message, error) {
	m, err := o.parseFNC1(s, 0)
	if err != nil {
		return nil, err
	}
	return m, o.check(m)
}

func isFNC1(c byte) bool { return c == '^' || c == gs }

const gs = 0x1D // ASCII group separator, which scanners send for FNC1

// parseFNC1 reads FNC1 data; base is the offset of s in the whole input.
func (o Options) parseFNC1(s string, base int) (*Message, error) {
	if s == "" || !isFNC1(s[0]) {
		return nil, errAt(base, "syntax", "element string must start with FNC1 (\"^\" or GS)")
	}
	if len(s) == 1 {
		return nil, errAt(base+1, "syntax", "element string has no AIs after FNC1")
	}
	m := &Message{}
	lc := o.lintCtx()
	p := 1
	for p < len(s) {
		entry := lookupAIPrefix(s[p:], o.PermitUnknownAIs)
		if entry == nil {
			show := s[p:]
			if len(show) > 4 {
				show = show[:4] + "..."
			}
			return nil, errAt(base+p, "unknown-ai", "no known AI starts %q", show)
		}
		ai := entry.ai
		p += len(ai)
		r := p
		for r < len(s) && !isFNC1(s[r]) {
			r++
		}
		el := Element{AI: ai, entry: entry, pos: base + p}
		n, f := lintValue(lc, entry, s[p:r])
		if f != nil {
			el.Value = s[p:r]
			return nil, placeFault(el, f)
		}
		el.Value = s[p : p+n]
		if len(m.Elements) >= MaxAIs {
			return nil, errAt(base+p, "syntax", "more than %d AIs", MaxAIs)
		}
		m.Elements = append(m.Elements, el)
		p += n
		if entry.fnc1() && p < len(s) && !isFNC1(s[p]) {
			return nil, errAI(ai, base+p, "length", "value %q is too long (at most %d characters)", s[el.pos-base:r], entry.maxLen())
		}
		if p < len(s) && isFNC1(s[p]) {
			p++
		}
	}
	return m, nil
}

// check applies the rules between AIs unless they are switched off.
func (o Options) check(m *Message) error {
	if o.NoAssociations {
		return nil
	}
	if err := m.checkExclusive(); err != nil {
		return err
	}
	if err := m.checkRequisites(); err != nil {
		return err
	}
	if err := m.checkRepeats(); err != nil {
		return err
	}
	return m.checkDigSig()
}

// sorted returns the elements in AI order, as the checks visit them.
func (m *Message) sorted() []Element {
	s := append([]Element(nil), m.Elements...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].AI < s[j].AI })
	return s
}

// find returns an element matching pattern, e.g. "01", "31nn" or "394n" (a
// template of leading digits then "n"s), skipping AIs that ignore starts with.
func (m *Message) find(pattern, ignore string) (Element, bool) {
	fixed := 0
	for fixed < len(pattern) && isDigit(pattern[fixed]) {
		fixed++
	}
	if fixed == 0 {
		return Element{}, false
	}
	for _, e := range m.Elements {
		if len(e.AI) != len(pattern) || e.AI[:fixed] != pattern[:fixed] {
			continue
		}
		if ignore != "" && strings.HasPrefix(ignore, e.AI) {
			continue
		}
		return e, true
	}
	return Element{}, false
}

func (m *Message) checkExclusive() error {
	t := derived()
	for _, e := range m.sorted() {
		for _, pat := range t.ex[e.AI] {
			if other, ok := m.find(pat, e.AI); ok {
				return &Error{AI: e.AI, Pos: e.at(0), Rule: "exclusive",
					Msg: fmt.Sprintf("may not be used together with AI (%s)", other.AI)}
			}
		}
	}
	return nil
}

func (m *Message) checkRequisites() error {
	t := derived()
	for _, e := range m.sorted() {
		for _, rule := range t.req[e.AI] {
			satisfied := false
			var alts []string
			for _, group := range rule {
				all := true
				for _, pat := range group {
					if _, ok := m.find(pat, e.AI); !ok {
						all = false
						break
					}
				}
				alts = append(alts, "("+strings.Join(group, ")+(")+")")
				if all {
					satisfied = true
					break
				}
			}
			if !satisfied {
				return &Error{AI: e.AI, Pos: e.at(0), Rule: "requisite",
					Msg: fmt.Sprintf("requires %s in the same data", strings.Join(alts, " or "))}
			}
		}
	}
	return nil
}

func (m *Message) checkRepeats() error {
	seen := map[string]Element{}
	for _, e := range m.Elements {
		if prev, ok := seen[e.AI]; ok && prev.Value != e.Value {
			return &Error{AI: e.AI, Value: e.Value, Pos: e.at(0), Rule: "repeat",
				Msg: fmt.Sprintf("appears twice with different values %q and %q", prev.Value, e.Value)}
		}
		if _, ok := seen[e.AI]; !ok {
			seen[e.AI] = e
		}
	}
	return nil
}

// checkDigSig enforces that a digital signature (8030) signs a serialised
// key: with (8030), the optional serial component of (253), (255) and
// (8003) must be present.
func (m *Message) checkDigSig() error {
	if _, ok := m.Get("8030"); !ok {
		return nil
	}
	for _, ai := range []string{"253", "255", "8003"} {
		for _, e := range m.Elements {
			if e.AI == ai && e.entry != nil && len(e.Value) == e.entry.minLen() {
				return &Error{AI: e.AI, Value: e.Value, Pos: e.at(len(e.Value)), Rule: "digsig",
					Msg: "needs its serial component when a digital signature (8030) is present"}
			}
		}
	}
	return nil
}

// HRI returns the bracketed human-readable form, "(01)...(21)...", with "("
// in values escaped as "\(", in the message's order.
func (m *Message) HRI() string {
	var b strings.Builder
	for _, e := range m.Elements {
		b.WriteString("(" + e.AI + ")")
		b.WriteString(strings.ReplaceAll(e.Value, "(", `\(`))
	}
	return b.String()
}

// ElementString returns the FNC1 form with "^" for FNC1, in the message's
// order: a leading FNC1, and FNC1 after each variable-length value that is
// followed by another AI.
func (m *Message) ElementString() string {
	var b strings.Builder
	sep := true
	for _, e := range m.Elements {
		if sep {
			b.WriteByte('^')
		}
		b.WriteString(e.AI + e.Value)
		sep = e.entry == nil || e.entry.fnc1()
	}
	return b.String()
}

// Encoded returns a copy of the message in the order that needs the fewest
// FNC1 separators: AIs of predefined length first, then the variable-length
// ones, so that the last of them needs no separator. The relative order
// within each group is kept, so (01)(17)(10)(21) stays as it is.
func (m *Message) Encoded() *Message {
	out := &Message{}
	for _, fixed := range []bool{true, false} {
		for _, e := range m.Elements {
			if (e.entry != nil && e.entry.fixedLen) == fixed {
				out.Elements = append(out.Elements, e)
			}
		}
	}
	return out
}

// Encode returns the FNC1 form ("^" for FNC1) in the fewest-separators order.
func (m *Message) Encode() string { return m.Encoded().ElementString() }
