package central

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// Log attribute keys.
const (
	logKeyStation = "station"
	logKeyRoute   = "route"
	logKeyStatus  = "status"
)

// route is one endpoint: method, ServeMux pattern, the role that may call
// it ("" for anyone) and the handler. The table is what the OpenAPI test
// checks against /openapi.json.
type route struct {
	method  string
	pattern string
	role    string
	h       func(w http.ResponseWriter, r *http.Request, p uplink.Principal) error
}

// rolePublic marks endpoints that need no credential.
const rolePublic = ""

func (s *Server) routeTable() []route {
	return []route{
		{http.MethodGet, "/healthz", rolePublic, s.healthz},
		{http.MethodGet, "/readyz", rolePublic, s.readyz},
		{http.MethodGet, "/metrics", rolePublic, s.serveMetrics},
		{http.MethodGet, "/openapi.json", rolePublic, s.openapi},
		{http.MethodPost, uplink.PathEnroll, rolePublic, s.enroll},
		{http.MethodGet, "/v1/whoami", roleAny, s.whoami},

		{http.MethodGet, uplink.PathSyncHead, uplink.RoleStation, s.syncHead},
		{http.MethodPost, uplink.PathSyncEvents, uplink.RoleStation, s.syncEvents},
		{http.MethodGet, uplink.PathMasterData, uplink.RoleStation, s.masterData},
		{http.MethodPost, uplink.PathPools, uplink.RoleStation, s.reserve},
		{http.MethodGet, uplink.PathPools, uplink.RoleStation, s.reservations},
		{http.MethodPost, uplink.PathPoolsFree, uplink.RoleStation, s.release},
		{http.MethodGet, uplink.PathInbound, uplink.RoleStation, s.stationRoute(s.inbound)},
		{http.MethodPost, uplink.PathReceipts, uplink.RoleStation, s.stationRoute(s.stationReceive)},
		{http.MethodPost, uplink.PathSSCC, uplink.RoleStation, s.reserveSSCC},

		{http.MethodGet, "/v1/products", uplink.RoleERP, s.listProducts},
		{http.MethodPost, "/v1/products", uplink.RoleERP, s.postProduct},
		{http.MethodPost, "/v1/products/import", uplink.RoleERP, s.importProducts},
		{http.MethodGet, "/v1/products/{gtin}", uplink.RoleERP, s.getProduct},
		{http.MethodPut, "/v1/products/{gtin}", uplink.RoleERP, s.putProduct},
		{http.MethodGet, "/v1/orders", uplink.RoleERP, s.listOrders},
		{http.MethodPost, "/v1/orders", uplink.RoleERP, s.postOrder},
		{http.MethodGet, "/v1/orders/{id}", uplink.RoleERP, s.getOrder},
		{http.MethodPut, "/v1/orders/{id}", uplink.RoleERP, s.putOrder},
		{http.MethodGet, "/v1/users", uplink.RoleERP, s.listUsers},
		{http.MethodPut, "/v1/users/{id}", uplink.RoleERP, s.putUser},
		{http.MethodPost, "/v1/serials", uplink.RoleERP, s.serialRange},
		{http.MethodGet, "/v1/events", uplink.RoleERP, s.feed},
		{http.MethodGet, "/v1/items/{key...}", uplink.RoleERP, s.item},
		{http.MethodGet, "/v1/stations", uplink.RoleERP, s.stations},

		// DSCSA exchange (dscsa.go): partners and ERP clients.
		{http.MethodPost, "/epcis/capture", roleExchange, s.partnerRoute(s.epcisCapture)},
		{http.MethodGet, "/epcis/capture/{id}", roleExchange, s.partnerRoute(s.epcisCaptureJob)},
		{http.MethodGet, "/epcis/events", roleExchange, s.partnerRoute(s.epcisEvents)},
		{http.MethodPost, "/dscsa/documents", roleExchange, s.partnerRoute(s.dscsaDocument)},
		{http.MethodGet, "/dscsa/verify/01/{gtin}/10/{lot}/21/{serial}", roleExchange, s.partnerRoute(s.dscsaVerify)},
		{http.MethodGet, "/dscsa/trace/{id...}", roleExchange, s.partnerRoute(s.dscsaTrace)},
		// DSCSA exchange administration: ERP clients.
		{http.MethodGet, "/v1/dscsa/partners", uplink.RoleERP, s.erpRoute(s.listPartners)},
		{http.MethodPut, "/v1/dscsa/partners/{id}", uplink.RoleERP, s.erpRoute(s.putPartner)},
		{http.MethodPost, "/v1/dscsa/partners/{id}/tokens", uplink.RoleERP, s.erpRoute(s.partnerToken)},
		{http.MethodGet, "/v1/dscsa/locations", uplink.RoleERP, s.erpRoute(s.listLocations)},
		{http.MethodPut, "/v1/dscsa/locations/{gln}", uplink.RoleERP, s.erpRoute(s.putLocation)},
		{http.MethodGet, "/v1/dscsa/shipments/{id}/document", uplink.RoleERP, s.erpRoute(s.shipmentDocument)},
		{http.MethodGet, "/v1/dscsa/deliveries", uplink.RoleERP, s.erpRoute(s.listDeliveries)},
		{http.MethodPost, "/v1/dscsa/deliveries/{id}/retry", uplink.RoleERP, s.erpRoute(s.retryDelivery)},
		{http.MethodPost, "/v1/dscsa/receipts", uplink.RoleERP, s.erpRoute(s.receive)},
		{http.MethodPost, "/v1/dscsa/investigations", uplink.RoleERP, s.erpRoute(s.openInvestigation)},
		{http.MethodGet, "/v1/dscsa/investigations/{id}", uplink.RoleERP, s.erpRoute(s.getInvestigation)},
		{http.MethodPost, "/v1/dscsa/investigations/{id}/close", uplink.RoleERP, s.erpRoute(s.closeInvestigation)},
		{http.MethodGet, "/v1/dscsa/investigations/{id}/notification", uplink.RoleERP, s.erpRoute(s.notification)},
		{http.MethodGet, "/v1/dscsa/verifications", uplink.RoleERP, s.erpRoute(s.listVerifications)},
	}
}

// roleAny marks endpoints any authenticated caller may use.
const roleAny = "*"

// wrap adds authentication, metrics, logging and error answers to a route.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.metrics.observeRequest(label, sw.status, time.Since(start)-sw.held)
		}()
		var p uplink.Principal
		if rt.role != rolePublic {
			var err error
			if p, err = s.authenticate(r); err != nil {
				s.writeError(sw, r, err)
				return
			}
			if rt.role != roleAny && p.Role != rt.role {
				s.writeError(sw, r, &httpError{status: http.StatusForbidden, code: station.EUNAUTHORIZED,
					msg: fmt.Sprintf("%s %s is for %s credentials; this is a %s credential (%s)", rt.method, r.URL.Path, rt.role, p.Role, p.Name)})
				return
			}
		}
		if err := rt.h(sw, r, p); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	held   time.Duration // how long the handler waited for a change (long pulls): not latency
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// authenticate reads the bearer token and asks the store who holds it.
func (s *Server) authenticate(r *http.Request) (uplink.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return uplink.Principal{}, station.Errorf(station.EUNAUTHORIZED, "no credential: send 'Authorization: Bearer TOKEN' (a station gets its token by enrolling with a one-time code)")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return uplink.Principal{}, station.Errorf(station.EUNAUTHORIZED, "the Authorization header must be 'Bearer TOKEN'")
	}
	return s.store.Authenticate(r.Context(), HashSecret(strings.TrimSpace(token)))
}

// HashSecret is how credentials and enrollment codes are stored: the hex
// SHA-256 of the secret. Tokens and codes are random with at least 80 bits,
// so a fast hash is enough (a slow one protects guessable passwords).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// httpError is an error with an explicit status where the code's default
// does not fit (403, 413, 415).
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return &station.Error{Code: e.code, Message: e.msg} }

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	switch station.ErrorCode(err) {
	case station.EINVALID:
		return http.StatusBadRequest
	case station.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case station.ENOTFOUND:
		return http.StatusNotFound
	case station.ECONFLICT:
		return http.StatusConflict
	case station.EUNAVAILABLE, station.ECLOCK:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err as JSON. Internal errors are logged with their
// details and answered with a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	detail := uplink.ErrorDetail{Code: station.ErrorCode(err), Message: station.ErrorMessage(err)}
	var ref *uplink.RefusedError
	if errors.As(err, &ref) {
		held := ref.Held
		detail.Held, detail.Seq = &held, ref.Seq
	}
	var le *lineErrors
	if errors.As(err, &le) {
		detail.Errors = le.errs
		if len(le.errs) > 0 {
			detail.Line = le.errs[0].Line
		}
	}
	if status == http.StatusInternalServerError {
		s.logger.Error("request failed", logKeyRoute, r.Method+" "+r.URL.Path, "error", err)
	} else {
		s.logger.Debug("request refused", logKeyRoute, r.Method+" "+r.URL.Path, logKeyStatus, status, "error", detail.Message)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="linestation"`)
	}
	writeJSON(w, status, uplink.ErrorBody{Error: detail})
}

// writeJSON answers v as JSON. HTML escaping is off: event payloads must
// reach clients byte for byte (their hashes cover them), and CSET 82
// serials may hold <, > and &.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encode answer"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// body returns the request body, bounded, decompressed when gzip, for a
// request whose Content-Type must be one of types.
func (s *Server) body(w http.ResponseWriter, r *http.Request, types ...string) (io.Reader, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !contains(types, ct) {
		return nil, &httpError{status: http.StatusUnsupportedMediaType, code: station.EINVALID,
			msg: fmt.Sprintf("Content-Type %q: send %s", r.Header.Get("Content-Type"), strings.Join(types, " or "))}
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, tooLarge(s.cfg.MaxBodyBytes, "")
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge(s.cfg.MaxBodyBytes, "")
			}
			return nil, station.Errorf(station.EINVALID, "the body is not valid gzip: %v", err)
		}
		body = &limitedReader{r: zr, n: s.cfg.MaxJSONBytes}
	default:
		return nil, &httpError{status: http.StatusUnsupportedMediaType, code: station.EINVALID,
			msg: fmt.Sprintf("Content-Encoding %q: send gzip or no encoding", enc)}
	}
	return body, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tooLarge(limit int64, what string) error {
	if what == "" {
		what = "the request body"
	}
	return &httpError{status: http.StatusRequestEntityTooLarge, code: station.EINVALID,
		msg: fmt.Sprintf("%s is larger than %d bytes: send smaller batches", what, limit)}
}

// limitedReader fails (instead of stopping quietly) past n bytes, so a
// gzip bomb is refused rather than truncated into a parse error.
type limitedReader struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("decompressed body too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Allow EOF right at the limit.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// decode reads one JSON value strictly (uplink.Unmarshal: no unknown or
// repeated members, nothing after it) and turns errors into messages that
// say where.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.body(w, r, "application/json")
	if err != nil {
		return err
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := buf.ReadFrom(body); err != nil {
		return s.decodeError(err)
	}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return station.Errorf(station.EINVALID, "the body is empty: send a JSON object")
	}
	if err := uplink.Unmarshal(buf.Bytes(), v); err != nil {
		return s.decodeError(err)
	}
	return nil
}

// Request bodies are read into pooled buffers: a station's batch is
// hundreds of kilobytes, every few seconds from every station. Buffers that
// grew past maxPooled are left to the collector.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 8 << 20

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	buffers.Put(b)
}

func (s *Server) decodeError(err error) error {
	var mbe *http.MaxBytesError
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(s.cfg.MaxBodyBytes, "")
	case errors.Is(err, errTooLarge):
		return tooLarge(s.cfg.MaxJSONBytes, "the decompressed body")
	case errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader):
		return station.Errorf(station.EINVALID, "the gzip body is corrupt: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return station.Errorf(station.EINVALID, "the body ends in the middle of the JSON (truncated?)")
	case errors.As(err, &syn):
		return station.Errorf(station.EINVALID, "malformed JSON at byte %d of the body%s: %v", syn.ByteOffset, at(string(syn.JSONPointer)), syn.Err)
	case errors.As(err, &sem) && errors.Is(sem.Err, jsonv2.ErrUnknownName):
		ptr := string(sem.JSONPointer)
		return station.Errorf(station.EINVALID, "unknown field %q at %s: the API does not know it (names are case-sensitive; see /openapi.json)",
			ptr[strings.LastIndexByte(ptr, '/')+1:], ptr)
	case errors.As(err, &sem):
		msg := fmt.Sprintf("JSON field %s at byte %d: got %s", orRoot(string(sem.JSONPointer)), sem.ByteOffset, kindName(sem.JSONKind))
		if sem.GoType != nil {
			msg += ", want " + sem.GoType.String()
		}
		var perr *time.ParseError
		switch {
		case errors.As(sem.Err, &perr):
			msg += ": a time must be RFC 3339, like 2026-03-01T06:00:00Z"
		case sem.Err != nil:
			msg += ": " + sem.Err.Error()
		}
		return station.Errorf(station.EINVALID, "%s", msg)
	}
	return station.Errorf(station.EINVALID, "the body cannot be read as JSON: %v", err)
}

// at names where in the JSON an error is, when that is known.
func at(ptr string) string {
	if ptr == "" {
		return ""
	}
	return " (at " + ptr + ")"
}

func orRoot(ptr string) string {
	if ptr == "" {
		return "(the whole body)"
	}
	return ptr
}

// kindName is a JSON value kind as a person says it.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value"
}

// putStatus is the status of a PUT answer: 201 when it created the
// resource, 200 when it replaced one.
func putStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// cursorPage reads the after (a cursor, default 0) and limit (default def,
// at most max) query parameters of a paged route.
func cursorPage(r *http.Request, def, max int64) (after int64, limit int, err error) {
	if after, err = queryInt(r, "after", 0, 0, 1<<62); err != nil {
		return 0, 0, err
	}
	n, err := queryInt(r, "limit", def, 1, max)
	return after, int(n), err
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string, def, min, max int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, station.Errorf(station.EINVALID, "query parameter %s=%q must be an integer from %d to %d", name, v, min, max)
	}
	return n, nil
}

// Routes lists the service's endpoints as "METHOD PATTERN" (ServeMux
// patterns), in the order of the route table.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.pattern
	}
	return out
}
