package central_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
)

// BenchmarkIngest measures events per second stored by the central service
// from 10 concurrent simulated stations pushing gzip batches of 1000 over
// loopback HTTP (auth, decompression, JSON, chain checks, store and
// repository), against a baseline measured in the same run: the same
// events given by 10 goroutines straight to the central store's Ingest
// (chain checks, store and repository, no HTTP). One op is one event.
//
// The simulated stations encode their batches (uplink.EncodeBatch, as the
// real client does) before the clock starts: on a site that work runs on
// the station PCs, and here it would only take CPU from the central.
//
//	go test -run '^$' -bench Ingest -benchtime 200000x ./uplink/central
//
// It reports events/s over HTTP, direct_events/s and x_direct, their ratio.
func BenchmarkIngest(b *testing.B) {
	const stations, batch = 10, 1000
	per := max((b.N+stations-1)/stations, 1)
	journals := make([][]station.Event, stations)
	ids := make([]string, stations)
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for i := range journals {
		ids[i] = fmt.Sprintf("line-%02d", i)
		evs, err := centraltest.Journal(ids[i], &centraltest.Producer{Order: "PO-" + ids[i], Prefix: fmt.Sprintf("S%02d-", i), SSCCBase: i}, per, t0)
		if err != nil {
			b.Fatal(err)
		}
		journals[i] = evs[:per]
	}
	total := float64(per * stations)

	// run pushes every journal in batches from one goroutine per station.
	run := func(push func(i int, evs []station.Event) error) time.Duration {
		var wg sync.WaitGroup
		errs := make(chan error, stations)
		start := time.Now()
		for i := range journals {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evs := journals[i]
				for lo := 0; lo < len(evs); lo += batch {
					if err := push(i, evs[lo:min(lo+batch, len(evs))]); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		return d
	}
	newStore := func() *centraldb.DB {
		db := centraltest.MustStore(b)
		for _, id := range ids {
			if err := db.AddStation(ctx, id, "", "code-"+id, time.Now().Add(time.Hour), false); err != nil {
				b.Fatal(err)
			}
		}
		return db
	}

	b.StopTimer()
	direct := newStore()
	dDirect := run(func(i int, evs []station.Event) error {
		_, err := direct.Ingest(ctx, ids[i], evs, uplink.OutboxReport{})
		return err
	})

	store := newStore()
	srv, err := central.New(central.Config{Store: store, Addr: "127.0.0.1:0", Logger: centraltest.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close(ctx)
	bodies := make([][][]byte, stations)
	for i, evs := range journals {
		for lo := 0; lo < len(evs); lo += batch {
			body, err := uplink.EncodeBatch(&uplink.Batch{Station: ids[i], Events: evs[lo:min(lo+batch, len(evs))]})
			if err != nil {
				b.Fatal(err)
			}
			bodies[i] = append(bodies[i], body)
		}
	}
	apis := make([]*uplink.API, stations)
	for i, id := range ids {
		token, hash, _ := central.NewToken()
		if _, err := store.Enroll(ctx, "code-"+id, hash); err != nil {
			b.Fatal(err)
		}
		if apis[i], err = uplink.NewAPI(srv.URL(), token, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer()
	next := make([]int, stations)
	dHTTP := run(func(i int, _ []station.Event) error {
		body := bodies[i][next[i]]
		next[i]++
		_, err := apis[i].PushEncoded(ctx, body)
		return err
	})
	b.StopTimer()

	for _, id := range ids {
		h, err := store.Head(ctx, id)
		if err != nil || h.Seq != int64(per) {
			b.Fatalf("%s: the central holds seq %d (%v), want %d", id, h.Seq, err, per)
		}
	}
	b.ReportMetric(total/dHTTP.Seconds(), "events/s")
	b.ReportMetric(total/dDirect.Seconds(), "direct_events/s")
	b.ReportMetric(dDirect.Seconds()/dHTTP.Seconds(), "x_direct")
}
