package epcis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/linestation/linestation/station/epcis/internal/cbvgen"
)

// cbv_gen.go is exactly what the generator makes of the standard's JSON-LD
// contexts: no value can be missing, added or misspelt.
func TestCBV_GeneratedFromContexts(t *testing.T) {
	want, err := cbvgen.Generate(filepath.Join(standards, "epcis-2.0/context"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("cbv_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("cbv_gen.go is stale; run go generate ./station/epcis (-want +got):\n%s", diff)
	}
}

// The code lists also agree with the JSON schema's enums, a second
// official source.
func TestCBV_MatchesJSONSchema(t *testing.T) {
	for _, c := range []struct {
		file, def string
		names     []string
	}{
		{"bizStep-JSON-Schema.json", "bizStep", bizStepNames[:]},
		{"disposition-JSON-Schema.json", "disposition", dispositionNames[:]},
		{"bizTransaction-type-JSON-Schema.json", "bizTransaction-type", bizTransactionTypeNames[:]},
		{"source-dest-type-JSON-Schema.json", "source-dest-type", sourceDestTypeNames[:]},
		{"error-reason-JSON-Schema.json", "error-reason", errorReasonNames[:]},
		{"component-JSON-Schema.json", "component", componentNames[:]},
	} {
		data, err := os.ReadFile(filepath.Join(standards, "epcis-2.0/json-schema/schemas", c.file))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Definitions map[string]struct {
				AnyOf []struct {
					Enum []string `json:"enum"`
				} `json:"anyOf"`
			} `json:"definitions"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var enum []string
		for _, a := range doc.Definitions[c.def].AnyOf {
			enum = append(enum, a.Enum...)
		}
		sort.Strings(enum)
		if diff := cmp.Diff(enum, c.names); diff != "" {
			t.Errorf("%s: schema enum vs generated list (-schema +generated):\n%s", c.file, diff)
		}
	}
}

func TestCBV_Forms(t *testing.T) {
	if s, ok := BizStepShipping.Short(); !ok || s != "shipping" {
		t.Errorf("Short=%q %v", s, ok)
	}
	if got := cbvBizStep.canonical("https://ref.gs1.org/cbv/BizStep-shipping"); got != string(BizStepShipping) {
		t.Errorf("canonical(web URI)=%q", got)
	}
	if got := cbvDisposition.canonical("in_transit"); got != string(DispositionInTransit) {
		t.Errorf("canonical(short)=%q", got)
	}
	if got := cbvBizStep.jsonForm("urn:example:step"); got != "urn:example:step" {
		t.Errorf("jsonForm of a non-CBV value=%q", got)
	}
}
