package central_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/linestation/linestation/uplink/dscsa"
)

// FuzzCaptureDocument posts arbitrary bodies to the synchronous capture
// endpoint as a partner, through the service's handler: it never panics or
// answers 500, answers only 201, 400, 403, 413 or 415, and stores events
// only when it answers 201.
func FuzzCaptureDocument(f *testing.F) {
	h := newExchangeHarness(f, 10)
	doc := supplierDocument(f)
	f.Add(doc)
	f.Add([]byte(billionLaughs))
	f.Add([]byte(externalEntity))
	f.Add(bytes.Replace(doc, []byte("<epcis:EPCISDocument"), []byte("<epcis:EPCISDocument><x"), 1))
	f.Add([]byte(`<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2023-04-01T08:45:16Z"><EPCISBody><EventList><ObjectEvent/></EventList></EPCISBody></epcis:EPCISDocument>`))
	f.Add([]byte(`<?xml version="1.0"?><a>`))
	f.Add([]byte{})
	handler := h.srv.Handler()
	// fresh returns how many events were stored since it last looked.
	var last int64
	fresh := func() int {
		evs, err := h.store.QueryEvents(ctx, &dscsa.Query{After: last, Limit: 100000})
		if err != nil {
			f.Fatal(err)
		}
		if len(evs) > 0 {
			last = evs[len(evs)-1].ID
		}
		return len(evs)
	}
	fresh()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/dscsa/documents", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.whs)
		req.Header.Set("Content-Type", "application/xml")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		stored := fresh()
		switch rec.Code {
		case 201:
		case 400, 403, 413, 415:
			if stored != 0 {
				t.Fatalf("answered %d but stored %d events", rec.Code, stored)
			}
		default:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body.String())
		}
	})
}
