package zpl_test

import (
	"strings"
	"testing"

	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/station"
)

func hs(a, b, c string) [3][]byte { return [3][]byte{[]byte(a), []byte(b), []byte(c)} }

func TestParseHostStatus(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frames [3][]byte
		want   station.PrinterStatus
		err    string
	}{
		{"Ready", hs("030,0,0,1218,000,0,0,0,000,0,0,0", "001,0,0,0,1,2,6,0,00000000,1,000", "1234,0"), station.PrinterStatus{}, ""},
		{"Busy", hs("030,0,0,1218,002,0,0,1,000,0,0,0", "001,0,0,0,1,2,6,0,00000003,1,000", "1234,0"),
			station.PrinterStatus{Formats: 2, Partial: true, LabelsRemaining: 3}, ""},
		{"Faults", hs("030,1,1,1218,000,0,0,0,000,0,0,0", "001,0,1,1,1,2,6,0,00000000,1,000", "1234,0"),
			station.PrinterStatus{PaperOut: true, Paused: true, HeadOpen: true, RibbonOut: true}, ""},
		{"NewerFirmwareExtraFields", hs("030,0,0,1218,000,0,0,0,000,0,0,0,9,9", "001,0,0,1,1,2,6,0,00000000,1,000,0,0", "1234,0,1"),
			station.PrinterStatus{RibbonOut: true}, ""},
		{"ErrShort", hs("030,0,0,1218", "001,0,0,0,1,2,6,0,00000000,1,000", "1234,0"), station.PrinterStatus{}, "fields"},
		{"ErrFlag", hs("030,x,0,1218,000,0,0,0,000,0,0,0", "001,0,0,0,1,2,6,0,00000000,1,000", "1234,0"), station.PrinterStatus{}, "paper out"},
		{"ErrNumber", hs("030,0,0,1218,0-1,0,0,0,000,0,0,0", "001,0,0,0,1,2,6,0,00000000,1,000", "1234,0"), station.PrinterStatus{}, "formats"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zpl.ParseHostStatus(tt.frames)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err=%v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("status=%+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseHostStatus(f *testing.F) {
	f.Add("030,0,0,1218,000,0,0,0,000,0,0,0", "001,0,0,0,1,2,6,0,00000000,1,000", "1234,0")
	f.Add("030,1,1,1218,001,0,0,1,000,0,0,0", "001,0,1,1,1,2,6,0,00000001,1,000", "1234,0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		st, err := zpl.ParseHostStatus(hs(a, b, c))
		if err == nil && (st.Formats < 0 || st.LabelsRemaining < 0) {
			t.Fatalf("negative counts accepted: %+v", st)
		}
	})
}

func TestTemplates_Render(t *testing.T) {
	tmpl := zpl.DefaultTemplates()
	t.Run("Escapes", func(t *testing.T) {
		l := unitLabel("A_B")
		l.Data = "01003000101234551727123110L^~\\1" + gsep + "21A_B"
		l.Fields["product"] = "x^FS~HS_\x01"
		b, err := tmpl.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{
			`^FH\^FD_101003000101234551727123110L\5E\7E\5C1_121A__B^FS`, // GS -> _1, _ -> __, ^ ~ \ hex
			`^FH^FDx_5EFS_7EHS_5F_01^FS`,                                // text: ^ ~ _ and controls hex
		} {
			if !strings.Contains(s, want) {
				t.Fatalf("rendered ZPL lacks %s:\n%s", want, s)
			}
		}
		if strings.ContainsAny(s, "\r\n") {
			t.Fatalf("rendered ZPL has line breaks: %q", s)
		}
		if strings.Count(s, "^XA") != 1 || strings.Count(s, "^XZ") != 1 || strings.Contains(s, "~") {
			t.Fatalf("field data leaked commands: %s", s)
		}
	})
	for _, tt := range []struct {
		name  string
		label func() station.Label
		words string
	}{
		{"ErrMissingField", func() station.Label { l := unitLabel("S1"); delete(l.Fields, "gtin"); return l }, "gtin"},
		{"ErrNoData", func() station.Label { l := unitLabel("S1"); l.Data = ""; return l }, "barcode data"},
		{"ErrMisplacedGS", func() station.Label { l := unitLabel("S1"); l.Data = gsep + "0100300010123455"; return l }, "GS"},
		{"ErrSSCCNotDigits", func() station.Label { l := caseLabel(); l.Fields["sscc"] = "00300010000000123X"; return l }, "digits"},
		{"ErrUnknownTemplate", func() station.Label { l := unitLabel("S1"); l.Template = "../unit"; return l }, "not valid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tmpl.Render(tt.label())
			requireCode(t, err, station.EINVALID)
			if !strings.Contains(station.ErrorMessage(err), tt.words) {
				t.Fatalf("message %q does not say %q", station.ErrorMessage(err), tt.words)
			}
		})
	}
}
