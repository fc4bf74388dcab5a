package dscsa_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// delivered is the manufacturer's side after the shipment's document was
// delivered (method none: kept), so its events are in the repository and
// visible to the wholesaler.
func delivered(t *testing.T, units int) (*dscsa.Exchange, dscsa.Caller, *dscsatest.Scenario) {
	t.Helper()
	db, x, s := shipped(t, units)
	if _, err := db.PutPartner(ctx, wholesaler(dscsa.DeliveryConfig{Method: dscsa.MethodNone})); err != nil {
		t.Fatal(err)
	}
	if n, err := x.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d: %v", n, err)
	}
	p, err := db.Partner(ctx, "wholesaler")
	if err != nil {
		t.Fatal(err)
	}
	return x, dscsa.Caller{Partner: &p, Name: p.ID}, s
}

func query(t *testing.T, x *dscsa.Exchange, c dscsa.Caller, params string) dscsa.QueryResult {
	t.Helper()
	v, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	q, err := dscsa.ParseQuery(v)
	if err != nil {
		t.Fatalf("%s: %v", params, err)
	}
	res, err := x.QueryEvents(ctx, c, q)
	if err != nil {
		t.Fatalf("%s: %v", params, err)
	}
	return res
}

// TestQueryEvents runs the standard filters against the events of a
// delivered document (3 commissioning, 13 packing, 1 shipping event) as
// the partner that received it, pages through them, and checks that
// another partner sees nothing and that the answer is a valid EPCIS 2.0
// query document.
func TestQueryEvents(t *testing.T) {
	x, whs, s := delivered(t, 95)
	for _, tt := range []struct {
		params string
		want   int
	}{
		{"", 17},
		{"eventType=AggregationEvent", 13},
		{"eventType=ObjectEvent|AggregationEvent", 17},
		{"EQ_bizStep=shipping", 1},
		{"EQ_bizStep=urn:epcglobal:cbv:bizstep:commissioning", 3},
		{"EQ_bizStep=commissioning&EQ_bizLocation=urn:epc:id:sgln:030001.000002.0", 3},
		{"EQ_bizLocation=urn:epc:id:sgln:039999.345678.0", 0},
		{"MATCH_epc=" + epcOfCase(0), 2},                          // commissioned (epcList), packed into its pallet (childEPCs)
		{"MATCH_anyEPC=" + epcOfCase(0), 3},                       // and its own packing event (parentID)
		{"MATCH_anyEPC=" + epcOfPallet(s, 1), 3},                  // commissioned, packed, shipped
		{"MATCH_anyEPC=urn:epc:idpat:sgtin:030001.1012345.*", 14}, // cases commissioned (1), packed (10), packed on pallets (3)
		{"GE_eventTime=2026-03-02T00:00:00Z&LT_eventTime=2026-03-03T00:00:00Z", 17},
		{"GE_eventTime=2026-03-03T00:00:00Z", 0},
		{"EQ_action=ADD", 16},
	} {
		if got := query(t, x, whs, tt.params); len(got.Events) != tt.want || got.Next != "" {
			t.Errorf("%q: %d events (next %q), want %d", tt.params, len(got.Events), got.Next, tt.want)
		}
	}
	// Pages of 5: 5, 5, 5, 2, each token good for the same query only.
	seen := map[string]bool{}
	params := "eventType=ObjectEvent|AggregationEvent&perPage=5"
	for page := 0; ; page++ {
		res := query(t, x, whs, params)
		for _, se := range res.Events {
			if seen[se.Hash] {
				t.Fatalf("page %d repeats an event", page)
			}
			seen[se.Hash] = true
		}
		if res.Next == "" {
			if page != 3 || len(res.Events) != 2 {
				t.Fatalf("last page %d has %d events", page, len(res.Events))
			}
			break
		}
		if _, err := dscsa.ParseQuery(url.Values{"nextPageToken": {res.Next}}); station.ErrorCode(err) != station.EINVALID {
			t.Fatalf("a token used with another query: err=%v", err)
		}
		params = "eventType=ObjectEvent|AggregationEvent&perPage=5&nextPageToken=" + res.Next
	}
	if len(seen) != 17 {
		t.Fatalf("the pages hold %d events, want 17", len(seen))
	}
	// Another partner sees nothing of it; our ERP sees everything.
	other := dscsa.Partner{ID: "other", GLN: dscsatest.GLN("037777000001"), Permissions: []string{dscsa.PermQuery}}
	if got := query(t, x, dscsa.Caller{Partner: &other, Name: "other"}, ""); len(got.Events) != 0 {
		t.Fatalf("another partner sees %d events", len(got.Events))
	}
	if got := query(t, x, dscsa.Caller{Name: "erp-1"}, ""); len(got.Events) != 17 {
		t.Fatalf("the ERP sees %d events", len(got.Events))
	}
	// The answer as the endpoint writes it.
	res := query(t, x, whs, "EQ_bizStep=shipping")
	var buf bytes.Buffer
	evs := []*epcis.Event{res.Events[0].Event}
	if err := dscsa.WriteQueryDocument(&buf, evs, res.Events[0].RecordTime); err != nil {
		t.Fatal(err)
	}
	dscsatest.MustJSONValid(t, buf.Bytes())
	var doc struct {
		Type string `json:"type"`
		Body struct {
			QueryResults struct {
				ResultsBody struct {
					EventList []map[string]any `json:"eventList"`
				} `json:"resultsBody"`
			} `json:"queryResults"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Type != "EPCISQueryDocument" || len(doc.Body.QueryResults.ResultsBody.EventList) != 1 ||
		doc.Body.QueryResults.ResultsBody.EventList[0]["bizStep"] != "shipping" {
		t.Fatalf("query document %s (%v)", buf.String(), err)
	}
}

// TestParseQuery refuses what it cannot honour, naming it.
func TestParseQuery(t *testing.T) {
	for _, tt := range []struct{ params, want string }{
		{"EQ_quantity=3", "EQ_quantity is not supported"},
		{"eventType=Bogus", `"Bogus" is not ObjectEvent`},
		{"GE_eventTime=yesterday", "not an RFC 3339 time"},
		{"perPage=0", "perPage"},
		{"perPage=100000", "perPage"},
		{"nextPageToken=garbage", "not one this service gave"},
		{"EQ_action=MOVE", "not ADD, OBSERVE or DELETE"},
		{"MATCH_epc=nocolon", "is not a URI"},
	} {
		v, _ := url.ParseQuery(tt.params)
		_, err := dscsa.ParseQuery(v)
		if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err=%v, want %q", tt.params, err, tt.want)
		}
	}
}
