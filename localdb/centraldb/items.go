package centraldb

import (
	"encoding/json"

	"github.com/linestation/linestation/station"
)

// itemsOf returns the keys of the items an event's payload names, for event
// types the repository has no projection for: a GTIN with a serial, an SSCC,
// and the same inside the fields parent, item, child, children and items.
func itemsOf(ev *station.Event) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(ev.Payload, &m) != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(it station.Item) {
		if it.Validate() != nil {
			return
		}
		if k := it.Key(); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	var top station.Item
	if json.Unmarshal(ev.Payload, &top) == nil {
		add(top)
	}
	for _, f := range []string{"parent", "item", "child"} {
		var it station.Item
		if raw, ok := m[f]; ok && json.Unmarshal(raw, &it) == nil {
			add(it)
		}
	}
	for _, f := range []string{"children", "items"} {
		var its []station.Item
		if raw, ok := m[f]; ok && json.Unmarshal(raw, &its) == nil {
			for _, it := range its {
				add(it)
			}
		}
	}
	return out
}
