package station

import (
	"strings"
	"time"
)

// OrderState is where a packaging order is in its life.
type OrderState string

// Order states: planned -> released -> running <-> held -> completed -> closed.
const (
	OrderPlanned   OrderState = "planned"   // entered, not yet allowed to run
	OrderReleased  OrderState = "released"  // approved to run on its line
	OrderRunning   OrderState = "running"   // loaded at the station, producing
	OrderHeld      OrderState = "held"      // paused (by an operator, an alarm or QA)
	OrderCompleted OrderState = "completed" // production finished; reconciliation pending
	OrderClosed    OrderState = "closed"    // reconciled and signed off by a supervisor
)

// orderTransitions lists, for each state, the states it may move to.
var orderTransitions = map[OrderState][]OrderState{
	OrderPlanned:   {OrderReleased},
	OrderReleased:  {OrderRunning},
	OrderRunning:   {OrderHeld, OrderCompleted},
	OrderHeld:      {OrderRunning, OrderCompleted},
	OrderCompleted: {OrderClosed},
}

// CheckOrderTransition returns nil when an order may go from one state to
// the other, and an ECONFLICT error naming the allowed moves otherwise.
func CheckOrderTransition(from, to OrderState) error {
	allowed := orderTransitions[from]
	for _, s := range allowed {
		if s == to {
			return nil
		}
	}
	if len(allowed) == 0 {
		return Errorf(ECONFLICT, "order is %s: it cannot change any more", from)
	}
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = string(s)
	}
	return Errorf(ECONFLICT, "order is %s: it cannot become %s (it can become %s)", from, to, strings.Join(names, " or "))
}

// Order is a packaging order: how many packs of one product, in one lot, on
// one line.
type Order struct {
	ID            string     // the ERP's order number, unique
	GTIN          string     // the unit GTIN-14 of the product
	Lot           string     // AI (10), CSET 82, 1..20 characters
	Expiry        string     // AI (17) as YYMMDD; DD may be 00 (end of month)
	Quantity      int        // units to make
	Line          string     // the line (station) it runs on
	ExpectedYield float64    // share of printed units expected to be commissioned, e.g. 0.98; 0 when not given
	MinGrade      string     // lowest grade letter (A-D) to commission; "" for the product's
	State         OrderState // current state
	Created       time.Time  // UTC
}
