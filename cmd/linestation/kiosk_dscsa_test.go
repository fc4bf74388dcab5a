package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// TestKiosk_DemoShipmentDocument is what 'make run' promises: with the
// central's DSCSA exchange on for the demo company and 'demo seed' run, a
// case packed and shipped at the simulated line's kiosk station (shipping
// from the demo site to the demo partner, as the warehouse screen does)
// becomes an EPCIS 1.2 document for the partner in its files folder,
// naming the shipment, the case and its packs.
func TestKiosk_DemoShipmentDocument(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, _ := startTestCentralDSCSA(t, demoOwnerGLN, dir)
	files := filepath.Join(dir, "dscsa-outbound")
	if res := seedTestCentral(t, c); !res.dscsa {
		t.Fatal("demo seed did not register the demo site and partner at a central with the exchange on")
	}

	st := c.openLine1(t)
	gtin := demoProducts()[0].GTIN
	stationtest.Poll(t, 20*time.Second, "the demo order and its serials", func() bool {
		lvl, err := st.db.Pool(ctx, gtin)
		return err == nil && lvl.Available >= 10
	})

	packs := commissionPacks(t, st, demoOrderID, gtin, 4)
	cs, err := st.svc.OpenParent(ctx, "pat", demoOrderID, station.LevelCase)
	must(t, err)
	for _, it := range packs {
		_, err := st.svc.Pack(ctx, "pat", cs.Parent, it.Key())
		must(t, err)
	}
	_, err = st.svc.CloseParent(ctx, "pat", cs.Parent, &station.SignRequest{User: "sam", Secret: "314159", Meaning: station.MeaningPartial, Reason: "partial case for the demo"})
	must(t, err)
	from, owner, partners := siteOf(st.cfg)
	p := partners[0]
	sh := station.Shipment{ID: "SH-DEMO-1", ShipFrom: from, Owner: owner, ShipTo: p.ShipTo, Partner: p.GLN, PO: "PO-W-1", Name: p.Name}
	must(t, st.svc.CreateShipment(ctx, "pat", sh))
	_, err = st.svc.Pick(ctx, "pat", sh.ID, cs.Parent.Key())
	must(t, err)
	must(t, st.svc.PackShipment(ctx, "pat", sh.ID))
	must(t, st.svc.Ship(ctx, "pat", sh.ID))

	var doc []byte
	stationtest.Poll(t, 30*time.Second, "the shipment's document in the partner's files folder", func() bool {
		found, _ := filepath.Glob(filepath.Join(files, demoPartnerID, "*"))
		for _, f := range found {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), sh.ID) {
				doc = b
				return true
			}
		}
		return false
	})
	text := string(doc)
	for _, want := range []string{"EPCISDocument", "urn:epcglobal:cbv:btt:po", "PO-W-1", demoPartners[0].Name} {
		if !strings.Contains(text, want) {
			t.Fatalf("the document does not name %q:\n%.2000s", want, text)
		}
	}
	if !strings.Contains(text, "sgtin:") || strings.Count(text, "<epc>") < len(packs)+1 {
		t.Fatalf("the document does not list the case and its %d packs:\n%.2000s", len(packs), text)
	}
}
