package gs1

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// seeds returns the string arguments of the engine vectors of the given
// macros, plus extra inputs.
func seeds(f *testing.F, macros []string, extra ...string) {
	f.Helper()
	want := map[string]bool{}
	for _, m := range macros {
		want[m] = true
	}
	for _, v := range loadVectors(f, engineVectors) {
		if !want[v.Macro] {
			continue
		}
		for _, raw := range v.Args {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" {
				f.Add(s)
			}
		}
	}
	for _, s := range extra {
		f.Add(s)
	}
}

// sameElements reports whether two messages hold the same AIs and values,
// in any order and ignoring exact repeats.
func sameElements(a, b *Message) bool {
	key := func(m *Message) []string {
		set := map[string]bool{}
		for _, e := range m.Elements {
			set[e.AI+"\x00"+e.Value] = true
		}
		var out []string
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	return strings.Join(key(a), "|") == strings.Join(key(b), "|")
}

// roundTrip checks that a parsed message survives HRI, FNC1 and scan-data
// encoding.
func roundTrip(t *testing.T, in string, m *Message) {
	t.Helper()
	lax := Options{NoAssociations: true}
	back, err := lax.ParseBracketed(m.HRI())
	if err != nil || !sameElements(m, back) {
		t.Fatalf("%q: HRI %q did not parse back to the same AIs: %v", in, m.HRI(), err)
	}
	enc := m.Encode()
	back, err = lax.ParseElementString(enc)
	if err != nil || !sameElements(m, back) {
		t.Fatalf("%q: encoding %q did not parse back to the same AIs: %v", in, enc, err)
	}
	if strings.Count(enc, "^") > len(m.Elements) {
		t.Fatalf("%q: encoding %q has more FNC1 than AIs", in, enc)
	}
	scan, err := m.ScanData(SymDM)
	if err != nil {
		t.Fatalf("%q: scan data: %v", in, err)
	}
	sc, err := lax.ParseScanData(scan)
	if err != nil || sc.Message == nil || !sameElements(m, sc.Message) {
		t.Fatalf("%q: scan data %q did not parse back: %v", in, scan, err)
	}
}

func FuzzParseBracketed(f *testing.F) {
	seeds(f, []string{"test_parseAIdata", "test_validateAIs", "test_errMarkup", "test_testGenerateDLuri"},
		`(01)10300010123452(17)261231(10)LOT\(1)(21)SER`)
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseBracketed(in)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error %v is not *Error", in, err)
			}
			return
		}
		roundTrip(t, in, m)
	})
}

func FuzzParseElementString(f *testing.F) {
	seeds(f, []string{"test_processAIdata"}, "^011030001012345217261231\x1d10A^21B")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := Options{NoAssociations: true}.ParseElementString(in)
		if err != nil {
			return
		}
		roundTrip(t, in, m)
	})
}

func FuzzParseScanData(f *testing.F) {
	seeds(f, []string{"test_testProcessScanData", "test_testGenerateScanData"})
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := Options{NoAssociations: true}.ParseScanData(in)
		if err != nil || sc.Message == nil || !strings.HasPrefix(sc.Data, "^") {
			return
		}
		roundTrip(t, in, sc.Message)
	})
}

func FuzzParseDigitalLink(f *testing.F) {
	seeds(f, []string{"test_parseDLuri"})
	f.Fuzz(func(t *testing.T, in string) {
		dl, err := ParseDigitalLink(in)
		if err != nil {
			return
		}
		roundTrip(t, in, &dl.Message)
		uri := dl.URI("https://example.com")
		back, err := ParseDigitalLink(uri)
		if err != nil || !sameElements(&dl.Message, &back.Message) {
			t.Fatalf("%q: written as %q, which did not parse back: %v", in, uri, err)
		}
	})
}

func FuzzParseEPCURI(f *testing.F) {
	for _, s := range []string{
		"urn:epc:id:sgtin:0300010.112345.A%2FB%251", "urn:epc:id:sscc:030001.41234567890",
		"urn:epc:id:sgln:0614141.12345.5678", "urn:epc:id:sgln:0614141.12345.0",
		"urn:epc:class:lgtin:0300010.012345.LOT1", "urn:epc:idpat:sgtin:0300010.012345.*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseEPCURI(in)
		if err != nil {
			return
		}
		roundTrip(t, in, m)
		if strings.HasPrefix(in, "urn:epc:idpat:") {
			return
		}
		rest := in[strings.LastIndexByte(in[:strings.IndexByte(in, '.')], ':')+1:]
		gcpLen := strings.IndexByte(rest, '.')
		uri, err := m.EPCURI(gcpLen)
		if err != nil {
			t.Fatalf("%q: cannot write EPC URI back: %v", in, err)
		}
		back, err := ParseEPCURI(uri)
		if err != nil || !sameElements(m, back) {
			t.Fatalf("%q: written as %q, which did not parse back: %v", in, uri, err)
		}
	})
}
