package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/central"
	"github.com/linestation/linestation/uplink/dscsa"
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
	for _, want := range []string{"added now: 2 of 2 products, 5 of 5 users, 1 of 1 order", "released for line line-7", "sam", "314159", "ada", "161803", "DSCSA: the exchange is off"} {
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

// TestDemoSeed_DSCSA: against a serve running the DSCSA exchange, demo
// seed registers the demo site with the station at it, the company and the
// partner with its locations, so that a shipment made at the demo kiosk has
// every location its document needs; a second run keeps them as they are.
func TestDemoSeed_DSCSA(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "central.toml")
	text := "listen = \"127.0.0.1:0\"\ndata = \"data\"\n[dscsa]\ngln = \"" + demoOwnerGLN + "\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv := startServe(t, "--config", cfg)
	url := srv.url
	code, tokOut, tokErr := runServeCmd(t, ctx, "erp", "add", "demo", "--config", cfg)
	token := regexp.MustCompile(`(?m)^lst_\S+`).FindString(tokOut)
	if code != exitOK || token == "" {
		t.Fatalf("serve erp add: exit %d, %q %q", code, tokOut, tokErr)
	}
	t.Setenv(demoTokenEnv, token)
	for i := range 2 {
		code, seedOut, seedErr := run(t, "", "demo", "seed", "--central", url, "--line", "line-3")
		if code != exitOK || !strings.Contains(seedOut, "DSCSA: the demo site "+demoSiteGLN+" (station line-3) ships to Example Wholesale") {
			t.Fatalf("demo seed %d: exit %d, stdout %q, stderr %q", i+1, code, seedOut, seedErr)
		}
	}
	api, err := uplink.NewAPI(url, token, nil)
	must(t, err)
	var locs []dscsa.Location
	must(t, api.Get(ctx, uplink.PathDSCSALocations, &locs))
	byGLN := map[string]dscsa.Location{}
	for _, l := range locs {
		byGLN[l.GLN] = l
	}
	for _, gln := range []string{demoOwnerGLN, demoSiteGLN, demoPartners[0].GLN, demoPartners[0].ShipTo} {
		if _, ok := byGLN[gln]; !ok {
			t.Fatalf("no location %s at the central: %+v", gln, locs)
		}
	}
	if got := byGLN[demoSiteGLN].Stations; len(got) != 1 || got[0] != "line-3" {
		t.Fatalf("demo site stations %v, want [line-3] once", got)
	}
	var partners []dscsa.Partner
	must(t, api.Get(ctx, uplink.PathDSCSAPartners, &partners))
	if len(partners) != 1 || partners[0].GLN != demoPartners[0].GLN || partners[0].Delivery.Method != "file" {
		t.Fatalf("partners %+v", partners)
	}
	srv.stop(t)
}
