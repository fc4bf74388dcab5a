package camera_test

import (
	"context"
	"errors"
	"flag"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/camera"
	"github.com/linestation/linestation/devices/internal/ptytest"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/stationtest"
)

var update = flag.Bool("update", false, "record testdata/*.transcript again from the simulator")

const data = "0100300010123455" + "17271231" + "10LOT42A" + "\x1d" + "21SN0001"

// mark renders data as a coder marks it.
func mark(tb testing.TB, data string, ink uint8, smudge bool) *image.Gray {
	tb.Helper()
	m, err := sim.EncodeGS1DataMatrix(data, true)
	if err != nil {
		tb.Fatal(err)
	}
	return sim.RenderMark(m, 3, ink, smudge)
}

func fastOptions() camera.Options {
	return camera.Options{AnswerTimeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

type env struct {
	c   *camera.Camera
	sim *sim.Camera
}

// MustTCP connects a driver to a simulated camera: DMCC and results on two
// loopback TCP connections.
func MustTCP(tb testing.TB) env {
	tb.Helper()
	s := sim.NewCamera()
	tb.Cleanup(func() { s.Close() })
	cmd, res, err := s.ListenTCP("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opt := fastOptions()
	opt.DialCommand = camera.DialTCP(cmd.String())
	opt.DialResults = camera.DialTCP(res.String())
	c := camera.NewCamera(nil, nil, opt)
	tb.Cleanup(func() { c.Close() })
	mustConnect(tb, c, s)
	return env{c: c, sim: s}
}

// mustConnect connects c and waits until the simulator has its result connection.
func mustConnect(tb testing.TB, c *camera.Camera, s *sim.Camera) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		tb.Fatal(err)
	}
	stationtest.Poll(tb, 5*time.Second, "camera result connection", func() bool { return s.ResultClients() > 0 })
}

// MustSerial connects a driver to a simulated serial reader (DMCC and
// results on one stream) over a socat pseudo-terminal pair.
func MustSerial(tb testing.TB) env {
	tb.Helper()
	s := sim.NewCamera()
	path := ptytest.MustServe(tb, s.Serve)
	tb.Cleanup(func() { s.Close() })
	port, err := camera.OpenSerial(path, 115200)
	if err != nil {
		tb.Fatal(err)
	}
	c := camera.NewCamera(port, nil, fastOptions())
	tb.Cleanup(func() { c.Close() })
	mustConnect(tb, c, s)
	return env{c: c, sim: s}
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := station.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode=%q, want %q (err: %v)", got, code, err)
	}
}

// readWithin reads one result, failing after d.
func readWithin(t *testing.T, c *camera.Camera, d time.Duration) station.CameraRead {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runContract(t *testing.T, connect func(testing.TB) env) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		e := connect(t)
		if v, err := e.c.Get(ctx, "DEVICE.TYPE"); err != nil || v != "sim-DataMan" {
			t.Fatalf("DEVICE.TYPE=%q err=%v", v, err)
		}
		sent := e.sim.Inspect(mark(t, data, 0, false))
		r := readWithin(t, e.c, 2*time.Second)
		read := time.Now()
		if r.NoRead || r.Symbology != "]d2" || r.Data != data || r.Trigger != sent.Trigger {
			t.Fatalf("read=%+v, want ]d2 %q trigger %d", r, data, sent.Trigger)
		}
		// Received is when the driver got the line: after the reader sent
		// it, before Read returned it.
		if r.Received.Before(sent.Sent) || r.Received.After(read) {
			t.Fatalf("received %v, want between sent %v and read %v", r.Received, sent.Sent, read)
		}
		if r.Grade.Letter() != "A" {
			t.Fatalf("grade=%v, want A for a black mark", r.Grade)
		}
		if h := e.c.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v", h)
		}
	})
	t.Run("NoRead", func(t *testing.T) {
		e := connect(t)
		if _, err := e.c.Get(ctx, "DEVICE.TYPE"); err != nil { // connected before the trigger
			t.Fatal(err)
		}
		e.sim.Inspect(mark(t, data, 0, true))
		if r := readWithin(t, e.c, 2*time.Second); !r.NoRead || r.Data != "" || r.Grade != station.NoGrade {
			t.Fatalf("read=%+v, want a no-read for a smudged mark", r)
		}
	})
	t.Run("LowGrade", func(t *testing.T) {
		e := connect(t)
		if _, err := e.c.Get(ctx, "DEVICE.TYPE"); err != nil {
			t.Fatal(err)
		}
		e.sim.Inspect(mark(t, data, 190, false))
		r := readWithin(t, e.c, 2*time.Second)
		if r.NoRead || r.Data != data || r.Grade.Letter() != "D" {
			t.Fatalf("read=%+v grade %v, want the data with grade D for faded ink", r, r.Grade)
		}
	})
	t.Run("SoftTrigger", func(t *testing.T) {
		e := connect(t)
		e.sim.SetView(mark(t, data, 0, false))
		if err := e.c.Trigger(ctx); err != nil {
			t.Fatal(err)
		}
		if r := readWithin(t, e.c, 2*time.Second); r.Data != data {
			t.Fatalf("read=%+v, want %q", r, data)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := connect(t)
		_, err := e.c.Get(ctx, "NO.SUCH.SETTING")
		requireCode(t, err, station.EINVALID)
		_, err = e.c.Command(ctx, "FROB")
		requireCode(t, err, station.EINVALID)
		if err := e.c.Set(ctx, "SYMBOL.C128", "OFF"); err != nil {
			t.Fatal(err)
		}
		if v, err := e.c.Get(ctx, "SYMBOL.C128"); err != nil || v != "OFF" {
			t.Fatalf("SYMBOL.C128=%q err=%v after SET", v, err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		e := connect(t)
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := e.c.Read(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err=%v, want deadline exceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Read returned %s after a 50ms deadline", d)
		}
	})
}

func TestCamera_TCP(t *testing.T) {
	runContract(t, MustTCP)
	t.Run("Reconnect", func(t *testing.T) {
		e := MustTCP(t)
		if _, err := e.c.Get(context.Background(), "DEVICE.TYPE"); err != nil {
			t.Fatal(err)
		}
		e.sim.Disconnect()
		img := mark(t, data, 0, false)
		stationtest.Poll(t, 5*time.Second, "results flow again after a disconnect", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if e.c.Connect(ctx) != nil || e.sim.ResultClients() == 0 {
				return false
			}
			e.sim.Inspect(img)
			r, err := e.c.Read(ctx)
			return err == nil && r.Data == data
		})
		if h := e.c.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v, want connected", h)
		}
	})
}

func TestCamera_Serial(t *testing.T) { runContract(t, MustSerial) }

func TestParseResult(t *testing.T) {
	for _, tt := range []struct {
		line string
		ok   bool
	}{
		{"READ 7 ]d2 3.5 3 a\x1db", true},
		{"READ 7 ]C1 - 2 00", true},
		{"NOREAD 8", true},
		{"READ 7 ]d2 3.5 4 a\x1db", false}, // length says 4
		{"READ 7 d2 3.5 3 abc", false},     // no AIM identifier
		{"READ 7 ]d2 5.0 3 abc", false},    // grade out of range
		{"READ x ]d2 4.0 3 abc", false},
		{"NOREAD", false},
		{"HELLO", false},
	} {
		r, err := camera.ParseResult([]byte(tt.line))
		if (err == nil) != tt.ok {
			t.Fatalf("ParseResult(%q)=%+v, %v; want ok=%v", tt.line, r, err, tt.ok)
		}
	}
	r, _ := camera.ParseResult([]byte("READ 7 ]d2 3.5 3 a\x1db"))
	if r.Data != "a\x1db" || r.Grade != 3.5 || r.Trigger != 7 {
		t.Fatalf("read=%+v", r)
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add([]byte("READ 7 ]d2 3.5 3 a\x1db"))
	f.Add([]byte("NOREAD 1"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := camera.ParseResult(line)
		if err == nil && !r.NoRead && (len(r.Symbology) != 3 || r.Grade > 4) {
			t.Fatalf("accepted %q as %+v", line, r)
		}
	})
}

// TestCamera_Transcripts replays recorded conversations with a serial reader
// (DMCC and results on one stream).
func TestCamera_Transcripts(t *testing.T) {
	if *update {
		recordSession(t)
	}
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
			rp := sim.NewReplayer(tr)
			c := camera.NewCamera(rp, nil, fastOptions())
			defer c.Close()
			r, err := session(c)
			switch {
			case strings.Contains(tr.Comment, "want: ok"):
				if err != nil {
					t.Fatal(err)
				}
				if r.Data != data || r.Symbology != "]d2" {
					t.Fatalf("read=%+v", r)
				}
			case strings.Contains(tr.Comment, "want: device"):
				requireCode(t, err, station.EDEVICE)
			}
			if err := rp.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// session asks the device type, fires a software trigger and reads its result.
func session(c *camera.Camera) (station.CameraRead, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "DEVICE.TYPE"); err != nil {
		return station.CameraRead{}, err
	}
	if err := c.Trigger(ctx); err != nil {
		return station.CameraRead{}, err
	}
	return c.Read(ctx)
}

func recordSession(t *testing.T) {
	s := sim.NewCamera()
	defer s.Close()
	s.SetView(mark(t, data, 0, false))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			s.Serve(c)
		}
	}()
	var rec *sim.Recorder
	opt := fastOptions()
	opt.DialCommand = func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := camera.DialTCP(ln.Addr().String())(ctx)
		if err == nil {
			rec = sim.NewRecorder(c)
		}
		return rec, err
	}
	c := camera.NewCamera(nil, nil, opt)
	defer c.Close()
	if _, err := session(c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the TRIGGER answer, sent after the result, arrive
	tr := rec.Transcript()
	tr.Comment = "Recorded from devices/sim.Camera (serial mode) by TestCamera_Transcripts -update.\nwant: ok\n"
	if err := os.WriteFile("testdata/session.transcript", tr.Format(), 0o644); err != nil {
		t.Fatal(err)
	}
}
