package dscsa_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// palletScan is what a handheld sends for a pallet's GS1-128 label.
func palletScan(s *dscsatest.Scenario, i int) string { return "]C1" + "00" + s.Pallet(i) }

// unitScan is a unit's GS1 DataMatrix read (expiry, lot, serial).
func unitScan(serial, lot string) string {
	return "]d2" + "01" + centraltest.GTIN + "17" + centraltest.Expiry + "10" + lot + "\x1d" + "21" + serial
}

// TestReceive receives the captured document's goods at the wholesaler:
// everything scanned (two pallets and the loose case of the third) matches
// and gives no exceptions; a second receipt with a pallet missing, a unit
// the document does not ship, and a unit with another lot gives a PDG
// exception report that the PDG schema accepts.
func TestReceive(t *testing.T) {
	_, mx, s := shipped(t, 95) // 10 cases on pallets of 4, 4, 2
	doc, _ := mustDoc(t, mx, "SH-1", epcis.FormatXML12)
	_, x, mfr := wholesalerSide(t)
	j, err := x.CaptureDocument(ctx, mfr, bytes.NewReader(doc))
	if err != nil || !j.Success {
		t.Fatalf("capture %+v %v", j, err)
	}
	erp := dscsa.Caller{Name: "receiving"}
	r, err := x.Receive(ctx, erp, dscsa.ReceiveRequest{Capture: j.ID, Location: dscsatest.WhsDC,
		Scans: []string{palletScan(s, 0), palletScan(s, 1), "(00)" + s.Pallet(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Exceptions != nil || r.Received != 95 || r.Expected != 95+10+3 || r.PO != "PO-SH-1" || r.Unexpected != 0 {
		t.Fatalf("clean receipt %+v", r)
	}
	// Now a receipt with mismatches.
	r, err = x.Receive(ctx, erp, dscsa.ReceiveRequest{Capture: j.ID, Location: dscsatest.WhsDC,
		Scans: []string{palletScan(s, 0), palletScan(s, 1), unitScan(s.UnitSerial(85), "L-OTHER"), unitScan("NOT-SHIPPED", centraltest.Lot)}})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Exceptions
	if e == nil || r.Received != 81 || r.Unexpected != 1 {
		t.Fatalf("receipt %+v", r)
	}
	if len(e.Exceptions.MissingProduct) != 14 || len(e.Exceptions.MissingProductData) != 1 || len(e.Exceptions.DataMisalignment) != 1 ||
		len(e.Exceptions.Underages) != 1 || e.Exceptions.Underages[0].QuantityOrdered != 95 || e.Exceptions.Underages[0].QuantityReceived != 82 {
		t.Fatalf("exceptions %+v", e.Exceptions)
	}
	if m := e.Exceptions.DataMisalignment[0]; m.ReceivedProductLot != "L-OTHER" || m.ProductDataLot != centraltest.Lot || *m.ReceivedProductSerial != s.UnitSerial(85) {
		t.Fatalf("misalignment %+v", m)
	}
	if e.PONumber != "PO-SH-1" || e.SenderInformation.GLN != dscsatest.WhsGLN || e.CaseResolved {
		t.Fatalf("report %+v", e)
	}
	report, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustPDGReport(t, report)

	// Receiving against a job that captured nothing, or a scan that is no
	// identifier, is refused.
	if _, err := x.Receive(ctx, erp, dscsa.ReceiveRequest{Capture: "cj-none", Location: dscsatest.WhsDC, Scans: []string{palletScan(s, 0)}}); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("unknown job: err=%v", err)
	}
	if _, err := x.Receive(ctx, erp, dscsa.ReceiveRequest{Capture: j.ID, Location: dscsatest.WhsDC, Scans: []string{"hello"}}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("garbage scan: err=%v", err)
	}
}

// TestTrace follows a unit at the manufacturer (commissioned at the
// plant, packed into a case, the case onto a pallet, shipped to the
// wholesaler) and at the wholesaler after it captured and received the
// document (the same, plus the receipt), as JSON and as EPCIS documents.
func TestTrace(t *testing.T) {
	mx, whs, s := delivered(t, 95)
	unit := "(01)" + centraltest.GTIN + "(21)" + s.UnitSerial(12)
	tr, err := mx.Trace(ctx, whs, unit)
	if err != nil {
		t.Fatal(err)
	}
	if tr.EPC != "urn:epc:id:sgtin:030001.0012345."+s.UnitSerial(12) || tr.Lot != centraltest.Lot || tr.Expiry != "2027-06-30" ||
		tr.Commissioned == nil || tr.Commissioned.Name != "Test Pharma Plant" {
		t.Fatalf("trace %+v", tr)
	}
	if len(tr.Containers) != 2 || tr.Containers[0].EPC != epcOfCase(1) || tr.Containers[1].EPC != epcOfPallet(s, 0) {
		t.Fatalf("containers %+v", tr.Containers)
	}
	if len(tr.Custody) != 1 || tr.Custody[0].BizStep != "shipping" || tr.Custody[0].FromOwnerName != "Test Pharma Inc." ||
		tr.Custody[0].ToOwnerName != "Test Drug Distributor" || tr.Custody[0].Via != epcOfPallet(s, 0) || len(tr.Custody[0].Transactions) != 2 {
		t.Fatalf("custody %+v", tr.Custody)
	}
	var x12, jl bytes.Buffer
	if err := tr.WriteEPCIS(&x12, epcis.FormatXML12, tr.Commissioned.Time); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteEPCIS(&jl, epcis.FormatJSONLD20, tr.Commissioned.Time); err != nil {
		t.Fatal(err)
	}
	dscsatest.MustXSDValid(t, x12.Bytes())
	dscsatest.MustJSONValid(t, jl.Bytes())
	if _, evs := readDoc(t, jl.Bytes()); len(evs) != len(tr.Events) || len(evs) < 5 {
		t.Fatalf("the EPCIS trace holds %d events, the JSON %d", len(evs), len(tr.Events))
	}
	// A partner that never had the product cannot trace it.
	other := dscsa.Partner{ID: "other", GLN: dscsatest.GLN("037777000001"), Permissions: []string{dscsa.PermTrace}}
	if _, err := mx.Trace(ctx, dscsa.Caller{Partner: &other, Name: "other"}, unit); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("other partner: err=%v", err)
	}

	// At the wholesaler, after capture and receipt.
	doc, _ := mustDoc(t, mx, "SH-1", epcis.FormatXML12)
	_, wx, mfr := wholesalerSide(t)
	j, err := wx.CaptureDocument(ctx, mfr, bytes.NewReader(doc))
	if err != nil || !j.Success {
		t.Fatalf("capture %+v %v", j, err)
	}
	if _, err := wx.Receive(ctx, dscsa.Caller{Name: "receiving"}, dscsa.ReceiveRequest{Capture: j.ID, Location: dscsatest.WhsDC,
		Scans: []string{palletScan(s, 0)}}); err != nil {
		t.Fatal(err)
	}
	wt, err := wx.Trace(ctx, dscsa.Caller{Name: "qa"}, unit)
	if err != nil {
		t.Fatal(err)
	}
	if len(wt.Custody) != 2 || wt.Custody[0].BizStep != "shipping" || wt.Custody[1].BizStep != "receiving" || wt.Custody[1].ToOwner != "urn:epc:id:sgln:039999.000001.0" ||
		wt.Commissioned == nil || len(wt.Containers) != 2 {
		t.Fatalf("wholesaler trace %+v", wt)
	}
}
