// Package scanner reads handheld barcode scanners in serial mode (RS-232 or
// USB-CDC, and scanners on a TCP serial server): each scan is a frame ending
// in the configured suffix (CR by default), starting with the AIM symbology
// identifier (]d2, ]C1, ...) and carrying the data with its GS separators.
//
// Frames are taken as they come, never repaired: a frame that does not end
// within FrameTimeout of its last byte (a cable pulled mid-scan), a frame
// with control bytes other than GS (line noise, a wrong baud rate), or one
// without an AIM identifier when one is required (a scanner set up wrong)
// is returned with its Problem and an EINVALID error, so that the operator
// scans again.
package scanner

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/linestation/linestation/devices/internal/link"
	"github.com/linestation/linestation/station"
)

// DefaultFrameTimeout is how long a frame may pause between two bytes
// before it counts as cut off. A scanner sends a frame in one burst; at
// 9600 baud a 60-byte frame takes about 60 ms.
const DefaultFrameTimeout = 200 * time.Millisecond

// DialFunc opens a connection to a device. It must give up when ctx is done.
type DialFunc = link.DialFunc

// Options configure a Scanner. The zero value is usable.
type Options struct {
	// Name is the device's configured name; default "scanner".
	Name string
	// Dial reopens the port after it fails (and opens it first when
	// NewScanner gets a nil io.ReadWriter). Nil: no reconnection.
	Dial DialFunc
	// Suffix ends each frame; default "\r". Scanners are often set to
	// "\r\n" or "\n".
	Suffix string
	// FrameTimeout is the longest pause inside a frame; default 200 ms.
	FrameTimeout time.Duration
	// NoAIM accepts frames without an AIM symbology identifier (a scanner
	// that cannot send one); by default a frame without one is a Problem.
	NoAIM bool
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Clock stamps scans and Health; default the system clock.
	Clock station.Clock
	// Logger defaults to slog.Default() with component=scanner.
	Logger *slog.Logger
}

// Scanner is a serial handheld scanner. Scan is meant for one goroutine at
// a time; concurrent calls are serialised.
type Scanner struct {
	opt  Options
	link *link.Link

	mu      sync.Mutex
	pending []byte    // bytes of the frame in progress
	last    time.Time // arrival of the last pending byte
}

var _ station.Scanner = (*Scanner)(nil)

// NewScanner returns a driver for the scanner at the other end of rw (nil
// when opt.Dial opens the port).
func NewScanner(rw io.ReadWriter, opt Options) *Scanner {
	if opt.Name == "" {
		opt.Name = "scanner"
	}
	if opt.Suffix == "" {
		opt.Suffix = "\r"
	}
	if opt.FrameTimeout <= 0 {
		opt.FrameTimeout = DefaultFrameTimeout
	}
	if opt.Clock == nil {
		opt.Clock = link.SystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default().With("component", "scanner")
	}
	opt.Logger = opt.Logger.With(link.LogKeyDevice, opt.Name)
	all := func([]byte) bool { return true }
	return &Scanner{opt: opt, link: link.New(rw, link.Options{
		Dial: opt.Dial, Health: link.NewHealth(opt.Name, "scanner", opt.Clock), Split: stampChunks, IsEvent: all,
		MinBackoff: opt.MinBackoff, MaxBackoff: opt.MaxBackoff, Logger: opt.Logger,
	})}
}

// stampChunks hands on every chunk read as it came, prefixed with its
// arrival time (8 bytes, Unix nanoseconds), so that frames can be timed
// whenever Scan gets to them.
func stampChunks(data []byte, atEOF bool) (int, []byte, error) {
	if len(data) == 0 {
		return 0, nil, nil
	}
	tok := make([]byte, 8+len(data))
	binary.BigEndian.PutUint64(tok, uint64(time.Now().UnixNano()))
	copy(tok[8:], data)
	return len(data), tok, nil
}

// Health reports the scanner's state as last seen; it never blocks.
func (s *Scanner) Health() station.Health { return s.link.Health().Get() }

// Close closes the port.
func (s *Scanner) Close() error { return s.link.Close() }

// Connect opens the port now, instead of at the first Scan.
func (s *Scanner) Connect(ctx context.Context) error {
	_, err := s.link.Get(ctx)
	return err
}

// Scan waits for the next frame.
func (s *Scanner) Scan(ctx context.Context) (station.Scan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	suffix := []byte(s.opt.Suffix)
	for {
		if i := bytes.Index(s.pending, suffix); i >= 0 {
			frame := s.pending[:i]
			s.pending = append([]byte(nil), s.pending[i+len(suffix):]...)
			if len(frame) == 0 {
				continue // an empty frame: nothing was scanned
			}
			return s.frame(frame, "")
		}
		wait := ctx
		var cancel context.CancelFunc = func() {}
		if len(s.pending) > 0 {
			wait, cancel = context.WithDeadline(ctx, s.last.Add(s.opt.FrameTimeout))
		}
		tok, err := s.link.Event(wait)
		cancel()
		if err != nil {
			if len(s.pending) > 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return s.cut()
			}
			return station.Scan{}, fmt.Errorf("wait for scan: %w", err)
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(tok[:8])))
		if len(s.pending) > 0 && at.Sub(s.last) > s.opt.FrameTimeout {
			// The frame in progress was cut off before these bytes came.
			r, err := s.cut()
			s.pending, s.last = append(s.pending, tok[8:]...), at
			return r, err
		}
		s.pending, s.last = append(s.pending, tok[8:]...), at
	}
}

// cut returns the pending bytes as a frame that was not terminated.
func (s *Scanner) cut() (station.Scan, error) {
	frame := s.pending
	s.pending = nil
	return s.frame(frame, fmt.Sprintf("frame not terminated within %s (%d bytes came)", s.opt.FrameTimeout, len(frame)))
}

// frame checks one frame and builds its Scan.
func (s *Scanner) frame(frame []byte, problem string) (station.Scan, error) {
	sc := station.Scan{Raw: append([]byte(nil), frame...), At: s.opt.Clock.Now().UTC}
	if problem == "" {
		problem = Check(frame, !s.opt.NoAIM)
	}
	if problem == "" {
		if hasAIM(frame) {
			sc.Symbology, sc.Data = string(frame[:3]), string(frame[3:])
		} else {
			sc.Data = string(frame)
		}
		return sc, nil
	}
	sc.Problem = problem
	s.opt.Logger.Info("bad scan frame", "problem", problem, "frame", fmt.Sprintf("%q", frame))
	return sc, station.Errorf(station.EINVALID, "scan not accepted: %s; scan again", problem)
}

// Check returns what is wrong with a complete frame, or "" when it is good:
// a control byte other than GS, or (when aim is true) no AIM symbology
// identifier ("]" followed by a letter and a modifier character).
func Check(frame []byte, aim bool) string {
	for i, c := range frame {
		if (c < 0x20 && c != 0x1D) || c == 0x7F {
			return fmt.Sprintf("non-printable byte 0x%02X at offset %d", c, i)
		}
	}
	if aim && !hasAIM(frame) {
		return "no AIM symbology identifier (the scanner must send one, such as ]d2)"
	}
	if aim && len(frame) == 3 {
		return "AIM symbology identifier without data"
	}
	return ""
}

func hasAIM(f []byte) bool {
	if len(f) < 3 || f[0] != ']' {
		return false
	}
	isAlpha := func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	isAlnum := func(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
	return isAlpha(f[1]) && isAlnum(f[2])
}

// DialTCP returns a DialFunc for a scanner behind a TCP serial server.
func DialTCP(addr string) DialFunc { return link.DialTCP("scanner", addr) }

// OpenSerial opens a serial port at baud, 8N1.
func OpenSerial(name string, baud int) (io.ReadWriteCloser, error) {
	return link.OpenSerial(name, baud)
}

// DialSerial returns a DialFunc that (re)opens a serial port, for a USB-CDC
// scanner that comes back after being unplugged.
func DialSerial(name string, baud int) DialFunc { return link.DialSerial(name, baud, OpenSerial) }
