package dscsa_test

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// peakHeap runs fn while sampling the live heap every millisecond and
// returns the largest heap in use seen.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// exportStore returns an exchange over a store holding a shipped shipment
// of units with all aggregation (cases of 10 by GTIN, pallets of 40 cases
// by SSCC).
func exportStore(b *testing.B, units int) *dscsa.Exchange {
	b.Helper()
	db := dscsatest.MustStore(b, "line-1")
	dscsatest.MustScenario(b, db, &dscsatest.Scenario{Station: "line-1", Prefix: "S", Units: units, Shipment: "SH-1"})
	x := MustExchange(b, db, dscsatest.MfrGLN)
	if err := x.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkExportShipment50k exports a 50,000-unit shipment (5,000 cases,
// 125 pallets: 55,125 EPCs commissioned and packed) from the central store
// to EPCIS 1.2 XML, and reports events/s, EPCs/s and units/s against the
// same events written from memory by the codec alone (the baseline, same
// run), and the peak heap of the export against that of a 5,000-unit
// shipment's export (memory must not grow with the shipment). The document
// holds about 5,200 events (commissioning is grouped, up to
// MaxEPCsPerEvent EPCs an event; one packing event per case and pallet),
// so events/s understates what is exported: units/s counts the shipment's
// items (units, cases and pallets: 55,125) and epcs/s every EPC the
// document names (each item commissioned, each child packed, the pallets
// shipped: 110,250).
func BenchmarkExportShipment50k(b *testing.B) {
	small := exportStore(b, 5_000)
	x := exportStore(b, 50_000)
	// The baseline: the document's events, from memory, through the writer.
	var evs []*epcis.Event
	var info dscsa.DocInfo
	info, err := x.WriteShipmentDocument(ctx, io.Discard, "SH-1", epcis.FormatXML12, dscsa.DocOptions{Record: func(e *epcis.Event) error {
		evs = append(evs, e)
		return nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	h := &epcis.Header{CreationDate: time.Now().UTC(), SBDH: epcis.NewSBDH("urn:epc:id:sgln:030001.000001.0", "urn:epc:id:sgln:039999.000001.0", "X", time.Now().UTC())}
	writeAll := func() {
		w, err := epcis.NewWriter(io.Discard, epcis.FormatXML12, h)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if err := w.WriteEvent(e); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	// (testing.Benchmark cannot run inside a benchmark: time it by hand,
	// the best of 5 runs.)
	base := time.Duration(1<<63 - 1)
	for range 5 {
		start := time.Now()
		writeAll()
		base = min(base, time.Since(start))
	}
	evs = nil
	peakSmall := peakHeap(func() {
		if _, err := small.WriteShipmentDocument(ctx, io.Discard, "SH-1", epcis.FormatXML12, dscsa.DocOptions{}); err != nil {
			b.Fatal(err)
		}
	})
	peakLarge := peakHeap(func() {
		if _, err := x.WriteShipmentDocument(ctx, io.Discard, "SH-1", epcis.FormatXML12, dscsa.DocOptions{}); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		c := &counter{}
		if _, err := x.WriteShipmentDocument(ctx, c, "SH-1", epcis.FormatXML12, dscsa.DocOptions{}); err != nil {
			b.Fatal(err)
		}
		bytes = c.n
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.SetBytes(bytes)
	b.ReportMetric(float64(info.Events)/per.Seconds(), "events/s")
	b.ReportMetric(float64(info.EPCs)/per.Seconds(), "epcs/s")
	b.ReportMetric(float64(info.Items)/per.Seconds(), "units/s")
	b.ReportMetric(float64(per)/float64(base), "x-codec-only")
	b.ReportMetric(float64(peakLarge)/(1<<20), "peak-MiB-50k")
	b.ReportMetric(float64(peakSmall)/(1<<20), "peak-MiB-5k")
	b.ReportMetric(float64(peakLarge)/float64(peakSmall), "x-peak-vs-5k")
}
