package coder_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/coder"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/station/stationtest"
)

var update = flag.Bool("update", false, "record testdata/*.transcript again from the simulator")

func unit(serial string) station.UnitCode {
	return station.UnitCode{
		Serial: serial,
		Data:   "0100300010123455" + "17271231" + "10LOT42A" + "\x1d" + "21" + serial,
		Fields: map[string]string{"gtin": "00300010123455", "expiry": "271231", "lot": "LOT42A", "serial": serial},
	}
}

func fastOptions() coder.Options {
	return coder.Options{AnswerTimeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

type env struct {
	c   *coder.Coder
	sim *sim.Coder
}

// MustTCP connects a driver to a simulated coder on loopback TCP.
func MustTCP(tb testing.TB) env {
	tb.Helper()
	s := sim.NewCoder()
	tb.Cleanup(func() { s.Close() })
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opt := fastOptions()
	opt.Dial = coder.DialTCP(addr.String())
	c := coder.NewCoder(nil, opt)
	tb.Cleanup(func() { c.Close() })
	return env{c: c, sim: s}
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := station.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode=%q, want %q (err: %v)", got, code, err)
	}
}

func TestCoder_TCP(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		e := MustTCP(t)
		if v, err := e.c.Version(ctx); err != nil || !strings.HasPrefix(v, "LSC/1") {
			t.Fatalf("version=%q err=%v, want LSC/1", v, err)
		}
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		serials := []string{"SN0001", "SN 0002%=", "SN0003"} // the second needs escaping
		var codes []station.UnitCode
		for _, s := range serials {
			codes = append(codes, unit(s))
		}
		if err := e.c.Queue(ctx, codes...); err != nil {
			t.Fatal(err)
		}
		if st, err := e.c.Status(ctx); err != nil || st.Queued != 3 || !st.Armed || st.Template != "unit" {
			t.Fatalf("status=%+v err=%v, want 3 queued, armed, template unit", st, err)
		}
		for i, want := range codes {
			p, err := e.sim.Detect()
			if err != nil {
				t.Fatal(err)
			}
			ack, err := e.c.Printed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Serial != want.Serial || ack.Count != uint64(i+1) {
				t.Fatalf("ack=%+v, want serial %q count %d", ack, want.Serial, i+1)
			}
			// The mark itself carries the code: decode it as the camera will.
			d, err := sim.DecodeDataMatrix(p.Image)
			if err != nil {
				t.Fatalf("decode mark %d: %v", i+1, err)
			}
			if d.Symbology != "]d2" || d.Text != want.Data {
				t.Fatalf("mark decoded %s %q, want ]d2 %q", d.Symbology, d.Text, want.Data)
			}
			if i == 0 { // a real GS1 check of what was marked
				scan, err := gs1.ParseScanData(d.Symbology + d.Text)
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := scan.Message.Get("21"); s != want.Serial {
					t.Fatalf("gs1 serial=%q, want %q", s, want.Serial)
				}
			}
		}
		if st, err := e.c.Status(ctx); err != nil || st.Queued != 0 || st.Count != 3 {
			t.Fatalf("status=%+v err=%v, want 0 queued, count 3", st, err)
		}
	})
	t.Run("ErrNoTemplate", func(t *testing.T) {
		e := MustTCP(t)
		requireCode(t, e.c.Queue(ctx, unit("SN1")), station.ENOTFOUND)
		requireCode(t, e.c.Select(ctx, "carton-xl"), station.ENOTFOUND)
	})
	t.Run("ErrQueueFull", func(t *testing.T) {
		e := MustTCP(t)
		e.sim.MaxQueue = 2
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		err := e.c.Queue(ctx, unit("SN1"), unit("SN2"), unit("SN3"))
		requireCode(t, err, station.ECONFLICT)
		if !strings.Contains(err.Error(), "SN3") {
			t.Fatalf("err %q does not name the refused unit", err)
		}
		if n := e.sim.Queued(); n != 2 {
			t.Fatalf("queued=%d, want 2", n)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := MustTCP(t)
		requireCode(t, e.c.Queue(ctx, station.UnitCode{Serial: "SN1"}), station.EINVALID)
	})
	t.Run("ErrFault", func(t *testing.T) {
		e := MustTCP(t)
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Queue(ctx, unit("SN1")); err != nil {
			t.Fatal(err)
		}
		e.sim.SetFault("INK_OUT", "ink cartridge empty")
		_, err := e.c.Printed(ctx)
		requireCode(t, err, station.EDEVICE)
		if !strings.Contains(station.ErrorMessage(err), "INK_OUT") {
			t.Fatalf("message %q does not name the fault", station.ErrorMessage(err))
		}
		if h := e.c.Health(); h.State != station.DeviceFaulted || !strings.Contains(h.Reason, "ink") {
			t.Fatalf("health=%+v, want faulted for ink", h)
		}
		requireCode(t, e.c.Queue(ctx, unit("SN2")), station.EDEVICE)
		if _, err := e.sim.Detect(); !errors.Is(err, sim.ErrCoderFaulted) {
			t.Fatalf("Detect while faulted: %v", err)
		}
		e.sim.ClearFault()
		if _, err := e.sim.Detect(); err != nil {
			t.Fatal(err)
		}
		ack, err := e.c.Printed(ctx)
		if err != nil || ack.Serial != "SN1" {
			t.Fatalf("ack=%+v err=%v, want SN1 after the fault cleared", ack, err)
		}
		if h := e.c.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v, want connected after RDY", h)
		}
	})
	t.Run("ErrUnmarked", func(t *testing.T) {
		e := MustTCP(t)
		if _, err := e.c.Version(ctx); err != nil { // connect first
			t.Fatal(err)
		}
		if _, err := e.sim.Detect(); !errors.Is(err, sim.ErrNothingQueued) {
			t.Fatalf("Detect with an empty queue: %v", err)
		}
		_, err := e.c.Printed(ctx)
		requireCode(t, err, station.EDEVICE)
		if !strings.Contains(station.ErrorMessage(err), "unmarked") {
			t.Fatalf("message %q, want 'unmarked'", station.ErrorMessage(err))
		}
	})
	t.Run("Warnings", func(t *testing.T) {
		e := MustTCP(t)
		health := func(state station.DeviceState, reason string) {
			t.Helper()
			if h := e.c.Health(); h.State != state || !strings.Contains(h.Reason, reason) {
				t.Fatalf("health=%+v, want %s (%q)", h, state, reason)
			}
		}
		unmarked := func() {
			t.Helper()
			if _, err := e.sim.Detect(); !errors.Is(err, sim.ErrNothingQueued) {
				t.Fatalf("Detect with an empty queue: %v", err)
			}
			if _, err := e.c.Printed(ctx); !strings.Contains(station.ErrorMessage(err), "unmarked") {
				t.Fatalf("err=%v, want a unit that passed unmarked", err)
			}
		}
		printed := func(serial string) {
			t.Helper()
			if err := e.c.Queue(ctx, unit(serial)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.sim.Detect(); err != nil {
				t.Fatal(err)
			}
			if ack, err := e.c.Printed(ctx); err != nil || ack.Serial != serial {
				t.Fatalf("ack=%+v err=%v, want %s", ack, err, serial)
			}
		}
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		// NO_CODE: degraded until the next print acknowledgement ...
		unmarked()
		health(station.DeviceDegraded, "nothing queued")
		printed("SN1")
		health(station.DeviceConnected, "")
		// ... or until the coder is reset.
		unmarked()
		health(station.DeviceDegraded, "nothing queued")
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		health(station.DeviceConnected, "")
		// Low ink stays until RDY, whatever clears NO_CODE.
		e.sim.SetFault("INK_LOW", "ink low")
		unmarked()
		health(station.DeviceDegraded, "nothing queued")
		printed("SN2")
		health(station.DeviceDegraded, "ink low")
		e.sim.ClearFault()
		printed("SN3")
		health(station.DeviceConnected, "")
		// A warning does not hide a fault.
		e.sim.SetFault("HEAD_FAULT", "print head error")
		if _, err := e.c.Printed(ctx); !strings.Contains(station.ErrorMessage(err), "HEAD_FAULT") {
			t.Fatalf("err=%v, want HEAD_FAULT", err)
		}
		e.sim.SetFault("NO_CODE", "product passed with nothing queued")
		if _, err := e.c.Printed(ctx); !strings.Contains(station.ErrorMessage(err), "unmarked") {
			t.Fatalf("err=%v, want a unit that passed unmarked", err)
		}
		health(station.DeviceFaulted, "print head error")
	})
	t.Run("Reconnect", func(t *testing.T) {
		e := MustTCP(t)
		if err := e.c.Select(ctx, "unit"); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Queue(ctx, unit("SN1")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sim.Detect(); err != nil {
			t.Fatal(err)
		}
		// Wait until the acknowledgement has been read, then cut the link.
		stationtest.Poll(t, 2*time.Second, "ack read", func() bool { return e.sim.Queued() == 0 })
		time.Sleep(20 * time.Millisecond)
		e.sim.Disconnect()
		ack, err := e.c.Printed(ctx) // read before the cut: still delivered
		if err != nil || ack.Serial != "SN1" {
			t.Fatalf("ack=%+v err=%v, want SN1", ack, err)
		}
		stationtest.Poll(t, 5*time.Second, "coder reconnects", func() bool {
			_, err := e.c.Status(ctx)
			return err == nil
		})
		if h := e.c.Health(); h.State != station.DeviceConnected {
			t.Fatalf("health=%+v, want connected", h)
		}
	})
	t.Run("ErrOffline", func(t *testing.T) {
		e := MustTCP(t)
		e.sim.SetOffline(true)
		_, err := e.c.Status(ctx)
		requireCode(t, err, station.EDEVICE)
		if h := e.c.Health(); h.State != station.DeviceDisconnected {
			t.Fatalf("health=%+v, want disconnected", h)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		e := MustTCP(t)
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.c.Printed(dctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err=%v, want deadline exceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Printed returned %s after a 50ms deadline", d)
		}
	})
}

// TestCoder_Transcripts replays recorded LSC/1 conversations.
func TestCoder_Transcripts(t *testing.T) {
	if *update {
		recordSession(t)
	}
	files, err := filepath.Glob("testdata/*.transcript")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in testdata (%v)", err)
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
			c := coder.NewCoder(rp, fastOptions())
			defer c.Close()
			err = session(context.Background(), c)
			if strings.Contains(tr.Comment, "want: ok") {
				if err != nil {
					t.Fatal(err)
				}
			} else if strings.Contains(tr.Comment, "want: device") {
				requireCode(t, err, station.EDEVICE)
			}
			if err := rp.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// session is the conversation the transcripts hold: select, queue two
// units, wait for both acknowledgements, ask the status.
func session(ctx context.Context, c *coder.Coder) error {
	if err := c.Select(ctx, "unit"); err != nil {
		return err
	}
	if err := c.Queue(ctx, unit("SN0001"), unit("SN0002")); err != nil {
		return err
	}
	for _, want := range []string{"SN0001", "SN0002"} {
		ack, err := c.Printed(ctx)
		if err != nil {
			return err
		}
		if ack.Serial != want {
			return station.Errorf(station.EDEVICE, "ack %q, want %q", ack.Serial, want)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Count != 2 || st.Queued != 0 {
		return station.Errorf(station.EDEVICE, "status %+v, want count 2", st)
	}
	return nil
}

func recordSession(t *testing.T) {
	s := sim.NewCoder()
	defer s.Close()
	addr, err := s.ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rec *sim.Recorder
	opt := fastOptions()
	opt.Dial = func(ctx context.Context) (io.ReadWriteCloser, error) {
		c, err := coder.DialTCP(addr.String())(ctx)
		if err == nil {
			rec = sim.NewRecorder(c)
		}
		return rec, err
	}
	c := coder.NewCoder(nil, opt)
	defer c.Close()
	// The simulated products pass once both codes are queued.
	go func() {
		for s.Queued() < 2 {
			time.Sleep(time.Millisecond)
		}
		s.Detect()
		s.Detect()
	}()
	if err := session(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	tr := rec.Transcript()
	tr.Comment = "Recorded from devices/sim.Coder by TestCoder_Transcripts -update.\nwant: ok\n"
	if err := os.WriteFile("testdata/session.transcript", tr.Format(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEncode(t *testing.T) {
	for _, s := range []string{"", "plain", "GS\x1dhere", "a b%c=d", "\xff\x00"} {
		enc := coder.Encode(s)
		if strings.ContainsAny(enc, " \x1d\n=") {
			t.Fatalf("Encode(%q)=%q has a byte that breaks the line", s, enc)
		}
		dec, err := coder.Decode(enc)
		if err != nil || dec != s {
			t.Fatalf("Decode(Encode(%q))=%q, %v", s, dec, err)
		}
	}
	if _, err := coder.Decode("bad%4"); err == nil {
		t.Fatal("Decode accepted a cut escape")
	}
}
