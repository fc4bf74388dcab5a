package station_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

func TestService_SignIn(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	s, err := w.svc.SignIn(ctx, "op", "", pin)
	must(t, err)
	if s.User.ID != "op" || s.User.Name != "Olga Operator" {
		t.Fatalf("session = %+v", s)
	}
	if s, err := w.svc.SignIn(ctx, "", "B-SUP", pin); err != nil || s.User.ID != "sup" {
		t.Fatalf("badge sign-in: %+v %v", s, err)
	}
	timeout := w.svc.AuthPolicy().IdleTimeout
	if !s.Idle(s.LastActive.Add(timeout+time.Second), timeout) || s.Idle(s.LastActive.Add(timeout-time.Second), timeout) {
		t.Fatal("idle timeout not applied")
	}
	wantErr(t, errOf(w.svc.SignIn(ctx, "nobody", "", pin)), station.EUNAUTHORIZED, "User, badge or PIN/password is wrong")
	wantErr(t, errOf(w.svc.SignIn(ctx, "", "B-NONE", pin)), station.EUNAUTHORIZED, "is wrong")

	// Five wrong PINs in a row lock the account; the right PIN no longer helps.
	for i := 1; i <= 4; i++ {
		wantErr(t, errOf(w.svc.SignIn(ctx, "pack", "", "000000")), station.EUNAUTHORIZED, "is wrong")
	}
	wantErr(t, errOf(w.svc.SignIn(ctx, "pack", "", "000000")), station.EUNAUTHORIZED, "Wrong PIN or password 5 times: the account of pack is now locked")
	wantErr(t, errOf(w.svc.SignIn(ctx, "pack", "", pin)), station.EUNAUTHORIZED, "is locked (5 failed attempts in a row)")
	rec, err := w.db.User(ctx, "pack")
	must(t, err)
	if !rec.Locked || rec.Failures != 6 {
		t.Fatalf("record = %+v, want locked with 6 failures", rec)
	}
	wantErr(t, w.svc.Unlock(ctx, "sup", "pack", "forgot PIN"), station.EUNAUTHORIZED, "needs the role admin")
	must(t, w.svc.Unlock(ctx, "admin", "pack", "identity checked"))
	if _, err := w.svc.SignIn(ctx, "pack", "", pin); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// A success resets the count of failures.
	_, _ = w.svc.SignIn(ctx, "op", "", "111111")
	_, _ = w.svc.SignIn(ctx, "op", "", pin)
	if rec, _ := w.db.User(ctx, "op"); rec.Failures != 0 {
		t.Fatalf("failures after a success = %d", rec.Failures)
	}

	// Inactive users cannot sign in; credentials follow the policy.
	must(t, w.svc.DefineUser(ctx, "admin", station.User{ID: "gone", Name: "Gone Person", Roles: []station.Role{station.RoleOperator}}))
	must(t, w.svc.SetCredential(ctx, "admin", "gone", station.CredentialPIN, "135790", ""))
	wantErr(t, errOf(w.svc.SignIn(ctx, "gone", "", "135790")), station.EUNAUTHORIZED, "is not active")
	wantErr(t, w.svc.SetCredential(ctx, "admin", "gone", station.CredentialPIN, "1234", ""), station.EINVALID, "6 to 12 digits")
	wantErr(t, w.svc.SetCredential(ctx, "admin", "gone", station.CredentialPIN, "111111", ""), station.EINVALID, "repeat one digit")
	wantErr(t, w.svc.SetCredential(ctx, "admin", "gone", station.CredentialPassword, "short", ""), station.EINVALID, "10 to 128 characters")
	wantErr(t, w.svc.SetCredential(ctx, "op", "op", station.CredentialPIN, "975310", "000000"), station.EUNAUTHORIZED, "is wrong")
	must(t, w.svc.SetCredential(ctx, "op", "op", station.CredentialPIN, "975310", pin))
	if _, err := w.svc.SignIn(ctx, "op", "", "975310"); err != nil {
		t.Fatalf("new PIN: %v", err)
	}
	wantErr(t, w.svc.DefineUser(ctx, "admin", station.User{ID: "x2", Name: "X", Roles: []station.Role{station.RoleQA}, Badge: "B-OP", Active: true}),
		station.ECONFLICT, "badge B-OP already belongs to user op")
	for _, tt := range []struct {
		u    station.User
		want string
	}{
		{station.User{ID: "a b", Name: "A", Roles: []station.Role{station.RoleQA}}, "without spaces"},
		{station.User{ID: station.SystemUser, Name: "A", Roles: []station.Role{station.RoleQA}}, "reserved"},
		{station.User{ID: "a", Name: "", Roles: []station.Role{station.RoleQA}}, "name must be"},
		{station.User{ID: "a", Name: "A"}, "no role"},
		{station.User{ID: "a", Name: "A", Roles: []station.Role{"boss"}}, `role "boss"`},
		{station.User{ID: "a", Name: "A", Roles: []station.Role{station.RoleQA, station.RoleQA}}, "listed twice"},
	} {
		wantErr(t, w.svc.DefineUser(ctx, "admin", tt.u), station.EINVALID, tt.want)
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestService_Signatures: e-signatures re-authenticate, check the role
// for the meaning, and are bound to the record's hash.
func TestService_Signatures(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	w.MustOrder("PO-1", 10, 0)
	ctx := w.ctx
	// Drive the order to completed with one pack printed and never decided.
	o, _ := w.svc.Order(ctx, "PO-1")
	must(t, w.svc.Pools().Fill(ctx, unitGTIN, 5))
	ss, err := w.svc.Pools().Allocate(ctx, "PO-1", unitGTIN, "op", 2)
	must(t, err)
	_, err = w.db.Append(ctx, station.NewEvent{Payload: station.OrderStateChanged{Order: "PO-1", From: o.State, To: station.OrderRunning}, User: "op"},
		station.NewEvent{Payload: station.UnitPrinted{GTIN: unitGTIN, Serial: ss[0], Device: "coder"}, User: "op"})
	must(t, err)
	wantErr(t, errOf(w.svc.CloseOrder(ctx, "PO-1", station.CloseRequest{User: "sup"})), station.ECONFLICT, "only a completed order can be closed")
	must(t, w.svc.CompleteOrder(ctx, "op", "PO-1", "end of shift"))

	close := func(sig, dev *station.SignRequest) error {
		_, err := w.svc.CloseOrder(ctx, "PO-1", station.CloseRequest{User: "sup", Signature: sig, Deviation: dev})
		return err
	}
	wantErr(t, close(w.sig("sup", station.MeaningClosed, "ok"), nil), station.ECONFLICT,
		"does not balance: printed = commissioned + rejected: 1 vs 0 (difference 1)")
	wantErr(t, close(w.sig("sup", station.MeaningClosed, "ok"), w.sig("sup", station.MeaningDeviation, "pack lost")), station.EUNAUTHORIZED,
		`sup may not sign "approved deviation": that needs the role qa`)
	wantErr(t, close(w.sig("sup", station.MeaningClosed, "ok"), w.sig("qa", station.MeaningClosed, "pack lost")), station.EUNAUTHORIZED,
		`needs a signature meaning "approved deviation"`)
	wantErr(t, close(w.sig("sup", station.MeaningClosed, "ok"), &station.SignRequest{User: "qa", Secret: "999999", Meaning: station.MeaningDeviation, Reason: "x"}),
		station.EUNAUTHORIZED, "is wrong")
	wantErr(t, close(w.sig("sup", station.MeaningClosed, "ok"), w.sig("qa", station.MeaningDeviation, "")), station.EINVALID, "needs a reason")
	wantErr(t, close(nil, w.sig("qa", station.MeaningDeviation, "pack lost")), station.EUNAUTHORIZED, "close order PO-1 needs an electronic signature (closed) by supervisor")
	if o, _ := w.svc.Order(ctx, "PO-1"); o.State != station.OrderCompleted {
		t.Fatalf("a refused close changed the order to %s", o.State)
	}
	rec, err := w.svc.CloseOrder(ctx, "PO-1", station.CloseRequest{User: "sup", Signature: w.sig("sup", station.MeaningClosed, "reviewed"),
		Deviation: w.sig("qa", station.MeaningDeviation, "one pack fell behind the line and was destroyed")})
	must(t, err)
	if rec.Balanced || rec.Undecided != 1 || len(rec.UndecidedSerials) != 1 || rec.UndecidedSerials[0] != ss[0] || rec.Unused != 1 {
		t.Fatalf("reconciliation = %+v", rec)
	}
	hash, _ := station.RecordHash(rec)
	evs, err := w.db.Events(ctx, 1, 1000)
	must(t, err)
	var signed []string
	for _, e := range evs {
		if e.Type == station.EventSignatureRecorded {
			p, _ := station.DecodePayload(e.Type, e.Payload)
			sg := p.(*station.SignatureRecorded)
			if sg.Hash != hash {
				t.Fatalf("signature %+v is not bound to the reconciliation %s", sg, hash)
			}
			signed = append(signed, sg.Signer+":"+string(sg.Meaning)+":"+sg.Name)
		}
	}
	if strings.Join(signed, ",") != "qa:approved deviation:Quinn QA,sup:closed:Sam Supervisor" {
		t.Fatalf("signatures = %v", signed)
	}
}

// TestService_Orders: the state machine, validation and roles.
func TestService_Orders(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	ok := station.Order{ID: "PO-9", GTIN: unitGTIN, Lot: "L9", Expiry: "280600", Quantity: 100, Line: testLine}
	for _, tt := range []struct {
		edit func(o *station.Order)
		code string
		want string
	}{
		{func(o *station.Order) { o.GTIN = "00300010999999" }, station.EINVALID, "no product has GTIN 00300010999999"},
		{func(o *station.Order) { o.GTIN = "00300010123456" }, station.EINVALID, "not 14 digits with a valid check digit"},
		{func(o *station.Order) { o.Expiry = "250100" }, station.EINVALID, "is in the past"},
		{func(o *station.Order) { o.Expiry = "281300" }, station.EINVALID, "not a YYMMDD date"},
		{func(o *station.Order) { o.Expiry = "280231" }, station.EINVALID, "not a YYMMDD date"},
		{func(o *station.Order) { o.Lot = "LOT#1" }, station.EINVALID, "CSET 82"},
		{func(o *station.Order) { o.Quantity = 0 }, station.EINVALID, "quantity 0 must be positive"},
		{func(o *station.Order) { o.ExpectedYield = 1.5 }, station.EINVALID, "expected yield"},
		{func(o *station.Order) { o.MinGrade = "E" }, station.EINVALID, "minimum grade"},
	} {
		o := ok
		tt.edit(&o)
		wantErr(t, w.svc.CreateOrder(ctx, "sup", o), tt.code, tt.want)
	}
	wantErr(t, w.svc.CreateOrder(ctx, "op", ok), station.EUNAUTHORIZED, "needs the role supervisor")
	day00 := ok
	day00.ID, day00.Expiry = "PO-00", "280200" // day 00: end of February
	must(t, w.svc.CreateOrder(ctx, "sup", day00))
	must(t, w.svc.CreateOrder(ctx, "sup", ok))
	wantErr(t, w.svc.CreateOrder(ctx, "sup", ok), station.ECONFLICT, "order PO-9 already exists")
	wantErr(t, w.svc.CompleteOrder(ctx, "op", "PO-9", "x"), station.ECONFLICT, "order is planned: it cannot become completed (it can become released)")
	must(t, w.svc.ReleaseOrder(ctx, "sup", "PO-9"))
	wantErr(t, w.svc.ReleaseOrder(ctx, "sup", "PO-9"), station.ECONFLICT, "order is released: it cannot become released")
	other := ok
	other.ID, other.Line = "PO-L2", "line-2"
	must(t, w.svc.ImportOrder(ctx, other))
	wantErr(t, w.svc.ReleaseOrder(ctx, "sup", "PO-L2"), station.ECONFLICT, "is for line line-2, and this station is line line-1")
	orders, err := w.svc.Orders(ctx, station.OrderReleased)
	must(t, err)
	if len(orders) != 1 || orders[0].Order != "PO-9" || orders[0].Line != testLine {
		t.Fatalf("released orders = %+v", orders)
	}
}

// slowSource is a serial source that blocks until released.
type slowSource struct {
	station.LocalSource
	gate  chan struct{}
	calls atomic.Int32
}

func (s *slowSource) Reserve(ctx context.Context, gtin string, scheme station.SerialScheme, n int) ([]string, error) {
	s.calls.Add(1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.LocalSource.Reserve(ctx, gtin, scheme, n)
}

// TestPools: never a serial twice, the density rule, replenishment in the
// background, and an empty pool as an error.
func TestPools(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	ctx := w.ctx
	src := &station.LocalSource{Ledger: w.db}
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		ss, err := src.Reserve(ctx, unitGTIN, station.SerialScheme{}, 1000)
		must(t, err)
		_, err = w.db.Append(ctx, station.NewEvent{Payload: station.PoolReserved{GTIN: unitGTIN, Serials: ss, Source: "local"}, User: "op"})
		must(t, err)
		for _, s := range ss {
			if seen[s] || len(s) != station.DefaultSerialLength {
				t.Fatalf("serial %q issued twice or of the wrong length", s)
			}
			seen[s] = true
		}
	}
	// Sequential serials skip any number issued before.
	seq := station.SerialScheme{Sequential: true, Length: 6}
	first, err := src.Reserve(ctx, caseGTIN, seq, 3)
	must(t, err)
	if strings.Join(first, ",") != "000000,000001,000002" {
		t.Fatalf("sequential = %v", first)
	}
	// The density rule: a space of 2^14 allows 1 serial (< 1e-4).
	wantErr(t, errOf(src.Reserve(ctx, caseGTIN, station.SerialScheme{Alphabet: "01", Length: 14}, 2)), station.ECONFLICT, "1 in 10,000")

	// Pools: a slow source never makes the line wait while there are serials.
	w2 := MustWorld(t, station.PoolPolicy{})
	slow := &slowSource{LocalSource: station.LocalSource{Ledger: w2.db}, gate: make(chan struct{})}
	svc, err := station.NewService(station.Config{Ledger: w2.db, Clock: w2.clock, Source: slow, Pool: station.PoolPolicy{LowWater: 50, Batch: 100},
		Auth: station.AuthPolicy{Params: lightParams}})
	must(t, err)
	defer svc.Close()
	must(t, svc.ImportOrder(ctx, station.Order{ID: "PO-P", GTIN: unitGTIN, Lot: "L", Expiry: "280600", Quantity: 1000}))
	_, err = svc.Pools().Allocate(ctx, "PO-P", unitGTIN, "op", 1)
	if !errors.Is(err, station.ErrPoolEmpty) || !strings.Contains(station.ErrorMessage(err), "production stops") {
		t.Fatalf("allocating from an empty pool: %v, want ErrPoolEmpty", err)
	}
	close(slow.gate) // the replenishment asked for by that call goes through
	stationtest.Poll(t, 5*time.Second, "the pool is replenished in the background", func() bool {
		st, err := svc.Pools().Status(ctx, unitGTIN)
		return err == nil && st.Available == 100 && !st.Replenishing
	})
	slow.gate = make(chan struct{}) // block the next one
	start := time.Now()
	ss, err := svc.Pools().Allocate(ctx, "PO-P", unitGTIN, "op", 60) // below the low-water mark: replenish
	must(t, err)
	if len(ss) != 60 || time.Since(start) > 2*time.Second {
		t.Fatalf("allocated %d in %s", len(ss), time.Since(start))
	}
	stationtest.Poll(t, 5*time.Second, "a replenishment starts", func() bool {
		st, _ := svc.Pools().Status(ctx, unitGTIN)
		return st.Replenishing
	})
	ss2, err := svc.Pools().Allocate(ctx, "PO-P", unitGTIN, "op", 100) // the rest, while the source hangs
	must(t, err)
	if len(ss2) != 40 {
		t.Fatalf("allocated %d, want the 40 left", len(ss2))
	}
	for _, s := range append(ss, ss2...) {
		if st, err := w2.db.Serial(ctx, unitGTIN, s); err != nil || st.State != station.UnitStateAllocated || st.Order != "PO-P" {
			t.Fatalf("serial %s = %+v, %v", s, st, err)
		}
	}
	close(slow.gate)
}
