// Package sim holds simulators of the line devices that speak the same wire
// protocols as the real ones, on loopback TCP and on pseudo-terminals: a
// Zebra ZPL label printer (ZPLPrinter) with a ZPL interpreter that renders
// what it prints, an LSC/1 unit coder (Coder) that marks GS1 DataMatrix
// images, a DataMan-style camera (Camera) that decodes and grades those
// images with gozxing, and a handheld scanner (Scanner). Line wires them
// into a conveyor with deterministic fault injection.
//
// The simulators are real, stateful implementations with fault knobs, not
// mocks: the drivers in devices/zpl, devices/coder, devices/camera and
// devices/scanner are tested against them, and `linestation sim` runs them
// for demonstrations and end-to-end tests. Transcript, Recorder and Replayer
// record and replay byte conversations for the drivers' transcript tests.
package sim

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
)

// Faults are the rates (0 to 1) at which a Line spoils units at the coder.
type Faults struct {
	NoRead    float64 // the mark is smudged across its finder pattern: the camera cannot read it
	Wrong     float64 // the coder marks a code other than the one it acknowledges (last serial character replaced)
	Duplicate float64 // the coder marks the last good unit's code again
	LowGrade  float64 // the ink is faded: the code reads, with grade D (1.0)
	// RibbonAfter, when positive, runs the label printer out of ribbon after
	// that many labels.
	RibbonAfter int
}

// Fault kinds, as counted by Line.Injected and reported in LineUnit.Fault.
const (
	FaultNoRead    = "noread"
	FaultWrong     = "wrong"
	FaultDuplicate = "dup"
	FaultLowGrade  = "lowgrade"
	FaultUnmarked  = "unmarked" // the coder had no code queued or was faulted
)

// ParseFaults reads a fault spec such as "noread=1%,wrong=0.5%,dup=0.2%,
// lowgrade=0.5%,ribbon=500": rates as percentages or fractions, ribbon as a
// label count.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	for _, item := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: want name=value", item)
		}
		if k == "ribbon" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return f, fmt.Errorf("fault ribbon=%q: want a number of labels", v)
			}
			f.RibbonAfter = n
			continue
		}
		pct := strings.HasSuffix(v, "%")
		x, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if pct {
			x /= 100
		}
		if err != nil || x < 0 || x > 1 {
			return f, fmt.Errorf("fault %s=%q: want a rate such as 1%% or 0.01", k, v)
		}
		switch k {
		case FaultNoRead:
			f.NoRead = x
		case FaultWrong:
			f.Wrong = x
		case FaultDuplicate:
			f.Duplicate = x
		case FaultLowGrade:
			f.LowGrade = x
		default:
			return f, fmt.Errorf("fault %q: not one of noread, wrong, dup, lowgrade, ribbon", k)
		}
	}
	if f.NoRead+f.Wrong+f.Duplicate+f.LowGrade > 1 {
		return f, fmt.Errorf("fault rates add up to more than 100%%")
	}
	return f, nil
}

// LineUnit is one carton that passed the coder and the camera.
type LineUnit struct {
	Seq    int          // 1 for the first carton; 0 marks an empty place on the conveyor (never returned)
	Print  CoderPrint   // what the coder marked and acknowledged (empty when unmarked)
	Fault  string       // the fault injected on it, "" for none
	Result CameraResult // what the camera sent
}

// Line is a simulated packaging line: cartons pass the coder, travel Pitch
// places on the conveyor and pass the camera, which reads the coder's mark.
// A label printer and a handheld scanner stand beside it. Fault injection is
// deterministic for a given seed.
type Line struct {
	Coder   *Coder
	Camera  *Camera
	Printer *ZPLPrinter
	Scanner *Scanner
	// Pitch is the number of places (cartons or gaps) between the coder
	// and the camera. Set it before the first Step.
	Pitch int
	// Interlock feeds a carton to the coder only while the coder is Ready
	// (a code queued, no fault), as a line whose PLC interlocks its infeed
	// with the coder's ready output: otherwise Step moves the conveyor by an
	// empty place, so cartons already marked still reach the camera and no
	// carton passes unmarked. Without it every Step feeds a carton, and one
	// that finds nothing queued passes unmarked (FaultUnmarked). Set it
	// before the first Step.
	Interlock bool

	faults Faults

	mu       sync.Mutex
	rng      *rand.Rand
	seq      int
	prevData string
	pending  map[uint64]string // coder count -> fault injected
	inFlight []LineUnit
	injected map[string]int
	closers  []func() error
	observe  func(LineUnit)
}

// NewLine builds a line of simulators with the given faults and seed.
func NewLine(f Faults, seed uint64) *Line {
	l := &Line{
		Coder: NewCoder(), Camera: NewCamera(), Printer: NewZPLPrinter(), Scanner: NewScanner(),
		faults: f, rng: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
		pending: map[uint64]string{}, injected: map[string]int{},
	}
	l.Coder.Tamper = l.tamper
	if f.RibbonAfter > 0 {
		l.Printer.RibbonOutAfter(f.RibbonAfter)
	}
	return l
}

// tamper decides, per print, which fault (if any) spoils it.
func (l *Line) tamper(p *CoderPrint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := l.rng.Float64()
	f := l.faults
	fault := ""
	switch {
	case x < f.NoRead:
		fault, p.Smudge = FaultNoRead, true
	case x < f.NoRead+f.Wrong:
		fault, p.Data = FaultWrong, alterLast(p.Data)
	case x < f.NoRead+f.Wrong+f.Duplicate && l.prevData != "":
		fault, p.Data = FaultDuplicate, l.prevData
	case x < f.NoRead+f.Wrong+f.Duplicate+f.LowGrade:
		fault, p.Ink = FaultLowGrade, 190
	}
	if fault == "" {
		l.prevData = p.Data // a duplicate repeats the last good mark
	}
	if fault != "" {
		l.pending[p.Count] = fault
		l.injected[fault]++
	}
}

// alterLast replaces the last character of data (the end of the serial)
// with W, or V when it already is W: a code that was never issued when the
// serials are numeric, so that a wrong mark is never taken for a duplicate.
func alterLast(data string) string {
	if data == "" {
		return data
	}
	b := []byte(data)
	if b[len(b)-1] == 'W' {
		b[len(b)-1] = 'V'
	} else {
		b[len(b)-1] = 'W'
	}
	return string(b)
}

// Step moves the conveyor by one place: a carton passes the coder (which
// marks the next queued code and acknowledges it), unless the Interlock
// holds it back, and the carton Pitch places ahead passes the camera. It
// returns the unit that reached the camera, or ok false when none did (the
// conveyor between them is still filling, or an empty place arrived).
func (l *Line) Step() (u LineUnit, ok bool, err error) {
	p, fed, derr := l.Coder.detect(l.Interlock)
	var unit LineUnit // an empty place unless a carton was fed
	if fed {
		l.mu.Lock()
		l.seq++
		unit = LineUnit{Seq: l.seq, Print: p}
		l.mu.Unlock()
		switch {
		case derr == ErrNothingQueued || derr == ErrCoderFaulted:
			unit.Fault = FaultUnmarked
			l.mu.Lock()
			l.injected[FaultUnmarked]++
			l.mu.Unlock()
		case derr != nil:
			return LineUnit{}, false, derr
		default:
			l.mu.Lock()
			unit.Fault = l.pending[p.Count]
			delete(l.pending, p.Count)
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	l.inFlight = append(l.inFlight, unit)
	if len(l.inFlight) <= l.Pitch {
		l.mu.Unlock()
		return LineUnit{}, false, nil
	}
	u = l.inFlight[0]
	l.inFlight = l.inFlight[1:]
	l.mu.Unlock()
	if u.Seq == 0 {
		return LineUnit{}, false, nil
	}
	return l.inspect(u), true, nil
}

// Drain moves the cartons still between coder and camera past the camera.
func (l *Line) Drain() []LineUnit {
	l.mu.Lock()
	rest := l.inFlight
	l.inFlight = nil
	l.mu.Unlock()
	out := make([]LineUnit, 0, len(rest))
	for _, u := range rest {
		if u.Seq != 0 {
			out = append(out, l.inspect(u))
		}
	}
	return out
}

func (l *Line) inspect(u LineUnit) LineUnit {
	var img *image.Gray
	if u.Fault != FaultUnmarked {
		img = u.Print.Image
	}
	u.Result = l.Camera.Inspect(img)
	l.mu.Lock()
	observe := l.observe
	l.mu.Unlock()
	if observe != nil {
		observe(u)
	}
	return u
}

// Observe has f called with every carton once the camera sent its result
// (LineUnit.Result.Sent), on the goroutine that moved the conveyor; f must
// return quickly. Nil stops it.
func (l *Line) Observe(f func(LineUnit)) {
	l.mu.Lock()
	l.observe = f
	l.mu.Unlock()
}

// Cartons returns how many cartons passed the coder so far (empty places
// left by the Interlock not counted).
func (l *Line) Cartons() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Injected returns how many units got each fault so far.
func (l *Line) Injected() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.injected))
	for k, v := range l.injected {
		out[k] = v
	}
	return out
}

// LineAddrs are where a listening line's devices are.
type LineAddrs struct {
	Printer       string // ZPL, raw TCP (like port 9100)
	Coder         string // LSC/1
	CameraCommand string // DMCC (like port 23)
	CameraResults string // result lines
	Scanner       string // scanner frames over TCP (a serial server); see ScannerPTY for a serial port
}

// Listen starts every device on loopback TCP with free ports.
func (l *Line) Listen() (LineAddrs, error) {
	var a LineAddrs
	addr, err := l.Printer.ListenTCP("127.0.0.1:0")
	if err != nil {
		return a, err
	}
	a.Printer = addr.String()
	if addr, err = l.Coder.ListenTCP("127.0.0.1:0"); err != nil {
		return a, err
	}
	a.Coder = addr.String()
	cmd, res, err := l.Camera.ListenTCP("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		return a, err
	}
	a.CameraCommand, a.CameraResults = cmd.String(), res.String()
	if addr, err = l.Scanner.ListenTCP("127.0.0.1:0"); err != nil {
		return a, err
	}
	a.Scanner = addr.String()
	return a, nil
}

// ScannerPTY also serves the scanner on a pseudo-terminal pair made by socat
// in dir, and returns the path of the end a driver opens as a serial port.
func (l *Line) ScannerPTY(ctx context.Context, dir string) (string, error) {
	pair, err := StartPTYPair(ctx, dir)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	l.closers = append(l.closers, pair.Close)
	l.mu.Unlock()
	end, err := openPTY(pair.B)
	if err != nil {
		pair.Close()
		return "", err
	}
	go l.Scanner.Serve(end)
	return pair.A, nil
}

// Close stops every device.
func (l *Line) Close() error {
	l.Coder.Close()
	l.Camera.Close()
	l.Printer.Close()
	l.Scanner.Close()
	l.mu.Lock()
	closers := l.closers
	l.mu.Unlock()
	for _, c := range closers {
		c()
	}
	return nil
}
