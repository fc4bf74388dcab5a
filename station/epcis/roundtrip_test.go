package epcis

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/linestation/linestation/station/epcis/epcistest"
	"github.com/linestation/linestation/station/stationtest"
)

const gs1USExample = "dscsa/GS1_US_Pharma_Example_2_2_1_1.xml"

// MustWrite writes a document in format f and returns its bytes.
func MustWrite(tb testing.TB, f Format, h *Header, events []*Event) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, h)
	if err != nil {
		tb.Fatalf("NewWriter(%s): %v", f, err)
	}
	for _, e := range events {
		if err := w.WriteEvent(e); err != nil {
			tb.Fatalf("WriteEvent(%s): %v", f, err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("Close(%s): %v", f, err)
	}
	return buf.Bytes()
}

// MustXSDValid validates an XML document with xmllint against the XSD of
// its version, in the shared standards folder.
func MustXSDValid(tb testing.TB, f Format, doc []byte) {
	tb.Helper()
	xmllint := stationtest.RequireCommand(tb, "xmllint", "apt-get install libxml2-utils")
	xsd := filepath.Join(standards, "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd")
	if f == FormatXML20 {
		xsd = filepath.Join(standards, "epcis-2.0/xsd/EPCglobal-epcis-2_0.xsd")
	}
	path := filepath.Join(tb.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", xsd, path).CombinedOutput()
	if err != nil {
		tb.Fatalf("xmllint rejects the %s document: %v\n%s\n--- document ---\n%s", f, err, out, clipDoc(doc))
	}
}

func clipDoc(doc []byte) string {
	if len(doc) > 6000 {
		return string(doc[:6000]) + "\n..."
	}
	return string(doc)
}

// MustJSONSchema compiles the EPCIS 2.0 JSON schema from the shared
// standards folder.
func MustJSONSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	sch, err := epcistest.CompileJSONSchema(filepath.Join(standards, "epcis-2.0/json-schema"))
	if err != nil {
		tb.Fatal(err)
	}
	return sch
}

// MustJSONValid validates a JSON-LD document against the EPCIS 2.0 JSON schema.
func MustJSONValid(tb testing.TB, sch *jsonschema.Schema, doc []byte) {
	tb.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		tb.Fatalf("the JSON-LD document is not JSON: %v\n%s", err, clipDoc(doc))
	}
	if err := sch.Validate(v); err != nil {
		tb.Fatalf("the JSON schema rejects the document: %v\n%s", err, clipDoc(doc))
	}
}

// cmpModel compares models; namespace declarations are presentation.
var cmpModel = []cmp.Option{
	cmpopts.IgnoreFields(Header{}, "Namespaces", "SchemaVersion"),
	cmpopts.EquateEmpty(),
}

func TestReader_GS1USExample(t *testing.T) {
	h, events := MustReadDoc(t, MustOpenStandard(t, gs1USExample))
	if got, want := len(events), 8; got != want {
		t.Fatalf("events=%d, want %d", got, want)
	}
	if h.SBDH == nil || h.SBDH.Sender[0].Identifier != "urn:epc:id:sgln:030001.111111.0" || h.SBDH.Receiver[0].Identifier != "urn:epc:id:sgln:039999.999999.0" {
		t.Fatalf("SBDH=%+v", h.SBDH)
	}
	if got, want := h.SBDH.InstanceIdentifier, "1100220001"; got != want {
		t.Errorf("InstanceIdentifier=%q, want %q", got, want)
	}
	ts, ok := h.TransactionStatement()
	if !ok || !ts.Affirm || ts.LegalNotice != DSCSALegalNotice {
		t.Errorf("TransactionStatement=%+v %v", ts, ok)
	}
	if got, want := h.GuidelineVersion(), "GS1 US DSCSA R1.3"; got != want {
		t.Errorf("GuidelineVersion=%q, want %q", got, want)
	}
	if len(h.MasterData) != 2 || len(h.MasterData[0].Elements) != 2 || len(h.MasterData[1].Elements) != 4 {
		t.Fatalf("master data=%+v", h.MasterData)
	}
	product := EPCClassOf(h.MasterData[0].Elements[0])
	want := EPCClass{ID: "urn:epc:idpat:sgtin:030001.0012345.*", AdditionalTradeItemIdentification: "0001-0123-45",
		AdditionalTradeItemIdentificationTypeCode: TypeCodeNDC, RegulatedProductName: "Epcistra", ManufacturerOfTradeItemPartyName: "GS1 Pharma LLC",
		DosageFormType: "PILL", StrengthDescription: "100mg", NetContentDescription: "500 pills"}
	if product != want {
		t.Errorf("product=%+v, want %+v", product, want)
	}
	if loc := LocationOf(h.MasterData[1].Elements[2]); loc.City != "New York" || loc.PostalCode != "10003-1502" || loc.CountryCode != "US" {
		t.Errorf("location=%+v", loc)
	}
	e0 := events[0]
	if e0.Type != ObjectEvent || len(e0.EPCList) != 12 || e0.Action != ActionAdd || e0.BizStep != BizStepCommissioning || e0.Disposition != DispositionActive {
		t.Errorf("event 0=%+v", e0)
	}
	if len(e0.ILMD) != 2 || e0.ILMD[0].Space != NamespaceCBVMDA || e0.ILMD[0].Local != "lotNumber" || e0.ILMD[0].Text != "A123" {
		t.Errorf("event 0 ILMD=%+v", e0.ILMD)
	}
	ship := events[7]
	if ship.BizStep != BizStepShipping || len(ship.BizTransactionList) != 2 || ship.BizTransactionList[0].Type != BizTransactionTypePO ||
		len(ship.SourceList) != 2 || ship.SourceList[0].Type != SourceDestTypeOwningParty || len(ship.DestinationList) != 2 {
		t.Errorf("shipping event=%+v", ship)
	}
	if len(ship.Extensions) != 1 || ship.Extensions[0].Space != NamespaceGS1USHC || ship.Extensions[0].Local != "dropShipment" || ship.Extensions[0].Text != "false" {
		t.Errorf("shipping extensions=%+v", ship.Extensions)
	}
	agg := events[6]
	if agg.Type != AggregationEvent || agg.ParentID != "urn:epc:id:sscc:030001.41234567890" || len(agg.ChildEPCs) != 3 {
		t.Errorf("pallet aggregation=%+v", agg)
	}
}

// 1.2 XML -> model -> 2.0 JSON-LD -> model -> 1.2 XML -> model loses
// nothing, and every document on the way validates (xmllint, JSON schema).
func TestRoundTrip_GS1USExample(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(standards, gs1USExample))
	if err != nil {
		t.Fatal(err)
	}
	MustXSDValid(t, FormatXML12, orig)
	h1, ev1 := MustReadDoc(t, bytes.NewReader(orig))

	jsonDoc := MustWrite(t, FormatJSONLD20, h1, ev1)
	MustJSONValid(t, MustJSONSchema(t), jsonDoc)
	h2, ev2 := MustReadDoc(t, bytes.NewReader(jsonDoc))
	if diff := cmp.Diff(h1, h2, cmpModel...); diff != "" {
		t.Errorf("header after JSON-LD (-1.2 +JSON-LD):\n%s", diff)
	}
	if diff := cmp.Diff(ev1, ev2, cmpModel...); diff != "" {
		t.Errorf("events after JSON-LD (-1.2 +JSON-LD):\n%s", diff)
	}

	xml12 := MustWrite(t, FormatXML12, h2, ev2)
	MustXSDValid(t, FormatXML12, xml12)
	h3, ev3 := MustReadDoc(t, bytes.NewReader(xml12))
	if diff := cmp.Diff(h1, h3, cmpModel...); diff != "" {
		t.Errorf("header after 1.2 XML again:\n%s", diff)
	}
	if diff := cmp.Diff(ev1, ev3, cmpModel...); diff != "" {
		t.Errorf("events after 1.2 XML again:\n%s", diff)
	}

	xml20 := MustWrite(t, FormatXML20, h1, ev1)
	MustXSDValid(t, FormatXML20, xml20)
	h4, ev4 := MustReadDoc(t, bytes.NewReader(xml20))
	if diff := cmp.Diff(h1, h4, cmpModel...); diff != "" {
		t.Errorf("header after 2.0 XML:\n%s", diff)
	}
	if diff := cmp.Diff(ev1, ev4, cmpModel...); diff != "" {
		t.Errorf("events after 2.0 XML:\n%s", diff)
	}
	for i := range ev1 {
		if ev1[i].Hash() != ev2[i].Hash() || ev1[i].Hash() != ev4[i].Hash() {
			t.Errorf("event %d: hash differs between formats", i)
		}
	}
}

// The standard's JSON examples (single events) read, validate, convert to
// the formats that can carry them, and come back the same.
func TestRoundTrip_EPCIS20Examples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(standards, "epcis-2.0/json-schema/test/*.json"))
	if len(files) == 0 {
		t.Fatal("no EPCIS 2.0 JSON examples found")
	}
	sch := MustJSONSchema(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			MustJSONValid(t, sch, data)
			h, events := MustReadDoc(t, bytes.NewReader(data))
			if len(events) != 1 {
				t.Fatalf("events=%d, want 1", len(events))
			}
			if h.CreationDate.IsZero() {
				h.CreationDate = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			targets := []Format{FormatJSONLD20, FormatXML20, FormatXML12}
			for _, tf := range targets {
				var buf bytes.Buffer
				w, err := NewWriter(&buf, tf, h)
				if err != nil {
					t.Fatalf("NewWriter(%s): %v", tf, err)
				}
				err = w.WriteEvent(events[0])
				var unrep *UnrepresentableError
				if errorsAs(err, &unrep) {
					t.Logf("%s: refused as expected: %v", tf, err)
					if tf == FormatJSONLD20 {
						t.Fatalf("JSON-LD must carry every JSON-LD example: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				switch tf {
				case FormatJSONLD20:
					MustJSONValid(t, sch, buf.Bytes())
				default:
					MustXSDValid(t, tf, buf.Bytes())
				}
				_, back := MustReadDoc(t, bytes.NewReader(buf.Bytes()))
				if diff := cmp.Diff(events, back, append(cmpModel, cmpopts.IgnoreFields(Element{}, "Kind"))...); diff != "" {
					t.Errorf("%s round trip (-orig +back):\n%s", tf, diff)
				}
			}
		})
	}
}

func errorsAs(err error, target **UnrepresentableError) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*UnrepresentableError)
	if ok {
		*target = e
	}
	return ok
}
