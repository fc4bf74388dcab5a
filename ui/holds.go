package ui

import (
	"slices"
	"time"

	"github.com/linestation/linestation/station"
)

// startHoldWatch tells whoever is at the station when the central service
// places a hold or releases one. Holds arrive with the master data at any
// moment, and what they name must be put aside at once. The holds in force
// at start are not announced: they are shown where they matter (the
// warehouse screen's look-up, a refused pick).
func (k *Kiosk) startHoldWatch() {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		var seen map[int64]station.CentralHold
		tick := time.NewTicker(k.d.PollEvery)
		defer tick.Stop()
		for {
			if hs, err := k.svc.CentralHolds(k.ctx); err != nil {
				k.logger.Warn("read central holds", "error", err)
			} else {
				cur := make(map[int64]station.CentralHold, len(hs))
				for _, h := range hs {
					cur[h.ID] = h
				}
				if seen != nil {
					placed, released := holdChanges(seen, cur)
					if len(placed)+len(released) > 0 {
						k.do(func() { k.holdsChanged(placed, released) })
					}
				}
				seen = cur
			}
			select {
			case <-k.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// holdChanges are the holds placed and released from before to now, by id.
func holdChanges(before, now map[int64]station.CentralHold) (placed, released []station.CentralHold) {
	for id, h := range now {
		if _, ok := before[id]; !ok {
			placed = append(placed, h)
		}
	}
	for id, h := range before {
		if _, ok := now[id]; !ok {
			released = append(released, h)
		}
	}
	byID := func(a, b station.CentralHold) int { return int(a.ID - b.ID) }
	slices.SortFunc(placed, byID)
	slices.SortFunc(released, byID)
	return placed, released
}

// holdsChanged says what the central held or released (a new hold first),
// and shows the item on the warehouse screen again with its holds.
func (k *Kiosk) holdsChanged(placed, released []station.CentralHold) {
	if len(placed) > 0 {
		h := placed[0]
		msg := trf("The central service placed a hold on {{.What}} ({{.Reason}}, investigation {{.Investigation}}): do not pick or ship it; put it aside and tell QA.",
			map[string]any{"What": heldWhat(h), "Reason": h.Reason, "Investigation": h.Investigation})
		if len(placed) > 1 {
			msg += " " + trf("(and {{.Count}} more)", map[string]any{"Count": len(placed) - 1})
		}
		k.say(levelWarn, msg)
	} else {
		k.say(levelInfo, trf("The central service released its hold on {{.What}}.", map[string]any{"What": heldWhat(released[0])}))
	}
	if s := k.warehouse; s != nil && s.item != nil {
		s.lookUpThen(s.item.Item.Key(), true)
	}
}

// heldWhat names what a hold is on: a pack, case or pallet, or a lot.
func heldWhat(h station.CentralHold) string {
	if h.Item != "" {
		return h.Item
	}
	return trf("lot {{.Lot}} of GTIN {{.GTIN}}", map[string]any{"Lot": h.Lot, "GTIN": h.GTIN})
}
