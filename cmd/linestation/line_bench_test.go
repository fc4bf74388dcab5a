package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
)

// benchFaults is issue 5's fault mix: the benchmark's rejects go through
// the reject gate (an OPC UA call) and the ledger like the scenario's.
const benchFaults = "noread=1%,wrong=0.5%,dup=0.2%,lowgrade=0.5%"

// BenchmarkLine_Run drives an order of b.N units through the simulated line
// (the coder marks a DataMatrix image, the camera decodes and grades it),
// the real drivers over loopback TCP and OPC UA, the station's line run and
// a real ledger (synchronous=FULL), with issue 5's fault mix, once with the
// conveyor at 6,000 places a minute (10x a fast real line) and once at the
// simulator's top speed, 60,000, where the coder interlock lets the station
// set the pace. It reports:
//
//   - packs/min: packs decided (commissioned or rejected) a minute;
//
//   - p50_ms, p99_ms: from the simulated camera writing a result line to
//     the ledger append that records the pack's decision returning (durable),
//     measured outside the station: the camera's send time per pack, and a
//     ledger wrapper that notes when each decision's append returned;
//
//   - run_p50_ms, run_p99_ms: the same as the line run measures it
//     (station.Run.Latency), from its camera loop taking the result from the
//     driver to the decision being durable;
//
//   - the baseline, measured in the same run on the same kind of ledger: one
//     pack's events (printed; verified + commissioned) appended one durable
//     append at a time from one goroutine: base_packs/min and base_p99_ms
//     (of the decision's append), with the ratios x_base_rate and
//     x_base_p99; and fsync_p99_ms, the p99 of the disk's own fsync of a
//     4 KiB page, the floor under any durable decision.
//
//     go test -tags ci,migrated_fynedo -run '^$' -bench Line_Run -benchtime 2000x ./cmd/linestation
func BenchmarkLine_Run(b *testing.B) {
	base := appendBaseline(b, 300)
	for _, rate := range []int{6000, maxUnitsPerMin} {
		b.Run(fmt.Sprintf("line=%d", rate), func(b *testing.B) { benchLine(b, rate, base) })
	}
}

// The line run's tuning in the benchmark, as in station's BenchmarkRun_Line:
// codes queued ahead at the coder (its default is 4), serials allocated by
// one ledger append (default 50).
const (
	benchQueueAhead    = 16
	benchAllocateBatch = 256
)

func benchLine(b *testing.B, rate int, base baselineFigures) {
	ctx := context.Background()
	clock := systemClock()
	db, err := localdb.Open(ctx, filepath.Join(b.TempDir(), "station.db"), localdb.Options{Station: demoStationID, Clock: clock, Create: true, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	obs := &decisionLedger{Ledger: db, durable: map[string]time.Time{}}
	svc, err := newDemoService(ctx, obs, clock, quietLog)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if err := createDemoOrder(ctx, svc, "BENCH", b.N); err != nil {
		b.Fatal(err)
	}
	dev, err := openLine(ctx, DevicesConfig{Mode: "sim", Sim: SimConfig{UnitsPerMin: rate, Faults: benchFaults, Seed: 1}}, quietLog)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	dev.Sim.Line.Observe(func(u sim.LineUnit) {
		mu.Lock()
		sent[u.Print.Serial] = u.Result.Sent
		mu.Unlock()
	})

	b.ResetTimer()
	qa, ab := benchQueueAhead, benchAllocateBatch
	if v := os.Getenv("XQA"); v != "" {
		fmt.Sscan(v, &qa)
	}
	if v := os.Getenv("XAB"); v != "" {
		fmt.Sscan(v, &ab)
	}
	res, err := driveOrder(ctx, svc, dev, station.RunConfig{Order: "BENCH", QueueAhead: qa, AllocateBatch: ab}, nil)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Stopped != "" {
		b.Fatalf("the run stopped early: %s", res.Stopped)
	}
	s := res.Snapshot
	if s.Commissioned != int64(b.N) || s.Unidentified != 0 || s.Rejects[station.RejectMissing] != 0 || s.Rejects[station.RejectOutOfSequence] != 0 {
		b.Fatalf("commissioned %d of %d, rejects %v, unidentified %d: the station lost track of packs", s.Commissioned, b.N, s.Rejects, s.Unidentified)
	}

	mu.Lock()
	lat := obs.latencies(sent)
	mu.Unlock()
	if want := int(s.Commissioned + s.Rejected); len(lat) != want {
		b.Fatalf("%d decisions matched to a camera result, want %d", len(lat), want)
	}
	slices.Sort(lat)
	packs := float64(s.Commissioned+s.Rejected) / res.Elapsed.Minutes()
	p99 := quantile(lat, 0.99)
	b.ReportMetric(packs, "packs/min")
	b.ReportMetric(ms(quantile(lat, 0.50)), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
	b.ReportMetric(ms(res.Latency.P50), "run_p50_ms")
	b.ReportMetric(ms(res.Latency.P99), "run_p99_ms")
	b.ReportMetric(float64(s.Rejected), "rejects")
	b.ReportMetric(base.rate, "base_packs/min")
	b.ReportMetric(ms(base.p99), "base_p99_ms")
	b.ReportMetric(packs/base.rate, "x_base_rate")
	b.ReportMetric(float64(p99)/float64(base.p99), "x_base_p99")
	b.ReportMetric(ms(base.fsyncP99), "fsync_p99_ms")
}

// decisionLedger is the real ledger with a note of when each pack's
// decision (unit.commissioned or unit.rejected) became durable: when the
// append that recorded it returned.
type decisionLedger struct {
	station.Ledger
	mu      sync.Mutex
	durable map[string]time.Time // serial -> when its decision was durable
}

func (l *decisionLedger) Append(ctx context.Context, evs ...station.NewEvent) ([]station.Event, error) {
	out, err := l.Ledger.Append(ctx, evs...)
	if err != nil {
		return out, err
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range evs {
		switch p := ev.Payload.(type) {
		case station.UnitCommissioned:
			l.durable[p.Serial] = now
		case station.UnitRejected:
			l.durable[p.Serial] = now
		}
	}
	return out, nil
}

// latencies returns, for every decision, the time from the camera's result
// for that pack (sent) to the decision being durable.
func (l *decisionLedger) latencies(sent map[string]time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]time.Duration, 0, len(l.durable))
	for serial, at := range l.durable {
		if t0, ok := sent[serial]; ok {
			out = append(out, at.Sub(t0))
		}
	}
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// baselineFigures are one durable append at a time: packs a minute, and
// the p99 of a decision's append; and the p99 of the disk's own fsync.
type baselineFigures struct {
	rate     float64
	p99      time.Duration
	fsyncP99 time.Duration
}

// fsyncP99 writes a 4 KiB page and fsyncs it n times in dir, and returns
// the p99 of the fsync: the floor under any durable decision.
func fsyncP99(b *testing.B, dir string, n int) time.Duration {
	b.Helper()
	f, err := os.Create(filepath.Join(dir, "fsync.dat"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if _, err := f.Write(page); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return quantile(lat, 0.99)
}

// appendBaseline records n packs on a fresh ledger (with the demo product
// and an order), each pack's printed event and then its verified +
// commissioned events, one durable append at a time from one goroutine.
func appendBaseline(b *testing.B, n int) baselineFigures {
	b.Helper()
	ctx := context.Background()
	clock := systemClock()
	db, err := localdb.Open(ctx, filepath.Join(b.TempDir(), "base.db"), localdb.Options{Station: demoStationID, Clock: clock, Create: true, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := newDemoService(ctx, db, clock, quietLog)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if err := createDemoOrder(ctx, svc, "BASE", n); err != nil {
		b.Fatal(err)
	}
	ss, err := svc.Pools().Allocate(ctx, "BASE", demoGTIN, demoUser, n)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for _, s := range ss {
		if _, err := db.Append(ctx, station.NewEvent{Payload: station.UnitPrinted{GTIN: demoGTIN, Serial: s, Device: "coder"}, User: demoUser}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := db.Append(ctx,
			station.NewEvent{Payload: station.UnitVerified{GTIN: demoGTIN, Serial: s, Device: "camera", Read: "(01)" + demoGTIN + "(21)" + s, Grade: "A"}, User: demoUser},
			station.NewEvent{Payload: station.UnitCommissioned{GTIN: demoGTIN, Serial: s, Device: "camera"}, User: demoUser}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	rate := float64(len(ss)) / time.Since(start).Minutes()
	slices.Sort(lat)
	return baselineFigures{rate: rate, p99: quantile(lat, 0.99), fsyncP99: fsyncP99(b, b.TempDir(), 500)}
}
