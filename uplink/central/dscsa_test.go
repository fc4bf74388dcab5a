package central_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// exchangeHarness is a real central with its DSCSA exchange on loopback:
// our company the manufacturer, a shipped shipment of 95 units (10 cases,
// pallets of 4) from station line-1, and the wholesaler registered as a
// partner (documents kept, not sent) with a credential.
type exchangeHarness struct {
	*harness
	x        *dscsa.Exchange
	scenario *dscsatest.Scenario
	whs      string // the wholesaler's token
	other    string // another partner's token (no business with us)
}

func newExchangeHarness(t testing.TB, units ...int) *exchangeHarness {
	t.Helper()
	store := dscsatest.MustStore(t, "line-1")
	n := 95
	if len(units) > 0 {
		n = units[0]
	}
	s := &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: n, PerPallet: 4, Shipment: "SH-1"}
	dscsatest.MustScenario(t, store, s)
	dir := t.TempDir()
	x, err := dscsa.New(dscsa.Config{Store: store, GLN: dscsatest.MfrGLN, SpoolDir: filepath.Join(dir, "spool"), Interval: 20 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	h := &exchangeHarness{harness: &harness{store: store}, x: x, scenario: s}
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet(), MaxBodyBytes: 4 << 20, MaxJSONBytes: 16 << 20, Exchange: x})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	h.srv, h.url = srv, srv.URL()
	if h.erp, err = central.AddClient(ctx, store, "erp-1", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []dscsa.Partner{
		{ID: "wholesaler", Name: "Test Drug Distributor", GLN: dscsatest.WhsGLN, Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone},
			Permissions: []string{dscsa.PermCapture, dscsa.PermQuery, dscsa.PermVerify, dscsa.PermTrace}},
		{ID: "other", Name: "Other Distributor", GLN: dscsatest.GLN("037777000001"), Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone},
			Permissions: []string{dscsa.PermCapture, dscsa.PermQuery, dscsa.PermVerify, dscsa.PermTrace}},
	} {
		var out dscsa.Partner
		h.json(t, "PUT", "/v1/dscsa/partners/"+p.ID, p, &out, 201)
		var tok map[string]string
		h.json(t, "POST", "/v1/dscsa/partners/"+p.ID+"/tokens", nil, &tok, 201)
		if p.ID == "wholesaler" {
			h.whs = tok["token"]
		} else {
			h.other = tok["token"]
		}
	}
	// The document is built and its events recorded by the exchange's loop.
	stationtestPoll(t, "the shipment's document", func() bool {
		ds, err := store.Deliveries(ctx, "SH-1", 1)
		return err == nil && len(ds) == 1 && ds[0].Status == dscsa.DeliveryKept
	})
	return h
}

func stationtestPoll(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get does a GET with a token and returns status, headers and body.
func (h *exchangeHarness) get(t testing.TB, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func errMessage(t testing.TB, data []byte) string {
	t.Helper()
	var eb uplink.ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil {
		t.Fatalf("error answer is not JSON: %s", data)
	}
	return eb.Error.Message
}

// TestExchange_HTTP goes through the exchange's endpoints as the wholesaler
// and as our ERP: the shipment's document, the event query with a next
// page, verification, tracing and the delivery list.
func TestExchange_HTTP(t *testing.T) {
	h := newExchangeHarness(t)
	// The document, both formats, over HTTP.
	st, hdr, doc := h.get(t, "/v1/dscsa/shipments/SH-1/document", h.erp)
	if st != 200 || hdr.Get("Content-Type") != "application/xml" {
		t.Fatalf("document: %d %s", st, doc)
	}
	dscsatest.MustXSDValid(t, doc)
	st, _, doc = h.get(t, "/v1/dscsa/shipments/SH-1/document?format=jsonld20", h.erp)
	if st != 200 {
		t.Fatalf("document: %d %s", st, doc)
	}
	dscsatest.MustJSONValid(t, doc)
	if st, _, body := h.get(t, "/v1/dscsa/shipments/NOPE/document", h.erp); st != 404 || !strings.Contains(errMessage(t, body), "NOPE is not known") {
		t.Fatalf("unknown shipment: %d %s", st, body)
	}
	// The query interface, paged.
	st, hdr, page := h.get(t, "/epcis/events?eventType=AggregationEvent&perPage=10", h.whs)
	if st != 200 || hdr.Get("GS1-EPCIS-Version") != "2.0.0" {
		t.Fatalf("events: %d %s", st, page)
	}
	dscsatest.MustJSONValid(t, page)
	if n := strings.Count(string(page), `"type":"AggregationEvent"`); n != 10 {
		t.Fatalf("first page has %d events, want 10", n)
	}
	link := hdr.Get("Link")
	if !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "nextPageToken=") {
		t.Fatalf("Link %q", link)
	}
	next := link[strings.Index(link, "<")+1 : strings.Index(link, ">")]
	st, hdr, page = h.get(t, next, h.whs)
	if st != 200 || strings.Count(string(page), `"type":"AggregationEvent"`) != 3 || hdr.Get("Link") != "" {
		t.Fatalf("second page: %d, %d events, Link %q", st, strings.Count(string(page), `"type":"AggregationEvent"`), hdr.Get("Link"))
	}
	// Ordered, limited: a next page only while the limit is not reached.
	st, hdr, page = h.get(t, "/epcis/events?eventType=AggregationEvent&orderBy=eventTime&orderDirection=ASC&eventCountLimit=12&perPage=10", h.whs)
	if st != 200 || strings.Count(string(page), `"type":"AggregationEvent"`) != 10 || !strings.Contains(hdr.Get("Link"), "eventCountLimit=12") {
		t.Fatalf("ordered first page: %d, Link %q", st, hdr.Get("Link"))
	}
	link = hdr.Get("Link")
	st, hdr, page = h.get(t, link[strings.Index(link, "<")+1:strings.Index(link, ">")], h.whs)
	if st != 200 || strings.Count(string(page), `"type":"AggregationEvent"`) != 2 || hdr.Get("Link") != "" {
		t.Fatalf("ordered second page: %d, %d events, Link %q", st, strings.Count(string(page), `"type":"AggregationEvent"`), hdr.Get("Link"))
	}
	// More than maxEventCount: 413, the EPCIS QueryTooLargeException.
	if st, _, body := h.get(t, "/epcis/events?eventType=AggregationEvent&maxEventCount=12", h.whs); st != http.StatusRequestEntityTooLarge ||
		!strings.Contains(errMessage(t, body), "QueryTooLargeException: more than maxEventCount=12") {
		t.Fatalf("maxEventCount=12 of 13: %d %s", st, body)
	}
	// Another partner's query comes back empty.
	st, _, page = h.get(t, "/epcis/events", h.other)
	if st != 200 || strings.Contains(string(page), `"type":"ObjectEvent"`) {
		t.Fatalf("other partner's query: %d %s", st, page)
	}
	// Verification in the Lightweight Messaging form.
	s := h.scenario
	vpath := func(serial, gln string) string {
		return fmt.Sprintf("/dscsa/verify/01/%s/10/%s/21/%s?17=%s&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=%s&corrUUID=%s",
			centraltest.GTIN, centraltest.Lot, url.PathEscape(serial), centraltest.Expiry, gln, "1e0c4b8e-2e4a-4e5a-9a37-3b8f7e0a1c2d")
	}
	st, _, body := h.get(t, vpath(s.UnitSerial(5), dscsatest.WhsGLN), h.whs)
	var vr dscsa.VerificationResponse
	if st != 200 || json.Unmarshal(body, &vr) != nil || !vr.Data.Verified || vr.ResponderGLN != dscsatest.MfrGLN || vr.CorrUUID != "1e0c4b8e-2e4a-4e5a-9a37-3b8f7e0a1c2d" {
		t.Fatalf("verify: %d %s", st, body)
	}
	for _, tt := range []struct {
		name, path, token string
		status            int
	}{
		{"NoCredential", vpath(s.UnitSerial(5), dscsatest.WhsGLN), "", 401},
		{"UnknownRequester", vpath(s.UnitSerial(5), dscsatest.WhsGLN), "lst_nobody", 401},
		{"OtherGLN", vpath(s.UnitSerial(5), dscsatest.MfrGLN), h.whs, 403},
		{"StationCredential", vpath(s.UnitSerial(5), dscsatest.WhsGLN), h.stationToken(t), 403},
		{"GTINNotOurs", strings.Replace(vpath(s.UnitSerial(5), dscsatest.WhsGLN), centraltest.GTIN, "00399990000016", 1), h.whs, 404},
		{"Malformed", strings.Replace(vpath(s.UnitSerial(5), dscsatest.WhsGLN), "corrUUID=", "corrUUID=x", 1), h.whs, 400},
	} {
		if st, _, body := h.get(t, tt.path, tt.token); st != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, st, body, tt.status)
		}
	}
	// Tracing as JSON and as EPCIS.
	unit := url.PathEscape("(01)" + centraltest.GTIN + "(21)" + s.UnitSerial(12))
	st, _, body = h.get(t, "/dscsa/trace/"+unit, h.whs)
	var tr dscsa.Trace
	if st != 200 || json.Unmarshal(body, &tr) != nil || len(tr.Custody) != 1 || len(tr.Containers) != 2 {
		t.Fatalf("trace: %d %s", st, body)
	}
	st, _, body = h.get(t, "/dscsa/trace/"+unit+"?format=xml12", h.whs)
	if st != 200 {
		t.Fatalf("trace xml12: %d %s", st, body)
	}
	dscsatest.MustXSDValid(t, body)
	if st, _, _ := h.get(t, "/dscsa/trace/"+unit, h.other); st != 404 {
		t.Fatalf("other partner's trace: %d, want 404", st)
	}
	// Deliveries and kept verification requests, for our ERP only.
	var ds []dscsa.Delivery
	h.json(t, "GET", "/v1/dscsa/deliveries", nil, &ds, 200)
	if len(ds) != 1 || ds[0].Status != dscsa.DeliveryKept || ds[0].Receipt == nil || ds[0].Receipt.Events != 17 {
		t.Fatalf("deliveries %+v", ds)
	}
	var vs []dscsa.VerificationRecord
	h.json(t, "GET", "/v1/dscsa/verifications", nil, &vs, 200)
	if len(vs) != 3 { // the answered one, the 403 for another GLN and the 404; not the 400, the 401s nor the station (never authenticated as a requester)
		t.Fatalf("%d verification records, want 3: %+v", len(vs), vs)
	}
	if st, _, _ := h.get(t, "/v1/dscsa/deliveries", h.whs); st != 401 {
		t.Fatalf("a partner on an ERP route: %d, want 401", st)
	}
}

// stationToken enrolls a station and returns its token.
func (h *exchangeHarness) stationToken(t testing.TB) string {
	t.Helper()
	_, tok := h.enroll(t, fmt.Sprintf("st-%d", time.Now().UnixNano()%100000))
	return tok
}

// post sends a raw request and returns status and body.
func (h *exchangeHarness) post(t testing.TB, path, token, ctype string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", h.url+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// ourDocument returns a document from the wholesaler to us (the roles
// reversed: a supplier's document) built by another store.
func supplierDocument(t testing.TB) []byte {
	t.Helper()
	// The wholesaler ships back to us: its central knows our product.
	db := dscsatest.MustStore(t, "wh-1")
	sh := dscsatest.Shipment("RET-1")
	sh.Owner, sh.ShipFrom, sh.Partner, sh.ShipTo = dscsatest.WhsGLN, dscsatest.WhsDC, dscsatest.MfrGLN, dscsatest.MfrSite
	s := &dscsatest.Scenario{Station: "wh-1", Prefix: "R", Units: 12, PerPallet: 1, Shipment: "RET-1", Ship: &sh, SSCCBase: 7}
	evs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustIngest(t, db, evs)
	x, err := dscsa.New(dscsa.Config{Store: db, GLN: dscsatest.WhsGLN, SpoolDir: t.TempDir(), Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := x.WriteShipmentDocument(ctx, &buf, "RET-1", epcis.FormatXML12, dscsa.DocOptions{DocumentID: "WH-DOC-1"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2023-04-01T08:45:16Z">
<EPCISBody><EventList><ObjectEvent><eventTime>&lol9;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`

const externalEntity = `<?xml version="1.0"?>
<!DOCTYPE epcis [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2023-04-01T08:45:16Z">
<EPCISBody><EventList><ObjectEvent><eventTime>&xxe;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`

func deepJSON(where string) []byte {
	nest := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if where == "header" {
		return []byte(`{"x:deep":` + nest + `,"@context":"https://ref.gs1.org/standards/epcis/epcis-context.jsonld","type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2023-04-01T08:45:16Z","epcisBody":{"eventList":[]}}`)
	}
	return []byte(`{"@context":"https://ref.gs1.org/standards/epcis/epcis-context.jsonld","type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2023-04-01T08:45:16Z","epcisBody":{"eventList":[{"type":"ObjectEvent","x:a":` + nest + `}]}}`)
}

// rawPost writes a request head by hand (a Content-Length the client
// library would never send) and a few bytes of body, and reads the answer.
func rawPost(t *testing.T, base, path, token string, declared int64) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n<epcis:EPCISDocument", path, u.Host, token, declared)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a %d-byte declared body: %v", declared, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestExchange_Hostile sends what an attacker or a broken partner would:
// entity expansion and external entities, a 2 GB declared body, deep
// nesting, a gzip bomb, a document naming unknown products, documents and
// queries of another partner. Each is refused cleanly, nothing of it is
// stored, and the service stays up and keeps capturing.
func TestExchange_Hostile(t *testing.T) {
	h := newExchangeHarness(t)
	before, err := h.store.QueryEvents(ctx, &dscsa.Query{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, ctype string
		body              []byte
		status            int
		want              string
	}{
		{"BillionLaughs", "/epcis/capture", "application/xml", []byte(billionLaughs), 400, "DOCTYPE declarations are not allowed"},
		{"BillionLaughsSync", "/dscsa/documents", "application/xml", []byte(billionLaughs), 400, "DOCTYPE declarations are not allowed"},
		{"ExternalEntity", "/epcis/capture", "text/xml", []byte(externalEntity), 400, "external entities are refused"},
		{"DeepJSONHeader", "/epcis/capture", "application/ld+json", deepJSON("header"), 400, "nest deeper than 64 levels"},
		{"NotEPCIS", "/epcis/capture", "application/json", []byte(`{"hello":"world"}`), 400, "document"},
		{"WrongType", "/epcis/capture", "image/png", []byte("x"), 415, "Content-Type"},
		{"SyncNotXML", "/dscsa/documents", "application/ld+json", deepJSON("event"), 415, "Content-Type"},
	} {
		st, _, body := h.post(t, tt.path, h.whs, tt.ctype, tt.body)
		if st != tt.status || !strings.Contains(errMessage(t, body), tt.want) {
			t.Errorf("%s: %d %s, want %d %q", tt.name, st, clipBody(body), tt.status, tt.want)
		}
	}
	// A 2 GB declared body is refused from its Content-Length, unread.
	start := time.Now()
	st, body := rawPost(t, h.url, "/epcis/capture", h.whs, 2<<30)
	if st != 413 || !strings.Contains(body, "larger than") || time.Since(start) > 5*time.Second {
		t.Fatalf("2 GB body: %d %s after %s", st, body, time.Since(start))
	}
	// A gzip bomb: small on the wire, larger than the limit decompressed.
	var bomb bytes.Buffer
	zw := gzipWriter(&bomb)
	zw.Write([]byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2023-04-01T08:45:16Z"><!--`))
	zw.Write(bytes.Repeat([]byte(" "), 20<<20))
	zw.Close()
	if st, _, body := h.post(t, "/epcis/capture", h.whs, "application/xml", bomb.Bytes(), "Content-Encoding", "gzip"); st != 413 {
		t.Fatalf("gzip bomb: %d %s", st, clipBody(body))
	}
	// Deep nesting inside an event: the job fails naming it.
	st, hdr, body2 := h.post(t, "/epcis/capture", h.whs, "application/ld+json", deepJSON("event"))
	if st != 202 {
		t.Fatalf("deep event: %d %s", st, clipBody(body2))
	}
	job := h.waitJob(t, hdr.Get("Location"), h.whs)
	if job.Success || job.Captured != 0 || len(job.Errors) == 0 || !strings.Contains(job.Errors[0].Title, "event 0") || !strings.Contains(job.Errors[0].Title, "nest deeper than 64 levels") {
		t.Fatalf("deep event job %+v", job)
	}
	// A supplier document naming a product nobody knows: refused, naming
	// the event and field, nothing stored.
	doc := supplierDocument(t)
	evil := bytes.Replace(doc, []byte("urn:epc:id:sgtin:030001.0012345.R0000003<"), []byte("urn:epc:id:sgtin:039999.0000001.X1<"), 1)
	if bytes.Equal(evil, doc) {
		t.Fatal("the test document has no unit R0000003")
	}
	st, _, body2 = h.post(t, "/dscsa/documents", h.whs, "application/xml", evil)
	if st != 400 || !strings.Contains(errMessage(t, body2), "event 0, ObjectEvent/epcList[3]") || !strings.Contains(errMessage(t, body2), "nothing of it was stored") {
		t.Fatalf("unknown product: %d %s", st, clipBody(body2))
	}
	// Another partner sends the wholesaler's document: forbidden.
	if st, _, body := h.post(t, "/dscsa/documents", h.other, "application/xml", doc); st != 403 || !strings.Contains(errMessage(t, body), "is not partner other") {
		t.Fatalf("other partner's document: %d %s", st, clipBody(body))
	}
	// A station or nobody cannot capture.
	if st, _, _ := h.post(t, "/epcis/capture", h.stationToken(t), "application/xml", doc); st != 403 {
		t.Fatalf("station capture: %d", st)
	}
	if st, _, _ := h.post(t, "/epcis/capture", "", "application/xml", doc); st != 401 {
		t.Fatalf("anonymous capture: %d", st)
	}
	after, err := h.store.QueryEvents(ctx, &dscsa.Query{Limit: 10000})
	if err != nil || len(after) != len(before) {
		t.Fatalf("hostile input stored events: %d before, %d after (%v)", len(before), len(after), err)
	}
	// The service is up and captures the real document; the job is the
	// wholesaler's only.
	if st, _, _ := h.get(t, "/healthz", ""); st != 200 {
		t.Fatalf("healthz %d", st)
	}
	st, hdr, body2 = h.post(t, "/epcis/capture", h.whs, "application/xml", doc, "GS1-Capture-Error-Behaviour", "rollback")
	if st != 202 || !strings.HasPrefix(hdr.Get("Location"), "/epcis/capture/cj") {
		t.Fatalf("capture: %d %s", st, clipBody(body2))
	}
	job = h.waitJob(t, hdr.Get("Location"), h.whs)
	if !job.Success || job.Captured == 0 || job.DocumentID != "WH-DOC-1" {
		t.Fatalf("job %+v", job)
	}
	if st, _, _ := h.get(t, hdr.Get("Location"), h.other); st != 404 {
		t.Fatalf("another partner's job: %d, want 404", st)
	}
}

func clipBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func (h *exchangeHarness) waitJob(t *testing.T, location, token string) dscsa.CaptureJob {
	t.Helper()
	var j dscsa.CaptureJob
	stationtestPoll(t, "capture job "+location, func() bool {
		st, _, body := h.get(t, location, token)
		if st != 200 {
			t.Fatalf("GET %s: %d %s", location, st, body)
		}
		if err := json.Unmarshal(body, &j); err != nil {
			t.Fatal(err)
		}
		return !j.Running
	})
	return j
}

func gzipWriter(w io.Writer) *gzip.Writer {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	return zw
}

// BenchmarkVerifyHTTP answers verification requests over loopback HTTP
// (authentication, decision, durable record), against GET /healthz on the
// same server as the baseline of the same run.
func BenchmarkVerifyHTTP(b *testing.B) {
	h := newExchangeHarness(b, 200)
	s := h.scenario
	client := &http.Client{}
	get := func(path, token string) {
		req, _ := http.NewRequest("GET", h.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	const n = 500
	start := time.Now()
	for i := 0; i < n; i++ {
		get("/healthz", "")
	}
	base := time.Since(start) / n
	paths := make([]string, 200)
	for i := range paths {
		paths[i] = fmt.Sprintf("/dscsa/verify/01/%s/10/%s/21/%s?17=%s&linkType=verificationService&context=dscsaSaleableReturn&reqGLN=%s&corrUUID=%s",
			centraltest.GTIN, centraltest.Lot, s.UnitSerial(i), centraltest.Expiry, dscsatest.WhsGLN, "1e0c4b8e-2e4a-4e5a-9a37-3b8f7e0a1c2d")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(paths[i%len(paths)], h.whs)
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds()), "us/answer")
	b.ReportMetric(float64(base.Microseconds()), "us/healthz")
	b.ReportMetric(float64(per)/float64(base), "x-healthz")
}
