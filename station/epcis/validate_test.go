package epcis

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate_Examples(t *testing.T) {
	files := []string{filepath.Join(standards, gs1USExample)}
	more, _ := filepath.Glob(filepath.Join(standards, "epcis-2.0/json-schema/test/*.json"))
	files = append(files, more...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Validate(context.Background(), bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Valid() {
				t.Fatalf("problems: %v", rep.Problems)
			}
			if rep.Events == 0 {
				t.Fatal("no events counted")
			}
		})
	}
	rep, err := Validate(context.Background(), MustOpenStandard(t, gs1USExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Summary(), "EPCIS 1.2 XML, 8 events: 4 ObjectEvent, 4 AggregationEvent"; got != want {
		t.Errorf("Summary=%q, want %q", got, want)
	}
}

// Each broken document is reported with the event index, path and reason.
func TestValidate_Problems(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(standards, gs1USExample))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(orig)
	for _, c := range []struct {
		name, old, new string
		event          int
		path, reason   string
	}{
		{"BadAction", "<action>OBSERVE</action>", "<action>MOVE</action>", 7, "ObjectEvent/action", "is not ADD, OBSERVE or DELETE"},
		{"BadCheckDigit", "urn:epc:id:sgtin:030001.0012345.11<", "urn:epc:id:sgtin:030001.001234X.11<", 0, "ObjectEvent/epcList[0]", "not a valid EPC URI"},
		{"UnknownBizStep", "urn:epcglobal:cbv:bizstep:shipping", "urn:epcglobal:cbv:bizstep:shipped", 7, "ObjectEvent/bizStep", "is not a CBV business step"},
		{"BadTime", "<eventTime>2023-03-27T06:50:16Z", "<eventTime>2023-03-27 06:50", 2, "AggregationEvent/eventTime", "not an XML Schema dateTime"},
		{"Misordered", "<action>ADD</action>\n                <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>", "<bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>\n                <action>ADD</action>", 0, "ObjectEvent/action", "misplaced"},
		{"BadOffset", "<eventTimeZoneOffset>-05:00</eventTimeZoneOffset>", "<eventTimeZoneOffset>-5</eventTimeZoneOffset>", 0, "ObjectEvent/eventTimeZoneOffset", "is not an offset"},
		{"UnknownElement", "<disposition>urn:epcglobal:cbv:disp:in_transit</disposition>", "<disposition>urn:epcglobal:cbv:disp:in_transit</disposition><colour>red</colour>", 7, "ObjectEvent/colour", "unexpected element"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(doc, c.old, c.new, 1)
			if bad == doc {
				t.Fatalf("test setup: %q not found", c.old)
			}
			rep, err := Validate(context.Background(), strings.NewReader(bad), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Valid() {
				t.Fatal("broken document reported valid")
			}
			p := rep.Problems[0]
			if p.Event != c.event || p.Path != c.path || !strings.Contains(p.Reason, c.reason) {
				t.Fatalf("problem=%+v, want event %d path %s reason ~%q", p, c.event, c.path, c.reason)
			}
		})
	}
}
