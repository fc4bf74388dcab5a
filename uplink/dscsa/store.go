package dscsa

import (
	"context"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

// Store is what the exchange keeps and reads. Implemented by
// *centraldb.DB, next to the central's repository of station journals.
// Methods return station errors: EINVALID naming the field, ENOTFOUND,
// ECONFLICT, EUNAUTHORIZED for unknown credentials.
type Store interface {
	// Products returns every product (the central's master data).
	Products(ctx context.Context) ([]station.Product, error)

	// PutLocation creates or replaces a location's master data.
	PutLocation(ctx context.Context, l Location) (created bool, err error)
	// Locations returns every location.
	Locations(ctx context.Context) ([]Location, error)
	// PutPartner creates or replaces a partner.
	PutPartner(ctx context.Context, p Partner) (created bool, err error)
	// Partner returns a partner by id; PartnerByGLN by its GLN.
	Partner(ctx context.Context, id string) (Partner, error)
	PartnerByGLN(ctx context.Context, gln string) (Partner, error)
	// Partners returns every partner.
	Partners(ctx context.Context) ([]Partner, error)
	// AddPartnerToken records a credential (its hash) of a partner.
	AddPartnerToken(ctx context.Context, partner, tokenHash string) error
	// PartnerByToken returns who holds a credential hash; EUNAUTHORIZED when nobody.
	PartnerByToken(ctx context.Context, tokenHash string) (Partner, error)

	// JournalCursor returns the feed position the exchange has followed
	// the station journals to.
	JournalCursor(ctx context.Context) (int64, error)
	// JournalWindow returns the stored station events of the given types
	// with feed in (after, after+window], and the feed the window ends at
	// (at most the last feed stored; after when there is nothing new).
	JournalWindow(ctx context.Context, after, window int64, types []station.EventType) ([]uplink.FeedEvent, int64, error)
	// ApplyJournal applies what the exchange learned from the journals up
	// to feed to, and moves the cursor from from to to, atomically;
	// ECONFLICT when the cursor is not at from.
	ApplyJournal(ctx context.Context, from, to int64, ch *JournalChanges) error

	// Shipment returns what is known of a shipment.
	Shipment(ctx context.Context, id string) (ShipmentRecord, error)
	// OpenShipment returns a consistent snapshot of a shipment and
	// everything in it, for building its document. Close it.
	OpenShipment(ctx context.Context, id string) (ShipmentSnapshot, error)

	// DueDeliveries returns deliveries to attempt at now (pending or held,
	// next attempt due), oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// UpdateDelivery records a delivery's progress.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// Deliveries lists deliveries, newest first, optionally of one shipment.
	Deliveries(ctx context.Context, shipment string, limit int) ([]Delivery, error)
	// Delivery returns one delivery.
	Delivery(ctx context.Context, id int64) (Delivery, error)

	// RecordEvents stores EPCIS events (deduplicated on their hash) and
	// makes their EPCs visible to a partner ("" for none).
	RecordEvents(ctx context.Context, evs []StoredEvent, visibleTo string) (stored int, err error)
	// QueryEvents returns up to q.Limit events matching q after its
	// position, in its order (OrderBy, else id order).
	QueryEvents(ctx context.Context, q *Query) ([]StoredEvent, error)
	// CountEvents counts the events matching q's filters, up to max.
	CountEvents(ctx context.Context, q *Query, max int) (int, error)
	// EventsAbout returns every event that names one of the EPCs in any
	// role, in event time order.
	EventsAbout(ctx context.Context, epcs []string) ([]StoredEvent, error)
	// VisibleTo reports which of the EPCs a partner may see.
	VisibleTo(ctx context.Context, partner string, epcs []string) (map[string]bool, error)
	// OriginEvents streams the events of one origin (a capture job, a
	// delivery), in id order.
	OriginEvents(ctx context.Context, source, origin string, fn func(*StoredEvent) error) error

	// CreateCaptureJob records a new capture job; UpdateCaptureJob its progress.
	CreateCaptureJob(ctx context.Context, j *CaptureJob) error
	UpdateCaptureJob(ctx context.Context, j *CaptureJob) error
	// CaptureJob returns a job; CaptureJobs lists a partner's ("" all), newest first.
	CaptureJob(ctx context.Context, id string) (CaptureJob, error)
	CaptureJobs(ctx context.Context, partner string, limit int) ([]CaptureJob, error)
	// CaptureEvents stores the events next yields (until it returns nil)
	// in one transaction: every event or, when next or a write fails, none.
	CaptureEvents(ctx context.Context, next func() (*StoredEvent, error), visibleTo string) (stored, duplicates int, err error)

	// RecordReceipt stores a receipt against a captured document, with its
	// receiving events and exception report. With prior 0 or more,
	// ECONFLICT unless the document has exactly prior receipts, all
	// partial (checked in the same transaction); -1 checks nothing.
	RecordReceipt(ctx context.Context, r *Receipt, evs []StoredEvent, prior int) error
	// Receipts returns the receipts against a capture job, oldest first.
	Receipts(ctx context.Context, capture string) ([]Receipt, error)
	// UnreceivedCaptureJobs returns the finished, successful capture jobs
	// with events not received in full (partial receipts only, or none),
	// newest first.
	UnreceivedCaptureJobs(ctx context.Context, limit int) ([]CaptureJob, error)

	// OpenInvestigation records an investigation and places its holds.
	OpenInvestigation(ctx context.Context, inv *Investigation) error
	// CloseInvestigation records the outcome: cleared releases its holds,
	// illegitimate keeps them as illegitimate.
	CloseInvestigation(ctx context.Context, id int64, outcome, by, note string, at time.Time) (Investigation, error)
	// Investigation returns one investigation with its holds.
	Investigation(ctx context.Context, id int64) (Investigation, error)
	// ActiveHolds returns the holds in force on any of the items or lots.
	ActiveHolds(ctx context.Context, items []string, lots []LotKey) ([]Hold, error)

	// SerialInfo returns what the repository knows of a serialized item
	// for verification: state, lot and expiry, ancestors, holds.
	SerialInfo(ctx context.Context, gtin, serial string) (SerialInfo, error)
	// LogVerification keeps a verification request and its answer.
	LogVerification(ctx context.Context, v *VerificationRecord) error
	// Verifications lists the kept requests, newest first.
	Verifications(ctx context.Context, limit int) ([]VerificationRecord, error)
}

// JournalChanges is what a window of station journals changes here.
type JournalChanges struct {
	// Shipments are shipment changes, in feed order.
	Shipments []ShipmentChange
	// Events are EPCIS events derived from the journals (receipts,
	// returns, decommissioning).
	Events []StoredEvent
}

// Kinds of ShipmentChange.
const (
	ShipmentCreated  = "created"
	ShipmentPicked   = "picked"
	ShipmentUnpicked = "unpicked"
	ShipmentPacked   = "packed"
	ShipmentShipped  = "shipped"
)

// ShipmentChange is one shipment event of a station journal.
type ShipmentChange struct {
	Kind     string
	Feed     int64
	Station  string
	Time     time.Time
	ID       string
	Shipment station.Shipment // for ShipmentCreated
	Items    []station.Item   // for ShipmentPicked and ShipmentUnpicked
	// DocumentID is the document id (SBDH instance identifier) the
	// shipment's delivery gets, for ShipmentShipped.
	DocumentID string
}

// Shipment statuses here, beyond station.ShipmentStatus: a shipment
// created at another station under an id already taken.
const ShipmentDuplicate = "duplicate"

// ShipmentRecord is the central's record of a shipment.
type ShipmentRecord struct {
	Shipment  station.Shipment `json:"shipment"`
	Station   string           `json:"station"`
	Status    string           `json:"status"`
	Items     []station.Item   `json:"items"`
	CreatedAt time.Time        `json:"created_at"`
	ShippedAt time.Time        `json:"shipped_at,omitzero"`
}

// ShipmentSnapshot reads one shipment and everything in it, consistently.
type ShipmentSnapshot interface {
	// Record is the shipment.
	Record() ShipmentRecord
	// Contents summarises the items in the shipment's trees.
	Contents(ctx context.Context) (ShipmentContents, error)
	// Commissioned streams every item in the shipment's trees in groups
	// commissioned together: SGTINs of one GTIN, lot, expiry and station,
	// in commissioning order, at most max per group; then SSCCs by
	// station, in allocation order.
	Commissioned(ctx context.Context, max int, fn func(*CommissionGroup) error) error
	// Packing streams every parent in the trees with its children, lower
	// parents (further from the shipped items) first.
	Packing(ctx context.Context, fn func(*PackGroup) error) error
	// Holds returns the holds in force on any item in the trees or on the
	// lot of any of them.
	Holds(ctx context.Context) ([]Hold, error)
	// Close ends the snapshot.
	Close() error
}

// ShipmentContents summarises a shipment's trees.
type ShipmentContents struct {
	Items    int      // every pack, case and pallet
	GTINs    []string // distinct GTINs of SGTIN items
	Stations []string // stations that commissioned or packed them
	// Unknown lists items the repository has no commissioning record of
	// (at most 10).
	Unknown []string
}

// CommissionGroup is items of a shipment commissioned together: SGTINs of
// one lot and expiry (their ILMD), or SSCCs (allocated), at one station;
// Time is the latest commissioning among them.
type CommissionGroup struct {
	Items   []station.Item
	Lot     string // "" for SSCCs
	Expiry  string // YYMMDD; "" for SSCCs
	Time    time.Time
	Station string
}

// PackGroup is a parent and its children, with when (the last child
// packed) and where.
type PackGroup struct {
	Parent   station.Item
	Children []station.Item
	Time     time.Time
	Station  string
}

// LotKey names a lot of a product.
type LotKey struct {
	GTIN string `json:"gtin"`
	Lot  string `json:"lot"`
}

// SerialInfo is the repository's knowledge of one SGTIN for verification.
type SerialInfo struct {
	Known   bool              // the serial was issued here
	State   station.UnitState // its state
	Reason  string            // decommission reason, when decommissioned
	Lot     string
	Expiry  string   // YYMMDD
	Parents []string // item keys of its parent, grandparent, ...
	Holds   []Hold   // holds in force on it, an ancestor or its lot
	Shipped bool     // it (or an ancestor) was shipped to a partner
}
