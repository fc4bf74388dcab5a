package station_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

var update = flag.Bool("update", false, "rewrite testdata/events.golden.json from the current code")

// goldenPath holds, for every sample payload below, its canonical bytes,
// the hash of an event carrying it and the event's wire JSON, as computed
// before the append path was optimized. They must never change: the
// journal's hashes and the uplink's wire format depend on them.
const goldenPath = "testdata/events.golden.json"

type golden struct {
	Type    station.EventType `json:"type"`
	Payload string            `json:"payload"` // canonical bytes of the struct
	// FromJSON is the canonical bytes of Payload given as JSON. It differs
	// from Payload only where the struct holds bytes that are not UTF-8:
	// encoding writes them as the escape \ufffd, decoding and encoding
	// again writes U+FFFD itself.
	FromJSON string `json:"from_json"`
	Hash     string `json:"hash"` // of goldenEvent with Payload
	Wire     string `json:"wire"` // goldenEvent as JSON
}

// tricky holds what JSON encoding escapes or replaces: quotes, backslash,
// HTML characters, control characters, U+2028/2029, non-ASCII and a byte
// that is not UTF-8, for free-text fields that take any bytes.
const tricky = "a\"b\\c<d>&e\tf\ng\x01h\u2028i\u2029j é ü 漢 \xff end"

// goldenPayloads returns samples of every catalogue type, some more than
// once (optional fields set and not set).
func goldenPayloads(tb testing.TB) []station.Payload {
	tb.Helper()
	const (
		gtin  = "00300010123455"
		case_ = "10300010123452"
		sscc  = "403000112345678901"
		gln   = "6291041500213"
		hash  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	)
	u := func(s string) station.Item { return station.SGTIN(gtin, s) }
	rec := station.Reconciliation{
		Order: "PO-1", GTIN: gtin, Lot: "LOT-1", Expiry: "280600", Quantity: 100, State: station.OrderCompleted,
		Allocated: 100, Printed: 98, Unused: 2, Commissioned: 95, Rejected: 3, Aggregated: 90, Loose: 5,
		Rejects:             []station.ReasonCount{{Reason: "no_read", Count: 2}, {Reason: "low_grade", Count: 1}},
		DecommissionReasons: []station.ReasonCount{},
		Equations:           []station.Equation{{Name: "printed = commissioned + rejected", Left: 98, Right: 98}},
		Balanced:            true, Yield: 95.0 / 98.0, ExpectedYield: 0.97, Cases: 3, Pallets: 1,
		AsOfSeq: 1234, AsOfHash: hash,
	}
	recHash, err := station.RecordHash(rec)
	if err != nil {
		tb.Fatal(err)
	}
	product := station.Product{
		GTIN: gtin, NDC: "0001-0123-45", Name: "Examplamol 500 mg tablets", DosageForm: "tablet, film coated",
		Strength: "500 mg", NetContent: "30 tablets", Manufacturer: "Example Pharma Inc. <R&D>",
		Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
		Levels: []station.PackagingLevel{
			{Level: station.LevelCase, SSCC: true, Quantity: 40, Extension: 0},
			{Level: station.LevelPallet, SSCC: true, Quantity: 5, Extension: 1},
		},
	}
	return []station.Payload{
		station.PoolReserved{GTIN: gtin, Serials: []string{"A1", "b-2/%", "C&3"}, Source: "central"},
		station.PoolReturned{GTIN: gtin, Serials: []string{"A1"}},
		station.PoolVoided{GTIN: gtin, Serials: []string{"A1", "A2"}, Reason: tricky},
		station.UnitAllocated{GTIN: gtin, Serial: "A1", Order: "PO <1> & \"x\""},
		station.UnitPrinted{GTIN: gtin, Serial: "A1", Device: "printer-1"},
		station.UnitVerified{GTIN: gtin, Serial: "S000000000001", Device: "camera-line1-exit",
			Read: "(01)" + gtin + "(17)270600(10)LOT2026-03-A(21)S000000000001(712)123456789012", Grade: "A"},
		station.UnitVerified{GTIN: gtin, Serial: "A1", Device: "cam", Read: tricky},
		station.UnitCommissioned{GTIN: gtin, Serial: "A1", Device: "camera-1"},
		station.UnitRejected{GTIN: gtin, Serial: "A1", Reason: station.RejectLowGrade, Device: "cam"},
		station.UnitRejected{GTIN: gtin, Serial: "A1", Reason: station.RejectWrongContent, Device: "cam", Detail: tricky},
		station.UnitDecommissioned{GTIN: gtin, Serial: "A1", Reason: station.DecommissionDamaged},
		station.UnitDecommissioned{GTIN: gtin, Serial: "A1", Reason: station.DecommissionReplaced, Detail: "rework 7"},
		station.UnitSampled{GTIN: gtin, Serial: "A1", Purpose: "retention"},
		station.SSCCAllocated{SSCC: sscc, Level: station.LevelPallet},
		station.SSCCAllocated{SSCC: sscc, Level: station.LevelCase, Order: "PO-1"},
		station.AggregationPacked{Parent: station.SSCCItem(sscc), Level: station.LevelCase, Children: []station.Item{u("A1"), u("A2"), station.SGTIN(case_, "C1")}},
		station.AggregationUnpacked{Parent: station.SSCCItem(sscc), Children: []station.Item{u("A1")}, Reason: "rework"},
		station.OrderCreated{Order: "PO-1", GTIN: gtin, Lot: "LOT2026-03-A", Expiry: "270600", Quantity: 100000},
		station.OrderCreated{Order: "PO-2", GTIN: gtin, Lot: "L/1", Expiry: "280200", Quantity: 1, Line: "line 1 <east>", ExpectedYield: 0.985, MinGrade: "B"},
		station.OrderCreated{Order: "PO-3", GTIN: gtin, Lot: "L", Expiry: "280229", Quantity: 3, ExpectedYield: 1e-7},
		station.OrderStateChanged{Order: "PO-1", From: station.OrderRunning, To: station.OrderHeld},
		station.OrderStateChanged{Order: "PO-1", From: station.OrderHeld, To: station.OrderRunning, Reason: tricky},
		station.ClockStepped{From: time.Date(2026, 3, 1, 6, 0, 0, 123456789, time.UTC), To: time.Date(2026, 3, 1, 5, 59, 59, 1000, time.UTC)},
		station.ClockStepped{From: time.Date(2026, 3, 1, 7, 0, 0, 0, time.FixedZone("CET", 3600)), To: time.Date(2026, 3, 1, 5, 0, 0, 500, time.UTC)},
		station.UnitVoided{GTIN: gtin, Serials: []string{"A1", "A2"}, Order: "PO-1", Reason: "torn label"},
		station.ProductDefined{Product: product},
		station.UserDefined{User: station.User{ID: "op1", Name: "Ana Müller", Roles: []station.Role{station.RoleOperator, station.RoleQA}, Active: true}},
		station.UserDefined{User: station.User{ID: "sup1", Name: "Bo <Sup>", Roles: []station.Role{station.RoleSupervisor}, Badge: "B-0042", Language: "de"}},
		station.UserCredentialSet{User: "op1", Kind: station.CredentialPIN, Hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
		station.UserSignedIn{User: "op1", Method: "badge"},
		station.UserSignInFailed{User: "nobody <x>", Reason: "unknown user"},
		station.UserLocked{User: "op1", Reason: "5 failed attempts"},
		station.UserUnlocked{User: "op1", Reason: "identity checked"},
		station.SignatureRecorded{Signer: "sup1", Name: "Bo Sup", Role: station.RoleSupervisor, Meaning: station.MeaningClosed,
			Reason: "reviewed & balanced", Subject: "close order PO-1", Hash: hash},
		station.AggregationOpened{Parent: station.SSCCItem(sscc), Level: station.LevelPallet, Order: "PO-1", Capacity: 5},
		station.AggregationClosed{Parent: station.SSCCItem(sscc), Level: station.LevelPallet, Count: 5},
		station.AggregationClosed{Parent: station.SGTIN(case_, "C1"), Level: station.LevelCase, Count: 3, Partial: true, Device: "zpl-1"},
		station.OrderReconciled{Order: "PO-1", Hash: recHash, Record: rec},
		station.ShipmentCreated{Shipment: station.Shipment{ID: "SH-1", ShipFrom: gln, Owner: gln, ShipTo: gln, Partner: gln, PO: "PO-9",
			Name: "Pharmacy & Co <Süd>", Comment: "fragile", Carrier: "DHL"}},
		station.ShipmentPicked{Shipment: "SH-1", Items: []station.Item{station.SSCCItem(sscc), u("A9")}},
		station.ShipmentUnpicked{Shipment: "SH-1", Items: []station.Item{u("A9")}, Reason: "wrong item"},
		station.ShipmentPacked{Shipment: "SH-1"},
		station.ShipmentShipped{Shipment: "SH-1"},
		station.StockReceived{Items: []station.Item{station.SSCCItem(sscc)}, From: gln},
		station.StockReceived{Items: []station.Item{u("A1")}, From: gln, Document: "DESADV-7"},
		station.StockReturned{Items: []station.Item{u("A1")}, From: gln, Reason: "damaged in transit"},
		station.StockQuarantined{Items: []station.Item{u("A1"), u("A2")}, Reason: "suspect"},
		station.StockReleased{Items: []station.Item{u("A1")}, Reason: "QA released"},
		station.InboundReceived{Receipt: 7, Capture: "cj-0190b2c4", Document: "WH-DOC-1", Partner: "mfr", From: gln, PO: "PO-9", Location: gln,
			Items: []station.Item{station.SSCCItem(sscc), u("X9")}, Units: 16, Received: 15, Missing: 1, Unexpected: 1,
			Report: "5b0f4c1e-8f3a-4d2b-9c1e-2a7b6e0f9a11"},
		station.SSCCRangeReceived{Prefix: "0300012", First: 20000, Last: 29999, Block: 3},
		station.StockHeld{Hold: 12, Investigation: 4, Item: station.SSCCItem(sscc), Reason: station.HoldSuspect, By: "erp:qa <Ana>"},
		station.StockHeld{Hold: 13, Investigation: 4, GTIN: gtin, Lot: "LOT2026-03-A", Reason: station.HoldIllegitimate, By: "erp:qa"},
		station.StockHoldReleased{Hold: 12, Investigation: 4, By: "erp:qa"},
	}
}

// goldenEvent is the envelope each sample is hashed in; the zone, the
// negative offset and the large seq exercise every field's encoding.
func goldenEvent(i int, typ station.EventType, payload []byte) station.Event {
	return station.Event{
		Seq: int64(i)*1_000_003 + 1, ID: "0190b2c4-d5e6-7abc-8def-0123456789ab", Station: "line-1", Type: typ,
		Payload: payload, Time: time.Date(2026, 3, 1, 7, 0, 0, i*37, time.FixedZone("CET", 3600)),
		ClockOffset: time.Duration(-1500*i - 1), ClockState: station.ClockDegraded, User: "op1 é",
		PrevHash: strings.Repeat("0123456789abcdef", 4),
	}
}

// TestEvent_Golden proves that the canonical payload bytes of every event
// type, whichever way the payload is given (struct, pointer, stored JSON,
// JSON in another key order and spacing), the event hash and the event's
// wire JSON are byte for byte what they were before the append path was
// optimized.
func TestEvent_Golden(t *testing.T) {
	samples := goldenPayloads(t)
	covered := map[station.EventType]bool{}
	var got []golden
	for i, p := range samples {
		typ, canon, dec, err := station.CanonicalPayload("", p)
		if err != nil {
			t.Fatalf("sample %d (%T): %v", i, p, err)
		}
		covered[typ] = true
		if dec.EventType() != typ {
			t.Errorf("sample %d: decoded %T for %s", i, dec, typ)
		}
		ev := goldenEvent(i, typ, canon)
		ev.Hash = ev.ComputeHash()
		wire, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		_, fromJSON, _, err := station.CanonicalPayload(typ, json.RawMessage(canon))
		if err != nil {
			t.Fatalf("sample %d (%s) as JSON: %v", i, typ, err)
		}
		got = append(got, golden{Type: typ, Payload: string(canon), FromJSON: string(fromJSON), Hash: ev.Hash, Wire: string(wire)})
	}
	for _, typ := range station.EventTypes() {
		if !covered[typ] {
			t.Errorf("no golden sample of %s", typ)
		}
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var want []golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(samples) {
		t.Fatalf("%d golden records for %d samples", len(want), len(samples))
	}
	for i, p := range samples {
		w := want[i]
		if got[i] != w {
			t.Errorf("sample %d (%s):\n got %+v\nwant %+v", i, w.Type, got[i], w)
			continue
		}
		// The same bytes from a pointer, from the stored JSON and from
		// JSON with its keys in another order and other spacing.
		var generic map[string]any
		if err := json.Unmarshal([]byte(w.Payload), &generic); err != nil {
			t.Fatal(err)
		}
		reordered, err := json.MarshalIndent(generic, " ", "   ") // encoding/json sorts map keys
		if err != nil {
			t.Fatal(err)
		}
		for name, in := range map[string]struct {
			typ  station.EventType
			v    any
			want string
		}{
			"pointer":   {"", asPointer(p), w.Payload},
			"typed":     {w.Type, p, w.Payload},
			"stored":    {w.Type, json.RawMessage(w.Payload), w.FromJSON},
			"bytes":     {w.Type, []byte(w.Payload), w.FromJSON},
			"reordered": {w.Type, json.RawMessage(reordered), w.FromJSON},
			"canonical": {w.Type, json.RawMessage(w.FromJSON), w.FromJSON},
		} {
			typ, canon, _, err := station.CanonicalPayload(in.typ, in.v)
			if err != nil || typ != w.Type || string(canon) != in.want {
				t.Errorf("sample %d (%s) given as %s: %s %s %v, want %s", i, w.Type, name, typ, canon, err, in.want)
			}
		}
		// What the journal stores verifies against the golden hash.
		ev := goldenEvent(i, w.Type, []byte(w.Payload))
		if h := ev.ComputeHash(); h != w.Hash {
			t.Errorf("sample %d (%s): hash of the stored payload %s, want %s", i, w.Type, h, w.Hash)
		}
	}
}

// asPointer returns a pointer to a copy of the payload struct p.
func asPointer(p station.Payload) station.Payload {
	_, _, dec, err := station.CanonicalPayload("", p)
	if err != nil {
		panic(err)
	}
	return dec
}

// benchEvent is a unit.verified event as the ledger hashes it.
func benchEvent(b *testing.B) station.Event {
	_, canon, _, err := station.CanonicalPayload("", benchVerified())
	if err != nil {
		b.Fatal(err)
	}
	return station.Event{Seq: 123456, ID: "0190b2c4-d5e6-7abc-8def-0123456789ab", Station: "line-1", Type: station.EventUnitVerified,
		Payload: canon, Time: time.Date(2026, 3, 1, 6, 0, 0, 123456789, time.UTC), ClockOffset: 1500 * time.Microsecond,
		ClockState: station.ClockSynced, User: "op1", PrevHash: strings.Repeat("0123456789abcdef", 4)}
}

func benchVerified() station.UnitVerified {
	return station.UnitVerified{GTIN: "00300010123455", Serial: "S000000000001", Device: "camera-line1-exit",
		Read: "(01)00300010123455(17)270600(10)LOT2026-03-A(21)S000000000001(712)123456789012", Grade: "A"}
}

// BenchmarkEvent_ComputeHash hashes a unit.verified event, as the ledger's
// writer does for every event it appends.
func BenchmarkEvent_ComputeHash(b *testing.B) {
	ev := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = ev.ComputeHash()
	}
}

// BenchmarkCanonicalPayload validates and encodes a unit.verified payload
// given as a struct, as every caller of Append does.
func BenchmarkCanonicalPayload(b *testing.B) {
	p := benchVerified()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := station.CanonicalPayload("", p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewEventID makes the id of an event.
func BenchmarkNewEventID(b *testing.B) {
	t := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = station.NewEventID(t)
	}
}

// TestFormatTime: the canonical time is what time's own formatting gives
// for the layout, for any instant and zone, including years it leaves to
// time.
func TestFormatTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("X", -(9*3600 + 30*60 + 17))}
	check := func(tm time.Time) {
		t.Helper()
		if got, want := station.FormatTime(tm), tm.UTC().Format(station.TimeFormat); got != want {
			t.Fatalf("FormatTime(%v) = %s, want %s", tm, got, want)
		}
	}
	for _, tm := range []time.Time{
		{}, time.Unix(0, 0), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 1, time.UTC), time.Date(2026, 3, 1, 6, 0, 0, 123456789, time.UTC),
	} {
		for _, z := range zones {
			check(tm.In(z))
		}
	}
	// Instants spread over years 1 to 9999, at random nanoseconds.
	seed := uint64(1)
	for i := 0; i < 100000; i++ {
		seed = seed*6364136223846793005 + 1442695040888963407
		tm := time.Unix(int64(seed>>1)%253370764800-62135596800, int64(seed%1_000_000_000))
		check(tm.In(zones[i%len(zones)]))
	}
}
