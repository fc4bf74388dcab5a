package dscsa_test

import (
	"strings"
	"testing"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// TestHold_StopsShipmentDocument: a suspect pack inside a shipped pallet
// holds the shipment's document (not sent, the delivery says why) until
// the investigation clears it; then the document goes out.
func TestHold_StopsShipmentDocument(t *testing.T) {
	db, x, s := shipped(t, 30)
	ep := newEndpoint(t)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodHTTPS, URL: ep.URL})); err != nil {
		t.Fatal(err)
	}
	qa := dscsa.Caller{Name: "qa"}
	unit := "(01)" + centraltest.GTIN + "(21)" + s.UnitSerial(7)
	inv, err := x.OpenInvestigation(ctx, qa, dscsa.OpenRequest{Description: "pharmacy reports a broken seal", Items: []string{unit}})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Holds) != 1 || inv.Holds[0].Item != unit || inv.Holds[0].Reason != dscsa.HoldSuspect || inv.Status != "open" {
		t.Fatalf("investigation %+v", inv)
	}
	d := deliverAll(t, x, db, 1)
	if d.Status != dscsa.DeliveryHeld || !strings.Contains(d.LastError, unit+" suspect") || len(ep.got()) != 0 {
		t.Fatalf("delivery %+v, %d requests", d, len(ep.got()))
	}
	// A partner cannot open or close investigations.
	p, _ := db.Partner(ctx, "wholesaler")
	var fe *dscsa.ForbiddenError
	if _, err := x.CloseInvestigation(ctx, dscsa.Caller{Partner: &p}, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeCleared, Note: "x"}); !errorsAs(err, &fe) {
		t.Fatalf("partner closes: err=%v", err)
	}
	if _, err := x.CloseInvestigation(ctx, qa, inv.ID, dscsa.CloseRequest{Outcome: "maybe", Note: "x"}); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("unknown outcome: err=%v", err)
	}
	closed, err := x.CloseInvestigation(ctx, qa, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeCleared, Note: "seal damaged in transit, product genuine"})
	if err != nil || closed.Status != "closed" || closed.Holds[0].ReleasedAt.IsZero() || closed.ClosedBy != "erp:qa" {
		t.Fatalf("closed %+v %v", closed, err)
	}
	if _, err := x.CloseInvestigation(ctx, qa, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeCleared, Note: "again"}); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("closing twice: err=%v", err)
	}
	// Clearing makes the held document due at once.
	if d = deliverAll(t, x, db, 3); d.Status != dscsa.DeliveryDelivered || len(ep.got()) != 1 || d.Attempts != 2 {
		t.Fatalf("after clearing: %+v", d)
	}
}

// TestNotification gives the data of an illegitimate product notification:
// the product with NDC, the serials, and the partner that received them.
func TestNotification(t *testing.T) {
	x, _, s := delivered(t, 30)
	qa := dscsa.Caller{Name: "qa"}
	inv, err := x.OpenInvestigation(ctx, qa, dscsa.OpenRequest{Description: "counterfeit suspected",
		Items: []string{"(01)" + centraltest.GTIN + "(21)" + s.UnitSerial(1), "]d2" + "01" + centraltest.GTIN + "21" + s.UnitSerial(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.CloseInvestigation(ctx, qa, inv.ID, dscsa.CloseRequest{Outcome: dscsa.OutcomeIllegitimate, Note: "lab confirmed counterfeit"}); err != nil {
		t.Fatal(err)
	}
	n, err := x.Notification(ctx, qa, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n.Classification != dscsa.OutcomeIllegitimate || n.ConcludedAt.IsZero() || len(n.Products) != 1 || n.Products[0].NDC != "0001-0123-45" ||
		n.Products[0].Units != 2 || len(n.Partners) != 1 || n.Partners[0].GLN != dscsatest.WhsGLN || n.Reporter.GLN != dscsatest.MfrGLN {
		t.Fatalf("notification %+v", n)
	}
	for _, h := range n.Holds {
		if h.Reason != dscsa.HoldIllegitimate {
			t.Fatalf("hold %+v not illegitimate", h)
		}
	}
}
