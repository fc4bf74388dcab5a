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
	// WDBizLocations and WDReadPoints are the WD_ ("with descendants")
	// parameters. The repository holds no location hierarchy (master data
	// with childID), so a location's only descendant is itself and they
	// match as EQ_ does.
	WDBizLocations []string
	WDReadPoints   []string
	EventIDs       []string
	// BizTransactions, Sources and Destinations are EQ_bizTransaction_TYPE,
	// EQ_source_TYPE and EQ_destination_TYPE: by type (URN form), the
	// values one of which an event must name with that type.
	BizTransactions map[string][]string
	Sources         map[string][]string
	Destinations    map[string][]string
	// MatchEPC matches epcList and childEPCs; MatchParentID parentID;
	// MatchAnyEPC any EPC field. Values ending in ".*" (EPC patterns) match
	// by prefix.
	MatchEPC      []string
	MatchParentID []string
	MatchAnyEPC   []string
	// OrderBy is OrderEventTime or OrderRecordTime, or "" for the order
	// the repository stored the events in; Descending goes with it
	// (orderDirection, DESC unless ASC is asked for).
	OrderBy    string
	Descending bool
	// EventCountLimit, when above 0, ends the answer (all its pages) after
	// that many events; MaxEventCount, when above 0, refuses a query that
	// matches more (QueryTooLargeException).
	EventCountLimit int
	MaxEventCount   int
	// Partner, when set, limits the answer to events the partner may see:
	// events naming an EPC it shipped or received, and events it captured.
	Partner string
	// After is the id of the last event of the previous page, AfterKey its
	// OrderBy value, and Returned how many events the earlier pages held.
	After    int64
	AfterKey string
	Returned int
	// Limit bounds the page (the store is asked for Limit+1 to know
	// whether there is a next page).
	Limit int
}

// Keys of orderBy.
const (
	OrderEventTime  = "eventTime"
	OrderRecordTime = "recordTime"
)

// Page sizes of the query interface.
const (
	DefaultPerPage = 100
	MaxPerPage     = 1000
)

// queryParams are the query parameters the interface supports (others
// are refused, so that a filter is never silently ignored).
var queryParams = []string{"eventType", "GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime", "EQ_action", "EQ_bizStep",
	"EQ_disposition", "EQ_bizLocation", "WD_bizLocation", "EQ_readPoint", "WD_readPoint", "EQ_eventID", "EQ_bizTransaction_TYPE",
	"EQ_source_TYPE", "EQ_destination_TYPE", "MATCH_epc", "MATCH_parentID", "MATCH_anyEPC", "orderBy", "orderDirection",
	"eventCountLimit", "maxEventCount", "perPage", "nextPageToken"}

// typedParams are the parameters whose name ends in a type: the
// business transaction, source or destination type, a CBV short name
// ("po", "owning_party") or a URI.
var typedParams = []struct{ prefix, urn, web string }{
	{"EQ_bizTransaction_", "urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"},
	{"EQ_source_", "urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"},
	{"EQ_destination_", "urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"},
}

// ParseQuery reads the query parameters of GET /events. List values may be
// pipe-delimited (the binding's form) or repeated. Standard CBV values may
// be given short ("shipping") or as URNs.
func ParseQuery(v url.Values) (*Query, error) {
	q := &Query{Limit: DefaultPerPage}
	typed := func(k string) (int, string) {
		for i, tp := range typedParams {
			if t, ok := strings.CutPrefix(k, tp.prefix); ok && t != "" {
				return i, cbvURN(tp.urn, tp.web, t)
			}
		}
		return -1, ""
	}
	for k := range v {
		if i, _ := typed(k); i < 0 && !slices.Contains(queryParams, k) {
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
		q.BizSteps = append(q.BizSteps, cbvURN("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", s))
	}
	for _, s := range list("EQ_disposition") {
		q.Dispositions = append(q.Dispositions, cbvURN("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", s))
	}
	q.BizLocations, q.ReadPoints, q.EventIDs = list("EQ_bizLocation"), list("EQ_readPoint"), list("EQ_eventID")
	q.WDBizLocations, q.WDReadPoints = list("WD_bizLocation"), list("WD_readPoint")
	q.MatchEPC, q.MatchParentID, q.MatchAnyEPC = list("MATCH_epc"), list("MATCH_parentID"), list("MATCH_anyEPC")
	lists := [][]string{q.MatchEPC, q.MatchParentID, q.MatchAnyEPC, q.BizLocations, q.ReadPoints, q.WDBizLocations, q.WDReadPoints, q.EventIDs}
	for k := range v {
		i, t := typed(k)
		if i < 0 {
			continue
		}
		vals := list(k)
		if len(vals) == 0 {
			return nil, station.Errorf(station.EINVALID, "%s names no value", k)
		}
		m := []*map[string][]string{&q.BizTransactions, &q.Sources, &q.Destinations}[i]
		if *m == nil {
			*m = map[string][]string{}
		}
		(*m)[t] = append((*m)[t], vals...)
		lists = append(lists, vals)
	}
	if len(q.BizTransactions)+len(q.Sources)+len(q.Destinations) > 20 {
		return nil, station.Errorf(station.EINVALID, "at most 20 EQ_bizTransaction_, EQ_source_ and EQ_destination_ parameters")
	}
	for _, l := range lists {
		if len(l) > 1000 {
			return nil, station.Errorf(station.EINVALID, "at most 1000 values per parameter")
		}
		for _, s := range l {
			if len(s) > 400 || !strings.Contains(s, ":") {
				return nil, station.Errorf(station.EINVALID, "%q is not a URI", clip(s, 60))
			}
		}
	}
	switch ob := v.Get("orderBy"); ob {
	case "":
		if v.Has("orderDirection") {
			return nil, station.Errorf(station.EINVALID, "orderDirection goes with orderBy: give orderBy=eventTime or recordTime too")
		}
	case OrderEventTime, OrderRecordTime:
		q.OrderBy = ob
		switch d := v.Get("orderDirection"); d {
		case "", "DESC":
			q.Descending = true
		case "ASC":
		default:
			return nil, station.Errorf(station.EINVALID, "orderDirection=%q is not ASC or DESC", clip(d, 20))
		}
	default:
		return nil, station.Errorf(station.EINVALID, "orderBy=%q is not supported here: order by eventTime or recordTime", clip(ob, 60))
	}
	count := func(k string) (int, error) {
		s := v.Get(k)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, station.Errorf(station.EINVALID, "%s=%q must be a whole number of at least 1", k, clip(s, 20))
		}
		return n, nil
	}
	if q.EventCountLimit, err = count("eventCountLimit"); err != nil {
		return nil, err
	}
	if q.MaxEventCount, err = count("maxEventCount"); err != nil {
		return nil, err
	}
	if q.EventCountLimit > 0 && q.MaxEventCount > 0 {
		return nil, station.Errorf(station.EINVALID, "eventCountLimit and maxEventCount exclude each other: give one")
	}
	if s := v.Get("perPage"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return nil, station.Errorf(station.EINVALID, "perPage=%q must be 1 to %d", s, MaxPerPage)
		}
		q.Limit = n
	}
	if tok := v.Get("nextPageToken"); tok != "" {
		pos, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		if pos.Query != q.fingerprint() {
			return nil, station.Errorf(station.EINVALID, "nextPageToken belongs to another query: send the same filters with it")
		}
		if (pos.Key != "") != (q.OrderBy != "") {
			return nil, station.Errorf(station.EINVALID, "nextPageToken %q is not one this service gave", clip(tok, 40))
		}
		q.After, q.AfterKey, q.Returned = pos.After, pos.Key, pos.Returned
	}
	return q, nil
}

// cbvURN is a CBV value as the repository stores it (its URN) from the
// forms a query may give: the bare word ("shipping"), the web URI
// (https://ref.gs1.org/cbv/BizStep-shipping) or the URN; other URIs (a
// private vocabulary) are kept as they are.
func cbvURN(urn, web, s string) string {
	if w, ok := strings.CutPrefix(s, web); ok {
		return urn + w
	}
	if strings.Contains(s, ":") {
		return s
	}
	return urn + s
}

// fingerprint identifies the query's filters and order (not its
// position).
func (q *Query) fingerprint() string {
	c := *q
	c.After, c.AfterKey, c.Returned, c.Limit, c.Partner = 0, "", 0, 0, ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// position is where a page ends, as a nextPageToken carries it.
type position struct {
	V        int    `json:"v"`
	After    int64  `json:"a"`           // id of the last event given
	Key      string `json:"k,omitempty"` // its orderBy value
	Returned int    `json:"n,omitempty"` // events given so far
	Query    string `json:"q"`           // fingerprint of the query
}

// NextToken returns the nextPageToken after the event with id after and
// order key key, when returned events have been given in all.
func (q *Query) NextToken(after int64, key string, returned int) string {
	b, _ := json.Marshal(position{V: 2, After: after, Key: key, Returned: returned, Query: q.fingerprint()})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string) (position, error) {
	bad := station.Errorf(station.EINVALID, "nextPageToken %q is not one this service gave", clip(tok, 40))
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return position{}, bad
	}
	// v1 (id order only): "v1.ID.FINGERPRINT".
	if parts := strings.Split(string(b), "."); len(parts) == 3 && parts[0] == "v1" {
		if n, err := strconv.ParseInt(parts[1], 10, 64); err == nil && n >= 0 {
			return position{V: 1, After: n, Query: parts[2]}, nil
		}
		return position{}, bad
	}
	var p position
	if json.Unmarshal(b, &p) != nil || p.V != 2 || p.After < 0 || p.Returned < 0 || p.Query == "" {
		return position{}, bad
	}
	return p, nil
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
	if q.MaxEventCount > 0 && q.After == 0 && q.AfterKey == "" {
		n, err := x.store.CountEvents(ctx, q, q.MaxEventCount+1)
		if err != nil {
			return QueryResult{}, err
		}
		if n > q.MaxEventCount {
			return QueryResult{}, &QueryTooLargeError{Max: q.MaxEventCount}
		}
	}
	limit := q.Limit
	if q.EventCountLimit > 0 {
		limit = min(limit, q.EventCountLimit-q.Returned)
		if limit <= 0 {
			return QueryResult{Events: []StoredEvent{}}, nil
		}
	}
	page := *q
	page.Limit = limit + 1
	evs, err := x.store.QueryEvents(ctx, &page)
	if err != nil {
		return QueryResult{}, err
	}
	res := QueryResult{Events: evs}
	if len(evs) > limit {
		res.Events = evs[:limit]
		last := res.Events[limit-1]
		if q.EventCountLimit == 0 || q.Returned+limit < q.EventCountLimit {
			res.Next = q.NextToken(last.ID, last.OrderKey(q.OrderBy), q.Returned+limit)
		}
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

// QueryTooLargeError refuses a query that matches more events than its
// maxEventCount (the EPCIS QueryTooLargeException).
type QueryTooLargeError struct{ Max int }

func (e *QueryTooLargeError) Error() string {
	return fmt.Sprintf("QueryTooLargeException: more than maxEventCount=%d events match: narrow the query, or page through it without maxEventCount", e.Max)
}

// OrderKey is the event's value of an orderBy key, as the repository
// orders it.
func (s *StoredEvent) OrderKey(orderBy string) string {
	switch orderBy {
	case OrderEventTime:
		return station.FormatTime(s.Event.EventTime)
	case OrderRecordTime:
		return station.FormatTime(s.RecordTime)
	}
	return ""
}
