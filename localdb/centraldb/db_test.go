package centraldb_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

var ctx = context.Background()

// mustStation creates a station in the store.
func mustStation(tb testing.TB, db *centraldb.DB, id, line string) {
	tb.Helper()
	if err := db.AddStation(ctx, id, line, "code-"+id, time.Now().Add(time.Hour), false); err != nil {
		tb.Fatal(err)
	}
}

// journal makes n+ events of a station's journal through a real ledger.
func journal(tb testing.TB, id, prefix string, n int) []station.Event {
	tb.Helper()
	led := centraltest.MustLedger(tb, filepath.Join(tb.TempDir(), id+".db"), id, &centraltest.Clock{})
	p := &centraltest.Producer{Order: "PO-" + id, Prefix: prefix, SSCCBase: len(prefix)*1000 + int(prefix[0])}
	if _, err := p.Produce(ctx, led, n); err != nil {
		tb.Fatal(err)
	}
	evs, err := centraltest.AllEvents(ctx, led)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

func mustIngest(tb testing.TB, db *centraldb.DB, id string, evs []station.Event) uplink.Ack {
	tb.Helper()
	ack, err := db.Ingest(ctx, id, evs, uplink.OutboxReport{Head: evs[len(evs)-1].Seq})
	if err != nil {
		tb.Fatalf("ingest seq %d..%d: %v", evs[0].Seq, evs[len(evs)-1].Seq, err)
	}
	return ack
}

func storedCount(tb testing.TB, db *centraldb.DB, id string) int {
	tb.Helper()
	evs, err := centraltest.AllStored(ctx, db, id)
	if err != nil {
		tb.Fatal(err)
	}
	return len(evs)
}

func TestDB_Ingest(t *testing.T) {
	evs := journal(t, "line-1", "A", 300)
	t.Run("OK", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustStation(t, db, "line-1", "")
		a1 := mustIngest(t, db, "line-1", evs[:100])
		if a1.Seq != 100 || a1.Hash != evs[99].Hash || a1.Stored != 100 {
			t.Fatalf("ack=%+v, want seq 100 stored 100", a1)
		}
		// A resend after a lost answer overlaps what is held: no-op for the overlap.
		a2 := mustIngest(t, db, "line-1", evs[50:])
		if a2.Seq != evs[len(evs)-1].Seq || a2.Duplicates != 50 || a2.Stored != len(evs)-100 {
			t.Fatalf("ack=%+v, want %d stored and 50 duplicates", a2, len(evs)-100)
		}
		a3 := mustIngest(t, db, "line-1", evs[:10])
		if a3.Seq != a2.Seq || a3.Stored != 0 || a3.Duplicates != 10 {
			t.Fatalf("resending old events: ack=%+v, want nothing stored", a3)
		}
		stored, err := centraltest.AllStored(ctx, db, "line-1")
		if err != nil {
			t.Fatal(err)
		}
		if d := centraltest.SameJournal(evs, stored); d != "" {
			t.Fatalf("stored journal differs from the station's: %s", d)
		}
		rep, err := db.VerifyStation(ctx, "line-1")
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Events != int64(len(evs)) {
			t.Fatalf("verify=%+v, want %d events intact", rep, len(evs))
		}
	})
	t.Run("ErrGap", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustStation(t, db, "line-1", "")
		mustIngest(t, db, "line-1", evs[:100])
		_, err := db.Ingest(ctx, "line-1", evs[150:200], uplink.OutboxReport{})
		var ref *uplink.RefusedError
		if !errors.As(err, &ref) || ref.Held.Seq != 100 || ref.Held.Hash != evs[99].Hash || ref.Seq != 101 {
			t.Fatalf("err=%v (%+v), want a refusal holding seq 100, at seq 101", err, ref)
		}
		if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "send from seq 101") {
			t.Fatalf("err=%v, want ECONFLICT saying where to resend from", err)
		}
		if n := storedCount(t, db, "line-1"); n != 100 {
			t.Fatalf("%d events stored after a refused gap, want 100", n)
		}
	})
	t.Run("ErrChainBreak", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustStation(t, db, "line-1", "")
		mustIngest(t, db, "line-1", evs[:100])
		bad := slices.Clone(evs[100:200])
		bad[30].User = "mallory" // edited after the station recorded it
		_, err := db.Ingest(ctx, "line-1", bad, uplink.OutboxReport{})
		var ref *uplink.RefusedError
		if !errors.As(err, &ref) || ref.Seq != bad[30].Seq || ref.Held.Seq != 100 {
			t.Fatalf("err=%v, want a chain break at seq %d with seq 100 held", err, bad[30].Seq)
		}
		// A batch whose first event does not chain to the stored head.
		other := journal(t, "line-1", "B", 150)
		_, err = db.Ingest(ctx, "line-1", other[100:120], uplink.OutboxReport{})
		if !errors.As(err, &ref) || ref.Seq != 101 || !strings.Contains(err.Error(), "does not chain") {
			t.Fatalf("err=%v, want a refusal at seq 101 that does not chain", err)
		}
		// A resent seq that differs from the one held.
		_, err = db.Ingest(ctx, "line-1", other[90:110], uplink.OutboxReport{})
		if !errors.As(err, &ref) || ref.Seq != 91 || !strings.Contains(err.Error(), "differs") {
			t.Fatalf("err=%v, want a refusal of seq 91 which differs", err)
		}
		if n := storedCount(t, db, "line-1"); n != 100 {
			t.Fatalf("%d events stored after refusals, want 100", n)
		}
	})
	t.Run("ErrOtherStation", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustStation(t, db, "line-1", "")
		mustStation(t, db, "line-2", "")
		_, err := db.Ingest(ctx, "line-2", evs[:10], uplink.OutboxReport{})
		if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "only its own journal") {
			t.Fatalf("err=%v, want EUNAUTHORIZED", err)
		}
		_, err = db.Ingest(ctx, "line-9", journal(t, "line-9", "C", 5), uplink.OutboxReport{})
		if station.ErrorCode(err) != station.ENOTFOUND {
			t.Fatalf("unknown station: err=%v, want ENOTFOUND", err)
		}
		if n := storedCount(t, db, "line-2"); n != 0 {
			t.Fatalf("%d events stored, want none", n)
		}
	})
	t.Run("ErrInvalidPayload", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustStation(t, db, "line-1", "")
		bad := slices.Clone(evs[:5])
		bad[2].Payload = json.RawMessage(`{"gtin":"00300010123456","serial":"X","order":"PO"}`)
		bad[2].Hash = bad[2].ComputeHash()
		for i := 3; i < 5; i++ {
			bad[i].PrevHash = bad[i-1].Hash
			bad[i].Hash = bad[i].ComputeHash()
		}
		_, err := db.Ingest(ctx, "line-1", bad, uplink.OutboxReport{})
		if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), "seq 3") {
			t.Fatalf("err=%v, want EINVALID naming seq 3", err)
		}
	})
}

func TestDB_Repository(t *testing.T) {
	db := centraltest.MustStore(t)
	mustStation(t, db, "line-1", "")
	mustStation(t, db, "line-2", "")
	evs := journal(t, "line-1", "A", 200)
	mustIngest(t, db, "line-1", evs)

	unit := station.SGTIN(centraltest.GTIN, "A0000001")
	rec, err := db.Item(ctx, unit)
	if err != nil {
		t.Fatal(err)
	}
	sscc := centraltest.SSCC(len("A")*1000+int('A'), 1)
	if rec.State != station.UnitStateCommissioned || rec.Station != "line-1" || rec.Lot != centraltest.Lot || rec.Expiry != centraltest.Expiry ||
		rec.Order != "PO-line-1" || rec.Parent != "(00)"+sscc {
		t.Fatalf("unit record=%+v, want commissioned at line-1 in lot %s, in case %s", rec, centraltest.Lot, sscc)
	}
	var types []station.EventType
	for _, h := range rec.History {
		types = append(types, h.Type)
	}
	want := []station.EventType{station.EventPoolReserved, station.EventUnitAllocated, station.EventUnitPrinted, station.EventUnitVerified,
		station.EventUnitCommissioned, station.EventAggregationPacked}
	if !slices.Equal(types, want) {
		t.Fatalf("history=%v, want %v", types, want)
	}
	caseRec, err := db.Item(ctx, station.SSCCItem(sscc))
	if err != nil {
		t.Fatal(err)
	}
	if len(caseRec.Children) != 10 || caseRec.Level != station.LevelCase || caseRec.Children[0] != station.SGTIN(centraltest.GTIN, "A0000000").Key() {
		t.Fatalf("case record=%+v, want 10 children starting with unit A0000000", caseRec)
	}
	if _, err := db.Item(ctx, station.SGTIN(centraltest.GTIN, "NOPE")); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("unknown item: err=%v, want ENOTFOUND", err)
	}

	// Order progress from the station's journal.
	prog, err := db.OrderProgress(ctx, "PO-line-1")
	if err != nil {
		t.Fatal(err)
	}
	var commissioned, rejected int64
	for _, e := range evs {
		switch e.Type {
		case station.EventUnitCommissioned:
			commissioned++
		case station.EventUnitRejected:
			rejected++
		}
	}
	if prog.Totals.Commissioned != commissioned || prog.Totals.Rejected != rejected || prog.Totals.Rejects["low_grade"] != rejected || !prog.Reconciliation.Balanced {
		t.Fatalf("progress=%+v, want %d commissioned, %d rejected, balanced", prog, commissioned, rejected)
	}

	// A second station that reserved the same serials locally: stored, and
	// recorded as a conflict rather than refused.
	dup := journal(t, "line-2", "A", 20)
	ack := mustIngest(t, db, "line-2", dup)
	if ack.Seq != dup[len(dup)-1].Seq {
		t.Fatalf("ack=%+v, want the whole journal held", ack)
	}
	sts, err := db.Stations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sts[1].ID != "line-2" || sts[1].Conflicts == 0 || sts[0].Conflicts != 0 {
		t.Fatalf("stations=%+v, want conflicts at line-2 only", sts)
	}
	cs, err := db.Conflicts(ctx, "line-2", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 || !strings.Contains(cs[0], "already reserved at station line-1") {
		t.Fatalf("conflicts=%q, want the double reservation named", cs)
	}
}

func mustProduct(tb testing.TB, db *centraldb.DB, scheme station.SerialScheme) {
	tb.Helper()
	p := centraltest.Product()
	p.Serial = scheme
	if _, err := db.PutProduct(ctx, p); err != nil {
		tb.Fatal(err)
	}
}

func TestDB_Reserve(t *testing.T) {
	t.Run("NeverOverlaps", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustProduct(t, db, station.SerialScheme{})
		seen := map[string]string{}
		for i := 0; i < 6; i++ {
			holder := fmt.Sprintf("line-%d", i%3)
			r, err := db.Reserve(ctx, holder, uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 2000, RequestID: fmt.Sprint("r", i)})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Serials) != 2000 {
				t.Fatalf("%d serials, want 2000", len(r.Serials))
			}
			for _, s := range r.Serials {
				if len(s) != station.DefaultSerialLength {
					t.Fatalf("serial %q: want %d characters", s, station.DefaultSerialLength)
				}
				if other, dup := seen[s]; dup {
					t.Fatalf("serial %s issued to %s and again to %s", s, other, holder)
				}
				seen[s] = holder
			}
		}
	})
	t.Run("Idempotent", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustProduct(t, db, station.SerialScheme{})
		req := uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 5, RequestID: "same"}
		a, err := db.Reserve(ctx, "line-1", req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := db.Reserve(ctx, "line-1", req)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(a.Serials)
		if a.ID != b.ID || !slices.Equal(a.Serials, b.Serials) {
			t.Fatalf("retry gave reservation %d %v, want %d %v", b.ID, b.Serials, a.ID, a.Serials)
		}
		req.Count = 6
		if _, err := db.Reserve(ctx, "line-1", req); station.ErrorCode(err) != station.ECONFLICT {
			t.Fatalf("request id reused for another count: err=%v, want ECONFLICT", err)
		}
		rs, err := db.Reservations(ctx, "line-1", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || len(rs[0].Serials) != 5 {
			t.Fatalf("reservations=%+v, want one of 5 serials", rs)
		}
	})
	t.Run("ErrDensity", func(t *testing.T) {
		db := centraltest.MustStore(t)
		// 10^6 numeric serials: at most 99 may ever be issued (below 1 in 10,000).
		mustProduct(t, db, station.SerialScheme{Alphabet: "0123456789", Length: 6})
		if _, err := db.Reserve(ctx, "line-1", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 99, RequestID: "a"}); err != nil {
			t.Fatal(err)
		}
		_, err := db.Reserve(ctx, "line-2", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 1, RequestID: "b"})
		if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "1 in 10,000") {
			t.Fatalf("err=%v, want the density rule's ECONFLICT", err)
		}
	})
	t.Run("SkipsLocalSerials", func(t *testing.T) {
		db := centraltest.MustStore(t)
		mustProduct(t, db, station.SerialScheme{Sequential: true, Length: 8, Start: 0})
		mustStation(t, db, "line-1", "")
		// A station in standalone mode made serial 00000001 itself.
		led := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", &centraltest.Clock{})
		if _, err := led.Append(ctx, station.NewEvent{Payload: station.PoolReserved{GTIN: centraltest.GTIN, Serials: []string{"00000001"}, Source: "local"}, User: "op"}); err != nil {
			t.Fatal(err)
		}
		evs, _ := centraltest.AllEvents(ctx, led)
		mustIngest(t, db, "line-1", evs)
		r, err := db.Reserve(ctx, "line-2", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 3, RequestID: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"00000000", "00000002", "00000003"}; !slices.Equal(r.Serials, want) {
			t.Fatalf("serials=%v, want %v (00000001 is taken)", r.Serials, want)
		}
	})
	t.Run("ErrUnknownProduct", func(t *testing.T) {
		db := centraltest.MustStore(t)
		_, err := db.Reserve(ctx, "line-1", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 1, RequestID: "x"})
		if station.ErrorCode(err) != station.ENOTFOUND {
			t.Fatalf("err=%v, want ENOTFOUND", err)
		}
	})
}

func TestDB_Release(t *testing.T) {
	db := centraltest.MustStore(t)
	mustProduct(t, db, station.SerialScheme{})
	r, err := db.Reserve(ctx, "line-1", uplink.ReserveRequest{GTIN: centraltest.GTIN, Count: 4, RequestID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ret := uplink.ReleaseRequest{GTIN: centraltest.GTIN, Serials: r.Serials[:2], Action: uplink.ReleaseReturn}
	if res, err := db.Release(ctx, "line-1", ret); err != nil || res.Released != 2 {
		t.Fatalf("return: %+v, %v; want 2 released", res, err)
	}
	if res, err := db.Release(ctx, "line-1", ret); err != nil || res.Released != 0 {
		t.Fatalf("return again: %+v, %v; want a no-op", res, err)
	}
	void := uplink.ReleaseRequest{GTIN: centraltest.GTIN, Serials: r.Serials[1:3], Action: uplink.ReleaseVoid, Reason: "spoiled roll"}
	if _, err := db.Release(ctx, "line-1", void); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("void a returned serial: err=%v, want ECONFLICT", err)
	}
	void.Serials = r.Serials[2:]
	if _, err := db.Release(ctx, "line-2", void); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("void another holder's serials: err=%v, want ENOTFOUND", err)
	}
	void.Reason = ""
	if _, err := db.Release(ctx, "line-1", void); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("void without a reason: err=%v, want EINVALID", err)
	}
}

func TestDB_MasterData(t *testing.T) {
	db := centraltest.MustStore(t)
	mustProduct(t, db, station.SerialScheme{})
	order := uplink.Order{ID: "PO-7", GTIN: centraltest.GTIN, Lot: "L1", Expiry: "270600", Quantity: 1000, Line: "line-A"}
	if created, err := db.PutOrder(ctx, order); err != nil || !created {
		t.Fatalf("create order: %v, created=%v", err, created)
	}
	if _, err := db.PutUser(ctx, uplink.User{User: station.User{ID: "u1", Name: "Ann Op", Roles: []station.Role{station.RoleOperator}, Active: true},
		CredentialKind: station.CredentialPIN, CredentialHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}); err != nil {
		t.Fatal(err)
	}
	kinds := func(md uplink.MasterData) string {
		var ks []string
		for _, r := range md.Records {
			ks = append(ks, r.Kind+":"+r.Key)
		}
		return strings.Join(ks, " ")
	}
	md, err := db.MasterData(ctx, "line-A", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(md), "product:"+centraltest.GTIN+" user:u1"; got != want {
		t.Fatalf("records=%q, want %q (a planned order is not for stations)", got, want)
	}
	next := md.Next
	order.State = station.OrderReleased
	if _, err := db.PutOrder(ctx, order); err != nil {
		t.Fatal(err)
	}
	md, _ = db.MasterData(ctx, "line-A", next, 100)
	if got := kinds(md); got != "order:PO-7" {
		t.Fatalf("after release records=%q, want the order", got)
	}
	var o uplink.Order
	if err := json.Unmarshal(md.Records[0].Data, &o); err != nil || o.State != station.OrderReleased {
		t.Fatalf("order record %s: %v", md.Records[0].Data, err)
	}
	mdB, _ := db.MasterData(ctx, "line-B", next, 100)
	if len(mdB.Records) != 0 || mdB.Next != md.Next {
		t.Fatalf("line-B sees %q (next %d), want nothing and next %d", kinds(mdB), mdB.Next, md.Next)
	}
	// Released: only the state may change now, along the state machine.
	order.Quantity = 5
	if _, err := db.PutOrder(ctx, order); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("change a released order: err=%v, want ECONFLICT", err)
	}
	order.Quantity, order.State = 1000, station.OrderClosed
	if _, err := db.PutOrder(ctx, order); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("released -> closed: err=%v, want ECONFLICT", err)
	}
	order.ID, order.GTIN = "PO-8", "10300010123452"
	if _, err := db.PutOrder(ctx, order); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("order for an unknown product: err=%v, want ENOTFOUND", err)
	}
}

func TestDB_Enroll(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	db, err := centraldb.Open(ctx, filepath.Join(t.TempDir(), "c.db"), centraldb.Options{Create: true, Logger: centraltest.Quiet(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.AddStation(ctx, "line-1", "L1", "c1", now.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if err := db.AddStation(ctx, "line-1", "L1", "c2", now.Add(time.Hour), false); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("add twice: err=%v, want ECONFLICT", err)
	}
	info, err := db.Enroll(ctx, "c1", "t1")
	if err != nil || info.ID != "line-1" || info.Line != "L1" {
		t.Fatalf("enroll: %+v, %v", info, err)
	}
	if _, err := db.Enroll(ctx, "c1", "t1b"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replayed code: err=%v, want EUNAUTHORIZED already used", err)
	}
	p, err := db.Authenticate(ctx, "t1")
	if err != nil || p != (uplink.Principal{Name: "line-1", Role: uplink.RoleStation, Line: "L1"}) {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	// A new code for a replacement PC revokes the old credential once used.
	if err := db.AddStation(ctx, "line-1", "", "c3", now.Add(time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "t1"); err != nil {
		t.Fatalf("old credential before the new code is used: %v", err)
	}
	if _, err := db.Enroll(ctx, "c3", "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "t1"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("old credential after re-enrollment: err=%v, want revoked", err)
	}
	if err := db.AddStation(ctx, "line-2", "", "c4", now.Add(-time.Second), false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enroll(ctx, "c4", "t4"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired code: err=%v, want EUNAUTHORIZED expired", err)
	}
	if _, err := db.Authenticate(ctx, "nope"); station.ErrorCode(err) != station.EUNAUTHORIZED {
		t.Fatalf("unknown credential: err=%v", err)
	}
}

func TestOpen_ErrNotAStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	centraltest.MustLedger(t, path, "line-1", nil)
	_, err := centraldb.Open(ctx, path, centraldb.Options{Logger: centraltest.Quiet()})
	if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), "not a linestation central store") {
		t.Fatalf("open a station ledger as the central store: err=%v", err)
	}
	if _, err := centraldb.Open(ctx, filepath.Join(t.TempDir(), "none.db"), centraldb.Options{}); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("open a missing store: err=%v, want ENOTFOUND", err)
	}
}

// TestDB_Voided applies unit.voided: allocated serials that will never be
// printed leave the pool for good, at the repository and at the authority.
func TestDB_Voided(t *testing.T) {
	db := centraltest.MustStore(t)
	mustStation(t, db, "line-1", "")
	led := centraltest.MustLedger(t, filepath.Join(t.TempDir(), "l.db"), "line-1", &centraltest.Clock{})
	ev := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "op1"} }
	for _, evs := range [][]station.NewEvent{
		{ev(station.OrderCreated{Order: "PO-9", GTIN: centraltest.GTIN, Lot: "L9", Expiry: "280100", Quantity: 10, Line: "line-1"})},
		{ev(station.PoolReserved{GTIN: centraltest.GTIN, Serials: []string{"V1", "V2", "V3"}, Source: "local"})},
		{ev(station.UnitAllocated{GTIN: centraltest.GTIN, Serial: "V1", Order: "PO-9"}), ev(station.UnitAllocated{GTIN: centraltest.GTIN, Serial: "V2", Order: "PO-9"})},
		{ev(station.UnitVoided{GTIN: centraltest.GTIN, Serials: []string{"V2"}, Order: "PO-9", Reason: "order closed"})},
	} {
		if _, err := led.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := centraltest.AllEvents(ctx, led)
	mustIngest(t, db, "line-1", evs)
	rec, err := db.Item(ctx, station.SGTIN(centraltest.GTIN, "V2"))
	if err != nil || rec.State != station.UnitStateVoided || rec.History[len(rec.History)-1].Type != station.EventUnitVoided {
		t.Fatalf("voided unit: %+v, %v", rec, err)
	}
	prog, err := db.OrderProgress(ctx, "PO-9")
	if err != nil || prog.Totals.Allocated != 2 || prog.Totals.Voided != 1 || prog.Reconciliation.Unprinted != 1 {
		t.Fatalf("progress=%+v, %v; want 2 allocated, 1 voided, 1 unprinted", prog.Totals, err)
	}
	if _, err := db.Release(ctx, "line-1", uplink.ReleaseRequest{GTIN: centraltest.GTIN, Serials: []string{"V2"}, Action: uplink.ReleaseReturn}); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("returning a voided serial: err=%v, want ECONFLICT (the authority knows it is voided)", err)
	}
	if sts, _ := db.Stations(ctx); sts[0].Conflicts != 0 {
		cs, _ := db.Conflicts(ctx, "line-1", 3)
		t.Fatalf("conflicts: %q", cs)
	}
}

// TestDB_Checkpointer: what the writer commits reaches the database file
// while the store is open (the checkpointer copies the write-ahead log in
// the background), long before SQLite's automatic checkpoint would.
func TestDB_Checkpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	db := centraltest.MustStorePath(t, path)
	mustStation(t, db, "line-1", "L1")
	mustIngest(t, db, "line-1", journal(t, "line-1", "C-", 300))

	// An independent connection sees the store's size, log included.
	peek, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer peek.Close()
	var pages, size int64
	if err := peek.QueryRow(`SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages < 100*4096 {
		t.Fatalf("the store holds %d bytes after 300 events: the ingest did not happen", pages)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size = fi.Size(); size >= pages {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file has %d of the store's %d bytes 20 s after the commit: nothing checkpointed the write-ahead log", size, pages)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMigration_HoldChanges: a store from before holds were master data
// (holds in force, no change recorded for them) gets a change for each
// hold in force on migrating, which the stations read as the hold placing
// it would have recorded; released holds get none.
func TestMigration_HoldChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := centraldb.Open(ctx, path, centraldb.Options{Create: true, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)
	inv := dscsa.Investigation{Reason: dscsa.HoldSuspect, Description: "broken seal", Status: "open", OpenedAt: at, OpenedBy: "quinn",
		Holds: []dscsa.Hold{
			{Item: "(00)003000100000000018", Reason: dscsa.HoldSuspect, PlacedAt: at, PlacedBy: "quinn"},
			{GTIN: centraltest.GTIN, Lot: "L1", Reason: dscsa.HoldRecalled, PlacedAt: at, PlacedBy: "quinn"},
			{GTIN: centraltest.GTIN, Lot: "L2", Reason: dscsa.HoldSuspect, PlacedAt: at, PlacedBy: "quinn"},
		}}
	if err := db.OpenInvestigation(ctx, &inv); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CloseInvestigation(ctx, inv.ID, "cleared", "quinn", "", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	inv2 := dscsa.Investigation{Reason: dscsa.HoldSuspect, Description: "counterfeit", Status: "open", OpenedAt: at, OpenedBy: "quinn",
		Holds: []dscsa.Hold{{Item: "(01)" + centraltest.GTIN + "(21)S1", Reason: dscsa.HoldSuspect, PlacedAt: at, PlacedBy: "quinn"},
			{GTIN: centraltest.GTIN, Lot: "L3", Reason: dscsa.HoldRecalled, PlacedAt: at, PlacedBy: "quinn"}}}
	if err := db.OpenInvestigation(ctx, &inv2); err != nil {
		t.Fatal(err)
	}
	holds := func(db *centraldb.DB) map[string]station.CentralHold {
		t.Helper()
		md, err := db.MasterData(ctx, "", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]station.CentralHold{}
		for _, r := range md.Records {
			if r.Kind != uplink.KindHold {
				continue
			}
			var h station.CentralHold
			if err := json.Unmarshal(r.Data, &h); err != nil {
				t.Fatalf("hold change %s: %v", r.Key, err)
			}
			out[r.Key] = h // the last change of a hold is its state
		}
		return out
	}
	var want = map[string]station.CentralHold{}
	for k, h := range holds(db) {
		if h.ReleasedAt.IsZero() {
			want[k] = h
		}
	}
	if len(want) != 2 {
		t.Fatalf("%d holds in force before the migration, want 2: %+v", len(want), want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Make it a store from before: no hold changes, migration not applied.
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM changes WHERE kind = 'hold'`, `DELETE FROM migrations WHERE name = '0005_hold_changes.sql'`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db = centraltest.MustStorePath(t, path)
	got := holds(db)
	if len(got) != len(want) {
		t.Fatalf("after the migration the stations read %d holds, want the %d in force: %+v", len(got), len(want), got)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.ID != w.ID || g.Investigation != w.Investigation || g.Item != w.Item || g.GTIN != w.GTIN || g.Lot != w.Lot ||
			g.Reason != w.Reason || !g.PlacedAt.Equal(w.PlacedAt) || g.PlacedBy != w.PlacedBy || !g.ReleasedAt.IsZero() {
			t.Errorf("hold %s after the migration = %+v, want %+v", k, g, w)
		}
	}
}

// TestMigration_EPCISLinks: events stored before the EPCIS query indexed
// business transactions, sources and destinations get them indexed from
// their stored form on migrating, as storing them indexes them now.
func TestMigration_EPCISLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	db, err := centraldb.Open(ctx, path, centraldb.Options{Create: true, Logger: centraltest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	var evs []dscsa.StoredEvent
	for i := range 3 {
		e := &epcis.Event{Type: epcis.ObjectEvent, EventTime: at.Add(time.Duration(i) * time.Minute), EventTimeZoneOffset: "+00:00",
			EPCList: []string{fmt.Sprintf("urn:epc:id:sgtin:030001.0123455.S%d", i)}, Action: epcis.ActionObserve,
			BizStep: "urn:epcglobal:cbv:bizstep:shipping", Disposition: "urn:epcglobal:cbv:disp:in_transit",
			BizTransactionList: []epcis.BizTransaction{{Type: epcis.BizTransactionTypePO, Value: fmt.Sprintf("urn:epcglobal:cbv:bt:0399990000016:PO-%d", i)}},
			SourceList:         []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: "urn:epc:id:sgln:030001.000001.0"}},
			DestinationList: []epcis.SourceDest{{Type: epcis.SourceDestTypeOwningParty, Value: "urn:epc:id:sgln:039999.000001.0"},
				{Type: epcis.SourceDestTypeLocation, Value: "urn:epc:id:sgln:039999.345678.0"}}}
		evs = append(evs, dscsa.NewStoredEvent(e, "test", "origin-1", "", at))
	}
	if n, err := db.RecordEvents(ctx, evs, ""); err != nil || n != 3 {
		t.Fatalf("recorded %d: %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	links := func() []string {
		rows, err := raw.Query(`SELECT event, kind, type, value FROM epcis_event_links ORDER BY event, kind, type, value`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id int64
			var kind, typ, value string
			if err := rows.Scan(&id, &kind, &typ, &value); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(id, " ", kind, " ", typ, " ", value))
		}
		return out
	}
	want := links()
	if len(want) != 12 {
		t.Fatalf("storing 3 events indexed %d links, want 12: %q", len(want), want)
	}
	for _, q := range []string{`DELETE FROM epcis_event_links`, `DELETE FROM migrations WHERE name = '0006_epcis_query.sql'`, `DROP INDEX epcis_events_record`,
		`DROP TABLE epcis_event_links`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	centraltest.MustStorePath(t, path)
	if got := links(); !slices.Equal(got, want) {
		t.Fatalf("after the migration the links are\n%q\nwant\n%q", got, want)
	}
}

// TestDB_RevokeStation: revoking a station refuses its credential with the
// administrator's reason (an ERP token replaced says that instead), voids
// its unused codes, and shows it revoked.
func TestDB_RevokeStation(t *testing.T) {
	db := centraltest.MustStore(t)
	mustStation(t, db, "line-1", "L1")
	if _, err := db.Enroll(ctx, "code-line-1", "token-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.AddStation(ctx, "line-1", "L1", "code-2", time.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	n, err := db.RevokeStation(ctx, "line-1")
	if err != nil || n != 1 {
		t.Fatalf("revoked %d: %v", n, err)
	}
	if _, err := db.Authenticate(ctx, "token-1"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "the administrator revoked this station's access") {
		t.Fatalf("a revoked station's credential: %v", err)
	}
	if _, err := db.Enroll(ctx, "code-2", "token-2"); station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a code issued before the revoke: %v", err)
	}
	sts, err := db.Stations(ctx)
	if err != nil || len(sts) != 1 || sts[0].Credential != "revoked" {
		t.Fatalf("stations %+v, %v", sts, err)
	}
	if _, err := db.RevokeStation(ctx, "line-9"); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("an unknown station: %v", err)
	}
	if err := db.AddClient(ctx, "sap", uplink.RoleERP, "erp-1", false); err != nil {
		t.Fatal(err)
	}
	if err := db.AddClient(ctx, "sap", uplink.RoleERP, "erp-2", true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "erp-1"); !strings.Contains(fmt.Sprint(err), "a new token was issued for this client") {
		t.Fatalf("a replaced ERP token: %v", err)
	}
}
