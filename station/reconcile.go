package station

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// OrderUnits is what the ledger counts of an order's serials (of its GTIN)
// as they are now, read in one consistent snapshot with the order's
// counters and the journal head.
type OrderUnits struct {
	Order         OrderStatus         // the order and its counters
	AsOf          Head                // the journal head of the snapshot
	States        map[UnitState]int64 // serials by current state
	Aggregated    int64               // commissioned serials that are in a parent
	Decommissions map[string]int64    // decommissioned serials by reason
	Samples       map[string]int64    // sampled serials by purpose
}

// ReasonCount is a count for one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// Equation is one reconciliation equation with its two sides; it balances
// when the difference is zero.
type Equation struct {
	Name        string `json:"name"`                  // e.g. "printed = commissioned + rejected"
	Left        int64  `json:"left"`                  // value of the left side
	Right       int64  `json:"right"`                 // value of the right side
	Difference  int64  `json:"difference"`            // left - right
	Explanation string `json:"explanation,omitempty"` // what the difference is made of, when not zero
}

// Reconciliation is the balance of a packaging order: what became of every
// serial allocated to it. Counters come from the order's events; the
// breakdown of commissioned packs from their state now. Balanced means every
// equation's difference is zero.
type Reconciliation struct {
	Order         string     `json:"order"`
	GTIN          string     `json:"gtin"`
	Lot           string     `json:"lot"`
	Expiry        string     `json:"expiry"`
	Quantity      int64      `json:"quantity"`
	State         OrderState `json:"state"`
	Allocated     int64      `json:"allocated"`
	Printed       int64      `json:"printed"`
	Unused        int64      `json:"unused"`  // allocated, never printed, voided
	Pending       int64      `json:"pending"` // allocated, never printed, not yet voided
	Commissioned  int64      `json:"commissioned"`
	Rejected      int64      `json:"rejected"`
	Undecided     int64      `json:"undecided"` // printed, neither commissioned nor rejected
	Aggregated    int64      `json:"aggregated"`
	Loose         int64      `json:"loose"`
	Sampled       int64      `json:"sampled"`
	Decommissions int64      `json:"decommissioned"`
	// Rejects has every reject reason, in RejectReasons order, zeros included.
	Rejects []ReasonCount `json:"rejects"`
	// DecommissionReasons and SamplePurposes break those counts down.
	DecommissionReasons []ReasonCount `json:"decommission_reasons"`
	SamplePurposes      []ReasonCount `json:"sample_purposes"`
	Equations           []Equation    `json:"equations"`
	Balanced            bool          `json:"balanced"`
	Yield               float64       `json:"yield"`                    // commissioned / printed; 0 when nothing was printed
	ExpectedYield       float64       `json:"expected_yield,omitempty"` // from the order
	// UndecidedSerials and PendingSerials list up to 100 of each, so that
	// the packs can be found.
	UndecidedSerials []string `json:"undecided_serials,omitempty"`
	PendingSerials   []string `json:"pending_serials,omitempty"`
	Cases            int      `json:"cases"`   // cases opened for the order
	Pallets          int      `json:"pallets"` // pallets opened for the order
	// AsOf is the journal head the record was computed at.
	AsOfSeq  int64  `json:"as_of_seq"`
	AsOfHash string `json:"as_of_hash"`
}

// Reconcile computes the reconciliation of an order from the ledger.
func Reconcile(ctx context.Context, l Ledger, order string) (Reconciliation, error) {
	u, err := l.OrderUnits(ctx, order)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("reconcile order %s: %w", order, err)
	}
	o, head := u.Order, u.AsOf
	r := Reconciliation{
		Order: o.Order, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: o.Quantity, State: o.State,
		Allocated: o.Allocated, Printed: o.Printed, Unused: o.Voided, Commissioned: o.Commissioned, Rejected: o.Rejected,
		Sampled: o.Sampled, Decommissions: o.Decommissioned, ExpectedYield: o.ExpectedYield,
		Pending:    u.States[UnitStateAllocated],
		Undecided:  u.States[UnitStatePrinted] + u.States[UnitStateVerified],
		Aggregated: u.Aggregated,
		AsOfSeq:    head.Seq, AsOfHash: head.Hash,
	}
	r.Loose = u.States[UnitStateCommissioned] - u.Aggregated
	for _, reason := range RejectReasons() {
		r.Rejects = append(r.Rejects, ReasonCount{Reason: string(reason), Count: o.Rejects[reason]})
	}
	r.DecommissionReasons = sortedCounts(u.Decommissions)
	r.SamplePurposes = sortedCounts(u.Samples)
	if r.Printed > 0 {
		r.Yield = float64(r.Commissioned) / float64(r.Printed)
	}
	var rejectSum int64
	for _, rc := range r.Rejects {
		rejectSum += rc.Count
	}
	eq := func(name string, left, right int64, explain string) {
		e := Equation{Name: name, Left: left, Right: right, Difference: left - right}
		if e.Difference != 0 {
			e.Explanation = explain
		}
		r.Equations = append(r.Equations, e)
	}
	eq("allocated = printed + unused", r.Allocated, r.Printed+r.Unused,
		fmt.Sprintf("%d serials are allocated and were neither printed nor voided: complete the order to void them", r.Pending))
	eq("printed = commissioned + rejected", r.Printed, r.Commissioned+r.Rejected,
		fmt.Sprintf("%d printed packs were neither commissioned nor rejected: find them and reject them, or have QA approve the deviation", r.Undecided))
	eq("commissioned = aggregated + loose + sampled + decommissioned", r.Commissioned, r.Aggregated+r.Loose+r.Sampled+r.Decommissions,
		"the commissioned packs do not add up to where they are now: the ledger needs checking ('linestation ledger verify')")
	eq("rejected = sum of rejects by reason", r.Rejected, rejectSum,
		"the reject counters disagree: the ledger needs checking ('linestation ledger verify')")
	r.Balanced = true
	for _, e := range r.Equations {
		if e.Difference != 0 {
			r.Balanced = false
		}
	}
	if r.Undecided > 0 {
		if r.UndecidedSerials, err = undecided(ctx, l, order); err != nil {
			return r, err
		}
	}
	if r.Pending > 0 {
		if r.PendingSerials, err = l.OrderSerials(ctx, order, UnitStateAllocated, 100); err != nil {
			return r, err
		}
	}
	cs, err := l.Containers(ctx, order)
	if err != nil {
		return r, fmt.Errorf("reconcile order %s: %w", order, err)
	}
	for _, c := range cs {
		switch c.Level {
		case LevelCase:
			r.Cases++
		case LevelPallet:
			r.Pallets++
		}
	}
	return r, nil
}

func undecided(ctx context.Context, l Ledger, order string) ([]string, error) {
	a, err := l.OrderSerials(ctx, order, UnitStatePrinted, 100)
	if err != nil {
		return nil, err
	}
	b, err := l.OrderSerials(ctx, order, UnitStateVerified, 100-len(a))
	if err != nil && len(a) < 100 {
		return nil, err
	}
	return append(a, b...), nil
}

func sortedCounts(m map[string]int64) []ReasonCount {
	out := []ReasonCount{}
	for k, v := range m {
		out = append(out, ReasonCount{Reason: k, Count: v})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int { return strings.Compare(a.Reason, b.Reason) })
	return out
}

// Differences lists the equations that do not balance, in words.
func (r Reconciliation) Differences() []string {
	var out []string
	for _, e := range r.Equations {
		if e.Difference != 0 {
			out = append(out, fmt.Sprintf("%s: %d vs %d (difference %d): %s", e.Name, e.Left, e.Right, e.Difference, e.Explanation))
		}
	}
	return out
}

// OrderReconciled records the reconciliation an order was closed with, and
// its hash, which the closing signatures are bound to.
type OrderReconciled struct {
	Order  string         `json:"order"`
	Hash   string         `json:"hash"` // RecordHash(Record)
	Record Reconciliation `json:"record"`
}

// EventType implements Payload.
func (OrderReconciled) EventType() EventType { return EventOrderReconciled }

// Validate implements Payload.
func (p OrderReconciled) Validate() error {
	if err := validateOrderID(EventOrderReconciled, p.Order); err != nil {
		return err
	}
	if p.Record.Order != p.Order {
		return Errorf(EINVALID, "order.reconciled: the record is of order %q, not %q", p.Record.Order, p.Order)
	}
	h, err := RecordHash(p.Record)
	if err != nil {
		return Errorf(EINVALID, "order.reconciled: %v", err)
	}
	if h != p.Hash {
		return Errorf(EINVALID, "order.reconciled: hash %s does not match the record (%s)", p.Hash, h)
	}
	return nil
}

// CloseRequest is what closing an order takes: the supervisor's signature
// (meaning MeaningClosed) and, when the reconciliation does not balance,
// QA's signature approving the deviation (MeaningDeviation) whose reason
// explains it.
type CloseRequest struct {
	User      string // who closes (a supervisor)
	Signature *SignRequest
	Deviation *SignRequest
	// KeepPool keeps the GTIN's remaining pool at the station for another
	// order; otherwise the available serials go back to the serial source
	// (pool.returned) when no other order of the GTIN is open.
	KeepPool bool
}

// CloseOrder closes a completed order: pending serials are voided, the
// reconciliation is computed and must balance unless QA approves the
// deviation, both signatures are bound to the reconciliation's hash, and
// the record, the signatures and the state change are appended in one
// transaction (with the pool's return).
func (s *Service) CloseOrder(ctx context.Context, id string, req CloseRequest) (Reconciliation, error) {
	if _, err := s.authorize(ctx, req.User, ActManageOrders); err != nil {
		return Reconciliation{}, err
	}
	o, err := s.ledger.Order(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	if o.State != OrderCompleted {
		return Reconciliation{}, Errorf(ECONFLICT, "order %s is %s: only a completed order can be closed", id, o.State)
	}
	if voids, err := s.voidPending(ctx, o, req.User, "order closed: never printed"); err != nil {
		return Reconciliation{}, err
	} else if len(voids) > 0 {
		if _, err := s.ledger.Append(ctx, voids...); err != nil {
			return Reconciliation{}, fmt.Errorf("void pending serials of order %s: %w", id, err)
		}
	}
	rec, err := Reconcile(ctx, s.ledger, id)
	if err != nil {
		return rec, err
	}
	hash, err := RecordHash(rec)
	if err != nil {
		return rec, err
	}
	var evs []NewEvent
	if !rec.Balanced {
		if req.Deviation == nil {
			return rec, Errorf(ECONFLICT, "order %s does not balance: %s. QA must approve the deviation with an explanation to close it",
				id, strings.Join(rec.Differences(), "; "))
		}
		dev, err := s.sign(ctx, req.Deviation, MeaningDeviation, "deviation of order "+id, hash)
		if err != nil {
			return rec, err
		}
		evs = append(evs, dev)
	}
	sig, err := s.sign(ctx, req.Signature, MeaningClosed, "close order "+id, hash)
	if err != nil {
		return rec, err
	}
	evs = append(evs, sig, NewEvent{Payload: OrderReconciled{Order: id, Hash: hash, Record: rec}, User: req.User})
	if err := s.changeOrder(ctx, req.User, o, OrderClosed, "reconciled", evs...); err != nil {
		return rec, err
	}
	if !req.KeepPool {
		others, err := s.ledger.Orders(ctx, OrderPlanned, OrderReleased, OrderRunning, OrderHeld, OrderCompleted)
		if err != nil {
			return rec, err
		}
		busy := slices.ContainsFunc(others, func(x OrderStatus) bool { return x.GTIN == o.GTIN && x.Order != id })
		if !busy {
			if _, err := s.pools.Release(ctx, o.GTIN, req.User, false, ""); err != nil {
				return rec, fmt.Errorf("order %s is closed, but returning its unused serials failed: %w", id, err)
			}
		}
	}
	return rec, nil
}
