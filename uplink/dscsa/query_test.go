package dscsa_test

import (
	"bytes"
	"encoding/json"
	"errors"
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

// TestQueryEvents_MoreParameters: business transactions, sources and
// destinations by type; WD_ locations (no hierarchy: as EQ_); orderBy
// with orderDirection, page after page; eventCountLimit across pages; and
// maxEventCount refusing a query that matches more.
func TestQueryEvents_MoreParameters(t *testing.T) {
	x, whs, _ := delivered(t, 95)
	for _, tt := range []struct {
		params string
		want   int
	}{
		{"EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1", 1},
		{"EQ_bizTransaction_urn:epcglobal:cbv:btt:po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1", 1},
		{"EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0399990000016:PO-OTHER|urn:epcglobal:cbv:bt:0399990000016:PO-SH-1", 1},
		{"EQ_bizTransaction_https://ref.gs1.org/cbv/BTT-po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1&EQ_bizStep=https://ref.gs1.org/cbv/BizStep-shipping", 1},
		{"EQ_disposition=https://ref.gs1.org/cbv/Disp-in_transit", 1},
		{"EQ_bizTransaction_desadv=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1", 0}, // the PO's value under another type
		{"EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1&EQ_bizTransaction_desadv=urn:epcglobal:cbv:bt:0300010000015:DA-SH-1", 1},
		{"EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1&EQ_bizStep=packing", 0},
		{"EQ_source_owning_party=urn:epc:id:sgln:030001.000001.0", 1},
		{"EQ_destination_location=urn:epc:id:sgln:039999.345678.0", 1},
		{"EQ_destination_location=urn:epc:id:sgln:030001.000001.0", 0},
		{"WD_bizLocation=urn:epc:id:sgln:030001.000002.0&EQ_bizStep=commissioning", 3},
	} {
		if got := query(t, x, whs, tt.params); len(got.Events) != tt.want {
			t.Errorf("%q: %d events, want %d", tt.params, len(got.Events), tt.want)
		}
	}
	if eq, wd := query(t, x, whs, "EQ_readPoint=urn:epc:id:sgln:030001.000002.0"), query(t, x, whs, "WD_readPoint=urn:epc:id:sgln:030001.000002.0"); len(eq.Events) == 0 || len(wd.Events) != len(eq.Events) {
		t.Errorf("WD_readPoint gives %d events, EQ_readPoint %d", len(wd.Events), len(eq.Events))
	}

	// Ordered, in pages of 4: every event once, in order across pages.
	for _, dir := range []string{"ASC", "DESC", ""} {
		for _, key := range []string{"eventTime", "recordTime"} {
			params := "orderBy=" + key + "&perPage=4"
			if dir != "" {
				params += "&orderDirection=" + dir
			}
			var got []dscsa.StoredEvent
			next := ""
			for pages := 0; ; pages++ {
				p := params
				if next != "" {
					p += "&nextPageToken=" + next
				}
				res := query(t, x, whs, p)
				got = append(got, res.Events...)
				if next = res.Next; next == "" {
					break
				}
				if pages > 10 {
					t.Fatalf("%s: no end of pages", params)
				}
			}
			seen := map[int64]bool{}
			for i, se := range got {
				if seen[se.ID] {
					t.Fatalf("%s: event %d twice", params, se.ID)
				}
				seen[se.ID] = true
				if i == 0 {
					continue
				}
				prev, cur := got[i-1].OrderKey(key), se.OrderKey(key)
				if dir == "ASC" && (prev > cur || prev == cur && got[i-1].ID > se.ID) || dir != "ASC" && (prev < cur || prev == cur && got[i-1].ID < se.ID) {
					t.Fatalf("%s: event %d (%s) after %d (%s) is out of order", params, se.ID, cur, got[i-1].ID, prev)
				}
			}
			if len(got) != 17 {
				t.Fatalf("%s: %d events in all, want 17", params, len(got))
			}
		}
	}
	first := query(t, x, whs, "orderBy=eventTime&orderDirection=ASC")
	if first.Events[0].Event.BizStep != epcis.BizStep("urn:epcglobal:cbv:bizstep:commissioning") || first.Events[16].Event.BizStep != epcis.BizStep("urn:epcglobal:cbv:bizstep:shipping") {
		t.Fatalf("in event time order the first is %s and the last %s", first.Events[0].Event.BizStep, first.Events[16].Event.BizStep)
	}

	// eventCountLimit=7 in pages of 5: 5 and 2, the first 7 in order.
	res := query(t, x, whs, "orderBy=eventTime&orderDirection=ASC&eventCountLimit=7&perPage=5")
	if len(res.Events) != 5 || res.Next == "" {
		t.Fatalf("first page of eventCountLimit=7: %d events, next %q", len(res.Events), res.Next)
	}
	res2 := query(t, x, whs, "orderBy=eventTime&orderDirection=ASC&eventCountLimit=7&perPage=5&nextPageToken="+res.Next)
	if len(res2.Events) != 2 || res2.Next != "" {
		t.Fatalf("second page of eventCountLimit=7: %d events, next %q", len(res2.Events), res2.Next)
	}
	for i, se := range append(res.Events, res2.Events...) {
		if se.ID != first.Events[i].ID {
			t.Fatalf("eventCountLimit=7 gives event %d at %d, want %d", se.ID, i, first.Events[i].ID)
		}
	}

	// maxEventCount: 17 match.
	if got := query(t, x, whs, "maxEventCount=17"); len(got.Events) != 17 {
		t.Fatalf("maxEventCount=17: %d events", len(got.Events))
	}
	q, err := dscsa.ParseQuery(url.Values{"maxEventCount": {"16"}})
	if err != nil {
		t.Fatal(err)
	}
	var tooLarge *dscsa.QueryTooLargeError
	if _, err := x.QueryEvents(ctx, whs, q); !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "QueryTooLargeException") {
		t.Fatalf("maxEventCount=16 with 17 matching: %v", err)
	}
	// A partner's maxEventCount counts what it may see.
	other := dscsa.Partner{ID: "other", GLN: dscsatest.GLN("037777000001"), Permissions: []string{dscsa.PermQuery}}
	if got := query(t, x, dscsa.Caller{Partner: &other, Name: "other"}, "maxEventCount=1"); len(got.Events) != 0 {
		t.Fatalf("another partner sees %d events", len(got.Events))
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
		{"orderBy=bizStep", `orderBy="bizStep" is not supported here`},
		{"orderBy=eventTime&orderDirection=UP", `orderDirection="UP" is not ASC or DESC`},
		{"orderDirection=ASC", "orderDirection goes with orderBy"},
		{"eventCountLimit=0", "eventCountLimit=\"0\" must be a whole number of at least 1"},
		{"maxEventCount=x", "maxEventCount=\"x\" must be"},
		{"eventCountLimit=5&maxEventCount=5", "exclude each other"},
		{"EQ_bizTransaction_=urn:x:1", "EQ_bizTransaction_ is not supported"},
		{"EQ_source_owning_party=", "EQ_source_owning_party names no value"},
		{"EQ_destination_location=nocolon", "is not a URI"},
	} {
		v, _ := url.ParseQuery(tt.params)
		_, err := dscsa.ParseQuery(v)
		if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err=%v, want %q", tt.params, err, tt.want)
		}
	}
}

// FuzzParseQuery: whatever the query string, ParseQuery answers a query or
// an EINVALID error, never panics; a query it accepts has the page size in
// bounds, and its next-page token is accepted back for the same query and
// puts it where the token says.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "eventType=ObjectEvent|AggregationEvent&perPage=5", "orderBy=eventTime&orderDirection=ASC&eventCountLimit=7",
		"EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0399990000016:PO-SH-1&EQ_source_owning_party=urn:epc:id:sgln:030001.000001.0",
		"MATCH_anyEPC=urn:epc:idpat:sgtin:030001.1012345.*&GE_eventTime=2026-03-02T00:00:00Z", "maxEventCount=3&WD_bizLocation=urn:epc:id:sgln:1.2.3",
		"nextPageToken=eyJ2IjoyLCJhIjo1LCJxIjoiYWJjIn0", "orderBy=recordTime&EQ_action=ADD|DELETE&EQ_bizStep=shipping"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := dscsa.ParseQuery(v)
		if err != nil {
			if station.ErrorCode(err) != station.EINVALID {
				t.Fatalf("%q: error %v is not EINVALID", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > dscsa.MaxPerPage {
			t.Fatalf("%q: page size %d", raw, q.Limit)
		}
		key := ""
		if q.OrderBy != "" {
			key = "2026-03-02T06:00:00.000000000Z"
		}
		v.Set("nextPageToken", q.NextToken(42, key, 3))
		next, err := dscsa.ParseQuery(v)
		if err != nil {
			t.Fatalf("%q: its own next-page token is refused: %v", raw, err)
		}
		if next.After != 42 || next.AfterKey != key || next.Returned != 3 {
			t.Fatalf("%q: the token puts the next page at %d %q %d", raw, next.After, next.AfterKey, next.Returned)
		}
	})
}
