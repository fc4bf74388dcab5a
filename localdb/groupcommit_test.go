package localdb

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWriter_GatherWait: the writer waits for more requests only when the
// ledger is busy: the last commit served more than one request and the
// batch's first request came within one commit time of its end.
func TestWriter_GatherWait(t *testing.T) {
	end := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		expect     int
		lastCommit time.Duration
		after      time.Duration // from the last commit's end to the first request
		want       time.Duration
	}{
		{"FirstBatch", 0, 0, time.Hour, 0},
		{"SingleCaller", 1, time.Millisecond, 0, 0},
		{"IdleSinceLastCommit", 128, time.Millisecond, 1100 * time.Microsecond, 0},
		{"Busy", 128, time.Millisecond, 10 * time.Microsecond, time.Millisecond},
		{"BusySlowDisk", 128, 20 * time.Millisecond, time.Millisecond, maxGatherWait},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &writer{expect: tt.expect, lastCommit: tt.lastCommit, lastEnd: end}
			if got := w.gatherWait(end.Add(tt.after)); got != tt.want {
				t.Fatalf("gatherWait = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBatcher_Next: the writer takes what is queued, waits (within its
// budget) only for requests it expects, answers requests whose caller gave
// up, and stops at a job, at the end of the queue and at MaxBatchEvents.
func TestBatcher_Next(t *testing.T) {
	db := MustOpenDB(t, newTestClock())
	newReq := func(ctx context.Context, events int) *request {
		return &request{ctx: ctx, evs: make([]pending, events), done: make(chan struct{})}
	}
	newBatcher := func(reqs chan *request, expect int, budget time.Duration) *batcher {
		b := &batcher{reqs: reqs, timer: time.NewTimer(time.Hour), max: 10}
		b.timer.Stop()
		b.start(newReq(context.Background(), 1), expect, budget)
		return b
	}
	ctx := context.Background()

	t.Run("Queued", func(t *testing.T) {
		reqs := make(chan *request, 4)
		r1, r2 := newReq(ctx, 1), newReq(ctx, 2)
		reqs <- r1
		reqs <- r2
		b := newBatcher(reqs, 1, 0)
		if got := b.next(db.wr); got != r1 {
			t.Fatalf("next = %p, want the first queued request", got)
		}
		if got := b.next(db.wr); got != r2 {
			t.Fatalf("next = %p, want the second queued request", got)
		}
		start := time.Now()
		if got := b.next(db.wr); got != nil {
			t.Fatalf("next = %p on an empty queue with no budget", got)
		}
		if b.taken != 3 || b.events != 4 {
			t.Fatalf("taken %d events %d, want 3 and 4", b.taken, b.events)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("next waited %v with no budget", d)
		}
	})
	t.Run("WaitsForExpected", func(t *testing.T) {
		reqs := make(chan *request, 4)
		b := newBatcher(reqs, 2, time.Minute)
		r := newReq(ctx, 1)
		go func() {
			time.Sleep(5 * time.Millisecond)
			reqs <- r
		}()
		if got := b.next(db.wr); got != r {
			t.Fatalf("next = %p, want the request sent later", got)
		}
		// Both expected requests are in: no more waiting.
		start := time.Now()
		if got := b.next(db.wr); got != nil {
			t.Fatalf("next = %p, want nil once the expected requests are in", got)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("next waited %v with the batch complete", d)
		}
	})
	t.Run("BudgetSpent", func(t *testing.T) {
		reqs := make(chan *request, 4)
		b := newBatcher(reqs, 100, 2*time.Millisecond)
		start := time.Now()
		if got := b.next(db.wr); got != nil {
			t.Fatalf("next = %p, want nil", got)
		}
		if d := time.Since(start); d < 2*time.Millisecond {
			t.Fatalf("next returned after %v, before its budget of 2ms", d)
		}
		if b.budget > 0 {
			t.Fatalf("budget %v left after waiting it out", b.budget)
		}
		if got := b.next(db.wr); got != nil {
			t.Fatalf("next = %p with the budget spent", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		reqs := make(chan *request, 4)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		gone, r := newReq(cctx, 1), newReq(ctx, 1)
		reqs <- gone
		reqs <- r
		b := newBatcher(reqs, 1, 0)
		if got := b.next(db.wr); got != r {
			t.Fatalf("next = %p, want the request after the cancelled one", got)
		}
		<-gone.done
		if !errors.Is(gone.err, context.Canceled) {
			t.Fatalf("cancelled request: err %v, want context.Canceled", gone.err)
		}
	})
	t.Run("StopsAtJobCloseAndMax", func(t *testing.T) {
		reqs := make(chan *request, 4)
		job := &request{ctx: ctx, job: func(context.Context, *writer) error { return nil }, done: make(chan struct{})}
		reqs <- job
		b := newBatcher(reqs, 100, time.Minute)
		if got := b.next(db.wr); got != nil || b.job != job {
			t.Fatalf("next = %p, job %p: want nil and the job kept for after the commit", got, b.job)
		}
		reqs = make(chan *request, 4)
		close(reqs)
		b = newBatcher(reqs, 100, time.Minute)
		if got := b.next(db.wr); got != nil || !b.closed {
			t.Fatalf("next = %p, closed %v: want nil and closed", got, b.closed)
		}
		reqs = make(chan *request, 4)
		reqs <- newReq(ctx, 9)
		reqs <- newReq(ctx, 1)
		b = newBatcher(reqs, 100, time.Minute)
		if got := b.next(db.wr); got == nil || b.events != 10 {
			t.Fatalf("next = %p with %d events, want the 9-event request", got, b.events)
		}
		if got := b.next(db.wr); got != nil {
			t.Fatalf("next = %p beyond MaxBatchEvents", got)
		}
	})
}
