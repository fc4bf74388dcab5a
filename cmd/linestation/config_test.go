package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	if got, want := c.Clock.MaxOffset.Duration, time.Minute; got != want {
		t.Fatalf("clock.max_offset=%s, want %s", got, want)
	}
	if c.Devices.Mode != "sim" || c.Station.ID == "" || c.Auth.IdleTimeout.Duration != 5*time.Minute {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "station.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfig(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		path := writeConfig(t, "[station]\nid = \"pack-7\"\ndb = \"data/p7.db\"\n[clock]\nsource = \"ntp\"\nservers = [\"ntp1\", \"ntp2:123\"]\nwarn_offset = \"250ms\"\n")
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Station.ID != "pack-7" || c.Clock.WarnOffset.Duration != 250*time.Millisecond || len(c.Clock.Servers) != 2 {
			t.Fatalf("file values not applied: %+v", c)
		}
		if c.Station.Line != "line-1" {
			t.Fatalf("station.line=%q, want the default kept", c.Station.Line)
		}
		if got, want := c.Path(c.Station.DB), filepath.Join(filepath.Dir(path), "data", "p7.db"); got != want {
			t.Fatalf("db path %q, want %q (relative to the config file)", got, want)
		}
	})
	const site = "[site]\ngln = \"0300010000008\"\nowner_gln = \"0300010000015\"\n"
	for _, tt := range []struct {
		name, body, want string
	}{
		{"Syntax", "[station\nid = 1\n", "to end table name"},
		{"UnknownKey", "[station]\nidd = \"x\"\n", "unknown setting station.idd"},
		{"BadDuration", "[auth]\nidle_timeout = \"5 minutes\"\n", `"5 minutes" is not a duration`},
		{"BadID", "[station]\nid = \"line 1\"\n", `station.id "line 1"`},
		{"NTPWithoutServers", "[clock]\nsource = \"ntp\"\n", "clock.servers is empty"},
		{"RealWithoutPrinter", "[devices]\nmode = \"real\"\n", "devices.printer is empty"},
		{"BadAddress", "[devices]\nmode = \"real\"\nprinter = \"printer1:9100\"\n", "devices.printer \"printer1:9100\": write it as tcp://host:port"},
		{"BadPolicy", "[clock]\nwarn_offset = \"2m\"\n", "clock.warn_offset (2m0s) must be positive and below clock.max_offset (1m0s)"},
		{"BadCentral", "[central]\nurl = \"central:8080\"\n", `central.url "central:8080"`},
		{"SiteHalf", "[site]\ngln = \"0300010000008\"\n", `site.gln "0300010000008" and site.owner_gln "": give both`},
		{"SiteBadGLN", "[site]\ngln = \"0300010000009\"\nowner_gln = \"0300010000015\"\n", `site.gln "0300010000009"`},
		{"PartnerWithoutSite", "[[site.partners]]\nname = \"W\"\ngln = \"0614141000005\"\n", "site.gln is empty"},
		{"PartnerBadShipTo", site + "[[site.partners]]\nname = \"W\"\ngln = \"0614141000005\"\nship_to = \"061414100001\"\n", `site.partners[1] (W) ship_to "061414100001"`},
		{"PartnerNoName", site + "[[site.partners]]\ngln = \"0614141000005\"\n", "site.partners[1]: name is empty"},
		{"PartnerTwice", site + "[[site.partners]]\nname = \"W\"\ngln = \"0614141000005\"\n[[site.partners]]\nname = \"X\"\ngln = \"0614141000005\"\n", "site.partners[2] (X): GLN 0614141000005 is listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			_, err := LoadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadConfig: %v, want an error containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.toml"))
		if err == nil || !strings.Contains(err.Error(), "kiosk --init") {
			t.Fatalf("LoadConfig: %v, want a hint to write one with --init", err)
		}
	})
}

// The site and partners in the config are what the warehouse screen ships
// with; a simulated line without them ships to the demo partner, a real
// one cannot ship.
func TestSiteOf(t *testing.T) {
	path := writeConfig(t, "[devices]\nmode = \"real\"\nprinter = \"tcp://p:9100\"\ncoder = \"tcp://c:1\"\ncamera_command = \"tcp://k:23\"\ncamera_results = \"tcp://k:3000\"\n"+
		"[site]\ngln = \"0300010000008\"\nowner_gln = \"0300010000015\"\n"+
		"[[site.partners]]\nname = \"Example Wholesale\"\ngln = \"0614141000005\"\nship_to = \"0614141000012\"\n"+
		"[[site.partners]]\nname = \"Other Pharmacy\"\ngln = \"0614141000029\"\n")
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	from, owner, partners := siteOf(c)
	if from != "0300010000008" || owner != "0300010000015" || len(partners) != 2 {
		t.Fatalf("site %q %q partners %+v", from, owner, partners)
	}
	if partners[0].ShipTo != "0614141000012" || partners[1].ShipTo != "0614141000029" || partners[1].Name != "Other Pharmacy" {
		t.Fatalf("partners %+v: ship_to must default to the partner's GLN", partners)
	}
	c.Site = SiteConfig{}
	if from, _, partners := siteOf(c); from != "" || partners != nil {
		t.Fatalf("a real line with no site configured ships from %q to %+v, want nowhere", from, partners)
	}
	c.Devices.Mode = "sim"
	if from, _, partners := siteOf(c); from != demoSiteGLN || len(partners) != 1 {
		t.Fatalf("a simulated line ships from %q to %+v, want the demo site and partner", from, partners)
	}
}

func TestKiosk_Init(t *testing.T) {
	t.Chdir(t.TempDir())
	code, out, errOut := run(t, "", "kiosk", "--init")
	if code != exitOK || !strings.Contains(out, "wrote station.toml") {
		t.Fatalf("exit=%d stdout=%q stderr=%q", code, out, errOut)
	}
	c, err := LoadConfig("station.toml")
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	if c.Station.ID != DefaultConfig().Station.ID {
		t.Fatalf("station.id=%q, want the default", c.Station.ID)
	}
	code, _, errOut = run(t, "", "kiosk", "--init")
	if code != exitUsage || !strings.Contains(errOut, "exists already") {
		t.Fatalf("second --init: exit=%d stderr=%q, want a refusal", code, errOut)
	}
	code, _, errOut = run(t, "", "kiosk", "--config", "nope.toml")
	if code != exitFail || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("missing config: exit=%d stderr=%q", code, errOut)
	}
}
