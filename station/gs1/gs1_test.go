package gs1

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station/gs1/internal/dict"
)

// TestAITable_MatchesDictionary re-parses the GS1 Barcode Syntax Dictionary
// and checks that the committed aitable.go is exactly what go generate
// writes from it, so the table can never drift from the standard.
func TestAITable_MatchesDictionary(t *testing.T) {
	f, err := os.Open(dictionary)
	if err != nil {
		t.Fatalf("open dictionary (the shared standards folder must sit beside the project): %v", err)
	}
	defer f.Close()
	entries, err := dict.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 500 {
		t.Fatalf("dictionary has only %d AIs", len(entries))
	}
	want, err := dict.Render(entries, filepath.Base(dictionary))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("aitable.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("aitable.go differs from the dictionary: run 'go generate ./station/gs1'")
	}
	// Every linter the dictionary names has an implementation.
	for _, e := range entries {
		for _, c := range e.Components {
			for _, l := range c.Linters {
				if lookupLinter(l) == nil {
					t.Errorf("AI (%s): linter %q has no implementation", e.AI, l)
				}
			}
		}
	}
	if got, want := len(aiTable), len(entries); got != want {
		t.Errorf("len(aiTable)=%d, want %d", got, want)
	}
}

func TestCheckDigit(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0950600013435", "09506000134352"}, // GTIN-14 from the GS1 General Specifications
		{"40300011234567890", "403000112345678901"},
		{"0030001012345", "00300010123455"},
		{"1030001012345", "10300010123452"},
		{"629104150021", "6291041500213"}, // GTIN-13
		{"9638507", "96385074"},           // GTIN-8
	} {
		got, err := AppendCheckDigit(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("AppendCheckDigit(%s)=%s, %v; want %s", tt.in, got, err, tt.want)
		}
		if err := ValidateCheckDigit(tt.want); err != nil {
			t.Errorf("ValidateCheckDigit(%s): %v", tt.want, err)
		}
	}
	err := ValidateCheckDigit("09506000134353")
	if err == nil || !strings.Contains(err.Error(), "09506000134353 has check digit 3; it should be 2") {
		t.Errorf("ValidateCheckDigit(bad)=%v", err)
	}
	if _, err := AppendCheckDigit("12A"); err == nil {
		t.Error("AppendCheckDigit(12A) succeeded")
	}
}

func TestNormalizeGTIN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"96385074", "00000096385074"},
		{"614141000036", "00614141000036"},
		{"6291041500213", "06291041500213"},
		{"09506000134352", "09506000134352"},
	} {
		if got, err := NormalizeGTIN(tt.in); err != nil || got != tt.want {
			t.Errorf("NormalizeGTIN(%s)=%s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "123", "0950600013435", "09506000134353", "0950600013435X"} {
		if _, err := NormalizeGTIN(bad); err == nil {
			t.Errorf("NormalizeGTIN(%q) succeeded", bad)
		}
	}
}

// TestNDC uses the worked example of DOMAIN.md section 1.
func TestNDC(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tt := range []struct {
			in        string
			format    NDCFormat
			indicator int
			want      string
		}{
			{"0001-0123-45", "", 0, "00300010123455"},
			{"0001-0123-45", "", 1, "10300010123452"},
			{"0001012345", NDC442, 0, "00300010123455"},
			{"50242-040-62", "", 0, "00350242040624"},
			{"50242-0406-2", "", 3, "30350242040625"},
		} {
			n, err := ParseNDC(tt.in, tt.format)
			if err != nil {
				t.Fatalf("ParseNDC(%s): %v", tt.in, err)
			}
			got, err := n.GTIN(tt.indicator)
			if err != nil || got != tt.want {
				t.Errorf("NDC %s indicator %d: GTIN=%s, %v; want %s", tt.in, tt.indicator, got, err, tt.want)
			}
			back, err := NDCFromGTIN(got)
			if err != nil || back.Digits != n.Digits {
				t.Errorf("NDCFromGTIN(%s)=%v, %v; want %s", got, back, err, n.Digits)
			}
		}
	})
	t.Run("Candidates", func(t *testing.T) {
		n, err := NDCFromGTIN("10300010123452")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(n.Candidates(), " ")
		if want := "0001-0123-45 00010-123-45 00010-1234-5"; got != want {
			t.Errorf("Candidates=%s, want %s", got, want)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tt := range []struct {
			in     string
			format NDCFormat
			want   string
		}{
			{"0001012345", "", "ambiguous"},
			{"00001-0123-45", "", "billing form"},
			{"00001012345", "", "billing form"},
			{"001-0123-45", "", "4-4-2, 5-3-2 or 5-4-1"},
			{"0001-0123", "", "three dash-separated parts"},
			{"0001-01A3-45", "", "must be digits"},
			{"12345", "", "has 5 digits"},
		} {
			_, err := ParseNDC(tt.in, tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseNDC(%s)=%v, want an error saying %q", tt.in, err, tt.want)
			}
		}
		if _, err := NDCFromGTIN("09506000134352"); err == nil || !strings.Contains(err.Error(), "03") {
			t.Errorf("NDCFromGTIN(non-US)=%v", err)
		}
		n, _ := ParseNDC("0001-0123-45", "")
		if _, err := n.GTIN(9); err == nil {
			t.Error("indicator 9 accepted")
		}
	})
}

func TestBuildSSCC(t *testing.T) {
	got, err := BuildSSCC("4", "030001", "1234567890")
	if err != nil || got != "403000112345678901" {
		t.Fatalf("BuildSSCC=%s, %v; want 403000112345678901 (DOMAIN.md)", got, err)
	}
	if _, err := BuildSSCC("4", "030001", "123"); err == nil || !strings.Contains(err.Error(), "must have 10") {
		t.Errorf("short serial reference: %v", err)
	}
	if _, err := BuildSSCC("44", "030001", "1234567890"); err == nil {
		t.Error("two-digit extension accepted")
	}
}

func TestEPCURI(t *testing.T) {
	t.Run("SSCC", func(t *testing.T) {
		uri, err := SSCCURI("403000112345678901", 6)
		if err != nil || uri != "urn:epc:id:sscc:030001.41234567890" {
			t.Fatalf("SSCCURI=%s, %v", uri, err)
		}
		m, err := ParseEPCURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Get("00"); v != "403000112345678901" {
			t.Errorf("(00)=%s", v)
		}
	})
	t.Run("SGTIN", func(t *testing.T) {
		uri, err := SGTINURI("10300010123452", "A/B%1", 7)
		if err != nil {
			t.Fatal(err)
		}
		if want := "urn:epc:id:sgtin:0300010.112345.A%2FB%251"; uri != want {
			t.Errorf("SGTINURI=%s, want %s", uri, want)
		}
		m, err := ParseEPCURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.HRI(); got != "(01)10300010123452(21)A/B%1" {
			t.Errorf("HRI=%s", got)
		}
		again, err := m.EPCURI(7)
		if err != nil || again != uri {
			t.Errorf("EPCURI=%s, %v", again, err)
		}
	})
	t.Run("Class", func(t *testing.T) {
		if uri, err := LGTINURI("00300010123455", "LOT1", 7); err != nil || uri != "urn:epc:class:lgtin:0300010.012345.LOT1" {
			t.Errorf("LGTINURI=%s, %v", uri, err)
		}
		if uri, err := SGTINPatternURI("00300010123455", 7); err != nil || uri != "urn:epc:idpat:sgtin:0300010.012345.*" {
			t.Errorf("SGTINPatternURI=%s, %v", uri, err)
		}
		m, err := ParseEPCURI("urn:epc:idpat:sgtin:0300010.012345.*")
		if err != nil || m.HRI() != "(01)00300010123455" {
			t.Errorf("parse idpat: %v %v", m, err)
		}
	})
	t.Run("SGLN", func(t *testing.T) {
		uri, err := SGLNURI("0614141123452", "5678", 7)
		if err != nil || uri != "urn:epc:id:sgln:0614141.12345.5678" {
			t.Fatalf("SGLNURI=%s, %v", uri, err)
		}
		m, err := ParseEPCURI(uri)
		if err != nil || m.HRI() != "(414)0614141123452(254)5678" {
			t.Errorf("parse sgln: %v %v", m, err)
		}
		if uri, _ := SGLNURI("0614141123452", "", 7); uri != "urn:epc:id:sgln:0614141.12345.0" {
			t.Errorf("no extension: %s", uri)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, bad := range []string{
			"urn:epc:id:sgtin:0300010.112345", "urn:epc:id:sgtin:03.1123456789012.1",
			"urn:epc:id:sgtin:0300010.112345.~", "urn:epc:id:giai:0614141.1", "urn:epc:idpat:sgtin:0300010.112345.5",
		} {
			if _, err := ParseEPCURI(bad); err == nil {
				t.Errorf("ParseEPCURI(%s) succeeded", bad)
			}
		}
		if _, err := SGTINURI("10300010123452", "1", 5); err == nil {
			t.Error("company prefix length 5 accepted")
		}
	})
}

// TestParse_Forms parses one pack in every form and checks they agree.
func TestParse_Forms(t *testing.T) {
	const hri = "(01)10300010123452(17)261200(10)LOT(1)A(21)SER/9"
	inputs := map[Form]string{
		FormBracketed:   `(01)10300010123452(17)261200(10)LOT\(1)A(21)SER/9`,
		FormFNC1:        "^01103000101234521726120010LOT(1)A^21SER/9",
		FormScanData:    "]d201103000101234521726120010LOT(1)A\x1d21SER/9",
		FormDigitalLink: "https://example.com/01/10300010123452/10/LOT%281%29A/21/SER%2F9?17=261200",
	}
	for form, in := range inputs {
		if got := DetectForm(in); got != form {
			t.Errorf("DetectForm(%q)=%s, want %s", in, got, form)
		}
		m, err := Parse(in)
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		s := m.Summary(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		if s.GTIN != "10300010123452" || s.Lot != "LOT(1)A" || s.Serial != "SER/9" || s.Expiry != "2026-12-31" || s.NDC != "0001012345" {
			t.Errorf("%s: summary %+v", form, s)
		}
		if got := m.Encoded().HRI(); got != `(01)10300010123452(17)261200(10)LOT\(1)A(21)SER/9` {
			t.Errorf("%s: encoded HRI %s", form, got)
		}
	}
	_ = hri
}

func TestMessage_Encode(t *testing.T) {
	m, err := ParseBracketed("(21)S1(10)L1(01)10300010123452(17)261231")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.ElementString(), "^21S1^10L1^011030001012345217261231"; got != want {
		t.Errorf("ElementString=%s, want %s", got, want)
	}
	if got, want := m.Encode(), "^011030001012345217261231 21S1^10L1"; got != strings.ReplaceAll(want, " ", "") {
		t.Errorf("Encode=%s, want %s", got, want)
	}
	if got := strings.Count(m.Encode(), "^"); got != 2 {
		t.Errorf("Encode uses %d FNC1, want 2 (leading + one separator)", got)
	}
	scan, err := m.ScanData(SymDM)
	if err != nil || scan != "]d2011030001012345217261231"+"21S1\x1d10L1" {
		t.Errorf("ScanData=%q, %v", scan, err)
	}
	dl, err := m.DigitalLink("")
	if err != nil || dl != "https://id.gs1.org/01/10300010123452/10/L1/21/S1?17=261231" {
		t.Errorf("DigitalLink=%s, %v", dl, err)
	}
}

func TestError_SaysWhatAndWhere(t *testing.T) {
	for _, tt := range []struct {
		in, ai, rule, text string
		pos                int
	}{
		{"(01)10300010123452(17)991332", "17", "linter:yymmd0", `"991332" has an illegal month "13"`, 24},
		{"(01)10300010123453", "01", "linter:csum", "incorrect check digit", 17},
		{"^0110300010123452172613", "17", "length", "wrong length", 19},
		{"(01)10300010123452(21)AB~C", "21", "linter:cset82", `"~"`, 24},
		{"(21)ABC", "21", "requisite", "requires (01) or (03) or (8006)", 4},
		{"(01)10300010123452(21)A(235)B", "21", "exclusive", "(235)", 22},
		{"(01)10300010123452(10)A(10)B", "10", "repeat", `"A" and "B"`, 27},
		{"(99)A(1A)B", "", "unknown-ai", `"1A" is not all digits`, 6},
		{"https://a/01/10300010123452?10=X", "10", "dl-query", "belongs in the URI path", 31},
	} {
		_, err := Parse(tt.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%s)=%v, want *Error", tt.in, err)
			continue
		}
		if e.AI != tt.ai || e.Rule != tt.rule || e.Pos != tt.pos || !strings.Contains(e.Error(), tt.text) {
			t.Errorf("Parse(%s): AI=%q rule=%q pos=%d %q; want AI=%q rule=%q pos=%d containing %q",
				tt.in, e.AI, e.Rule, e.Pos, e.Error(), tt.ai, tt.rule, tt.pos, tt.text)
		}
	}
}

func TestOptions_NoAssociations(t *testing.T) {
	if _, err := Parse("(21)ABC"); err == nil {
		t.Fatal("(21) without (01) accepted by default")
	}
	if _, err := (Options{NoAssociations: true}).Parse("(21)ABC"); err != nil {
		t.Fatalf("no-associations: %v", err)
	}
	if _, err := (Options{NoAssociations: true}).Parse("(21)AB~"); err == nil {
		t.Fatal("no-associations skipped the linters")
	}
}

func TestExpiryDate(t *testing.T) {
	ref := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ in, want string }{
		{"261231", "2026-12-31"},
		{"260200", "2026-02-28"},
		{"280200", "2028-02-29"},
		{"751231", "2075-12-31"}, // 50 years ahead stays in this century
		{"760101", "1976-01-01"}, // 51 years ahead is the previous century
	} {
		got, err := ExpiryDate(tt.in, ref)
		if err != nil || got.Format("2006-01-02") != tt.want {
			t.Errorf("ExpiryDate(%s)=%v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := ExpiryDate("261301", ref); err == nil {
		t.Error("month 13 accepted")
	}
}
