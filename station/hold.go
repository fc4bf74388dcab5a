package station

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Reasons of a central hold (the central's suspect product investigations).
const (
	HoldSuspect      = "suspect"      // under investigation
	HoldIllegitimate = "illegitimate" // the investigation found it illegitimate
	HoldRecalled     = "recalled"     // a recall
)

// CentralHold is a quarantine the central service placed for an
// investigation of suspect product, on one pack, case or pallet (Item, an
// item key) or on a whole lot (GTIN and Lot). What a held item holds is
// held with it. It arrives with the master data (its JSON is the central's
// hold record) and stays in force at the station until the central
// releases it (ReleasedAt set), online or not.
type CentralHold struct {
	ID            int64     `json:"id"`
	Investigation int64     `json:"investigation"`
	Item          string    `json:"item,omitempty"` // item key; "" for a lot
	GTIN          string    `json:"gtin,omitempty"`
	Lot           string    `json:"lot,omitempty"`
	Reason        string    `json:"reason"` // suspect, illegitimate or recalled
	PlacedAt      time.Time `json:"placed_at,omitzero"`
	PlacedBy      string    `json:"placed_by,omitempty"`
	ReleasedAt    time.Time `json:"released_at,omitzero"` // zero while in force
	ReleasedBy    string    `json:"released_by,omitempty"`
}

// Describe says whose hold it is and why, for an operator, e.g. "held by
// the central service for investigation 12 (suspect, lot L1 of GTIN …)".
func (h CentralHold) Describe() string {
	if h.Item != "" {
		return fmt.Sprintf("held by the central service for investigation %d (%s)", h.Investigation, h.Reason)
	}
	return fmt.Sprintf("held by the central service for investigation %d (%s, lot %s of GTIN %s)", h.Investigation, h.Reason, h.Lot, h.GTIN)
}

// ItemHold is a central hold that applies to an item: Item is the held
// pack, case or pallet (the one scanned, or one packed inside it).
type ItemHold struct {
	Item Item
	Hold CentralHold
}

// StockHeld records a hold the central service placed (or whose reason
// changed, e.g. to illegitimate): nothing it names is picked or shipped
// here until StockHoldReleased.
type StockHeld struct {
	Hold          int64  `json:"hold"`
	Investigation int64  `json:"investigation"`
	Item          Item   `json:"item,omitzero"` // the held pack, case or pallet; zero for a lot
	GTIN          string `json:"gtin,omitempty"`
	Lot           string `json:"lot,omitempty"`
	Reason        string `json:"reason"`
	By            string `json:"by"` // who placed it at the central
}

// EventType implements Payload.
func (StockHeld) EventType() EventType { return EventStockHeld }

// Validate implements Payload.
func (p StockHeld) Validate() error {
	if p.Hold <= 0 || p.Investigation <= 0 {
		return Errorf(EINVALID, "%s: hold %d and investigation %d must be positive", EventStockHeld, p.Hold, p.Investigation)
	}
	if !slices.Contains([]string{HoldSuspect, HoldIllegitimate, HoldRecalled}, p.Reason) {
		return Errorf(EINVALID, "%s: reason %q is not suspect, illegitimate or recalled", EventStockHeld, p.Reason)
	}
	if err := validateText(EventStockHeld, "by", p.By, 200, false); err != nil {
		return err
	}
	if p.Item != (Item{}) {
		if p.GTIN != "" || p.Lot != "" {
			return Errorf(EINVALID, "%s: a hold is on an item or on a lot, not both", EventStockHeld)
		}
		if err := p.Item.Validate(); err != nil {
			return Errorf(EINVALID, "%s: item: %s", EventStockHeld, ErrorMessage(err))
		}
		return nil
	}
	if err := validateGTIN(p.GTIN); err != nil {
		return Errorf(EINVALID, "%s: %s", EventStockHeld, ErrorMessage(err))
	}
	if p.Lot == "" || len(p.Lot) > 20 {
		return Errorf(EINVALID, "%s: lot %q must be 1 to 20 characters", EventStockHeld, p.Lot)
	}
	return nil
}

// StockHoldReleased records that the central service released a hold (the
// investigation cleared the product).
type StockHoldReleased struct {
	Hold          int64  `json:"hold"`
	Investigation int64  `json:"investigation"`
	By            string `json:"by"` // who released it at the central
}

// EventType implements Payload.
func (StockHoldReleased) EventType() EventType { return EventStockHoldReleased }

// Validate implements Payload.
func (p StockHoldReleased) Validate() error {
	if p.Hold <= 0 || p.Investigation <= 0 {
		return Errorf(EINVALID, "%s: hold %d and investigation %d must be positive", EventStockHoldReleased, p.Hold, p.Investigation)
	}
	return validateText(EventStockHoldReleased, "by", p.By, 200, false)
}

// ImportHold records a hold of the central service, or its release, as the
// central's act: once recorded, Pick and Ship refuse what it names. A hold
// already in force with the same reason (or a release of a hold not in
// force) records nothing, so a record delivered twice is harmless.
func (s *Service) ImportHold(ctx context.Context, h CentralHold) error {
	cur, err := s.ledger.CentralHold(ctx, h.ID)
	inForce := err == nil
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	if !h.ReleasedAt.IsZero() {
		if !inForce {
			return nil
		}
		if _, err := s.ledger.Append(ctx, NewEvent{Payload: StockHoldReleased{Hold: h.ID, Investigation: h.Investigation, By: truncate(h.ReleasedBy, 200)}, User: CentralUser}); err != nil {
			return fmt.Errorf("release central hold %d: %w", h.ID, err)
		}
		return nil
	}
	if inForce && cur.Reason == h.Reason {
		return nil
	}
	p := StockHeld{Hold: h.ID, Investigation: h.Investigation, GTIN: h.GTIN, Lot: h.Lot, Reason: h.Reason, By: truncate(h.PlacedBy, 200)}
	if h.Item != "" {
		it, err := ParseItemKey(h.Item)
		if err != nil {
			return Errorf(EINVALID, "central hold %d: item %q: %s", h.ID, h.Item, ErrorMessage(err))
		}
		p.Item, p.GTIN, p.Lot = it, "", ""
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: p, User: CentralUser}); err != nil {
		return fmt.Errorf("record central hold %d: %w", h.ID, err)
	}
	return nil
}

// CentralHolds returns every central hold in force at this station, by id.
func (s *Service) CentralHolds(ctx context.Context) ([]CentralHold, error) {
	return s.ledger.CentralHolds(ctx)
}

// Holds returns the central holds in force on an item or on anything
// packed in it (a pack of a held lot inside a case holds the case).
func (s *Service) Holds(ctx context.Context, it Item) ([]ItemHold, error) {
	return s.ledger.HoldsOn(ctx, it)
}

// checkHeld refuses an item that a central hold applies to, itself or
// through what it holds, saying who held it and what to do.
func (s *Service) checkHeld(ctx context.Context, it Item, what string) error {
	hs, err := s.ledger.HoldsOn(ctx, it)
	if err != nil {
		return fmt.Errorf("read central holds on %s: %w", it, err)
	}
	if len(hs) == 0 {
		return nil
	}
	h := hs[0]
	if h.Item == it {
		return Errorf(ECONFLICT, "%s is %s: %s; put it aside and tell QA", it, h.Hold.Describe(), what)
	}
	return Errorf(ECONFLICT, "%s holds %s, which is %s: %s; put it aside and tell QA", it, h.Item, h.Hold.Describe(), what)
}
