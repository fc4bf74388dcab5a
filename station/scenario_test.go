package station_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

// TestScenario_FullOrder drives one order through the whole domain with
// in-process fakes of the coder, camera and PLC on a real ledger: about
// 5,000 packs with a 2% reject mix covering every reject reason, 10 cases
// (8 full, 2 partial), 2 pallets, a rework, samples, a decommissioning, a
// quarantine and a shipment; then it checks the journal, the projections
// and the reconciliation exactly, rebuilds the projections and checks again.
func TestScenario_FullOrder(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{LowWater: 1500, Batch: 2500})
	const quantity = 4902
	w.MustOrder("PO-1", quantity, 2500)

	// The fault plan: one planned fault every 53 cartons, cycling through
	// the kinds; a coder fault at carton 2520 (all packs in flight then are
	// rejected as printer faults).
	kinds := []fault{fNoRead, fWrong, fLowGrade, fDup, fMissing, fEarly, fManual, fClock, fNoRead, fWrong, fLowGrade, fDup, fMissing, fEarly, fManual, fD1}
	plan := map[int]fault{}
	want := map[station.RejectReason]int64{}
	reasonOf := map[fault]station.RejectReason{fNoRead: station.RejectNoRead, fWrong: station.RejectWrongContent, fD1: station.RejectWrongContent,
		fLowGrade: station.RejectLowGrade, fDup: station.RejectDuplicate, fMissing: station.RejectMissing, fEarly: station.RejectOutOfSequence,
		fManual: station.RejectManual, fClock: station.RejectClock}
	for k := 0; 40+53*k < 4880; k++ {
		f := kinds[k%len(kinds)]
		plan[40+53*k] = f
		want[reasonOf[f]]++
	}
	const faultAt = 2520
	l := w.MustLine("PO-1", func(i int) fault { return plan[i] }, station.RunConfig{AllocateBatch: 64, QueueAhead: 8})
	var printerFaults int
	var faulted bool
	l.cv.plan = func(i int) fault {
		if i == faultAt+1 && !faulted {
			faulted = true
			// The carton before was the last printed before the fault: wait
			// until the station took every print and read, then fault.
			l.cv.mu.Lock()
			inWindow := len(l.cv.window)
			l.cv.mu.Unlock()
			stationtest.Poll(t, 10*time.Second, "the line is quiet before the coder fault", func() bool {
				s := l.run.Snapshot()
				return s.Acked == int64(i) && s.InFlight == inWindow
			})
			printerFaults = inWindow
			l.coder.Fault()
		}
		return plan[i]
	}
	l.Go()
	ctx, cancel := context.WithCancel(context.Background())
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		l.resumeHolds(ctx, t)
	}()
	stationtest.Poll(t, 120*time.Second, "the run commissions the order's quantity", func() bool {
		return l.run.Snapshot().State == station.RunDone
	})
	cancel()
	<-resumed
	want[station.RejectPrinterFault] = int64(printerFaults)
	if printerFaults == 0 {
		t.Fatal("the coder fault caught no pack in flight")
	}
	var rejects int64
	for _, n := range want {
		rejects += n
	}
	s := l.run.Snapshot()
	if s.Commissioned != quantity || s.Rejected != rejects || fmt.Sprint(s.Rejects) != fmt.Sprint(want) || s.Unidentified != 0 {
		t.Fatalf("run: commissioned %d, rejected %d %v, unidentified %d; want %d, %d %v", s.Commissioned, s.Rejected, s.Rejects, s.Unidentified, quantity, rejects, want)
	}
	if got := len(l.plc.Rejects()); int64(got) != rejects {
		t.Fatalf("the reject gate took %d packs, want %d", got, rejects)
	}
	must(t, l.run.Complete(w.ctx, "op"))
	printed := int64(quantity) + rejects

	// Packing: 10 cases (8 full of 40, partial ones of 25 and 30), 2 pallets of 5.
	o, err := w.svc.Order(w.ctx, "PO-1")
	must(t, err)
	loose, err := w.db.OrderSerials(w.ctx, "PO-1", station.UnitStateCommissioned, quantity)
	must(t, err)
	next := 0
	var cases []station.Item
	for c, n := range []int{40, 40, 40, 40, 25, 40, 40, 40, 40, 30} {
		cs, err := w.svc.OpenParent(w.ctx, "pack", "PO-1", station.LevelCase)
		must(t, err)
		for j := 0; j < n; j++ {
			res, err := w.svc.Pack(w.ctx, "pack", cs.Parent, unitScan(o, loose[next]))
			must(t, err)
			next++
			if res.Count != j+1 || res.Full != (j+1 == 40) {
				t.Fatalf("case %d: pack %d: %+v", c, j, res)
			}
		}
		var sig *station.SignRequest
		if n < 40 {
			sig = w.sig("sup", station.MeaningPartial, "end of lot")
		}
		closed, err := w.svc.CloseParent(w.ctx, "pack", cs.Parent, sig)
		must(t, err)
		if closed.Status != station.ContainerClosed || closed.Partial != (n < 40) || closed.Count != n || !closed.Labeled {
			t.Fatalf("case %d closed = %+v", c, closed)
		}
		cases = append(cases, cs.Parent)
	}
	var pallets []station.Item
	for p := 0; p < 2; p++ {
		pl, err := w.svc.OpenParent(w.ctx, "pack", "PO-1", station.LevelPallet)
		must(t, err)
		for _, c := range cases[5*p : 5*p+5] {
			_, err := w.svc.Pack(w.ctx, "pack", pl.Parent, "(00)"+c.SSCC)
			must(t, err)
		}
		_, err = w.svc.CloseParent(w.ctx, "pack", pl.Parent, nil)
		must(t, err)
		pallets = append(pallets, pl.Parent)
	}
	if got := len(w.printer.Labels()); got != 12 {
		t.Fatalf("%d labels printed, want 12 (10 cases, 2 pallets)", got)
	}

	// Rework: a damaged pack in the first case is replaced by a loose one.
	damaged, spare := loose[3], loose[next]
	next++
	must(t, w.svc.Replace(w.ctx, "pack", unitScan(o, damaged), unitScan(o, spare), "carton crushed", w.sig("sup", station.MeaningRework, "crushed in the case")))
	// Samples and a decommissioning of loose packs.
	for _, sr := range loose[next : next+2] {
		_, err := w.svc.Sample(w.ctx, "pack", unitScan(o, sr), "retention", w.sig("qa", station.MeaningDestroyed, "retention sample"))
		must(t, err)
	}
	next += 2
	_, err = w.svc.Decommission(w.ctx, "pack", unitScan(o, loose[next]), station.DecommissionDamaged, "dropped", w.sig("sup", station.MeaningDestroyed, "dropped on the floor"))
	must(t, err)
	next++

	// A quarantined pack in the second pallet keeps that pallet from shipping.
	inPallet2 := loose[5*40+10] // in the sixth case, on the second pallet
	_, err = w.svc.Quarantine(w.ctx, "pack", unitScan(o, inPallet2), "suspect print")
	must(t, err)
	sh := station.Shipment{ID: "SH-1", ShipFrom: "0300010000008", Owner: "0300010000008", ShipTo: "0614141000005", Partner: "0614141000005", PO: "PO-4711", Desadv: "DA-1"}
	must(t, w.svc.CreateShipment(w.ctx, "pack", sh))
	_, err = w.svc.Pick(w.ctx, "pack", "SH-1", "(00)"+pallets[1].SSCC)
	wantErr(t, err, station.ECONFLICT, "a quarantined pack cannot ship")
	_, err = w.svc.Pick(w.ctx, "pack", "SH-1", "(00)"+pallets[0].SSCC)
	must(t, err)
	must(t, w.svc.PackShipment(w.ctx, "pack", "SH-1"))
	must(t, w.svc.Ship(w.ctx, "pack", "SH-1"))
	st, err := w.svc.Status(w.ctx, unitScan(o, loose[0]))
	must(t, err)
	if st.Stock.Status != station.StockShipped || st.Stock.Shipment != "SH-1" || st.Lot != "LOT-PO-1" || st.Parent == nil || st.Parent.Parent != cases[0] {
		t.Fatalf("status of a shipped pack = %+v", st)
	}

	// The reconciliation, exactly.
	const aggregated = 8*40 + 25 + 30
	rec, err := w.svc.CloseOrder(w.ctx, "PO-1", station.CloseRequest{User: "sup", Signature: w.sig("sup", station.MeaningClosed, "reconciled, no difference")})
	must(t, err)
	checkRec := func(rec station.Reconciliation) {
		t.Helper()
		if !rec.Balanced || rec.Printed != printed || rec.Commissioned != quantity || rec.Rejected != rejects || rec.Allocated != rec.Printed+rec.Unused ||
			rec.Unused == 0 || rec.Pending != 0 || rec.Undecided != 0 || rec.Aggregated != aggregated || rec.Sampled != 2 || rec.Decommissions != 2 ||
			rec.Loose != quantity-aggregated-4 || rec.Cases != 10 || rec.Pallets != 2 {
			t.Fatalf("reconciliation = %+v", rec)
		}
		for _, rc := range rec.Rejects {
			if rc.Count != want[station.RejectReason(rc.Reason)] {
				t.Fatalf("rejects %s = %d, want %d", rc.Reason, rc.Count, want[station.RejectReason(rc.Reason)])
			}
		}
		if fmt.Sprint(rec.DecommissionReasons) != "[{damaged 1} {replaced 1}]" || fmt.Sprint(rec.SamplePurposes) != "[{retention 2}]" {
			t.Fatalf("breakdown: %v %v", rec.DecommissionReasons, rec.SamplePurposes)
		}
	}
	checkRec(rec)
	closed, err := w.svc.Order(w.ctx, "PO-1")
	must(t, err)
	if closed.State != station.OrderClosed {
		t.Fatalf("order is %s after closing", closed.State)
	}
	if pool, err := w.db.Pool(w.ctx, unitGTIN); err != nil || pool.Available != 0 || pool.Returned == 0 {
		t.Fatalf("pool after close = %+v, %v: want every unused serial returned", pool, err)
	}

	// The journal, event by event.
	counts := map[station.EventType]int64{}
	var reconciled *station.OrderReconciled
	var sigs []station.Meaning
	for from := int64(1); ; {
		evs, err := w.db.Events(w.ctx, from, 5000)
		must(t, err)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			counts[e.Type]++
			switch e.Type {
			case station.EventOrderReconciled:
				p, err := station.DecodePayload(e.Type, e.Payload)
				must(t, err)
				reconciled = p.(*station.OrderReconciled)
			case station.EventSignatureRecorded:
				p, _ := station.DecodePayload(e.Type, e.Payload)
				sigs = append(sigs, p.(*station.SignatureRecorded).Meaning)
			case station.EventUnitCommissioned:
				if e.ClockState == station.ClockUnsynced {
					t.Fatalf("seq %d: a pack was commissioned while the clock was unsynced", e.Seq)
				}
			}
		}
		from = evs[len(evs)-1].Seq + 1
	}
	for typ, n := range map[station.EventType]int64{
		station.EventUnitPrinted: printed, station.EventUnitVerified: quantity, station.EventUnitCommissioned: quantity,
		station.EventUnitRejected: rejects, station.EventUnitSampled: 2, station.EventUnitDecommissioned: 2,
		station.EventSSCCAllocated: 12, station.EventAggregationOpened: 12, station.EventAggregationClosed: 13,
		station.EventAggregationPacked: aggregated + 10 + 1, station.EventAggregationUnpacked: 1,
		station.EventShipmentShipped: 1, station.EventOrderReconciled: 1, station.EventSignatureRecorded: 7,
	} {
		if counts[typ] != n {
			t.Errorf("journal has %d %s events, want %d", counts[typ], typ, n)
		}
	}
	if h, _ := station.RecordHash(reconciled.Record); reconciled == nil || h != reconciled.Hash || reconciled.Record.Printed != printed {
		t.Fatalf("order.reconciled record does not match its hash")
	}
	if fmt.Sprint(sigs) != "[approved partial approved partial approved rework destroyed destroyed destroyed closed]" {
		t.Fatalf("signatures = %v", sigs)
	}

	// The projections: trees, and a rebuild from the journal that agrees.
	tree, err := w.svc.Tree(w.ctx, pallets[0])
	must(t, err)
	if tree.Count(station.LevelCase) != 5 || tree.Count(station.LevelUnit) != 4*40+25 || tree.Stock != station.StockShipped {
		t.Fatalf("pallet 1 tree: %d cases, %d units, %s", tree.Count(station.LevelCase), tree.Count(station.LevelUnit), tree.Stock)
	}
	before, _ := json.Marshal(rec)
	rep, err := w.db.Verify(w.ctx)
	must(t, err)
	if !rep.OK() {
		t.Fatalf("ledger does not verify: %+v", rep)
	}
	if _, err := w.db.Rebuild(w.ctx); err != nil {
		t.Fatal(err)
	}
	again, err := station.Reconcile(w.ctx, w.db, "PO-1")
	must(t, err)
	again.State = station.OrderCompleted // the record was taken before the close
	again.AsOfSeq, again.AsOfHash = rec.AsOfSeq, rec.AsOfHash
	after, _ := json.Marshal(again)
	if string(before) != string(after) {
		t.Fatalf("reconciliation after rebuild differs:\n%s\n%s", before, after)
	}
	if tree2, err := w.svc.Tree(w.ctx, pallets[1]); err != nil || tree2.Count(station.LevelUnit) != 4*40+30 {
		t.Fatalf("pallet 2 tree after rebuild: %v", err)
	}
}
