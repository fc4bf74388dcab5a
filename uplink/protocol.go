package uplink

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
)

// The wire protocol between stations, the ERP and the central service:
// JSON over HTTP(S) under versioned paths. The types below are the bodies;
// uplink/central serves them and localdb/centraldb stores them. Field names
// are the JSON names of the OpenAPI description served at /openapi.json.

// Paths of the station sync API (version 1). Every request but enrollment
// carries "Authorization: Bearer <token>".
const (
	PathEnroll     = "/v1/enroll"          // POST EnrollRequest -> Enrollment
	PathSyncHead   = "/v1/sync/head"       // GET -> Ack (what the central holds of the caller's journal)
	PathSyncEvents = "/v1/sync/events"     // POST Batch (gzip) -> Ack
	PathMasterData = "/v1/sync/masterdata" // GET ?after=N&limit=M -> MasterData
	PathPools      = "/v1/sync/pools"      // POST ReserveRequest -> Reservation; GET ?after=ID -> []Reservation
	PathPoolsFree  = "/v1/sync/pools/release"
	PathInbound    = "/v1/sync/inbound"  // GET -> []station.InboundDocument (partners' documents waiting at the station's site)
	PathReceipts   = "/v1/sync/receipts" // POST InboundReceiveRequest -> station.InboundReceipt
	PathSSCC       = "/v1/sync/sscc"     // POST SSCCRequest -> SSCCBlock
)

// InboundReceiveRequest is what a station scanned against a partner's
// document (the capture job of the document, the scans as scanned).
type InboundReceiveRequest struct {
	Capture string   `json:"capture"`
	Scans   []string `json:"scans"`
	Partial bool     `json:"partial,omitempty"` // a part of the shipment: more is to come
}

// Limits of the protocol, enforced by the central service.
const (
	MaxBatchEvents   = 10000     // events in one pushed batch
	MaxReserveCount  = 100000    // serials in one reservation
	DefaultBodyLimit = 32 << 20  // bytes of a request body as sent (compressed)
	DefaultJSONLimit = 256 << 20 // bytes of a request body once decompressed
)

// Batch is a run of consecutive events of one station's journal, pushed to
// the central service gzip-compressed (Content-Encoding: gzip).
type Batch struct {
	Station string          `json:"station"` // must be the authenticated station
	Events  []station.Event `json:"events"`  // consecutive seqs, oldest first
	Outbox  OutboxReport    `json:"outbox"`  // the station's backlog when it sent the batch
}

// OutboxReport is what a station tells the central about its backlog, for
// the central's lag and outbox-depth metrics.
type OutboxReport struct {
	Head    int64     `json:"head"`             // the station journal's last seq
	Waiting int64     `json:"waiting"`          // events not yet acknowledged, this batch included
	Oldest  time.Time `json:"oldest,omitzero"`  // time of the oldest waiting event
	Sent    time.Time `json:"sent,omitzero"`    // station time when the batch was sent
	Version string    `json:"version,omitzero"` // the station's linestation version
}

// Ack is the central's answer to a push, and to a head request: the highest
// seq up to which it holds the station's journal without a gap, and that
// event's hash.
type Ack struct {
	Station    string `json:"station"`
	Seq        int64  `json:"seq"`
	Hash       string `json:"hash"`
	Stored     int    `json:"stored"`     // events of the batch stored now
	Duplicates int    `json:"duplicates"` // events of the batch the central already held (same hash)
}

// Head returns the ack as a journal head (without time).
func (a Ack) Head() station.Head { return station.Head{Seq: a.Seq, Hash: a.Hash} }

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what was wrong. Code is a station error code (invalid,
// unauthorized, conflict, ...); Message is for a person and names the field,
// line or seq at fault. Held is set on a refused push: what the central
// holds of the station's journal, so the station can resend from there.
type ErrorDetail struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Seq     int64       `json:"seq,omitzero"`  // the seq at fault, for chain breaks
	Held    *Ack        `json:"held,omitzero"` // the central's head of the journal, for refused pushes
	Line    int         `json:"line,omitzero"` // the input line at fault (CSV)
	Errors  []LineError `json:"errors,omitzero"`
}

// LineError is one problem of an imported file.
type LineError struct {
	Line    int    `json:"line"`   // 1-based, the header is line 1
	Column  string `json:"column"` // the column name, "" for the whole line
	Message string `json:"message"`
}

// EnrollRequest exchanges a one-time enrollment code for a credential.
type EnrollRequest struct {
	Code string `json:"code"`
}

// Enrollment is a station's credential: the bearer token of every later
// request. The central keeps only its hash; a lost token needs a new code.
type Enrollment struct {
	Station string `json:"station"`
	Line    string `json:"line"`
	Token   string `json:"token"`
}

// Order is a packaging order as the ERP gives it and stations pull it.
type Order struct {
	ID            string             `json:"id"`
	GTIN          string             `json:"gtin"`
	Lot           string             `json:"lot"`
	Expiry        string             `json:"expiry"` // YYMMDD, day 00 = end of month
	Quantity      int64              `json:"quantity"`
	Line          string             `json:"line"`
	ExpectedYield float64            `json:"expected_yield,omitzero"`
	State         station.OrderState `json:"state,omitzero"` // planned (default) or released from the ERP
	Updated       time.Time          `json:"updated,omitzero"`
}

// Validate returns EINVALID naming the first bad field. It reuses the
// journal's own rules for order.created.
func (o *Order) Validate() error {
	if o.State == "" {
		o.State = station.OrderPlanned
	}
	oc := station.OrderCreated{Order: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: o.Quantity, Line: o.Line}
	if err := oc.Validate(); err != nil {
		return station.Errorf(station.EINVALID, "%s", strings.TrimPrefix(station.ErrorMessage(err), "order.created: "))
	}
	if o.Line == "" {
		return station.Errorf(station.EINVALID, "line is missing: an order runs on one line")
	}
	if o.ExpectedYield < 0 || o.ExpectedYield > 1 {
		return station.Errorf(station.EINVALID, "expected_yield %g must be between 0 and 1", o.ExpectedYield)
	}
	if !slices.Contains([]station.OrderState{station.OrderPlanned, station.OrderReleased, station.OrderRunning, station.OrderHeld,
		station.OrderCompleted, station.OrderClosed}, o.State) {
		return station.Errorf(station.EINVALID, "state %q is not an order state", o.State)
	}
	return nil
}

// User is a person who may sign in at stations, as the central keeps it:
// the domain's account with the hash of its PIN or password, made by the
// domain (argon2id). The central never sees a PIN or password, and answers
// the ERP without the hash; stations get it with the master data.
type User struct {
	station.User
	CredentialKind station.CredentialKind `json:"credential_kind,omitzero"`
	CredentialHash string                 `json:"credential_hash,omitzero"` // argon2id PHC string
	Updated        time.Time              `json:"updated,omitzero"`
}

// Validate returns EINVALID naming the first bad field.
func (u *User) Validate() error {
	if err := u.User.Validate(); err != nil {
		return err
	}
	if u.CredentialHash == "" && u.CredentialKind == "" {
		return nil
	}
	if u.CredentialKind != station.CredentialPIN && u.CredentialKind != station.CredentialPassword {
		return station.Errorf(station.EINVALID, "user %s: credential_kind %q is neither pin nor password", u.ID, u.CredentialKind)
	}
	if !strings.HasPrefix(u.CredentialHash, "$argon2id$") {
		return station.Errorf(station.EINVALID, "user %s: credential_hash must be an argon2id hash ($argon2id$...), never a PIN or password in clear", u.ID)
	}
	return nil
}

// Master data record kinds.
const (
	KindProduct = "product"
	KindOrder   = "order"
	KindUser    = "user"
	KindHold    = "hold" // a hold of a suspect product investigation (dscsa.Hold, read as station.CentralHold), and its release
)

// MasterRecord is one change of master data, journal-style: the central
// numbers every change, and a station pulls the changes after the last one
// it applied. Data holds the whole record: a station.Product, an Order, a
// User or a hold (station.CentralHold: placed, its reason changed, or
// released).
type MasterRecord struct {
	Seq  int64           `json:"seq"`
	Kind string          `json:"kind"` // product, order, user or hold
	Key  string          `json:"key"`  // the GTIN, order id, user id or hold id
	Data json.RawMessage `json:"data"`
}

// MasterData is a page of master-data changes for a station: every product,
// user and hold, and the orders of the station's line once released.
type MasterData struct {
	Records []MasterRecord `json:"records"`
	Next    int64          `json:"next"` // pass as after= to get the following page; equal to the request's after when nothing is new
	// Wait is how many seconds the central waited for a change, when the
	// pull asked it to (wait=SECONDS) and nothing new was there at once;
	// 0 from a central that answers at once.
	Wait int `json:"wait,omitempty"`
}

// MaxPullWait bounds how long a master-data pull may ask the central to
// wait for a change (GET /v1/sync/masterdata?wait=SECONDS).
const MaxPullWait = 25 * time.Second

// ReserveRequest asks the serial authority for serials of a GTIN. A retried
// request with the same RequestID returns the same reservation, so a lost
// answer never loses serials.
type ReserveRequest struct {
	GTIN      string `json:"gtin"`
	Count     int    `json:"count"`
	RequestID string `json:"request_id"` // chosen by the caller, unique per caller
}

// Reservation is a set of serials of a GTIN issued to one holder (a station,
// or an ERP client for range requests). A serial is issued once per GTIN, for ever.
type Reservation struct {
	ID        int64     `json:"id"`
	GTIN      string    `json:"gtin"`
	Holder    string    `json:"holder"`
	RequestID string    `json:"request_id"`
	Serials   []string  `json:"serials"`
	Created   time.Time `json:"created"`
}

// SSCCRequest asks the central for a block of SSCC serial references of a
// GS1 company prefix. A retried request with the same RequestID returns
// the same block.
type SSCCRequest struct {
	Prefix    string `json:"prefix"`
	Count     uint64 `json:"count"`      // 1 to station.MaxSSCCBlock
	RequestID string `json:"request_id"` // chosen by the caller, unique per caller
}

// SSCCBlock is a block of SSCC serial references issued to one station:
// every reference from First to Last, with any extension digit. A block is
// issued once, for ever, and never overlaps another.
type SSCCBlock struct {
	ID        int64     `json:"id"`
	Prefix    string    `json:"prefix"`
	First     uint64    `json:"first"`
	Last      uint64    `json:"last"`
	Holder    string    `json:"holder"`
	RequestID string    `json:"request_id"`
	Created   time.Time `json:"created"`
}

// Release actions for unused serials.
const (
	ReleaseReturn = "return" // given back unused: never issued again, counted as not used
	ReleaseVoid   = "void"   // must never be used (e.g. printed on a spoiled label roll)
)

// ReleaseRequest gives back unused serials of a GTIN at order close.
type ReleaseRequest struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	Action  string   `json:"action"`          // return or void
	Reason  string   `json:"reason,omitzero"` // required to void
	Order   string   `json:"order,omitzero"`
}

// ReleaseResult counts what a release changed.
type ReleaseResult struct {
	Released int `json:"released"`
}

// Counters are the unit events of an order.
type Counters struct {
	Allocated      int64            `json:"allocated"`
	Printed        int64            `json:"printed"`
	Verified       int64            `json:"verified"`
	Commissioned   int64            `json:"commissioned"`
	Rejected       int64            `json:"rejected"`
	Decommissioned int64            `json:"decommissioned"`
	Sampled        int64            `json:"sampled"`
	Voided         int64            `json:"voided"`  // allocated, never printed, never to be used
	Rejects        map[string]int64 `json:"rejects"` // by reason
}

// Reconciliation checks an order's counters as far as the central can:
// unprinted = allocated - printed - voided; in flight = printed - commissioned -
// rejected (printed packs not yet verified or rejected). Balanced means
// nothing is in flight and every reject reason adds up to the rejections.
type Reconciliation struct {
	Unprinted int64    `json:"unprinted"`
	InFlight  int64    `json:"in_flight"`
	Balanced  bool     `json:"balanced"`
	Problems  []string `json:"problems,omitzero"`
}

// StationProgress is one station's share of an order.
type StationProgress struct {
	Station  string             `json:"station"`
	State    station.OrderState `json:"state"`
	Counters Counters           `json:"counters"`
}

// OrderProgress is an order with what stations recorded for it.
type OrderProgress struct {
	Order          Order             `json:"order"`
	Stations       []StationProgress `json:"stations"`
	Totals         Counters          `json:"totals"`
	Reconciliation Reconciliation    `json:"reconciliation"`
}

// Reconcile fills in the reconciliation of p's totals.
func (p *OrderProgress) Reconcile() {
	t := p.Totals
	r := Reconciliation{Unprinted: t.Allocated - t.Printed - t.Voided, InFlight: t.Printed - t.Commissioned - t.Rejected}
	var byReason int64
	for _, n := range t.Rejects {
		byReason += n
	}
	if byReason != t.Rejected {
		r.Problems = append(r.Problems, "rejections by reason add up to "+itoa64(byReason)+", not "+itoa64(t.Rejected))
	}
	if r.InFlight < 0 {
		r.Problems = append(r.Problems, "more packs were commissioned or rejected than printed")
	}
	if r.Unprinted < 0 {
		r.Problems = append(r.Problems, "more packs were printed or voided than allocated")
	}
	if r.InFlight > 0 {
		r.Problems = append(r.Problems, itoa64(r.InFlight)+" printed packs are neither commissioned nor rejected yet")
	}
	r.Balanced = len(r.Problems) == 0
	p.Reconciliation = r
}

// HistoryEntry is one event about an item in the repository.
type HistoryEntry struct {
	Station string            `json:"station"`
	Seq     int64             `json:"seq"`
	Type    station.EventType `json:"type"`
	Time    time.Time         `json:"time"`
	User    string            `json:"user"`
	Payload json.RawMessage   `json:"payload"`
}

// ItemRecord is the repository's view of one pack, case or pallet across
// every station: its state, lot, expiry, parent, children and history.
type ItemRecord struct {
	Key      string                   `json:"key"` // (01)GTIN(21)SERIAL or (00)SSCC
	Item     station.Item             `json:"item"`
	Level    station.AggregationLevel `json:"level,omitzero"` // for SSCCs and SGTINs that hold children
	State    station.UnitState        `json:"state,omitzero"` // for SGTINs
	Station  string                   `json:"station"`        // where it was reserved or allocated
	Order    string                   `json:"order,omitzero"`
	Lot      string                   `json:"lot,omitzero"`
	Expiry   string                   `json:"expiry,omitzero"`
	Parent   string                   `json:"parent,omitzero"` // key of the parent
	Children []string                 `json:"children"`        // keys of the direct children
	History  []HistoryEntry           `json:"history"`
}

// FeedEvent is a station event in the central's events feed.
type FeedEvent struct {
	Cursor int64 `json:"cursor"` // position in the feed; pass the last one as after=
	station.Event
}

// FeedPage is a page of the events feed, in the order the central stored them.
type FeedPage struct {
	Events []FeedEvent `json:"events"`
	Next   int64       `json:"next"` // the cursor to pass as after= for the next page
}

// StationInfo is what the central knows of one station.
type StationInfo struct {
	ID        string       `json:"id"`
	Line      string       `json:"line"`
	Enrolled  time.Time    `json:"enrolled,omitzero"`
	HeadSeq   int64        `json:"head_seq"`
	HeadHash  string       `json:"head_hash"`
	HeadTime  time.Time    `json:"head_time,omitzero"` // time of the last event held
	LastSync  time.Time    `json:"last_sync,omitzero"` // when the station last pushed (central time)
	Reported  OutboxReport `json:"reported"`           // the station's last outbox report
	Conflicts int64        `json:"conflicts"`          // events the repository could not apply
	// Credential is "active" while the station holds a credential in
	// force, "revoked" when all were revoked, "none" before it enrolled.
	Credential string `json:"credential"`
}

// ImportResult counts what a CSV import changed.
type ImportResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
}

func idField(name, v string) error {
	if v == "" || len(v) > 64 {
		return station.Errorf(station.EINVALID, "%s %q must be 1 to 64 characters", name, v)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '/' {
			return station.Errorf(station.EINVALID, "%s %q may hold printable ASCII only, without spaces or '/'", name, v)
		}
	}
	return nil
}

// ValidateID checks a station, client or user id: 1 to 64 printable ASCII
// characters without spaces or '/'.
func ValidateID(field, v string) error { return idField(field, v) }

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

// Roles of credentials.
const (
	RoleStation = "station" // a station: pushes its own journal, pulls master data, reserves serials
	RoleERP     = "erp"     // an ERP or integration client: master data, orders, serial ranges, feed, repository
)

// Principal is who a credential belongs to.
type Principal struct {
	Name string `json:"name"`          // the station id or client name
	Role string `json:"role"`          // station or erp
	Line string `json:"line,omitzero"` // a station's line
}

// RefusedError is a push the central refused without storing any of it: a
// gap, a break of the hash chain, or a resent seq whose event differs from
// the one held. Held says what the central holds of the station's journal,
// so that the station can resend from there. It unwraps to an ECONFLICT
// *station.Error; the central answers it with 409 Conflict.
type RefusedError struct {
	Held Ack    // what the central holds
	Seq  int64  // the seq at fault
	Msg  string // what is wrong, for a person
}

// Error implements error.
func (e *RefusedError) Error() string { return e.Msg }

// Unwrap gives the station error.
func (e *RefusedError) Unwrap() error { return &station.Error{Code: station.ECONFLICT, Message: e.Msg} }

// ParseItem reads an item identifier as the repository takes it: an item
// key ((01)GTIN(21)SERIAL or (00)SSCC) or a bare 18-digit SSCC, and checks it.
func ParseItem(s string) (station.Item, error) {
	s = strings.TrimSpace(s)
	if len(s) == 18 && strings.Trim(s, "0123456789") == "" {
		s = "(00)" + s
	}
	it, err := station.ParseItemKey(s)
	if err != nil {
		return it, err
	}
	if err := it.Validate(); err != nil {
		return it, err
	}
	return it, nil
}
