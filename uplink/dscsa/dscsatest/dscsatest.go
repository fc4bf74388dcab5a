// Package dscsatest helps the tests and benchmarks of the DSCSA exchange:
// validators for what it produces (the EPCIS 1.2 XSD through xmllint, the
// EPCIS 2.0 JSON schema, the PDG exception report schema), the parties and
// sites of a manufacturer and a wholesaler, and realistic station journals
// of a packaging line that commissions, aggregates and ships, ingested into
// a real central store.
package dscsatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis/epcistest"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

// Standards returns the shared folder of official files (../shared/standards
// next to the module).
func Standards(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("dscsatest: cannot locate the module")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dir := filepath.Join(root, "..", "shared", "standards")
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("dscsatest: the shared standards folder %s is missing: %v", dir, err)
	}
	return dir
}

// MustXSDValid validates an EPCIS 1.2 XML document with xmllint against the
// EPCIS 1.2 XSD (with SBDH and master data).
func MustXSDValid(tb testing.TB, doc []byte) {
	tb.Helper()
	xmllint := stationtest.RequireCommand(tb, "xmllint", "apt-get install libxml2-utils")
	xsd := filepath.Join(Standards(tb), "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd")
	path := filepath.Join(tb.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--huge", "--schema", xsd, path).CombinedOutput()
	if err != nil {
		tb.Fatalf("xmllint rejects the EPCIS 1.2 document: %v\n%s\n--- document ---\n%s", err, clip(out, 3000), clip(doc, 4000))
	}
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "\n..."
	}
	return string(b)
}

var (
	schemaOnce sync.Once
	epcisJSON  *jsonschema.Schema
	pdgReport  *jsonschema.Schema
	schemaErr  error
)

func compileSchemas(std string) {
	if epcisJSON, schemaErr = epcistest.CompileJSONSchema(filepath.Join(std, "epcis-2.0/json-schema")); schemaErr != nil {
		return
	}
	pc := jsonschema.NewCompiler()
	pdgReport, schemaErr = pc.Compile(filepath.Join(std, "dscsa/pdg-exceptions/report_schema.json"))
}

func schemas(tb testing.TB) {
	tb.Helper()
	std := Standards(tb)
	schemaOnce.Do(func() { compileSchemas(std) })
	if schemaErr != nil {
		tb.Fatalf("compile schemas: %v", schemaErr)
	}
}

// MustJSONValid validates an EPCIS 2.0 JSON-LD document (or query
// document) against the EPCIS 2.0 JSON schema.
func MustJSONValid(tb testing.TB, doc []byte) {
	tb.Helper()
	schemas(tb)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		tb.Fatalf("the JSON-LD document is not JSON: %v\n%s", err, clip(doc, 3000))
	}
	if err := epcisJSON.Validate(v); err != nil {
		tb.Fatalf("the EPCIS 2.0 JSON schema rejects the document: %v\n%s", err, clip(doc, 3000))
	}
}

// MustPDGReport validates an exception report against the Partnership for
// DSCSA Governance report_schema.json.
func MustPDGReport(tb testing.TB, doc []byte) {
	tb.Helper()
	schemas(tb)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		tb.Fatalf("the exception report is not JSON: %v\n%s", err, clip(doc, 3000))
	}
	if err := pdgReport.Validate(v); err != nil {
		tb.Fatalf("the PDG report schema rejects the exception report: %v\n%s", err, clip(doc, 3000))
	}
}

// GLN returns the GLN of 12 digits with its check digit.
func GLN(digits12 string) string {
	g, err := gs1.AppendCheckDigit(digits12)
	if err != nil {
		panic(err) // fixtures: cannot happen
	}
	return g
}

// The parties of the fixtures: a manufacturer (company prefix 030001, the
// products' prefix) with its plant, and a wholesaler (prefix 039999) with
// its distribution centre.
var (
	MfrGLN  = GLN("030001000001") // the manufacturer (owning party)
	MfrSite = GLN("030001000002") // its plant and warehouse (ship-from), where station line-1 works
	WhsGLN  = GLN("039999000001") // the wholesaler
	WhsDC   = GLN("039999345678") // its distribution centre (ship-to)
)

// Locations returns the master data of the fixtures' four locations; the
// plant lists the stations working there.
func Locations(stations ...string) []dscsa.Location {
	return []dscsa.Location{
		{GLN: MfrGLN, CompanyPrefixLength: 6, Name: "Test Pharma Inc.", StreetAddressOne: "1 Biopharm Ct", City: "Thousand Oaks", State: "CA", PostalCode: "91320", CountryCode: "US"},
		{GLN: MfrSite, CompanyPrefixLength: 6, Name: "Test Pharma Plant", StreetAddressOne: "2806 Agoura Rd", City: "Westlake Village", State: "CA", PostalCode: "91361", CountryCode: "US",
			TimeZone: "America/Los_Angeles", Stations: stations},
		{GLN: WhsGLN, CompanyPrefixLength: 6, Name: "Test Drug Distributor", StreetAddressOne: "230 Park Ave S", City: "New York", State: "NY", PostalCode: "10003-1502", CountryCode: "US"},
		{GLN: WhsDC, CompanyPrefixLength: 6, Name: "Test Drug Distributor DC", StreetAddressOne: "1 Warehouse Way", City: "Edison", State: "NJ", PostalCode: "08817", CountryCode: "US",
			TimeZone: "America/New_York"},
	}
}

// Shipment returns a shipment from the manufacturer's plant to the wholesaler's DC.
func Shipment(id string) station.Shipment {
	return station.Shipment{ID: id, ShipFrom: MfrSite, Owner: MfrGLN, ShipTo: WhsDC, Partner: WhsGLN, PO: "PO-" + id, Desadv: "DA-" + id,
		Name: "Test Drug Distributor"}
}

// Scenario is a line's production of one order, aggregated and shipped:
// Units units commissioned, packed in cases (SGTINs of the case GTIN) of
// PerCase, cases on pallets (SSCCs) of PerPallet, the pallets shipped.
type Scenario struct {
	Station   string
	Order     string
	Prefix    string // unit serial prefix (the counter follows; at most 20 characters)
	Units     int
	PerCase   int    // default 10
	PerPallet int    // default 40
	Shipment  string // "" for no shipment
	// Ship, when set, is the shipment recorded (its ID is Shipment's);
	// default Shipment(Shipment), from the manufacturer to the wholesaler.
	Ship  *station.Shipment
	Start time.Time // the first event's time; default 2026-03-02 06:00 UTC
	// SSCCBase keeps pallets of different scenarios apart (up to 7 digits).
	SSCCBase int
}

// UnitSerial returns the serial of unit i.
func (s *Scenario) UnitSerial(i int) string { return fmt.Sprintf("%s%07d", s.Prefix, i) }

// CaseSerial returns the serial of case i.
func (s *Scenario) CaseSerial(i int) string { return fmt.Sprintf("C%s%06d", s.Prefix, i) }

// Pallet returns the SSCC of pallet i.
func (s *Scenario) Pallet(i int) string {
	sscc, err := gs1.AppendCheckDigit(fmt.Sprintf("1030001%03d%07d", s.SSCCBase%1000, i))
	if err != nil {
		panic(err)
	}
	return sscc
}

func (s *Scenario) defaults() {
	if s.PerCase <= 0 {
		s.PerCase = 10
	}
	if s.PerPallet <= 0 {
		s.PerPallet = 40
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	}
	if s.Order == "" {
		s.Order = "ORD-" + s.Station
	}
}

// Cases and Pallets return how many the scenario makes.
func (s *Scenario) Cases() int   { s.defaults(); return (s.Units + s.PerCase - 1) / s.PerCase }
func (s *Scenario) Pallets() int { s.defaults(); return (s.Cases() + s.PerPallet - 1) / s.PerPallet }

// Appends returns the scenario as the station would append it: each
// element one atomic append.
func (s *Scenario) Appends() [][]station.NewEvent {
	s.defaults()
	const user = "op1"
	ev := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: user} }
	one := func(p ...station.Payload) []station.NewEvent {
		out := make([]station.NewEvent, len(p))
		for i := range p {
			out[i] = ev(p[i])
		}
		return out
	}
	var out [][]station.NewEvent
	g, cg := centraltest.GTIN, centraltest.CaseGTIN
	out = append(out,
		one(station.OrderCreated{Order: s.Order, GTIN: g, Lot: centraltest.Lot, Expiry: centraltest.Expiry, Quantity: int64(s.Units), Line: "line"}),
		one(station.OrderStateChanged{Order: s.Order, From: station.OrderPlanned, To: station.OrderReleased}),
		one(station.OrderStateChanged{Order: s.Order, From: station.OrderReleased, To: station.OrderRunning}))
	for lo := 0; lo < s.Units; lo += 50000 {
		var ss []string
		for i := lo; i < min(lo+50000, s.Units); i++ {
			ss = append(ss, s.UnitSerial(i))
		}
		out = append(out, one(station.PoolReserved{GTIN: g, Serials: ss, Source: "local"}))
	}
	var cs []string
	for i := 0; i < s.Cases(); i++ {
		cs = append(cs, s.CaseSerial(i))
	}
	if len(cs) > 0 {
		out = append(out, one(station.PoolReserved{GTIN: cg, Serials: cs, Source: "local"}))
	}
	for i := 0; i < s.Units; i++ {
		sn := s.UnitSerial(i)
		out = append(out, one(station.UnitAllocated{GTIN: g, Serial: sn, Order: s.Order}),
			one(station.UnitPrinted{GTIN: g, Serial: sn, Device: "coder-1"}),
			one(station.UnitVerified{GTIN: g, Serial: sn, Device: "camera-1", Read: "(01)" + g + "(17)" + centraltest.Expiry + "(10)" + centraltest.Lot + "(21)" + sn, Grade: "A"},
				station.UnitCommissioned{GTIN: g, Serial: sn, Device: "camera-1"}))
	}
	for c := 0; c < s.Cases(); c++ {
		parent := station.SGTIN(cg, s.CaseSerial(c))
		var kids []station.Item
		for u := c * s.PerCase; u < min((c+1)*s.PerCase, s.Units); u++ {
			kids = append(kids, station.SGTIN(g, s.UnitSerial(u)))
		}
		out = append(out,
			one(station.UnitAllocated{GTIN: cg, Serial: parent.Serial, Order: s.Order},
				station.AggregationOpened{Parent: parent, Level: station.LevelCase, Order: s.Order, Capacity: s.PerCase}),
			one(station.AggregationPacked{Parent: parent, Level: station.LevelCase, Children: kids}),
			one(station.UnitPrinted{GTIN: cg, Serial: parent.Serial, Device: "printer-1"}, station.UnitCommissioned{GTIN: cg, Serial: parent.Serial, Device: "printer-1"},
				station.AggregationClosed{Parent: parent, Level: station.LevelCase, Count: len(kids), Partial: len(kids) < s.PerCase, Device: "printer-1"}))
	}
	var pallets []station.Item
	for p := 0; p < s.Pallets(); p++ {
		parent := station.SSCCItem(s.Pallet(p))
		pallets = append(pallets, parent)
		var kids []station.Item
		for c := p * s.PerPallet; c < min((p+1)*s.PerPallet, s.Cases()); c++ {
			kids = append(kids, station.SGTIN(cg, s.CaseSerial(c)))
		}
		out = append(out,
			one(station.SSCCAllocated{SSCC: parent.SSCC, Level: station.LevelPallet, Order: s.Order},
				station.AggregationOpened{Parent: parent, Level: station.LevelPallet, Order: s.Order, Capacity: s.PerPallet}),
			one(station.AggregationPacked{Parent: parent, Level: station.LevelPallet, Children: kids}),
			one(station.AggregationClosed{Parent: parent, Level: station.LevelPallet, Count: len(kids), Partial: len(kids) < s.PerPallet, Device: "printer-1"}))
	}
	if s.Shipment != "" {
		sh := Shipment(s.Shipment)
		if s.Ship != nil {
			sh = *s.Ship
			sh.ID = s.Shipment
		}
		out = append(out, one(station.ShipmentCreated{Shipment: sh}))
		for lo := 0; lo < len(pallets); lo += 10000 {
			out = append(out, one(station.ShipmentPicked{Shipment: s.Shipment, Items: pallets[lo:min(lo+10000, len(pallets))]}))
		}
		out = append(out, one(station.ShipmentPacked{Shipment: s.Shipment}), one(station.ShipmentShipped{Shipment: s.Shipment}))
	}
	return out
}

// Journal returns the scenario as a station journal chained in memory
// (the same events and hashes a station's ledger would record), one
// millisecond apart.
func (s *Scenario) Journal() ([]station.Event, error) {
	s.defaults()
	var out []station.Event
	prev := station.Head{Hash: station.GenesisHash}
	t := s.Start.UTC()
	for _, evs := range s.Appends() {
		for _, ne := range evs {
			typ, raw, _, err := station.CanonicalPayload(ne.Type, ne.Payload)
			if err != nil {
				return nil, err
			}
			t = t.Add(time.Millisecond)
			e := station.Event{Seq: prev.Seq + 1, ID: station.NewEventID(t), Station: s.Station, Type: typ, Payload: raw,
				Time: t, ClockState: station.ClockSynced, User: ne.User, PrevHash: prev.Hash}
			e.Hash = e.ComputeHash()
			prev = station.Head{Seq: e.Seq, Hash: e.Hash, Time: t}
			out = append(out, e)
		}
	}
	return out, nil
}

// MustStore opens a central store with the fixtures' product and locations.
func MustStore(tb testing.TB, stations ...string) *centraldb.DB {
	tb.Helper()
	db := centraltest.MustStore(tb)
	ctx := context.Background()
	if _, err := db.PutProduct(ctx, centraltest.Product()); err != nil {
		tb.Fatal(err)
	}
	for _, l := range Locations(stations...) {
		if _, err := db.PutLocation(ctx, l); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// MustIngest adds the station to the store (once) and stores its journal
// as the sync API would.
func MustIngest(tb testing.TB, db *centraldb.DB, evs []station.Event) {
	tb.Helper()
	if len(evs) == 0 {
		return
	}
	ctx := context.Background()
	id := evs[0].Station
	if _, err := db.Head(ctx, id); station.ErrorCode(err) == station.ENOTFOUND {
		if err := db.AddStation(ctx, id, "line", "code-"+id, time.Now().Add(time.Hour), false); err != nil {
			tb.Fatal(err)
		}
	}
	for lo := 0; lo < len(evs); lo += uplink.MaxBatchEvents {
		batch := evs[lo:min(lo+uplink.MaxBatchEvents, len(evs))]
		if _, err := db.Ingest(ctx, id, batch, uplink.OutboxReport{}); err != nil {
			tb.Fatalf("ingest seq %d..: %v", batch[0].Seq, err)
		}
	}
}

// MustScenario ingests a scenario's journal into the store.
func MustScenario(tb testing.TB, db *centraldb.DB, s *Scenario) []station.Event {
	tb.Helper()
	evs, err := s.Journal()
	if err != nil {
		tb.Fatal(err)
	}
	MustIngest(tb, db, evs)
	return evs
}

// Append chains more events after a journal, as the station would record
// them later (one millisecond apart after its last event).
func Append(evs []station.Event, payloads ...station.Payload) ([]station.Event, error) {
	prev := station.Head{Hash: station.GenesisHash}
	t := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	id := ""
	if n := len(evs); n > 0 {
		last := evs[n-1]
		prev, t, id = station.Head{Seq: last.Seq, Hash: last.Hash, Time: last.Time}, last.Time, last.Station
	}
	for _, p := range payloads {
		typ, raw, _, err := station.CanonicalPayload("", p)
		if err != nil {
			return nil, err
		}
		t = t.Add(time.Millisecond)
		e := station.Event{Seq: prev.Seq + 1, ID: station.NewEventID(t), Station: id, Type: typ, Payload: raw,
			Time: t, ClockState: station.ClockSynced, User: "op1", PrevHash: prev.Hash}
		e.Hash = e.ComputeHash()
		prev = station.Head{Seq: e.Seq, Hash: e.Hash, Time: t}
		evs = append(evs, e)
	}
	return evs, nil
}
