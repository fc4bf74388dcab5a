package station_test

import (
	"context"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// BenchmarkRun_Line drives a line run with in-process device fakes as fast
// as it goes (b.N packs, no faults) on a real ledger, and reports packs per
// minute and the p50/p99 time from a camera result to its durable decision.
// The baseline, measured in the same run, is the same ledger taking the
// same events (printed, verified + commissioned) one durable append per
// pack from one goroutine: x_serial_appends is the run's rate over it.
//
//	go test -run '^$' -bench BenchmarkRun_Line -benchtime 6000x ./station
func BenchmarkRun_Line(b *testing.B) {
	base := baselineRate(b, 1000)
	w := MustWorld(b, station.PoolPolicy{LowWater: 2000, Batch: 5000})
	w.MustOrder("PO-B", b.N, 3000)
	l := w.MustLine("PO-B", func(int) fault { return fOK }, station.RunConfig{AllocateBatch: 256, QueueAhead: 16})
	b.ResetTimer()
	start := time.Now()
	l.Go()
	stationtest.Poll(b, 10*time.Minute, "the run commissions every pack", func() bool { return l.run.Snapshot().State == station.RunDone })
	elapsed := time.Since(start)
	b.StopTimer()
	lat := l.run.Latency()
	rate := float64(b.N) / elapsed.Minutes()
	b.ReportMetric(rate, "packs/min")
	b.ReportMetric(float64(lat.P50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat.P99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(base, "baseline_packs/min")
	b.ReportMetric(rate/base, "x_serial_appends")
}

// baselineRate appends the events of n packs, one durable append per
// event group, from one goroutine, and returns packs per minute.
func baselineRate(b *testing.B, n int) float64 {
	w := MustWorld(b, station.PoolPolicy{LowWater: 2000, Batch: 5000})
	w.MustOrder("PO-X", n, n)
	ss, err := w.svc.Pools().Allocate(w.ctx, "PO-X", unitGTIN, "op", n)
	must(b, err)
	ctx := context.Background()
	start := time.Now()
	for _, s := range ss {
		_, err := w.db.Append(ctx, station.NewEvent{Payload: station.UnitPrinted{GTIN: unitGTIN, Serial: s, Device: "coder"}, User: "op"})
		must(b, err)
		_, err = w.db.Append(ctx, station.NewEvent{Payload: station.UnitVerified{GTIN: unitGTIN, Serial: s, Device: "camera", Read: "(01)x", Grade: "A"}, User: "op"},
			station.NewEvent{Payload: station.UnitCommissioned{GTIN: unitGTIN, Serial: s, Device: "camera"}, User: "op"})
		must(b, err)
	}
	return float64(n) / time.Since(start).Minutes()
}
