package scanner_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/internal/ptytest"
	"github.com/linestation/linestation/devices/scanner"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/station/stationtest"
)

const data = "0100300010123455" + "17271231" + "10LOT42A" + "\x1d" + "21SN0001"

func options() scanner.Options {
	return scanner.Options{FrameTimeout: 100 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

type env struct {
	s   *scanner.Scanner
	sim *sim.Scanner
}

// MustSerial connects a driver to a simulated scanner over a socat
// pseudo-terminal pair, as a serial scanner is connected.
func MustSerial(tb testing.TB, opt scanner.Options) env {
	tb.Helper()
	s := sim.NewScanner()
	path := ptytest.MustServe(tb, s.Serve)
	tb.Cleanup(func() { s.Close() })
	stationtest.Poll(tb, 5*time.Second, "scanner simulator serves the pty", func() bool { return s.Clients() > 0 })
	port, err := scanner.OpenSerial(path, 9600)
	if err != nil {
		tb.Fatal(err)
	}
	d := scanner.NewScanner(port, opt)
	tb.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Connect(ctx); err != nil {
		tb.Fatal(err)
	}
	return env{s: d, sim: s}
}

// MustTCP connects a driver to a simulated scanner behind a TCP serial server.
func MustTCP(tb testing.TB, opt scanner.Options) env {
	tb.Helper()
	s := sim.NewScanner()
	tb.Cleanup(func() { s.Close() })
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opt.Dial = scanner.DialTCP(addr.String())
	d := scanner.NewScanner(nil, opt)
	tb.Cleanup(func() { d.Close() })
	if err := d.Connect(context.Background()); err != nil {
		tb.Fatal(err)
	}
	stationtest.Poll(tb, 5*time.Second, "scanner connection", func() bool { return s.Clients() > 0 })
	return env{s: d, sim: s}
}

func scan(t *testing.T, s *scanner.Scanner) (station.Scan, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return s.Scan(ctx)
}

func requireProblem(t *testing.T, sc station.Scan, err error, words string) {
	t.Helper()
	if station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("err=%v, want EINVALID", err)
	}
	if !strings.Contains(sc.Problem, words) || !strings.Contains(station.ErrorMessage(err), words) {
		t.Fatalf("problem=%q message=%q, want them to say %q", sc.Problem, station.ErrorMessage(err), words)
	}
}

func runContract(t *testing.T, connect func(testing.TB, scanner.Options) env) {
	t.Run("OK", func(t *testing.T) {
		e := connect(t, options())
		e.sim.Scan("]d2", data)
		sc, err := scan(t, e.s)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Symbology != "]d2" || sc.Data != data || sc.Problem != "" || string(sc.Raw) != "]d2"+data {
			t.Fatalf("scan=%+v, want ]d2 %q with GS kept", sc, data)
		}
		p, err := gs1.ParseScanData(sc.Symbology + sc.Data)
		if err != nil {
			t.Fatal(err)
		}
		if serial, _ := p.Message.Get("21"); serial != "SN0001" {
			t.Fatalf("serial=%q", serial)
		}
	})
	t.Run("Burst", func(t *testing.T) {
		e := connect(t, options())
		var all []byte
		for _, s := range []string{"A1", "B2", "C3"} {
			all = append(all, e.sim.Frame("]C1", "00"+s)...)
		}
		e.sim.SendRaw(all) // three frames in one write
		for _, want := range []string{"00A1", "00B2", "00C3"} {
			sc, err := scan(t, e.s)
			if err != nil || sc.Data != want || sc.Symbology != "]C1" {
				t.Fatalf("scan=%+v err=%v, want ]C1 %s", sc, err, want)
			}
		}
	})
	t.Run("SplitFrame", func(t *testing.T) {
		e := connect(t, options())
		f := e.sim.Frame("]d2", data)
		e.sim.SendRaw(f[:10])
		time.Sleep(20 * time.Millisecond) // a pause well inside the frame timeout
		e.sim.SendRaw(f[10:])
		if sc, err := scan(t, e.s); err != nil || sc.Data != data {
			t.Fatalf("scan=%+v err=%v, want the frame assembled", sc, err)
		}
	})
	t.Run("SuffixCRLF", func(t *testing.T) {
		opt := options()
		opt.Suffix = "\r\n"
		e := connect(t, opt)
		e.sim.SetSuffix("\r\n")
		e.sim.Scan("]d2", data)
		if sc, err := scan(t, e.s); err != nil || sc.Data != data {
			t.Fatalf("scan=%+v err=%v", sc, err)
		}
	})
	t.Run("ErrPartial", func(t *testing.T) {
		e := connect(t, options())
		f := e.sim.Frame("]d2", data)
		e.sim.SendRaw(f[:20]) // the cable is pulled mid-frame
		sc, err := scan(t, e.s)
		requireProblem(t, sc, err, "not terminated")
		if string(sc.Raw) != string(f[:20]) || sc.Data != "" {
			t.Fatalf("scan=%+v: a partial frame must be reported as received, not decoded", sc)
		}
		e.sim.Scan("]d2", data) // the next scan is good again
		if sc, err := scan(t, e.s); err != nil || sc.Data != data {
			t.Fatalf("scan=%+v err=%v after a partial frame", sc, err)
		}
	})
	t.Run("ErrPartialLateTail", func(t *testing.T) {
		e := connect(t, options())
		f := e.sim.Frame("]d2", data)
		e.sim.SendRaw(f[:20])
		time.Sleep(250 * time.Millisecond) // longer than the frame timeout, nobody reading
		e.sim.SendRaw(f[20:])
		sc, err := scan(t, e.s)
		requireProblem(t, sc, err, "not terminated")
		sc, err = scan(t, e.s) // the tail is a frame of its own, without AIM id
		requireProblem(t, sc, err, "AIM")
	})
	t.Run("ErrNoise", func(t *testing.T) {
		e := connect(t, options())
		e.sim.SendRaw([]byte("]d2010030\x07001012\r"))
		sc, err := scan(t, e.s)
		requireProblem(t, sc, err, "0x07 at offset 9")
	})
	t.Run("ErrNoAIM", func(t *testing.T) {
		e := connect(t, options())
		e.sim.SetNoAIM(true)
		e.sim.Scan("]d2", data)
		sc, err := scan(t, e.s)
		requireProblem(t, sc, err, "AIM")
	})
	t.Run("NoAIMAllowed", func(t *testing.T) {
		opt := options()
		opt.NoAIM = true
		e := connect(t, opt)
		e.sim.SetNoAIM(true)
		e.sim.Scan("]d2", data)
		if sc, err := scan(t, e.s); err != nil || sc.Data != data || sc.Symbology != "" {
			t.Fatalf("scan=%+v err=%v", sc, err)
		}
	})
	t.Run("ScanLabel", func(t *testing.T) {
		e := connect(t, options())
		m, err := sim.EncodeGS1DataMatrix(data, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.ScanImage(sim.RenderDataMatrix(m, 4, 2)); err != nil {
			t.Fatal(err)
		}
		if sc, err := scan(t, e.s); err != nil || sc.Symbology != "]d2" || sc.Data != data {
			t.Fatalf("scan=%+v err=%v", sc, err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		e := connect(t, options())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := e.s.Scan(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err=%v, want deadline exceeded", err)
		}
	})
}

func TestScanner_Serial(t *testing.T) { runContract(t, MustSerial) }

func TestScanner_TCP(t *testing.T) {
	runContract(t, MustTCP)
	t.Run("Reconnect", func(t *testing.T) {
		e := MustTCP(t, options())
		e.sim.Disconnect()
		stationtest.Poll(t, 5*time.Second, "scanner reconnects", func() bool {
			if e.sim.Clients() == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				e.s.Scan(ctx) // Scan reconnects while it waits
				return false
			}
			e.sim.Scan("]d2", data)
			sc, err := scan(t, e.s)
			return err == nil && sc.Data == data
		})
		if h := e.s.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v", h)
		}
	})
}

// TestScanner_Transcripts replays recorded byte streams from scanners.
func TestScanner_Transcripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.transcript")
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".transcript"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sim.ParseTranscript(b)
			if err != nil {
				t.Fatal(err)
			}
			// "# scan: <problem words or ok>" lines give the expected frames in order.
			var want []string
			for _, line := range strings.Split(tr.Comment, "\n") {
				if w, ok := strings.CutPrefix(line, "scan: "); ok {
					want = append(want, w)
				}
			}
			rp := sim.NewReplayer(tr)
			s := scanner.NewScanner(rp, options())
			defer s.Close()
			for i, w := range want {
				sc, err := scan(t, s)
				if w == "ok" {
					if err != nil || sc.Problem != "" {
						t.Fatalf("frame %d: scan=%+v err=%v, want ok", i+1, sc, err)
					}
					if _, err := gs1.ParseScanData(sc.Symbology + sc.Data); err != nil {
						t.Fatalf("frame %d: gs1: %v", i+1, err)
					}
					continue
				}
				requireProblem(t, sc, err, w)
			}
			if err := rp.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte("]d2" + data))
	f.Add([]byte("]C100123"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if scanner.Check(frame, true) == "" && (len(frame) < 4 || frame[0] != ']') {
			t.Fatalf("accepted %q without an AIM identifier and data", frame)
		}
	})
}
