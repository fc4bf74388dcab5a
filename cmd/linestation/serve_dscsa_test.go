package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// TestServe_DSCSA: with [dscsa] gln set, serve runs the exchange (its
// endpoints ask for credentials); without it they answer 503; a bad GLN is
// refused at start naming the key.
func TestServe_DSCSA(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("listen = \"127.0.0.1:0\"\n[dscsa]\ngln = \"123\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runServeCmd(t, context.Background(), "--config", bad); code != exitFail || !strings.Contains(errOut, `dscsa.gln "123"`) {
		t.Fatalf("bad GLN: exit %d, %s", code, errOut)
	}
	for _, tt := range []struct {
		name, gln string
		status    int
	}{{"On", dscsatest.MfrGLN, 401}, {"Off", "", 503}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, tt.name+".toml")
			text := "listen = \"127.0.0.1:0\"\ndata = \"data-" + tt.name + "\"\n[dscsa]\ngln = \"" + tt.gln + "\"\ninterval = \"50ms\"\n"
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := startServe(t, "--config", cfg)
			url := srv.url
			resp, err := http.Get(url + "/epcis/events")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("GET /epcis/events: %d, want %d", resp.StatusCode, tt.status)
			}
			srv.stop(t)
			if tt.gln != "" {
				if _, err := os.Stat(filepath.Join(dir, "data-On", "dscsa-spool")); err != nil {
					t.Fatalf("no spool folder: %v", err)
				}
			}
		})
	}
}
