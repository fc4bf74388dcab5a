package zpl_test

import (
	"context"
	"errors"
	"flag"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/internal/ptytest"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/devices/zpl"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

var update = flag.Bool("update", false, "record testdata/*.transcript again from the simulator")

const gsep = "\x1d"

// unitLabel is a unit label whose serial has an underscore and whose product
// name has every character ZPL treats specially.
func unitLabel(serial string) station.Label {
	return station.Label{
		Template: "unit",
		Serial:   serial,
		Data:     "0100300010123455" + "17271231" + "10LOT42A" + gsep + "21" + serial,
		Fields: map[string]string{
			"product": "Amoxi^XZ~JA_500mg",
			"gtin":    "00300010123455",
			"expiry":  "271231",
			"lot":     "LOT42A",
			"serial":  serial,
		},
	}
}

func caseLabel() station.Label {
	return station.Label{
		Template: "case",
		Serial:   "003000100000001234",
		Data:     "00003000100000001234",
		Fields: map[string]string{
			"product": "Amoxicillin 500 mg x 24",
			"gtin":    "10300010123452",
			"lot":     "LOT42A",
			"expiry":  "271231",
			"count":   "24",
			"sscc":    "003000100000001234",
		},
	}
}

// palletLabel is caseLabel on the pallet template: an SSCC with extension 1.
func palletLabel() station.Label {
	l := caseLabel()
	l.Template = "pallet"
	l.Serial, l.Data = "103000100000005673", "00103000100000005673"
	l.Fields["sscc"], l.Fields["count"] = "103000100000005673", "4"
	return l
}

// fastOptions keep waits short in tests.
func fastOptions() zpl.Options {
	return zpl.Options{AnswerTimeout: time.Second, PollInterval: 2 * time.Millisecond, ConfirmTimeout: 5 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

// env is a driver connected to a simulated printer.
type env struct {
	p   *zpl.Printer
	sim *sim.ZPLPrinter
}

// MustTCP connects a driver to a simulated printer on loopback TCP.
func MustTCP(tb testing.TB) env {
	tb.Helper()
	s := sim.NewZPLPrinter()
	tb.Cleanup(func() { s.Close() })
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opt := fastOptions()
	opt.Dial = zpl.DialTCP(addr.String())
	p := zpl.NewPrinter(nil, opt)
	tb.Cleanup(func() { p.Close() })
	return env{p: p, sim: s}
}

// MustSerial connects a driver to a simulated printer over a socat
// pseudo-terminal pair: the simulator serves one end, the driver opens the
// other as a serial port.
func MustSerial(tb testing.TB) env {
	tb.Helper()
	s := sim.NewZPLPrinter()
	path := ptytest.MustServe(tb, s.Serve)
	tb.Cleanup(func() { s.Close() })
	port, err := zpl.OpenSerial(path, 115200)
	if err != nil {
		tb.Fatal(err)
	}
	p := zpl.NewPrinter(port, fastOptions())
	tb.Cleanup(func() { p.Close() })
	return env{p: p, sim: s}
}

// decodeField decodes the barcode a printed label carries in field i, from
// the label's pixels, as a verifier camera would.
func decodeField(t *testing.T, l *sim.Label, kind string) sim.Decoded {
	t.Helper()
	for _, f := range l.Fields {
		if f.Kind != kind {
			continue
		}
		r := f.At.Inset(-24).Intersect(l.Image.Bounds())
		img := l.Image.SubImage(r).(*image.Gray)
		var d sim.Decoded
		var err error
		if kind == "datamatrix" {
			d, err = sim.DecodeDataMatrix(img)
		} else {
			d, err = sim.DecodeCode128(img)
		}
		if err != nil {
			t.Fatalf("decode %s of the printed label: %v", kind, err)
		}
		return d
	}
	t.Fatalf("printed label has no %s field", kind)
	return sim.Decoded{}
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := station.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode=%q, want %q (err: %v)", got, code, err)
	}
}

// runContract is the printer contract: what every connection to a printer
// (TCP, serial) must do.
func runContract(t *testing.T, connect func(testing.TB) env) {
	t.Run("OK", func(t *testing.T) {
		e := connect(t)
		ctx := context.Background()
		l := unitLabel("SN_0001")
		if err := e.p.Print(ctx, l); err != nil {
			t.Fatal(err)
		}
		printed := e.sim.Printed() // confirmed means already out of the printer
		if got, want := len(printed), 1; got != want {
			t.Fatalf("labels printed=%d, want %d", got, want)
		}
		if printed[0].Err != nil {
			t.Fatalf("printed label did not render: %v", printed[0].Err)
		}
		d := decodeField(t, printed[0].Label, "datamatrix")
		if got, want := d.Symbology, "]d2"; got != want {
			t.Fatalf("symbology=%q, want %q", got, want)
		}
		if got, want := d.Text, l.Data; got != want {
			t.Fatalf("decoded=%q, want %q", got, want)
		}
		var texts []string
		for _, f := range printed[0].Label.Fields {
			if f.Kind == "text" {
				texts = append(texts, f.Data)
			}
		}
		if got, want := texts[0], l.Fields["product"]; got != want {
			t.Fatalf("product text=%q, want %q (escaping)", got, want)
		}
		if h := e.p.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v, want connected", h)
		}
	})
	t.Run("OKCase", func(t *testing.T) {
		e := connect(t)
		l := caseLabel()
		if err := e.p.Print(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		lbl := e.sim.Printed()[0].Label
		if d := decodeField(t, lbl, "code128"); d.Symbology != "]C1" || d.Text != "00"+l.Fields["sscc"] {
			t.Fatalf("GS1-128 decoded %+v, want ]C1 00%s", d, l.Fields["sscc"])
		}
		if d := decodeField(t, lbl, "datamatrix"); d.Symbology != "]d2" || d.Text != l.Data {
			t.Fatalf("DataMatrix decoded %+v, want ]d2 %q", d, l.Data)
		}
	})
	t.Run("Status", func(t *testing.T) {
		e := connect(t)
		e.sim.SetPaused(true)
		e.sim.SetPaperOut(true)
		st, err := e.p.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Paused || !st.PaperOut || st.RibbonOut || st.HeadOpen || st.Ready() {
			t.Fatalf("status=%+v, want paused and paper out only", st)
		}
		if h := e.p.Health(); h.State != station.DeviceFaulted || !strings.Contains(h.Reason, "labels") {
			t.Fatalf("health=%+v, want faulted for paper out", h)
		}
	})
	for _, tt := range []struct {
		name  string
		fault func(*sim.ZPLPrinter)
		words string
	}{
		{"ErrRibbonOut", func(s *sim.ZPLPrinter) { s.SetRibbonOut(true) }, "ribbon"},
		{"ErrPaperOut", func(s *sim.ZPLPrinter) { s.SetPaperOut(true) }, "labels"},
		{"ErrHeadOpen", func(s *sim.ZPLPrinter) { s.SetHeadOpen(true) }, "head"},
		{"ErrPaused", func(s *sim.ZPLPrinter) { s.SetPaused(true) }, "paused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := connect(t)
			tt.fault(e.sim)
			err := e.p.Print(context.Background(), unitLabel("SN_0002"))
			requireCode(t, err, station.EDEVICE)
			if !strings.Contains(station.ErrorMessage(err), tt.words) {
				t.Fatalf("message %q does not say %q", station.ErrorMessage(err), tt.words)
			}
			if n := len(e.sim.Printed()); n != 0 {
				t.Fatalf("%d labels printed, want none", n)
			}
			st, err := e.p.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !st.Idle() {
				t.Fatalf("status=%+v: the label was sent to a faulted printer", st)
			}
		})
	}
	t.Run("ErrRibbonOutWhilePrinting", func(t *testing.T) {
		e := connect(t)
		e.sim.SetPrintTime(300 * time.Millisecond)
		errc := make(chan error, 1)
		go func() { errc <- e.p.Print(context.Background(), unitLabel("SN_0003")) }()
		// The driver polls ~HS once the format is in; then the ribbon runs out.
		stationtest.Poll(t, 5*time.Second, "driver polls the printer", func() bool { return e.sim.StatusQueries() >= 2 })
		e.sim.SetRibbonOut(true)
		err := <-errc
		requireCode(t, err, station.EDEVICE)
		if !strings.Contains(station.ErrorMessage(err), "ribbon") {
			t.Fatalf("message %q does not say ribbon", station.ErrorMessage(err))
		}
		// ~JA cancelled the job: nothing comes out when the ribbon is back.
		e.sim.SetRibbonOut(false)
		st, err := e.p.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Idle() || len(e.sim.Printed()) != 0 {
			t.Fatalf("status=%+v printed=%d: the failed job was not cancelled", st, len(e.sim.Printed()))
		}
	})
	t.Run("ErrInvalidLabel", func(t *testing.T) {
		e := connect(t)
		l := unitLabel("SN_0004")
		delete(l.Fields, "lot")
		err := e.p.Print(context.Background(), l)
		requireCode(t, err, station.EINVALID)
		if !strings.Contains(station.ErrorMessage(err), "lot") {
			t.Fatalf("message %q does not name the missing field", station.ErrorMessage(err))
		}
		requireCode(t, e.p.Print(context.Background(), station.Label{Template: "nope", Data: "x"}), station.EINVALID)
		if n := e.sim.StatusQueries(); n != 0 {
			t.Fatalf("%d status queries: an invalid label reached the printer", n)
		}
	})
	t.Run("ErrDeadline", func(t *testing.T) {
		e := connect(t)
		e.sim.SetPrintTime(time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := e.p.Print(ctx, unitLabel("SN_0005"))
		requireCode(t, err, station.EDEVICE)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err=%v, want it to wrap context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Print returned %s after its deadline", d)
		}
	})
}

func TestPrinter_TCP(t *testing.T) {
	runContract(t, MustTCP)
	t.Run("Reconnect", func(t *testing.T) {
		e := MustTCP(t)
		ctx := context.Background()
		if _, err := e.p.Status(ctx); err != nil {
			t.Fatal(err)
		}
		e.sim.SetOffline(true)
		requireCode(t, e.p.Print(ctx, unitLabel("SN_0006")), station.EDEVICE)
		if h := e.p.Health(); h.State != station.DeviceDisconnected {
			t.Fatalf("health=%+v, want disconnected", h)
		}
		e.sim.SetOffline(false)
		stationtest.Poll(t, 5*time.Second, "printer reconnects", func() bool {
			return e.p.Print(ctx, unitLabel("SN_0006")) == nil
		})
		if h := e.p.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v, want connected", h)
		}
	})
	t.Run("ErrSilentFirmware", func(t *testing.T) {
		e := MustTCP(t)
		e.sim.SetSilentWhenFaulted(true)
		e.sim.SetHeadOpen(true)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := e.p.Print(ctx, unitLabel("SN_0007"))
		requireCode(t, err, station.EDEVICE)
		if !strings.Contains(station.ErrorMessage(err), "did not answer") {
			t.Fatalf("message %q, want 'did not answer'", station.ErrorMessage(err))
		}
	})
}

func TestPrinter_Serial(t *testing.T) {
	runContract(t, MustSerial)
}

// TestPrinter_Transcripts replays recorded conversations byte for byte. With
// -update the recorded ones are made again from the simulator.
func TestPrinter_Transcripts(t *testing.T) {
	if *update {
		record(t, "print_unit", "want: ok", func(s *sim.ZPLPrinter) {}, unitLabel("SN_0001"))
		record(t, "print_ribbon_out", "want: device ribbon", func(s *sim.ZPLPrinter) { s.SetRibbonOut(true) }, unitLabel("SN_0001"))
		record(t, "print_case", "want: ok", func(s *sim.ZPLPrinter) {}, caseLabel())
	}
	files, err := filepath.Glob("testdata/*.transcript")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in testdata (%v)", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".transcript")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sim.ParseTranscript(b)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			for _, line := range strings.Split(tr.Comment, "\n") {
				if strings.HasPrefix(line, "want: ") {
					want = strings.TrimPrefix(line, "want: ")
				}
			}
			rp := sim.NewReplayer(tr)
			p := zpl.NewPrinter(rp, fastOptions())
			defer p.Close()
			l := unitLabel("SN_0001")
			if strings.Contains(name, "case") {
				l = caseLabel()
			}
			err = p.Print(context.Background(), l)
			switch f := strings.Fields(want); {
			case len(f) == 0:
				t.Fatalf("transcript has no 'want:' comment")
			case f[0] == "ok":
				if err != nil {
					t.Fatal(err)
				}
			default:
				requireCode(t, err, map[string]string{"device": station.EDEVICE, "invalid": station.EINVALID}[f[0]])
				for _, w := range f[1:] {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("err %q does not say %q", err, w)
					}
				}
			}
			if err := rp.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// record prints l on a fresh simulator with fault set and writes the
// conversation to testdata/name.transcript.
func record(t *testing.T, name, want string, fault func(*sim.ZPLPrinter), l station.Label) {
	t.Helper()
	s := sim.NewZPLPrinter()
	defer s.Close()
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fault(s)
	var rec *sim.Recorder
	opt := fastOptions()
	opt.PollInterval = 50 * time.Millisecond // one or two polls: the label prints in 2 ms
	opt.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := zpl.DialTCP(addr.String())(ctx)
		if err == nil {
			rec = sim.NewRecorder(c)
			return rec, nil
		}
		return nil, err
	}
	p := zpl.NewPrinter(nil, opt)
	perr := p.Print(context.Background(), l)
	p.Close()
	tr := rec.Transcript()
	tr.Comment = "Recorded from devices/sim.ZPLPrinter by TestPrinter_Transcripts -update.\n" + want + "\n"
	if perr != nil {
		tr.Comment += "error was: " + perr.Error() + "\n"
	}
	if err := os.WriteFile(filepath.Join("testdata", name+".transcript"), tr.Format(), 0o644); err != nil {
		t.Fatal(err)
	}
}
