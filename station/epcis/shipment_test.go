package epcis

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// shipment returns the events of a realistic DSCSA shipment of units:
// units commissioned in batches of 100, cases of 50 units, pallets of 50
// cases, each level commissioned and packed, then one shipping event.
func shipment(units int) []*Event {
	const (
		perBatch  = 100
		perCase   = 50
		perPallet = 50
		site      = "urn:epc:id:sgln:030001.111111.0"
	)
	t0 := time.Date(2025, 3, 27, 6, 45, 16, 0, time.UTC)
	n := 0
	at := func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	place := &Place{ID: site}
	unit := func(i int) string { return "urn:epc:id:sgtin:030001.0012345." + strconv.Itoa(100000+i) }
	cs := func(i int) string { return "urn:epc:id:sgtin:030001.1012345." + strconv.Itoa(500000+i) }
	pallet := func(i int) string { return fmt.Sprintf("urn:epc:id:sscc:030001.4%010d", i) }
	ilmd := []Element{
		{Space: NamespaceCBVMDA, Prefix: "cbvmda", Local: "lotNumber", Text: "A123"},
		{Space: NamespaceCBVMDA, Prefix: "cbvmda", Local: "itemExpirationDate", Text: "2027-03-27"},
	}
	commission := func(epcs []string) *Event {
		return &Event{Type: ObjectEvent, EventTime: at(), EventTimeZoneOffset: "-05:00", EPCList: epcs, Action: ActionAdd,
			BizStep: BizStepCommissioning, Disposition: DispositionActive, ReadPoint: place, BizLocation: place, ILMD: ilmd}
	}
	pack := func(parent string, children []string) *Event {
		return &Event{Type: AggregationEvent, EventTime: at(), EventTimeZoneOffset: "-05:00", ParentID: parent, ChildEPCs: children,
			Action: ActionAdd, BizStep: BizStepPacking, Disposition: DispositionInProgress, ReadPoint: place, BizLocation: place}
	}
	var out []*Event
	batch := func(count int, id func(int) string) {
		for i := 0; i < count; i += perBatch {
			var epcs []string
			for k := i; k < count && k < i+perBatch; k++ {
				epcs = append(epcs, id(k))
			}
			out = append(out, commission(epcs))
		}
	}
	cases := (units + perCase - 1) / perCase
	pallets := (cases + perPallet - 1) / perPallet
	batch(units, unit)
	batch(cases, cs)
	batch(pallets, pallet)
	for c := 0; c < cases; c++ {
		var kids []string
		for u := c * perCase; u < units && u < (c+1)*perCase; u++ {
			kids = append(kids, unit(u))
		}
		out = append(out, pack(cs(c), kids))
	}
	var ship []string
	for p := 0; p < pallets; p++ {
		var kids []string
		for c := p * perPallet; c < cases && c < (p+1)*perPallet; c++ {
			kids = append(kids, cs(c))
		}
		out = append(out, pack(pallet(p), kids))
		ship = append(ship, pallet(p))
	}
	out = append(out, &Event{Type: ObjectEvent, EventTime: at(), EventTimeZoneOffset: "-05:00", EPCList: ship, Action: ActionObserve,
		BizStep: BizStepShipping, Disposition: DispositionInTransit, ReadPoint: place,
		BizTransactionList: []BizTransaction{{Type: BizTransactionTypePO, Value: "urn:epcglobal:cbv:bt:0399999999991:XYZPO189"},
			{Type: BizTransactionTypeDesadv, Value: "urn:epcglobal:cbv:bt:0300011111215:DEL100"}},
		SourceList:      []SourceDest{{Type: SourceDestTypeOwningParty, Value: site}, {Type: SourceDestTypeLocation, Value: site}},
		DestinationList: []SourceDest{{Type: SourceDestTypeOwningParty, Value: "urn:epc:id:sgln:039999.999999.0"}, {Type: SourceDestTypeLocation, Value: "urn:epc:id:sgln:039999.345678.0"}},
		Extensions:      []Element{{Space: NamespaceGS1USHC, Prefix: "gs1ushc", Local: "dropShipment", Text: "false"}},
	})
	return out
}

func shipmentHeader() *Header {
	created := time.Date(2025, 4, 1, 8, 45, 16, 0, time.UTC)
	h := &Header{CreationDate: created, SBDH: NewSBDH("urn:epc:id:sgln:030001.111111.0", "urn:epc:id:sgln:039999.999999.0", "1100220001", created)}
	h.MasterData = []Vocabulary{{Type: VocabularyEPCClass, Elements: []VocabularyElement{EPCClass{ID: "urn:epc:idpat:sgtin:030001.0012345.*",
		AdditionalTradeItemIdentification: "0001-0123-45", AdditionalTradeItemIdentificationTypeCode: TypeCodeNDC, RegulatedProductName: "Epcistra"}.VocabularyElement()}}}
	h.SetGuidelineVersion("GS1 US DSCSA R1.3")
	h.SetTransactionStatement(TransactionStatement{Affirm: true, LegalNotice: DSCSALegalNotice})
	return h
}

// A shipment written by the streaming writer is a valid 1.2 document that
// reads back event for event.
func TestShipment_XML12(t *testing.T) {
	events := shipment(2000)
	doc := MustWrite(t, FormatXML12, shipmentHeader(), events)
	MustXSDValid(t, FormatXML12, doc)
	_, back := MustReadDoc(t, bytesReader(doc))
	if len(back) != len(events) {
		t.Fatalf("read %d events, wrote %d", len(back), len(events))
	}
	for i := range events {
		if back[i].Hash() != events[i].Hash() {
			t.Fatalf("event %d differs after the round trip", i)
		}
	}
}

// commissioning returns an endless source of one-unit commissioning events.
func commissioning(i int) *Event {
	return &Event{Type: ObjectEvent, EventTime: time.Date(2025, 3, 27, 6, 45, 16, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		EventTimeZoneOffset: "-05:00", EPCList: []string{"urn:epc:id:sgtin:030001.0012345." + strconv.Itoa(1000000+i)}, Action: ActionAdd,
		BizStep: BizStepCommissioning, Disposition: DispositionActive, ReadPoint: &Place{ID: "urn:epc:id:sgln:030001.111111.0"}}
}

// liveHeap returns the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// streamPeak writes n events through a pipe to a reader and returns the
// largest live heap seen while reading.
func streamPeak(t *testing.T, f Format, n int) uint64 {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		w, err := NewWriter(pw, f, shipmentHeader())
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		for i := 0; i < n; i++ {
			if err := w.WriteEvent(commissioning(i)); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Close())
	}()
	rd, err := NewReader(pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	count := 0
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", count, err)
		}
		if e.EPCList[0] != commissioning(count).EPCList[0] {
			t.Fatalf("event %d: EPC %s", count, e.EPCList[0])
		}
		count++
		if count%(n/8) == 0 {
			peak = max(peak, liveHeap())
		}
	}
	if count != n {
		t.Fatalf("read %d events, wrote %d", count, n)
	}
	return peak
}

// Writing and reading stream: the live heap while reading a document of
// ten times the events is about the same.
func TestStream_BoundedMemory(t *testing.T) {
	small, large := 10_000, 100_000
	if raceEnabled || testing.Short() {
		small, large = 2_000, 20_000
	}
	for _, f := range []Format{FormatXML12, FormatJSONLD20} {
		t.Run(f.String(), func(t *testing.T) {
			a := streamPeak(t, f, small)
			b := streamPeak(t, f, large)
			t.Logf("%s: live heap %d KiB after %d events, %d KiB after %d events", f, a>>10, small, b>>10, large)
			// Holding the events would take over 30 MB for the larger run.
			if b > a+8<<20 {
				t.Fatalf("memory grows with the document: %d KiB for %d events vs %d KiB for %d", b>>10, large, a>>10, small)
			}
		})
	}
}

// WriteEvent does not allocate per event, however long the document.
func TestWriter_AllocsPerEvent(t *testing.T) {
	w, err := NewWriter(io.Discard, FormatXML12, shipmentHeader())
	if err != nil {
		t.Fatal(err)
	}
	events := shipment(5000)
	i := 0
	allocs := testing.AllocsPerRun(len(events), func() {
		if err := w.WriteEvent(events[i%len(events)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs > 1 {
		t.Fatalf("WriteEvent allocates %.1f times per event, want at most 1", allocs)
	}
}

// baselineEvent is the same event shape for encoding/xml, the baseline of
// the write benchmarks.
type baselineEvent struct {
	XMLName     xml.Name
	EventTime   string   `xml:"eventTime"`
	TZ          string   `xml:"eventTimeZoneOffset"`
	EPCList     []string `xml:"epcList>epc,omitempty"`
	ParentID    string   `xml:"parentID,omitempty"`
	ChildEPCs   []string `xml:"childEPCs>epc,omitempty"`
	Action      string   `xml:"action"`
	BizStep     string   `xml:"bizStep,omitempty"`
	Disposition string   `xml:"disposition,omitempty"`
	ReadPoint   string   `xml:"readPoint>id,omitempty"`
	BizLocation string   `xml:"bizLocation>id,omitempty"`
	Lot         string   `xml:"extension>ilmd>lotNumber,omitempty"`
}

func toBaseline(e *Event) baselineEvent {
	b := baselineEvent{XMLName: xml.Name{Local: string(e.Type)}, EventTime: e.EventTime.Format(time.RFC3339Nano), TZ: e.EventTimeZoneOffset,
		EPCList: e.EPCList, ParentID: e.ParentID, ChildEPCs: e.ChildEPCs, Action: string(e.Action), BizStep: string(e.BizStep),
		Disposition: string(e.Disposition)}
	if e.ReadPoint != nil {
		b.ReadPoint = e.ReadPoint.ID
	}
	if e.BizLocation != nil {
		b.BizLocation = e.BizLocation.ID
	}
	if len(e.ILMD) > 0 {
		b.Lot = e.ILMD[0].Text
	}
	return b
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// benchWrite measures the writer and, in the same run, encoding/xml on
// the same events, and reports both and their ratio.
func benchWrite(b *testing.B, events []*Event) {
	epcs := 0
	for _, e := range events {
		epcs += len(e.EPCList) + len(e.ChildEPCs)
	}
	base := make([]baselineEvent, len(events))
	for i, e := range events {
		base[i] = toBaseline(e)
	}
	measure := func(fn func(w io.Writer)) (time.Duration, int64) {
		cw := &countingWriter{}
		start := time.Now()
		fn(cw)
		return time.Since(start), cw.n
	}
	baseline, _ := measure(func(w io.Writer) {
		enc := xml.NewEncoder(w)
		for i := range base {
			if err := enc.Encode(&base[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ResetTimer()
	b.ReportAllocs()
	var bytes int64
	for i := 0; i < b.N; i++ {
		cw := &countingWriter{}
		w, err := NewWriter(cw, FormatXML12, shipmentHeader())
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range events {
			if err := w.WriteEvent(e); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		bytes = cw.n
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.SetBytes(bytes)
	b.ReportMetric(float64(len(events))/per.Seconds(), "events/s")
	b.ReportMetric(float64(epcs)/per.Seconds(), "epcs/s")
	b.ReportMetric(float64(baseline)/float64(per), "x-encoding/xml")
}

// BenchmarkWriteShipmentXML12 writes a 50,000-unit shipment (units in
// batches, cases and pallets packed one by one, a shipping event).
func BenchmarkWriteShipmentXML12(b *testing.B) { benchWrite(b, shipment(50_000)) }

// BenchmarkWriteCommissioningXML12 writes 50,000 one-unit commissioning
// events: the events-per-second figure.
func BenchmarkWriteCommissioningXML12(b *testing.B) {
	events := make([]*Event, 50_000)
	for i := range events {
		events[i] = commissioning(i)
	}
	benchWrite(b, events)
}
