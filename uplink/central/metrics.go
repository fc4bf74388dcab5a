package central

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/uplink"
)

// Metrics are written in the Prometheus text exposition format (version
// 0.0.4) by hand: a few counters, gauges and one histogram do not need a
// client library.

// latencyBuckets are the upper bounds (seconds) of the request latency histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

type reqKey struct {
	route string
	code  int
}

type metrics struct {
	mu         sync.Mutex
	started    time.Time
	requests   map[reqKey]uint64
	latency    map[string]*histogram
	ingested   map[string]uint64
	duplicates map[string]uint64
	refusals   map[string]uint64
	issuance   map[string]uint64 // issuance refused while a restore awaits stations, by what
	pullsHeld  int               // master-data pulls waiting for a change now
}

func newMetrics() *metrics {
	return &metrics{
		started:  time.Now(),
		requests: map[reqKey]uint64{}, latency: map[string]*histogram{},
		ingested: map[string]uint64{}, duplicates: map[string]uint64{}, refusals: map[string]uint64{}, issuance: map[string]uint64{},
	}
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{route, code}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.latency[route] = h
	}
	s := d.Seconds()
	if i, _ := slices.BinarySearch(latencyBuckets, s); i < len(latencyBuckets) {
		h.counts[i]++
	}
	h.sum += s
	h.n++
}

func (m *metrics) ingestedCount(station string, stored, dups int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ingested[station] += uint64(stored)
	m.duplicates[station] += uint64(dups)
}

func (m *metrics) issuanceRefused(what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.issuance[what]++
}

// holding counts a held pull in (+1) or out (-1).
func (m *metrics) holding(d int) {
	m.mu.Lock()
	m.pullsHeld += d
	m.mu.Unlock()
}

func (m *metrics) refused(station string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refusals[station]++
}

// Metric is one sample of a metric family that another component adds to
// /metrics (see Config.Metrics).
type Metric struct {
	Name   string   // e.g. linestation_backup_failures_total
	Type   string   // "counter" or "gauge"
	Help   string   // one line
	Labels []string // name, value pairs; may be empty
	Value  float64
}

// exposition builds the text format.
type exposition struct{ bytes.Buffer }

func (e *exposition) family(name, typ, help string) {
	fmt.Fprintf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (e *exposition) sample(name string, labels []string, v float64) {
	e.WriteString(name)
	if len(labels) > 0 {
		e.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.WriteByte(',')
			}
			e.WriteString(labels[i])
			e.WriteString(`="`)
			e.WriteString(escapeLabel(labels[i+1]))
			e.WriteByte('"')
		}
		e.WriteByte('}')
	}
	e.WriteByte(' ')
	e.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	e.WriteByte('\n')
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// serveMetrics writes the service's counters and the stations' state.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	stations, err := s.store.Stations(r.Context())
	if err != nil {
		return err
	}
	awaited, err := s.store.RestoreAwaited(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	var e exposition
	m := s.metrics
	m.mu.Lock()
	e.family("linestation_up_seconds", "gauge", "Seconds since the central service started.")
	e.sample("linestation_up_seconds", nil, now.Sub(m.started).Seconds())

	e.family("linestation_master_pulls_held", "gauge", "Stations' master-data pulls held open now, waiting for a change (about one per connected station).")
	e.sample("linestation_master_pulls_held", nil, float64(m.pullsHeld))

	e.family("linestation_events_ingested_total", "counter", "Station events stored by this process, by station.")
	for _, st := range sortedKeys(m.ingested) {
		e.sample("linestation_events_ingested_total", []string{"station", st}, float64(m.ingested[st]))
	}
	e.family("linestation_events_duplicate_total", "counter", "Resent station events that were already held (idempotent no-ops), by station.")
	for _, st := range sortedKeys(m.duplicates) {
		e.sample("linestation_events_duplicate_total", []string{"station", st}, float64(m.duplicates[st]))
	}
	e.family("linestation_pushes_refused_total", "counter", "Pushes refused for a gap or a hash-chain break, by station.")
	for _, st := range sortedKeys(m.refusals) {
		e.sample("linestation_pushes_refused_total", []string{"station", st}, float64(m.refusals[st]))
	}

	e.family("linestation_issuance_refused_total", "counter", "Requests for serials or SSCC blocks refused because a restored store awaits its stations, by what was asked.")
	for _, what := range sortedKeys(m.issuance) {
		e.sample("linestation_issuance_refused_total", []string{"what", what}, float64(m.issuance[what]))
	}

	reqs := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		reqs = append(reqs, k)
	}
	slices.SortFunc(reqs, func(a, b reqKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.code - b.code
	})
	e.family("linestation_http_requests_total", "counter", "HTTP requests answered, by route and status code.")
	for _, k := range reqs {
		e.sample("linestation_http_requests_total", []string{"route", k.route, "code", strconv.Itoa(k.code)}, float64(m.requests[k]))
	}
	e.family("linestation_http_request_duration_seconds", "histogram", "HTTP request latency, by route.")
	for _, route := range sortedKeys(m.latency) {
		h := m.latency[route]
		var cum uint64
		for i, ub := range latencyBuckets {
			cum += h.counts[i]
			e.sample("linestation_http_request_duration_seconds_bucket", []string{"route", route, "le", strconv.FormatFloat(ub, 'g', -1, 64)}, float64(cum))
		}
		e.sample("linestation_http_request_duration_seconds_bucket", []string{"route", route, "le", "+Inf"}, float64(h.n))
		e.sample("linestation_http_request_duration_seconds_sum", []string{"route", route}, h.sum)
		e.sample("linestation_http_request_duration_seconds_count", []string{"route", route}, float64(h.n))
	}
	m.mu.Unlock()

	e.family("linestation_restore_awaited_stations", "gauge", "Stations a restored store waits to sync before it issues serials and SSCC blocks again (0 in normal operation).")
	e.sample("linestation_restore_awaited_stations", nil, float64(len(awaited)))
	e.family("linestation_restore_awaited", "gauge", "1 for each station a restored store still waits for.")
	for _, st := range awaited {
		e.sample("linestation_restore_awaited", []string{"station", st}, 1)
	}

	e.family("linestation_stations", "gauge", "Stations known to the central service.")
	e.sample("linestation_stations", nil, float64(len(stations)))
	e.family("linestation_station_head_seq", "gauge", "The last seq of each station's journal held here.")
	for _, st := range stations {
		e.sample("linestation_station_head_seq", []string{"station", st.ID}, float64(st.HeadSeq))
	}
	e.family("linestation_station_outbox_events", "gauge", "Events a station reported not yet acknowledged after its last push (its outbox depth).")
	for _, st := range stations {
		e.sample("linestation_station_outbox_events", []string{"station", st.ID}, float64(max(st.Reported.Head-st.HeadSeq, 0)))
	}
	e.family("linestation_station_lag_seconds", "gauge", "How far the central's copy of a station's journal is behind: the age of the last event held while the station reported more, else 0.")
	for _, st := range stations {
		lag := 0.0
		if st.Reported.Head > st.HeadSeq && !st.HeadTime.IsZero() {
			lag = max(now.Sub(st.HeadTime).Seconds(), 0)
		}
		e.sample("linestation_station_lag_seconds", []string{"station", st.ID}, lag)
	}
	e.family("linestation_station_last_sync_age_seconds", "gauge", "Seconds since a station last pushed (-1 if never).")
	for _, st := range stations {
		age := -1.0
		if !st.LastSync.IsZero() {
			age = max(now.Sub(st.LastSync).Seconds(), 0)
		}
		e.sample("linestation_station_last_sync_age_seconds", []string{"station", st.ID}, age)
	}
	e.family("linestation_station_repository_conflicts", "gauge", "Events of a station that the repository could not apply (see the conflicts table).")
	for _, st := range stations {
		e.sample("linestation_station_repository_conflicts", []string{"station", st.ID}, float64(st.Conflicts))
	}
	if s.cfg.Metrics != nil {
		last := ""
		for _, x := range s.cfg.Metrics() { // samples of one family come together
			if x.Name != last {
				e.family(x.Name, x.Type, x.Help)
				last = x.Name
			}
			e.sample(x.Name, x.Labels, x.Value)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(e.Bytes())
	return nil
}
