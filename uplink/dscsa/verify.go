package dscsa

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// Verification failure reasons and additional information of the GS1
// Lightweight Messaging Standard for Verification of Product Identifiers.
const (
	NoMatchGTINSerial          = "No_match_GTIN_Serial"
	NoMatchGTINSerialLot       = "No_match_GTIN_Serial_Lot"
	NoMatchGTINSerialExpiry    = "No_match_GTIN_Serial_Expiry"
	NoMatchGTINSerialLotExpiry = "No_match_GTIN_Serial_Lot_Expiry"
	ManufacturerPolicy         = "Manufacturer_policy"
	NoReasonProvided           = "No_reason_provided"
	NotForRedistribution       = "Not_for_re-distribution"

	InfoExpired            = "Expired"
	InfoExpirationExtended = "ExpirationExtended"
	InfoRecalled           = "Recalled"
	InfoSuspect            = "Suspect"
	InfoIllegitimate       = "Illegitimate"
)

// VerificationRequest is a verification request: the product identifier
// (GTIN, serial, lot, expiry YYMMDD), who asks (requester GLN), the
// correlation UUID the answer echoes, and the context (e.g.
// dscsaSaleableReturn).
type VerificationRequest struct {
	GTIN         string `json:"gtin"`
	Serial       string `json:"serial"`
	Lot          string `json:"lot"`
	Expiry       string `json:"expiry"`
	RequesterGLN string `json:"reqGLN"`
	CorrUUID     string `json:"corrUUID"`
	Context      string `json:"context"`
}

// VerificationResponse is the responder's answer.
type VerificationResponse struct {
	VerificationTimestamp string           `json:"verificationTimestamp"`
	ResponderGLN          string           `json:"responderGLN"`
	CorrUUID              string           `json:"corrUUID"`
	Data                  VerificationData `json:"data"`
}

// VerificationData is the verdict.
type VerificationData struct {
	Verified                  bool   `json:"verified"`
	VerificationFailureReason string `json:"verificationFailureReason,omitempty"`
	AdditionalInfo            string `json:"additionalInfo,omitempty"`
}

// VerificationRecord is a kept request and its answer.
type VerificationRecord struct {
	ID        int64               `json:"id"`
	At        time.Time           `json:"at"`
	Requester string              `json:"requester"` // the caller (partner:ID or erp:NAME)
	Request   VerificationRequest `json:"request"`
	Status    int                 `json:"status"` // HTTP status of the answer
	Response  json.RawMessage     `json:"response"`
}

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	contextRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
)

// ParseVerificationRequest reads a request in the standard's GS1 Digital
// Link form: path elements gtin, lot and serial, and the query parameters
// 17 (expiry, YYMMDD), linkType (verificationService), context, reqGLN and
// corrUUID. The error names the parameter.
func ParseVerificationRequest(gtin, lot, serial string, q url.Values) (VerificationRequest, error) {
	r := VerificationRequest{GTIN: gtin, Lot: lot, Serial: serial, Expiry: q.Get("17"), RequesterGLN: q.Get("reqGLN"),
		CorrUUID: q.Get("corrUUID"), Context: q.Get("context")}
	bad := func(format string, args ...any) (VerificationRequest, error) {
		return r, station.Errorf(station.EINVALID, format, args...)
	}
	if err := gs1.ValidateCheckDigit(r.GTIN); err != nil || len(r.GTIN) != 14 {
		return bad("GTIN (01) %q must be 14 digits with a valid check digit", r.GTIN)
	}
	if err := (station.Item{GTIN: r.GTIN, Serial: r.Serial}).Validate(); err != nil {
		return bad("serial (21) %q must be 1 to 20 GS1 characters", r.Serial)
	}
	if err := (station.Item{GTIN: r.GTIN, Serial: r.Lot}).Validate(); err != nil {
		return bad("lot (10) %q must be 1 to 20 GS1 characters", r.Lot)
	}
	if _, err := gs1.ExpiryDate(r.Expiry, time.Now()); err != nil {
		return bad("expiry (17) %q must be a YYMMDD date", r.Expiry)
	}
	if lt := q.Get("linkType"); lt != "" && lt != "verificationService" && lt != "gs1:verificationService" && lt != "https://gs1.org/voc/verificationService" {
		return bad("linkType %q: this is the verificationService", lt)
	}
	if err := gs1.ValidateGLN(r.RequesterGLN); err != nil {
		return bad("reqGLN %q must be the requester's 13-digit GLN", r.RequesterGLN)
	}
	if !uuidRE.MatchString(r.CorrUUID) {
		return bad("corrUUID %q must be a UUID", r.CorrUUID)
	}
	if !contextRE.MatchString(r.Context) {
		return bad("context %q must name the request's context, e.g. dscsaSaleableReturn", r.Context)
	}
	for k := range q {
		switch k {
		case "17", "linkType", "context", "reqGLN", "corrUUID":
		default:
			return bad("query parameter %s is not part of a verification request", k)
		}
	}
	return r, nil
}

// Verify answers a verification request and keeps the request and the
// answer before answering. The caller must be a partner allowed to
// verify, asking for itself (reqGLN is its GLN), or one of our clients:
// otherwise a *ForbiddenError (403). A GTIN that is not one of our
// products is ENOTFOUND (404: not served here). The decision:
//
//	serial never issued or never commissioned   false  No_match_GTIN_Serial
//	lot and/or expiry differ                    false  No_match_GTIN_Serial_Lot / _Expiry / _Lot_Expiry
//	held as illegitimate                        false  No_reason_provided        Illegitimate
//	decommissioned (destroyed, stolen, damaged) false  No_reason_provided        Suspect
//	decommissioned as expired                   false  No_reason_provided        Expired
//	taken as a sample                           false  Not_for_re-distribution
//	held as suspect                             true                             Suspect
//	recalled (decommissioned or lot held)       true                             Recalled
//	past its expiry date                        true                             Expired
//	otherwise                                   true
func (x *Exchange) Verify(ctx context.Context, c Caller, req VerificationRequest) (VerificationResponse, error) {
	var resp VerificationResponse
	status := 403
	err := c.require(PermVerify, "ask the verification responder")
	if err == nil && c.Partner != nil && req.RequesterGLN != c.Partner.GLN {
		err = Forbidden("reqGLN %s is not the GLN of partner %s (%s): a partner asks for itself", req.RequesterGLN, c.Partner.ID, c.Partner.GLN)
	}
	if err == nil {
		resp, status, err = x.decide(ctx, req)
	}
	rec := &VerificationRecord{At: x.now().UTC(), Requester: c.String(), Request: req, Status: status}
	if err != nil {
		rec.Response, _ = json.Marshal(map[string]string{"error": station.ErrorMessage(err)})
	} else {
		rec.Response, _ = json.Marshal(resp)
	}
	if lerr := x.store.LogVerification(ctx, rec); lerr != nil {
		return VerificationResponse{}, lerr
	}
	return resp, err
}

// decide computes the answer and its HTTP status.
func (x *Exchange) decide(ctx context.Context, req VerificationRequest) (VerificationResponse, int, error) {
	if x.cfg.GLN == "" {
		return VerificationResponse{}, 503, station.Errorf(station.EUNAVAILABLE, "the verification responder is not configured: our company GLN is not set")
	}
	resp := VerificationResponse{VerificationTimestamp: x.now().UTC().Format("2006-01-02T15:04:05.000Z"), ResponderGLN: x.cfg.GLN, CorrUUID: req.CorrUUID}
	_, ok, err := x.knownGTIN(ctx, req.GTIN)
	if err != nil {
		return resp, 500, err
	}
	if !ok {
		return resp, 404, station.Errorf(station.ENOTFOUND, "GTIN %s is not a product of ours: it is not served here", req.GTIN)
	}
	info, err := x.store.SerialInfo(ctx, req.GTIN, req.Serial)
	if err != nil {
		return resp, 500, err
	}
	d := &resp.Data
	fail := func(reason, extra string) (VerificationResponse, int, error) {
		d.Verified, d.VerificationFailureReason, d.AdditionalInfo = false, reason, extra
		return resp, 200, nil
	}
	switch info.State {
	case station.UnitStateCommissioned, station.UnitStateDecommissioned, station.UnitStateSampled:
	default:
		return fail(NoMatchGTINSerial, "")
	}
	if !info.Known {
		return fail(NoMatchGTINSerial, "")
	}
	lotOK, expOK := info.Lot == req.Lot, sameExpiry(info.Expiry, req.Expiry)
	switch {
	case !lotOK && !expOK:
		return fail(NoMatchGTINSerialLotExpiry, "")
	case !lotOK:
		return fail(NoMatchGTINSerialLot, "")
	case !expOK:
		return fail(NoMatchGTINSerialExpiry, "")
	}
	reasons := map[string]bool{}
	for _, h := range info.Holds {
		reasons[h.Reason] = true
	}
	if reasons[HoldIllegitimate] {
		return fail(NoReasonProvided, InfoIllegitimate)
	}
	switch info.State {
	case station.UnitStateSampled:
		return fail(NotForRedistribution, "")
	case station.UnitStateDecommissioned:
		switch station.DecommissionReason(info.Reason) {
		case station.DecommissionRecalled:
			d.Verified, d.AdditionalInfo = true, InfoRecalled
			return resp, 200, nil
		case station.DecommissionExpired:
			return fail(NoReasonProvided, InfoExpired)
		}
		return fail(NoReasonProvided, InfoSuspect)
	}
	d.Verified = true
	switch {
	case reasons[HoldSuspect]:
		d.AdditionalInfo = InfoSuspect
	case reasons[HoldRecalled]:
		d.AdditionalInfo = InfoRecalled
	default:
		if exp, err := gs1.ExpiryDate(info.Expiry, x.now()); err == nil && x.now().UTC().After(exp.Add(24*time.Hour)) {
			d.AdditionalInfo = InfoExpired
		}
	}
	return resp, 200, nil
}

// sameExpiry compares YYMMDD dates, where day 00 means the month's last day.
func sameExpiry(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := gs1.ExpiryDate(a, time.Now())
	tb, err2 := gs1.ExpiryDate(b, time.Now())
	return err1 == nil && err2 == nil && ta.Equal(tb)
}
