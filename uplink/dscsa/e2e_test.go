package dscsa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// centralSite is one company's central service with its exchange, on loopback.
type centralSite struct {
	store *centraldb.DB
	x     *dscsa.Exchange
	srv   *central.Server
	erp   string // an ERP token
	dir   string
}

func newCentralSite(t *testing.T, name, gln string) *centralSite {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	store := centraltest.MustStorePath(t, filepath.Join(dir, "central.db"))
	quiet := slog.New(slog.DiscardHandler)
	x, err := dscsa.New(dscsa.Config{Store: store, GLN: gln, SpoolDir: filepath.Join(dir, "spool"), SecretsDir: filepath.Join(dir, "secrets"),
		Interval: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Open(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: quiet, Exchange: x})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close(context.Background())
		x.Close()
	})
	c := &centralSite{store: store, x: x, srv: srv, dir: dir}
	if c.erp, err = central.AddClient(ctx, store, "erp", false); err != nil {
		t.Fatal(err)
	}
	for _, l := range dscsatest.Locations("line-1") {
		c.call(t, "PUT", "/v1/dscsa/locations/"+l.GLN, c.erp, l, nil, 201)
	}
	return c
}

// call sends JSON (in, may be nil) with a token and decodes the answer into out.
func (c *centralSite) call(t *testing.T, method, path, token string, in, out any, want int) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.srv.URL()+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// partner registers a partner and returns the token issued to it.
func (c *centralSite) partner(t *testing.T, p dscsa.Partner) string {
	t.Helper()
	c.call(t, "PUT", "/v1/dscsa/partners/"+p.ID, c.erp, p, nil, 201)
	var tok map[string]string
	c.call(t, "POST", "/v1/dscsa/partners/"+p.ID+"/tokens", c.erp, nil, &tok, 201)
	return tok["token"]
}

// e2eProduct: units, cases of 4 (SSCC), pallets of 2 cases (SSCC); the
// pallet label uses the case template.
func e2eProduct() station.Product {
	p := centraltest.Product()
	p.Levels = []station.PackagingLevel{{Level: station.LevelCase, SSCC: true, Quantity: 4}, {Level: station.LevelPallet, SSCC: true, Quantity: 2, Extension: 1}}
	p.Labels = map[string]string{"case": "sscc", "pallet": "sscc"}
	return p
}

// ssccTemplate is a site's SSCC label (the shipped case template wants a
// GTIN, which an SSCC container's label does not get: see the report).
const ssccTemplate = `^XA
^CI28
^PW812
^LL1218
^FO40,40^A0N,40,40^FH^FD{{text .Fields.product}}^FS
^FO40,150^A0N,30,30^FH^FDLOT {{text .Fields.lot}}   EXP {{text .Fields.expiry}}^FS
^FO40,190^A0N,30,30^FH^FDQTY {{text .Fields.count}}^FS
^FO60,760^BY3^BCN,200,Y,N,N,D^FD(00){{digits .Fields.sscc}}^FS
^PQ1
^XZ
`

// TestEndToEnd follows a shipment the whole way: a packaging station
// (station.Service on a real ledger, labels on a simulated ZPL printer over
// TCP) commissions 16 packs, packs them into 4 cases on 2 pallets and ships
// them; its uplink pushes the journal to the manufacturer's central over
// loopback HTTP; the central builds the shipment's EPCIS 1.2 document and
// delivers it with its credential to the wholesaler's endpoint (run by the
// test, which keeps a copy and hands it on), where the wholesaler's own
// central captures it; a warehouse station at the wholesaler's DC receives
// the pallets by scan against the document through that central; a pack
// comes back as a saleable return and the wholesaler
// asks the manufacturer to verify it; and both centrals answer a trace of
// the pack.
func TestEndToEnd(t *testing.T) {
	start := time.Now()
	mfr := newCentralSite(t, "manufacturer", dscsatest.MfrGLN)
	whs := newCentralSite(t, "wholesaler", dscsatest.WhsGLN)
	if _, err := mfr.store.PutProduct(ctx, e2eProduct()); err != nil {
		t.Fatal(err)
	}
	// The wholesaler lets the manufacturer send documents; the
	// manufacturer lets the wholesaler verify, query and trace, and sends
	// its documents to the wholesaler's endpoint with the wholesaler's token.
	mfrAtWhs := whs.partner(t, dscsa.Partner{ID: "mfr", Name: "Test Pharma Inc.", GLN: dscsatest.MfrGLN,
		Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone}, Permissions: []string{dscsa.PermCapture}})
	var mu sync.Mutex
	var received [][]byte
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, body)
		mu.Unlock()
		req, _ := http.NewRequest("POST", whs.srv.URL()+"/dscsa/documents", bytes.NewReader(body))
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer endpoint.Close()
	if err := os.MkdirAll(filepath.Join(mfr.dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mfr.dir, "secrets", "wholesaler.token"), []byte(mfrAtWhs), 0o600); err != nil {
		t.Fatal(err)
	}
	whsAtMfr := mfr.partner(t, dscsa.Partner{ID: "wholesaler", Name: "Test Drug Distributor", GLN: dscsatest.WhsGLN,
		Delivery:    dscsa.DeliveryConfig{Method: dscsa.MethodHTTPS, URL: endpoint.URL + "/dscsa/inbound", Credential: "wholesaler.token"},
		Permissions: []string{dscsa.PermVerify, dscsa.PermQuery, dscsa.PermTrace}})

	// The packaging station.
	svc, ledger, printer := newStation(t)
	code, err := central.AddStation(ctx, mfr.store, "line-1", "line-1", 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := uplink.NewAPI(mfr.srv.URL(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := anon.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	client, err := uplink.New(uplink.Config{Journal: ledger, API: anon.WithToken(enr.Token), Interval: 20 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	uctx, stop := context.WithCancel(ctx)
	var uwg sync.WaitGroup
	uwg.Add(1)
	go func() { defer uwg.Done(); client.Run(uctx) }()
	defer func() { stop(); uwg.Wait() }()

	units, cases, pallets := produce(t, svc, ledger)
	if n := len(printer.Printed()); n != 6 {
		t.Fatalf("the printer printed %d labels, want 4 cases and 2 pallets", n)
	}
	sh := dscsatest.Shipment("SH-E2E")
	must(t, svc.CreateShipment(ctx, "pack", sh))
	for _, p := range pallets {
		if _, err := svc.Pick(ctx, "pack", sh.ID, "]C1"+"00"+p.SSCC); err != nil {
			t.Fatal(err)
		}
	}
	must(t, svc.PackShipment(ctx, "pack", sh.ID))
	must(t, svc.Ship(ctx, "pack", sh.ID))
	client.Notify()

	// The manufacturer's central delivers the document; the wholesaler's captures it.
	var d dscsa.Delivery
	waitFor(t, "the delivery of the shipment's document", func() bool {
		var ds []dscsa.Delivery
		mfr.call(t, "GET", "/v1/dscsa/deliveries?shipment=SH-E2E", mfr.erp, nil, &ds, 200)
		if len(ds) == 1 {
			d = ds[0]
		}
		return d.Status == dscsa.DeliveryDelivered || d.Status == dscsa.DeliveryFailed
	})
	if d.Status != dscsa.DeliveryDelivered || d.Receipt.Status != 201 || d.Partner != "wholesaler" {
		t.Fatalf("delivery %+v receipt %+v", d, d.Receipt)
	}
	mu.Lock()
	doc := received[len(received)-1]
	mu.Unlock()
	dscsatest.MustXSDValid(t, doc)
	h, evs := readDoc(t, doc)
	if ts, ok := h.TransactionStatement(); !ok || !ts.Affirm || len(evs) != 2+6+1 { // commissioning: units, SSCCs (cases and pallets); packing: 4 cases, 2 pallets; shipping
		t.Fatalf("document: TS %v, %d events", ok, len(evs))
	}
	var job dscsa.CaptureJob
	if err := json.Unmarshal([]byte(d.Receipt.Answer), &job); err != nil || !job.Success || job.Captured != len(evs) || job.DocumentID != "SH-E2E" {
		t.Fatalf("the wholesaler's capture: %+v (%v)", job, err)
	}

	// The wholesaler receives both pallets at a warehouse station of its
	// DC by scanning their labels against the document.
	whs.atSite(t, dscsatest.WhsDC, "dc-1")
	dc, _, _ := newWarehouseStation(t, whs, "dc-1")
	receiving, err := dc.StartReceiving(ctx, "pack", "]C1"+"00"+pallets[0].SSCC)
	if err != nil || receiving.Document.Capture != job.ID {
		t.Fatalf("find the document by the pallet's label: %v", err)
	}
	for _, p := range pallets {
		if _, err := receiving.Add("]C1" + "00" + p.SSCC); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := dc.FinishReceiving(ctx, "pack", receiving, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Clean() || rec.Received != 16 || rec.Units != 16 || rec.PO != sh.PO {
		t.Fatalf("receipt %+v", rec)
	}

	// A pharmacy returns a pack; before reselling it the wholesaler asks
	// the manufacturer to verify it (saleable return).
	ret := units[5]
	vpath := fmt.Sprintf("/dscsa/verify/01/%s/10/%s/21/%s?17=%s&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=%s&corrUUID=%s",
		ret.GTIN, centraltest.Lot, url.PathEscape(ret.Serial), centraltest.Expiry, dscsatest.WhsGLN, "7d6c1c0e-1f1e-4e8e-8c2e-2b7b6e0f9a11")
	var vr dscsa.VerificationResponse
	mfr.call(t, "GET", vpath, whsAtMfr, nil, &vr, 200)
	if !vr.Data.Verified || vr.ResponderGLN != dscsatest.MfrGLN || vr.CorrUUID != "7d6c1c0e-1f1e-4e8e-8c2e-2b7b6e0f9a11" {
		t.Fatalf("verification %+v", vr)
	}
	// A pack the manufacturer never made fails it.
	mfr.call(t, "GET", strings.Replace(vpath, url.PathEscape(ret.Serial), "FORGED1", 1), whsAtMfr, nil, &vr, 200)
	if vr.Data.Verified || vr.Data.VerificationFailureReason != dscsa.NoMatchGTINSerial {
		t.Fatalf("forged pack: %+v", vr)
	}

	// Tracing the returned pack, at the wholesaler (everything it knows:
	// the manufacturer's events and its own receipt) and at the manufacturer.
	key := url.PathEscape(station.SGTIN(ret.GTIN, ret.Serial).Key())
	var tr dscsa.Trace
	whs.call(t, "GET", "/dscsa/trace/"+key, whs.erp, nil, &tr, 200)
	if tr.Commissioned == nil || tr.Commissioned.Name != "Test Pharma Plant" || tr.Lot != centraltest.Lot || len(tr.Containers) != 2 ||
		len(tr.Custody) != 2 || tr.Custody[0].BizStep != "shipping" || tr.Custody[0].FromOwnerName != "Test Pharma Inc." ||
		tr.Custody[0].ToOwnerName != "Test Drug Distributor" || tr.Custody[1].BizStep != "receiving" {
		t.Fatalf("the wholesaler's trace %+v", tr)
	}
	case0 := cases[1]
	if !strings.HasSuffix(tr.Containers[0].EPC, case0.SSCC[7:17]) {
		t.Fatalf("the returned pack is in %s, want case %s", tr.Containers[0].EPC, case0.SSCC)
	}
	req, _ := http.NewRequest("GET", whs.srv.URL()+"/dscsa/trace/"+key+"?format=jsonld20", nil)
	req.Header.Set("Authorization", "Bearer "+whs.erp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	trdoc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dscsatest.MustJSONValid(t, trdoc)
	var mt dscsa.Trace
	mfr.call(t, "GET", "/dscsa/trace/"+key, whsAtMfr, nil, &mt, 200)
	if len(mt.Custody) != 1 || mt.Custody[0].ToOwner != "urn:epc:id:sgln:039999.000001.0" || len(mt.Containers) != 2 {
		t.Fatalf("the manufacturer's trace %+v", mt)
	}
	// The manufacturer kept the verification requests.
	var vs []dscsa.VerificationRecord
	mfr.call(t, "GET", "/v1/dscsa/verifications", mfr.erp, nil, &vs, 200)
	if len(vs) != 2 || vs[1].Request.Serial != ret.Serial || vs[1].Request.Context != "dscsaSaleableReturn" {
		t.Fatalf("verification records %+v", vs)
	}
	t.Logf("end to end in %s", time.Since(start))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newStation returns a packaging station: a real ledger, the product, a
// supervisor and a packer, and a ZPL printer driver talking to a simulated
// printer over TCP.
func newStation(t *testing.T) (*station.Service, *localdb.DB, *sim.ZPLPrinter) {
	t.Helper()
	clock := &centraltest.Clock{}
	ledger := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "line-1.db"), "line-1", clock)
	printer := sim.NewZPLPrinter()
	t.Cleanup(func() { printer.Close() })
	addr, err := printer.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	drv := zpl.NewPrinter(nil, zpl.Options{Dial: zpl.DialTCP(addr.String()), Logger: slog.New(slog.DiscardHandler),
		Templates: zpl.NewTemplates(fstest.MapFS{"sscc.zpl": {Data: []byte(ssccTemplate)}})})
	light := auth.Params{Memory: 64, Time: 1, Threads: 1}
	svc, err := station.NewService(station.Config{Ledger: ledger, Clock: clock, Line: "line-1", Printer: drv,
		Auth: station.AuthPolicy{Params: light}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	must(t, svc.ImportProduct(ctx, e2eProduct()))
	for _, u := range []station.User{
		{ID: "sup", Name: "Sam Supervisor", Roles: []station.Role{station.RoleSupervisor}, Active: true},
		{ID: "pack", Name: "Pat Packer", Roles: []station.Role{station.RolePacker}, Active: true},
	} {
		must(t, svc.ImportUser(ctx, u))
		hash, err := auth.Hash("246810", light)
		must(t, err)
		must(t, svc.ImportCredential(ctx, u.ID, station.CredentialPIN, hash))
	}
	return svc, ledger, printer
}

// produce commissions 16 packs of an order as the line run records them,
// then packs them into 4 cases and the cases onto 2 pallets at the
// station, each label printed. It returns the packs, cases and pallets.
func produce(t *testing.T, svc *station.Service, ledger station.Ledger) (units, cases, pallets []station.Item) {
	t.Helper()
	const order = "ORD-E2E"
	must(t, svc.ImportOrder(ctx, station.Order{ID: order, GTIN: centraltest.GTIN, Lot: centraltest.Lot, Expiry: centraltest.Expiry, Quantity: 16, Line: "line-1"}))
	must(t, svc.ReleaseOrder(ctx, "sup", order))
	must(t, svc.Pools().Fill(ctx, centraltest.GTIN, 100))
	ev := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "sup"} }
	if _, err := ledger.Append(ctx, ev(station.OrderStateChanged{Order: order, From: station.OrderReleased, To: station.OrderRunning, Reason: "line started"})); err != nil {
		t.Fatal(err)
	}
	serials, err := svc.Pools().Allocate(ctx, order, centraltest.GTIN, "sup", 16)
	if err != nil || len(serials) != 16 {
		t.Fatalf("allocate: %v %v", serials, err)
	}
	for _, s := range serials {
		g := centraltest.GTIN
		if _, err := ledger.Append(ctx, ev(station.UnitPrinted{GTIN: g, Serial: s, Device: "coder-1"})); err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.Append(ctx, ev(station.UnitVerified{GTIN: g, Serial: s, Device: "camera-1", Grade: "A",
			Read: "(01)" + g + "(17)" + centraltest.Expiry + "(10)" + centraltest.Lot + "(21)" + s}), ev(station.UnitCommissioned{GTIN: g, Serial: s, Device: "camera-1"})); err != nil {
			t.Fatal(err)
		}
		units = append(units, station.SGTIN(g, s))
	}
	fill := func(level station.AggregationLevel, kids []station.Item) station.Item {
		c, err := svc.OpenParent(ctx, "pack", order, level)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			if _, err := svc.Pack(ctx, "pack", c.Parent, k.Key()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.CloseParent(ctx, "pack", c.Parent, nil); err != nil {
			t.Fatal(err)
		}
		return c.Parent
	}
	for i := 0; i < 16; i += 4 {
		cases = append(cases, fill(station.LevelCase, units[i:i+4]))
	}
	for i := 0; i < 4; i += 2 {
		pallets = append(pallets, fill(station.LevelPallet, cases[i:i+2]))
	}
	return units, cases, pallets
}
