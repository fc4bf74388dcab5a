package station_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

// propWorld is one station driven by fuzzed operations: a line run of a
// large order whose devices the operations move step by step, and the
// packing and warehouse operations around it.
type propWorld struct {
	*world
	l        *line
	order    station.OrderStatus
	window   []station.UnitCode // printed cartons on their way to the camera
	parents  []station.Item     // containers opened
	pallets  []station.Item
	ships    int
	lastGood string

	// journal checker state
	next      int64
	printed   map[string]int
	decided   map[string]int
	allocated map[string]int
	parentOf  map[station.Item]station.Item
}

func newPropWorld(tb testing.TB) *propWorld {
	w := MustWorld(tb, station.PoolPolicy{LowWater: 50, Batch: 200})
	w.MustOrder("PO-F", 1000000, 300)
	l := w.MustLine("PO-F", func(int) fault { return fOK }, station.RunConfig{AllocateBatch: 8, QueueAhead: 4, HealthEvery: time.Hour})
	o, err := w.svc.Order(w.ctx, "PO-F")
	must(tb, err)
	return &propWorld{world: w, l: l, order: o, next: 1, printed: map[string]int{}, decided: map[string]int{}, allocated: map[string]int{},
		parentOf: map[station.Item]station.Item{}}
}

// quiet waits until the run took every acknowledgement and every read
// and recorded every decision.
func (p *propWorld) quiet(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := p.l.run.Snapshot()
		if s.Acked == int64(p.l.coder.PrintedCount()) && s.Printed == s.Acked && s.Reads == int64(p.l.camera.Sent()) && s.Deciding == 0 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
	tb.Fatalf("the run did not settle: %+v", p.l.run.Snapshot())
}

// commissioned returns a commissioned pack of the order picked by b, if any.
func (p *propWorld) commissioned(tb testing.TB, b byte) (string, bool) {
	ss, err := p.db.OrderSerials(p.ctx, "PO-F", station.UnitStateCommissioned, 64)
	must(tb, err)
	if len(ss) == 0 {
		return "", false
	}
	return ss[int(b)%len(ss)], true
}

func pick[T any](xs []T, b byte) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[int(b)%len(xs)], true
}

// step runs one operation; errors from refused operations are expected
// and ignored (the invariants are what is checked).
func (p *propWorld) step(tb testing.TB, op, arg byte) {
	ctx := p.ctx
	o := p.order
	read := func(r station.CameraRead) {
		p.quiet(tb)
		p.l.camera.Send(r)
		p.quiet(tb)
	}
	switch op % 20 {
	case 0, 1, 2: // the coder prints the next carton
		if p.l.plc.State() == station.LineStateExecute {
			p.quiet(tb)
			// give the feeder its moment to queue codes, as the line's pitch would
			for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
				if st, _ := p.l.coder.Status(p.ctx); st.Queued > 0 || p.l.run.Snapshot().State != station.RunRunning {
					break
				}
			}
			if code, ok := p.l.coder.Print(); ok {
				p.window = append(p.window, code)
			}
			p.quiet(tb)
		}
	case 3, 4: // the head carton reaches the camera, read well or with a fault
		if len(p.window) == 0 {
			return
		}
		c := p.window[0]
		p.window = p.window[1:]
		switch arg % 7 {
		case 0, 1, 2:
			read(station.CameraRead{Symbology: "]d2", Data: c.Data, Grade: 3.9})
			p.lastGood = c.Data
		case 3:
			read(station.CameraRead{NoRead: true, Grade: station.NoGrade})
		case 4:
			read(station.CameraRead{Symbology: "]d2", Data: c.Data + "X", Grade: 3.9})
		case 5:
			read(station.CameraRead{Symbology: "]d2", Data: p.lastGood, Grade: 3.9})
		case 6:
			read(station.CameraRead{Symbology: "]d2", Data: c.Data, Grade: 0.2})
		}
	case 5: // a carton falls off, or overtakes the next
		if len(p.window) > 1 && arg%2 == 0 {
			p.window[0], p.window[1] = p.window[1], p.window[0]
		} else if len(p.window) > 0 {
			p.window = p.window[1:]
		}
	case 6: // an operator takes a carton off the line
		if c, ok := pick(p.window, arg); ok {
			p.quiet(tb)
			_ = p.l.run.RejectManual(ctx, "op", c.Serial, "fuzz")
			p.quiet(tb)
		}
	case 7:
		_ = p.l.run.Hold(ctx, "op", "fuzz")
	case 8:
		p.quiet(tb)
		_ = p.l.run.Resume(ctx, "op")
	case 9: // open a case or pallet
		level := station.LevelCase
		if arg%3 == 0 {
			level = station.LevelPallet
		}
		if c, err := p.svc.OpenParent(ctx, "pack", "PO-F", level); err == nil {
			p.parents = append(p.parents, c.Parent)
		}
	case 10, 11: // pack a commissioned pack, or any pack, into a parent
		parent, ok := pick(p.parents, arg)
		if !ok {
			return
		}
		if s, ok := p.commissioned(tb, arg/3); ok {
			_, _ = p.svc.Pack(ctx, "pack", parent, unitScan(o, s))
		}
		if c, ok := pick(p.parents, arg/5); ok {
			_, _ = p.svc.Pack(ctx, "pack", parent, "(00)"+c.SSCC)
		}
	case 12: // close a parent (partial ones signed)
		if parent, ok := pick(p.parents, arg); ok {
			_, _ = p.svc.CloseParent(ctx, "pack", parent, p.sig("sup", station.MeaningPartial, "fuzz"))
		}
	case 13: // unpack one child or everything
		parent, ok := pick(p.parents, arg)
		if !ok {
			return
		}
		if arg%2 == 0 {
			_, _ = p.svc.Unpack(ctx, "pack", parent, nil, "fuzz")
		} else if kids, err := p.db.Children(ctx, parent); err == nil && len(kids) > 0 {
			_, _ = p.svc.Unpack(ctx, "pack", parent, []station.Item{kids[int(arg)%len(kids)].Child}, "fuzz")
		}
	case 14: // rework
		parent, ok := pick(p.parents, arg)
		if !ok {
			return
		}
		kids, err := p.db.Children(ctx, parent)
		s, ok := p.commissioned(tb, arg/7)
		if err == nil && len(kids) > 0 && ok && kids[0].Child.SSCC == "" {
			_ = p.svc.Replace(ctx, "pack", unitScan(o, kids[0].Child.Serial), unitScan(o, s), "fuzz", p.sig("sup", station.MeaningRework, "fuzz"))
		}
	case 15: // decommission or sample
		if s, ok := p.commissioned(tb, arg); ok {
			if arg%2 == 0 {
				_, _ = p.svc.Decommission(ctx, "pack", unitScan(o, s), station.DecommissionDamaged, "fuzz", p.sig("qa", station.MeaningDestroyed, "fuzz"))
			} else {
				_, _ = p.svc.Sample(ctx, "pack", unitScan(o, s), "qa", p.sig("qa", station.MeaningDestroyed, "fuzz"))
			}
		}
	case 16: // quarantine or release
		if s, ok := p.commissioned(tb, arg); ok {
			if arg%2 == 0 {
				_, _ = p.svc.Quarantine(ctx, "pack", unitScan(o, s), "fuzz")
			} else {
				_, _ = p.svc.ReleaseQuarantine(ctx, "pack", unitScan(o, s), p.sig("qa", station.MeaningReleased, "fuzz"))
			}
		}
	case 17: // ship a parent or a loose pack
		p.ships++
		id := fmt.Sprintf("SH-%d-%d", p.next, p.ships)
		sh := station.Shipment{ID: id, ShipFrom: "0300010000008", Owner: "0300010000008", ShipTo: "0614141000005", Partner: "0614141000005", PO: "PO"}
		if p.svc.CreateShipment(ctx, "pack", sh) != nil {
			return
		}
		if parent, ok := pick(p.parents, arg); ok && arg%2 == 0 {
			_, _ = p.svc.Pick(ctx, "pack", id, "(00)"+parent.SSCC)
		} else if s, ok := p.commissioned(tb, arg); ok {
			_, _ = p.svc.Pick(ctx, "pack", id, unitScan(o, s))
		}
		_ = p.svc.PackShipment(ctx, "pack", id)
		_ = p.svc.Ship(ctx, "pack", id)
	case 18: // pack something that is not a commissioned pack
		if parent, ok := pick(p.parents, arg); ok {
			if c, ok := pick(p.window, arg); ok {
				_, _ = p.svc.Pack(ctx, "pack", parent, unitScan(o, c.Serial))
			}
			_, _ = p.svc.Pack(ctx, "pack", parent, fmt.Sprintf("(01)%s(21)X%d", unitGTIN, arg))
		}
	case 19: // return a shipped pack
		if s, ok := p.commissioned(tb, arg); ok {
			_, _ = p.svc.Return(ctx, "pack", unitScan(o, s), "0614141000005", "fuzz")
		}
	}
}

// check verifies the invariants: no serial allocated, printed or decided
// twice, no child in two parents (replaying the journal), no parent over
// capacity, and the reconciliation identities.
func (p *propWorld) check(tb testing.TB) {
	tb.Helper()
	p.quiet(tb)
	for {
		evs, err := p.db.Events(p.ctx, p.next, 2000)
		must(tb, err)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			pl, err := station.DecodePayload(e.Type, e.Payload)
			must(tb, err)
			switch x := pl.(type) {
			case *station.UnitAllocated:
				if p.allocated[x.Serial]++; p.allocated[x.Serial] > 1 {
					tb.Fatalf("seq %d: serial %s allocated twice", e.Seq, x.Serial)
				}
			case *station.UnitPrinted:
				if p.printed[x.Serial]++; p.printed[x.Serial] > 1 {
					tb.Fatalf("seq %d: serial %s printed twice", e.Seq, x.Serial)
				}
			case *station.UnitCommissioned:
				if p.decided[x.Serial]++; p.decided[x.Serial] > 1 {
					tb.Fatalf("seq %d: serial %s decided twice", e.Seq, x.Serial)
				}
			case *station.UnitRejected:
				if p.decided[x.Serial]++; p.decided[x.Serial] > 1 {
					tb.Fatalf("seq %d: serial %s decided twice", e.Seq, x.Serial)
				}
			case *station.AggregationPacked:
				for _, c := range x.Children {
					if old, ok := p.parentOf[c]; ok {
						tb.Fatalf("seq %d: %s packed into %s while in %s", e.Seq, c, x.Parent, old)
					}
					p.parentOf[c] = x.Parent
				}
			case *station.AggregationUnpacked:
				for _, c := range x.Children {
					if p.parentOf[c] != x.Parent {
						tb.Fatalf("seq %d: %s unpacked from %s but is in %v", e.Seq, c, x.Parent, p.parentOf[c])
					}
					delete(p.parentOf, c)
				}
			}
			p.next = e.Seq + 1
		}
	}
	for _, parent := range p.parents {
		c, err := p.db.Container(p.ctx, parent)
		must(tb, err)
		if c.Count > c.Capacity {
			tb.Fatalf("%s holds %d of %d", parent, c.Count, c.Capacity)
		}
	}
	r, err := station.Reconcile(p.ctx, p.db, "PO-F")
	must(tb, err)
	var rejects int64
	for _, rc := range r.Rejects {
		rejects += rc.Count
	}
	if r.Allocated != r.Printed+r.Unused+r.Pending || r.Printed != r.Commissioned+r.Rejected+r.Undecided ||
		r.Commissioned != r.Aggregated+r.Loose+r.Sampled+r.Decommissions || r.Rejected != rejects || r.Loose < 0 {
		tb.Fatalf("reconciliation identities broken: %+v", r)
	}
	if testing.Verbose() {
		tb.Logf("allocated %d printed %d commissioned %d rejected %d aggregated %d containers %d", r.Allocated, r.Printed, r.Commissioned, r.Rejected, r.Aggregated, len(p.parents))
	}
}

// FuzzService_Operations: any sequence of operations, legal or not, never
// issues a serial twice, never gives a child two parents, and keeps the
// reconciliation equations true. One station (real ledger, real run) per
// worker takes every input in turn, so sequences build on each other.
func FuzzService_Operations(f *testing.F) {
	for _, seed := range []string{
		"\x00\x00\x00\x00\x00\x00\x03\x00\x03\x00\x03\x03\x03\x04\x03\x05\x09\x01\x0a\x00\x0a\x01\x0c\x00",
		"\x00\x00\x00\x00\x00\x05\x00\x03\x00\x06\x01\x07\x00\x08\x00\x03\x00\x03\x02\x09\x00\x09\x01\x0b\x02\x0d\x01\x0e\x00",
		"\x00\x00\x00\x00\x03\x00\x03\x00\x03\x00\x09\x01\x0a\x00\x0a\x00\x0a\x00\x0c\x00\x09\x00\x0a\x00\x0c\x00\x11\x00\x10\x00\x0f\x01\x13\x00\x12\x00",
	} {
		f.Add([]byte(seed))
	}
	p := newPropWorld(f)
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 { // 32 operations: each may wait for fsyncs, and minimizing an input reruns it often
			ops = ops[:64]
		}
		for i := 0; i+1 < len(ops); i += 2 {
			p.step(t, ops[i], ops[i+1])
		}
		p.check(t)
	})
}
