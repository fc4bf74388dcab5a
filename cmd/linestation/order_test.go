package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
)

// MustOrderLedger writes a ledger with order PO-1 through the station
// domain: 10 packs allocated, 8 printed, 5 commissioned, 2 rejected, 1
// printed without a decision. It returns the path and the service (closed
// with the test).
func MustOrderLedger(t *testing.T) (string, *station.Service, *localdb.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "station.db")
	clock := &steppingClock{now: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), state: station.ClockSynced}
	db, err := localdb.Open(ctx, path, localdb.Options{Station: "line-1", Clock: clock, Create: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := station.NewService(station.Config{Ledger: db, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); db.Close() })
	p := station.Product{GTIN: testGTIN, NDC: "0001-0123-45", Name: "Examplamol", DosageForm: "tablet", Strength: "500 mg",
		NetContent: "30 tablets", Manufacturer: "Example Pharma", Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6}
	hash, _ := auth.Hash("135790", auth.Params{Memory: 64, Time: 1, Threads: 1})
	steps := []error{
		svc.ImportProduct(ctx, p),
		svc.ImportUser(ctx, station.User{ID: "sup", Name: "Sam Supervisor", Roles: []station.Role{station.RoleSupervisor}, Active: true}),
		svc.ImportCredential(ctx, "sup", station.CredentialPIN, hash),
		svc.ImportOrder(ctx, station.Order{ID: "PO-1", GTIN: testGTIN, Lot: "L1", Expiry: "280600", Quantity: 5}),
		svc.ReleaseOrder(ctx, "sup", "PO-1"),
		svc.Pools().Fill(ctx, testGTIN, 20),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	ss, err := svc.Pools().Allocate(ctx, "PO-1", testGTIN, "sup", 10)
	if err != nil {
		t.Fatal(err)
	}
	ne := func(p station.Payload) station.NewEvent { return station.NewEvent{Payload: p, User: "sup"} }
	var evs []station.NewEvent
	for i, s := range ss[:8] {
		evs = append(evs, ne(station.UnitPrinted{GTIN: testGTIN, Serial: s, Device: "coder"}))
		switch {
		case i < 5:
			evs = append(evs, ne(station.UnitCommissioned{GTIN: testGTIN, Serial: s, Device: "camera"}))
		case i < 7:
			evs = append(evs, ne(station.UnitRejected{GTIN: testGTIN, Serial: s, Reason: station.RejectNoRead, Device: "camera"}))
		}
	}
	if _, err := db.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	return path, svc, db
}

func runOrderCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := report(runOrder(context.Background(), args, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func TestOrderReport(t *testing.T) {
	path, svc, db := MustOrderLedger(t)

	// One pack printed without a decision: the order does not balance.
	code, out, _ := runOrderCmd("report", "--db", path, "--order", "PO-1")
	if code != exitFail || !strings.Contains(out, "printed = commissioned + rejected: 8 = 7  DIFFERENCE +1") ||
		!strings.Contains(out, "Balanced: NO") || !strings.Contains(out, "no_read          2") {
		t.Fatalf("exit %d, report:\n%s", code, out)
	}

	// The operator finds the pack and rejects it: the order balances once
	// completed (the two unprinted serials are voided).
	ctx := context.Background()
	undecided, err := db.OrderSerials(ctx, "PO-1", station.UnitStatePrinted, 10)
	if err != nil || len(undecided) != 1 {
		t.Fatalf("undecided = %v, %v", undecided, err)
	}
	if _, err := db.Append(ctx, station.NewEvent{Payload: station.UnitRejected{GTIN: testGTIN, Serial: undecided[0], Reason: station.RejectMissing, Device: "manual"}, User: "sup"},
		station.NewEvent{Payload: station.OrderStateChanged{Order: "PO-1", From: station.OrderReleased, To: station.OrderRunning}, User: "sup"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runOrderCmd("report", "--db", path, "--order", "PO-1", "--json")
	var rec station.Reconciliation
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json output is not a reconciliation: %v\n%s", err, out)
	}
	// Still unbalanced: two serials are allocated and neither printed nor voided.
	if code != exitFail || rec.Pending != 2 || rec.Balanced || rec.Printed != 8 || rec.Rejected != 3 || len(rec.Rejects) != len(station.RejectReasons()) {
		t.Fatalf("exit %d, reconciliation %+v", code, rec)
	}
	if err := svc.CompleteOrder(ctx, "sup", "PO-1", "line finished"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runOrderCmd("report", "--db", path, "--order", "PO-1")
	if code != exitOK || !strings.Contains(out, "Balanced: yes") || !strings.Contains(out, "unused (voided)                   2") {
		t.Fatalf("exit %d after completing, report:\n%s", code, out)
	}
}

func TestOrderReport_Usage(t *testing.T) {
	path, _, _ := MustOrderLedger(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "order needs a command"},
		{[]string{"fly"}, exitUsage, `unknown order command "fly"`},
		{[]string{"report", "--db", path}, exitUsage, "--order ID is required"},
		{[]string{"report", "--order", "PO-1"}, exitUsage, "--db FILE is required"},
		{[]string{"report", "--db", path, "--order", "PO-9"}, exitFail, "order PO-9 does not exist"},
		{[]string{"report", "--db", filepath.Join(t.TempDir(), "none.db"), "--order", "PO-1"}, exitFail, "does not exist"},
	} {
		code, _, stderr := runOrderCmd(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("order %v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	code, out, _ := runOrderCmd("report", "--help")
	if code != exitOK || !strings.Contains(out, "--order ID") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
}
