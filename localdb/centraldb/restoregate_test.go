package centraldb_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/uplink"
)

// push sends the station's journal after what the store holds, with the
// station's head as its report.
func push(tb testing.TB, db *centraldb.DB, led *localdb.DB, id string) {
	tb.Helper()
	held, err := db.Head(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	head, err := led.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	evs, err := led.Events(ctx, held.Seq+1, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Ingest(ctx, id, evs, uplink.OutboxReport{Head: head.Seq}); err != nil {
		tb.Fatal(err)
	}
}

// issue reserves serials and an SSCC block for station id at the store and
// records them in its ledger as the station does.
func issue(tb testing.TB, db *centraldb.DB, led *localdb.DB, id, req string) (uplink.Reservation, uplink.SSCCBlock) {
	tb.Helper()
	r, err := db.Reserve(ctx, id, uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 50, RequestID: "s-" + req})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := db.ReserveSSCC(ctx, id, uplink.SSCCRequest{Prefix: "030001", Count: 100, RequestID: "b-" + req})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := led.Append(ctx,
		station.NewEvent{Payload: station.PoolReserved{GTIN: r.GTIN, Serials: r.Serials, Source: "central"}, User: station.SystemUser},
		station.NewEvent{Payload: station.SSCCRangeReceived{Prefix: b.Prefix, First: b.First, Last: b.Last, Block: b.ID}, User: station.SystemUser}); err != nil {
		tb.Fatal(err)
	}
	return r, b
}

// TestDB_RestoreGate issues serials (sequential, so that a rolled-back
// counter would issue the same ones again) and SSCC blocks, snapshots the
// store, issues more, and restores the snapshot: the restored store issues
// nothing until the station has synced, then nothing it issued before.
func TestDB_RestoreGate(t *testing.T) {
	dir := t.TempDir()
	db := centraltest.MustStorePath(t, filepath.Join(dir, "central.db"))
	p := centraltest.Product()
	p.Serial = station.SerialScheme{Sequential: true, Length: 12, Alphabet: "0123456789"}
	if _, err := db.PutProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	mustStation(t, db, "s1", "line-1")
	if _, err := db.Enroll(ctx, "code-s1", "token-s1"); err != nil {
		t.Fatal(err)
	}
	led := centraltest.MustLedger(t, filepath.Join(dir, "s1.db"), "s1", &centraltest.Clock{})
	issue(t, db, led, "s1", "1")
	push(t, db, led, "s1")
	snap := filepath.Join(dir, "snapshot.db")
	if _, err := db.SnapshotFile(ctx, snap); err != nil {
		t.Fatal(err)
	}
	after, afterBlock := issue(t, db, led, "s1", "2") // after the snapshot
	push(t, db, led, "s1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	restored, err := centraldb.Open(ctx, snap, centraldb.Options{Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	awaited, err := restored.MarkRestored(ctx, "gen-1")
	if err != nil || len(awaited) != 1 || awaited[0] != "s1" {
		t.Fatalf("MarkRestored = %v, %v; want s1 awaited", awaited, err)
	}
	// Before s1 synced: nothing is issued, to stations or the ERP.
	for name, try := range map[string]func() error{
		"serials to a station": func() error {
			_, err := restored.Reserve(ctx, "s1", uplink.ReserveRequest{GTIN: p.GTIN, Count: 10, RequestID: "s-3"})
			return err
		},
		"serials to the ERP": func() error {
			_, err := restored.Reserve(ctx, "erp:x", uplink.ReserveRequest{GTIN: p.GTIN, Count: 10, RequestID: "e-1"})
			return err
		},
		"an SSCC block": func() error {
			_, err := restored.ReserveSSCC(ctx, "s1", uplink.SSCCRequest{Prefix: "030001", Count: 10, RequestID: "b-3"})
			return err
		},
	} {
		if err := try(); station.ErrorCode(err) != station.EUNAVAILABLE || !strings.Contains(station.ErrorMessage(err), "s1") ||
			!strings.Contains(station.ErrorMessage(err), "restore-accept") {
			t.Errorf("%s before the station synced: %v, want EUNAVAILABLE naming s1 and restore-accept", name, err)
		}
	}

	// s1 sends what the snapshot lacks: the authority learns what it holds.
	push(t, restored, led, "s1")
	if awaited, err := restored.RestoreAwaited(ctx); err != nil || len(awaited) != 0 {
		t.Fatalf("after s1 synced, awaited %v, %v", awaited, err)
	}
	held := map[string]bool{}
	for _, s := range after.Serials {
		held[s] = true
	}
	r, err := restored.Reserve(ctx, "s1", uplink.ReserveRequest{GTIN: p.GTIN, Count: 100, RequestID: "s-4"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Serials {
		if held[s] {
			t.Fatalf("serial %s issued after the snapshot was issued again after the restore", s)
		}
	}
	b, err := restored.ReserveSSCC(ctx, "s1", uplink.SSCCRequest{Prefix: "030001", Count: 10, RequestID: "b-4"})
	if err != nil {
		t.Fatal(err)
	}
	if b.First <= afterBlock.Last {
		t.Fatalf("SSCC block %d..%d issued after the restore overlaps the block %d..%d issued after the snapshot", b.First, b.Last, afterBlock.First, afterBlock.Last)
	}
	conflicts := 0
	sts, err := restored.Stations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		conflicts += int(s.Conflicts)
	}
	if conflicts != 0 {
		t.Fatalf("the resync after the restore recorded %d conflicts, want none", conflicts)
	}
}

// TestDB_RestoreAccept: an admin stops waiting for a station gone for good.
func TestDB_RestoreAccept(t *testing.T) {
	db := centraltest.MustStore(t)
	for _, id := range []string{"s1", "s2"} {
		mustStation(t, db, id, "line-1")
		if _, err := db.Enroll(ctx, "code-"+id, "token-"+id); err != nil {
			t.Fatal(err)
		}
	}
	if aw, err := db.MarkRestored(ctx, "gen-1"); err != nil || len(aw) != 2 {
		t.Fatalf("MarkRestored = %v, %v", aw, err)
	}
	if _, err := db.AcceptRestore(ctx, []string{"nope"}); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("accept an unknown station: %v, want ENOTFOUND", err)
	}
	left, err := db.AcceptRestore(ctx, []string{"s2"})
	if err != nil || len(left) != 1 || left[0] != "s1" {
		t.Fatalf("accept s2: %v, %v; want s1 left", left, err)
	}
	// s1 reports its head (nothing to send): the wait ends.
	if _, err := db.Ingest(ctx, "s1", nil, uplink.OutboxReport{Head: 0}); err != nil {
		t.Fatal(err)
	}
	if left, err := db.RestoreAwaited(ctx); err != nil || len(left) != 0 {
		t.Fatalf("after s1 reported: %v, %v", left, err)
	}
}

// TestDB_SSCCWatermarkFromJournal: SSCCs a station made outside any block
// of the central's (a formerly standalone station, or one whose block the
// central lost) raise the central's watermark when its journal arrives, so
// the next block starts above them.
func TestDB_SSCCWatermarkFromJournal(t *testing.T) {
	dir := t.TempDir()
	db := centraltest.MustStorePath(t, filepath.Join(dir, "central.db"))
	mustStation(t, db, "s1", "line-1")
	if _, err := db.Enroll(ctx, "code-s1", "token-s1"); err != nil {
		t.Fatal(err)
	}
	led := centraltest.MustLedger(t, filepath.Join(dir, "s1.db"), "s1", &centraltest.Clock{})
	// Serial reference 0004711 of prefix 030001 (extension 3): made standalone.
	sscc, err := gs1.BuildSSCC("3", "030001", "0004711000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.Append(ctx, station.NewEvent{Payload: station.SSCCAllocated{SSCC: sscc, Level: station.LevelCase}, User: "op"}); err != nil {
		t.Fatal(err)
	}
	push(t, db, led, "s1")
	b, err := db.ReserveSSCC(ctx, "s1", uplink.SSCCRequest{Prefix: "030001", Count: 100, RequestID: "b-1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.First <= 4711000 {
		t.Fatalf("block %d..%d starts at or below serial reference 4711000, which station s1 used already", b.First, b.Last)
	}
}
