package station

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// GenesisHash is the PrevHash of a station's first event (seq 1): 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// TimeFormat is the canonical text form of an event's time, used in the
// hash and in the journal: UTC, always nine fraction digits, so that text
// order is time order and a time has exactly one spelling.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// SystemUser is the user of events the system writes by itself (for
// example clock.stepped), as opposed to an operator's action.
const SystemUser = "system"

// Event is one record of a station's append-only journal. Every state change
// of the station is an event; the projections (serial state, aggregation,
// pools, orders) are derived from the journal alone.
type Event struct {
	Seq         int64           `json:"seq"`             // per station, from 1, without gaps
	ID          string          `json:"id"`              // globally unique (UUID v7, see NewEventID)
	Station     string          `json:"station"`         // the station that wrote it
	Type        EventType       `json:"type"`            // what happened (see events.go)
	Payload     json.RawMessage `json:"payload"`         // canonical JSON of the type's payload struct
	Time        time.Time       `json:"time"`            // UTC from the station clock
	ClockOffset time.Duration   `json:"clock_offset_ns"` // NTP correction applied to the system clock, nanoseconds
	ClockState  ClockState      `json:"clock_state"`     // how far Time could be trusted
	User        string          `json:"user"`            // who did it (SystemUser for the system)
	PrevHash    string          `json:"prev_hash"`       // Hash of seq-1, GenesisHash for seq 1
	Hash        string          `json:"hash"`            // see ComputeHash
}

// ComputeHash returns the hex SHA-256 of the event's canonical encoding:
// the ASCII tag "linestation.event.v1\n" followed by these fields, in this
// order, each written as its length in bytes (decimal), ':', the bytes and
// '\n': Station, Seq (decimal), ID, Type, Payload (the exact stored bytes),
// Time (TimeFormat), ClockOffset (decimal nanoseconds), ClockState, User,
// PrevHash. The stored Hash is not part of the input. Length prefixes make
// the encoding unambiguous whatever bytes a field holds.
func (e *Event) ComputeHash() string {
	// Built in one buffer on the stack for a typical event: the writer
	// hashes every event it appends.
	var stack [512]byte
	buf := append(stack[:0], hashTag...)
	var num [32]byte
	buf = appendField(buf, e.Station)
	buf = appendField(buf, strconv.AppendInt(num[:0], e.Seq, 10))
	buf = appendField(buf, e.ID)
	buf = appendField(buf, e.Type)
	buf = appendField(buf, e.Payload)
	buf = appendField(buf, appendTime(num[:0], e.Time))
	buf = appendField(buf, strconv.AppendInt(num[:0], int64(e.ClockOffset), 10))
	buf = appendField(buf, e.ClockState)
	buf = appendField(buf, e.User)
	buf = appendField(buf, e.PrevHash)
	sum := sha256.Sum256(buf)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// hashTag starts the input of ComputeHash.
const hashTag = "linestation.event.v1\n"

// appendField appends one field of ComputeHash's input: its length in bytes
// (decimal), ':', the bytes and '\n'.
func appendField[S ~string | ~[]byte](buf []byte, s S) []byte {
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, ':')
	buf = append(buf, s...)
	return append(buf, '\n')
}

// FormatTime returns t in TimeFormat (converted to UTC).
func FormatTime(t time.Time) string {
	var b [len(TimeFormat)]byte
	return string(appendTime(b[:0], t))
}

// appendTime appends t in TimeFormat (converted to UTC). It writes the
// digits itself for years 0 to 9999, where that gives what
// t.UTC().AppendFormat(b, TimeFormat) gives, and leaves other years to it.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends v (0 <= v < 10^width) as width decimal digits.
func appendDigits(b []byte, v, width int) []byte {
	for range width {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-width; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// ParseTime parses a time in TimeFormat and refuses any other spelling of it,
// so that a parsed time formats back to the same bytes.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("event time %q is not in canonical form %s: %w", s, TimeFormat, err)
	}
	if FormatTime(t) != s {
		return time.Time{}, fmt.Errorf("event time %q is not in canonical form %s", s, TimeFormat)
	}
	return t.UTC(), nil
}

// NewEventID returns a UUID version 7 (RFC 9562) for an event at t: t's
// Unix milliseconds in the first 48 bits, then 74 random bits from
// crypto/rand. Ids are unique whatever the clock does, and nearly ordered
// by time, so the journal's id index grows at its end instead of touching
// a random page per event (about five times faster appends at 100,000 rows).
func NewEventID(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand crashes the program instead)
	ms := uint64(t.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// NewEvent is what the domain asks the ledger to record. The ledger adds the
// sequence, id, station, time, clock state and hashes.
type NewEvent struct {
	// Type of the event; may be left empty when Payload is a catalogue
	// payload struct, whose EventType is then used.
	Type EventType
	// Payload is a catalogue payload struct (value or pointer) or raw JSON
	// (json.RawMessage or []byte) of the type's payload struct. It is
	// validated and stored in canonical form (compact, fields in struct order).
	Payload any
	// User is the id of the person responsible, or SystemUser.
	User string
}

// Head is the last event of a journal: the point the next event chains to.
// The zero Head (Seq 0) stands for an empty journal; its hash is GenesisHash.
type Head struct {
	Seq  int64
	Hash string
	Time time.Time // zero for an empty journal
}

// Ledger is the station's journal and the projections derived from it, as
// the domain uses them. Implemented by localdb.DB.
type Ledger interface {
	// Append records evs atomically (all or none), stamped with one reading
	// of the station clock, and returns them as recorded once they are
	// durable. Returns EINVALID for a bad type, payload or user, ECONFLICT
	// when an event clashes with recorded state (a serial issued twice, a
	// child already in a parent, an order in another state than expected),
	// ENOTFOUND when an event names a serial, parent or order that does not
	// exist, and EUNAVAILABLE once the ledger is closed.
	Append(ctx context.Context, evs ...NewEvent) ([]Event, error)
	// Events returns up to limit events with Seq >= fromSeq, in seq order.
	Events(ctx context.Context, fromSeq int64, limit int) ([]Event, error)
	// Head returns the last recorded event's seq, hash and time.
	Head(ctx context.Context) (Head, error)

	// Serial returns the state of one serial of a GTIN; ENOTFOUND when the
	// station never received it.
	Serial(ctx context.Context, gtin, serial string) (SerialState, error)
	// AvailableSerials returns up to limit serials of gtin that are reserved
	// for this station and not yet allocated, oldest reservation first.
	AvailableSerials(ctx context.Context, gtin string, limit int) ([]string, error)
	// Pool returns the pool level of a GTIN; ENOTFOUND when no serial of it
	// was ever reserved here.
	Pool(ctx context.Context, gtin string) (PoolLevel, error)
	// Children returns the items packed directly in parent, in packing order.
	Children(ctx context.Context, parent Item) ([]Link, error)
	// Parent returns the link of child to its parent; ENOTFOUND when the
	// child is in no parent.
	Parent(ctx context.Context, child Item) (Link, error)
	// Tree returns every link below root (children, their children, ...),
	// parents before their children.
	Tree(ctx context.Context, root Item) ([]Link, error)
	// SSCC returns a container code's record; ENOTFOUND when never allocated.
	SSCC(ctx context.Context, sscc string) (SSCCState, error)
	// Order returns a packaging order with its counters; ENOTFOUND when unknown.
	Order(ctx context.Context, id string) (OrderStatus, error)

	// Orders returns the orders in any of states (every order when none
	// is given), by id.
	Orders(ctx context.Context, states ...OrderState) ([]OrderStatus, error)
	// OrderUnits counts the order's serials of its GTIN by state and where
	// the commissioned ones are; ENOTFOUND for an unknown order.
	OrderUnits(ctx context.Context, order string) (OrderUnits, error)
	// OrderSerials returns up to limit serials of the order's GTIN that are
	// allocated to it and in state, oldest first.
	OrderSerials(ctx context.Context, order string, state UnitState, limit int) ([]string, error)
	// MaxSSCC returns the largest SSCC allocated at this station between
	// from and to (18-digit strings, inclusive), or "" when there is none.
	MaxSSCC(ctx context.Context, from, to string) (string, error)
	// SSCCRanges returns the blocks of SSCC serial references of a company
	// prefix that this station received (SSCCRangeReceived), by First.
	SSCCRanges(ctx context.Context, prefix string) ([]SSCCRange, error)

	// Product returns the product whose unit GTIN or packaging-level GTIN
	// is gtin (its latest definition); ENOTFOUND when none.
	Product(ctx context.Context, gtin string) (Product, error)
	// Products returns every product, by unit GTIN.
	Products(ctx context.Context) ([]Product, error)
	// User returns an account with its credential and sign-in state;
	// ENOTFOUND when unknown.
	User(ctx context.Context, id string) (UserRecord, error)
	// UserByBadge returns the account with that badge id; ENOTFOUND when none.
	UserByBadge(ctx context.Context, badge string) (UserRecord, error)
	// Users returns every account, by id.
	Users(ctx context.Context) ([]UserRecord, error)

	// Container returns a bundle, case or pallet opened at this station;
	// ENOTFOUND when none was opened with that identity.
	Container(ctx context.Context, parent Item) (ContainerState, error)
	// Containers returns the containers opened for an order, in opening order.
	Containers(ctx context.Context, order string) ([]ContainerState, error)
	// Shipment returns a shipment with its items; ENOTFOUND when unknown.
	Shipment(ctx context.Context, id string) (ShipmentState, error)
	// Stock returns the warehouse record of an item; an item never moved
	// has none and gets StockState{Item: item, Status: StockInStock}.
	Stock(ctx context.Context, item Item) (StockState, error)
	// StockBelow returns the warehouse records of root's descendants in the
	// aggregation tree that have one (not those in stock by default).
	StockBelow(ctx context.Context, root Item) ([]StockState, error)
	// CentralHold returns a central hold in force (StockHeld, not yet
	// released); ENOTFOUND when none is.
	CentralHold(ctx context.Context, id int64) (CentralHold, error)
	// CentralHolds returns every central hold in force, by id.
	CentralHolds(ctx context.Context) ([]CentralHold, error)
	// HoldsOn returns the central holds in force on root or on anything
	// packed in it: on the item itself, or on the lot of a pack.
	HoldsOn(ctx context.Context, root Item) ([]ItemHold, error)
}

// SerialState is the projection of one serial number's life at this station.
type SerialState struct {
	GTIN   string
	Serial string
	State  UnitState
	Order  string // the order it was allocated to; empty while in the pool
	Reason string // reason of the last rejection or decommissioning
	Seq    int64  // seq of the event that last changed it
}

// PoolLevel counts a GTIN's serials at this station by what became of them.
type PoolLevel struct {
	GTIN      string
	Reserved  int64 // ever reserved for this station
	Available int64 // reserved and not yet allocated, returned or voided
	Allocated int64 // allocated to an order
	Returned  int64 // given back to the central service unused
	Voided    int64 // never to be used
}

// Link is one parent-child relation of the aggregation tree.
type Link struct {
	Parent Item
	Child  Item
	Level  AggregationLevel // the parent's packaging level
	Seq    int64            // seq of the event that packed the child
}

// SSCCState is the projection of one container code (case or pallet).
type SSCCState struct {
	SSCC  string
	Level AggregationLevel
	Order string
	Seq   int64
}

// OrderStatus is the projection of a packaging order: its state and the
// count of each unit event recorded for it.
type OrderStatus struct {
	Order          string
	GTIN           string
	Lot            string
	Expiry         string // YYMMDD as on the label (day 00 = end of month)
	Quantity       int64
	State          OrderState
	Allocated      int64
	Printed        int64
	Verified       int64
	Commissioned   int64
	Rejected       int64
	Decommissioned int64
	Sampled        int64
	Rejects        map[RejectReason]int64 // rejections by reason
	Seq            int64                  // seq of the event that last changed the order

	Line          string  // the line it runs on ("" when not given)
	ExpectedYield float64 // share of printed packs expected to be commissioned; 0 when not given
	MinGrade      string  // minimum grade letter of the order; "" for the product's
	Voided        int64   // allocated serials voided unprinted (unit.voided)
}

// ChainBreak is where and how a journal fails verification.
type ChainBreak struct {
	Seq    int64  // the first seq that is wrong (or missing)
	Reason string // what is wrong there
}

// Error implements error.
func (b *ChainBreak) Error() string {
	return fmt.Sprintf("seq %d: %s", b.Seq, b.Reason)
}

// ChainChecker verifies a journal one event at a time, in seq order: seq
// continuity, the hash of each event's contents, the link to the previous
// hash, one station throughout, and time that never goes backwards unless
// the event is the clock.stepped record of that very step. The zero value
// checks from the genesis; set Prev to check a suffix after a known head.
type ChainChecker struct {
	Prev    Head   // the last good event (zero: none yet)
	Station string // the journal's station; set by the first event when empty
}

// Check verifies ev as the successor of Prev and advances Prev. It returns a
// *ChainBreak naming ev's seq (or the missing seq) when something is wrong.
func (c *ChainChecker) Check(ev *Event) error {
	want := c.Prev.Seq + 1
	prevHash := c.Prev.Hash
	if c.Prev.Seq == 0 && prevHash == "" {
		prevHash = GenesisHash
	}
	switch {
	case ev.Seq > want && c.Prev.Seq == 0:
		return &ChainBreak{Seq: want, Reason: fmt.Sprintf("missing: the journal starts at seq %d", ev.Seq)}
	case ev.Seq > want:
		return &ChainBreak{Seq: want, Reason: fmt.Sprintf("missing: seq %d is followed by seq %d", c.Prev.Seq, ev.Seq)}
	case ev.Seq < want:
		return &ChainBreak{Seq: ev.Seq, Reason: fmt.Sprintf("out of order: found after seq %d", c.Prev.Seq)}
	}
	if got := ev.ComputeHash(); got != ev.Hash {
		return &ChainBreak{Seq: ev.Seq, Reason: fmt.Sprintf("contents do not match the stored hash (stored %s, computed %s): a field or the hash was changed", short(ev.Hash), short(got))}
	}
	if ev.PrevHash != prevHash {
		return &ChainBreak{Seq: ev.Seq, Reason: fmt.Sprintf("prev_hash %s does not match the hash of seq %d (%s): a row was replaced, moved or re-hashed", short(ev.PrevHash), c.Prev.Seq, short(prevHash))}
	}
	if c.Station == "" {
		c.Station = ev.Station
	} else if ev.Station != c.Station {
		return &ChainBreak{Seq: ev.Seq, Reason: fmt.Sprintf("station %q differs from the journal's station %q", ev.Station, c.Station)}
	}
	if ev.Time.Before(c.Prev.Time) {
		if err := checkStep(ev, c.Prev.Time); err != nil {
			return &ChainBreak{Seq: ev.Seq, Reason: err.Error()}
		}
	}
	c.Prev = Head{Seq: ev.Seq, Hash: ev.Hash, Time: ev.Time}
	return nil
}

// checkStep accepts time going backwards only in the clock.stepped event
// that records exactly this step.
func checkStep(ev *Event, prev time.Time) error {
	back := fmt.Errorf("time goes backwards (%s after %s) without a %s record", FormatTime(ev.Time), FormatTime(prev), EventClockStepped)
	if ev.Type != EventClockStepped {
		return back
	}
	p, err := DecodePayload(ev.Type, ev.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", back, err)
	}
	step := p.(*ClockStepped)
	if !step.From.Equal(prev) || !step.To.Equal(ev.Time) {
		return fmt.Errorf("%s records a step from %s to %s, but the journal steps from %s to %s", EventClockStepped,
			FormatTime(step.From), FormatTime(step.To), FormatTime(prev), FormatTime(ev.Time))
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
