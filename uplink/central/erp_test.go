package central_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

func (h *harness) json(t testing.TB, method, path string, in, out any, wantStatus int) uplink.ErrorDetail {
	t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
	}
	st, detail, data := h.do(t, request{method: method, path: path, token: h.erp, ctype: "application/json", body: body})
	if st != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, wantStatus, data)
	}
	if out != nil && st < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return detail
}

var testProduct = centraltest.Product()

// TestServer_ERP drives the ERP API: products, an order released to a line,
// a station that pulls it, reserves serials and reports production, then
// the order's progress, the events feed, the repository and a serial range.
func TestServer_ERP(t *testing.T) {
	h := newHarness(t)
	var p station.Product
	h.json(t, "POST", "/v1/products", testProduct, &p, http.StatusCreated)
	if p.Name != testProduct.Name || len(p.Levels) != 2 {
		t.Fatalf("product=%+v", p)
	}
	h.json(t, "PUT", "/v1/products/"+centraltest.GTIN, testProduct, &p, http.StatusOK)
	bad := testProduct
	bad.NDC = "0001-0123-46"
	if d := h.json(t, "PUT", "/v1/products/"+centraltest.GTIN, bad, nil, http.StatusBadRequest); !strings.Contains(d.Message, "does not embed NDC 0001-0123-46") {
		t.Fatalf("wrong NDC: %q", d.Message)
	}

	order := uplink.Order{ID: "PO-line-1", GTIN: centraltest.GTIN, Lot: centraltest.Lot, Expiry: centraltest.Expiry, Quantity: 1_000_000, Line: "line-1"}
	var prog uplink.OrderProgress
	h.json(t, "POST", "/v1/orders", order, &prog, http.StatusCreated)
	if prog.Order.State != station.OrderPlanned {
		t.Fatalf("new order state=%s, want planned", prog.Order.State)
	}
	order.State = station.OrderReleased
	h.json(t, "PUT", "/v1/orders/PO-line-1", order, &prog, http.StatusOK)
	order.State = station.OrderClosed
	if d := h.json(t, "PUT", "/v1/orders/PO-line-1", order, nil, http.StatusConflict); !strings.Contains(d.Message, "it can become running") {
		t.Fatalf("released -> closed: %q", d.Message)
	}

	api, _ := h.enroll(t, "line-1")
	md, err := api.MasterData(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range md.Records {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Contains(kinds, uplink.KindOrder) || !slices.Contains(kinds, uplink.KindProduct) {
		t.Fatalf("master data kinds=%v, want the product and the released order", kinds)
	}
	res, err := api.Reserve(ctx, uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 50, RequestID: "r1"})
	if err != nil || len(res.Serials) != 50 || res.Holder != "line-1" {
		t.Fatalf("reserve: %+v, %v", res, err)
	}

	evs := journal(t, "line-1", "A", 200)
	if _, err := api.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs}); err != nil {
		t.Fatal(err)
	}
	h.json(t, "GET", "/v1/orders/PO-line-1", nil, &prog, http.StatusOK)
	if len(prog.Stations) != 1 || prog.Totals.Commissioned == 0 || prog.Totals.Printed != prog.Totals.Commissioned+prog.Totals.Rejected || !prog.Reconciliation.Balanced {
		t.Fatalf("progress=%+v, want line-1's counters, balanced", prog)
	}

	// The feed pages through every event in order, byte for byte.
	var got []station.Event
	for after := int64(0); ; {
		var page uplink.FeedPage
		h.json(t, "GET", "/v1/events?limit=70&after="+strconv.FormatInt(after, 10), nil, &page, http.StatusOK)
		for _, fe := range page.Events {
			got = append(got, fe.Event)
		}
		if len(page.Events) == 0 {
			break
		}
		after = page.Next
	}
	if d := centraltest.SameJournal(evs, got); d != "" {
		t.Fatalf("feed differs from the journal: %s", d)
	}
	for _, e := range got {
		if e.ComputeHash() != e.Hash {
			t.Fatalf("feed event seq %d does not hash to its hash", e.Seq)
		}
	}

	var rec uplink.ItemRecord
	h.json(t, "GET", "/v1/items/"+url.PathEscape(station.SGTIN(centraltest.GTIN, "A0000003").Key()), nil, &rec, http.StatusOK)
	if rec.State != station.UnitStateCommissioned || rec.Lot != centraltest.Lot || rec.Parent == "" || len(rec.History) < 5 {
		t.Fatalf("item=%+v", rec)
	}
	var caseRec uplink.ItemRecord
	h.json(t, "GET", "/v1/items/"+strings.TrimPrefix(rec.Parent, "(00)"), nil, &caseRec, http.StatusOK)
	if !slices.Contains(caseRec.Children, rec.Key) {
		t.Fatalf("case %s children=%v, want %s among them", caseRec.Key, caseRec.Children, rec.Key)
	}
	if d := h.json(t, "GET", "/v1/items/(01)123", nil, nil, http.StatusBadRequest); !strings.Contains(d.Message, "not an item key") {
		t.Fatalf("bad key: %q", d.Message)
	}

	var rng uplink.Reservation
	h.json(t, "POST", "/v1/serials", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 20, RequestID: "cmo-1"}, &rng, http.StatusOK)
	if rng.Holder != "erp:erp-1" || len(rng.Serials) != 20 {
		t.Fatalf("range=%+v", rng)
	}
	for _, s := range rng.Serials {
		if slices.Contains(res.Serials, s) {
			t.Fatalf("serial %s issued to line-1 and again to the ERP", s)
		}
	}
	var sts []uplink.StationInfo
	h.json(t, "GET", "/v1/stations", nil, &sts, http.StatusOK)
	if len(sts) != 1 || sts[0].HeadSeq != evs[len(evs)-1].Seq || sts[0].LastSync.IsZero() {
		t.Fatalf("stations=%+v", sts)
	}
	var users []uplink.User
	h.json(t, "PUT", "/v1/users/u1", uplink.User{User: station.User{ID: "u1", Name: "Ann", Roles: []station.Role{station.RoleQA}, Active: true},
		CredentialKind: station.CredentialPIN, CredentialHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}, nil, http.StatusCreated)
	h.json(t, "GET", "/v1/users", nil, &users, http.StatusOK)
	if len(users) != 1 || users[0].CredentialHash != "" || users[0].Name != "Ann" {
		t.Fatalf("users=%+v, want Ann without her credential hash", users)
	}
	if d := h.json(t, "PUT", "/v1/users/u2", uplink.User{User: station.User{ID: "u2", Name: "Bob", Roles: []station.Role{station.RoleOperator}, Active: true},
		CredentialKind: station.CredentialPIN, CredentialHash: "123456"}, nil, http.StatusBadRequest); !strings.Contains(d.Message, "never a PIN") {
		t.Fatalf("clear PIN: %q", d.Message)
	}
}

func TestServer_ImportCSV(t *testing.T) {
	h := newHarness(t)
	post := func(body string) (int, uplink.ErrorDetail, []byte) {
		return h.do(t, request{method: "POST", path: "/v1/products/import", token: h.erp, ctype: "text/csv", body: []byte(body)})
	}
	t.Run("OK", func(t *testing.T) {
		st, _, data := post("gtin,name,ndc,dosage_form,strength,net_content,manufacturer,company_prefix_length,case_quantity,case_gtin,pallet_quantity,markets\n" +
			"00300010123455,Testacillin 10 mg,0001-0123-45,tablet,10 mg,30 tablets,Test Pharma,6,10,10300010123452,40,US\n" +
			"\n" +
			"04012345000016,\"Other, 5 mg\",,capsule,5 mg,20 capsules,Test Pharma,7,,,,EU;BR\n")
		if st != 200 {
			t.Fatalf("status %d: %s", st, data)
		}
		var res uplink.ImportResult
		json.Unmarshal(data, &res)
		if res.Created != 2 || res.Updated != 0 {
			t.Fatalf("result=%+v, want 2 created", res)
		}
		p, err := h.store.Product(ctx, "04012345000016")
		if err != nil || p.Name != "Other, 5 mg" || !slices.Equal(p.Markets, []station.Market{"EU", "BR"}) {
			t.Fatalf("product=%+v, %v", p, err)
		}
	})
	t.Run("ErrLines", func(t *testing.T) {
		before, _ := h.store.Products(ctx)
		st, d, _ := post("gtin,name,ndc,dosage_form,strength,net_content,manufacturer,markets,company_prefix_length,serial_length\n" +
			"00300010123455,Fine,0001-0123-45,tablet,1 mg,10,TP,US,6,\n" +
			"00300010123456,Bad check digit,0001-0123-45,tablet,1 mg,10,TP,US,6,\n" +
			"00300010345659,,0001-0345-65,tablet,1 mg,10,TP,US,6,\n" +
			"00300010345659,No prefix,0001-0345-65,tablet,1 mg,10,TP,US,x,\n" +
			"00300010345659,Too long serial,0001-0345-65,tablet,1 mg,10,TP,US,6,21\n" +
			"00300010123455,Twice,0001-0123-45,tablet,1 mg,10,TP,US,6,\n")
		if st != 400 {
			t.Fatalf("status=%d, want 400", st)
		}
		want := []struct {
			line   int
			column string
			text   string
		}{
			{3, "gtin", "check digit"}, {4, "name", "name is missing"}, {5, "company_prefix_length", "not a whole number"},
			{6, "serial_length", "serial length 21"}, {7, "gtin", "already on line 2"},
		}
		if len(d.Errors) != len(want) {
			t.Fatalf("errors=%+v, want %d", d.Errors, len(want))
		}
		for i, w := range want {
			e := d.Errors[i]
			if e.Line != w.line || e.Column != w.column || !strings.Contains(e.Message, w.text) {
				t.Fatalf("error %d=%+v, want line %d column %s with %q", i, e, w.line, w.column, w.text)
			}
		}
		if d.Line != 3 || !strings.Contains(d.Message, "nothing was imported") {
			t.Fatalf("detail=%+v", d)
		}
		after, _ := h.store.Products(ctx)
		if len(after) != len(before) {
			t.Fatalf("%d products after a refused import, want %d", len(after), len(before))
		}
	})
	t.Run("ErrHeader", func(t *testing.T) {
		st, d, _ := post("gtin,nmae\n00300010123455,x\n")
		if st != 400 || len(d.Errors) != 3 || d.Errors[0].Column != "nmae" || d.Errors[1].Column != "name" {
			t.Fatalf("status %d errors=%+v, want the unknown and the missing columns", st, d.Errors)
		}
	})
}

// TestOpenAPI_DescribesEveryRoute checks /openapi.json against the route
// table both ways: every route is described, and nothing else is.
func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	h := newHarness(t)
	st, _, data := h.do(t, request{method: "GET", path: "/openapi.json"})
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi=%q", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			described[strings.ToUpper(m)+" "+path] = true
			var o struct {
				Summary   string                     `json:"summary"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || o.Summary == "" || len(o.Responses) == 0 {
				t.Errorf("%s %s: needs a summary and responses (%v)", m, path, err)
			}
		}
	}
	for _, r := range h.srv.Routes() {
		key := strings.Replace(r, "...}", "}", 1)
		if !described[key] {
			t.Errorf("route %s is not described in openapi.json", r)
		}
		delete(described, key)
	}
	for k := range described {
		t.Errorf("openapi.json describes %s, which the server does not serve", k)
	}
	// Every $ref points at a defined component.
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/(\w+)/(\w+)"`).FindAllSubmatch(data, -1) {
		if !bytes.Contains(data, []byte(`"`+string(m[2])+`": {`)) {
			t.Errorf("$ref to undefined %s/%s", m[1], m[2])
		}
	}
}

// TestServer_Metrics checks the exposition format line by line and that
// the figures move with traffic.
func TestServer_Metrics(t *testing.T) {
	h := newHarness(t)
	api, _ := h.enroll(t, "line-1")
	evs := journal(t, "line-1", "A", 120)
	if _, err := api.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs[:100], Outbox: uplink.OutboxReport{Head: evs[len(evs)-1].Seq, Waiting: int64(len(evs))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Push(ctx, &uplink.Batch{Station: "line-1", Events: evs[50:100], Outbox: uplink.OutboxReport{Head: evs[len(evs)-1].Seq, Waiting: int64(len(evs)) - 100}}); err != nil {
		t.Fatal(err)
	}
	_, _, data := h.do(t, request{method: "GET", path: "/metrics"})
	text := string(data)
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? -?[0-9.e+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [+-]Inf$`)
	typed := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("line %d: bad TYPE line %q", i+1, line)
			}
			typed[f[2]] = f[3]
		default:
			if !sample.MatchString(line) {
				t.Fatalf("line %d is not a valid sample: %q", i+1, line)
			}
			name := line[:strings.IndexAny(line, "{ ")]
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if typed[name] == "" && typed[base] == "" {
				t.Fatalf("line %d: sample %s has no TYPE line before it", i+1, name)
			}
		}
	}
	for _, want := range []string{
		`linestation_events_ingested_total{station="line-1"} 100`,
		`linestation_events_duplicate_total{station="line-1"} 50`,
		`linestation_station_head_seq{station="line-1"} 100`,
		`linestation_station_outbox_events{station="line-1"} ` + strconv.Itoa(int(evs[len(evs)-1].Seq)-100),
		`linestation_http_request_duration_seconds_count{route="POST /v1/sync/events"} 2`,
		`linestation_http_requests_total{route="POST /v1/sync/events",code="200"} 2`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`linestation_station_lag_seconds\{station="line-1"\} [0-9.e+-]+`).MatchString(text) || strings.Contains(text, `linestation_station_lag_seconds{station="line-1"} 0`+"\n") {
		t.Errorf("lag of a station that reported more than is held should be above 0:\n%s", text)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

func TestCheckListen(t *testing.T) {
	for _, tt := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"127.0.0.1:8440", false, false, true},
		{"localhost:8440", false, false, true},
		{"[::1]:8440", false, false, true},
		{":8440", false, false, false},
		{"0.0.0.0:8440", false, false, false},
		{"10.1.2.3:8440", false, false, false},
		{"0.0.0.0:8440", true, false, true},
		{"0.0.0.0:8440", false, true, true},
		{"nonsense", true, false, false},
	} {
		err := central.CheckListen(tt.addr, tt.tls, tt.insecure)
		if (err == nil) != tt.ok {
			t.Errorf("CheckListen(%q, tls=%v, insecure=%v)=%v, want ok=%v", tt.addr, tt.tls, tt.insecure, err, tt.ok)
		}
		if err != nil && station.ErrorCode(err) != station.EINVALID {
			t.Errorf("CheckListen(%q): code %s, want invalid", tt.addr, station.ErrorCode(err))
		}
	}
	if _, err := central.New(central.Config{Store: centraltest.MustStore(t), Addr: ":8440"}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("New on every interface without TLS: err=%v, want a refusal naming TLS", err)
	}
}

// TestServer_TLS serves HTTPS with a certificate made for the test and
// syncs through it with a client that trusts only that certificate.
func TestServer_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	store := centraltest.MustStore(t)
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("url=%s, want https", srv.URL())
	}
	code, _ := central.AddStation(ctx, store, "line-1", "", 0, time.Now(), false)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	api, _ := uplink.NewAPI(srv.URL(), "", hc)
	e, err := api.Enroll(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	evs := journal(t, "line-1", "A", 10)
	if _, err := api.WithToken(e.Token).Push(ctx, &uplink.Batch{Station: "line-1", Events: evs}); err != nil {
		t.Fatal(err)
	}
	// A client that does not trust the certificate is refused by TLS.
	plain, _ := uplink.NewAPI(srv.URL(), e.Token, nil)
	if _, err := plain.Head(ctx); err == nil || !uplink.IsUnavailable(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusting client: err=%v, want a certificate failure", err)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "central.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServer_Close checks the graceful shutdown: readiness goes to 503,
// the listener closes, and a second Close is harmless.
func TestServer_Close(t *testing.T) {
	store := centraltest.MustStore(t)
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz before close: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz while stopping=%d, want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz=%d, want 200", rec.Code)
	}
	if _, err := http.Get(srv.URL() + "/healthz"); err == nil {
		t.Fatal("the listener still accepts after Close")
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v2/nothing", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "openapi.json") {
		t.Fatalf("unknown path: %d %s", rec.Code, rec.Body)
	}
}
