package dscsa

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
)

// GuidelineVersion is the GS1 US guideline the outbound documents follow.
const GuidelineVersion = "GS1 US DSCSA R1.3"

// MaxEPCsPerEvent bounds the EPCs of one commissioning event of an
// outbound document: units of one product, lot, expiry and site are
// commissioned together, up to this many per event.
const MaxEPCsPerEvent = 1000

// DocOptions tune WriteShipmentDocument.
type DocOptions struct {
	// DocumentID is the SBDH instance identifier; default the shipment id.
	DocumentID string
	// Created is the document's creation time; default now.
	Created time.Time
	// Record, when set, is given every event as it is written (for the
	// repository); events are not kept after it returns.
	Record func(e *epcis.Event) error
}

// DocInfo says what a document holds.
type DocInfo struct {
	DocumentID string
	Shipment   string
	Partner    string // the receiving partner's GLN
	Format     epcis.Format
	Events     int
	EPCs       int // EPCs named, counting each time one is named
	Items      int // packs, cases and pallets in the shipment
}

// WriteShipmentDocument writes the EPCIS document of a shipped shipment
// to w, as a stream: the header (SBDH from our company to the partner, the
// master data of every product and location involved, the DSCSA
// transaction statement), commissioning events of every unit, case and
// pallet (grouped by product, lot, expiry and site, at most
// MaxEPCsPerEvent per event), one packing event per parent, lower levels
// first, and the shipping event with the purchase order, despatch advice
// (and invoice) and the source and destination lists. Memory does not grow
// with the shipment: items are read from a snapshot of the store as they
// are written. It refuses (ECONFLICT) a shipment that is not shipped or
// holds items the central has no record of, and (EINVALID) one whose
// products or locations lack master data, naming them.
func (x *Exchange) WriteShipmentDocument(ctx context.Context, w io.Writer, shipment string, f epcis.Format, opts DocOptions) (DocInfo, error) {
	snap, err := x.store.OpenShipment(ctx, shipment)
	if err != nil {
		return DocInfo{}, err
	}
	defer snap.Close()
	b, err := x.newDocBuilder(ctx, snap)
	if err != nil {
		return DocInfo{}, err
	}
	return b.write(ctx, w, f, opts)
}

// docBuilder holds what one document needs besides its items.
type docBuilder struct {
	x        *Exchange
	snap     ShipmentSnapshot
	rec      ShipmentRecord
	contents ShipmentContents
	namer    *Namer
	products map[string]station.Product // unit GTIN -> product
	locs     map[string]Location        // GLN -> location
	sites    map[string]Location        // station -> its site
	from     Location                   // the ship-from site
	places   map[string]*epcis.Place    // SGLN -> a shared Place
	zones    map[string]*time.Location  // IANA name -> zone
}

func (x *Exchange) newDocBuilder(ctx context.Context, snap ShipmentSnapshot) (*docBuilder, error) {
	b := &docBuilder{x: x, snap: snap, rec: snap.Record(), places: map[string]*epcis.Place{}, zones: map[string]*time.Location{}}
	sh := b.rec.Shipment
	if b.rec.Status != string(station.ShipmentStatusShipped) {
		return nil, station.Errorf(station.ECONFLICT, "shipment %s is %s, not shipped: its document is made when it ships", sh.ID, b.rec.Status)
	}
	var err error
	if b.contents, err = snap.Contents(ctx); err != nil {
		return nil, err
	}
	if len(b.contents.Unknown) > 0 {
		return nil, station.Errorf(station.ECONFLICT, "shipment %s holds %s, which the central has no commissioning record of (has its station's journal arrived?)",
			sh.ID, strings.Join(b.contents.Unknown, ", "))
	}
	products, err := x.store.Products(ctx)
	if err != nil {
		return nil, err
	}
	b.namer = NewNamer(products)
	b.products = map[string]station.Product{}
	for _, p := range products {
		b.products[p.GTIN] = p
	}
	var missing []string
	for _, g := range b.contents.GTINs {
		if !b.namer.Known(g) {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return nil, station.Errorf(station.EINVALID, "shipment %s: GTIN %s is not in the central's product master data: add the product", sh.ID, strings.Join(missing, ", "))
	}
	locs, err := x.store.Locations(ctx)
	if err != nil {
		return nil, err
	}
	b.locs, b.sites = map[string]Location{}, map[string]Location{}
	for _, l := range locs {
		b.locs[l.GLN] = l
		for _, st := range l.Stations {
			b.sites[st] = l
		}
	}
	for _, g := range []struct{ what, gln string }{{"owner", sh.Owner}, {"ship-from", sh.ShipFrom}, {"partner", sh.Partner}, {"ship-to", sh.ShipTo}} {
		if _, ok := b.locs[g.gln]; !ok {
			missing = append(missing, g.what+" "+g.gln)
		}
	}
	if len(missing) > 0 {
		return nil, station.Errorf(station.EINVALID, "shipment %s: no location master data for %s: register it (PUT /v1/dscsa/locations/{gln})", sh.ID, strings.Join(missing, ", "))
	}
	b.from = b.locs[sh.ShipFrom]
	return b, nil
}

// site returns where a station works: its registered site, else the
// shipment's ship-from site.
func (b *docBuilder) site(stationID string) Location {
	if l, ok := b.sites[stationID]; ok {
		return l
	}
	return b.from
}

// offset returns the UTC offset of a site at t, loading each zone once.
func (b *docBuilder) offset(l Location, t time.Time) string {
	z, ok := b.zones[l.TimeZone]
	if !ok {
		z = time.UTC
		if l.TimeZone != "" {
			if loaded, err := time.LoadLocation(l.TimeZone); err == nil {
				z = loaded
			}
		}
		b.zones[l.TimeZone] = z
	}
	return t.In(z).Format("-07:00")
}

// place returns a shared Place for an SGLN (events only read it).
func (b *docBuilder) place(l Location, ext string) *epcis.Place {
	id, _ := l.SGLN(ext)
	if p, ok := b.places[id]; ok {
		return p
	}
	p := &epcis.Place{ID: id}
	b.places[id] = p
	return p
}

func (b *docBuilder) sgln(gln string) string {
	id, _ := b.locs[gln].SGLN("")
	return id
}

func (b *docBuilder) header(opts DocOptions) (*epcis.Header, error) {
	sh := b.rec.Shipment
	created := opts.Created
	if created.IsZero() {
		created = b.x.now()
	}
	created = created.UTC().Truncate(time.Millisecond)
	id := opts.DocumentID
	if id == "" {
		id = sh.ID
	}
	h := &epcis.Header{CreationDate: created, SBDH: epcis.NewSBDH(b.sgln(sh.Owner), b.sgln(sh.Partner), id, created)}
	var classes []epcis.VocabularyElement
	for _, g := range b.contents.GTINs {
		unit, _ := b.namer.ProductOf(g)
		p, ok := b.products[unit]
		if !ok {
			return nil, station.Errorf(station.EINVALID, "GTIN %s has no product master data", g)
		}
		class, err := b.namer.ClassOf(g)
		if err != nil {
			return nil, err
		}
		classes = append(classes, productClass(p, g, class).VocabularyElement())
	}
	glns := []string{sh.Owner, sh.ShipFrom, sh.Partner, sh.ShipTo}
	for _, st := range b.contents.Stations {
		glns = append(glns, b.site(st).GLN)
	}
	slices.Sort(glns)
	glns = slices.Compact(glns)
	var places []epcis.VocabularyElement
	for _, g := range glns {
		places = append(places, b.locs[g].Master().VocabularyElement())
	}
	sort.Slice(places, func(i, j int) bool { return places[i].ID < places[j].ID })
	h.MasterData = []epcis.Vocabulary{{Type: epcis.VocabularyEPCClass, Elements: classes}, {Type: epcis.VocabularyLocation, Elements: places}}
	h.SetGuidelineVersion(GuidelineVersion)
	h.SetTransactionStatement(epcis.TransactionStatement{Affirm: true, LegalNotice: epcis.DSCSALegalNotice})
	return h, nil
}

func (b *docBuilder) write(ctx context.Context, w io.Writer, f epcis.Format, opts DocOptions) (DocInfo, error) {
	sh := b.rec.Shipment
	info := DocInfo{DocumentID: opts.DocumentID, Shipment: sh.ID, Partner: sh.Partner, Format: f, Items: b.contents.Items}
	if info.DocumentID == "" {
		info.DocumentID = sh.ID
	}
	h, err := b.header(opts)
	if err != nil {
		return info, err
	}
	wr, err := epcis.NewWriter(w, f, h)
	if err != nil {
		return info, fmt.Errorf("write the document of shipment %s: %w", sh.ID, err)
	}
	emit := func(e *epcis.Event) error {
		if err := wr.WriteEvent(e); err != nil {
			return fmt.Errorf("write the document of shipment %s: %w", sh.ID, err)
		}
		info.Events++
		info.EPCs += len(e.EPCList) + len(e.ChildEPCs)
		if opts.Record != nil {
			return opts.Record(e)
		}
		return nil
	}
	if err := b.commissioning(ctx, emit); err != nil {
		return info, err
	}
	if err := b.packing(ctx, emit); err != nil {
		return info, err
	}
	ship, err := b.shipping()
	if err != nil {
		return info, err
	}
	if err := emit(ship); err != nil {
		return info, err
	}
	if err := wr.Close(); err != nil {
		return info, fmt.Errorf("write the document of shipment %s: %w", sh.ID, err)
	}
	return info, nil
}

// ilmdFor returns the ILMD of a lot and expiry, shared by the events of a group.
func ilmdFor(lot, expiry string) ([]epcis.Element, error) {
	if lot == "" {
		return nil, nil
	}
	out := []epcis.Element{{Space: epcis.NamespaceCBVMDA, Prefix: "cbvmda", Local: "lotNumber", Text: lot}}
	if expiry != "" {
		d, err := gs1.ExpiryDate(expiry, time.Now())
		if err != nil {
			return nil, station.Errorf(station.EINVALID, "expiry %q of lot %s: %v", expiry, lot, err)
		}
		out = append(out, epcis.Element{Space: epcis.NamespaceCBVMDA, Prefix: "cbvmda", Local: "itemExpirationDate", Text: d.Format("2006-01-02")})
	}
	return out, nil
}

// commissioning writes the commissioning events: one per group of units
// of one product, lot, expiry and site (at most MaxEPCsPerEvent), then
// the SSCCs; eventTime is the latest commissioning in the group (by then
// every EPC in it was commissioned).
func (b *docBuilder) commissioning(ctx context.Context, emit func(*epcis.Event) error) error {
	return b.snap.Commissioned(ctx, MaxEPCsPerEvent, func(g *CommissionGroup) error {
		ilmd, err := ilmdFor(g.Lot, g.Expiry)
		if err != nil {
			return fmt.Errorf("%s: %w", g.Items[0].Key(), err)
		}
		site := b.site(g.Station)
		p := b.place(site, "")
		epcs := make([]string, len(g.Items))
		for i, it := range g.Items {
			if epcs[i], err = b.namer.EPC(it); err != nil {
				return err
			}
		}
		return emit(&epcis.Event{Type: epcis.ObjectEvent, EventTime: g.Time.UTC(), EventTimeZoneOffset: b.offset(site, g.Time), EPCList: epcs,
			Action: epcis.ActionAdd, BizStep: epcis.BizStepCommissioning, Disposition: epcis.DispositionActive, ReadPoint: p, BizLocation: p, ILMD: ilmd})
	})
}

// packing writes one packing event per parent.
func (b *docBuilder) packing(ctx context.Context, emit func(*epcis.Event) error) error {
	return b.snap.Packing(ctx, func(g *PackGroup) error {
		pid, err := b.namer.EPC(g.Parent)
		if err != nil {
			return err
		}
		kids := make([]string, len(g.Children))
		for i, c := range g.Children {
			if kids[i], err = b.namer.EPC(c); err != nil {
				return err
			}
		}
		site := b.site(g.Station)
		p := b.place(site, "")
		return emit(&epcis.Event{Type: epcis.AggregationEvent, EventTime: g.Time.UTC(), EventTimeZoneOffset: b.offset(site, g.Time), ParentID: pid,
			ChildEPCs: kids, Action: epcis.ActionAdd, BizStep: epcis.BizStepPacking, Disposition: epcis.DispositionInProgress, ReadPoint: p, BizLocation: p})
	})
}

// shipping returns the shipping event of the shipment.
func (b *docBuilder) shipping() (*epcis.Event, error) {
	return ShippingEvent(b.rec, b.namer, b.locs)
}

// ShippingEvent returns the shipping event of a shipped shipment: its
// picked items observed leaving the ship-from site (readPoint, the dock's
// SGLN when the shipment names one), in transit, with the purchase order
// (urn:epcglobal:cbv:bt:<partner GLN>:<PO>), despatch advice and invoice
// (urn:epcglobal:cbv:bt:<owner GLN>:<number>), and the source (owner and
// ship-from) and destination (partner and ship-to) lists.
func ShippingEvent(rec ShipmentRecord, namer *Namer, locs map[string]Location) (*epcis.Event, error) {
	sh := rec.Shipment
	from, ok := locs[sh.ShipFrom]
	if !ok {
		return nil, station.Errorf(station.EINVALID, "shipment %s: no location master data for ship-from %s", sh.ID, sh.ShipFrom)
	}
	sgln := func(gln string) (string, error) {
		l, ok := locs[gln]
		if !ok {
			return "", station.Errorf(station.EINVALID, "shipment %s: no location master data for %s", sh.ID, gln)
		}
		return l.SGLN("")
	}
	rp, err := from.SGLN(sh.Location)
	if err != nil {
		return nil, err
	}
	owner, err := sgln(sh.Owner)
	if err != nil {
		return nil, err
	}
	fromID, _ := from.SGLN("")
	partner, err := sgln(sh.Partner)
	if err != nil {
		return nil, err
	}
	to, err := sgln(sh.ShipTo)
	if err != nil {
		return nil, err
	}
	if len(rec.Items) == 0 {
		return nil, station.Errorf(station.ECONFLICT, "shipment %s has no items", sh.ID)
	}
	epcs := make([]string, 0, len(rec.Items))
	for _, it := range rec.Items {
		e, err := namer.EPC(it)
		if err != nil {
			return nil, err
		}
		epcs = append(epcs, e)
	}
	at := rec.ShippedAt.UTC()
	ev := &epcis.Event{Type: epcis.ObjectEvent, EventTime: at, EventTimeZoneOffset: from.Offset(at), EPCList: epcs,
		Action: epcis.ActionObserve, BizStep: epcis.BizStepShipping, Disposition: epcis.DispositionInTransit, ReadPoint: &epcis.Place{ID: rp},
		BizTransactionList: []epcis.BizTransaction{{Type: epcis.BizTransactionTypePO, Value: "urn:epcglobal:cbv:bt:" + sh.Partner + ":" + sh.PO}},
		SourceList:         []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: owner}, {Type: epcis.SourceDestTypeLocation, Value: fromID}},
		DestinationList:    []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: partner}, {Type: epcis.SourceDestTypeLocation, Value: to}},
		Extensions:         []epcis.Element{{Space: epcis.NamespaceGS1USHC, Prefix: "gs1ushc", Local: "dropShipment", Text: "false"}},
	}
	if sh.Desadv != "" {
		ev.BizTransactionList = append(ev.BizTransactionList, epcis.BizTransaction{Type: epcis.BizTransactionTypeDesadv, Value: "urn:epcglobal:cbv:bt:" + sh.Owner + ":" + sh.Desadv})
	}
	if sh.Invoice != "" {
		ev.BizTransactionList = append(ev.BizTransactionList, epcis.BizTransaction{Type: epcis.BizTransactionTypeInv, Value: "urn:epcglobal:cbv:bt:" + sh.Owner + ":" + sh.Invoice})
	}
	return ev, nil
}
