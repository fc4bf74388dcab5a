package dscsa

import (
	"context"
	"fmt"
	"strconv"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
)

// followed are the station event types the exchange learns from.
var followed = []station.EventType{
	station.EventShipmentCreated, station.EventShipmentPicked, station.EventShipmentUnpicked, station.EventShipmentPacked,
	station.EventShipmentShipped, station.EventStockReceived, station.EventStockReturned, station.EventUnitDecommissioned,
}

// journalWindow is how many feed positions one step of Sync covers.
const journalWindow = 5000

// Sync follows the station journals the central holds up to their end:
// shipments (created, picked, packed, shipped: a shipped one gets a
// delivery of its document), and EPCIS events for receipts, returns and
// decommissioning. Each window of the feed is applied atomically with the
// cursor, so a crash repeats nothing and loses nothing.
func (x *Exchange) Sync(ctx context.Context) error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	var namer *Namer
	var locs map[string]Location
	for {
		from, err := x.store.JournalCursor(ctx)
		if err != nil {
			return err
		}
		evs, to, err := x.store.JournalWindow(ctx, from, journalWindow, followed)
		if err != nil {
			return err
		}
		if to <= from {
			return nil
		}
		if namer == nil && len(evs) > 0 {
			if namer, err = x.products(ctx, true); err != nil {
				return err
			}
			all, err := x.store.Locations(ctx)
			if err != nil {
				return err
			}
			locs = map[string]Location{}
			for _, l := range all {
				locs[l.GLN] = l
				for _, s := range l.Stations {
					locs["station:"+s] = l
				}
			}
		}
		ch := x.translate(evs, namer, locs)
		if err := x.store.ApplyJournal(ctx, from, to, ch); err != nil {
			if isConflict(err) {
				// Another follower (a tool on the same store) moved the
				// cursor: read it again.
				continue
			}
			return fmt.Errorf("follow station journals from feed %d to %d: %w", from, to, err)
		}
		shipped := 0
		for _, c := range ch.Shipments {
			if c.Kind == ShipmentShipped {
				shipped++
			}
		}
		if shipped > 0 {
			x.Notify()
		}
	}
}

func isConflict(err error) bool { return station.ErrorCode(err) == station.ECONFLICT }

// translate turns station events into shipment changes and EPCIS events.
// An event that cannot be translated (a product unknown here) is logged
// and skipped: the station's journal stays the record.
func (x *Exchange) translate(evs []uplink.FeedEvent, namer *Namer, locs map[string]Location) *JournalChanges {
	ch := &JournalChanges{}
	for i := range evs {
		fe := &evs[i]
		ev := &fe.Event
		pl, err := station.DecodePayload(ev.Type, ev.Payload)
		if err != nil {
			x.logger.Warn("station event not understood", "station", ev.Station, "seq", ev.Seq, "error", err)
			continue
		}
		sc := ShipmentChange{Feed: fe.Cursor, Station: ev.Station, Time: ev.Time}
		switch p := pl.(type) {
		case *station.ShipmentCreated:
			sc.Kind, sc.ID, sc.Shipment = ShipmentCreated, p.Shipment.ID, p.Shipment
		case *station.ShipmentPicked:
			sc.Kind, sc.ID, sc.Items = ShipmentPicked, p.Shipment, p.Items
		case *station.ShipmentUnpicked:
			sc.Kind, sc.ID, sc.Items = ShipmentUnpicked, p.Shipment, p.Items
		case *station.ShipmentPacked:
			sc.Kind, sc.ID = ShipmentPacked, p.Shipment
		case *station.ShipmentShipped:
			sc.Kind, sc.ID, sc.DocumentID = ShipmentShipped, p.Shipment, p.Shipment
		default:
			e := x.derive(ev, pl, namer, locs)
			if e != nil {
				ch.Events = append(ch.Events, NewStoredEvent(e, SourceStation, ev.Station+":"+strconv.FormatInt(ev.Seq, 10), "", x.now()))
			}
			continue
		}
		ch.Shipments = append(ch.Shipments, sc)
	}
	return ch
}

// derive returns the EPCIS event of a warehouse event of a station, nil
// when there is none or it cannot be written.
func (x *Exchange) derive(ev *station.Event, pl station.Payload, namer *Namer, locs map[string]Location) *epcis.Event {
	site, hasSite := locs["station:"+ev.Station]
	e := &epcis.Event{Type: epcis.ObjectEvent, EventTime: ev.Time.UTC(), EventTimeZoneOffset: "+00:00"}
	if hasSite {
		e.EventTimeZoneOffset = site.Offset(ev.Time)
		id, _ := site.SGLN("")
		e.ReadPoint, e.BizLocation = &epcis.Place{ID: id}, &epcis.Place{ID: id}
	}
	epcsOf := func(items []station.Item) []string {
		var out []string
		for _, it := range items {
			epc, err := namer.EPC(it)
			if err != nil {
				x.logger.Warn("station event not written as EPCIS", "station", ev.Station, "seq", ev.Seq, "error", err)
				return nil
			}
			out = append(out, epc)
		}
		return out
	}
	from := func(gln string) {
		if l, ok := locs[gln]; ok {
			id, _ := l.SGLN("")
			e.SourceList = []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: id}}
			if hasSite {
				e.DestinationList = []epcis.SourceDest{{Type: epcis.SourceDestTypeLocation, Value: e.BizLocation.ID}}
			}
		}
	}
	switch p := pl.(type) {
	case *station.StockReceived:
		e.EPCList = epcsOf(p.Items)
		e.Action, e.BizStep, e.Disposition = epcis.ActionObserve, epcis.BizStepReceiving, epcis.DispositionInProgress
		from(p.From)
	case *station.StockReturned:
		e.EPCList = epcsOf(p.Items)
		e.Action, e.BizStep, e.Disposition = epcis.ActionObserve, epcis.BizStepReceiving, epcis.DispositionReturned
		from(p.From)
	case *station.UnitDecommissioned:
		e.EPCList = epcsOf([]station.Item{station.SGTIN(p.GTIN, p.Serial)})
		e.Action, e.BizStep, e.Disposition = epcis.ActionDelete, epcis.BizStepDecommissioning, epcis.DispositionInactive
		switch p.Reason {
		case station.DecommissionDestroyed:
			e.BizStep, e.Disposition = epcis.BizStepDestroying, epcis.DispositionDestroyed
		case station.DecommissionStolen:
			e.Disposition = epcis.DispositionStolen
		case station.DecommissionRecalled:
			e.Disposition = epcis.DispositionRecalled
		case station.DecommissionExpired:
			e.Disposition = epcis.DispositionExpired
		}
	default:
		return nil
	}
	if len(e.EPCList) == 0 {
		return nil
	}
	return e
}
