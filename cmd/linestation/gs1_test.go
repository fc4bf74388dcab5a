package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// runCLI runs the real program in-process and returns its exit status and
// output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// decodeLines decodes one JSON object per output line, keeping key order
// checks possible through the raw lines.
func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("output line is not JSON: %q: %v", line, err)
		}
		res = append(res, m)
	}
	return res
}

func TestGS1Parse_Argument(t *testing.T) {
	code, out, stderr := runCLI(t, "", "gs1", "parse", "(01)10300010123452(17)280200(10)LOT\\(1)(21)SN/1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	res := decodeLines(t, out)
	if len(res) != 1 {
		t.Fatalf("%d lines, want 1", len(res))
	}
	r := res[0]
	for key, want := range map[string]any{
		"ok":          true,
		"hri":         `(01)10300010123452(17)280200(10)LOT\(1)(21)SN/1`,
		"fnc1":        "^01103000101234521728020010LOT(1)^21SN/1",
		"digitalLink": "https://id.gs1.org/01/10300010123452/10/LOT%281%29/21/SN%2F1?17=280200",
		"gtin":        "10300010123452",
		"serial":      "SN/1",
		"lot":         "LOT(1)",
		"expiry":      "2028-02-29",
		"ndc":         "0001012345",
	} {
		if r[key] != want {
			t.Errorf("%s=%v, want %v", key, r[key], want)
		}
	}
	if _, ok := r["error"]; ok {
		t.Errorf("error present on success: %v", r["error"])
	}
	if _, ok := r["sscc"]; ok {
		t.Errorf("sscc present without (00)")
	}
	ais, _ := r["ais"].([]any)
	if len(ais) != 4 {
		t.Fatalf("ais=%v", r["ais"])
	}
	first, _ := ais[0].(map[string]any)
	if first["ai"] != "01" || first["value"] != "10300010123452" || first["title"] != "GTIN" {
		t.Errorf("ais[0]=%v", first)
	}
	// The contract fixes the order of the keys.
	order := []string{`"input"`, `"ok"`, `"hri"`, `"fnc1"`, `"digitalLink"`, `"ais"`, `"gtin"`, `"serial"`, `"lot"`, `"expiry"`, `"ndc"`}
	last := -1
	for _, k := range order {
		i := strings.Index(out, k+":")
		if i < last {
			t.Errorf("key %s out of order in %s", k, out)
		}
		last = i
	}
}

func TestGS1Parse_Stdin(t *testing.T) {
	in := "]d2010030001012345517261231\x1d10A\x1d21S\r\n" + // scan with GS, CRLF
		"^00403000112345678901\n" +
		"(21)ALONE\n" +
		"https://id.gs1.org/01/10300010123452/21/X?17=261300\n" +
		"urn:epc:id:sscc:030001.41234567890\n" +
		"0110300010123452"
	code, out, _ := runCLI(t, in, "gs1", "parse")
	if code != exitFail {
		t.Fatalf("exit %d, want %d (some inputs fail)", code, exitFail)
	}
	res := decodeLines(t, out)
	if len(res) != 6 {
		t.Fatalf("%d answers for 6 lines:\n%s", len(res), out)
	}
	want := []struct {
		ok   bool
		text string
	}{
		{true, ""}, {true, ""}, {false, "requires (01)"}, {false, "illegal month"}, {true, ""}, {false, "cannot tell the form"},
	}
	for i, w := range want {
		if res[i]["ok"] != w.ok {
			t.Errorf("line %d: ok=%v, want %v (%v)", i+1, res[i]["ok"], w.ok, res[i]["error"])
		}
		if errText, _ := res[i]["error"].(string); !strings.Contains(errText, w.text) {
			t.Errorf("line %d: error %q, want it to say %q", i+1, errText, w.text)
		}
	}
	if got := res[0]["input"]; got != "]d2010030001012345517261231\x1d10A\x1d21S" {
		t.Errorf("input=%q: the CR must be stripped and the GS kept", got)
	}
	if res[0]["serial"] != "S" || res[0]["lot"] != "A" {
		t.Errorf("scan: %v", res[0])
	}
	if res[1]["sscc"] != "403000112345678901" || res[4]["sscc"] != "403000112345678901" {
		t.Errorf("sscc: %v / %v", res[1]["sscc"], res[4]["sscc"])
	}
}

func TestGS1Parse_NoAssociations(t *testing.T) {
	code, out, _ := runCLI(t, "", "gs1", "parse", "(21)ALONE", "--no-associations")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	if r := decodeLines(t, out)[0]; r["ok"] != true || r["serial"] != "ALONE" {
		t.Errorf("result %v", r)
	}
	code, out, _ = runCLI(t, "", "gs1", "parse", "--no-associations", "(21)AL~NE")
	if code != exitFail || !strings.Contains(out, "GS1 character set 82") {
		t.Errorf("exit %d, %s: linters must still apply", code, out)
	}
}

func TestGS1_Subcommands(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gs1", "ndc2gtin", "0001-0123-45"}, "00300010123455\n"},
		{[]string{"gs1", "ndc2gtin", "0001-0123-45", "--indicator", "1"}, "10300010123452\n"},
		{[]string{"gs1", "ndc2gtin", "--indicator=1", "0001012345", "--format", "4-4-2"}, "10300010123452\n"},
		{[]string{"gs1", "gtin2ndc", "10300010123452"}, "0001012345\n"},
		{[]string{"gs1", "gtin2ndc", "10300010123452", "--format", "4-4-2"}, "0001-0123-45\n"},
		{[]string{"gs1", "sscc", "--prefix", "030001", "--ext", "4", "--ref", "1234567890"}, "403000112345678901\n"},
		{[]string{"gs1", "check-digit", "1030001012345"}, "10300010123452\n"},
	} {
		code, out, stderr := runCLI(t, "", tt.args...)
		if code != exitOK || out != tt.want {
			t.Errorf("%v: exit %d, %q (stderr %q); want %q", tt.args, code, out, stderr, tt.want)
		}
	}
}

func TestGS1_Errors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		text string
	}{
		{[]string{"gs1"}, exitUsage, "missing command"},
		{[]string{"gs1", "frobnicate"}, exitUsage, "unknown command"},
		{[]string{"gs1", "parse", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"gs1", "ndc2gtin"}, exitUsage, "want exactly one NDC"},
		{[]string{"gs1", "ndc2gtin", "0001012345"}, exitFail, "ambiguous"},
		{[]string{"gs1", "ndc2gtin", "00001-0123-45"}, exitFail, "billing form"},
		{[]string{"gs1", "ndc2gtin", "0001-0123-45", "--indicator", "x"}, exitUsage, "invalid value"},
		{[]string{"gs1", "gtin2ndc", "09506000134352"}, exitFail, "does not embed an NDC"},
		{[]string{"gs1", "gtin2ndc", "10300010123452", "--format", "5-4-2"}, exitUsage, "not 4-4-2"},
		{[]string{"gs1", "sscc", "--prefix", "030001"}, exitUsage, "all required"},
		{[]string{"gs1", "sscc", "--prefix", "030001", "--ext", "4", "--ref", "12"}, exitFail, "serial reference must have 10"},
		{[]string{"gs1", "check-digit", "12a4"}, exitFail, "not a digit"},
		{[]string{"gs1", "check-digit"}, exitUsage, "exactly one"},
	} {
		code, out, stderr := runCLI(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.text) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d saying %q", tt.args, code, stderr, out, tt.code, tt.text)
		}
	}
}

func TestGS1_Help(t *testing.T) {
	for _, sub := range []string{"parse", "ndc2gtin", "gtin2ndc", "sscc", "check-digit"} {
		code, out, stderr := runCLI(t, "", "gs1", sub, "--help")
		if code != exitOK || !strings.Contains(out+stderr, "Usage: linestation gs1 "+sub) {
			t.Errorf("gs1 %s --help: exit %d, %q", sub, code, out+stderr)
		}
	}
	if code, out, _ := runCLI(t, "", "gs1", "--help"); code != exitOK || !strings.Contains(out, "check-digit") {
		t.Errorf("gs1 --help: exit %d, %q", code, out)
	}
	code, out, stderr := runCLI(t, "", "gs1", "check-digit", "--help")
	if code != exitOK || !strings.Contains(out+stderr, "check digit appended") && !strings.Contains(out+stderr, "followed by their GS1 mod-10 check digit") {
		t.Errorf("check-digit --help must say it appends the check digit: %q", out+stderr)
	}
}
