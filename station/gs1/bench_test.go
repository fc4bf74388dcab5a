package gs1

import (
	"strings"
	"testing"
	"time"
)

// packScan is a typical unit scan: GS1 DataMatrix with GTIN, expiry, lot and
// serial, as a scanner sends it.
const packScan = "]d2010030001012345517261231" + "10LOT2024A\x1d21SN8K3Q9Z7X1M"

// splitBaseline measures splitting the same scan at its GS bytes, the least
// any reader of it must do, so the parse figure can be read as a ratio.
// It runs b.N times with the timer stopped and returns the time taken.
func splitBaseline(b *testing.B) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		n += len(strings.Split(packScan, "\x1d"))
	}
	if n == 0 {
		b.Fatal("baseline split nothing")
	}
	return time.Since(start)
}

// BenchmarkParseScan_Pack parses and fully checks a pack scan.
func BenchmarkParseScan_Pack(b *testing.B) {
	base := splitBaseline(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sc, err := ParseScanData(packScan)
		if err != nil || len(sc.Message.Elements) != 4 {
			b.Fatalf("parse: %v", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(base), "x-split")
}

// BenchmarkEncode_Pack writes a pack's element string, scan data and
// Digital Link.
func BenchmarkEncode_Pack(b *testing.B) {
	sc, err := ParseScanData(packScan)
	if err != nil {
		b.Fatal(err)
	}
	m := sc.Message
	b.ResetTimer()
	base := splitBaseline(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := m.ScanData(SymDM); err != nil {
			b.Fatal(err)
		}
		_ = m.HRI()
		if _, err := m.DigitalLink(""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(base), "x-split")
}
