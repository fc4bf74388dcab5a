package dscsa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
)

// Query is a simple event query of the EPCIS 2.0 REST binding, as the
// repository runs it.
type Query struct {
	EventTypes   []string
	GETime       time.Time // zero: no bound
	LTTime       time.Time
	GERecordTime time.Time
	LTRecordTime time.Time
	Actions      []string
	BizSteps     []string // URN form
	Dispositions []string // URN form
	BizLocations []string
	ReadPoints   []string
	EventIDs     []string
	// MatchEPC matches epcList and childEPCs; MatchParentID parentID;
	// MatchAnyEPC any EPC field. Values ending in ".*" (EPC patterns) match
	// by prefix.
	MatchEPC      []string
	MatchParentID []string
	MatchAnyEPC   []string
	// Partner, when set, limits the answer to events the partner may see:
	// events naming an EPC it shipped or received, and events it captured.
	Partner string
	// After is the id of the last event of the previous page.
	After int64
	// Limit bounds the page (the store is asked for Limit+1 to know
	// whether there is a next page).
	Limit int
}

// Page sizes of the query interface.
const (
	DefaultPerPage = 100
	MaxPerPage     = 1000
)

// queryParams are the query parameters the interface supports (others
// are refused, so that a filter is never silently ignored).
var queryParams = []string{"eventType", "GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime", "EQ_action", "EQ_bizStep",
	"EQ_disposition", "EQ_bizLocation", "EQ_readPoint", "EQ_eventID", "MATCH_epc", "MATCH_parentID", "MATCH_anyEPC", "perPage", "nextPageToken"}

// ParseQuery reads the query parameters of GET /events. List values may be
// pipe-delimited (the binding's form) or repeated. Standard CBV values may
// be given short ("shipping") or as URNs.
func ParseQuery(v url.Values) (*Query, error) {
	q := &Query{Limit: DefaultPerPage}
	for k := range v {
		if !slices.Contains(queryParams, k) {
			return nil, station.Errorf(station.EINVALID, "query parameter %s is not supported here: use %s", k, strings.Join(queryParams, ", "))
		}
	}
	list := func(k string) []string {
		var out []string
		for _, s := range v[k] {
			for _, p := range strings.Split(s, "|") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
		return out
	}
	tm := func(k string) (time.Time, error) {
		s := v.Get(k)
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return t, station.Errorf(station.EINVALID, "%s=%q is not an RFC 3339 time such as 2025-04-01T00:00:00Z", k, s)
		}
		return t.UTC(), nil
	}
	var err error
	if q.GETime, err = tm("GE_eventTime"); err != nil {
		return nil, err
	}
	if q.LTTime, err = tm("LT_eventTime"); err != nil {
		return nil, err
	}
	if q.GERecordTime, err = tm("GE_recordTime"); err != nil {
		return nil, err
	}
	if q.LTRecordTime, err = tm("LT_recordTime"); err != nil {
		return nil, err
	}
	for _, t := range list("eventType") {
		if !epcis.EventType(t).Standard() {
			return nil, station.Errorf(station.EINVALID, "eventType %q is not ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent", t)
		}
		q.EventTypes = append(q.EventTypes, t)
	}
	for _, a := range list("EQ_action") {
		if a != "ADD" && a != "OBSERVE" && a != "DELETE" {
			return nil, station.Errorf(station.EINVALID, "EQ_action %q is not ADD, OBSERVE or DELETE", a)
		}
		q.Actions = append(q.Actions, a)
	}
	for _, s := range list("EQ_bizStep") {
		q.BizSteps = append(q.BizSteps, cbvURN("urn:epcglobal:cbv:bizstep:", s))
	}
	for _, s := range list("EQ_disposition") {
		q.Dispositions = append(q.Dispositions, cbvURN("urn:epcglobal:cbv:disp:", s))
	}
	q.BizLocations, q.ReadPoints, q.EventIDs = list("EQ_bizLocation"), list("EQ_readPoint"), list("EQ_eventID")
	q.MatchEPC, q.MatchParentID, q.MatchAnyEPC = list("MATCH_epc"), list("MATCH_parentID"), list("MATCH_anyEPC")
	for _, l := range [][]string{q.MatchEPC, q.MatchParentID, q.MatchAnyEPC, q.BizLocations, q.ReadPoints, q.EventIDs} {
		if len(l) > 1000 {
			return nil, station.Errorf(station.EINVALID, "at most 1000 values per parameter")
		}
		for _, s := range l {
			if len(s) > 400 || !strings.Contains(s, ":") {
				return nil, station.Errorf(station.EINVALID, "%q is not a URI", clip(s, 60))
			}
		}
	}
	if s := v.Get("perPage"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return nil, station.Errorf(station.EINVALID, "perPage=%q must be 1 to %d", s, MaxPerPage)
		}
		q.Limit = n
	}
	if tok := v.Get("nextPageToken"); tok != "" {
		after, sum, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		if sum != q.fingerprint() {
			return nil, station.Errorf(station.EINVALID, "nextPageToken belongs to another query: send the same filters with it")
		}
		q.After = after
	}
	return q, nil
}

func cbvURN(prefix, s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return prefix + s
}

// fingerprint identifies the query's filters (not its position).
func (q *Query) fingerprint() string {
	c := *q
	c.After, c.Limit, c.Partner = 0, 0, ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// NextToken returns the nextPageToken after an event id.
func (q *Query) NextToken(after int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1." + strconv.FormatInt(after, 10) + "." + q.fingerprint()))
}

func decodeToken(tok string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		parts := strings.Split(string(b), ".")
		if len(parts) == 3 && parts[0] == "v1" {
			if n, err := strconv.ParseInt(parts[1], 10, 64); err == nil && n >= 0 {
				return n, parts[2], nil
			}
		}
	}
	return 0, "", station.Errorf(station.EINVALID, "nextPageToken %q is not one this service gave", clip(tok, 40))
}

// QueryResult is one page of a query.
type QueryResult struct {
	Events []StoredEvent
	// Next is the token of the next page, "" on the last one.
	Next string
}

// QueryEvents runs a query for a caller: a partner sees only events that
// name an EPC it shipped or received (or that it captured).
func (x *Exchange) QueryEvents(ctx context.Context, c Caller, q *Query) (QueryResult, error) {
	if err := c.require(PermQuery, "query events"); err != nil {
		return QueryResult{}, err
	}
	if c.Partner != nil {
		q.Partner = c.Partner.ID
	}
	limit := q.Limit
	q.Limit = limit + 1
	evs, err := x.store.QueryEvents(ctx, q)
	q.Limit = limit
	if err != nil {
		return QueryResult{}, err
	}
	res := QueryResult{Events: evs}
	if len(evs) > limit {
		res.Events = evs[:limit]
		res.Next = q.NextToken(evs[limit-1].ID)
	}
	return res, nil
}

// WriteQueryDocument writes events as an EPCIS 2.0 JSON-LD query document
// (EPCISQueryDocument with the results of a SimpleEventQuery).
func WriteQueryDocument(w io.Writer, evs []*epcis.Event, created time.Time) error {
	var buf bytes.Buffer
	wr, err := epcis.NewWriter(&buf, epcis.FormatJSONLD20, &epcis.Header{CreationDate: created.UTC().Truncate(time.Millisecond)})
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := wr.WriteEvent(e); err != nil {
			return err
		}
	}
	if err := wr.Close(); err != nil {
		return err
	}
	var doc struct {
		Context       json.RawMessage `json:"@context"`
		SchemaVersion string          `json:"schemaVersion"`
		CreationDate  string          `json:"creationDate"`
		Body          struct {
			EventList json.RawMessage `json:"eventList"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return fmt.Errorf("write query document: %w", err)
	}
	if len(doc.Body.EventList) == 0 {
		doc.Body.EventList = json.RawMessage("[]")
	}
	type results struct {
		EventList json.RawMessage `json:"eventList"`
	}
	type queryResults struct {
		QueryName   string  `json:"queryName"`
		ResultsBody results `json:"resultsBody"`
	}
	out := struct {
		Context       json.RawMessage `json:"@context"`
		Type          string          `json:"type"`
		SchemaVersion string          `json:"schemaVersion"`
		CreationDate  string          `json:"creationDate"`
		Body          struct {
			QueryResults queryResults `json:"queryResults"`
		} `json:"epcisBody"`
	}{Context: doc.Context, Type: "EPCISQueryDocument", SchemaVersion: doc.SchemaVersion, CreationDate: doc.CreationDate}
	out.Body.QueryResults = queryResults{QueryName: "SimpleEventQuery", ResultsBody: results{EventList: doc.Body.EventList}}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// sortByTime orders stored events by event time, then id.
func sortByTime(evs []StoredEvent) {
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].Event.EventTime, evs[j].Event.EventTime
		if !a.Equal(b) {
			return a.Before(b)
		}
		return evs[i].ID < evs[j].ID
	})
}
