package gs1

import (
	"strings"
	"testing"
)

// A serial, lot or extension may hold dots, unescaped in the URI (TDS):
// only the components before it are split at dots.
func TestParseEPCURI_DotInLastComponent(t *testing.T) {
	for uri, want := range map[string]string{
		"urn:epc:id:sgtin:0614141.812345.A.B":    "(01)80614141123458(21)A.B",
		"urn:epc:class:lgtin:0614141.812345.L.1": "(01)80614141123458(10)L.1",
		"urn:epc:id:sgln:0614141.12345.x.y":      "(414)0614141123452(254)x.y",
	} {
		m, err := ParseEPCURI(uri)
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if got := m.HRI(); got != want {
			t.Fatalf("%s = %s, want %s", uri, got, want)
		}
	}
	if _, err := ParseEPCURI("urn:epc:id:sscc:0614141.1234567890.1"); err == nil || !strings.Contains(err.Error(), "2 dot-separated parts") {
		t.Fatalf("an SSCC URI with three parts: %v, want refused", err)
	}
}

// TestEPCEscapeString: the escape of a value with nothing to escape is the
// value, and every escaped character is escaped wherever it stands.
func TestEPCEscapeString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"S0000001", "S0000001"},
		{"a.b-c_d*e!'()+,:;=", "a.b-c_d*e!'()+,:;="},
		{`"%&/<>?`, "%22%25%26%2F%3C%3E%3F"},
		{"AB/CD%", "AB%2FCD%25"},
		{"\xffé/x", "\xffé%2Fx"},
	} {
		if got := epcEscapeString(tt.in); got != tt.want {
			t.Errorf("epcEscapeString(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
	if len(epcEscaped) != len(epcEscape) {
		t.Fatalf("epcEscaped %q does not list the %d keys of epcEscape", epcEscaped, len(epcEscape))
	}
	for i := 0; i < len(epcEscaped); i++ {
		if _, ok := epcEscape[epcEscaped[i]]; !ok {
			t.Errorf("epcEscaped lists %q, which epcEscape does not escape", epcEscaped[i])
		}
	}
}
