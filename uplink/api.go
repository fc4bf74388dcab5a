package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// API is a handle on the central service's HTTP API for one caller (a
// station, or a tool acting for one). It is safe for concurrent use.
type API struct {
	base  *url.URL
	token string
	http  *http.Client
	agent string
}

// DefaultTimeout bounds one request when NewAPI is given no client.
const DefaultTimeout = 30 * time.Second

// NewAPI returns a handle on the central service at baseURL (http:// only
// for development on loopback, https:// otherwise), authenticating with
// token (empty for enrollment). hc may be nil for a client with
// DefaultTimeout; give one with a TLS config to trust a private CA.
func NewAPI(baseURL, token string, hc *http.Client) (*API, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, station.Errorf(station.EINVALID, "central URL %q must be http(s)://HOST[:PORT]", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &API{base: u, token: token, http: hc, agent: station.AppName + "/" + station.Version}, nil
}

// URL returns the base URL of the central service.
func (a *API) URL() string { return a.base.String() }

// WithToken returns a copy of a that authenticates with token.
func (a *API) WithToken(token string) *API {
	c := *a
	c.token = token
	return &c
}

// APIError is an error answer of the central service. It unwraps to a
// *station.Error with the answer's code and message, so station.ErrorCode
// and ErrorMessage work on it.
type APIError struct {
	Status int         // HTTP status
	Detail ErrorDetail // the decoded error body
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("central answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Detail.Message)
}

// Unwrap gives the station error.
func (e *APIError) Unwrap() error {
	code := e.Detail.Code
	if code == "" {
		code = station.EINTERNAL
	}
	return &station.Error{Code: code, Message: e.Detail.Message}
}

// unreachable is a transport failure: the central could not be asked or
// did not answer. It unwraps to EUNAVAILABLE and to the cause.
type unreachable struct {
	what string
	err  error
}

func (e *unreachable) Error() string { return e.what + ": " + e.err.Error() }
func (e *unreachable) Unwrap() []error {
	return []error{station.Errorf(station.EUNAVAILABLE, "the central service cannot be reached (%s): the station keeps working and sends its records later", e.what), e.err}
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }}

// Push sends a batch of the caller's journal, gzip-compressed, and returns
// what the central holds afterwards. A refused batch is an *APIError; for a
// gap or a resend of a different history, its Detail.Held says what the
// central holds.
func (a *API) Push(ctx context.Context, b *Batch) (Ack, error) {
	body, err := EncodeBatch(b)
	if err != nil {
		return Ack{}, err
	}
	return a.PushEncoded(ctx, body)
}

// EncodeBatch returns a batch as Push sends it: JSON (without HTML
// escaping, so payloads keep their exact bytes), gzip-compressed.
func EncodeBatch(b *Batch) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	err := enc.Encode(b)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	gzipWriters.Put(zw)
	if err != nil {
		return nil, fmt.Errorf("encode batch: %w", err)
	}
	return buf.Bytes(), nil
}

// PushEncoded sends a batch encoded by EncodeBatch (a retry need not encode
// it again).
func (a *API) PushEncoded(ctx context.Context, body []byte) (Ack, error) {
	var ack Ack
	err := a.do(ctx, http.MethodPost, PathSyncEvents, nil, bytes.NewReader(body), "gzip", &ack)
	return ack, err
}

// Head returns what the central holds of the caller's journal.
func (a *API) Head(ctx context.Context) (Ack, error) {
	var ack Ack
	err := a.do(ctx, http.MethodGet, PathSyncHead, nil, nil, "", &ack)
	return ack, err
}

// Enroll exchanges a one-time enrollment code for the station's credential.
func (a *API) Enroll(ctx context.Context, code string) (Enrollment, error) {
	var e Enrollment
	err := a.doJSON(ctx, http.MethodPost, PathEnroll, nil, EnrollRequest{Code: code}, &e)
	return e, err
}

// MasterData returns master-data changes after seq after (0 for all).
func (a *API) MasterData(ctx context.Context, after int64, limit int) (MasterData, error) {
	return a.MasterDataWait(ctx, after, limit, 0)
}

// MasterDataWait is MasterData that, when nothing is new, asks the central
// to hold the answer up to wait (at most MaxPullWait, and 5 s less than
// the HTTP client's timeout) for a change. The answer's Wait is 0 from a
// central that does not wait.
func (a *API) MasterDataWait(ctx context.Context, after int64, limit int, wait time.Duration) (MasterData, error) {
	var md MasterData
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	wait = min(wait, MaxPullWait)
	if t := a.http.Timeout; t > 0 {
		wait = min(wait, t-5*time.Second)
	}
	if secs := int(wait / time.Second); secs > 0 {
		q.Set("wait", strconv.Itoa(secs))
	}
	err := a.do(ctx, http.MethodGet, PathMasterData, q, nil, "", &md)
	return md, err
}

// Reserve asks the serial authority for serials. Retrying with the same
// RequestID after a lost answer returns the same reservation.
func (a *API) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	var r Reservation
	err := a.doJSON(ctx, http.MethodPost, PathPools, nil, req, &r)
	return r, err
}

// ReserveSSCC asks the central for a block of SSCC serial references.
// Retrying with the same RequestID after a lost answer returns the same
// block.
func (a *API) ReserveSSCC(ctx context.Context, req SSCCRequest) (SSCCBlock, error) {
	var b SSCCBlock
	err := a.doJSON(ctx, http.MethodPost, PathSSCC, nil, req, &b)
	return b, err
}

// Reservations returns the caller's reservations with an id above after,
// serials included: what a station needs to recover serials whose
// reservation answer it never recorded.
func (a *API) Reservations(ctx context.Context, after int64) ([]Reservation, error) {
	var rs []Reservation
	err := a.do(ctx, http.MethodGet, PathPools, url.Values{"after": {strconv.FormatInt(after, 10)}}, nil, "", &rs)
	return rs, err
}

// Release returns or voids unused serials.
func (a *API) Release(ctx context.Context, req ReleaseRequest) (ReleaseResult, error) {
	var r ReleaseResult
	err := a.doJSON(ctx, http.MethodPost, PathPoolsFree, nil, req, &r)
	return r, err
}

func (a *API) doJSON(ctx context.Context, method, path string, q url.Values, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	return a.do(ctx, method, path, q, bytes.NewReader(body), "", out)
}

// maxAnswer bounds an answer the client reads.
const maxAnswer = 256 << 20

func (a *API) do(ctx context.Context, method, path string, q url.Values, body io.Reader, encoding string, out any) error {
	u := *a.base
	u.Path += path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	what := method + " " + u.Redacted()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("User-Agent", a.agent)
	resp, err := a.http.Do(req)
	if err != nil {
		return &unreachable{what: what, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &unreachable{what: what + ": read answer", err: err}
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Message == "" {
			eb.Error = ErrorDetail{Code: codeForStatus(resp.StatusCode), Message: strings.TrimSpace(string(truncate(data, 300)))}
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return &unreachable{what: what, err: &APIError{Status: resp.StatusCode, Detail: eb.Error}}
		}
		return &APIError{Status: resp.StatusCode, Detail: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A cut or garbled answer is a transport failure, not the central's word.
		return &unreachable{what: what + ": decode answer", err: err}
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return station.EINVALID
	case http.StatusUnauthorized, http.StatusForbidden:
		return station.EUNAUTHORIZED
	case http.StatusNotFound:
		return station.ENOTFOUND
	case http.StatusConflict:
		return station.ECONFLICT
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return station.EUNAVAILABLE
	}
	return station.EINTERNAL
}

// IsUnavailable reports whether err means the central could not be asked or
// did not answer (as opposed to answering no).
func IsUnavailable(err error) bool {
	var u *unreachable
	return errors.As(err, &u)
}
