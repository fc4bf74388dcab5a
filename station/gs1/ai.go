package gs1

//go:generate go run ./internal/gen -in ../../../shared/standards/gs1/gs1-syntax-dictionary.txt -out aitable.go

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// part is one component of an AI's data field.
type part struct {
	cset     byte // 'N', 'X' (CSET 82), 'Y' (CSET 39) or 'Z' (base64url)
	min, max int
	opt      bool
	linters  []string
}

// aiEntry is one row of the AI table.
type aiEntry struct {
	ai       string
	fixedLen bool // predefined length: no FNC1 separator after it
	dlAttr   bool // permitted as a Digital Link data attribute
	parts    []part
	attrs    string
	title    string
	unknown  bool // a vivified entry for an AI the table does not know
}

// fnc1 reports whether a following AI must be separated by FNC1.
func (e *aiEntry) fnc1() bool { return !e.fixedLen }

func (e *aiEntry) minLen() int {
	n := 0
	for _, p := range e.parts {
		if !p.opt {
			n += p.min
		}
	}
	return n
}

func (e *aiEntry) maxLen() int {
	n := 0
	for _, p := range e.parts {
		n += p.max
	}
	return n
}

// Limits of the GS1 syntax, as in the reference engine.
const (
	MaxAIs      = 64 // most elements in one message
	maxValueLen = 90 // longest value of any AI
)

// fixedPrefixLen is the predefined value length of AIs by their first two
// digits (GS1 General Specifications, figure 5.10.1-2), 0 for variable. It
// decides FNC1 needs for AIs the table does not know.
var fixedPrefixLen = map[string]int{
	"00": 18, "01": 14, "02": 14, "03": 14, "04": 16,
	"11": 6, "12": 6, "13": 6, "14": 6, "15": 6, "16": 6, "17": 6, "18": 6, "19": 6, "20": 2,
	"31": 6, "32": 6, "33": 6, "34": 6, "35": 6, "36": 6, "41": 13,
}

// tables holds what is derived from aiTable once.
type tables struct {
	byAI         map[string]*aiEntry
	lenByPrefix  [100]int
	req          map[string][][][]string // per AI: each req= rule, its alternative groups, each group's patterns
	ex           map[string][]string
	dlSequences  []string // valid key-qualifier sequences, "01 22 10", sorted
	dlSeqSet     map[string]bool
	dlPrimaryKey map[string]bool
}

var derived = sync.OnceValue(func() *tables {
	t := &tables{
		byAI:         make(map[string]*aiEntry, len(aiTable)),
		req:          map[string][][][]string{},
		ex:           map[string][]string{},
		dlSeqSet:     map[string]bool{},
		dlPrimaryKey: map[string]bool{},
	}
	for i := range aiTable {
		e := &aiTable[i]
		t.byAI[e.ai] = e
		t.lenByPrefix[int(e.ai[0]-'0')*10+int(e.ai[1]-'0')] = len(e.ai)
		for _, attr := range strings.Fields(e.attrs) {
			key, val, _ := strings.Cut(attr, "=")
			switch key {
			case "req":
				var rule [][]string
				for _, group := range strings.Split(val, ",") {
					rule = append(rule, strings.Split(group, "+"))
				}
				t.req[e.ai] = append(t.req[e.ai], rule)
			case "ex":
				t.ex[e.ai] = append(t.ex[e.ai], strings.Split(val, ",")...)
			case "dlpkey":
				t.dlPrimaryKey[e.ai] = true
				alternatives := []string{""}
				if val != "" {
					alternatives = strings.Split(val, "|")
				}
				for _, alt := range alternatives {
					var quals []string
					if alt != "" {
						quals = strings.Split(alt, ",")
					}
					// Every order-preserving choice of the qualifiers.
					for mask := 0; mask < 1<<len(quals); mask++ {
						seq := []string{e.ai}
						for j, q := range quals {
							if mask&(1<<j) != 0 {
								seq = append(seq, q)
							}
						}
						t.dlSeqSet[strings.Join(seq, " ")] = true
					}
				}
			}
		}
	}
	for s := range t.dlSeqSet {
		t.dlSequences = append(t.dlSequences, s)
	}
	sort.Strings(t.dlSequences)
	return t
})

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// unknownEntry vivifies an AI the table does not know: a variable-length
// CSET 82 value, or the predefined fixed length of its prefix.
func unknownEntry(ai string) *aiEntry {
	e := &aiEntry{ai: ai, unknown: true, title: "UNKNOWN", parts: []part{{cset: 'X', min: 1, max: maxValueLen}}}
	l := derived().lenByPrefix[int(ai[0]-'0')*10+int(ai[1]-'0')]
	n := fixedPrefixLen[ai[:2]]
	if l == 2 && (n == 2 || n == 14 || n == 16 || n == 18) || l == 3 && n == 13 || l == 4 && n == 6 {
		e.fixedLen = true
		e.parts = []part{{cset: 'X', min: n, max: n}}
	}
	return e
}

// lookupAI finds the table entry of an AI given exactly. With permitUnknown
// it vivifies AIs that do not clash with known ones.
func lookupAI(ai string, permitUnknown bool) *aiEntry {
	if len(ai) < 2 || len(ai) > 4 || !allDigits(ai) {
		return nil
	}
	t := derived()
	if e := t.byAI[ai]; e != nil {
		return e
	}
	for n := 2; n < len(ai); n++ {
		if t.byAI[ai[:n]] != nil {
			return nil // a known AI is a prefix of this one
		}
	}
	if !permitUnknown {
		return nil
	}
	l := t.lenByPrefix[int(ai[0]-'0')*10+int(ai[1]-'0')]
	if l != 0 && l != len(ai) {
		return nil
	}
	return unknownEntry(ai)
}

// lookupAIPrefix finds the AI that starts data, for element strings where AIs
// are not delimited. Unknown AIs are only accepted where the table fixes the
// AI length of their two-digit prefix.
func lookupAIPrefix(data string, permitUnknown bool) *aiEntry {
	if len(data) < 2 || !isDigit(data[0]) || !isDigit(data[1]) {
		return nil
	}
	t := derived()
	l := t.lenByPrefix[int(data[0]-'0')*10+int(data[1]-'0')]
	if l == 0 || len(data) < l {
		return nil
	}
	if e := t.byAI[data[:l]]; e != nil {
		return e
	}
	if !permitUnknown || !allDigits(data[:l]) {
		return nil
	}
	return unknownEntry(data[:l])
}

// Title returns the GS1 data title of ai (e.g. "BATCH/LOT" for "10"), or ""
// when ai is not in the table.
func Title(ai string) string {
	if e := derived().byAI[ai]; e != nil {
		return e.title
	}
	return ""
}

// valueFault is a finding inside one value, before it is placed in the input.
type valueFault struct {
	pos    int // offset in the value
	rule   string
	msg    string
	lint   LintCode
	markup string
}

// checkLength applies the overall length bounds of an entry to a value whose
// AI boundaries are known (bracketed data, Digital Link).
func checkLength(e *aiEntry, value string) *valueFault {
	if len(value) < e.minLen() {
		return &valueFault{pos: len(value), rule: "length", msg: fmt.Sprintf("value %q is too short (at least %d characters)", value, e.minLen())}
	}
	if len(value) > e.maxLen() {
		return &valueFault{pos: e.maxLen(), rule: "length", msg: fmt.Sprintf("value %q is too long (at most %d characters)", value, e.maxLen())}
	}
	if i := strings.IndexByte(value, '^'); i >= 0 {
		return &valueFault{pos: i, rule: "syntax", msg: fmt.Sprintf("value %q contains \"^\", which stands for FNC1", value)}
	}
	return nil
}

// lintValue applies the components of e to data, which runs from the value's
// start to the next FNC1 or the end. It returns how many bytes the value
// takes; for fixed-length AIs what follows is the next AI.
func lintValue(lc *lintCtx, e *aiEntry, data string) (int, *valueFault) {
	if data == "" {
		return 0, &valueFault{rule: "length", msg: "value is empty"}
	}
	p := 0
	for _, pt := range e.parts {
		n := len(data) - p
		if n > pt.max {
			n = pt.max
		}
		if pt.opt && n == 0 {
			continue
		}
		comp := data[p : p+n]
		if n < pt.min {
			return 0, &valueFault{pos: p, rule: "length", msg: fmt.Sprintf("value %q has a component %q of the wrong length (%s)", data, comp, pt.describe())}
		}
		names := append([]string{csetLinter(pt.cset)}, pt.linters...)
		for _, name := range names {
			lint := lookupLinter(name)
			if lint == nil {
				return 0, &valueFault{pos: p, rule: "linter:" + name, msg: fmt.Sprintf("unknown linter %q in the AI table", name)}
			}
			if f := lint(lc, comp); f != nil {
				at := p + f.pos
				end := at + f.len
				if end > p+n {
					end = p + n
				}
				markup := "(" + e.ai + ")" + data[:at] + "|" + data[at:end] + "|" + data[end:p+n]
				bad := data[at:end]
				msg := fmt.Sprintf("%q has %s", data[:p+n], f.code.Describe())
				if bad != "" && bad != data[:p+n] {
					msg = fmt.Sprintf("%q has %s %q", data[:p+n], f.code.Describe(), bad)
				}
				return 0, &valueFault{pos: at, rule: "linter:" + name, lint: f.code, markup: markup, msg: msg + " (linter " + name + ")"}
			}
		}
		p += n
	}
	return p, nil
}

func (pt part) describe() string {
	if pt.min == pt.max {
		return fmt.Sprintf("%c%d", pt.cset, pt.max)
	}
	return fmt.Sprintf("%c%d..%d", pt.cset, pt.min, pt.max)
}

func csetLinter(c byte) string {
	switch c {
	case 'N':
		return "csetnumeric"
	case 'X':
		return "cset82"
	case 'Y':
		return "cset39"
	}
	return "cset64"
}
