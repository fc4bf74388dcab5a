package central_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

var ctx = context.Background()

// harness is a real central service on loopback over a real store.
type harness struct {
	store *centraldb.DB
	srv   *central.Server
	url   string
	erp   string // an ERP client's token
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{store: centraltest.MustStore(t)}
	srv, err := central.New(central.Config{Store: h.store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet(), MaxBodyBytes: 1 << 20, MaxJSONBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	h.srv, h.url = srv, srv.URL()
	if h.erp, err = central.AddClient(ctx, h.store, "erp-1", false); err != nil {
		t.Fatal(err)
	}
	return h
}

// enroll adds a station and enrolls it through the API; it returns the
// station's API handle and its token.
func (h *harness) enroll(t testing.TB, id string) (*uplink.API, string) {
	t.Helper()
	code, err := central.AddStation(ctx, h.store, id, "", 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := uplink.NewAPI(h.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := anon.Enroll(ctx, strings.ToLower(code)) // typed in lower case: still accepted
	if err != nil {
		t.Fatal(err)
	}
	if e.Station != id || !strings.HasPrefix(e.Token, "lst_") {
		t.Fatalf("enrollment=%+v, want station %s and a token", e, id)
	}
	return anon.WithToken(e.Token), e.Token
}

// request is one raw HTTP request for tests that need to send what the
// client never would.
type request struct {
	method, path, token, ctype, encoding string
	body                                 []byte
}

func (h *harness) do(t testing.TB, r request) (int, uplink.ErrorDetail, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, h.url+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb uplink.ErrorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &eb); err != nil {
			t.Fatalf("%s %s: error answer %d is not JSON: %s", r.method, r.path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, eb.Error, data
}

func gz(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		tb.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// journal returns a station's journal of n+ events made through a real ledger.
func journal(tb testing.TB, id, prefix string, n int) []station.Event {
	tb.Helper()
	led := centraltest.MustLedger(tb, filepath.Join(tb.TempDir(), id+".db"), id, &centraltest.Clock{})
	p := &centraltest.Producer{Order: "PO-" + id, Prefix: prefix, SSCCBase: int(prefix[0])}
	if _, err := p.Produce(ctx, led, n); err != nil {
		tb.Fatal(err)
	}
	evs, err := centraltest.AllEvents(ctx, led)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

// TestServer_Auth sends every kind of request a station or an attacker
// should not get through, and checks each is refused with the right status
// and a message that says what is wrong, and that nothing was stored.
func TestServer_Auth(t *testing.T) {
	h := newHarness(t)
	a, tokA := h.enroll(t, "line-1")
	b, tokB := h.enroll(t, "line-2")
	evsA := journal(t, "line-1", "A", 30)
	evsB := journal(t, "line-2", "B", 30)
	batchA := gz(t, uplink.Batch{Station: "line-1", Events: evsA})

	code, err := central.AddStation(ctx, h.store, "line-3", "", 0, time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	enrollBody, _ := json.Marshal(uplink.EnrollRequest{Code: code})
	if st, _, _ := h.do(t, request{method: "POST", path: uplink.PathEnroll, ctype: "application/json", body: enrollBody}); st != 200 {
		t.Fatalf("first use of a code: status %d", st)
	}
	var huge bytes.Buffer
	huge.WriteString(`{"station":"line-1","events":[`)
	for huge.Len() < 3<<19 {
		huge.WriteString(`{"seq":1},`)
	}
	huge.WriteString(`{"seq":1}]}`)
	bomb := func() []byte { // 3 MiB of spaces (over the 2 MiB limit) in a few kB of gzip
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write([]byte(`{"station":"line-1","events":[]`))
		zw.Write(bytes.Repeat([]byte(" "), 3<<20))
		zw.Write([]byte(`}`))
		zw.Close()
		return buf.Bytes()
	}()
	if len(bomb) > 64<<10 {
		t.Fatalf("the gzip bomb is %d bytes: it should be tiny", len(bomb))
	}
	truncated := batchA[:len(batchA)/2]

	for _, tt := range []struct {
		name   string
		req    request
		status int
		want   string
	}{
		{"NoCredential", request{method: "POST", path: uplink.PathSyncEvents, ctype: "application/json", encoding: "gzip", body: batchA}, 401, "no credential"},
		{"WrongCredential", request{method: "POST", path: uplink.PathSyncEvents, token: "lst_not-a-real-token", ctype: "application/json", encoding: "gzip", body: batchA}, 401, "unknown credential"},
		{"NotBearer", request{method: "GET", path: uplink.PathSyncHead, token: "", ctype: "", body: nil}, 401, "no credential"},
		{"OtherStationsCredential", request{method: "POST", path: uplink.PathSyncEvents, token: tokB, ctype: "application/json", encoding: "gzip", body: batchA}, 403, "only its own journal"},
		{"OtherStationsEventsInOwnBatch", request{method: "POST", path: uplink.PathSyncEvents, token: tokB, ctype: "application/json", encoding: "gzip",
			body: gz(t, uplink.Batch{Station: "line-2", Events: evsA})}, 403, "only its own journal"},
		{"StationOnERPRoute", request{method: "GET", path: "/v1/products", token: tokA}, 403, "for erp credentials"},
		{"ERPOnStationRoute", request{method: "POST", path: uplink.PathSyncEvents, token: h.erp, ctype: "application/json", encoding: "gzip", body: batchA}, 403, "for station credentials"},
		{"ReplayedEnrollmentCode", request{method: "POST", path: uplink.PathEnroll, ctype: "application/json", body: enrollBody}, 401, "already used"},
		{"UnknownEnrollmentCode", request{method: "POST", path: uplink.PathEnroll, ctype: "application/json", body: []byte(`{"code":"AAAA-BBBB-CCCC-DDDD"}`)}, 401, "unknown enrollment code"},
		{"Oversized", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: huge.Bytes()}, 413, "larger than"},
		{"GzipBomb", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", encoding: "gzip", body: bomb}, 413, "decompressed body is larger than"},
		{"MalformedJSON", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[{"seq":1,}]}`)}, 400, "malformed JSON at byte"},
		{"NotGzip", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", encoding: "gzip", body: []byte(`{"station":"line-1"}`)}, 400, "not valid gzip"},
		{"TruncatedGzip", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", encoding: "gzip", body: truncated}, 400, "truncated"},
		{"UnknownField", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[],"evil":1}`)}, 400, `unknown field "evil"`},
		{"WrongType", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[{"seq":"one"}]}`)}, 400, "JSON field /events/0/seq at byte 37: got a string, want int64"},
		{"UnknownNestedField", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[{"seq":1,"evil":1}]}`)}, 400, `unknown field "evil" at /events/0/evil`},
		{"OtherCaseField", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"Station":"line-1","events":[]}`)}, 400, `unknown field "Station"`},
		{"RepeatedField", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-2","station":"line-1","events":[]}`)}, 400, `malformed JSON at byte 20 of the body (at /station): duplicate object member name`},
		{"InvalidUTF8", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte("{\"station\":\"line-1\xff\",\"events\":[]}")}, 400, `malformed JSON at byte 18 of the body (at /station): invalid UTF-8`},
		{"BadTime", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[{"time":"yesterday"}]}`)}, 400, `JSON field /events/0/time at byte 38: got a string, want time.Time: a time must be RFC 3339`},
		{"EmptyBody", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(" \n")}, 400, "the body is empty"},
		{"TwoValues", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "application/json", body: []byte(`{"station":"line-1","events":[]} {}`)}, 400, "malformed JSON at byte 33 of the body: invalid character '{' after top-level value"},
		{"WrongContentType", request{method: "POST", path: uplink.PathSyncEvents, token: tokA, ctype: "text/plain", body: []byte(`{}`)}, 415, "Content-Type"},
		{"TamperedEvent", request{method: "POST", path: uplink.PathSyncEvents, token: tokB, ctype: "application/json", encoding: "gzip",
			body: gz(t, uplink.Batch{Station: "line-2", Events: tamper(evsB)})}, 409, "breaks the hash chain at seq 5"},
		{"Gap", request{method: "POST", path: uplink.PathSyncEvents, token: tokB, ctype: "application/json", encoding: "gzip",
			body: gz(t, uplink.Batch{Station: "line-2", Events: evsB[3:]})}, 409, "gap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, detail, _ := h.do(t, tt.req)
			if st != tt.status {
				t.Fatalf("status=%d, want %d (%s)", st, tt.status, detail.Message)
			}
			if !strings.Contains(detail.Message, tt.want) {
				t.Fatalf("message=%q, want it to contain %q", detail.Message, tt.want)
			}
			for _, id := range []string{"line-1", "line-2"} {
				if head, err := h.store.Head(ctx, id); err != nil || head.Seq != 0 {
					t.Fatalf("station %s holds seq %d after a refused request (%v): nothing may be stored", id, head.Seq, err)
				}
			}
		})
	}
	// The legitimate push still works, and is idempotent.
	for range 2 {
		ack, err := a.Push(ctx, &uplink.Batch{Station: "line-1", Events: evsA})
		if err != nil {
			t.Fatal(err)
		}
		if ack.Seq != evsA[len(evsA)-1].Seq {
			t.Fatalf("ack=%+v, want seq %d", ack, evsA[len(evsA)-1].Seq)
		}
	}
	// A gap tells the station what is held.
	_, err = b.Push(ctx, &uplink.Batch{Station: "line-2", Events: evsB[3:]})
	var aerr *uplink.APIError
	if !errors.As(err, &aerr) || aerr.Status != 409 || aerr.Detail.Held == nil || aerr.Detail.Held.Seq != 0 {
		t.Fatalf("gap: err=%v, want 409 with the held head", err)
	}
}

// tamper changes a recorded event's user without fixing its hash.
func tamper(evs []station.Event) []station.Event {
	out := slices.Clone(evs)
	out[4].User = "mallory"
	return out
}

// TestServer_LongPull: a pull with wait= and nothing new is held until a
// master-data change is committed and then answers with it; one held when
// the service stops answers at once (empty), so that it stops promptly.
func TestServer_LongPull(t *testing.T) {
	h := newHarness(t)
	api, _ := h.enroll(t, "line-1")
	md, err := api.MasterData(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		md  uplink.MasterData
		err error
	}
	pull := func(after int64) chan answer {
		ch := make(chan answer, 1)
		go func() {
			md, err := api.MasterDataWait(ctx, after, 0, uplink.MaxPullWait)
			ch <- answer{md, err}
		}()
		return ch
	}
	waitHeld := func() {
		t.Helper()
		stationtest.Poll(t, 10*time.Second, "the metrics to count the held pull", func() bool {
			_, _, data := h.do(t, request{method: "GET", path: "/metrics"})
			return strings.Contains(string(data), "\nlinestation_master_pulls_held 1\n")
		})
	}
	held := pull(md.Next)
	// It is held (the metrics count it): nothing comes back before the
	// change, which the answer then carries.
	waitHeld()
	select {
	case a := <-held:
		t.Fatalf("the pull answered before any change: %+v %v", a.md, a.err)
	default:
	}
	if _, err := h.store.PutProduct(ctx, centraltest.Product()); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-held:
		if a.err != nil || len(a.md.Records) != 1 || a.md.Records[0].Kind != uplink.KindProduct || a.md.Wait != int(uplink.MaxPullWait/time.Second) {
			t.Fatalf("the held pull answered %+v, %v; want the product", a.md, a.err)
		}
		md = a.md
	case <-time.After(10 * time.Second):
		t.Fatal("the held pull did not answer the change")
	}

	// Stopping the service answers a held pull at once.
	held = pull(md.Next)
	waitHeld()
	closed := make(chan error, 1)
	go func() { closed <- h.srv.Close(context.Background()) }()
	select {
	case a := <-held:
		if a.err != nil || len(a.md.Records) != 0 {
			t.Fatalf("the held pull answered %+v, %v on stop; want nothing new", a.md, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a held pull kept the service from stopping")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
