package central

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

// The DSCSA exchange's endpoints. Partner-facing ones (/epcis/...,
// /dscsa/...) take partner credentials or our ERP tokens and check them
// themselves (roleExchange in the route table); the administration ones
// (/v1/dscsa/...) are for ERP credentials.

// roleExchange marks routes whose handler authenticates the caller itself:
// a trading partner's credential or an ERP token (see exchangeCaller).
const roleExchange = rolePublic

// exchangeHandler is a handler of the exchange for a known caller.
type exchangeHandler func(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error

// partnerRoute adapts a handler for partners and ERP clients.
func (s *Server) partnerRoute(h exchangeHandler) func(http.ResponseWriter, *http.Request, uplink.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
		x, err := s.exchange()
		if err != nil {
			return err
		}
		c, err := s.exchangeCaller(r, x)
		if err != nil {
			return err
		}
		return s.exchangeError(h(w, r, x, c))
	}
}

// erpRoute adapts a handler for ERP clients (authenticated by the route table).
func (s *Server) erpRoute(h exchangeHandler) func(http.ResponseWriter, *http.Request, uplink.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
		x, err := s.exchange()
		if err != nil {
			return err
		}
		return s.exchangeError(h(w, r, x, dscsa.Caller{Name: p.Name}))
	}
}

// stationRoute adapts a handler for stations (authenticated by the route
// table): the caller is the station.
func (s *Server) stationRoute(h exchangeHandler) func(http.ResponseWriter, *http.Request, uplink.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
		x, err := s.exchange()
		if err != nil {
			return err
		}
		return s.exchangeError(h(w, r, x, dscsa.Caller{Name: p.Name, Station: true}))
	}
}

func (s *Server) exchange() (*dscsa.Exchange, error) {
	if s.cfg.Exchange == nil {
		return nil, station.Errorf(station.EUNAVAILABLE, "the DSCSA exchange is not configured on this service (set [dscsa] gln in its config)")
	}
	return s.cfg.Exchange, nil
}

// exchangeCaller authenticates a partner (its credential) or an ERP client.
func (s *Server) exchangeCaller(r *http.Request, x *dscsa.Exchange) (dscsa.Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return dscsa.Caller{}, station.Errorf(station.EUNAUTHORIZED, "no credential: send 'Authorization: Bearer TOKEN' with the token we issued to your company")
	}
	hash := HashSecret(token)
	p, err := x.Store().PartnerByToken(r.Context(), hash)
	if err == nil {
		return dscsa.Caller{Partner: &p, Name: p.ID}, nil
	}
	if station.ErrorCode(err) != station.EUNAUTHORIZED {
		return dscsa.Caller{}, err
	}
	pr, err := s.store.Authenticate(r.Context(), hash)
	if err != nil {
		if station.ErrorCode(err) == station.EUNAUTHORIZED {
			return dscsa.Caller{}, station.Errorf(station.EUNAUTHORIZED, "unknown credential: use the token we issued to your company")
		}
		return dscsa.Caller{}, err
	}
	if pr.Role != uplink.RoleERP {
		return dscsa.Caller{}, &httpError{status: http.StatusForbidden, code: station.EUNAUTHORIZED,
			msg: fmt.Sprintf("%s %s is for trading partners and ERP clients; this is a %s credential (%s)", r.Method, r.URL.Path, pr.Role, pr.Name)}
	}
	return dscsa.Caller{Name: pr.Name}, nil
}

// exchangeError maps the exchange's errors to HTTP answers.
func (s *Server) exchangeError(err error) error {
	if err == nil {
		return nil
	}
	var fe *dscsa.ForbiddenError
	if errors.As(err, &fe) {
		return &httpError{status: http.StatusForbidden, code: station.EUNAUTHORIZED, msg: station.ErrorMessage(fe.Err)}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit, "the document")
	}
	if errors.Is(err, errTooLarge) {
		return tooLarge(s.cfg.MaxJSONBytes, "the decompressed document")
	}
	return err
}

// epcisTypes are the content types of EPCIS documents.
var epcisTypes = []string{"application/ld+json", "application/json", "application/xml", "text/xml"}

func (s *Server) epcisCapture(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	body, err := s.body(w, r, epcisTypes...)
	if err != nil {
		return err
	}
	j, err := x.SubmitCapture(r.Context(), c, body, r.Header.Get("GS1-Capture-Error-Behaviour"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/epcis/capture/"+j.ID)
	w.Header().Set("GS1-EPCIS-Version", "2.0.0")
	writeJSON(w, http.StatusAccepted, j)
	return nil
}

func (s *Server) epcisCaptureJob(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	j, err := x.CaptureJob(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("GS1-EPCIS-Version", "2.0.0")
	writeJSON(w, http.StatusOK, j)
	return nil
}

// dscsaDocument captures a supplier's document synchronously, all or
// nothing: 201 with the job when every event was stored, 400 naming the
// event and field otherwise.
func (s *Server) dscsaDocument(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	body, err := s.body(w, r, "application/xml", "text/xml")
	if err != nil {
		return err
	}
	j, err := x.CaptureDocument(r.Context(), c, body)
	if err != nil {
		return err
	}
	if !j.Success {
		msg := "the document was refused"
		if len(j.Errors) > 0 {
			msg = j.Errors[0].Title
			if j.ErrorCount > 1 {
				msg += fmt.Sprintf(" (and %d more problems: GET /epcis/capture/%s lists them)", j.ErrorCount-1, j.ID)
			}
		}
		return station.Errorf(station.EINVALID, "%s; nothing of it was stored", msg)
	}
	w.Header().Set("Location", "/epcis/capture/"+j.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (s *Server) epcisEvents(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	q, err := dscsa.ParseQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := x.QueryEvents(r.Context(), c, q)
	var tooLarge *dscsa.QueryTooLargeError
	if errors.As(err, &tooLarge) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: station.EINVALID, msg: tooLarge.Error()}
	}
	if err != nil {
		return err
	}
	evs := make([]*epcis.Event, len(res.Events))
	for i := range res.Events {
		evs[i] = res.Events[i].Event
	}
	var buf bytes.Buffer
	if err := dscsa.WriteQueryDocument(&buf, evs, time.Now()); err != nil {
		return fmt.Errorf("write query answer: %w", err)
	}
	if res.Next != "" {
		v := r.URL.Query()
		v.Set("nextPageToken", res.Next)
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, v.Encode()))
	}
	w.Header().Set("GS1-EPCIS-Version", "2.0.0")
	w.Header().Set("GS1-CBV-Version", "2.0.0")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (s *Server) dscsaVerify(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	req, err := dscsa.ParseVerificationRequest(r.PathValue("gtin"), r.PathValue("lot"), r.PathValue("serial"), r.URL.Query())
	if err != nil {
		return err
	}
	resp, err := x.Verify(r.Context(), c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// documentFormat reads ?format= (default def).
func documentFormat(r *http.Request, def string, allowed ...string) (string, error) {
	f := r.URL.Query().Get("format")
	if f == "" {
		return def, nil
	}
	for _, a := range allowed {
		if f == a {
			return f, nil
		}
	}
	return "", station.Errorf(station.EINVALID, "format=%q must be %s", f, strings.Join(allowed, " or "))
}

func contentTypeOf(f epcis.Format) string {
	if f == epcis.FormatJSONLD20 {
		return "application/ld+json"
	}
	return "application/xml"
}

func (s *Server) dscsaTrace(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	f, err := documentFormat(r, "json", "json", "jsonld20", "xml12")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	if err := x.Sync(r.Context()); err != nil {
		return err
	}
	t, err := x.Trace(r.Context(), c, id)
	if err != nil {
		return err
	}
	if f == "json" {
		writeJSON(w, http.StatusOK, t)
		return nil
	}
	ef, _ := epcis.ParseFormat(f)
	var buf bytes.Buffer
	if err := t.WriteEPCIS(&buf, ef, time.Now()); err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentTypeOf(ef))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// countingWriter knows whether the answer has started.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) shipmentDocument(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	name, err := documentFormat(r, "xml12", "xml12", "jsonld20")
	if err != nil {
		return err
	}
	f, _ := epcis.ParseFormat(name)
	if err := x.Sync(r.Context()); err != nil {
		return err
	}
	id := r.PathValue("id")
	w.Header().Set("Content-Type", contentTypeOf(f))
	cw := &countingWriter{w: w}
	_, err = x.WriteShipmentDocument(r.Context(), cw, id, f, dscsa.DocOptions{})
	if err != nil && cw.n > 0 {
		// The answer has started: the client sees a cut document.
		s.logger.Error("shipment document cut short", "shipment", id, "error", err)
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		w.Header().Del("Content-Type")
	}
	return err
}

func (s *Server) listPartners(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	ps, err := x.Store().Partners(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) putPartner(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	var p dscsa.Partner
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	if id := r.PathValue("id"); p.ID != id {
		return station.Errorf(station.EINVALID, "id %q in the body differs from %q in the path", p.ID, id)
	}
	created, err := x.Store().PutPartner(r.Context(), p)
	if err != nil {
		return err
	}
	stored, err := x.Store().Partner(r.Context(), p.ID)
	if err != nil {
		return err
	}
	x.Notify()
	writeJSON(w, putStatus(created), stored)
	return nil
}

func (s *Server) partnerToken(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	token, hash, err := NewToken()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := x.Store().AddPartnerToken(r.Context(), id, hash); err != nil {
		return err
	}
	s.logger.Info("partner credential issued", "partner", id)
	writeJSON(w, http.StatusCreated, map[string]string{"partner": id, "token": token})
	return nil
}

func (s *Server) listLocations(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	ls, err := x.Store().Locations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ls)
	return nil
}

func (s *Server) putLocation(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	var l dscsa.Location
	if err := s.decode(w, r, &l); err != nil {
		return err
	}
	if gln := r.PathValue("gln"); l.GLN != gln {
		return station.Errorf(station.EINVALID, "gln %q in the body differs from %q in the path", l.GLN, gln)
	}
	created, err := x.Store().PutLocation(r.Context(), l)
	if err != nil {
		return err
	}
	x.Notify()
	writeJSON(w, putStatus(created), l)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	if err := x.Sync(r.Context()); err != nil {
		return err
	}
	ds, err := x.Store().Deliveries(r.Context(), r.URL.Query().Get("shipment"), int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return station.Errorf(station.EINVALID, "delivery id %q is not a number", r.PathValue("id"))
	}
	d, err := x.RetryDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) receive(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	var req dscsa.ReceiveRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	rec, err := x.Receive(r.Context(), c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

// inbound lists the partners' documents waiting at the station's site.
func (s *Server) inbound(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	docs, err := x.InboundDocuments(r.Context(), c.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, docs)
	return nil
}

// stationReceive receives a station's scans against a document addressed
// to its site.
func (s *Server) stationReceive(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	var req uplink.InboundReceiveRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	rec, err := x.ReceiveAtStation(r.Context(), c.Name, req.Capture, req.Scans, req.Partial)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func investigationID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, station.Errorf(station.EINVALID, "investigation id %q is not a number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) openInvestigation(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	var req dscsa.OpenRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	inv, err := x.OpenInvestigation(r.Context(), c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

func (s *Server) getInvestigation(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	id, err := investigationID(r)
	if err != nil {
		return err
	}
	inv, err := x.Store().Investigation(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

func (s *Server) closeInvestigation(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	id, err := investigationID(r)
	if err != nil {
		return err
	}
	var req dscsa.CloseRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	inv, err := x.CloseInvestigation(r.Context(), c, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

func (s *Server) notification(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, c dscsa.Caller) error {
	id, err := investigationID(r)
	if err != nil {
		return err
	}
	n, err := x.Notification(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (s *Server) listVerifications(w http.ResponseWriter, r *http.Request, x *dscsa.Exchange, _ dscsa.Caller) error {
	limit, err := queryInt(r, "limit", 100, 1, 10000)
	if err != nil {
		return err
	}
	vs, err := x.Store().Verifications(r.Context(), int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}
