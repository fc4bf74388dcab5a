package dscsa_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// partnerEndpoint is a partner's EPCIS endpoint run by the test: it
// answers with the statuses of fail first, then 200, and keeps what it got.
type partnerEndpoint struct {
	*httptest.Server
	mu     sync.Mutex
	fail   []int
	bodies [][]byte
	auth   []string
	ctype  []string
}

func newEndpoint(t *testing.T, fail ...int) *partnerEndpoint {
	p := &partnerEndpoint{fail: fail}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.bodies = append(p.bodies, body)
		p.auth = append(p.auth, r.Header.Get("Authorization"))
		p.ctype = append(p.ctype, r.Header.Get("Content-Type"))
		if len(p.fail) > 0 {
			st := p.fail[0]
			p.fail = p.fail[1:]
			http.Error(w, "not now", st)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *partnerEndpoint) got() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.bodies...)
}

func wholesaler(delivery dscsa.DeliveryConfig) dscsa.Partner {
	return dscsa.Partner{ID: "wholesaler", Name: "Test Drug Distributor", GLN: dscsatest.WhsGLN, Delivery: delivery,
		Permissions: []string{dscsa.PermQuery, dscsa.PermVerify, dscsa.PermTrace, dscsa.PermCapture}}
}

// deliverAll attempts due deliveries until none is pending or n rounds pass.
func deliverAll(t *testing.T, x *dscsa.Exchange, db interface {
	Deliveries(ctx2 ctxT, shipment string, limit int) ([]dscsa.Delivery, error)
}, rounds int) dscsa.Delivery {
	t.Helper()
	var d dscsa.Delivery
	for i := 0; i < rounds; i++ {
		if _, err := x.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := db.Deliveries(ctx, "SH-1", 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries %v %v", ds, err)
		}
		d = ds[0]
		if d.Status != dscsa.DeliveryPending {
			return d
		}
		waitUntil(t, d.NextAttempt)
	}
	return d
}

// TestDeliver_HTTPS delivers a shipment's document to the partner's
// endpoint with its credential: two failures (503, then 429) are retried
// with backoff, the third attempt is accepted, and the receipt holds the
// partner's answer and the SHA-256 of exactly what the partner got, a
// document valid against the EPCIS 1.2 XSD.
func TestDeliver_HTTPS(t *testing.T) {
	db, x, _ := shipped(t, 30)
	ep := newEndpoint(t, 503, 429)
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "wholesaler.token"), []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	x = MustExchange(t, db, dscsatest.MfrGLN, func(c *dscsa.Config) { c.SecretsDir = secrets })
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodHTTPS, URL: ep.URL + "/epcis", Credential: "wholesaler.token"})); err != nil {
		t.Fatal(err)
	}
	d := deliverAll(t, x, db, 10)
	if d.Status != dscsa.DeliveryDelivered || d.Attempts != 3 || d.Receipt == nil || d.Receipt.Status != 202 || d.Receipt.Answer != `{"received":true}` {
		t.Fatalf("delivery %+v receipt %+v", d, d.Receipt)
	}
	bodies := ep.got()
	if len(bodies) != 3 {
		t.Fatalf("the endpoint got %d requests, want 3", len(bodies))
	}
	sum := sha256.Sum256(bodies[2])
	if hex.EncodeToString(sum[:]) != d.Receipt.SHA256 || int64(len(bodies[2])) != d.Receipt.Bytes {
		t.Fatalf("the receipt's SHA-256 %s does not match what the partner got", d.Receipt.SHA256)
	}
	for i, a := range ep.auth {
		if a != "Bearer s3cret-token" || ep.ctype[i] != "application/xml" {
			t.Errorf("request %d: Authorization %q, Content-Type %q", i, a, ep.ctype[i])
		}
	}
	dscsatest.MustXSDValid(t, bodies[2])
	if !d.EventsRecorded {
		t.Fatal("the document's events are not in the repository")
	}
	// Nothing more is sent once delivered.
	if n, err := x.DeliverDue(ctx); err != nil || n != 0 || len(ep.got()) != 3 {
		t.Fatalf("a second round sent again: %d %v", n, err)
	}
}

// TestDeliver_Refused: a partner that answers 400 gets no retries; the
// delivery is failed with the partner's answer, until retried by hand.
func TestDeliver_Refused(t *testing.T) {
	db, x, _ := shipped(t, 10)
	ep := newEndpoint(t, 400)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodHTTPS, URL: ep.URL})); err != nil {
		t.Fatal(err)
	}
	d := deliverAll(t, x, db, 5)
	if d.Status != dscsa.DeliveryFailed || !strings.Contains(d.LastError, "refused the document of shipment SH-1 with 400: not now") {
		t.Fatalf("delivery %+v", d)
	}
	if _, err := x.RetryDelivery(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	d = deliverAll(t, x, db, 5)
	if d.Status != dscsa.DeliveryDelivered || len(ep.got()) != 2 {
		t.Fatalf("after a retry: %+v, %d requests", d, len(ep.got()))
	}
}

// TestDeliver_File writes the document for an AS2/SFTP gateway: one
// complete file in the partner's folder, JSON-LD as the partner asked.
func TestDeliver_File(t *testing.T) {
	db, x, _ := shipped(t, 10)
	files := t.TempDir()
	x = MustExchange(t, db, dscsatest.MfrGLN, func(c *dscsa.Config) { c.FilesDir = files })
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodFile, Format: "jsonld20", Dir: "as2-wholesaler"})); err != nil {
		t.Fatal(err)
	}
	d := deliverAll(t, x, db, 3)
	want := filepath.Join(files, "as2-wholesaler", "SH-1.jsonld")
	if d.Status != dscsa.DeliveryDelivered || d.Receipt.File != want {
		t.Fatalf("delivery %+v receipt %+v", d, d.Receipt)
	}
	entries, _ := os.ReadDir(filepath.Dir(want))
	if len(entries) != 1 {
		t.Fatalf("the gateway folder holds %d entries, want the document only", len(entries))
	}
	doc, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	dscsatest.MustJSONValid(t, doc)
}

// TestDeliver_WaitsForPartner: a shipment to a partner not registered yet
// waits (pending, with the reason) and goes once the partner exists.
func TestDeliver_WaitsForPartner(t *testing.T) {
	db, x, _ := shipped(t, 10)
	d := deliverAll(t, x, db, 1)
	if d.Status != dscsa.DeliveryPending || !strings.Contains(d.LastError, "no partner is registered for GLN "+dscsatest.WhsGLN) {
		t.Fatalf("delivery %+v", d)
	}
	ep := newEndpoint(t)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodHTTPS, URL: ep.URL})); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, d.NextAttempt)
	if d = deliverAll(t, x, db, 5); d.Status != dscsa.DeliveryDelivered {
		t.Fatalf("delivery %+v", d)
	}
}
