package main

import (
	"context"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink/central"
)

// TestDemoSeed runs 'linestation demo seed' against a real central: the
// demo data goes in once through the ERP API, the users and PINs are
// printed, a second run adds nothing, and bad input is refused.
func TestDemoSeed(t *testing.T) {
	ctx := context.Background()
	c := startTestCentral(t, nil, "127.0.0.1:0")
	token, err := central.AddClient(ctx, c.store, "demo", false)
	must(t, err)
	t.Setenv(demoTokenEnv, token)

	code, out, errOut := run(t, "", "demo", "seed", "--central", c.url, "--line", "line-7")
	if code != exitOK {
		t.Fatalf("demo seed: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"added now: 2 of 2 products, 5 of 5 users, 1 of 1 order", "released for line line-7", "sam", "314159", "ada", "161803"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo seed printed no %q:\n%s", want, out)
		}
	}
	ps, err := c.store.Products(ctx)
	must(t, err)
	us, err := c.store.Users(ctx)
	must(t, err)
	os, err := c.store.Orders(ctx, station.OrderReleased)
	must(t, err)
	if len(ps) != 2 || len(us) != len(demoAccounts) || len(os) != 1 || os[0].ID != demoOrderID || os[0].Line != "line-7" {
		t.Fatalf("central holds %d products, %d users, orders %+v", len(ps), len(us), os)
	}

	code, out, errOut = run(t, "", "demo", "seed", "--central", c.url, "--line", "line-7")
	if code != exitOK || !strings.Contains(out, "all there already") || !strings.Contains(out, "314159") {
		t.Fatalf("second demo seed: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoCentral", []string{"demo", "seed"}, exitUsage, "--central URL is required"},
		{"NotSeed", []string{"demo", "reset"}, exitUsage, "the only command is 'seed'"},
		{"BadToken", []string{"demo", "seed", "--central", c.url, "--token", "lst_wrong", "--wait", "1s"}, exitFail, "unknown credential"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}
