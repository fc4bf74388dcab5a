package dscsa_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

const corr = "0f0c4b8e-2e4a-4e5a-9a37-3b8f7e0a1c2d"

func vreq(serial, lot, expiry string) dscsa.VerificationRequest {
	return dscsa.VerificationRequest{GTIN: centraltest.GTIN, Serial: serial, Lot: lot, Expiry: expiry, RequesterGLN: dscsatest.WhsGLN,
		CorrUUID: corr, Context: "dscsaSaleableReturn"}
}

// TestVerify answers every case of the decision table and keeps every
// request with its answer.
func TestVerify(t *testing.T) {
	db := dscsatest.MustStore(t, "line-1")
	s := &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: 40}
	evs := dscsatest.MustScenario(t, db, s)
	// Two more units made outside cases, then stolen and sampled; one
	// recalled; one only printed.
	evs, err := dscsatest.Append(evs, station.PoolReserved{GTIN: centraltest.GTIN, Serials: []string{"X1", "X2", "X3", "X4"}, Source: "local"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range []string{"X1", "X2", "X3"} {
		evs, err = dscsatest.Append(evs, station.UnitAllocated{GTIN: centraltest.GTIN, Serial: sn, Order: s.Order},
			station.UnitPrinted{GTIN: centraltest.GTIN, Serial: sn, Device: "c"}, station.UnitCommissioned{GTIN: centraltest.GTIN, Serial: sn, Device: "c"})
		if err != nil {
			t.Fatal(err)
		}
	}
	evs, err = dscsatest.Append(evs,
		station.UnitDecommissioned{GTIN: centraltest.GTIN, Serial: "X1", Reason: station.DecommissionStolen},
		station.UnitSampled{GTIN: centraltest.GTIN, Serial: "X2", Purpose: "qa"},
		station.UnitDecommissioned{GTIN: centraltest.GTIN, Serial: "X3", Reason: station.DecommissionRecalled},
		station.UnitAllocated{GTIN: centraltest.GTIN, Serial: "X4", Order: s.Order}, station.UnitPrinted{GTIN: centraltest.GTIN, Serial: "X4", Device: "c"})
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustIngest(t, db, evs)
	var now time.Time
	x := MustExchange(t, db, dscsatest.MfrGLN, func(c *dscsa.Config) { c.Now = func() time.Time { return now } })
	now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodNone})); err != nil {
		t.Fatal(err)
	}
	p, _ := db.Partner(ctx, "wholesaler")
	whs := dscsa.Caller{Partner: &p, Name: p.ID}
	lot, exp := centraltest.Lot, centraltest.Expiry
	good := s.UnitSerial(3)
	check := func(name string, c dscsa.Caller, r dscsa.VerificationRequest, verified bool, reason, info string) {
		t.Helper()
		resp, err := x.Verify(ctx, c, r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := resp.Data
		if d.Verified != verified || d.VerificationFailureReason != reason || d.AdditionalInfo != info || resp.CorrUUID != corr ||
			resp.ResponderGLN != dscsatest.MfrGLN || resp.VerificationTimestamp != now.Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("%s: %+v, want verified %v reason %q info %q", name, resp, verified, reason, info)
		}
	}
	check("Verified", whs, vreq(good, lot, exp), true, "", "")
	check("VerifiedDay30", whs, vreq(good, lot, "270630"), true, "", "") // 270600 is the end of June
	check("UnknownSerial", whs, vreq("NOPE", lot, exp), false, dscsa.NoMatchGTINSerial, "")
	check("NeverCommissioned", whs, vreq("X4", lot, exp), false, dscsa.NoMatchGTINSerial, "")
	check("WrongLot", whs, vreq(good, "L9", exp), false, dscsa.NoMatchGTINSerialLot, "")
	check("WrongExpiry", whs, vreq(good, lot, "280101"), false, dscsa.NoMatchGTINSerialExpiry, "")
	check("WrongBoth", whs, vreq(good, "L9", "280101"), false, dscsa.NoMatchGTINSerialLotExpiry, "")
	check("Stolen", whs, vreq("X1", lot, exp), false, dscsa.NoReasonProvided, dscsa.InfoSuspect)
	check("Sample", whs, vreq("X2", lot, exp), false, dscsa.NotForRedistribution, "")
	check("Recalled", whs, vreq("X3", lot, exp), true, "", dscsa.InfoRecalled)
	check("ERP", dscsa.Caller{Name: "erp-1"}, vreq(good, lot, exp), true, "", "")

	// A suspect case: its units answer Suspect; illegitimate once concluded.
	inv, err := x.OpenInvestigation(ctx, dscsa.Caller{Name: "qa"}, dscsa.OpenRequest{Description: "tampered seal reported", Items: []string{"(01)" + centraltest.CaseGTIN + "(21)" + s.CaseSerial(0)}})
	if err != nil {
		t.Fatal(err)
	}
	check("Suspect", whs, vreq(s.UnitSerial(0), lot, exp), true, "", dscsa.InfoSuspect)
	check("OtherCaseNotSuspect", whs, vreq(s.UnitSerial(15), lot, exp), true, "", "")
	if _, err := x.CloseInvestigation(ctx, dscsa.Caller{Name: "qa"}, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeIllegitimate, Note: "counterfeit confirmed"}); err != nil {
		t.Fatal(err)
	}
	check("Illegitimate", whs, vreq(s.UnitSerial(0), lot, exp), false, dscsa.NoReasonProvided, dscsa.InfoIllegitimate)
	// Past the expiry date (the end of June 2027).
	now = time.Date(2027, 7, 2, 0, 0, 0, 0, time.UTC)
	check("Expired", whs, vreq(s.UnitSerial(25), lot, exp), true, "", dscsa.InfoExpired)
	check("ExpiredStolen", whs, vreq("X1", lot, exp), false, dscsa.NoReasonProvided, dscsa.InfoSuspect)
	// A lot recall: it wins over the expiry.
	if _, err := x.OpenInvestigation(ctx, dscsa.Caller{Name: "qa"}, dscsa.OpenRequest{Reason: dscsa.HoldRecalled, Description: "recall 2026-01",
		Lots: []dscsa.LotKey{{GTIN: centraltest.GTIN, Lot: lot}}}); err != nil {
		t.Fatal(err)
	}
	check("LotRecalled", whs, vreq(s.UnitSerial(25), lot, exp), true, "", dscsa.InfoRecalled)

	// Refusals: 404 for a GTIN not ours, 403 for a requester asking for
	// another GLN or without the permission.
	r := vreq(good, lot, exp)
	r.GTIN = "00399990000016"
	if _, err := x.Verify(ctx, whs, r); station.ErrorCode(err) != station.ENOTFOUND {
		t.Errorf("GTIN not ours: err=%v, want not found", err)
	}
	r = vreq(good, lot, exp)
	r.RequesterGLN = dscsatest.MfrGLN
	var fe *dscsa.ForbiddenError
	if _, err := x.Verify(ctx, whs, r); !errorsAs(err, &fe) {
		t.Errorf("requester for another GLN: err=%v, want forbidden", err)
	}
	noperm := p
	noperm.Permissions = []string{dscsa.PermQuery}
	if _, err := x.Verify(ctx, dscsa.Caller{Partner: &noperm, Name: p.ID}, vreq(good, lot, exp)); !errorsAs(err, &fe) {
		t.Errorf("requester without permission: err=%v, want forbidden", err)
	}
	// Every answered request was kept, with its answer.
	recs, err := db.Verifications(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("%d requests kept, want 20", len(recs))
	}
	if recs[0].Status != 403 || recs[1].Status != 403 || recs[2].Status != 404 || recs[2].Request.GTIN != "00399990000016" {
		t.Fatalf("the refusals were not kept: %+v", recs[:3])
	}
	var last dscsa.VerificationResponse
	if err := json.Unmarshal(recs[3].Response, &last); err != nil || last.Data.AdditionalInfo != dscsa.InfoRecalled || recs[3].Request.Serial != s.UnitSerial(25) ||
		recs[3].Requester != "partner:wholesaler" || recs[3].Status != 200 {
		t.Fatalf("record %+v (%v)", recs[3], err)
	}
}

// TestParseVerificationRequest reads the Digital Link request and refuses
// malformed ones, naming the parameter.
func TestParseVerificationRequest(t *testing.T) {
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	base := fmt.Sprintf("17=270600&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=%s&corrUUID=%s", dscsatest.WhsGLN, corr)
	r, err := dscsa.ParseVerificationRequest(centraltest.GTIN, "L1", "S1", q(base))
	if err != nil || r.Expiry != "270600" || r.Context != "dscsaSaleableReturn" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, tt := range []struct{ gtin, lot, serial, query, want string }{
		{"00300010123456", "L1", "S1", base, "GTIN (01)"},
		{centraltest.GTIN, "", "S1", base, "lot (10)"},
		{centraltest.GTIN, "L1", strings.Repeat("9", 21), base, "serial (21)"},
		{centraltest.GTIN, "L1", "S1", strings.Replace(base, "17=270600", "17=271340", 1), "expiry (17)"},
		{centraltest.GTIN, "L1", "S1", strings.Replace(base, "corrUUID="+corr, "corrUUID=123", 1), "corrUUID"},
		{centraltest.GTIN, "L1", "S1", strings.Replace(base, "reqGLN="+dscsatest.WhsGLN, "reqGLN=123", 1), "reqGLN"},
		{centraltest.GTIN, "L1", "S1", base + "&debug=1", "debug"},
		{centraltest.GTIN, "L1", "S1", strings.Replace(base, "linkType=verificationService", "linkType=pip", 1), "linkType"},
	} {
		if _, err := dscsa.ParseVerificationRequest(tt.gtin, tt.lot, tt.serial, q(tt.query)); station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err=%v, want %q", tt.want, err, tt.want)
		}
	}
}
