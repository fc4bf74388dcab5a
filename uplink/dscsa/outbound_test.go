package dscsa_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

var ctx = context.Background()

// MustExchange returns an exchange over db (not opened: tests drive Sync
// and DeliverDue themselves) with our company the manufacturer.
func MustExchange(tb testing.TB, db *centraldb.DB, gln string, mod ...func(*dscsa.Config)) *dscsa.Exchange {
	tb.Helper()
	dir := tb.TempDir()
	cfg := dscsa.Config{Store: db, GLN: gln, SpoolDir: filepath.Join(dir, "spool"), FilesDir: filepath.Join(dir, "outbound"),
		SecretsDir: filepath.Join(dir, "secrets"), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&cfg)
	}
	x, err := dscsa.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { x.Close() })
	return x
}

// shipped is a store with a shipped scenario and an exchange that has
// followed it.
func shipped(tb testing.TB, units int) (*centraldb.DB, *dscsa.Exchange, *dscsatest.Scenario) {
	tb.Helper()
	db := dscsatest.MustStore(tb, "line-1")
	s := &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: units, PerPallet: 4, Shipment: "SH-1"}
	dscsatest.MustScenario(tb, db, s)
	x := MustExchange(tb, db, dscsatest.MfrGLN)
	if err := x.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
	return db, x, s
}

func mustDoc(tb testing.TB, x *dscsa.Exchange, shipment string, f epcis.Format) ([]byte, dscsa.DocInfo) {
	tb.Helper()
	var buf bytes.Buffer
	info, err := x.WriteShipmentDocument(ctx, &buf, shipment, f, dscsa.DocOptions{DocumentID: "DOC-" + shipment})
	if err != nil {
		tb.Fatalf("write the document of %s: %v", shipment, err)
	}
	return buf.Bytes(), info
}

func readDoc(tb testing.TB, doc []byte) (*epcis.Header, []*epcis.Event) {
	tb.Helper()
	rd, err := epcis.NewReader(bytes.NewReader(doc), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*epcis.Event
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Header(), out
		}
		if err != nil {
			tb.Fatalf("event %d: %v", len(out), err)
		}
		out = append(out, e)
	}
}

// TestWriteShipmentDocument_XML12 builds the document of a shipped
// shipment (95 units in 10 cases on 2 pallets) and checks it against the
// EPCIS 1.2 XSD and, read back, against what the guideline asks: master
// data of both GTINs and every location, the transaction statement,
// commissioning of every unit, case and pallet with lot and expiry,
// packing of every parent, and the shipping event with po and desadv and
// the source and destination lists.
func TestWriteShipmentDocument_XML12(t *testing.T) {
	_, x, s := shipped(t, 95)
	doc, info := mustDoc(t, x, "SH-1", epcis.FormatXML12)
	dscsatest.MustXSDValid(t, doc)
	h, evs := readDoc(t, doc)
	if info.Events != len(evs) || info.Items != 95+10+3 {
		t.Fatalf("info %+v, read %d events", info, len(evs))
	}
	if h.SBDH == nil || h.SBDH.InstanceIdentifier != "DOC-SH-1" || h.SBDH.Sender[0].Identifier != "urn:epc:id:sgln:030001.000001.0" ||
		h.SBDH.Receiver[0].Identifier != "urn:epc:id:sgln:039999.000001.0" {
		t.Fatalf("SBDH %+v", h.SBDH)
	}
	if ts, ok := h.TransactionStatement(); !ok || !ts.Affirm || ts.LegalNotice != epcis.DSCSALegalNotice {
		t.Fatalf("transaction statement %+v %v", ts, ok)
	}
	var classes, places []string
	for _, v := range h.MasterData {
		for _, el := range v.Elements {
			if v.Type == epcis.VocabularyEPCClass {
				classes = append(classes, el.ID)
				if c := epcis.EPCClassOf(el); c.AdditionalTradeItemIdentification != "0001-0123-45" || c.RegulatedProductName == "" {
					t.Errorf("class %s: %+v", el.ID, c)
				}
			} else {
				places = append(places, el.ID)
			}
		}
	}
	if !slices.Equal(classes, []string{"urn:epc:idpat:sgtin:030001.0012345.*", "urn:epc:idpat:sgtin:030001.1012345.*"}) {
		t.Errorf("classes %v", classes)
	}
	if len(places) != 4 {
		t.Errorf("locations %v, want the 4 of the owner, plant, partner and DC", places)
	}
	commissioned := map[string]bool{}
	packed := map[string][]string{}
	var ship *epcis.Event
	for i, e := range evs {
		switch {
		case e.BizStep == epcis.BizStepCommissioning:
			for _, epc := range e.EPCList {
				commissioned[epc] = true
			}
			if strings.Contains(e.EPCList[0], "sgtin") && (len(e.ILMD) != 2 || e.ILMD[0].Text != centraltest.Lot || e.ILMD[1].Text != "2027-06-30") {
				t.Errorf("event %d: ILMD %+v, want lot %s and expiry 2027-06-30", i, e.ILMD, centraltest.Lot)
			}
			if e.BizLocation.ID != "urn:epc:id:sgln:030001.000002.0" || e.EventTimeZoneOffset != "-08:00" {
				t.Errorf("event %d at %s %s, want the plant in Pacific time", i, e.BizLocation.ID, e.EventTimeZoneOffset)
			}
		case e.BizStep == epcis.BizStepPacking:
			if ship != nil {
				t.Errorf("event %d: packing after shipping", i)
			}
			packed[e.ParentID] = e.ChildEPCs
		case e.BizStep == epcis.BizStepShipping:
			ship = e
		}
	}
	if len(commissioned) != 95+10+3 {
		t.Errorf("%d EPCs commissioned, want 108", len(commissioned))
	}
	if len(packed) != 13 || len(packed[epcOfCase(0)]) != 10 || len(packed[epcOfCase(9)]) != 5 || len(packed[epcOfPallet(s, 0)]) != 4 || len(packed[epcOfPallet(s, 2)]) != 2 {
		t.Errorf("packing: %d parents; case 0 %d, case 9 %d, pallet 0 %d, pallet 2 %d children", len(packed), len(packed[epcOfCase(0)]),
			len(packed[epcOfCase(9)]), len(packed[epcOfPallet(s, 0)]), len(packed[epcOfPallet(s, 2)]))
	}
	if ship == nil || evs[len(evs)-1] != ship || len(ship.EPCList) != 3 {
		t.Fatalf("shipping event %+v", ship)
	}
	if len(ship.BizTransactionList) != 2 || ship.BizTransactionList[0].Value != "urn:epcglobal:cbv:bt:"+dscsatest.WhsGLN+":PO-SH-1" ||
		ship.BizTransactionList[1].Type != epcis.BizTransactionTypeDesadv {
		t.Errorf("biz transactions %+v", ship.BizTransactionList)
	}
	want := []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: "urn:epc:id:sgln:030001.000001.0"}, {Type: epcis.SourceDestTypeLocation, Value: "urn:epc:id:sgln:030001.000002.0"}}
	if !slices.Equal(ship.SourceList, want) || len(ship.DestinationList) != 2 || ship.DestinationList[1].Value != "urn:epc:id:sgln:039999.345678.0" {
		t.Errorf("source %+v destination %+v", ship.SourceList, ship.DestinationList)
	}
}

func epcOfCase(i int) string {
	return "urn:epc:id:sgtin:030001.1012345." + (&dscsatest.Scenario{Prefix: "S"}).CaseSerial(i)
}

func epcOfPallet(s *dscsatest.Scenario, i int) string {
	sscc := s.Pallet(i)
	return "urn:epc:id:sscc:030001." + sscc[:1] + sscc[7:17]
}

// TestWriteShipmentDocument_JSONLD writes the same shipment as EPCIS 2.0
// JSON-LD (valid against the JSON schema), and checks the round trip:
// 1.2 XML -> model -> 2.0 JSON-LD -> model gives the same events (hashes)
// and header.
func TestWriteShipmentDocument_JSONLD(t *testing.T) {
	_, x, _ := shipped(t, 40)
	xml, _ := mustDoc(t, x, "SH-1", epcis.FormatXML12)
	jsonld, _ := mustDoc(t, x, "SH-1", epcis.FormatJSONLD20)
	dscsatest.MustJSONValid(t, jsonld)
	hx, ex := readDoc(t, xml)
	hj, ej := readDoc(t, jsonld)
	if len(ex) != len(ej) {
		t.Fatalf("%d events in XML, %d in JSON-LD", len(ex), len(ej))
	}
	for i := range ex {
		if ex[i].Hash() != ej[i].Hash() {
			t.Fatalf("event %d differs between the formats", i)
		}
	}
	// Convert the XML document as a partner would and compare.
	var conv bytes.Buffer
	w, err := epcis.NewWriter(&conv, epcis.FormatJSONLD20, hx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex {
		if err := w.WriteEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dscsatest.MustJSONValid(t, conv.Bytes())
	hc, ec := readDoc(t, conv.Bytes())
	for i := range ec {
		if ec[i].Hash() != ex[i].Hash() {
			t.Fatalf("event %d lost something in the round trip", i)
		}
	}
	if hc.SBDH.InstanceIdentifier != hx.SBDH.InstanceIdentifier || len(hc.MasterData) != len(hj.MasterData) {
		t.Fatalf("header lost in the round trip")
	}
	if ts, ok := hj.TransactionStatement(); !ok || !ts.Affirm {
		t.Fatal("the JSON-LD document has no transaction statement")
	}
}

// TestWriteShipmentDocument_Refusals: a shipment not shipped, one unknown,
// and one whose locations have no master data are refused with a reason.
func TestWriteShipmentDocument_Refusals(t *testing.T) {
	db := dscsatest.MustStore(t, "line-1")
	s := &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: 20, Shipment: "SH-1"}
	evs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the shipped event: the shipment is packed.
	dscsatest.MustIngest(t, db, evs[:len(evs)-1])
	x := MustExchange(t, db, dscsatest.MfrGLN)
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, code, want string
	}{
		{"SH-1", station.ECONFLICT, "is packed, not shipped"},
		{"SH-NONE", station.ENOTFOUND, "not known to the central"},
	} {
		_, err := x.WriteShipmentDocument(ctx, io.Discard, tt.id, epcis.FormatXML12, dscsa.DocOptions{})
		if station.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err=%v, want %s %q", tt.id, err, tt.code, tt.want)
		}
	}
	// A shipment to a partner whose site has no master data.
	db2 := centraltest.MustStore(t)
	if _, err := db2.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	dscsatest.MustScenario(t, db2, &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: 20, Shipment: "SH-2"})
	x2 := MustExchange(t, db2, dscsatest.MfrGLN)
	if err := x2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = x2.WriteShipmentDocument(ctx, io.Discard, "SH-2", epcis.FormatXML12, dscsa.DocOptions{})
	if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), "no location master data for owner "+dscsatest.MfrGLN) {
		t.Errorf("no locations: err=%v", err)
	}
}
