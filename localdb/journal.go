package localdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/linestation/linestation/localdb/internal/sqlitex"
	"github.com/linestation/linestation/station"
)

// request is one Append call (or one exclusive job) waiting for the writer.
type request struct {
	ctx  context.Context
	evs  []pending
	job  func(ctx context.Context, w *writer) error // set for jobs instead of evs
	out  []station.Event
	err  error
	done chan struct{}
}

// pending is an event validated by its caller, before the writer stamps it.
type pending struct {
	typ     station.EventType
	raw     json.RawMessage
	text    string // raw as the journal's TEXT column takes it, made by the caller
	payload station.Payload
	user    string
}

// Append records evs atomically, stamped with one reading of the station
// clock, and returns them once the transaction holding them is durable
// (committed with synchronous=FULL). Concurrent calls are committed together
// (group commit); one caller's failure does not fail the others.
//
// When the clock reads earlier than the last recorded event, the ledger
// first records a clock.stepped event (from the last time to the new one),
// so the journal's time goes backwards only where it says so. That event is
// not among those returned, so the returned seqs follow it.
//
// ctx bounds the wait for the writer: once the writer has taken a request,
// the caller waits for its outcome so that it is never told "failed" about
// events that were recorded. Errors: see station.Ledger.
func (db *DB) Append(ctx context.Context, evs ...station.NewEvent) ([]station.Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if db.opts.ReadOnly {
		return nil, station.Errorf(station.EINVALID, "ledger %s is open read-only", db.path)
	}
	if db.clock == nil {
		return nil, fmt.Errorf("append to ledger %s: no clock configured", db.path)
	}
	req, err := prepare(ctx, evs)
	if err != nil {
		return nil, err
	}
	if err := db.send(ctx, req); err != nil {
		return nil, err
	}
	<-req.done
	return req.out, req.err
}

// prepare validates and canonicalizes evs in the caller's goroutine, so
// that the writer only stamps, chains and writes.
func prepare(ctx context.Context, evs []station.NewEvent) (*request, error) {
	req := &request{ctx: ctx, evs: make([]pending, len(evs)), done: make(chan struct{})}
	for i, ne := range evs {
		typ, raw, p, err := station.CanonicalPayload(ne.Type, ne.Payload)
		if err != nil {
			return nil, fmt.Errorf("append event %d of %d: %w", i+1, len(evs), err)
		}
		if typ == station.EventClockStepped {
			return nil, station.Errorf(station.EINVALID, "event %d of %d: %s is recorded by the ledger itself", i+1, len(evs), typ)
		}
		if err := validateUser(ne.User); err != nil {
			return nil, fmt.Errorf("append event %d of %d (%s): %w", i+1, len(evs), typ, err)
		}
		req.evs[i] = pending{typ: typ, raw: raw, text: string(raw), payload: p, user: ne.User}
	}
	return req, nil
}

// send queues req for the writer.
func (db *DB) send(ctx context.Context, req *request) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed || db.reqs == nil {
		return ErrClosed
	}
	select {
	case db.reqs <- req:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("append to ledger %s: %w", db.path, ctx.Err())
	}
}

// exclusive runs fn on the writer goroutine, between two group commits, with
// the writer connection to itself.
func (db *DB) exclusive(ctx context.Context, fn func(ctx context.Context, w *writer) error) error {
	if db.opts.ReadOnly {
		return station.Errorf(station.EINVALID, "ledger %s is open read-only", db.path)
	}
	req := &request{ctx: ctx, job: fn, done: make(chan struct{})}
	if err := db.send(ctx, req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

func validateUser(u string) error {
	if u == "" {
		return station.Errorf(station.EINVALID, "no user: every event records who did it")
	}
	if len(u) > 64 {
		return station.Errorf(station.EINVALID, "user %q is longer than 64 bytes", u)
	}
	if !utf8.ValidString(u) {
		// JSON (export, uplink, backup segments) cannot carry it unchanged.
		return station.Errorf(station.EINVALID, "user %q is not valid UTF-8", u)
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f {
			return station.Errorf(station.EINVALID, "user %q contains a control character", u)
		}
	}
	return nil
}

// writer owns the writer connection and the journal head. Only the writer
// goroutine (or Open, before it starts) touches it.
type writer struct {
	db   *DB
	conn *sql.Conn
	head station.Head

	commits atomic.Int64 // transactions committed by group commit
	events  atomic.Int64 // events in them

	// Group commit policy (see run).
	expect     int           // requests expected in the next batch
	lastCommit time.Duration // how long the last COMMIT took
	lastEnd    time.Time     // when the last group commit answered its callers
}

// loadHead reads the last event's seq, hash and time.
func (w *writer) loadHead(ctx context.Context) error {
	var ts string
	err := w.conn.QueryRowContext(ctx, `SELECT seq, hash, time FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&w.head.Seq, &w.head.Hash, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		w.head = station.Head{Hash: station.GenesisHash}
		return nil
	}
	if err != nil {
		return formatError(fmt.Errorf("read head of ledger %s: %w", w.db.path, err))
	}
	if w.head.Time, err = station.ParseTime(ts); err != nil {
		return fmt.Errorf("read head of ledger %s: seq %d: %w", w.db.path, w.head.Seq, err)
	}
	return nil
}

// maxGatherWait bounds how long the writer waits, idle, for more requests
// of a group commit (see run).
const maxGatherWait = 2 * time.Millisecond

// run is the writer goroutine: it takes one request, begins a transaction
// and writes it, and while it writes, takes whatever else has been queued
// meanwhile into the same transaction (up to MaxBatchEvents events); then
// it commits them together and answers each caller. Requests that queue up
// during a commit start the next batch, so the batch grows with the load.
//
// Under load the writer also waits, briefly, for the callers it expects:
// those it answered after the last commit and those that queued during it.
// Without that, callers that append in a loop split into two halves that
// take turns, each commit holding only the half that queued during the
// other's (128 such callers give 64 events per fsync). The wait lets the
// half just answered send again and join, so that one fsync serves them
// all. Since the writer takes requests while it writes, it waits only once
// it has written every request that came, and only until the expected
// callers are in: for at most as long as the last COMMIT took, capped at
// maxGatherWait, in all, so that it never costs more than the fsync it
// saves. When the ledger is idle (the batch's first request came later
// than one commit time after the last commit ended, or that commit served
// a single request with nothing queued behind it) the writer never waits.
func (w *writer) run(reqs <-chan *request, done chan<- struct{}) {
	defer close(done)
	ctx := context.Background()
	b := batcher{reqs: reqs, timer: time.NewTimer(time.Hour), max: w.db.opts.MaxBatchEvents}
	b.timer.Stop()
	for {
		req, ok := <-reqs
		if !ok {
			return
		}
		if req.job != nil {
			w.runJob(ctx, req)
			continue
		}
		b.start(req, w.expect, w.gatherWait(time.Now()))
		w.commitFrom(ctx, []*request{req}, &b)
		// The callers just answered, and those that queued meanwhile, are
		// the ones to expect in the next batch.
		w.expect = b.taken + len(reqs)
		w.lastEnd = time.Now()
		if b.job != nil {
			w.runJob(ctx, b.job)
		}
		if b.closed {
			return
		}
	}
}

// gatherWait returns how long, in all, the writer may wait idle for the
// expected requests of a batch whose first request came at arrived: zero
// when the ledger was idle before it (see run).
func (w *writer) gatherWait(arrived time.Time) time.Duration {
	if w.expect < 2 || w.lastCommit <= 0 || arrived.Sub(w.lastEnd) > w.lastCommit {
		return 0
	}
	return min(w.lastCommit, maxGatherWait)
}

// batcher hands the writer the requests of one group commit from the
// queue, while it writes them (see run).
type batcher struct {
	reqs   <-chan *request
	timer  *time.Timer   // reused for every wait
	max    int           // Options.MaxBatchEvents
	expect int           // requests expected in this batch
	budget time.Duration // how much longer the writer may wait idle for them
	taken  int           // requests taken, cancelled ones included
	events int           // events in them
	job    *request      // a job taken from the queue, to run after the commit
	closed bool          // the queue was closed
}

// start begins a batch with its first request.
func (b *batcher) start(first *request, expect int, budget time.Duration) {
	b.expect, b.budget = expect, budget
	b.taken, b.events = 1, len(first.evs)
	b.job = nil
}

// next returns another request for the batch, or nil when the batch is
// complete: it holds MaxBatchEvents events, a job or the end of the queue
// is next, or nothing is queued and the expected callers are in (or the
// wait budget is spent). A request whose caller has given up is answered
// at once and skipped. A nil batcher never has more.
func (b *batcher) next(w *writer) *request {
	for b != nil && b.job == nil && !b.closed && b.events < b.max {
		r, ok, timedOut := b.receive()
		switch {
		case timedOut:
			return nil // nothing came in time
		case !ok:
			b.closed = true
			return nil
		case r.job != nil:
			b.job = r
			return nil
		}
		b.taken++
		b.events += len(r.evs)
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("append to ledger %s: %w", w.db.path, err)
			close(r.done)
			continue
		}
		return r
	}
	return nil
}

// receive takes the next queued request, waiting within the budget when
// none is queued and more are expected. timedOut reports that nothing came
// (or nothing was to be waited for); ok is false when the queue is closed.
func (b *batcher) receive() (r *request, ok, timedOut bool) {
	select {
	case r, ok = <-b.reqs:
		return r, ok, false
	default:
	}
	if b.taken >= b.expect || b.budget <= 0 {
		return nil, true, true
	}
	start := time.Now()
	b.timer.Reset(b.budget)
	defer func() {
		b.timer.Stop()
		b.budget -= time.Since(start)
	}()
	select {
	case r, ok = <-b.reqs:
		return r, ok, false
	case <-b.timer.C:
		return nil, true, true
	}
}

func (w *writer) runJob(ctx context.Context, req *request) {
	if err := req.ctx.Err(); err != nil {
		req.err = err
	} else {
		req.err = req.job(ctx, w)
	}
	close(req.done)
}

// commit writes a batch in one transaction. It first tries all requests
// without savepoints; when one fails it rolls back and writes the batch again
// with a savepoint per request, leaving out the one that failed, so that a
// failing request never takes the others down with it.
func (w *writer) commit(ctx context.Context, batch []*request) {
	w.commitFrom(ctx, batch, nil)
}

// commitFrom is commit of batch and of the requests more gives while the
// first try writes them (none when more is nil).
func (w *writer) commitFrom(ctx context.Context, batch []*request, more *batcher) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("append to ledger %s: %w", w.db.path, err)
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		if r := more.next(w); r != nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	live, failed, err := w.write(ctx, live, false, more)
	if failed != nil {
		failed.err = err
		rest := live[:0:0]
		for _, r := range live {
			if r != failed {
				rest = append(rest, r)
			}
		}
		live = rest
		if len(live) > 0 {
			_, _, err = w.write(ctx, live, true, nil)
		} else {
			err = nil
		}
	}
	for _, r := range live {
		if err != nil {
			r.out = nil
			if r.err == nil {
				r.err = err
			}
		}
		if r.err != nil {
			r.out = nil
		}
		close(r.done)
	}
	if failed != nil {
		close(failed.done)
	}
}

// write runs one transaction over reqs, and over the requests more gives
// once it has written those (reqs with them appended is returned). Without
// savepoints it stops at the first failing request, rolls everything back
// and returns that request and its error. With savepoints a failing request
// is rolled back alone (its error set on it) and the others go on. A
// transaction-level failure (begin, commit) is returned as err with a nil
// request: every request fails.
func (w *writer) write(ctx context.Context, reqs []*request, savepoints bool, more *batcher) ([]*request, *request, error) {
	start := w.head
	if _, err := w.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return reqs, nil, formatError(fmt.Errorf("append to ledger %s: begin: %w", w.db.path, err))
	}
	rollback := func() {
		if _, err := w.conn.ExecContext(ctx, `ROLLBACK`); err != nil {
			w.db.logger.Error("ledger rollback failed", logKeyPath, w.db.path, "error", err)
		}
		w.head = start
	}
	for i := 0; ; i++ {
		if i == len(reqs) {
			r := more.next(w)
			if r == nil {
				break
			}
			reqs = append(reqs, r)
		}
		r := reqs[i]
		before := w.head
		if savepoints {
			if _, err := w.conn.ExecContext(ctx, `SAVEPOINT req`); err != nil {
				rollback()
				return reqs, nil, formatError(fmt.Errorf("append to ledger %s: savepoint: %w", w.db.path, err))
			}
		}
		out, err := w.appendOne(ctx, r)
		if err != nil && !savepoints {
			rollback()
			return reqs, r, err
		}
		if err != nil {
			w.head = before
			r.err = err
			if _, rerr := w.conn.ExecContext(ctx, `ROLLBACK TO req`); rerr != nil {
				rollback()
				return reqs, nil, formatError(fmt.Errorf("append to ledger %s: rollback to savepoint: %w", w.db.path, rerr))
			}
		}
		if savepoints {
			if _, err := w.conn.ExecContext(ctx, `RELEASE req`); err != nil {
				rollback()
				return reqs, nil, formatError(fmt.Errorf("append to ledger %s: release savepoint: %w", w.db.path, err))
			}
		}
		r.out = out
	}
	commitStart := time.Now()
	_, err := w.conn.ExecContext(ctx, `COMMIT`)
	w.lastCommit = time.Since(commitStart)
	if err != nil {
		rollback()
		// A failed COMMIT may still have reached the disk (an I/O error
		// after the WAL write): take the head from the file, not memory.
		if lerr := w.loadHead(ctx); lerr != nil {
			w.db.logger.Error("ledger head unknown after a failed commit", logKeyPath, w.db.path, "error", lerr)
		}
		return reqs, nil, formatError(fmt.Errorf("append to ledger %s: commit: %w", w.db.path, err))
	}
	w.commits.Add(1)
	w.events.Add(w.head.Seq - start.Seq)
	return reqs, nil, nil
}

// appendOne stamps, chains, inserts and projects the events of one request.
func (w *writer) appendOne(ctx context.Context, r *request) ([]station.Event, error) {
	now := w.db.clock.Now()
	t := now.UTC.UTC()
	if t.IsZero() {
		return nil, fmt.Errorf("append to ledger %s: the clock returned no time", w.db.path)
	}
	switch now.State {
	case station.ClockSynced, station.ClockDegraded, station.ClockUnsynced:
	default:
		return nil, fmt.Errorf("append to ledger %s: the clock returned unknown state %q", w.db.path, now.State)
	}
	if w.head.Seq > 0 && t.Before(w.head.Time) {
		step := station.ClockStepped{From: w.head.Time, To: t}
		raw, err := json.Marshal(step)
		if err != nil {
			return nil, fmt.Errorf("append to ledger %s: encode clock step: %w", w.db.path, err)
		}
		ev := w.stamp(station.EventClockStepped, raw, station.SystemUser, now, t)
		if err := w.insert(ctx, &ev, &step); err != nil {
			return nil, err
		}
		w.db.logger.Warn("clock stepped back", logKeySeq, ev.Seq, "from", step.From, "to", step.To)
	}
	ts := station.FormatTime(t) // one clock reading for the whole request
	out := make([]station.Event, len(r.evs))
	for i, p := range r.evs {
		out[i] = w.stamp(p.typ, p.raw, p.user, now, t)
		if err := w.insertRow(ctx, &out[i], p.payload, p.text, ts); err != nil {
			if len(r.evs) > 1 {
				return nil, fmt.Errorf("event %d of %d: %w", i+1, len(r.evs), err)
			}
			return nil, err
		}
	}
	return out, nil
}

// stamp makes the next event of the chain.
func (w *writer) stamp(typ station.EventType, raw json.RawMessage, user string, now station.Time, t time.Time) station.Event {
	ev := station.Event{
		Seq:         w.head.Seq + 1,
		ID:          station.NewEventID(t),
		Station:     w.db.station,
		Type:        typ,
		Payload:     raw,
		Time:        t,
		ClockOffset: now.Offset,
		ClockState:  now.State,
		User:        user,
		PrevHash:    w.head.Hash,
	}
	ev.Hash = ev.ComputeHash()
	return ev
}

// insert writes ev to the journal, applies it to the projections and moves
// the head.
func (w *writer) insert(ctx context.Context, ev *station.Event, p station.Payload) error {
	return w.insertRow(ctx, ev, p, string(ev.Payload), station.FormatTime(ev.Time))
}

// insertRow is insert with ev's payload and time given in their column
// form (string(ev.Payload) and station.FormatTime(ev.Time)), which the
// append path makes outside the per-event work of the writer.
func (w *writer) insertRow(ctx context.Context, ev *station.Event, p station.Payload, payload, ts string) error {
	_, err := w.conn.ExecContext(ctx, `INSERT INTO journal (seq, id, station, type, payload, time, offset_ns, clock_state, user, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Seq, ev.ID, ev.Station, string(ev.Type), payload, ts,
		int64(ev.ClockOffset), string(ev.ClockState), ev.User, ev.PrevHash, ev.Hash)
	if err != nil {
		return formatError(fmt.Errorf("append %s to ledger %s: %w", ev.Type, w.db.path, err))
	}
	if err := apply(ctx, w.conn, ev, p); err != nil {
		return err
	}
	w.head = station.Head{Seq: ev.Seq, Hash: ev.Hash, Time: ev.Time}
	return nil
}

// Head returns the last recorded event's seq, hash and time (Seq 0 and
// GenesisHash for an empty journal).
func (db *DB) Head(ctx context.Context) (station.Head, error) {
	var h station.Head
	var ts string
	err := db.r.QueryRowContext(ctx, `SELECT seq, hash, time FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return station.Head{Hash: station.GenesisHash}, nil
	}
	if err != nil {
		return h, formatError(fmt.Errorf("read head of ledger %s: %w", db.path, err))
	}
	if h.Time, err = station.ParseTime(ts); err != nil {
		return h, fmt.Errorf("read head of ledger %s: seq %d: %w", db.path, h.Seq, err)
	}
	return h, nil
}

// Events returns up to limit events with Seq >= fromSeq, in seq order.
func (db *DB) Events(ctx context.Context, fromSeq int64, limit int) ([]station.Event, error) {
	if limit <= 0 {
		return nil, station.Errorf(station.EINVALID, "events: limit %d must be positive", limit)
	}
	rows, err := db.r.QueryContext(ctx, selectEvents+` WHERE seq >= ? ORDER BY seq LIMIT ?`, fromSeq, limit)
	if err != nil {
		return nil, formatError(fmt.Errorf("read events of ledger %s from seq %d: %w", db.path, fromSeq, err))
	}
	defer rows.Close()
	var out []station.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events of ledger %s: %w", db.path, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(fmt.Errorf("read events of ledger %s from seq %d: %w", db.path, fromSeq, err))
	}
	return out, nil
}

const selectEvents = `SELECT seq, id, station, type, payload, time, offset_ns, clock_state, user, prev_hash, hash FROM journal`

// scanEvent reads one journal row. A time that is not in canonical form is
// an error that names the seq.
func scanEvent(rows interface{ Scan(...any) error }) (station.Event, error) {
	var ev station.Event
	var c sqlitex.EventColumns
	if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Station, &c.Type, &c.Payload, &c.Time, &c.ClockOffset, &c.ClockState, &ev.User, &ev.PrevHash, &ev.Hash); err != nil {
		return ev, formatError(fmt.Errorf("scan journal row: %w", err))
	}
	return ev, c.Fill(&ev)
}
