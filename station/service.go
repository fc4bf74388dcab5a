package station

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linestation/linestation/station/gs1"
)

// Config is what a Service is built from. cmd fills it in.
type Config struct {
	// Ledger records every state change; required.
	Ledger Ledger
	// Clock gives trusted time; required. Commissioning stops while it
	// cannot be trusted (Time.Trusted).
	Clock Clock
	// Line is this station's line id; orders for other lines are refused
	// at release. Empty accepts any line.
	Line string
	// Source gives new serials; nil means LocalSource over Ledger
	// (standalone mode).
	Source SerialSource
	// Pool says how far ahead serials are reserved.
	Pool PoolPolicy
	// Printer prints bundle, case and pallet labels; nil refuses to close a
	// parent (EDEVICE) since its label cannot be printed.
	Printer Printer
	// Auth is the sign-in and signature policy.
	Auth AuthPolicy
	// SSCC is the authority that gives this station blocks of SSCC serial
	// references (the central service, so that two stations never make the
	// same SSCC); SSCCs are then made only from the blocks recorded in the
	// ledger (SSCCRangeReceived). nil: standalone, SSCCs are made from
	// SSCCFirst..SSCCLast.
	SSCC SSCCSource
	// SSCCBlock is how many serial references to ask SSCC for at a time;
	// default DefaultSSCCBlock. A new block is asked for, in the background,
	// when fewer than a tenth of a block are left.
	SSCCBlock uint64
	// SSCCFirst and SSCCLast bound the SSCC serial references a standalone
	// station (SSCC nil) may use: several standalone stations that share a
	// company prefix need ranges of their own. Zero SSCCLast means the whole
	// space of each company prefix.
	SSCCFirst, SSCCLast uint64
	// Inbound is the central's DSCSA exchange for receiving partners'
	// shipments against their documents; nil (standalone) refuses that
	// with EUNAVAILABLE.
	Inbound Inbound
	// Logger defaults to slog.Default() with component=station.
	Logger *slog.Logger
}

// Service is the station's domain: master data, packaging orders, serial
// pools, the line run, aggregation, warehouse moves, reconciliation, users
// and signatures. Every state change goes to the ledger as events; the
// Service keeps no state of its own that the journal does not have (except
// caches and the running line's in-flight packs). Safe for concurrent use.
type Service struct {
	ledger  Ledger
	clock   Clock
	line    string
	auth    AuthPolicy
	printer Printer
	logger  *slog.Logger
	pools   *Pools
	inbound Inbound

	ssccFirst, ssccLast uint64
	ssccMu              sync.Mutex // serializes SSCC allocation
	sscc                SSCCSource // nil: standalone
	ssccBlock           uint64
	ssccFetching        map[string]bool // company prefixes with a block request in flight; under ssccFetchMu
	ssccFetchMu         sync.Mutex
	ssccReqMu           sync.Mutex      // one block request at a time
	life                context.Context // cancelled by Close: stops background block requests
	stop                context.CancelFunc
	wg                  sync.WaitGroup
}

// NewService checks cfg and returns a Service. Close it to stop background
// pool replenishment.
func NewService(cfg Config) (*Service, error) {
	if cfg.Ledger == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("new station service: a ledger and a clock are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "station")
	}
	if cfg.Source == nil {
		cfg.Source = &LocalSource{Ledger: cfg.Ledger}
	}
	if cfg.SSCCLast != 0 && cfg.SSCCFirst > cfg.SSCCLast {
		return nil, Errorf(EINVALID, "SSCC range %d..%d is empty", cfg.SSCCFirst, cfg.SSCCLast)
	}
	if cfg.SSCCBlock == 0 {
		cfg.SSCCBlock = DefaultSSCCBlock
	}
	if cfg.SSCCBlock > MaxSSCCBlock {
		return nil, Errorf(EINVALID, "SSCC block %d: at most %d serial references at a time", cfg.SSCCBlock, MaxSSCCBlock)
	}
	life, stop := context.WithCancel(context.Background())
	s := &Service{ledger: cfg.Ledger, clock: cfg.Clock, line: cfg.Line, auth: cfg.Auth.WithDefaults(), printer: cfg.Printer,
		logger: cfg.Logger, inbound: cfg.Inbound, ssccFirst: cfg.SSCCFirst, ssccLast: cfg.SSCCLast, sscc: cfg.SSCC, ssccBlock: cfg.SSCCBlock,
		ssccFetching: map[string]bool{}, life: life, stop: stop}
	s.pools = newPools(cfg.Ledger, cfg.Source, cfg.Pool, cfg.Logger, func(ctx context.Context, gtin string) (SerialScheme, error) {
		p, err := s.ledger.Product(ctx, gtin)
		if err != nil {
			return SerialScheme{}, fmt.Errorf("serial scheme of GTIN %s: %w", gtin, err)
		}
		return p.Serial, nil
	})
	return s, nil
}

// Close stops background work (pool replenishment, SSCC block requests)
// and waits for it.
func (s *Service) Close() error {
	s.stop()
	s.wg.Wait()
	s.pools.Close()
	return nil
}

// Ledger returns the ledger the service records to.
func (s *Service) Ledger() Ledger { return s.ledger }

// Pools returns the serial pools.
func (s *Service) Pools() *Pools { return s.pools }

// AuthPolicy returns the authentication policy in force (defaults filled),
// for the UI's idle timeout.
func (s *Service) AuthPolicy() AuthPolicy { return s.auth }

// DefineProduct records a product entered at the station (admin or
// supervisor).
func (s *Service) DefineProduct(ctx context.Context, user string, p Product) error {
	if _, err := s.authorize(ctx, user, ActManageData); err != nil {
		return err
	}
	return s.defineProduct(ctx, user, p)
}

// ImportProduct records a product that came from the central service.
func (s *Service) ImportProduct(ctx context.Context, p Product) error {
	return s.defineProduct(ctx, CentralUser, p)
}

func (s *Service) defineProduct(ctx context.Context, by string, p Product) error {
	if err := p.Validate(); err != nil {
		return err
	}
	// A level GTIN may not belong to another product.
	gtins := []string{p.GTIN}
	for _, l := range p.Levels {
		if l.GTIN != "" {
			gtins = append(gtins, l.GTIN)
		}
	}
	for _, g := range gtins {
		other, err := s.ledger.Product(ctx, g)
		if err == nil && other.GTIN != p.GTIN {
			return Errorf(ECONFLICT, "GTIN %s already belongs to product %s (%s)", g, other.GTIN, other.Name)
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return fmt.Errorf("define product %s: %w", p.GTIN, err)
		}
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: ProductDefined{Product: p}, User: by}); err != nil {
		return fmt.Errorf("define product %s: %w", p.GTIN, err)
	}
	return nil
}

// Product returns the product that has gtin at any packaging level.
func (s *Service) Product(ctx context.Context, gtin string) (Product, error) {
	return s.ledger.Product(ctx, gtin)
}

// CreateOrder records a packaging order entered by a supervisor, in state
// planned.
func (s *Service) CreateOrder(ctx context.Context, user string, o Order) error {
	if _, err := s.authorize(ctx, user, ActManageOrders); err != nil {
		return err
	}
	return s.createOrder(ctx, user, o)
}

// ImportOrder records a packaging order that came from the ERP through the
// central service, in state planned.
func (s *Service) ImportOrder(ctx context.Context, o Order) error {
	return s.createOrder(ctx, CentralUser, o)
}

// ImportRelease records that the ERP released an order through the central
// service (recorded as the central's act) and starts reserving serials for
// it, as ReleaseOrder does for a supervisor here. An order that already
// left the planned state is left as it is, so a release delivered twice is
// harmless. ENOTFOUND for an unknown order, ECONFLICT for an order of
// another line.
func (s *Service) ImportRelease(ctx context.Context, id string) error {
	o, err := s.ledger.Order(ctx, id)
	if err != nil {
		return err
	}
	if s.line != "" && o.Line != "" && o.Line != s.line {
		return Errorf(ECONFLICT, "order %s is for line %s, and this station is line %s", id, o.Line, s.line)
	}
	if o.State != OrderPlanned {
		return nil
	}
	if err := s.changeOrder(ctx, CentralUser, o, OrderReleased, ""); err != nil {
		return err
	}
	s.pools.Ensure(ctx, o.GTIN)
	return nil
}

func (s *Service) createOrder(ctx context.Context, by string, o Order) error {
	oc := OrderCreated{Order: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: int64(o.Quantity), Line: o.Line,
		ExpectedYield: o.ExpectedYield, MinGrade: o.MinGrade}
	if err := oc.Validate(); err != nil {
		return err
	}
	p, err := s.ledger.Product(ctx, o.GTIN)
	if ErrorCode(err) == ENOTFOUND {
		return Errorf(EINVALID, "order %s: no product has GTIN %s: define the product first", o.ID, o.GTIN)
	} else if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	if p.GTIN != o.GTIN {
		return Errorf(EINVALID, "order %s: GTIN %s is a packaging level of product %s: orders are for the unit GTIN", o.ID, o.GTIN, p.GTIN)
	}
	exp, err := gs1.ExpiryDate(o.Expiry, s.clock.Now().UTC)
	if err != nil {
		return Errorf(EINVALID, "order %s: expiry %q: %v", o.ID, o.Expiry, err)
	}
	if now := s.clock.Now().UTC; exp.Before(now.Truncate(24 * time.Hour)) {
		return Errorf(EINVALID, "order %s: expiry %s (%s) is in the past", o.ID, o.Expiry, exp.Format("2006-01-02"))
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: oc, User: by}); err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return nil
}

// Order returns a packaging order with its counters.
func (s *Service) Order(ctx context.Context, id string) (OrderStatus, error) {
	return s.ledger.Order(ctx, id)
}

// Orders returns the orders in the given states (all when none given).
func (s *Service) Orders(ctx context.Context, states ...OrderState) ([]OrderStatus, error) {
	return s.ledger.Orders(ctx, states...)
}

// ReleaseOrder allows a planned order to run (supervisor) and starts
// reserving serials for it.
func (s *Service) ReleaseOrder(ctx context.Context, user, id string) error {
	if _, err := s.authorize(ctx, user, ActManageOrders); err != nil {
		return err
	}
	o, err := s.ledger.Order(ctx, id)
	if err != nil {
		return err
	}
	if s.line != "" && o.Line != "" && o.Line != s.line {
		return Errorf(ECONFLICT, "order %s is for line %s, and this station is line %s", id, o.Line, s.line)
	}
	if err := s.changeOrder(ctx, user, o, OrderReleased, ""); err != nil {
		return err
	}
	s.pools.Ensure(ctx, o.GTIN)
	return nil
}

// changeOrder records an order's move to another state after checking it
// against the state machine.
func (s *Service) changeOrder(ctx context.Context, user string, o OrderStatus, to OrderState, reason string, extra ...NewEvent) error {
	if err := CheckOrderTransition(o.State, to); err != nil {
		return Errorf(ECONFLICT, "order %s: %s", o.Order, ErrorMessage(err))
	}
	evs := append(extra, NewEvent{Payload: OrderStateChanged{Order: o.Order, From: o.State, To: to, Reason: reason}, User: user})
	if _, err := s.ledger.Append(ctx, evs...); err != nil {
		return fmt.Errorf("order %s %s -> %s: %w", o.Order, o.State, to, err)
	}
	return nil
}

// CompleteOrder ends production of a running or held order (operator or
// supervisor) when no line run holds it: serials allocated to it and never
// printed are voided, since they may sit in a coder's queue.
func (s *Service) CompleteOrder(ctx context.Context, user, id, reason string) error {
	if _, err := s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	o, err := s.ledger.Order(ctx, id)
	if err != nil {
		return err
	}
	if err := CheckOrderTransition(o.State, OrderCompleted); err != nil {
		return Errorf(ECONFLICT, "order %s: %s", id, ErrorMessage(err))
	}
	voids, err := s.voidPending(ctx, o, user, "order completed: never printed")
	if err != nil {
		return err
	}
	return s.changeOrder(ctx, user, o, OrderCompleted, reason, voids...)
}

// voidPending returns unit.voided events for the order's serials that are
// allocated and were never printed.
func (s *Service) voidPending(ctx context.Context, o OrderStatus, user, reason string) ([]NewEvent, error) {
	var evs []NewEvent
	for {
		ss, err := s.ledger.OrderSerials(ctx, o.Order, UnitStateAllocated, maxSerials)
		if err != nil {
			return nil, fmt.Errorf("read pending serials of order %s: %w", o.Order, err)
		}
		if len(ss) > 0 {
			evs = append(evs, NewEvent{Payload: UnitVoided{GTIN: o.GTIN, Serials: ss, Order: o.Order, Reason: reason}, User: user})
		}
		if len(ss) < maxSerials {
			return evs, nil
		}
		// more than one event's worth: record this part now and go on
		if _, err := s.ledger.Append(ctx, evs...); err != nil {
			return nil, fmt.Errorf("void pending serials of order %s: %w", o.Order, err)
		}
		evs = nil
	}
}

// RejectUnits rejects printed packs of an order that never got a decision
// (for example packs left between the coder and the camera when the line
// stopped), once an operator has taken them off the line.
func (s *Service) RejectUnits(ctx context.Context, user, order string, serials []string, reason RejectReason, detail string) error {
	if _, err := s.authorize(ctx, user, ActRunLine); err != nil {
		return err
	}
	o, err := s.ledger.Order(ctx, order)
	if err != nil {
		return err
	}
	var evs []NewEvent
	for _, sr := range serials {
		st, err := s.ledger.Serial(ctx, o.GTIN, sr)
		if err != nil {
			return err
		}
		if st.Order != order {
			return Errorf(ECONFLICT, "serial %s belongs to order %s, not %s", sr, st.Order, order)
		}
		if st.State != UnitStatePrinted && st.State != UnitStateVerified {
			return Errorf(ECONFLICT, "serial %s is %s: only a printed pack without a decision can be rejected", sr, st.State)
		}
		evs = append(evs, NewEvent{Payload: UnitRejected{GTIN: o.GTIN, Serial: sr, Reason: reason, Device: "manual", Detail: detail}, User: user})
	}
	if len(evs) == 0 {
		return Errorf(EINVALID, "no serial to reject")
	}
	if _, err := s.ledger.Append(ctx, evs...); err != nil {
		return fmt.Errorf("reject %d packs of order %s: %w", len(evs), order, err)
	}
	return nil
}

// UnitVoided records serials allocated to an order that were never printed
// and must never be used (they may sit in a coder's queue or its memory).
type UnitVoided struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	Order   string   `json:"order"`
	Reason  string   `json:"reason"`
}

// EventType implements Payload.
func (UnitVoided) EventType() EventType { return EventUnitVoided }

// Validate implements Payload.
func (p UnitVoided) Validate() error {
	if err := validateOrderID(EventUnitVoided, p.Order); err != nil {
		return err
	}
	if err := validateText(EventUnitVoided, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateSerials(EventUnitVoided, p.GTIN, p.Serials)
}
