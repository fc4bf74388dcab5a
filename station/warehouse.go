package station

import (
	"context"
	"fmt"
	"slices"

	"github.com/linestation/linestation/station/gs1"
)

// StockStatus is where a pack or container is in the warehouse.
type StockStatus string

// Stock statuses. An item never moved is in stock.
const (
	StockInStock      StockStatus = "in_stock"    // in the warehouse, free to pack, pick or move
	StockPicked       StockStatus = "picked"      // picked into a shipment not yet shipped
	StockShipped      StockStatus = "shipped"     // gone to a trading partner
	StockInQuarantine StockStatus = "quarantined" // held for QA: cannot be packed, picked or shipped
)

// StockState is the warehouse record of an item (the item that was moved:
// a pallet's units have none of their own while the pallet moves).
type StockState struct {
	Item     Item
	Status   StockStatus
	Shipment string // the shipment it is picked into or shipped with
	Reason   string // why it is quarantined, or where it came back from
	Seq      int64
}

// Describe says the status in words, e.g. "quarantined (suspect)".
func (s StockState) Describe() string {
	switch {
	case s.Status == StockPicked || s.Status == StockShipped:
		return fmt.Sprintf("%s (shipment %s)", s.Status, s.Shipment)
	case s.Reason != "":
		return fmt.Sprintf("%s (%s)", s.Status, s.Reason)
	}
	return string(s.Status)
}

// ShipmentStatus is where a shipment is.
type ShipmentStatus string

// Shipment statuses: open (picking) -> packed -> shipped.
const (
	ShipmentStatusOpen    ShipmentStatus = "open"
	ShipmentStatusPacked  ShipmentStatus = "packed"
	ShipmentStatusShipped ShipmentStatus = "shipped"
)

// Shipment is a despatch to a trading partner, with what an EPCIS shipping
// event and a DSCSA transaction need: the parties and locations (GLNs) on
// both sides and the business transactions (purchase order, despatch
// advice).
type Shipment struct {
	ID       string `json:"id"`                  // unique shipment number, 1 to 64 printable ASCII characters
	ShipFrom string `json:"ship_from"`           // GLN of the site it leaves (source location)
	Owner    string `json:"owner"`               // GLN of our company (source owning party)
	ShipTo   string `json:"ship_to"`             // GLN of the partner's receiving location (destination location)
	Partner  string `json:"partner"`             // GLN of the trading partner (destination owning party)
	PO       string `json:"po"`                  // the partner's purchase order number
	Desadv   string `json:"desadv,omitempty"`    // despatch advice number
	Name     string `json:"name,omitempty"`      // the partner's name, for people
	Comment  string `json:"comment,omitempty"`   // free text
	Invoice  string `json:"invoice,omitempty"`   // invoice number, when known
	Carrier  string `json:"carrier,omitempty"`   // carrier name
	Tracking string `json:"tracking,omitempty"`  // carrier's tracking number
	Location string `json:"sgln_from,omitempty"` // SGLN extension of the shipping dock inside ShipFrom, when used
}

// Validate checks the shipment's identifiers.
func (s Shipment) Validate() error {
	if s.ID == "" || len(s.ID) > 64 || !isPrintableASCII(s.ID) {
		return Errorf(EINVALID, "shipment id %q must be 1 to 64 printable ASCII characters", s.ID)
	}
	for _, f := range []struct{ name, gln string }{{"ship-from", s.ShipFrom}, {"owner", s.Owner}, {"ship-to", s.ShipTo}, {"partner", s.Partner}} {
		if err := gs1.ValidateGLN(f.gln); err != nil {
			return Errorf(EINVALID, "shipment %s: %s GLN %q: %v", s.ID, f.name, f.gln, err)
		}
	}
	if s.PO == "" || len(s.PO) > 64 || !isPrintableASCII(s.PO) {
		return Errorf(EINVALID, "shipment %s: purchase order %q must be 1 to 64 printable ASCII characters", s.ID, s.PO)
	}
	for _, f := range []struct{ name, v string }{{"despatch advice", s.Desadv}, {"invoice", s.Invoice}, {"tracking", s.Tracking}, {"location", s.Location}} {
		if len(f.v) > 64 || !isPrintableASCII(f.v) {
			return Errorf(EINVALID, "shipment %s: %s %q must be at most 64 printable ASCII characters", s.ID, f.name, f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"name", s.Name}, {"comment", s.Comment}, {"carrier", s.Carrier}} {
		if len(f.v) > 200 || !isPrintableUTF8(f.v) {
			return Errorf(EINVALID, "shipment %s: %s must be at most 200 printable characters", s.ID, f.name)
		}
	}
	return nil
}

// ShipmentState is the projection of a shipment.
type ShipmentState struct {
	Shipment
	Status ShipmentStatus
	Items  []Item // picked items, in picking order
	Seq    int64
}

// ShipmentCreated records a new shipment, open for picking.
type ShipmentCreated struct {
	Shipment Shipment `json:"shipment"`
}

// EventType implements Payload.
func (ShipmentCreated) EventType() EventType { return EventShipmentCreated }

// Validate implements Payload.
func (p ShipmentCreated) Validate() error { return p.Shipment.Validate() }

// ShipmentPicked records items picked into an open shipment.
type ShipmentPicked struct {
	Shipment string `json:"shipment"`
	Items    []Item `json:"items"`
}

// EventType implements Payload.
func (ShipmentPicked) EventType() EventType { return EventShipmentPicked }

// Validate implements Payload.
func (p ShipmentPicked) Validate() error {
	return validateItems(EventShipmentPicked, p.Shipment, p.Items)
}

// ShipmentUnpicked records items taken back out of an open shipment.
type ShipmentUnpicked struct {
	Shipment string `json:"shipment"`
	Items    []Item `json:"items"`
	Reason   string `json:"reason"`
}

// EventType implements Payload.
func (ShipmentUnpicked) EventType() EventType { return EventShipmentUnpicked }

// Validate implements Payload.
func (p ShipmentUnpicked) Validate() error {
	if err := validateText(EventShipmentUnpicked, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateItems(EventShipmentUnpicked, p.Shipment, p.Items)
}

// ShipmentPacked records that picking is over: the shipment is packed.
type ShipmentPacked struct {
	Shipment string `json:"shipment"`
}

// EventType implements Payload.
func (ShipmentPacked) EventType() EventType { return EventShipmentPacked }

// Validate implements Payload.
func (p ShipmentPacked) Validate() error { return validateShipmentID(EventShipmentPacked, p.Shipment) }

// ShipmentShipped records that a packed shipment left for its partner.
type ShipmentShipped struct {
	Shipment string `json:"shipment"`
}

// EventType implements Payload.
func (ShipmentShipped) EventType() EventType { return EventShipmentShipped }

// Validate implements Payload.
func (p ShipmentShipped) Validate() error {
	return validateShipmentID(EventShipmentShipped, p.Shipment)
}

// StockReceived records items received into stock from a partner or
// another site (items the station shipped before).
type StockReceived struct {
	Items    []Item `json:"items"`
	From     string `json:"from"`               // GLN of the sender
	Document string `json:"document,omitempty"` // e.g. the despatch advice received
}

// EventType implements Payload.
func (StockReceived) EventType() EventType { return EventStockReceived }

// Validate implements Payload.
func (p StockReceived) Validate() error {
	if err := gs1.ValidateGLN(p.From); err != nil {
		return Errorf(EINVALID, "stock.received: sender GLN %q: %v", p.From, err)
	}
	if err := validateText(EventStockReceived, "document", p.Document, 64, false); err != nil {
		return err
	}
	return validateItems(EventStockReceived, "-", p.Items)
}

// StockReturned records items a partner sent back; they go to quarantine
// until QA releases or destroys them.
type StockReturned struct {
	Items  []Item `json:"items"`
	From   string `json:"from"` // GLN of the partner
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (StockReturned) EventType() EventType { return EventStockReturned }

// Validate implements Payload.
func (p StockReturned) Validate() error {
	if err := gs1.ValidateGLN(p.From); err != nil {
		return Errorf(EINVALID, "stock.returned: partner GLN %q: %v", p.From, err)
	}
	if err := validateText(EventStockReturned, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateItems(EventStockReturned, "-", p.Items)
}

// StockQuarantined records items put in quarantine (suspect product).
type StockQuarantined struct {
	Items  []Item `json:"items"`
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (StockQuarantined) EventType() EventType { return EventStockQuarantined }

// Validate implements Payload.
func (p StockQuarantined) Validate() error {
	if err := validateText(EventStockQuarantined, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateItems(EventStockQuarantined, "-", p.Items)
}

// StockReleased records items QA released from quarantine into stock.
type StockReleased struct {
	Items  []Item `json:"items"`
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (StockReleased) EventType() EventType { return EventStockReleased }

// Validate implements Payload.
func (p StockReleased) Validate() error {
	if err := validateText(EventStockReleased, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateItems(EventStockReleased, "-", p.Items)
}

func validateShipmentID(t EventType, id string) error {
	if id == "" || len(id) > 64 || !isPrintableASCII(id) {
		return Errorf(EINVALID, "%s: shipment id %q must be 1 to 64 printable ASCII characters", t, id)
	}
	return nil
}

// validateItems checks a list of distinct items (and the shipment id,
// unless it is "-").
func validateItems(t EventType, shipment string, items []Item) error {
	if shipment != "-" {
		if err := validateShipmentID(t, shipment); err != nil {
			return err
		}
	}
	if len(items) == 0 || len(items) > maxChildren {
		return Errorf(EINVALID, "%s: %d items, want 1 to %d", t, len(items), maxChildren)
	}
	seen := make(map[Item]bool, len(items))
	for _, it := range items {
		if err := it.Validate(); err != nil {
			return Errorf(EINVALID, "%s: item: %s", t, ErrorMessage(err))
		}
		if seen[it] {
			return Errorf(EINVALID, "%s: item %s listed twice", t, it)
		}
		seen[it] = true
	}
	return nil
}

// effectiveStock returns the warehouse status that applies to an item: its
// own when it was moved by itself, else that of the nearest parent that
// was (a unit in a shipped pallet is shipped).
func (s *Service) effectiveStock(ctx context.Context, it Item) (StockState, error) {
	cur := it
	for depth := 0; depth < 8; depth++ {
		st, err := s.ledger.Stock(ctx, cur)
		if err != nil {
			return st, fmt.Errorf("read stock of %s: %w", cur, err)
		}
		if st.Status != StockInStock {
			return st, nil
		}
		link, err := s.ledger.Parent(ctx, cur)
		if ErrorCode(err) == ENOTFOUND {
			return StockState{Item: it, Status: StockInStock}, nil
		} else if err != nil {
			return st, err
		}
		cur = link.Parent
	}
	return StockState{Item: it, Status: StockInStock}, nil
}

// movable checks that it is a commissioned unit or a closed container
// known at this station, and returns its top-level check for picking.
func (s *Service) movable(ctx context.Context, it Item) error {
	if c, err := s.ledger.Container(ctx, it); err == nil {
		if c.Status != ContainerClosed {
			return Errorf(ECONFLICT, "%s %s is open: close it first", c.Level, it)
		}
		return nil
	} else if ErrorCode(err) != ENOTFOUND {
		return err
	}
	if it.SSCC != "" {
		return Errorf(ENOTFOUND, "%s is not known at this station", it)
	}
	st, err := s.ledger.Serial(ctx, it.GTIN, it.Serial)
	if ErrorCode(err) == ENOTFOUND {
		return Errorf(ENOTFOUND, "%s is not known at this station", it)
	} else if err != nil {
		return err
	}
	if st.State != UnitStateCommissioned {
		return Errorf(ECONFLICT, "%s is %s: only commissioned packs can move", it, st.State)
	}
	return nil
}

// CreateShipment records a new shipment to a trading partner.
func (s *Service) CreateShipment(ctx context.Context, user string, sh Shipment) error {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return err
	}
	if err := sh.Validate(); err != nil {
		return err
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ShipmentCreated{Shipment: sh}, User: user}); err != nil {
		return fmt.Errorf("create shipment %s: %w", sh.ID, err)
	}
	return nil
}

// Pick puts a scanned pack, case or pallet into an open shipment. It must
// be in stock, in no parent (pick the whole pallet, or unpack first), and
// hold nothing quarantined here or held by the central service.
func (s *Service) Pick(ctx context.Context, user, shipment, scan string) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	it, _, err := ParseItem(scan)
	if err != nil {
		return Item{}, err
	}
	sh, err := s.ledger.Shipment(ctx, shipment)
	if err != nil {
		return it, err
	}
	if sh.Status != ShipmentStatusOpen {
		return it, Errorf(ECONFLICT, "shipment %s is %s: nothing more can be picked into it", shipment, sh.Status)
	}
	if err := s.movable(ctx, it); err != nil {
		return it, err
	}
	if link, err := s.ledger.Parent(ctx, it); err == nil {
		return it, Errorf(ECONFLICT, "%s is inside %s: pick %s, or unpack it first", it, link.Parent, link.Parent)
	} else if ErrorCode(err) != ENOTFOUND {
		return it, err
	}
	if err := s.checkHeld(ctx, it, "it cannot be picked"); err != nil {
		return it, err
	}
	if err := s.checkShippable(ctx, it); err != nil {
		return it, err
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ShipmentPicked{Shipment: shipment, Items: []Item{it}}, User: user}); err != nil {
		return it, fmt.Errorf("pick %s into shipment %s: %w", it, shipment, err)
	}
	return it, nil
}

// checkShippable refuses an item that is not in stock or holds anything
// quarantined or otherwise not in stock.
func (s *Service) checkShippable(ctx context.Context, it Item) error {
	st, err := s.ledger.Stock(ctx, it)
	if err != nil {
		return err
	}
	if st.Status != StockInStock {
		return Errorf(ECONFLICT, "%s is %s: only stock in the warehouse can be picked", it, st.Describe())
	}
	below, err := s.ledger.StockBelow(ctx, it)
	if err != nil {
		return err
	}
	for _, b := range below {
		if b.Status != StockInStock {
			return Errorf(ECONFLICT, "%s holds %s, which is %s: a quarantined pack cannot ship; unpack it first", it, b.Item, b.Describe())
		}
	}
	return nil
}

// Unpick takes items back out of an open shipment.
func (s *Service) Unpick(ctx context.Context, user, shipment string, items []Item, reason string) error {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return err
	}
	sh, err := s.ledger.Shipment(ctx, shipment)
	if err != nil {
		return err
	}
	if sh.Status != ShipmentStatusOpen {
		return Errorf(ECONFLICT, "shipment %s is %s: its items cannot change", shipment, sh.Status)
	}
	for _, it := range items {
		if !slices.Contains(sh.Items, it) {
			return Errorf(ECONFLICT, "%s is not in shipment %s", it, shipment)
		}
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ShipmentUnpicked{Shipment: shipment, Items: items, Reason: reason}, User: user}); err != nil {
		return fmt.Errorf("unpick from shipment %s: %w", shipment, err)
	}
	return nil
}

// PackShipment ends picking: the shipment is packed and ready to ship.
func (s *Service) PackShipment(ctx context.Context, user, shipment string) error {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return err
	}
	sh, err := s.ledger.Shipment(ctx, shipment)
	if err != nil {
		return err
	}
	if sh.Status != ShipmentStatusOpen {
		return Errorf(ECONFLICT, "shipment %s is already %s", shipment, sh.Status)
	}
	if len(sh.Items) == 0 {
		return Errorf(ECONFLICT, "shipment %s is empty: pick something first", shipment)
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ShipmentPacked{Shipment: shipment}, User: user}); err != nil {
		return fmt.Errorf("pack shipment %s: %w", shipment, err)
	}
	return nil
}

// Ship sends a packed shipment: every item in it becomes shipped. Every
// item is checked again (nothing quarantined inside since it was picked,
// and no central hold arrived on it or on anything in it).
func (s *Service) Ship(ctx context.Context, user, shipment string) error {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return err
	}
	sh, err := s.ledger.Shipment(ctx, shipment)
	if err != nil {
		return err
	}
	if sh.Status != ShipmentStatusPacked {
		return Errorf(ECONFLICT, "shipment %s is %s: pack it before shipping", shipment, sh.Status)
	}
	for _, it := range sh.Items {
		if err := s.checkHeld(ctx, it, "shipment "+shipment+" cannot ship; unpick it"); err != nil {
			return err
		}
		below, err := s.ledger.StockBelow(ctx, it)
		if err != nil {
			return err
		}
		for _, b := range below {
			if b.Status != StockInStock {
				return Errorf(ECONFLICT, "shipment %s cannot ship: %s holds %s, which is %s", shipment, it, b.Item, b.Describe())
			}
		}
	}
	if err := s.clock.Now().Trusted(); err != nil {
		return err
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ShipmentShipped{Shipment: shipment}, User: user}); err != nil {
		return fmt.Errorf("ship %s: %w", shipment, err)
	}
	return nil
}

// Receive takes back into stock an item this station shipped (a transfer
// between sites, or goods coming back).
func (s *Service) Receive(ctx context.Context, user, scan, from, document string) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	it, _, err := ParseItem(scan)
	if err != nil {
		return it, err
	}
	st, err := s.ledger.Stock(ctx, it)
	if err != nil {
		return it, err
	}
	if st.Status != StockShipped {
		return it, Errorf(ECONFLICT, "%s is %s: only shipped items can be received", it, st.Describe())
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: StockReceived{Items: []Item{it}, From: from, Document: document}, User: user}); err != nil {
		return it, fmt.Errorf("receive %s: %w", it, err)
	}
	return it, nil
}

// Return records a shipped item a partner sent back: it goes to quarantine.
func (s *Service) Return(ctx context.Context, user, scan, from, reason string) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	it, _, err := ParseItem(scan)
	if err != nil {
		return it, err
	}
	st, err := s.effectiveStock(ctx, it)
	if err != nil {
		return it, err
	}
	if st.Status != StockShipped {
		return it, Errorf(ECONFLICT, "%s is %s: only shipped items can come back as a return", it, st.Describe())
	}
	if link, err := s.ledger.Parent(ctx, it); err == nil {
		// a single pack came back out of a shipped case: it leaves the case
		if _, err := s.ledger.Append(ctx,
			NewEvent{Payload: AggregationUnpacked{Parent: link.Parent, Children: []Item{it}, Reason: "returned alone"}, User: user},
			NewEvent{Payload: StockReturned{Items: []Item{it}, From: from, Reason: reason}, User: user}); err != nil {
			return it, fmt.Errorf("return %s: %w", it, err)
		}
		return it, nil
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: StockReturned{Items: []Item{it}, From: from, Reason: reason}, User: user}); err != nil {
		return it, fmt.Errorf("return %s: %w", it, err)
	}
	return it, nil
}

// Quarantine holds a suspect item in stock for QA: it cannot be packed,
// picked or shipped (nor can anything holding it).
func (s *Service) Quarantine(ctx context.Context, user, scan, reason string) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	it, _, err := ParseItem(scan)
	if err != nil {
		return it, err
	}
	if err := s.movable(ctx, it); err != nil {
		return it, err
	}
	st, err := s.effectiveStock(ctx, it)
	if err != nil {
		return it, err
	}
	if st.Status != StockInStock {
		return it, Errorf(ECONFLICT, "%s is %s: only stock in the warehouse can be quarantined", it, st.Describe())
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: StockQuarantined{Items: []Item{it}, Reason: reason}, User: user}); err != nil {
		return it, fmt.Errorf("quarantine %s: %w", it, err)
	}
	return it, nil
}

// ReleaseQuarantine returns a quarantined item to stock, signed by QA
// (MeaningReleased).
func (s *Service) ReleaseQuarantine(ctx context.Context, user, scan string, sig *SignRequest) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	it, _, err := ParseItem(scan)
	if err != nil {
		return it, err
	}
	st, err := s.ledger.Stock(ctx, it)
	if err != nil {
		return it, err
	}
	if st.Status != StockInQuarantine {
		return it, Errorf(ECONFLICT, "%s is %s, not quarantined", it, st.Describe())
	}
	hash, err := RecordHash(struct {
		Item string `json:"item"`
		Seq  int64  `json:"seq"`
	}{it.Key(), st.Seq})
	if err != nil {
		return it, err
	}
	sigEv, err := s.sign(ctx, sig, MeaningReleased, "release "+it.Key()+" from quarantine", hash)
	if err != nil {
		return it, err
	}
	reason := "released"
	if sig != nil {
		reason = sig.Reason
	}
	if _, err := s.ledger.Append(ctx, sigEv, NewEvent{Payload: StockReleased{Items: []Item{it}, Reason: reason}, User: user}); err != nil {
		return it, fmt.Errorf("release %s: %w", it, err)
	}
	return it, nil
}

// Decommission takes a commissioned pack out of the supply chain with a
// reason (destroyed, stolen, damaged, recalled, expired), signed by a
// supervisor or QA (MeaningDestroyed). A pack inside a parent is unpacked
// in the same transaction; a shipped or picked pack is refused.
func (s *Service) Decommission(ctx context.Context, user, scan string, reason DecommissionReason, detail string, sig *SignRequest) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	if !slices.Contains(DecommissionReasons(), reason) || reason == DecommissionReplaced {
		return Item{}, Errorf(EINVALID, "decommission reason %q is not destroyed, stolen, damaged, recalled or expired (replacing a pack is rework)", reason)
	}
	return s.removeUnit(ctx, user, scan, sig, func(it Item) Payload {
		return UnitDecommissioned{GTIN: it.GTIN, Serial: it.Serial, Reason: reason, Detail: truncate(detail, 200)}
	}, "decommission ("+string(reason)+")")
}

// Sample takes a commissioned pack as a sample (QA, retention), signed by a
// supervisor or QA (MeaningDestroyed: it leaves the supply chain).
func (s *Service) Sample(ctx context.Context, user, scan, purpose string, sig *SignRequest) (Item, error) {
	if _, err := s.authorize(ctx, user, ActMoveStock); err != nil {
		return Item{}, err
	}
	if purpose == "" || len(purpose) > 64 {
		return Item{}, Errorf(EINVALID, "a sample needs a purpose (e.g. qa, retention) of at most 64 characters")
	}
	return s.removeUnit(ctx, user, scan, sig, func(it Item) Payload {
		return UnitSampled{GTIN: it.GTIN, Serial: it.Serial, Purpose: purpose}
	}, "take as sample ("+purpose+")")
}

func (s *Service) removeUnit(ctx context.Context, user, scan string, sig *SignRequest, what func(Item) Payload, verb string) (Item, error) {
	it, _, err := ParseItem(scan)
	if err != nil {
		return it, err
	}
	if it.SSCC != "" {
		return it, Errorf(EINVALID, "%s is a container: unpack it and %s each pack", it, verb)
	}
	if c, err := s.ledger.Container(ctx, it); err == nil {
		return it, Errorf(EINVALID, "%s is a %s: unpack it and %s each pack", it, c.Level, verb)
	}
	st, err := s.ledger.Serial(ctx, it.GTIN, it.Serial)
	if ErrorCode(err) == ENOTFOUND {
		return it, Errorf(ENOTFOUND, "%s is not known at this station", it)
	} else if err != nil {
		return it, err
	}
	if st.State != UnitStateCommissioned {
		return it, Errorf(ECONFLICT, "%s is %s: only a commissioned pack can %s", it, st.State, verb)
	}
	stock, err := s.effectiveStock(ctx, it)
	if err != nil {
		return it, err
	}
	if stock.Status == StockShipped || stock.Status == StockPicked {
		return it, Errorf(ECONFLICT, "%s is %s: it cannot %s here", it, stock.Describe(), verb)
	}
	hash, err := RecordHash(struct {
		Item string `json:"item"`
		Seq  int64  `json:"seq"`
	}{it.Key(), st.Seq})
	if err != nil {
		return it, err
	}
	sigEv, err := s.sign(ctx, sig, MeaningDestroyed, verb+" "+it.Key(), hash)
	if err != nil {
		return it, err
	}
	evs := []NewEvent{sigEv}
	if link, err := s.ledger.Parent(ctx, it); err == nil {
		evs = append(evs, NewEvent{Payload: AggregationUnpacked{Parent: link.Parent, Children: []Item{it}, Reason: verb}, User: user})
	} else if ErrorCode(err) != ENOTFOUND {
		return it, err
	}
	evs = append(evs, NewEvent{Payload: what(it), User: user})
	if _, err := s.ledger.Append(ctx, evs...); err != nil {
		return it, fmt.Errorf("%s %s: %w", verb, it, err)
	}
	return it, nil
}

// ItemStatus is everything the station knows about one pack or container.
type ItemStatus struct {
	Item      Item
	Level     AggregationLevel
	State     string // UnitState of a pack, ContainerStatus of a container
	Order     string
	Lot       string
	Expiry    string
	Stock     StockState // the status that applies (its own or its parent's)
	Parent    *Link      // nil when in no parent
	Tree      *TreeNode  // the item and everything packed in it
	Container *ContainerState
	Holds     []ItemHold // central holds in force on it or on anything in it
}

// Status returns what the station knows about a scanned item.
func (s *Service) Status(ctx context.Context, scan string) (ItemStatus, error) {
	it, _, err := ParseItem(scan)
	if err != nil {
		return ItemStatus{}, err
	}
	st := ItemStatus{Item: it, Level: LevelUnit}
	if c, err := s.ledger.Container(ctx, it); err == nil {
		st.Level, st.State, st.Order, st.Container = c.Level, string(c.Status), c.Order, &c
	} else if ErrorCode(err) != ENOTFOUND {
		return st, err
	} else if it.SSCC != "" {
		return st, Errorf(ENOTFOUND, "%s is not known at this station", it)
	} else {
		ser, err := s.ledger.Serial(ctx, it.GTIN, it.Serial)
		if ErrorCode(err) == ENOTFOUND {
			return st, Errorf(ENOTFOUND, "%s is not known at this station", it)
		} else if err != nil {
			return st, err
		}
		st.State, st.Order = string(ser.State), ser.Order
	}
	if st.Order != "" {
		if o, err := s.ledger.Order(ctx, st.Order); err == nil {
			st.Lot, st.Expiry = o.Lot, o.Expiry
		}
	}
	if st.Stock, err = s.effectiveStock(ctx, it); err != nil {
		return st, err
	}
	if st.Holds, err = s.ledger.HoldsOn(ctx, it); err != nil {
		return st, err
	}
	if len(st.Holds) > 0 && st.Stock.Status == StockInStock {
		// The central's hold is what applies: show it as a quarantine, with whose it is.
		h := st.Holds[0]
		reason := h.Hold.Describe()
		if h.Item != it {
			reason = "holds " + h.Item.Key() + ", " + reason
		}
		st.Stock = StockState{Item: it, Status: StockInQuarantine, Reason: reason, Shipment: st.Stock.Shipment, Seq: st.Stock.Seq}
	}
	if link, err := s.ledger.Parent(ctx, it); err == nil {
		st.Parent = &link
	} else if ErrorCode(err) != ENOTFOUND {
		return st, err
	}
	if st.Tree, err = s.Tree(ctx, it); err != nil {
		return st, err
	}
	return st, nil
}
