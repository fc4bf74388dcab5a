package sim_test

import (
	"image"
	"strings"
	"testing"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station/gs1"
)

func TestEncodeGS1DataMatrix(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		gs1  bool
		sym  string
	}{
		{"Unit", "0100300010123455" + "17271231" + "10LOT42A\x1d21SN0001", true, "]d2"},
		{"LongSerial", "0100300010123455" + "17271231" + "10A1\x1d21" + "aZ9-_./:;<=>?!%&'()*", true, "]d2"},
		{"SSCC", "00003000100000001234", true, "]d2"},
		{"OddDigits", "0100300010123455" + "10123", true, "]d2"},
		{"NotGS1", "hello world", false, "]d1"},
		{"ExtendedASCII", "caf\xe9", false, "]d1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := sim.EncodeGS1DataMatrix(tt.data, tt.gs1)
			if err != nil {
				t.Fatal(err)
			}
			d, err := sim.DecodeDataMatrix(sim.RenderDataMatrix(m, 3, 2))
			if err != nil {
				t.Fatal(err)
			}
			if d.Symbology != tt.sym || d.Text != tt.data {
				t.Fatalf("decoded %s %q, want %s %q", d.Symbology, d.Text, tt.sym, tt.data)
			}
			if tt.gs1 {
				if _, err := gs1.ParseScanData(d.Symbology + d.Text); err != nil && !strings.Contains(tt.name, "Odd") {
					t.Fatalf("gs1: %v", err)
				}
			}
		})
	}
	if _, err := sim.EncodeGS1DataMatrix("", true); err == nil {
		t.Fatal("empty data encoded")
	}
}

func TestRenderZPL(t *testing.T) {
	t.Run("Escapes", func(t *testing.T) {
		lbl, err := sim.RenderZPL([]byte("^XA^PW400^LL300^FO10,10^BXN,4,200,,,,_^FH\\^FD_101234_1X__Y_d065\\5E^FS^FO200,10^A0N,20,20^FH^FDa_5Fb^FS^XZ"))
		if err != nil {
			t.Fatal(err)
		}
		if f := lbl.Fields[0]; !f.GS1 || f.Data != "01234\x1dX_YA^" {
			t.Fatalf("datamatrix field=%+v", f)
		}
		if f := lbl.Fields[1]; f.Kind != "text" || f.Data != "a_b" {
			t.Fatalf("text field=%+v", f)
		}
	})
	t.Run("GS1128", func(t *testing.T) {
		lbl, err := sim.RenderZPL([]byte("^XA^FO20,20^BY2^BCN,100,Y,N,N,D^FD(00)003000100000001234^FS^XZ"))
		if err != nil {
			t.Fatal(err)
		}
		f := lbl.Fields[0]
		if f.Kind != "code128" || !f.GS1 || f.Data != "00003000100000001234" {
			t.Fatalf("field=%+v", f)
		}
		d, err := sim.DecodeCode128(lbl.Image.SubImage(f.At.Inset(-20)).(*image.Gray))
		if err != nil || d.Symbology != "]C1" || d.Text != f.Data {
			t.Fatalf("decoded %+v err=%v", d, err)
		}
	})
	for _, bad := range []string{
		"^XA^FO1,1^GB100,100,2^FS^XZ",             // a command the simulator does not know
		"^XA^FO1,1^BXN,4,140^FDabc^FS^XZ",         // ECC 140
		"^XA^FO1,1^BXN,4,200,,,,_^FD_1ab_^FS^XZ",  // dangling escape
		"^XA^FO1,1^FH^FDab_4^FS^XZ",               // cut ^FH escape
		"^XA^FO1,1^A0N,20,20^FDab^FS~HS^XZ",       // control command inside a format
		"^XA^FO1,1^BCN,100,Y,N,N,U^FD123^FS^XZ",   // unsupported ^BC mode
		"^XA^FO1,1^BXN,4,200,,,,_^FD_d9^FS^XZ",    // short _d
		"^XA^FO1,1^BXN,4,200,,,,_^FD_d999^FS^XZ",  // _d out of range
		"^XA^FO1,1^BXN,0,200,,,,_^FD_101^FS^XZ",   // no module size
		"^XA^FO1,1^A0N,20,20^FS^XZ",               // ^FS without ^FD
		"^XA^FO1,1^BXN,4,200,,,,_^FD_q123^FS^XZ",  // unknown escape
		"^XA^FO1,1^BXN,4,200,,,,_^FH^FD_ZZ^FS^XZ", // ^FH escape not hex
	} {
		if _, err := sim.RenderZPL([]byte(bad)); err == nil {
			t.Errorf("RenderZPL(%q) accepted", bad)
		}
	}
}

func FuzzRenderZPL(f *testing.F) {
	f.Add([]byte("^XA^PW400^LL300^FO10,10^BXN,4,200,,,,_^FH\\^FD_101234_1X^FS^XZ"))
	f.Add([]byte("^XA^FO20,20^BY2^BCN,100,Y,N,N,D^FD(00)003000100000001234^FS^XZ"))
	f.Fuzz(func(t *testing.T, zpl []byte) {
		if len(zpl) > 400 {
			return
		}
		lbl, err := sim.RenderZPL(zpl)
		if err == nil && lbl.Image == nil {
			t.Fatal("no image and no error")
		}
	})
}

func TestParseFaults(t *testing.T) {
	f, err := sim.ParseFaults("noread=1%,wrong=0.5%,dup=0.002,lowgrade=0.5%,ribbon=500")
	if err != nil {
		t.Fatal(err)
	}
	if f.NoRead != 0.01 || f.Wrong != 0.005 || f.Duplicate != 0.002 || f.LowGrade != 0.005 || f.RibbonAfter != 500 {
		t.Fatalf("faults=%+v", f)
	}
	for _, bad := range []string{"noread", "noread=x", "noread=150%", "smoke=1%", "ribbon=-1", "noread=60%,wrong=60%"} {
		if _, err := sim.ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
}

func TestTranscript_Format(t *testing.T) {
	tr := &sim.Transcript{Comment: "one\nwant: ok\n", Steps: []sim.Step{{Host: true, Data: []byte("~HS")}, {Data: []byte("\x02a\x03\r\n")}}}
	back, err := sim.ParseTranscript(tr.Format())
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Steps) != 2 || string(back.Steps[1].Data) != "\x02a\x03\r\n" || !back.Steps[0].Host || back.Comment != tr.Comment {
		t.Fatalf("round trip: %+v", back)
	}
	rp := sim.NewReplayer(back)
	if _, err := rp.Write([]byte("~HX")); err == nil {
		t.Fatal("replayer accepted bytes that are not in the transcript")
	}
}
