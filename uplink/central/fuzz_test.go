package central_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

// FuzzParseProductsCSV feeds arbitrary files to the CSV import: it never
// panics, every product it accepts is valid, and every refusal is an
// EINVALID error that names lines.
func FuzzParseProductsCSV(f *testing.F) {
	f.Add("gtin,name,ndc,dosage_form,strength,net_content,manufacturer,markets,company_prefix_length\n" +
		"00300010123455,Testacillin,0001-0123-45,tablet,10 mg,30,TP,US,6\n")
	f.Add("gtin,name,company_prefix_length,case_quantity,case_gtin\n00300010123455,\"a,\"\"b\",7,10,\n")
	f.Add("\ufeffGTIN;NAME\n1;2\n")
	f.Add("gtin,name,company_prefix_length\n\"unterminated,x,1\n")
	f.Fuzz(func(t *testing.T, data string) {
		ps, err := central.ParseProductsCSV(strings.NewReader(data))
		if err != nil {
			if station.ErrorCode(err) != station.EINVALID || station.ErrorMessage(err) == "" {
				t.Fatalf("refusal %v is not an EINVALID with a message", err)
			}
			return
		}
		if len(ps) == 0 {
			t.Fatal("accepted a file without products")
		}
		for _, p := range ps {
			if err := p.Validate(); err != nil {
				t.Fatalf("accepted an invalid product %+v: %v", p, err)
			}
		}
	})
}

// FuzzSyncEvents posts arbitrary bodies to the push endpoint as an enrolled
// station: the service never panics or answers 500, and it stores events
// only when it answers 200.
func FuzzSyncEvents(f *testing.F) {
	store := centraltest.MustStore(f)
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet(), MaxBodyBytes: 1 << 20, MaxJSONBytes: 4 << 20})
	if err != nil {
		f.Fatal(err)
	}
	_, codeHash, _ := central.NewEnrollmentCode()
	token, tokenHash, _ := central.NewToken()
	if err := store.AddStation(ctx, "line-1", "", codeHash, time.Now().Add(time.Hour), false); err != nil {
		f.Fatal(err)
	}
	if _, err := store.Enroll(ctx, codeHash, tokenHash); err != nil {
		f.Fatal(err)
	}
	evs, err := centraltest.Journal("line-1", &centraltest.Producer{Order: "PO-1", Prefix: "A"}, 12, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	valid, _ := uplink.EncodeBatch(&uplink.Batch{Station: "line-1", Events: evs[:3]})
	f.Add(valid, true)
	f.Add(valid[:len(valid)/2], true)
	f.Add([]byte(`{"station":"line-1","events":[]}`), false)
	f.Add([]byte(`{"station":"line-1","events":[{"seq":1,"payload":{"a":[[[[[[[[[[1]]]]]]]]]]}}]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		req := httptest.NewRequest(http.MethodPost, uplink.PathSyncEvents, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if gzipped {
			req.Header.Set("Content-Encoding", "gzip")
		}
		before, err := store.Head(ctx, "line-1")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for a client's body: %s", rec.Code, rec.Body)
		}
		after, err := store.Head(ctx, "line-1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK && after.Seq != before.Seq {
			t.Fatalf("status %d but the head moved from %d to %d", rec.Code, before.Seq, after.Seq)
		}
	})
}
