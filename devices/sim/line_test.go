package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/camera"
	"github.com/linestation/linestation/devices/coder"
	"github.com/linestation/linestation/devices/scanner"
	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/station/stationtest"
)

var quiet = slog.New(slog.DiscardHandler)

// lineEnv is a simulated line driven through the real drivers over TCP.
type lineEnv struct {
	line *sim.Line
	cod  *coder.Coder
	cam  *camera.Camera
}

func mustLine(tb testing.TB, f sim.Faults, seed uint64, pitch int) lineEnv {
	tb.Helper()
	l := sim.NewLine(f, seed)
	l.Pitch = pitch
	l.Coder.MaxQueue = 64
	tb.Cleanup(func() { l.Close() })
	a, err := l.Listen()
	if err != nil {
		tb.Fatal(err)
	}
	cod := coder.NewCoder(nil, coder.Options{Dial: coder.DialTCP(a.Coder), Logger: quiet})
	tb.Cleanup(func() { cod.Close() })
	cam := camera.NewCamera(nil, nil, camera.Options{DialCommand: camera.DialTCP(a.CameraCommand), DialResults: camera.DialTCP(a.CameraResults), Logger: quiet})
	tb.Cleanup(func() { cam.Close() })
	ctx := context.Background()
	if err := cod.Select(ctx, "unit"); err != nil {
		tb.Fatal(err)
	}
	if err := cam.Connect(ctx); err != nil {
		tb.Fatal(err)
	}
	stationtest.Poll(tb, 5*time.Second, "camera result connection", func() bool { return l.Camera.ResultClients() > 0 })
	return lineEnv{line: l, cod: cod, cam: cam}
}

func unitCode(n int) station.UnitCode {
	serial := fmt.Sprintf("S%07d", n)
	return station.UnitCode{Serial: serial, Data: "0100300010123455" + "17271231" + "10LOT42A\x1d21" + serial}
}

// verifier matches camera results to acknowledged serials the way the
// station does (oldest acknowledged first) and names the reason for each
// rejection.
type verifier struct {
	acked    []string
	verified map[string]bool
	reasons  map[string]int
}

func (v *verifier) judge(r station.CameraRead) (string, error) {
	if len(v.acked) == 0 {
		return "", fmt.Errorf("a camera result with no acknowledged unit in flight")
	}
	want := v.acked[0]
	v.acked = v.acked[1:]
	reason := ""
	switch {
	case r.NoRead:
		reason = sim.FaultNoRead
	default:
		scan, err := gs1.ParseScanData(r.Symbology + r.Data)
		if err != nil {
			return "", fmt.Errorf("gs1: %w", err)
		}
		serial, _ := scan.Message.Get("21")
		switch {
		case v.verified[serial]:
			reason = sim.FaultDuplicate
		case serial != want:
			reason = sim.FaultWrong
		case r.Grade < 1.5:
			reason = sim.FaultLowGrade
		}
	}
	if reason == "" {
		v.verified[want] = true
	}
	v.reasons[reason]++
	return reason, nil
}

// runLine pushes n units through the line and returns the rejection counts.
func runLine(tb testing.TB, e lineEnv, n int) map[string]int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v := &verifier{verified: map[string]bool{}, reasons: map[string]int{}}
	const ahead = 8 // codes queued ahead of the product
	queued := 0
	for queued < min(ahead, n) {
		queued++
		if err := e.cod.Queue(ctx, unitCode(queued)); err != nil {
			tb.Fatal(err)
		}
	}
	read := func() {
		r, err := e.cam.Read(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := v.judge(r); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		_, ok, err := e.line.Step()
		if err != nil {
			tb.Fatal(err)
		}
		ack, err := e.cod.Printed(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if want := unitCode(i).Serial; ack.Serial != want {
			tb.Fatalf("ack %q, want %q", ack.Serial, want)
		}
		v.acked = append(v.acked, ack.Serial)
		if queued < n {
			queued++
			if err := e.cod.Queue(ctx, unitCode(queued)); err != nil {
				tb.Fatal(err)
			}
		}
		if ok {
			read()
		}
	}
	for range e.line.Drain() {
		read()
	}
	return v.reasons
}

// TestLine_FaultsAccountedFor runs 400 units with every content fault at
// 5 %, through the coder and camera drivers, and checks that the station's
// way of judging results finds each injected fault under its reason, and
// that the same seed injects the same faults.
func TestLine_FaultsAccountedFor(t *testing.T) {
	f := sim.Faults{NoRead: 0.05, Wrong: 0.05, Duplicate: 0.05, LowGrade: 0.05}
	e := mustLine(t, f, 42, 3)
	got := runLine(t, e, 400)
	injected := e.line.Injected()
	for _, k := range []string{sim.FaultNoRead, sim.FaultWrong, sim.FaultDuplicate, sim.FaultLowGrade} {
		if injected[k] == 0 {
			t.Fatalf("no %s fault injected in 400 units at 5%%: %v", k, injected)
		}
		if got[k] != injected[k] {
			t.Fatalf("%s: judged %d, injected %d (judged %v, injected %v)", k, got[k], injected[k], got, injected)
		}
	}
	total := 0
	for _, c := range got {
		total += c
	}
	if total != 400 {
		t.Fatalf("%d units judged, want 400", total)
	}
	again := mustLine(t, f, 42, 3)
	runLine(t, again, 400)
	if a, b := again.line.Injected(), injected; !mapsEqual(a, b) {
		t.Fatalf("same seed injected %v then %v", b, a)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLine_Interlock checks that with the interlock no carton enters while
// the coder has nothing queued (no NO_CODE, no unmarked carton, no camera
// result), that a carton marked later still reaches the camera through the
// empty places behind it, and that observers see it with its send time.
func TestLine_Interlock(t *testing.T) {
	e := mustLine(t, sim.Faults{}, 1, 3)
	e.line.Interlock = true
	var seen []sim.LineUnit
	e.line.Observe(func(u sim.LineUnit) { seen = append(seen, u) })
	for i := 0; i < 10; i++ {
		if u, ok, err := e.line.Step(); err != nil || ok {
			t.Fatalf("step %d with nothing queued: %+v %v %v, want an empty place", i, u, ok, err)
		}
	}
	if n := e.line.Cartons(); n != 0 {
		t.Fatalf("%d cartons fed with nothing queued, want 0", n)
	}
	if inj := e.line.Injected(); inj[sim.FaultUnmarked] != 0 {
		t.Fatalf("injected %v, want no unmarked carton", inj)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := unitCode(1)
	if err := e.cod.Queue(ctx, code); err != nil {
		t.Fatal(err)
	}
	var got sim.LineUnit
	for i := 0; i < 4; i++ { // the marked carton, then 3 empty places
		u, ok, err := e.line.Step()
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i == 3) {
			t.Fatalf("step %d: ok=%v", i, ok)
		}
		got = u
	}
	if got.Seq != 1 || got.Print.Serial != code.Serial || got.Result.NoRead || got.Result.Data != code.Data || got.Result.Sent.IsZero() {
		t.Fatalf("camera saw %+v, want carton 1 with %s read", got.Result, code.Serial)
	}
	if len(seen) != 1 || seen[0].Print.Serial != code.Serial {
		t.Fatalf("observer saw %d cartons, want carton 1", len(seen))
	}
	// The driver gets the acknowledgement and then the result, and no
	// NO_CODE fault before them.
	ack, err := e.cod.Printed(ctx)
	if err != nil || ack.Serial != code.Serial {
		t.Fatalf("coder acknowledged %+v, %v; want %s", ack, err, code.Serial)
	}
	r, err := e.cam.Read(ctx)
	if err != nil || r.Data != code.Data {
		t.Fatalf("camera read %+v, %v", r, err)
	}
	if n := e.line.Cartons(); n != 1 {
		t.Fatalf("%d cartons, want 1", n)
	}
}

// TestLine_PrinterRibbon runs the label printer out of ribbon after 2
// labels, as the ribbon=2 fault says.
func TestLine_PrinterRibbon(t *testing.T) {
	f, err := sim.ParseFaults("ribbon=2")
	if err != nil {
		t.Fatal(err)
	}
	l := sim.NewLine(f, 1)
	defer l.Close()
	a, err := l.Listen()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a.Printer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		fmt.Fprintf(c, "^XA^FO10,10^A0N,20,20^FDlabel %d^FS^XZ", i)
	}
	stationtest.Poll(t, 5*time.Second, "two labels printed", func() bool { return len(l.Printer.Printed()) == 2 })
	fmt.Fprint(c, "~HS")
	br := bufio.NewReader(c)
	var lines []string
	for len(lines) < 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if f := strings.Split(strings.Trim(lines[1], "\x02\x03\r\n"), ","); len(f) < 4 || f[3] != "1" {
		t.Fatalf("~HS string 2 %q: want the ribbon-out flag set", lines[1])
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(l.Printer.Printed()); n != 2 {
		t.Fatalf("%d labels printed after the ribbon ran out, want 2", n)
	}
}

// BenchmarkRoundTrip measures what the simulated line does per unit: encode
// the GS1 DataMatrix, render the mark, decode it with gozxing and grade it.
// The baseline, measured in the same run, is encode and render alone.
func BenchmarkRoundTrip(b *testing.B) {
	data := unitCode(1).Data
	base := baseline(func() {
		m, _ := sim.EncodeGS1DataMatrix(data, true)
		sim.RenderMark(m, 3, 0, false)
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := sim.EncodeGS1DataMatrix(data, true)
		if err != nil {
			b.Fatal(err)
		}
		img := sim.RenderMark(m, 3, 0, false)
		d, err := sim.DecodeDataMatrix(img)
		if err != nil || d.Text != data {
			b.Fatalf("decoded %q, %v", d.Text, err)
		}
		sim.GradeContrast(img)
	}
	b.StopTimer()
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(60/per, "units/min")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(base), "x-encode-only")
}

// BenchmarkLine drives units through the simulated line and the real coder
// and camera drivers over TCP loopback (queue, detect, acknowledgement,
// decode, result line, read), without faults. The baseline, measured in the
// same run, is the bare render-and-decode round trip.
func BenchmarkLine(b *testing.B) {
	data := unitCode(1).Data
	base := baseline(func() {
		m, _ := sim.EncodeGS1DataMatrix(data, true)
		sim.DecodeDataMatrix(sim.RenderMark(m, 3, 0, false))
	})
	e := mustLine(b, sim.Faults{}, 1, 0)
	b.ResetTimer()
	reasons := runLine(b, e, b.N)
	b.StopTimer()
	if reasons[""] != b.N {
		b.Fatalf("judged %v, want %d good units", reasons, b.N)
	}
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(60/per, "units/min")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(base), "x-roundtrip")
}

// BenchmarkCamera_ResultLatency measures the time from the simulated camera
// writing a result line to the camera driver's Read returning it, p50 and
// p99. The baseline, measured in the same run, is the same line written and
// read back on a bare TCP loopback connection.
func BenchmarkCamera_ResultLatency(b *testing.B) {
	m, err := sim.EncodeGS1DataMatrix(unitCode(1).Data, true)
	if err != nil {
		b.Fatal(err)
	}
	img := sim.RenderMark(m, 3, 0, false)
	rawP50 := rawLoopbackLatency(b, 2000)

	s := sim.NewCamera()
	defer s.Close()
	cmd, res, err := s.ListenTCP("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	c := camera.NewCamera(nil, nil, camera.Options{DialCommand: camera.DialTCP(cmd.String()), DialResults: camera.DialTCP(res.String()), Logger: quiet})
	defer c.Close()
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	stationtest.Poll(b, 5*time.Second, "result connection", func() bool { return s.ResultClients() > 0 })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := s.Inspect(img)
		r, err := c.Read(ctx)
		got := time.Now()
		if err != nil || r.Trigger != sent.Trigger {
			b.Fatalf("read %+v err=%v, want trigger %d", r, err, sent.Trigger)
		}
		lat = append(lat, got.Sub(sent.Sent))
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(p50)/float64(rawP50), "x-raw-tcp-p50")
}

// baseline returns the mean time of f in nanoseconds over 300 runs (after
// 30 warm-up runs). testing.Benchmark cannot be nested in a benchmark.
func baseline(f func()) int64 {
	for i := 0; i < 30; i++ {
		f()
	}
	const n = 300
	t0 := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	return time.Since(t0).Nanoseconds() / n
}

// rawLoopbackLatency is the p50 of writing a result-sized line on a TCP
// loopback connection and reading it at the other end.
func rawLoopbackLatency(tb testing.TB, n int) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	r := <-acc
	defer r.Close()
	br := bufio.NewReader(r)
	line := []byte("READ 1 ]d2 4.0 41 01003000101234551727123110LOT42A\x1d21S0000001\r\n")
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		w.Write(line)
		if _, err := br.ReadString('\n'); err != nil {
			tb.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[n/2]
}

// TestLine_ScannerPTY serves the line's scanner on a socat pseudo-terminal,
// as `linestation sim line` does, and reads a scan through the driver.
func TestLine_ScannerPTY(t *testing.T) {
	stationtest.RequireCommand(t, "socat", "apt-get install socat")
	l := sim.NewLine(sim.Faults{}, 1)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path, err := l.ScannerPTY(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := scanner.OpenSerial(path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	s := scanner.NewScanner(port, scanner.Options{Logger: quiet})
	defer s.Close()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	stationtest.Poll(t, 5*time.Second, "scanner served", func() bool { return l.Scanner.Clients() > 0 })
	data := unitCode(7).Data
	l.Scanner.Scan("]d2", data)
	sc, err := s.Scan(ctx)
	if err != nil || sc.Symbology != "]d2" || sc.Data != data {
		t.Fatalf("scan=%+v err=%v", sc, err)
	}
}
