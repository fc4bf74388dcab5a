package station

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/linestation/linestation/station/gs1"
)

// ContainerStatus is where a bundle, case or pallet is in being packed.
type ContainerStatus string

// Container statuses.
const (
	ContainerOpen   ContainerStatus = "open"   // children may be packed in
	ContainerClosed ContainerStatus = "closed" // full (or accepted as partial), its label printed
)

// ContainerState is the projection of a bundle, case or pallet opened at
// this station.
type ContainerState struct {
	Parent   Item
	Level    AggregationLevel
	Order    string
	Capacity int             // children of a full one
	Count    int             // children now
	Status   ContainerStatus // open or closed
	Partial  bool            // closed with fewer children than Capacity (supervisor's signature)
	Labeled  bool            // its label was printed
	Seq      int64
}

// AggregationOpened records that a bundle, case or pallet was started for
// an order, with the identity it will carry (an SSCC allocated just before,
// or a serial of the level's GTIN) and how many children make it full.
type AggregationOpened struct {
	Parent   Item             `json:"parent"`
	Level    AggregationLevel `json:"level"`
	Order    string           `json:"order"`
	Capacity int              `json:"capacity"`
}

// EventType implements Payload.
func (AggregationOpened) EventType() EventType { return EventAggregationOpened }

// Validate implements Payload.
func (p AggregationOpened) Validate() error {
	if err := validateLevel(EventAggregationOpened, p.Level); err != nil {
		return err
	}
	if err := validateOrderID(EventAggregationOpened, p.Order); err != nil {
		return err
	}
	if p.Capacity < 1 || p.Capacity > maxLevelQuantity {
		return Errorf(EINVALID, "aggregation.opened: capacity %d must be 1 to %d", p.Capacity, maxLevelQuantity)
	}
	if err := p.Parent.Validate(); err != nil {
		return Errorf(EINVALID, "aggregation.opened: parent: %s", ErrorMessage(err))
	}
	return nil
}

// AggregationClosed records that a container is complete: Count children,
// fewer than its capacity when Partial (then a supervisor's signature is
// in the same transaction). Device is the label printer that printed its
// label, or "" when the label printed before is still valid (a container
// closed again after rework).
type AggregationClosed struct {
	Parent  Item             `json:"parent"`
	Level   AggregationLevel `json:"level"`
	Count   int              `json:"count"`
	Partial bool             `json:"partial,omitempty"`
	Device  string           `json:"device,omitempty"`
}

// EventType implements Payload.
func (AggregationClosed) EventType() EventType { return EventAggregationClosed }

// Validate implements Payload.
func (p AggregationClosed) Validate() error {
	if err := validateLevel(EventAggregationClosed, p.Level); err != nil {
		return err
	}
	if p.Count < 1 || p.Count > maxChildren {
		return Errorf(EINVALID, "aggregation.closed: count %d must be 1 to %d", p.Count, maxChildren)
	}
	if err := validateText(EventAggregationClosed, "device", p.Device, 64, false); err != nil {
		return err
	}
	if err := p.Parent.Validate(); err != nil {
		return Errorf(EINVALID, "aggregation.closed: parent: %s", ErrorMessage(err))
	}
	return nil
}

// ParseItem reads a scanned or typed identifier of a pack or container: a
// bracketed element string ("(01)...(21)..." or "(00)..."), scanner output
// with an AIM symbology identifier ("]d2", "]C1", ...), FNC1 data, a GS1
// Digital Link URI or an EPC URI. It returns the SSCC when the data has AI
// (00), else the GTIN and serial of AIs (01) and (21), with the parsed
// message for its other AIs.
func ParseItem(scan string) (Item, *gs1.Message, error) {
	scan = strings.TrimSpace(scan)
	if scan == "" {
		return Item{}, nil, Errorf(EINVALID, "nothing was scanned")
	}
	var msg *gs1.Message
	var err error
	switch {
	case strings.HasPrefix(scan, "]"):
		var sc *gs1.Scan
		sc, err = gs1.ParseScanData(scan)
		if err == nil {
			msg = sc.Message
			if msg == nil {
				return Item{}, nil, Errorf(EINVALID, "scan %q holds no GS1 data: scan the GS1 DataMatrix or GS1-128 code", scan)
			}
		}
	case strings.HasPrefix(scan, "urn:epc:"):
		msg, err = gs1.ParseEPCURI(scan)
	default:
		msg, err = gs1.Parse(scan)
	}
	if err != nil {
		return Item{}, nil, Errorf(EINVALID, "scan %q is not GS1 data: %v", scan, err)
	}
	if sscc, ok := msg.Get("00"); ok {
		return SSCCItem(sscc), msg, nil
	}
	gtin, ok1 := msg.Get("01")
	serial, ok2 := msg.Get("21")
	if !ok1 || !ok2 {
		return Item{}, nil, Errorf(EINVALID, "scan %q has no SSCC (00) and no GTIN (01) with serial (21): scan the pack's 2D code or the case label", scan)
	}
	return SGTIN(gtin, serial), msg, nil
}

// OpenParent starts a bundle, case or pallet for an order: it takes the
// parent's identity (a new SSCC, or a serial of the level's GTIN) and
// records it as open. The order must be running, held or completed.
func (s *Service) OpenParent(ctx context.Context, user, order string, level AggregationLevel) (ContainerState, error) {
	if _, err := s.authorize(ctx, user, ActPack); err != nil {
		return ContainerState{}, err
	}
	o, err := s.ledger.Order(ctx, order)
	if err != nil {
		return ContainerState{}, err
	}
	switch o.State {
	case OrderRunning, OrderHeld, OrderCompleted:
	default:
		return ContainerState{}, Errorf(ECONFLICT, "order %s is %s: packing is possible while it is running, held or completed", order, o.State)
	}
	p, err := s.ledger.Product(ctx, o.GTIN)
	if err != nil {
		return ContainerState{}, fmt.Errorf("open %s for order %s: %w", level, order, err)
	}
	pl, ok := p.Level(level)
	if !ok {
		return ContainerState{}, Errorf(EINVALID, "product %s (%s) has no %s level", p.GTIN, p.Name, level)
	}
	opened := func(parent Item) NewEvent {
		return NewEvent{Payload: AggregationOpened{Parent: parent, Level: level, Order: order, Capacity: pl.Quantity}, User: user}
	}
	var parent Item
	if pl.SSCC {
		parent, err = s.allocateSSCC(ctx, p, pl, order, user, opened)
		if err != nil {
			return ContainerState{}, err
		}
	} else {
		ss, err := s.pools.Allocate(ctx, order, pl.GTIN, user, 1)
		if err != nil {
			return ContainerState{}, fmt.Errorf("open %s for order %s: %w", level, order, err)
		}
		parent = SGTIN(pl.GTIN, ss[0])
		if _, err := s.ledger.Append(ctx, opened(parent)); err != nil {
			return ContainerState{}, fmt.Errorf("open %s %s: %w", level, parent, err)
		}
	}
	return s.ledger.Container(ctx, parent)
}

// packCheck is what checkChild found out about a child.
type packCheck struct {
	level AggregationLevel
	lot   string
}

// checkChild checks that child may go into container c of product p: the
// right level, commissioned (or a closed container), in stock, in no
// parent, and of the parent's lot unless the product allows mixed lots.
func (s *Service) checkChild(ctx context.Context, c ContainerState, parentLot string, p Product, child Item) (packCheck, error) {
	want := p.ChildLevel(c.Level)
	var pc packCheck
	var childOrder string
	if child.SSCC == "" {
		lvl, ok := p.LevelOfGTIN(child.GTIN)
		if !ok {
			return pc, Errorf(ECONFLICT, "%s is not %s (GTIN %s): a %s holds one product", child, p.Name, child.GTIN, c.Level)
		}
		pc.level = lvl
	}
	if child.SSCC != "" || pc.level != LevelUnit {
		cc, err := s.ledger.Container(ctx, child)
		if ErrorCode(err) == ENOTFOUND {
			return pc, Errorf(ENOTFOUND, "%s was not packed at this station", child)
		} else if err != nil {
			return pc, err
		}
		pc.level = cc.Level
		if cc.Status != ContainerClosed {
			return pc, Errorf(ECONFLICT, "%s %s is still open: close it before packing it into a %s", cc.Level, child, c.Level)
		}
		childOrder = cc.Order
	}
	if pc.level != want {
		return pc, Errorf(ECONFLICT, "a %s of %s holds %ss, and %s is a %s", c.Level, p.Name, want, child, pc.level)
	}
	if pc.level == LevelUnit {
		st, err := s.ledger.Serial(ctx, child.GTIN, child.Serial)
		if ErrorCode(err) == ENOTFOUND {
			return pc, Errorf(ENOTFOUND, "pack %s is not known at this station", child)
		} else if err != nil {
			return pc, err
		}
		if st.State != UnitStateCommissioned {
			return pc, Errorf(ECONFLICT, "pack %s is %s: only a commissioned pack can be packed", child, st.State)
		}
		childOrder = st.Order
	}
	if link, err := s.ledger.Parent(ctx, child); err == nil {
		return pc, Errorf(ECONFLICT, "%s is already in %s: unpack it from there first", child, link.Parent)
	} else if ErrorCode(err) != ENOTFOUND {
		return pc, err
	}
	if st, err := s.effectiveStock(ctx, child); err != nil {
		return pc, err
	} else if st.Status != StockInStock {
		return pc, Errorf(ECONFLICT, "%s is %s: only stock in the warehouse can be packed", child, st.Describe())
	}
	o, err := s.ledger.Order(ctx, childOrder)
	if err != nil {
		return pc, fmt.Errorf("read order %s of %s: %w", childOrder, child, err)
	}
	pc.lot = o.Lot
	if !p.MixedLots && o.Lot != parentLot {
		return pc, Errorf(ECONFLICT, "%s is lot %s, and this %s holds lot %s: %s does not allow mixed lots", child, o.Lot, c.Level, parentLot, p.Name)
	}
	return pc, nil
}

// parentContext reads what packing into parent needs: its container, its
// order and its product, and checks that it is in the warehouse.
func (s *Service) parentContext(ctx context.Context, parent Item) (ContainerState, OrderStatus, Product, error) {
	c, err := s.ledger.Container(ctx, parent)
	if ErrorCode(err) == ENOTFOUND {
		return c, OrderStatus{}, Product{}, Errorf(ENOTFOUND, "%s was not opened at this station: open a bundle, case or pallet first", parent)
	} else if err != nil {
		return c, OrderStatus{}, Product{}, err
	}
	o, err := s.ledger.Order(ctx, c.Order)
	if err != nil {
		return c, o, Product{}, fmt.Errorf("read order %s of %s: %w", c.Order, parent, err)
	}
	p, err := s.ledger.Product(ctx, o.GTIN)
	if err != nil {
		return c, o, p, fmt.Errorf("read product of %s: %w", parent, err)
	}
	if st, err := s.effectiveStock(ctx, parent); err != nil {
		return c, o, p, err
	} else if st.Status != StockInStock {
		return c, o, p, Errorf(ECONFLICT, "%s %s is %s: it cannot be changed", c.Level, parent, st.Describe())
	}
	return c, o, p, nil
}

// PackResult is the parent's fill after a pack.
type PackResult struct {
	Child    Item
	Count    int  // children now
	Capacity int  // children of a full parent
	Full     bool // Count == Capacity: close it
}

// Pack puts the scanned child into an open parent after checking every
// rule (see checkChild) and the parent's capacity.
func (s *Service) Pack(ctx context.Context, user string, parent Item, scan string) (PackResult, error) {
	if _, err := s.authorize(ctx, user, ActPack); err != nil {
		return PackResult{}, err
	}
	child, _, err := ParseItem(scan)
	if err != nil {
		return PackResult{}, err
	}
	c, o, p, err := s.parentContext(ctx, parent)
	if err != nil {
		return PackResult{}, err
	}
	if c.Status != ContainerOpen {
		return PackResult{}, Errorf(ECONFLICT, "%s %s is closed: unpack a child to open it again", c.Level, parent)
	}
	if c.Count >= c.Capacity {
		return PackResult{}, Errorf(ECONFLICT, "%s %s is full (%d of %d): close it", c.Level, parent, c.Count, c.Capacity)
	}
	if child == parent {
		return PackResult{}, Errorf(EINVALID, "%s cannot be packed into itself", child)
	}
	if _, err := s.checkChild(ctx, c, o.Lot, p, child); err != nil {
		return PackResult{}, err
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: AggregationPacked{Parent: parent, Level: c.Level, Children: []Item{child}}, User: user}); err != nil {
		return PackResult{}, fmt.Errorf("pack %s into %s: %w", child, parent, err)
	}
	n := c.Count + 1
	return PackResult{Child: child, Count: n, Capacity: c.Capacity, Full: n == c.Capacity}, nil
}

// CloseParent completes an open parent: it prints its label on the label
// printer (once: a parent closed again after rework keeps its label), and
// records it closed. A partial parent (fewer children than its capacity)
// needs a supervisor's signature meaning MeaningPartial. An SGTIN parent
// (bundle, case) is commissioned with its label, which needs trusted time.
func (s *Service) CloseParent(ctx context.Context, user string, parent Item, partial *SignRequest) (ContainerState, error) {
	if _, err := s.authorize(ctx, user, ActPack); err != nil {
		return ContainerState{}, err
	}
	c, o, p, err := s.parentContext(ctx, parent)
	if err != nil {
		return c, err
	}
	if c.Status != ContainerOpen {
		return c, Errorf(ECONFLICT, "%s %s is already closed", c.Level, parent)
	}
	if c.Count == 0 {
		return c, Errorf(ECONFLICT, "%s %s is empty: pack at least one child before closing it", c.Level, parent)
	}
	var evs []NewEvent
	isPartial := c.Count < c.Capacity
	if isPartial {
		kids, err := s.ledger.Children(ctx, parent)
		if err != nil {
			return c, err
		}
		hash, err := RecordHash(struct {
			Parent   string   `json:"parent"`
			Count    int      `json:"count"`
			Capacity int      `json:"capacity"`
			Children []string `json:"children"`
		}{parent.Key(), c.Count, c.Capacity, linkChildren(kids)})
		if err != nil {
			return c, err
		}
		sig, err := s.sign(ctx, partial, MeaningPartial, fmt.Sprintf("close partial %s %s (%d of %d)", c.Level, parent, c.Count, c.Capacity), hash)
		if err != nil {
			return c, err
		}
		evs = append(evs, sig)
	}
	if parent.SSCC == "" {
		if err := s.clock.Now().Trusted(); err != nil {
			return c, err
		}
	}
	device := ""
	if !c.Labeled {
		if s.printer == nil {
			return c, Errorf(EDEVICE, "no label printer is configured at this station: the %s label cannot be printed", c.Level)
		}
		device = s.printer.Health().Device
		if device == "" {
			device = "printer"
		}
		if err := s.printer.Print(ctx, s.parentLabel(p, o, c)); err != nil {
			return c, fmt.Errorf("print the label of %s %s: %w", c.Level, parent, err)
		}
		if parent.SSCC == "" {
			evs = append(evs,
				NewEvent{Payload: UnitPrinted{GTIN: parent.GTIN, Serial: parent.Serial, Device: device}, User: user},
				NewEvent{Payload: UnitCommissioned{GTIN: parent.GTIN, Serial: parent.Serial, Device: device}, User: user})
		}
	}
	evs = append(evs, NewEvent{Payload: AggregationClosed{Parent: parent, Level: c.Level, Count: c.Count, Partial: isPartial, Device: device}, User: user})
	if _, err := s.ledger.Append(ctx, evs...); err != nil {
		return c, fmt.Errorf("close %s %s: %w", c.Level, parent, err)
	}
	return s.ledger.Container(ctx, parent)
}

// parentLabel builds the label of a container: GS1-128/DataMatrix data
// with the SSCC (or the level's GTIN and serial, lot and expiry) and the
// human-readable fields.
func (s *Service) parentLabel(p Product, o OrderStatus, c ContainerState) Label {
	fields := map[string]string{
		"product": p.Name, "strength": p.Strength, "lot": o.Lot, "expiry": o.Expiry, "gtin": p.GTIN,
		"count": strconv.Itoa(c.Count), "level": string(c.Level), "order": o.Order,
	}
	l := Label{Template: p.Label(string(c.Level)), Fields: fields}
	if c.Parent.SSCC != "" {
		l.Serial, l.Data = c.Parent.SSCC, "00"+c.Parent.SSCC
		fields["sscc"] = c.Parent.SSCC
	} else {
		l.Serial = c.Parent.Serial
		l.Data = "01" + c.Parent.GTIN + "17" + o.Expiry + "10" + o.Lot + "\x1d21" + c.Parent.Serial
		fields["gtin"], fields["serial"] = c.Parent.GTIN, c.Parent.Serial
	}
	return l
}

func linkChildren(links []Link) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.Child.Key()
	}
	return out
}

// Unpack takes children out of a parent: the given ones, or every child
// when children is empty. A closed parent becomes open again. reason is
// recorded (e.g. "repack", "rework", "partial case").
func (s *Service) Unpack(ctx context.Context, user string, parent Item, children []Item, reason string) ([]Item, error) {
	if _, err := s.authorize(ctx, user, ActPack); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, Errorf(EINVALID, "say why the %s is unpacked", parent)
	}
	if _, _, _, err := s.parentContext(ctx, parent); err != nil {
		return nil, err
	}
	if len(children) == 0 {
		kids, err := s.ledger.Children(ctx, parent)
		if err != nil {
			return nil, err
		}
		if len(kids) == 0 {
			return nil, Errorf(ECONFLICT, "%s is empty", parent)
		}
		for _, k := range kids {
			children = append(children, k.Child)
		}
	} else {
		for _, ch := range children {
			link, err := s.ledger.Parent(ctx, ch)
			if ErrorCode(err) == ENOTFOUND {
				return nil, Errorf(ECONFLICT, "%s is in no parent", ch)
			} else if err != nil {
				return nil, err
			}
			if link.Parent != parent {
				return nil, Errorf(ECONFLICT, "%s is in %s, not in %s", ch, link.Parent, parent)
			}
		}
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: AggregationUnpacked{Parent: parent, Children: children, Reason: reason}, User: user}); err != nil {
		return nil, fmt.Errorf("unpack %s: %w", parent, err)
	}
	return children, nil
}

// Replace is rework: a damaged pack in a parent is taken out and
// decommissioned (reason replaced), and a commissioned loose pack of the
// same lot takes its place, in one transaction signed by a supervisor
// (MeaningRework). A closed parent stays closed with its label.
func (s *Service) Replace(ctx context.Context, user, oldScan, newScan, reason string, sig *SignRequest) error {
	if _, err := s.authorize(ctx, user, ActPack); err != nil {
		return err
	}
	old, _, err := ParseItem(oldScan)
	if err != nil {
		return err
	}
	repl, _, err := ParseItem(newScan)
	if err != nil {
		return err
	}
	if old.SSCC != "" || repl.SSCC != "" {
		return Errorf(EINVALID, "rework replaces packs (GTIN and serial), not SSCC containers")
	}
	link, err := s.ledger.Parent(ctx, old)
	if ErrorCode(err) == ENOTFOUND {
		return Errorf(ECONFLICT, "%s is in no parent: rework replaces a pack inside a bundle, case or pallet", old)
	} else if err != nil {
		return err
	}
	c, o, p, err := s.parentContext(ctx, link.Parent)
	if err != nil {
		return err
	}
	if lvl, _ := p.LevelOfGTIN(old.GTIN); lvl != LevelUnit {
		return Errorf(EINVALID, "%s is not a unit of %s: rework replaces units", old, p.Name)
	}
	st, err := s.ledger.Serial(ctx, old.GTIN, old.Serial)
	if err != nil {
		return err
	}
	if st.State != UnitStateCommissioned {
		return Errorf(ECONFLICT, "pack %s is %s: only a commissioned pack can be replaced", old, st.State)
	}
	if _, err := s.checkChild(ctx, c, o.Lot, p, repl); err != nil {
		return err
	}
	hash, err := RecordHash(struct {
		Parent string `json:"parent"`
		Old    string `json:"old"`
		New    string `json:"new"`
		Reason string `json:"reason"`
	}{link.Parent.Key(), old.Key(), repl.Key(), reason})
	if err != nil {
		return err
	}
	sigEv, err := s.sign(ctx, sig, MeaningRework, fmt.Sprintf("replace %s by %s in %s", old, repl, link.Parent), hash)
	if err != nil {
		return err
	}
	evs := []NewEvent{sigEv,
		{Payload: AggregationUnpacked{Parent: link.Parent, Children: []Item{old}, Reason: "rework: replaced by " + repl.Key()}, User: user},
		{Payload: UnitDecommissioned{GTIN: old.GTIN, Serial: old.Serial, Reason: DecommissionReplaced, Detail: truncate(reason, 200)}, User: user},
		{Payload: AggregationPacked{Parent: link.Parent, Level: c.Level, Children: []Item{repl}}, User: user},
	}
	if c.Status == ContainerClosed {
		evs = append(evs, NewEvent{Payload: AggregationClosed{Parent: link.Parent, Level: c.Level, Count: c.Count, Partial: c.Partial}, User: user})
	}
	if _, err := s.ledger.Append(ctx, evs...); err != nil {
		return fmt.Errorf("replace %s by %s: %w", old, repl, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TreeNode is one item of an aggregation tree with what the station knows
// of it.
type TreeNode struct {
	Item     Item
	Level    AggregationLevel // unit, bundle, case or pallet
	State    string           // a unit's UnitState, or a container's ContainerStatus
	Stock    StockStatus      // its own warehouse status
	Children []*TreeNode
}

// Count returns how many nodes of level l are in the tree (itself included).
func (n *TreeNode) Count(l AggregationLevel) int {
	c := 0
	if n.Level == l {
		c++
	}
	for _, ch := range n.Children {
		c += ch.Count(l)
	}
	return c
}

// Tree returns root with everything packed below it, down to every unit.
func (s *Service) Tree(ctx context.Context, root Item) (*TreeNode, error) {
	links, err := s.ledger.Tree(ctx, root)
	if err != nil {
		return nil, err
	}
	nodes := map[Item]*TreeNode{}
	node := func(it Item) (*TreeNode, error) {
		if n := nodes[it]; n != nil {
			return n, nil
		}
		n := &TreeNode{Item: it, Level: LevelUnit}
		if c, err := s.ledger.Container(ctx, it); err == nil {
			n.Level, n.State = c.Level, string(c.Status)
		} else if ErrorCode(err) != ENOTFOUND {
			return nil, err
		} else if it.SSCC == "" {
			st, err := s.ledger.Serial(ctx, it.GTIN, it.Serial)
			if err != nil && ErrorCode(err) != ENOTFOUND {
				return nil, err
			}
			n.State = string(st.State)
		}
		stk, err := s.ledger.Stock(ctx, it)
		if err != nil {
			return nil, err
		}
		n.Stock = stk.Status
		nodes[it] = n
		return n, nil
	}
	top, err := node(root)
	if err != nil {
		return nil, err
	}
	if len(links) == 0 && top.State == "" {
		return nil, Errorf(ENOTFOUND, "%s is not known at this station", root)
	}
	for _, l := range links {
		p, err := node(l.Parent)
		if err != nil {
			return nil, err
		}
		ch, err := node(l.Child)
		if err != nil {
			return nil, err
		}
		p.Children = append(p.Children, ch)
	}
	return top, nil
}
