package gs1

import (
	"errors"
	"strings"
	"testing"
)

// A pack's data as a keyboard wedge types it: (01) (17) (10) (21) with the
// GS after the lot lost.
const (
	wedgeGTIN = "0100300010123455"
	wedgeExp  = "17280600"
)

// packNeed is what a packing station expects: a pack or a container.
var packNeed = [][]string{{"01", "21"}, {"00"}}

func TestRepairWedge(t *testing.T) {
	for _, tt := range []struct {
		name     string
		typed    string
		need     [][]string
		hri      string
		repaired bool
		sym      string
	}{
		{"PackWithNeed", wedgeGTIN + wedgeExp + "10LOT121SER1", packNeed, "(01)00300010123455(17)280600(10)LOT1(21)SER1", true, ""},
		{"SymbologyTyped", "]d2" + wedgeGTIN + wedgeExp + "10LOT121SER1", packNeed, "(01)00300010123455(17)280600(10)LOT1(21)SER1", true, "]d2"},
		{"SerialLastNoRepair", wedgeGTIN + "21ABC", nil, "(01)00300010123455(21)ABC", false, ""},
		{"SSCC", "00403000112345678901", nil, "(00)403000112345678901", false, ""},
		{"SSCCWithCR", "]C100403000112345678901\r\n", packNeed, "(00)403000112345678901", false, "]C1"},
		// (21)1 followed by (235)ABC reads too, but (21) excludes (235).
		{"ExclusionPrunes", wedgeGTIN + "211235ABC", nil, "(01)00300010123455(21)1235ABC", false, ""},
		// A lot of 20 characters (the most AI 10 holds) must end there.
		{"MaxLengthLot", wedgeGTIN + "10ABCDEFGHIJKLMNOPQRST21X", nil, "(01)00300010123455(10)ABCDEFGHIJKLMNOPQRST(21)X", true, ""},
		{"GSKept", "]d2" + wedgeGTIN + wedgeExp + "10LOT1\x1d21SER1", nil, "(01)00300010123455(17)280600(10)LOT1(21)SER1", false, "]d2"},
		{"GSKeptNoSymbology", wedgeGTIN + wedgeExp + "10LOT1\x1d21SER1", nil, "(01)00300010123455(17)280600(10)LOT1(21)SER1", false, ""},
		{"Bracketed", "(01)00300010123455(21)SER1", nil, "(01)00300010123455(21)SER1", false, ""},
		{"DigitalLink", "https://id.gs1.org/01/00300010123455/21/SER1", nil, "(01)00300010123455(21)SER1", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RepairWedge(tt.typed, tt.need...)
			if err != nil {
				t.Fatalf("RepairWedge(%q): %v", tt.typed, err)
			}
			if got := r.Message.HRI(); got != tt.hri {
				t.Fatalf("HRI=%s, want %s", got, tt.hri)
			}
			if r.Repaired != tt.repaired || r.Symbology != tt.sym {
				t.Fatalf("repaired=%v symbology=%q, want %v %q", r.Repaired, r.Symbology, tt.repaired, tt.sym)
			}
			// The repaired data is what a serial scanner would have sent:
			// it parses back to the same AIs.
			sc, err := ParseScanData("]d2" + r.Data())
			if err != nil || sc.Message.HRI() != tt.hri {
				t.Fatalf("Data()=%q parses to %v, %v", r.Data(), sc, err)
			}
		})
	}
}

func TestRepairWedge_Ambiguous(t *testing.T) {
	for _, tt := range []struct {
		name  string
		typed string
		need  [][]string
		want  []string
	}{
		// Without knowing that a pack is expected, the lot may swallow the serial.
		{"NoNeed", wedgeGTIN + wedgeExp + "10LOT121SER1", nil, []string{
			"(01)00300010123455(17)280600(10)LOT1(21)SER1",
			"(01)00300010123455(17)280600(10)LOT121SER1",
		}},
		// Both readings hold a pack: the need cannot choose, nothing is guessed.
		{"BothPacks", wedgeGTIN + "10A21B211234", packNeed, []string{
			"(01)00300010123455(10)A(21)B211234",
			"(01)00300010123455(10)A21B(21)1234",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RepairWedge(tt.typed, tt.need...)
			var amb *AmbiguousError
			if !errors.As(err, &amb) {
				t.Fatalf("err=%v, want an *AmbiguousError", err)
			}
			var got []string
			for _, m := range amb.Readings {
				got = append(got, m.HRI())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("readings %q, want %q", got, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, "set the scanner to send GS") || !strings.Contains(msg, tt.want[0]) {
				t.Fatalf("message %q does not say what to do and which readings", msg)
			}
		})
	}
}

func TestRepairWedge_Refused(t *testing.T) {
	for _, tt := range []struct {
		name, typed, want string
	}{
		{"Empty", "  \r\n", "nothing was scanned"},
		{"NotGS1", "HELLO", "not GS1 data"},
		{"BadCheckDigit", "0100300010123456" + "21X", "check digit"},
		{"UnknownAI", wedgeGTIN + "99", "too short"},
		{"PlainSymbology", "]d1HELLO", "plain text"},
		{"OnlySymbology", "]d2", "no data"},
		// (10) needs (01): the only reading breaks a rule between AIs.
		{"Requisite", "10LOT1", "requires"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RepairWedge(tt.typed, packNeed...)
			if err == nil {
				t.Fatalf("RepairWedge(%q) = %s, want an error", tt.typed, r.Message.HRI())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			var amb *AmbiguousError
			if errors.As(err, &amb) {
				t.Fatalf("error is ambiguous, want a plain refusal: %v", err)
			}
		})
	}
}

// TestRepairWedge_Bounded checks that input with a huge number of readings
// ends quickly as ambiguous instead of searching them all.
func TestRepairWedge_Bounded(t *testing.T) {
	// Each AI after the GTIN may start a new element or belong to the value
	// before it: 2^5 readings, every one valid.
	typed := wedgeGTIN + "240A241B10C22D243E21F"
	_, err := RepairWedge(typed)
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !amb.More {
		t.Fatalf("err=%v, want an ambiguous error with More", err)
	}
}

func FuzzRepairWedge(f *testing.F) {
	for _, s := range []string{
		wedgeGTIN + wedgeExp + "10LOT121SER1", "]d2" + wedgeGTIN + "21ABC", "00403000112345678901",
		wedgeGTIN + "10A21B211234", "(01)00300010123455(21)X", "]C1" + wedgeGTIN + "3103000123",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		r, err := RepairWedge(typed, packNeed...)
		if err != nil {
			return
		}
		// Whatever was read, its FNC1 form reads back to the same AIs.
		sc, err := Options{}.ParseScanData("]d2" + r.Data())
		if err != nil {
			// Forms parsed as they were (a Digital Link, an EPC URI) may
			// hold AIs that have no element string form; a repair never.
			if r.Repaired {
				t.Fatalf("%q: repaired data %q does not parse: %v", typed, r.Data(), err)
			}
			return
		}
		if !sameElements(sc.Message, r.Message) {
			t.Fatalf("%q: %s read back as %s", typed, r.Message.HRI(), sc.Message.HRI())
		}
	})
}
