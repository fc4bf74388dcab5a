package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
	"github.com/linestation/linestation/uplink/central"
)

// ssccKioskConfig is station id on line line-1 with the central at url and
// SSCC blocks of 10, so that a few cases take several blocks.
func ssccKioskConfig(t *testing.T, id, url, code string) Config {
	t.Helper()
	path := writeConfig(t, fmt.Sprintf(`[station]
id = %q
line = "line-1"
db = "station.db"
[devices.sim]
units_per_min = 3000
seed = 3
[pool]
low_water = 100
batch = 1500
[central]
url = %q
enrollment_code = %q
sscc_block = 10
`, id, url, code))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// openCases opens n cases of the demo order at st as the demo supervisor
// and returns their SSCCs, stopping at the first error.
func openCases(ctx context.Context, st *kioskStation, n int) ([]string, error) {
	var out []string
	for i := 0; i < n; i++ {
		c, err := st.svc.OpenParent(ctx, "sam", demoOrderID, station.LevelCase)
		if err != nil {
			return out, err
		}
		out = append(out, c.Parent.SSCC)
	}
	return out, nil
}

// TestKiosk_CentralSSCC runs two stations of one company prefix against one
// real central: their SSCCs come from blocks the central issued to each and
// never meet; a station reopened keeps its blocks, goes on from them while
// the central is away and, with none left, refuses with what to do; a
// rebuilt ledger holds the same blocks.
func TestKiosk_CentralSSCC(t *testing.T) {
	ctx := context.Background()
	c := startTestCentral(t, nil, "127.0.0.1:0")
	seedTestCentral(t, c)
	logger := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	stations := map[string]*kioskStation{}
	cfgs := map[string]Config{}
	for _, id := range []string{"line-1", "line-2"} {
		code, err := central.AddStation(ctx, c.store, id, "line-1", 0, time.Now(), false)
		must(t, err)
		cfgs[id] = ssccKioskConfig(t, id, c.url, code)
		st, err := openStation(ctx, cfgs[id], logger, &out)
		if err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
		t.Cleanup(func() { st.Close() })
		stations[id] = st
		stationtest.Poll(t, 20*time.Second, "the released demo order at "+id, func() bool {
			o, err := st.db.Order(ctx, demoOrderID)
			return err == nil && o.State == station.OrderReleased
		})
		if tour := runTestTour(t, st, "signin\nstart\nwait 2\n"); len(tour) < 2 || !strings.HasPrefix(tour[1], "started") {
			t.Fatalf("%s: tour answered %q", id, tour)
		}
	}

	seen := map[string]string{}
	for round := 0; round < 3; round++ {
		for _, id := range []string{"line-1", "line-2"} {
			ss, err := openCases(ctx, stations[id], 9)
			if err != nil {
				t.Fatalf("%s: open cases: %v", id, err)
			}
			for _, s := range ss {
				if other, dup := seen[s]; dup {
					t.Fatalf("SSCC %s made at %s and at %s", s, other, id)
				}
				seen[s] = id
			}
		}
	}
	// Every SSCC is inside a block the central issued to its station.
	blocks, err := c.store.SSCCBlocks(ctx, "")
	must(t, err)
	if len(blocks) < 6 {
		t.Fatalf("the central issued %d SSCC blocks, want at least 3 a station", len(blocks))
	}
	for s, id := range seen {
		prefix := demoProducts()[0].CompanyPrefix()
		ref, err := strconv.ParseUint(s[1+len(prefix):17], 10, 64)
		must(t, err)
		in := false
		for _, b := range blocks {
			in = in || (b.Holder == id && b.Prefix == prefix && ref >= b.First && ref <= b.Last)
		}
		if !in {
			t.Fatalf("SSCC %s of %s is in no block the central issued to it: %+v", s, id, blocks)
		}
	}
	for i, a := range blocks {
		for _, b := range blocks[i+1:] {
			if a.Prefix == b.Prefix && a.First <= b.Last && b.First <= a.Last {
				t.Fatalf("SSCC blocks overlap: %+v and %+v", a, b)
			}
		}
	}

	// Reopened with the central away: the blocks are in the ledger; the
	// station uses what is left of them, then refuses with what to do.
	st := stations["line-2"]
	prefix := demoProducts()[0].CompanyPrefix()
	before, err := st.db.SSCCRanges(ctx, prefix)
	must(t, err)
	must(t, st.Close())
	c.stop()
	st, err = openStation(ctx, cfgs["line-2"], logger, &out)
	if err != nil {
		t.Fatalf("reopen line-2: %v", err)
	}
	defer st.Close()
	after, err := st.db.SSCCRanges(ctx, prefix)
	must(t, err)
	if len(after) < len(before) || len(after) == 0 {
		t.Fatalf("reopened, line-2 holds SSCC blocks %+v, had %+v", after, before)
	}
	ss, err := openCases(ctx, st, 40)
	if err == nil || station.ErrorCode(err) != station.EUNAVAILABLE || !strings.Contains(station.ErrorMessage(err), "connect to the central service") {
		t.Fatalf("opening cases with no block left and the central away: %v, want EUNAVAILABLE saying to connect to the central", err)
	}
	for _, s := range ss {
		if other, dup := seen[s]; dup {
			t.Fatalf("SSCC %s made again at line-2 (first at %s)", s, other)
		}
	}

	// The blocks are a projection of the journal: a rebuild gives them back.
	held, err := st.db.SSCCRanges(ctx, prefix)
	must(t, err)
	if _, err := st.db.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := st.db.SSCCRanges(ctx, prefix)
	must(t, err)
	if fmt.Sprint(rebuilt) != fmt.Sprint(held) {
		t.Fatalf("after rebuild the ledger holds SSCC blocks %+v, before %+v", rebuilt, held)
	}
}

// TestConfig_SSCCRange reads station.sscc_range: the default is the whole
// space, a range is parsed, and a bad value is refused naming the setting.
func TestConfig_SSCCRange(t *testing.T) {
	if first, last, err := DefaultConfig().Station.SSCCBounds(); err != nil || first != 0 || last != 0 {
		t.Fatalf("default sscc_range: %d..%d, %v; want the whole space", first, last, err)
	}
	cfg, err := LoadConfig(writeConfig(t, "[station]\nsscc_range = \"5000000-5999999\"\n"))
	must(t, err)
	if first, last, err := cfg.Station.SSCCBounds(); err != nil || first != 5000000 || last != 5999999 {
		t.Fatalf("sscc_range 5000000-5999999: %d..%d, %v", first, last, err)
	}
	for _, bad := range []string{"x", "5-1", "-3", "1-99999999999", "1..2"} {
		_, err := LoadConfig(writeConfig(t, fmt.Sprintf("[station]\nsscc_range = %q\n", bad)))
		if err == nil || !strings.Contains(err.Error(), "station.sscc_range") {
			t.Errorf("sscc_range %q: %v, want an error naming station.sscc_range", bad, err)
		}
	}
	if _, err := LoadConfig(writeConfig(t, "[central]\nsscc_block = 0\n")); err == nil || !strings.Contains(err.Error(), "central.sscc_block") {
		t.Errorf("sscc_block 0: %v, want an error naming central.sscc_block", err)
	}
}
