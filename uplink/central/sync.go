package central

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// codeAlphabet is Crockford's base32: no I, L, O or U, so a code read out
// over the phone or typed on a touchscreen is hard to get wrong.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// DefaultCodeTTL is how long an enrollment code stays valid.
const DefaultCodeTTL = 24 * time.Hour

// NewEnrollmentCode returns a one-time enrollment code (16 base32
// characters, 80 random bits, shown as XXXX-XXXX-XXXX-XXXX) and the hash the
// store keeps.
func NewEnrollmentCode() (code, hash string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("draw enrollment code: %w", err)
	}
	var sb strings.Builder
	for i, x := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[x&31])
	}
	code = sb.String()
	return code, HashSecret(NormalizeCode(code)), nil
}

// NormalizeCode turns a typed code into its canonical form: upper case,
// without dashes or spaces, with the letters people confuse mapped (O->0,
// I and L->1).
func NormalizeCode(s string) string {
	var sb strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// NewToken returns a bearer token ("lst_" and 256 random bits) and the
// hash the store keeps.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("draw token: %w", err)
	}
	token = "lst_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashSecret(token), nil
}

// AddStation creates a station with a new one-time enrollment code and
// returns the code; the store keeps only its hash. With newCode an existing
// station gets a new code (to enroll a replacement PC).
func AddStation(ctx context.Context, st Store, id, line string, ttl time.Duration, now time.Time, newCode bool) (string, error) {
	if ttl <= 0 {
		ttl = DefaultCodeTTL
	}
	code, hash, err := NewEnrollmentCode()
	if err != nil {
		return "", err
	}
	if err := st.AddStation(ctx, id, line, hash, now.Add(ttl).UTC(), newCode); err != nil {
		return "", err
	}
	return code, nil
}

// AddClient creates (or with replace re-issues) an ERP client credential
// and returns the token; the store keeps only its hash.
func AddClient(ctx context.Context, st Store, name string, replace bool) (string, error) {
	token, hash, err := NewToken()
	if err != nil {
		return "", err
	}
	if err := st.AddClient(ctx, name, uplink.RoleERP, hash, replace); err != nil {
		return "", err
	}
	return token, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 while the service takes traffic: not shutting down and
// the store answering.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	if s.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.logger.Warn("not ready: the store does not answer", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var req uplink.EnrollRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	code := NormalizeCode(req.Code)
	if len(code) != 16 || strings.Trim(code, codeAlphabet) != "" {
		return station.Errorf(station.EUNAUTHORIZED, "unknown enrollment code: a code is 16 letters and digits (XXXX-XXXX-XXXX-XXXX)")
	}
	token, tokenHash, err := NewToken()
	if err != nil {
		return err
	}
	info, err := s.store.Enroll(r.Context(), HashSecret(code), tokenHash)
	if err != nil {
		return err
	}
	s.logger.Info("station enrolled", logKeyStation, info.ID, "line", info.Line)
	writeJSON(w, http.StatusOK, uplink.Enrollment{Station: info.ID, Line: info.Line, Token: token})
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) syncHead(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	ack, err := s.store.Head(r.Context(), p.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ack)
	return nil
}

// syncEvents stores a pushed batch of the caller's own journal.
func (s *Server) syncEvents(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	var b uplink.Batch
	if err := s.decode(w, r, &b); err != nil {
		return err
	}
	if b.Station != p.Name {
		return &httpError{status: http.StatusForbidden, code: station.EUNAUTHORIZED,
			msg: fmt.Sprintf("station %s may write only its own journal; this batch is for station %q", p.Name, b.Station)}
	}
	if len(b.Events) > uplink.MaxBatchEvents {
		return tooLarge(uplink.MaxBatchEvents, fmt.Sprintf("a batch of %d events", len(b.Events)))
	}
	ack, err := s.store.Ingest(r.Context(), p.Name, b.Events, b.Outbox)
	if err != nil {
		if station.ErrorCode(err) == station.EUNAUTHORIZED {
			// An event of another station inside the caller's batch.
			return &httpError{status: http.StatusForbidden, code: station.EUNAUTHORIZED, msg: station.ErrorMessage(err)}
		}
		var ref *uplink.RefusedError
		if errors.As(err, &ref) {
			s.metrics.refused(p.Name)
			s.logger.Warn("push refused", logKeyStation, p.Name, "seq", ref.Seq, "held", ref.Held.Seq, "reason", ref.Msg)
		}
		return err
	}
	s.metrics.ingestedCount(p.Name, ack.Stored, ack.Duplicates)
	writeJSON(w, http.StatusOK, ack)
	return nil
}

// masterData answers a station's pull of master data. With wait=SECONDS
// and nothing new, it holds the request until a change is committed (a
// hold placed, an order released) or the time is up, so that stations
// learn of changes at once without asking every second.
func (s *Server) masterData(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	after, limit, err := cursorPage(r, 1000, 10000)
	if err != nil {
		return err
	}
	wait, err := queryInt(r, "wait", 0, 0, int64(uplink.MaxPullWait/time.Second))
	if err != nil {
		return err
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(time.Duration(wait) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	for {
		changed := s.store.Changed() // before the read: a change after it closes this
		md, err := s.store.MasterData(r.Context(), p.Line, after, limit)
		if err != nil {
			return err
		}
		md.Wait = int(wait)
		if wait == 0 || len(md.Records) > 0 || md.Next != after {
			writeJSON(w, http.StatusOK, md)
			return nil
		}
		switch s.hold(w, r, changed, timeout) {
		case holdChanged:
			continue
		case holdGone:
			return nil // the station went away: nobody to answer
		}
		writeJSON(w, http.StatusOK, md) // the time is up, or the service stops
		return nil
	}
}

// How a held pull ended.
type holdEnd int

const (
	holdChanged holdEnd = iota // master data changed
	holdOver                   // the time is up, or the service stops
	holdGone                   // the station went away
)

// hold waits for a master-data change, the end of the pull's time, the
// service stopping or the station going away. It counts the held pull in
// the metrics and keeps its waiting out of the request latency.
func (s *Server) hold(w http.ResponseWriter, r *http.Request, changed <-chan struct{}, timeout <-chan time.Time) holdEnd {
	s.metrics.holding(1)
	start := time.Now()
	defer func() {
		s.metrics.holding(-1)
		if sw, ok := w.(*statusWriter); ok {
			sw.held += time.Since(start)
		}
	}()
	select {
	case <-changed:
		return holdChanged
	case <-timeout:
		return holdOver
	case <-s.closing:
		return holdOver
	case <-r.Context().Done():
		return holdGone
	}
}

func (s *Server) reserve(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	var req uplink.ReserveRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.store.Reserve(r.Context(), p.Name, req)
	if err != nil {
		s.issuanceRefused(err, p.Name, "serials")
		return err
	}
	s.logger.Info("serials reserved", logKeyStation, p.Name, "gtin", res.GTIN, "count", len(res.Serials), "reservation", res.ID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// reserveSSCC issues the calling station a block of SSCC serial references.
func (s *Server) reserveSSCC(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	var req uplink.SSCCRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	b, err := s.store.ReserveSSCC(r.Context(), p.Name, req)
	if err != nil {
		s.issuanceRefused(err, p.Name, "sscc")
		return err
	}
	s.logger.Info("SSCC block issued", logKeyStation, p.Name, "prefix", b.Prefix, "first", b.First, "last", b.Last, "block", b.ID)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// issuanceRefused logs and counts a refusal to issue while a restored
// store awaits its stations (EUNAVAILABLE from the store).
func (s *Server) issuanceRefused(err error, holder, what string) {
	if station.ErrorCode(err) != station.EUNAVAILABLE {
		return
	}
	s.metrics.issuanceRefused(what)
	s.logger.Warn("issuance refused: the restored store awaits its stations", "holder", holder, "what", what, "reason", station.ErrorMessage(err))
}

func (s *Server) reservations(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	after, limit, err := cursorPage(r, 100, 1000)
	if err != nil {
		return err
	}
	rs, err := s.store.Reservations(r.Context(), p.Name, after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

func (s *Server) release(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	var req uplink.ReleaseRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.store.Release(r.Context(), p.Name, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
