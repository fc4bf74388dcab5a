package dscsa

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
)

// Trace is the chain of custody of a product identifier known here: when
// and where it was commissioned, what it was packed into, and every change
// of ownership (shipping and receiving between partners), with the events
// behind them.
type Trace struct {
	// Identifier is what was asked; EPC and Item what it is.
	Identifier string `json:"identifier"`
	EPC        string `json:"epc"`
	Item       string `json:"item"`
	// Product, lot and expiry as the commissioning said (ILMD).
	GTIN   string `json:"gtin,omitempty"`
	Lot    string `json:"lot,omitempty"`
	Expiry string `json:"expiry,omitempty"` // YYYY-MM-DD
	// Commissioned is when and where it was commissioned.
	Commissioned *TracePoint `json:"commissioned,omitempty"`
	// Containers are the parents it was packed into, innermost first,
	// with when (and when it left them, if it did).
	Containers []TraceContainer `json:"containers"`
	// Custody lists every change of ownership, oldest first.
	Custody []CustodyStep `json:"custody"`
	// Events are the events of the chain (about it or a container while
	// it was inside), oldest first.
	Events []TraceEvent `json:"events"`
	// Holds in force here, if any.
	Holds []Hold `json:"holds,omitempty"`

	stored []StoredEvent
}

// TracePoint is a time and a place.
type TracePoint struct {
	Time     time.Time `json:"time"`
	Location string    `json:"location,omitempty"` // SGLN
	Name     string    `json:"name,omitempty"`     // the location's name, when known
}

// TraceContainer is a parent the item was in.
type TraceContainer struct {
	EPC      string    `json:"epc"`
	PackedAt time.Time `json:"packed_at"`
	LeftAt   time.Time `json:"left_at,omitzero"`
}

// CustodyStep is one change of ownership: a shipment from one owning party
// to another, and its receipt when known.
type CustodyStep struct {
	Time          time.Time `json:"time"`
	BizStep       string    `json:"biz_step"` // shipping or receiving
	FromOwner     string    `json:"from_owner,omitempty"`
	FromOwnerName string    `json:"from_owner_name,omitempty"`
	FromLocation  string    `json:"from_location,omitempty"`
	ToOwner       string    `json:"to_owner,omitempty"`
	ToOwnerName   string    `json:"to_owner_name,omitempty"`
	ToLocation    string    `json:"to_location,omitempty"`
	Transactions  []string  `json:"transactions,omitempty"` // po, desadv, ... URIs
	Via           string    `json:"via,omitempty"`          // the EPC observed (the item or its container)
}

// TraceEvent summarises one event of the chain.
type TraceEvent struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	Action      string    `json:"action,omitempty"`
	BizStep     string    `json:"biz_step,omitempty"`
	Disposition string    `json:"disposition,omitempty"`
	Location    string    `json:"location,omitempty"`
	About       string    `json:"about"` // the EPC of the chain it names (the item or a container)
	Source      string    `json:"source"`
	Hash        string    `json:"hash"`
}

// candidates returns the EPC URIs an identifier may be written as: one
// for our products, one per company prefix length otherwise (the
// repository keeps partners' EPCs as they sent them).
func candidates(namer *Namer, it station.Item) []string {
	if epc, err := namer.EPC(it); err == nil {
		return []string{epc}
	}
	var out []string
	for l := 6; l <= 12; l++ {
		var u string
		var err error
		if it.SSCC != "" {
			u, err = gs1.SSCCURI(it.SSCC, l)
		} else {
			u, err = gs1.SGTINURI(it.GTIN, it.Serial, l)
		}
		if err == nil {
			out = append(out, u)
		}
	}
	return out
}

// maxTraceDepth bounds the containers followed.
const maxTraceDepth = 8

// Trace returns the chain of custody of a product identifier (a scan,
// element string, EPC URI or Digital Link URI of a pack, case or pallet).
// A partner may trace only what it shipped or received (ENOTFOUND
// otherwise, as for an identifier nobody knows here).
func (x *Exchange) Trace(ctx context.Context, c Caller, identifier string) (*Trace, error) {
	if err := c.require(PermTrace, "trace products"); err != nil {
		return nil, err
	}
	it, _, err := station.ParseItem(identifier)
	if err != nil {
		return nil, err
	}
	namer, err := x.products(ctx, false)
	if err != nil {
		return nil, err
	}
	cands := candidates(namer, it)
	evs, err := x.store.EventsAbout(ctx, cands)
	if err != nil {
		return nil, err
	}
	t := &Trace{Identifier: identifier, Item: it.Key(), GTIN: it.GTIN, Containers: []TraceContainer{}, Custody: []CustodyStep{}, Events: []TraceEvent{}}
	t.EPC = cands[0]
	// The EPC as the events spell it.
	for _, se := range evs {
		for _, r := range EPCs(se.Event) {
			if slices.Contains(cands, r.EPC) {
				t.EPC = r.EPC
			}
		}
	}
	if c.Partner != nil {
		vis, err := x.store.VisibleTo(ctx, c.Partner.ID, []string{t.EPC})
		if err != nil {
			return nil, err
		}
		if !vis[t.EPC] {
			return nil, station.Errorf(station.ENOTFOUND, "%s is not known here (a partner may trace only products it shipped or received)", identifier)
		}
	}
	// Follow the containers: windows during which the item was inside.
	type window struct {
		epc      string
		from, to time.Time
	}
	chain := []window{{epc: t.EPC}}
	all := map[string]StoredEvent{}
	add := func(list []StoredEvent) {
		for _, se := range list {
			all[se.Hash] = se
		}
	}
	add(evs)
	cur, curEvs := t.EPC, evs
	for depth := 0; depth < maxTraceDepth; depth++ {
		var parent string
		var packed, left time.Time
		for _, se := range curEvs {
			e := se.Event
			if e.Type != epcis.AggregationEvent || !slices.Contains(e.ChildEPCs, cur) {
				continue
			}
			switch e.Action {
			case epcis.ActionAdd:
				if parent == "" || e.EventTime.After(packed) {
					parent, packed, left = e.ParentID, e.EventTime, time.Time{}
				}
			case epcis.ActionDelete:
				if e.ParentID == parent && e.EventTime.After(packed) {
					left = e.EventTime
				}
			}
		}
		if parent == "" {
			break
		}
		t.Containers = append(t.Containers, TraceContainer{EPC: parent, PackedAt: packed.UTC(), LeftAt: left})
		chain = append(chain, window{epc: parent, from: packed, to: left})
		pe, err := x.store.EventsAbout(ctx, []string{parent})
		if err != nil {
			return nil, err
		}
		add(pe)
		cur, curEvs = parent, pe
	}
	locs, err := x.store.Locations(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, l := range locs {
		if id, err := l.SGLN(""); err == nil {
			names[id] = l.Name
		}
	}
	// Keep the events of each chain member inside its window.
	var kept []StoredEvent
	for _, se := range all {
		e := se.Event
		for _, w := range chain {
			named := false
			for _, r := range EPCs(e) {
				if r.EPC == w.epc {
					named = true
				}
			}
			if !named {
				continue
			}
			if w.epc != t.EPC && (e.EventTime.Before(w.from) || !w.to.IsZero() && e.EventTime.After(w.to)) {
				continue
			}
			kept = append(kept, se)
			t.Events = append(t.Events, TraceEvent{Time: e.EventTime.UTC(), Type: string(e.Type), Action: string(e.Action), BizStep: short(string(e.BizStep)),
				Disposition: short(string(e.Disposition)), Location: placeID(e.BizLocation, e.ReadPoint), About: w.epc, Source: se.Source, Hash: se.Hash})
			break
		}
	}
	sortByTime(kept)
	slices.SortStableFunc(t.Events, func(a, b TraceEvent) int { return a.Time.Compare(b.Time) })
	t.stored = kept
	for _, se := range kept {
		e := se.Event
		if e.BizStep == epcis.BizStepCommissioning && slices.Contains(e.EPCList, t.EPC) && t.Commissioned == nil {
			loc := placeID(e.BizLocation, e.ReadPoint)
			t.Commissioned = &TracePoint{Time: e.EventTime.UTC(), Location: loc, Name: names[loc]}
			for _, el := range e.ILMD {
				switch el.Local {
				case "lotNumber":
					t.Lot = el.Text
				case "itemExpirationDate":
					t.Expiry = el.Text
				}
			}
		}
		if e.BizStep != epcis.BizStepShipping && e.BizStep != epcis.BizStepReceiving {
			continue
		}
		step := CustodyStep{Time: e.EventTime.UTC(), BizStep: short(string(e.BizStep))}
		for _, s := range e.SourceList {
			switch s.Type {
			case epcis.SourceDestTypeOwningParty:
				step.FromOwner, step.FromOwnerName = s.Value, names[s.Value]
			case epcis.SourceDestTypeLocation:
				step.FromLocation = s.Value
			}
		}
		for _, d := range e.DestinationList {
			switch d.Type {
			case epcis.SourceDestTypeOwningParty:
				step.ToOwner, step.ToOwnerName = d.Value, names[d.Value]
			case epcis.SourceDestTypeLocation:
				step.ToLocation = d.Value
			}
		}
		for _, bt := range e.BizTransactionList {
			step.Transactions = append(step.Transactions, bt.Value)
		}
		for _, epc := range e.EPCList {
			for _, w := range chain {
				if epc == w.epc {
					step.Via = epc
				}
			}
		}
		t.Custody = append(t.Custody, step)
	}
	if it.GTIN != "" && t.Lot != "" {
		if hs, err := x.store.ActiveHolds(ctx, append([]string{it.Key()}, containerKeys(t.Containers)...), []LotKey{{GTIN: it.GTIN, Lot: t.Lot}}); err == nil {
			t.Holds = hs
		}
	}
	if len(kept) == 0 {
		// Nothing exchanged yet: what our own repository knows.
		if it.GTIN != "" && namer.Known(it.GTIN) {
			info, err := x.store.SerialInfo(ctx, it.GTIN, it.Serial)
			if err != nil {
				return nil, err
			}
			if info.Known && c.Internal() {
				t.Lot, t.Holds = info.Lot, info.Holds
				if d, err := gs1.ExpiryDate(info.Expiry, x.now()); err == nil {
					t.Expiry = d.Format("2006-01-02")
				}
				for _, p := range info.Parents {
					t.Containers = append(t.Containers, TraceContainer{EPC: p})
				}
				return t, nil
			}
		}
		return nil, station.Errorf(station.ENOTFOUND, "%s is not known here", identifier)
	}
	return t, nil
}

func containerKeys(cs []TraceContainer) []string {
	var out []string
	for _, c := range cs {
		if it, err := ItemOfEPC(c.EPC); err == nil {
			out = append(out, it.Key())
		}
	}
	return out
}

// WriteEPCIS writes the trace's events as an EPCIS document (1.2 XML or
// 2.0 JSON-LD).
func (t *Trace) WriteEPCIS(w io.Writer, f epcis.Format, created time.Time) error {
	wr, err := epcis.NewWriter(w, f, &epcis.Header{CreationDate: created.UTC().Truncate(time.Millisecond)})
	if err != nil {
		return err
	}
	for _, se := range t.stored {
		if err := wr.WriteEvent(se.Event); err != nil {
			return err
		}
	}
	return wr.Close()
}

func placeID(ps ...*epcis.Place) string {
	for _, p := range ps {
		if p != nil && p.ID != "" {
			return p.ID
		}
	}
	return ""
}

// short returns the short name of a CBV URN (urn:epcglobal:cbv:bizstep:shipping -> shipping).
func short(s string) string {
	if strings.HasPrefix(s, "urn:epcglobal:cbv:") {
		return s[strings.LastIndexByte(s, ':')+1:]
	}
	return s
}
