package zpl_test

import (
	"encoding/json"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/station/stationtest"
)

// rendererSpec is the independent ZPL renderer: zebrash compiled to
// WebAssembly, from the npm registry.
const rendererSpec = "zpl-renderer-js@3.4.0"

// MustRenderer returns the folder holding zpl-renderer-js, installing it
// with scripts/npm-peers.sh when it is not there yet.
func MustRenderer(tb testing.TB) (node, dir string) {
	tb.Helper()
	const hint = "apt-get install -y nodejs npm && scripts/npm-peers.sh " + rendererSpec
	node = stationtest.RequireCommand(tb, "node", hint)
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	dir = filepath.Join(root, "build", "npm", "zpl-renderer-js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "zpl-renderer-js", "package.json")); err == nil {
		return node, dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		stationtest.Missing(tb, "npm is not installed", hint)
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "npm-peers.sh"), rendererSpec).CombinedOutput()
	if err != nil {
		stationtest.Missing(tb, "cannot install "+rendererSpec+": "+strings.TrimSpace(string(out)), hint)
	}
	return node, dir
}

// TestTemplates_IndependentRenderer renders our label templates with a ZPL
// renderer that no one here wrote, decodes its PNG with gozxing and parses
// the result with station/gs1: a wrong template, a bad FNC1 or a broken
// escape fails here as it would on a real printer.
func TestTemplates_IndependentRenderer(t *testing.T) {
	node, dir := MustRenderer(t)
	tmpl := zpl.DefaultTemplates()
	// No underscore in these serials: Zebra firmware encodes a literal _ in
	// ^BX data as __ (Zebra Programming Guide, ^BX escape sequences) and so
	// do our templates, but zebrash only knows _1 and keeps __ as two
	// underscores. The simulator follows Zebra (see TestPrinter_TCP/OK).
	labels := []station.Label{unitLabel("SN0001XY"), unitLabel("A1b2C3d4E5f6G7h8I9j0"), caseLabel(), palletLabel()}
	type job struct {
		ZPL      string  `json:"zpl"`
		WidthMM  float64 `json:"widthMm"`
		HeightMM float64 `json:"heightMm"`
		Out      string  `json:"out"`
	}
	var jobs []job
	var ours []*sim.Label
	tmp := t.TempDir()
	for i, l := range labels {
		b, err := tmpl.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		lbl, err := sim.RenderZPL(b) // our interpreter: for the label size and where fields are
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, lbl)
		sz := lbl.Image.Bounds().Size()
		jobs = append(jobs, job{ZPL: string(b), WidthMM: float64(sz.X) / 8, HeightMM: float64(sz.Y) / 8, Out: filepath.Join(tmp, l.Template+string(rune('0'+i))+".png")})
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/render.cjs", dir)
	cmd.Stdin = strings.NewReader(string(in))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zpl-renderer-js: %v: %s", err, out)
	}
	for i, l := range labels {
		t.Run(l.Template+"/"+l.Serial, func(t *testing.T) {
			img := mustGray(t, jobs[i].Out)
			for _, f := range ours[i].Fields {
				if f.Kind == "text" {
					continue
				}
				// Decode the region where the field is, with a quiet zone.
				r := f.At.Inset(-32).Intersect(img.Bounds())
				sub := img.SubImage(r).(*image.Gray)
				var d sim.Decoded
				var err error
				if f.Kind == "datamatrix" {
					d, err = sim.DecodeDataMatrix(sub)
				} else {
					d, err = sim.DecodeCode128(sub)
				}
				if err != nil {
					t.Fatalf("decode %s rendered by zpl-renderer-js: %v", f.Kind, err)
				}
				want := l.Data
				wantSym := "]d2"
				if f.Kind == "code128" {
					want, wantSym = "00"+l.Fields["sscc"], "]C1"
				}
				if d.Symbology != wantSym || d.Text != want {
					t.Fatalf("%s decoded %s %q, want %s %q", f.Kind, d.Symbology, d.Text, wantSym, want)
				}
				scan, err := gs1.ParseScanData(d.Symbology + d.Text)
				if err != nil {
					t.Fatalf("gs1 rejects what was printed: %v", err)
				}
				if serial, ok := scan.Message.Get("21"); ok && serial != l.Serial {
					t.Fatalf("serial=%q, want %q", serial, l.Serial)
				}
				if sscc, ok := scan.Message.Get("00"); ok && sscc != l.Fields["sscc"] {
					t.Fatalf("sscc=%q, want %q", sscc, l.Fields["sscc"])
				}
			}
		})
	}
}

func mustGray(tb testing.TB, path string) *image.Gray {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	return g
}
