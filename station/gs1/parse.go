package gs1

import (
	"fmt"
	"strings"
	"time"
)

// Form is the kind of input Parse recognised.
type Form string

// The input forms Parse tells apart by their first characters.
const (
	FormBracketed   Form = "bracketed"    // starts with "("
	FormFNC1        Form = "fnc1"         // starts with "^" or GS
	FormScanData    Form = "scan"         // starts with "]" (a symbology identifier)
	FormDigitalLink Form = "digital-link" // starts with http:// or https://
	FormEPCURI      Form = "epc-uri"      // starts with urn:epc:
)

// DetectForm tells which form s is written in, or "" when it is none of them.
func DetectForm(s string) Form {
	switch {
	case strings.HasPrefix(s, "("):
		return FormBracketed
	case strings.HasPrefix(s, "^") || strings.HasPrefix(s, string(rune(gs))):
		return FormFNC1
	case strings.HasPrefix(s, "]"):
		return FormScanData
	case len(s) >= 7 && strings.EqualFold(s[:7], "http://") || len(s) >= 8 && strings.EqualFold(s[:8], "https://"):
		return FormDigitalLink
	case strings.HasPrefix(s, "urn:epc:"):
		return FormEPCURI
	}
	return ""
}

// Parse reads GS1 data in any form of DetectForm, with the default options.
func Parse(s string) (*Message, error) { return Options{}.Parse(s) }

// Parse reads GS1 data in any form of DetectForm and checks it.
func (o Options) Parse(s string) (*Message, error) {
	switch DetectForm(s) {
	case FormBracketed:
		return o.ParseBracketed(s)
	case FormFNC1:
		return o.ParseElementString(s)
	case FormScanData:
		sc, err := o.ParseScanData(s)
		if err != nil {
			return nil, err
		}
		if sc.Message == nil {
			if sc.Primary != "" {
				gtin, err := NormalizeGTIN(sc.Primary)
				if err != nil {
					return nil, err
				}
				return &Message{Elements: []Element{{AI: "01", Value: gtin, entry: lookupAI("01", false), pos: 3}}}, nil
			}
			return nil, errAt(3, "scan", "%s scan holds plain text, not GS1 data", sc.Symbology)
		}
		if sc.Primary != "" {
			gtin, err := NormalizeGTIN(sc.Primary)
			if err != nil {
				return nil, err
			}
			m := &Message{Elements: append([]Element{{AI: "01", Value: gtin, entry: lookupAI("01", false), pos: 3}}, sc.Message.Elements...)}
			return m, nil
		}
		return sc.Message, nil
	case FormDigitalLink:
		dl, err := o.ParseDigitalLink(s)
		if err != nil {
			return nil, err
		}
		return &dl.Message, nil
	case FormEPCURI:
		return o.ParseEPCURI(s)
	}
	if s == "" {
		return nil, errAt(0, "syntax", "input is empty")
	}
	return nil, errAt(0, "syntax", "cannot tell the form of the input: start bracketed data with \"(\", FNC1 data with \"^\", scan data with its symbology identifier (]d2), a Digital Link with https://, an EPC URI with urn:epc:")
}

// Summary holds the identifiers a packaging station works with, taken from
// a message. Empty fields were not present.
type Summary struct {
	GTIN   string // (01), 14 digits
	Serial string // (21)
	Lot    string // (10)
	// Expiry is (17) as YYYY-MM-DD; a day of 00 means the last day of the
	// month and is resolved to it.
	Expiry string
	SSCC   string // (00)
	// NDC is the US National Drug Code: the value of (715) when present,
	// else the ten digits embedded in a US GTIN (indicator, "03", NDC).
	NDC string
	// NDCSource says where NDC came from and in which form.
	NDCSource string
}

// Summary extracts the station's identifiers. ref resolves the century of
// two-digit years (the GS1 sliding window: up to 49 years back, 50 ahead).
func (m *Message) Summary(ref time.Time) Summary {
	var s Summary
	s.GTIN, _ = m.Get("01")
	s.Serial, _ = m.Get("21")
	s.Lot, _ = m.Get("10")
	s.SSCC, _ = m.Get("00")
	if v, ok := m.Get("17"); ok {
		if t, err := ExpiryDate(v, ref); err == nil {
			s.Expiry = t.Format("2006-01-02")
		}
	}
	if v, ok := m.Get("715"); ok {
		s.NDC, s.NDCSource = v, "AI (715) as encoded"
	} else if s.GTIN != "" {
		if n, err := NDCFromGTIN(s.GTIN); err == nil {
			s.NDC = n.Digits
			s.NDCSource = "from the GTIN: 10 digits without dashes, since a GTIN does not record the 4-4-2, 5-3-2 or 5-4-1 split"
		}
	}
	return s
}

// ExpiryDate reads a GS1 YYMMDD date such as (17). Day 00 means the last day
// of the month. The century follows the GS1 General Specifications: a year
// more than 50 years ahead of ref is in the previous century, one 50 or more
// years behind it in the next.
func ExpiryDate(yymmdd string, ref time.Time) (time.Time, error) {
	if f := lintDate(yymmdd, 2, true); f != nil {
		return time.Time{}, errAt(f.pos, "date", "%q has %s", yymmdd, f.code.Describe())
	}
	y := fullYear(atoi2(yymmdd[:2]), ref.Year())
	mo := atoi2(yymmdd[2:4])
	d := atoi2(yymmdd[4:])
	if d == 0 {
		d = daysIn(y, mo)
	}
	if d > daysIn(y, mo) {
		return time.Time{}, errAt(4, "date", "%q: %d-%02d has no day %d", yymmdd, y, mo, d)
	}
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), nil
}

// String returns the HRI form, for logs and %v.
func (m *Message) String() string { return m.HRI() }

// Describe lists the elements as "(AI) TITLE: value" lines.
func (m *Message) Describe() string {
	var b strings.Builder
	for _, e := range m.Elements {
		fmt.Fprintf(&b, "(%s) %s: %s\n", e.AI, e.Title(), e.Value)
	}
	return b.String()
}
