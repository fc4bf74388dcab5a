package localdb

// Tests of the station journal types (station/event.go, station/events.go)
// that the ledger relies on. They live here because the brief of this
// change owns those files but not a station test file; move them to
// station/event_test.go when convenient.

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

func testEvent() station.Event {
	e := station.Event{
		Seq: 7, ID: "0190b2c4-0000-7000-8000-000000000001", Station: testStation, Type: station.EventUnitPrinted,
		Payload: json.RawMessage(`{"gtin":"00300010123455","serial":"A1","device":"p"}`),
		Time:    time.Date(2026, 3, 1, 6, 0, 0, 123, time.UTC), ClockOffset: -1500, ClockState: station.ClockSynced,
		User: testUser, PrevHash: strings.Repeat("1", 64),
	}
	e.Hash = e.ComputeHash()
	return e
}

func TestEvent_ComputeHash(t *testing.T) {
	e := testEvent()
	if got := e.ComputeHash(); got != e.Hash || len(got) != 64 {
		t.Fatalf("hash not stable: %s then %s", e.Hash, got)
	}
	// Changing any hashed field changes the hash; the stored hash itself
	// is not an input.
	for name, mutate := range map[string]func(*station.Event){
		"Seq":     func(e *station.Event) { e.Seq++ },
		"ID":      func(e *station.Event) { e.ID = strings.Replace(e.ID, "1", "2", 1) },
		"Station": func(e *station.Event) { e.Station = "line-2" },
		"Type":    func(e *station.Event) { e.Type = station.EventUnitCommissioned },
		"Payload": func(e *station.Event) {
			e.Payload = json.RawMessage(`{"gtin":"00300010123455","serial":"A2","device":"p"}`)
		},
		"Time":        func(e *station.Event) { e.Time = e.Time.Add(time.Nanosecond) },
		"ClockOffset": func(e *station.Event) { e.ClockOffset++ },
		"ClockState":  func(e *station.Event) { e.ClockState = station.ClockDegraded },
		"User":        func(e *station.Event) { e.User = "op2" },
		"PrevHash":    func(e *station.Event) { e.PrevHash = strings.Repeat("2", 64) },
		// Moving bytes between adjacent fields must not give the same
		// input: the length prefixes keep fields apart.
		"Boundary": func(e *station.Event) { e.Station, e.ID = e.Station+e.ID[:1], e.ID[1:] },
	} {
		m := testEvent()
		mutate(&m)
		if m.ComputeHash() == e.Hash {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	m := testEvent()
	m.Hash = strings.Repeat("f", 64)
	if m.ComputeHash() != e.Hash {
		t.Errorf("the stored hash is part of its own input")
	}
	// A time in another zone is the same instant: same hash.
	m = testEvent()
	m.Time = m.Time.In(time.FixedZone("X", 3600))
	if m.ComputeHash() != e.Hash {
		t.Errorf("the hash depends on the time zone")
	}
}

func TestEvent_ParseTime(t *testing.T) {
	tm := time.Date(2026, 3, 1, 6, 0, 0, 1, time.UTC)
	s := station.FormatTime(tm)
	if s != "2026-03-01T06:00:00.000000001Z" {
		t.Fatalf("FormatTime = %s", s)
	}
	if got, err := station.ParseTime(s); err != nil || !got.Equal(tm) {
		t.Fatalf("ParseTime(%s) = %v, %v", s, got, err)
	}
	for _, bad := range []string{"2026-03-01T06:00:00Z", "2026-03-01T07:00:00.000000001+01:00", "2026-03-01 06:00:00.000000001Z", ""} {
		if _, err := station.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted a non-canonical time", bad)
		}
	}
}

func TestEvent_NewEventID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		id := station.NewEventID(t0.Add(time.Duration(i) * time.Millisecond))
		if !re.MatchString(id) {
			t.Fatalf("id %q is not a UUID v7", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		if id[:13] < prev {
			t.Fatalf("ids for later times sort earlier: %s after %s", id, prev)
		}
		prev = id[:13]
	}
	// The first 48 bits are the Unix milliseconds.
	if got := station.NewEventID(time.UnixMilli(0x0190b2c4d5e6)); got[:13] != "0190b2c4-d5e6" {
		t.Fatalf("id %s does not start with the time", got)
	}
}

func TestItem_Key(t *testing.T) {
	for _, it := range []station.Item{
		station.SGTIN(testGTIN, "A(1)"), station.SGTIN(testGTIN, "(21)x"), station.SSCCItem(testSSCC),
	} {
		got, err := station.ParseItemKey(it.Key())
		if err != nil || got != it {
			t.Errorf("ParseItemKey(%s) = %+v, %v; want %+v", it.Key(), got, err, it)
		}
	}
	for _, bad := range []string{"", "(01)123(21)x", "(00)12345", "(02)" + testGTIN + "(21)x", "(01)" + testGTIN + "(21)"} {
		if _, err := station.ParseItemKey(bad); station.ErrorCode(err) != station.EINVALID {
			t.Errorf("ParseItemKey(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestPayload_Validate(t *testing.T) {
	ok := []station.Payload{
		station.PoolReserved{GTIN: testGTIN, Serials: []string{"A", "b-1/%"}, Source: "central"},
		station.PoolVoided{GTIN: testGTIN, Serials: []string{"A"}, Reason: "damaged roll"},
		station.UnitAllocated{GTIN: testGTIN, Serial: "A", Order: "PO 1"},
		station.UnitVerified{GTIN: testGTIN, Serial: "A", Device: "cam", Read: "(01)x", Grade: ""},
		station.UnitRejected{GTIN: testGTIN, Serial: "A", Reason: station.RejectDuplicate, Device: "cam"},
		station.UnitDecommissioned{GTIN: testGTIN, Serial: "A", Reason: station.DecommissionReplaced},
		station.SSCCAllocated{SSCC: testSSCC, Level: station.LevelPallet},
		station.AggregationPacked{Parent: station.SSCCItem(testSSCC), Level: station.LevelPallet, Children: []station.Item{station.SGTIN(testCaseGTIN, "C1")}},
		station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L/1", Expiry: "280200", Quantity: 1},
		station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L", Expiry: "280229", Quantity: 1},
		station.OrderStateChanged{Order: "PO-1", From: station.OrderRunning, To: station.OrderHeld},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%T %+v: %v", p, p, err)
		}
	}
	bad := map[string]station.Payload{
		"gtin check digit":     station.UnitPrinted{GTIN: "00300010123454", Serial: "A", Device: "p"},
		"gtin length":          station.UnitPrinted{GTIN: "0300010123455", Serial: "A", Device: "p"},
		"serial cset82":        station.UnitPrinted{GTIN: testGTIN, Serial: "A B", Device: "p"},
		"serial empty":         station.UnitPrinted{GTIN: testGTIN, Serial: "", Device: "p"},
		"no device":            station.UnitPrinted{GTIN: testGTIN, Serial: "A", Device: ""},
		"grade":                station.UnitVerified{GTIN: testGTIN, Serial: "A", Device: "cam", Read: "x", Grade: "G"},
		"no read":              station.UnitVerified{GTIN: testGTIN, Serial: "A", Device: "cam"},
		"reject reason":        station.UnitRejected{GTIN: testGTIN, Serial: "A", Reason: "", Device: "cam"},
		"decommission reason":  station.UnitDecommissioned{GTIN: testGTIN, Serial: "A", Reason: "lost"},
		"pool source":          station.PoolReserved{GTIN: testGTIN, Serials: []string{"A"}},
		"pool empty":           station.PoolReturned{GTIN: testGTIN},
		"pool duplicate":       station.PoolReserved{GTIN: testGTIN, Serials: []string{"A", "A"}, Source: "local"},
		"void reason":          station.PoolVoided{GTIN: testGTIN, Serials: []string{"A"}},
		"sscc check digit":     station.SSCCAllocated{SSCC: "403000112345678902", Level: station.LevelCase},
		"sscc level":           station.SSCCAllocated{SSCC: testSSCC, Level: "crate"},
		"own child":            station.AggregationPacked{Parent: station.SSCCItem(testSSCC), Level: station.LevelCase, Children: []station.Item{station.SSCCItem(testSSCC)}},
		"child twice":          station.AggregationPacked{Parent: station.SSCCItem(testSSCC), Level: station.LevelCase, Children: []station.Item{station.SGTIN(testGTIN, "A"), station.SGTIN(testGTIN, "A")}},
		"no children":          station.AggregationUnpacked{Parent: station.SSCCItem(testSSCC), Reason: "x"},
		"item both":            station.AggregationPacked{Parent: station.Item{GTIN: testGTIN, Serial: "A", SSCC: testSSCC}, Level: station.LevelCase, Children: []station.Item{station.SGTIN(testGTIN, "B")}},
		"expiry month":         station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L", Expiry: "271300", Quantity: 1},
		"expiry day":           station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L", Expiry: "270231", Quantity: 1},
		"quantity":             station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: "L", Expiry: "270600", Quantity: 0},
		"lot too long":         station.OrderCreated{Order: "PO-1", GTIN: testGTIN, Lot: strings.Repeat("L", 21), Expiry: "270600", Quantity: 1},
		"order id control":     station.UnitAllocated{GTIN: testGTIN, Serial: "A", Order: "PO\n1"},
		"state unknown":        station.OrderStateChanged{Order: "PO-1", From: station.OrderRunning, To: "paused"},
		"state same":           station.OrderStateChanged{Order: "PO-1", From: station.OrderHeld, To: station.OrderHeld},
		"clock step not back":  station.ClockStepped{From: time.Unix(0, 0), To: time.Unix(1, 0)},
		"sampled no purpose":   station.UnitSampled{GTIN: testGTIN, Serial: "A"},
		"unpack reason":        station.AggregationUnpacked{Parent: station.SSCCItem(testSSCC), Children: []station.Item{station.SGTIN(testGTIN, "A")}},
		"reject detail length": station.UnitRejected{GTIN: testGTIN, Serial: "A", Reason: station.RejectNoRead, Device: "cam", Detail: strings.Repeat("x", 201)},
	}
	for name, p := range bad {
		if err := p.Validate(); station.ErrorCode(err) != station.EINVALID {
			t.Errorf("%s: Validate = %v, want EINVALID", name, err)
		}
	}
}

// TestCanonicalPayload: a struct, a pointer to it and JSON of it in any key
// order and spacing are stored as the same bytes, and every catalogue type
// round-trips through NewPayload and DecodePayload.
func TestCanonicalPayload(t *testing.T) {
	p := station.UnitRejected{GTIN: testGTIN, Serial: "A", Reason: station.RejectLowGrade, Device: "cam"}
	want := `{"gtin":"00300010123455","serial":"A","reason":"low_grade","device":"cam"}`
	for _, tt := range []struct {
		typ station.EventType
		in  any
	}{
		{"", p},
		{"", &p},
		{station.EventUnitRejected, p},
		{station.EventUnitRejected, json.RawMessage(`{"device":"cam", "reason":"low_grade","serial":"A","gtin":"00300010123455"}`)},
		{station.EventUnitRejected, []byte(want)},
	} {
		typ, raw, dec, err := station.CanonicalPayload(tt.typ, tt.in)
		if err != nil || typ != station.EventUnitRejected || string(raw) != want || !reflect.DeepEqual(dec, &p) {
			t.Errorf("%T: %s %s %+v %v", tt.in, typ, raw, dec, err)
		}
	}
	for _, typ := range station.EventTypes() {
		p, err := station.NewPayload(typ)
		if err != nil || p.EventType() != typ {
			t.Errorf("NewPayload(%s) = %T, %v", typ, p, err)
		}
	}
	for name, raw := range map[string]string{
		"trailing":   want + `{}`,
		"unknown":    `{"gtin":"00300010123455","serial":"A","reason":"low_grade","device":"cam","extra":1}`,
		"not json":   `gtin=1`,
		"wrong kind": `{"gtin":14}`,
	} {
		if _, err := station.DecodePayload(station.EventUnitRejected, []byte(raw)); station.ErrorCode(err) != station.EINVALID {
			t.Errorf("%s: DecodePayload = %v, want EINVALID", name, err)
		}
	}
	if _, _, _, err := station.CanonicalPayload(station.EventUnitRejected, map[string]string{"gtin": testGTIN}); station.ErrorCode(err) != station.EINVALID {
		t.Errorf("a map payload: %v, want EINVALID", err)
	}
}

func TestChainChecker(t *testing.T) {
	mk := func(seq int64, prev string, tm time.Time) station.Event {
		e := testEvent()
		e.Seq, e.PrevHash, e.Time = seq, prev, tm
		e.Hash = e.ComputeHash()
		return e
	}
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	e1 := mk(1, station.GenesisHash, t0)
	e2 := mk(2, e1.Hash, t0.Add(time.Second))
	e3 := mk(3, e2.Hash, t0.Add(2*time.Second))
	var c station.ChainChecker
	for _, e := range []station.Event{e1, e2, e3} {
		if err := c.Check(&e); err != nil {
			t.Fatalf("seq %d: %v", e.Seq, err)
		}
	}
	// Checking a suffix from a known head (as the central service would).
	c = station.ChainChecker{Prev: station.Head{Seq: 2, Hash: e2.Hash, Time: e2.Time}}
	if err := c.Check(&e3); err != nil {
		t.Fatalf("suffix: %v", err)
	}
	for name, tt := range map[string]struct {
		evs  []station.Event
		seq  int64
		want string
	}{
		"WrongGenesis":  {[]station.Event{mk(1, strings.Repeat("1", 64), t0)}, 1, "prev_hash"},
		"Gap":           {[]station.Event{e1, e3}, 2, "missing"},
		"Repeat":        {[]station.Event{e1, e2, e2}, 2, "out of order"},
		"OtherStation":  {[]station.Event{e1, func() station.Event { e := e2; e.Station = "x"; e.Hash = e.ComputeHash(); return e }()}, 2, "station"},
		"TimeBackwards": {[]station.Event{e1, mk(2, e1.Hash, t0.Add(-time.Second))}, 2, "time goes backwards"},
	} {
		var c station.ChainChecker
		var err error
		for i := range tt.evs {
			if err = c.Check(&tt.evs[i]); err != nil {
				break
			}
		}
		var brk *station.ChainBreak
		if !errors.As(err, &brk) || brk.Seq != tt.seq || !strings.Contains(brk.Reason, tt.want) {
			t.Errorf("%s: %v, want a break at seq %d with %q", name, err, tt.seq, tt.want)
		}
	}
}
