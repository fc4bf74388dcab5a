package dscsa

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
)

// Reasons of a hold.
const (
	HoldSuspect      = "suspect"      // under investigation
	HoldIllegitimate = "illegitimate" // the investigation found it illegitimate
	HoldRecalled     = "recalled"     // a recall
)

// Outcomes of an investigation.
const (
	OutcomeCleared      = "cleared"      // not illegitimate: the holds are released
	OutcomeIllegitimate = "illegitimate" // illegitimate: the holds stay, partners and FDA are notified
)

// Hold is a quarantine placed at the central on a pack, case or pallet
// (Item, an item key) or on a whole lot (GTIN and Lot). What a held item
// holds is held with it. A held product is not shipped (its shipment's
// document is held) and verification answers say so.
type Hold struct {
	ID            int64     `json:"id"`
	Investigation int64     `json:"investigation"`
	Item          string    `json:"item,omitempty"`
	GTIN          string    `json:"gtin,omitempty"`
	Lot           string    `json:"lot,omitempty"`
	Reason        string    `json:"reason"`
	PlacedAt      time.Time `json:"placed_at"`
	PlacedBy      string    `json:"placed_by"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ReleasedBy    string    `json:"released_by,omitempty"`
}

// Describe names what the hold is on, e.g. "(00)… suspect" or "lot L1 of GTIN … recalled".
func (h Hold) Describe() string {
	if h.Item != "" {
		return h.Item + " " + h.Reason
	}
	return fmt.Sprintf("lot %s of GTIN %s %s", h.Lot, h.GTIN, h.Reason)
}

// Investigation is the record of a suspect product investigation: what it
// is about, who opened and closed it, and its outcome.
type Investigation struct {
	ID          int64     `json:"id"`
	Reason      string    `json:"reason"` // suspect or recalled
	Description string    `json:"description"`
	Items       []string  `json:"items,omitempty"` // item keys
	Lots        []LotKey  `json:"lots,omitempty"`
	Status      string    `json:"status"` // open or closed
	Outcome     string    `json:"outcome,omitempty"`
	Note        string    `json:"note,omitempty"`
	OpenedAt    time.Time `json:"opened_at"`
	OpenedBy    string    `json:"opened_by"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
	ClosedBy    string    `json:"closed_by,omitempty"`
	Holds       []Hold    `json:"holds"`
}

// OpenRequest opens an investigation: the product identifiers (scans,
// element strings, EPC URIs or item keys of packs, cases or pallets) and
// lots concerned, why, and a description.
type OpenRequest struct {
	Reason      string   `json:"reason"` // suspect (default) or recalled
	Description string   `json:"description"`
	Items       []string `json:"items,omitempty"`
	Lots        []LotKey `json:"lots,omitempty"`
}

// CloseRequest closes an investigation with its outcome.
type CloseRequest struct {
	Outcome string `json:"outcome"` // cleared or illegitimate
	Note    string `json:"note"`
}

// OpenInvestigation records an investigation and places a hold on every
// item and lot it names: nothing held ships, and verification answers
// report it.
func (x *Exchange) OpenInvestigation(ctx context.Context, c Caller, req OpenRequest) (Investigation, error) {
	if !c.Internal() {
		return Investigation{}, Forbidden("partners cannot open investigations here")
	}
	if req.Reason == "" {
		req.Reason = HoldSuspect
	}
	if req.Reason != HoldSuspect && req.Reason != HoldRecalled {
		return Investigation{}, station.Errorf(station.EINVALID, "reason %q must be suspect or recalled", req.Reason)
	}
	if strings.TrimSpace(req.Description) == "" || len(req.Description) > 2000 {
		return Investigation{}, station.Errorf(station.EINVALID, "description must be 1 to 2000 characters: say what was found")
	}
	if len(req.Items)+len(req.Lots) == 0 || len(req.Items)+len(req.Lots) > 10000 {
		return Investigation{}, station.Errorf(station.EINVALID, "name 1 to 10000 items or lots the investigation is about")
	}
	now := x.now().UTC()
	inv := Investigation{Reason: req.Reason, Description: req.Description, Status: "open", OpenedAt: now, OpenedBy: c.String()}
	for i, s := range req.Items {
		it, _, err := station.ParseItem(s)
		if err != nil {
			return inv, station.Errorf(station.EINVALID, "items[%d]: %s", i, station.ErrorMessage(err))
		}
		k := it.Key()
		if !slices.Contains(inv.Items, k) {
			inv.Items = append(inv.Items, k)
			inv.Holds = append(inv.Holds, Hold{Item: k, Reason: req.Reason, PlacedAt: now, PlacedBy: c.String()})
		}
	}
	for i, l := range req.Lots {
		if err := (station.Item{GTIN: l.GTIN, Serial: "x"}).Validate(); err != nil || l.Lot == "" || len(l.Lot) > 20 {
			return inv, station.Errorf(station.EINVALID, "lots[%d]: give a GTIN-14 and a lot of 1 to 20 characters", i)
		}
		inv.Lots = append(inv.Lots, l)
		inv.Holds = append(inv.Holds, Hold{GTIN: l.GTIN, Lot: l.Lot, Reason: req.Reason, PlacedAt: now, PlacedBy: c.String()})
	}
	if err := x.store.OpenInvestigation(ctx, &inv); err != nil {
		return inv, err
	}
	x.logger.Warn("investigation opened: product held", "investigation", inv.ID, "reason", inv.Reason, "items", len(inv.Items), "lots", len(inv.Lots))
	return inv, nil
}

// CloseInvestigation records the outcome of an investigation: cleared
// releases its holds (held documents go out at the next check);
// illegitimate keeps them, as illegitimate.
func (x *Exchange) CloseInvestigation(ctx context.Context, c Caller, id int64, req CloseRequest) (Investigation, error) {
	if !c.Internal() {
		return Investigation{}, Forbidden("partners cannot close investigations here")
	}
	if req.Outcome != OutcomeCleared && req.Outcome != OutcomeIllegitimate {
		return Investigation{}, station.Errorf(station.EINVALID, "outcome %q must be cleared or illegitimate", req.Outcome)
	}
	if strings.TrimSpace(req.Note) == "" || len(req.Note) > 2000 {
		return Investigation{}, station.Errorf(station.EINVALID, "note must be 1 to 2000 characters: record why")
	}
	inv, err := x.store.CloseInvestigation(ctx, id, req.Outcome, c.String(), req.Note, x.now().UTC())
	if err != nil {
		return inv, err
	}
	x.logger.Warn("investigation closed", "investigation", id, "outcome", req.Outcome)
	if req.Outcome == OutcomeCleared {
		// Held documents are checked again now, not at their next recheck.
		ds, err := x.store.Deliveries(ctx, "", 1000)
		if err != nil {
			return inv, err
		}
		for _, d := range ds {
			if d.Status == DeliveryHeld {
				d.NextAttempt = x.now()
				if err := x.store.UpdateDelivery(ctx, d); err != nil {
					return inv, err
				}
			}
		}
		x.Notify()
	}
	return inv, nil
}

// Notification is the data a notification of illegitimate product needs:
// for FDA (Form 3911) and for the trading partners that received it.
type Notification struct {
	Investigation  int64           `json:"investigation"`
	Classification string          `json:"classification"` // illegitimate or suspect (still open)
	Reporter       NotifyParty     `json:"reporter"`
	DetectedAt     time.Time       `json:"detected_at"`
	ConcludedAt    time.Time       `json:"concluded_at,omitzero"`
	Description    string          `json:"description"`
	Products       []NotifyProduct `json:"products"`
	Partners       []NotifyPartner `json:"partners"` // every partner that received the product from us
	Holds          []Hold          `json:"holds"`
}

// NotifyParty is who reports.
type NotifyParty struct {
	GLN     string `json:"gln"`
	Contact string `json:"contact"`
}

// NotifyProduct is a product concerned, with its lots and serials.
type NotifyProduct struct {
	GTIN     string   `json:"gtin"`
	NDC      string   `json:"ndc,omitempty"`
	Name     string   `json:"name,omitempty"`
	Strength string   `json:"strength,omitempty"`
	Dosage   string   `json:"dosage_form,omitempty"`
	Lots     []string `json:"lots,omitempty"`
	Serials  []string `json:"serials,omitempty"`
	Units    int      `json:"units"` // serialized items named (units, cases; a lot counts 0)
}

// NotifyPartner is a partner to notify.
type NotifyPartner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	GLN  string `json:"gln"`
}

// Notification returns the notification data of an investigation.
func (x *Exchange) Notification(ctx context.Context, c Caller, id int64) (Notification, error) {
	if !c.Internal() {
		return Notification{}, Forbidden("partners cannot read investigations here")
	}
	inv, err := x.store.Investigation(ctx, id)
	if err != nil {
		return Notification{}, err
	}
	n := Notification{Investigation: inv.ID, Classification: inv.Reason, Reporter: NotifyParty{GLN: x.cfg.GLN, Contact: x.cfg.Contact},
		DetectedAt: inv.OpenedAt, Description: inv.Description, Holds: inv.Holds, Products: []NotifyProduct{}, Partners: []NotifyPartner{}}
	if inv.Outcome == OutcomeIllegitimate {
		n.Classification, n.ConcludedAt = OutcomeIllegitimate, inv.ClosedAt
	}
	namer, err := x.products(ctx, true)
	if err != nil {
		return n, err
	}
	ps, err := x.store.Products(ctx)
	if err != nil {
		return n, err
	}
	byGTIN := map[string]station.Product{}
	for _, p := range ps {
		byGTIN[p.GTIN] = p
	}
	prods := map[string]*NotifyProduct{}
	get := func(gtin string) *NotifyProduct {
		unit, ok := namer.ProductOf(gtin)
		if !ok {
			unit = gtin
		}
		np := prods[unit]
		if np == nil {
			p := byGTIN[unit]
			np = &NotifyProduct{GTIN: unit, NDC: p.NDC, Name: p.Name, Strength: p.Strength, Dosage: p.DosageForm}
			prods[unit] = np
		}
		return np
	}
	var epcs []string
	for _, k := range inv.Items {
		it, err := station.ParseItemKey(k)
		if err != nil {
			continue
		}
		if it.SSCC == "" {
			np := get(it.GTIN)
			np.Serials = append(np.Serials, it.Serial)
			np.Units++
		}
		if epc, err := namer.EPC(it); err == nil {
			epcs = append(epcs, epc)
		}
	}
	for _, l := range inv.Lots {
		np := get(l.GTIN)
		np.Lots = append(np.Lots, l.Lot)
	}
	for _, np := range prods {
		n.Products = append(n.Products, *np)
	}
	sort.Slice(n.Products, func(i, j int) bool { return n.Products[i].GTIN < n.Products[j].GTIN })
	partners, err := x.store.Partners(ctx)
	if err != nil {
		return n, err
	}
	for _, p := range partners {
		if len(epcs) == 0 {
			break
		}
		vis, err := x.store.VisibleTo(ctx, p.ID, epcs)
		if err != nil {
			return n, err
		}
		if len(vis) > 0 {
			n.Partners = append(n.Partners, NotifyPartner{ID: p.ID, Name: p.Name, GLN: p.GLN})
		}
	}
	return n, nil
}
