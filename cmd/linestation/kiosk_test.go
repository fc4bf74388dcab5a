package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

// simKioskConfig is a station on a fast simulated line with a ledger in a
// temporary folder and enough faults that packs are rejected early.
func simKioskConfig(t *testing.T) Config {
	t.Helper()
	path := writeConfig(t, `[station]
db = "station.db"
[devices.sim]
units_per_min = 3000
faults = "noread=10%,lowgrade=5%"
seed = 3
[pool]
low_water = 100
batch = 1500
`)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKiosk_SimTour is the first run of a new user, end to end: the kiosk
// wired from the config to a real ledger, the simulated line (simulators
// behind the real drivers) and the screens on Fyne's test driver. The
// tour signs in the demo supervisor, starts the line, waits for packs
// being commissioned and rejected, packs a case, closes it (its label
// prints on the simulated printer), looks it up and ships it.
func TestKiosk_SimTour(t *testing.T) {
	cfg := simKioskConfig(t)
	ctx := context.Background()
	var out bytes.Buffer
	logger := slog.New(slog.DiscardHandler)
	st, err := openStation(ctx, cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range demoAccounts {
		if !strings.Contains(out.String(), u.ID) || !strings.Contains(out.String(), u.PIN) {
			t.Fatalf("the demo users are not printed with their PINs:\n%s", out.String())
		}
	}

	cmds := "signin\nshow run\nstart\nwait 30\npack 10\nclose\nlookup\nship\nshow status\n"
	got := runTestTour(t, st, cmds)
	tour := strings.Join(got, "\n")

	want := []string{"shown run", "shown run", "started", "commissioned", "packed 10", "closed (00)", "shown warehouse", "shipped SH-", "shown status"}
	if len(got) != len(want) {
		t.Fatalf("tour answered:\n%s", tour)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("tour line %d = %q, want %q...; all:\n%s", i+1, got[i], want[i], tour)
		}
	}

	// The ledger has what the screens showed.
	o, err := st.db.Order(ctx, "PO-DEMO-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.State != station.OrderRunning || o.Commissioned < 30 || o.Rejected == 0 {
		t.Fatalf("order %s: %d commissioned, %d rejected; want running with 30+ and some rejects", o.State, o.Commissioned, o.Rejected)
	}
	cs, err := st.db.Containers(ctx, "PO-DEMO-1")
	if err != nil || len(cs) != 1 || cs[0].Status != station.ContainerClosed || cs[0].Count != 10 || !cs[0].Labeled {
		t.Fatalf("containers %+v, %v; want one closed, labeled case of 10", cs, err)
	}
	stock, err := st.db.Stock(ctx, cs[0].Parent)
	if err != nil || stock.Status != station.StockShipped {
		t.Fatalf("the case is %+v, %v; want shipped", stock, err)
	}
	if n := len(st.dev.Sim.Line.Printer.Printed()); n != 1 {
		t.Fatalf("the simulated printer printed %d labels, want the case's", n)
	}
}

// TestOpenStation_Reopen checks that the demo data is recorded once: a
// second start on the same ledger adds nothing and still prints the users.
func TestOpenStation_Reopen(t *testing.T) {
	cfg := simKioskConfig(t)
	cfg.Devices.Sim.UnitsPerMin = 60
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	st, err := openStation(ctx, cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := st.db.Products(ctx)
	if err != nil || len(ps) != 2 {
		t.Fatalf("products %d, %v; want 2", len(ps), err)
	}
	os, err := st.db.Orders(ctx, station.OrderReleased)
	if err != nil || len(os) != 1 || os[0].Line != cfg.Station.Line {
		t.Fatalf("released orders %+v, %v; want one for line %s", os, err, cfg.Station.Line)
	}
	if lvl, err := st.db.Pool(ctx, os[0].GTIN); err != nil || lvl.Available < 1000 {
		t.Fatalf("pool %+v, %v; want the order's serials reserved", lvl, err)
	}
	// The PC clock: every reading degraded, with the reason.
	if now := st.clock.Now(); now.State != station.ClockDegraded || now.Reason == "" {
		t.Fatalf("system clock reading %+v", now)
	}
	must(t, st.Close())

	out.Reset()
	st, err = openStation(ctx, cfg, logger, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	again, err := st.db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Seq != head.Seq {
		t.Fatalf("the second start recorded %d more events", again.Seq-head.Seq)
	}
	if !strings.Contains(out.String(), "sam") || !strings.Contains(out.String(), "314159") {
		t.Fatalf("the second start does not print the demo users:\n%s", out.String())
	}
}

func TestRunKiosk_Usage(t *testing.T) {
	real := writeConfig(t, "[devices]\nmode = \"real\"\nprinter = \"tcp://127.0.0.1:9100\"\ncoder = \"tcp://127.0.0.1:9101\"\ncamera_command = \"tcp://127.0.0.1:23\"\ncamera_results = \"tcp://127.0.0.1:24\"\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tour", "--config", real}, "kiosk --tour drives a simulated line only"},
		{[]string{"extra"}, "kiosk takes no arguments"},
		{[]string{"--config", filepath.Join(t.TempDir(), "none.toml")}, "does not exist"},
	} {
		var stdout, stderr bytes.Buffer
		code := report(runKiosk(context.Background(), tt.args, &stdout, &stderr), &stderr)
		if code == exitOK || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("kiosk %v: exit %d, stderr %q; want %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := report(runKiosk(context.Background(), []string{"--help"}, &stdout, &stderr), &stderr); code != exitOK ||
		!strings.Contains(stdout.String(), "--tour") || !strings.Contains(stdout.String(), "pack N") {
		t.Fatalf("help: exit %d\n%s", code, stdout.String())
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
