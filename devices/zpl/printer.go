// Package zpl drives Zebra (ZPL II) label printers over raw TCP (port 9100)
// or a serial line: it renders labels from the templates of assets/labels,
// sends them, and confirms each print from the printer's host status (~HS).
//
// The driver works on an io.ReadWriter opened by the caller (DialTCP,
// OpenSerial) and, given a DialFunc, reconnects with backoff after the link
// drops. Print is confirmed, not assumed:
//
//  1. ~HS before sending: a printer that is paused, out of paper or ribbon, or
//     has its head open gets nothing, and Print fails with EDEVICE.
//  2. The label format is sent.
//  3. ~HS is polled until the printer reports no format in its buffer, no
//     partial format and no labels left in the batch (printed), or a fault.
//     On a fault, or when ctx ends first, the driver sends ~JA (cancel all)
//     so that nothing is left to come out later, and Print fails with
//     EDEVICE: the label may be partly printed, so the station must treat
//     its serial as spent.
//
// Some firmware does not answer ~HS at all while media or ribbon is out or
// the head is open; the driver reports that as a printer that does not
// answer (EDEVICE), which is the same outcome for the line.
package zpl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/linestation/linestation/devices/internal/link"
	"github.com/linestation/linestation/station"
)

// Control characters of the ~HS answer: each of its three strings is framed
// <STX> ... <ETX><CR><LF>.
const (
	stx = 0x02
	etx = 0x03
)

// Defaults of Options.
const (
	DefaultAnswerTimeout  = 2 * time.Second
	DefaultPollInterval   = 20 * time.Millisecond
	DefaultConfirmTimeout = 30 * time.Second
)

// DialFunc opens a connection to a device. It must give up when ctx is done.
type DialFunc = link.DialFunc

// Options configure a Printer. The zero value is usable.
type Options struct {
	// Name is the device's configured name, shown with its Health; default "printer".
	Name string
	// Dial reconnects after the connection fails (and connects first when
	// NewPrinter gets a nil io.ReadWriter). Nil: no reconnection.
	Dial DialFunc
	// Templates renders labels; default DefaultTemplates() (assets/labels).
	Templates *Templates
	// AnswerTimeout bounds the wait for one ~HS answer; default 2 s.
	AnswerTimeout time.Duration
	// PollInterval is the pause between two ~HS while a print is confirmed; default 20 ms.
	PollInterval time.Duration
	// ConfirmTimeout bounds the wait for a print's confirmation when ctx has
	// no earlier deadline; default 30 s.
	ConfirmTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Clock stamps Health changes; default the system clock.
	Clock station.Clock
	// Logger defaults to slog.Default() with component=zpl.
	Logger *slog.Logger
}

// Printer is a ZPL label printer. It is safe for concurrent use; operations
// run one at a time, in the order callers get the printer.
type Printer struct {
	opt  Options
	link *link.Link
	sem  chan struct{} // held by the operation in progress
}

var (
	_ station.Printer        = (*Printer)(nil)
	_ station.HealthReporter = (*Printer)(nil)
)

// NewPrinter returns a driver for the printer at the other end of rw (nil
// when opt.Dial makes the first connection).
func NewPrinter(rw io.ReadWriter, opt Options) *Printer {
	if opt.Name == "" {
		opt.Name = "printer"
	}
	if opt.Templates == nil {
		opt.Templates = DefaultTemplates()
	}
	if opt.AnswerTimeout <= 0 {
		opt.AnswerTimeout = DefaultAnswerTimeout
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = DefaultPollInterval
	}
	if opt.ConfirmTimeout <= 0 {
		opt.ConfirmTimeout = DefaultConfirmTimeout
	}
	if opt.Clock == nil {
		opt.Clock = link.SystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default().With("component", "zpl")
	}
	opt.Logger = opt.Logger.With(link.LogKeyDevice, opt.Name)
	return &Printer{
		opt: opt,
		link: link.New(rw, link.Options{
			Dial: opt.Dial, Health: link.NewHealth(opt.Name, "printer", opt.Clock), Split: splitSTX,
			MinBackoff: opt.MinBackoff, MaxBackoff: opt.MaxBackoff, Logger: opt.Logger,
		}),
		sem: make(chan struct{}, 1),
	}
}

// Health reports the printer's state as last seen; it never blocks.
func (p *Printer) Health() station.Health { return p.link.Health().Get() }

// Close closes the connection; later calls fail with EDEVICE.
func (p *Printer) Close() error { return p.link.Close() }

func (p *Printer) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is busy", p.opt.Name), ctx.Err())
	}
}

func (p *Printer) release() { <-p.sem }

// Status asks the printer for its host status (~HS).
func (p *Printer) Status(ctx context.Context) (station.PrinterStatus, error) {
	if err := p.acquire(ctx); err != nil {
		return station.PrinterStatus{}, err
	}
	defer p.release()
	st, err := p.status(ctx)
	if err != nil {
		return st, fmt.Errorf("printer status: %w", err)
	}
	p.noteStatus(st)
	return st, nil
}

// noteStatus reflects a status answer in Health.
func (p *Printer) noteStatus(st station.PrinterStatus) {
	switch {
	case st.HeadOpen || st.PaperOut || st.RibbonOut:
		p.link.Health().Set(station.DeviceFaulted, st.Reason())
	case st.Paused:
		p.link.Health().Set(station.DeviceDegraded, st.Reason())
	default:
		p.link.Health().Set(station.DeviceConnected, "")
	}
}

// status sends ~HS and parses the three strings of the answer.
func (p *Printer) status(ctx context.Context) (station.PrinterStatus, error) {
	c, err := p.link.Get(ctx)
	if err != nil {
		return station.PrinterStatus{}, err
	}
	p.link.Drain(c)
	if err := p.link.Send(ctx, c, []byte("~HS")); err != nil {
		return station.PrinterStatus{}, err
	}
	actx, cancel := context.WithTimeout(ctx, p.opt.AnswerTimeout)
	defer cancel()
	var frames [3][]byte
	for i := range frames {
		if frames[i], err = p.link.Recv(actx, c); err != nil {
			return station.PrinterStatus{}, fmt.Errorf("~HS answer %d of 3: %w", i+1, err)
		}
	}
	st, err := ParseHostStatus(frames)
	if err != nil {
		p.link.Drop(c, err) // resynchronise on a fresh connection
		return st, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s sent a status the station cannot read", p.opt.Name), err)
	}
	return st, nil
}

// Print renders l, sends it and waits until the printer confirms it (see
// the package documentation).
func (p *Printer) Print(ctx context.Context, l station.Label) error {
	format, err := p.opt.Templates.Render(l)
	if err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return fmt.Errorf("print label %s: %w", l.Serial, err)
	}
	defer p.release()

	st, err := p.status(ctx)
	if err != nil {
		return fmt.Errorf("print label %s: %w", l.Serial, err)
	}
	p.noteStatus(st)
	if !st.Ready() {
		return fmt.Errorf("print label %s: %w", l.Serial, station.Errorf(station.EDEVICE, "label %s not printed: %s is %s", l.Serial, p.opt.Name, st.Reason()))
	}
	c, err := p.link.Get(ctx)
	if err != nil {
		return fmt.Errorf("print label %s: %w", l.Serial, err)
	}
	if err := p.link.Send(ctx, c, format); err != nil {
		return fmt.Errorf("print label %s: %w", l.Serial, err)
	}
	p.opt.Logger.Debug("label sent", "serial", l.Serial, "template", l.Template, "bytes", len(format))

	cctx, cancel := context.WithTimeout(ctx, p.opt.ConfirmTimeout)
	defer cancel()
	t := time.NewTicker(p.opt.PollInterval)
	defer t.Stop()
	for {
		st, err := p.status(cctx)
		if err != nil {
			// No answer, a garbled one, a dropped link or ctx done: the
			// label's fate is unknown, so cancel whatever is left of it.
			p.cancelAll(ctx)
			return fmt.Errorf("print label %s not confirmed, rest of the job cancelled: %w", l.Serial, err)
		}
		p.noteStatus(st)
		if !st.Ready() {
			p.cancelAll(ctx)
			return fmt.Errorf("print label %s: %w", l.Serial, station.Errorf(station.EDEVICE,
				"label %s not confirmed: %s is %s; the rest of the job was cancelled and the label may be partly printed", l.Serial, p.opt.Name, st.Reason()))
		}
		if st.Idle() {
			return nil
		}
		select {
		case <-t.C:
		case <-cctx.Done():
			p.cancelAll(ctx)
			return fmt.Errorf("print label %s: %w: %w", l.Serial, station.Errorf(station.EDEVICE,
				"label %s not confirmed in time by %s; the rest of the job was cancelled", l.Serial, p.opt.Name), cctx.Err())
		}
	}
}

// cancelAll sends ~JA (cancel all formats), best effort, on a context of its
// own: it runs when the caller's ctx may already be done.
func (p *Printer) cancelAll(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opt.AnswerTimeout)
	defer cancel()
	c, err := p.link.Get(cctx)
	if err == nil {
		err = p.link.Send(cctx, c, []byte("~JA"))
	}
	if err != nil {
		p.opt.Logger.Warn("cancel print job", "error", err)
	}
}

// splitSTX splits a ~HS answer into the payloads of its <STX>...<ETX>
// strings; bytes outside a frame (CR LF) are skipped.
func splitSTX(data []byte, atEOF bool) (int, []byte, error) {
	start := bytes.IndexByte(data, stx)
	if start < 0 {
		return len(data), nil, nil
	}
	end := bytes.IndexByte(data[start+1:], etx)
	if end < 0 {
		if atEOF {
			return len(data), nil, nil
		}
		return start, nil, nil
	}
	return start + 1 + end + 1, data[start+1 : start+1+end], nil
}

// ParseHostStatus reads the three strings of a ~HS answer (without their
// STX/ETX framing):
//
//	1: aaa,b,c,dddd,eee,f,g,h,iii,j,k,l   b paper out, c pause, eee formats in
//	                                      buffer, h partial format
//	2: mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www   o head up, p ribbon out,
//	                                      uuuuuuuu labels remaining in batch
//	3: xxxx,y                             password, static RAM
//
// Newer firmware may append fields; they are ignored.
func ParseHostStatus(frames [3][]byte) (station.PrinterStatus, error) {
	var st station.PrinterStatus
	f1 := bytes.Split(frames[0], []byte(","))
	f2 := bytes.Split(frames[1], []byte(","))
	f3 := bytes.Split(frames[2], []byte(","))
	if len(f1) < 12 || len(f2) < 11 || len(f3) < 2 {
		return st, fmt.Errorf("parse ~HS: want 12, 11 and 2 fields, got %d, %d and %d", len(f1), len(f2), len(f3))
	}
	flag := func(line int, f []byte, name string) (bool, error) {
		switch string(bytes.TrimSpace(f)) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return false, fmt.Errorf("parse ~HS string %d: %s flag is %q, want 0 or 1", line, name, f)
	}
	num := func(line int, f []byte, name string) (int, error) {
		n, err := strconv.Atoi(string(bytes.TrimSpace(f)))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("parse ~HS string %d: %s is %q, want a number", line, name, f)
		}
		return n, nil
	}
	var err error
	if st.PaperOut, err = flag(1, f1[1], "paper out"); err != nil {
		return st, err
	}
	if st.Paused, err = flag(1, f1[2], "pause"); err != nil {
		return st, err
	}
	if st.Formats, err = num(1, f1[4], "formats in buffer"); err != nil {
		return st, err
	}
	if st.Partial, err = flag(1, f1[7], "partial format"); err != nil {
		return st, err
	}
	if st.HeadOpen, err = flag(2, f2[2], "head up"); err != nil {
		return st, err
	}
	if st.RibbonOut, err = flag(2, f2[3], "ribbon out"); err != nil {
		return st, err
	}
	if st.LabelsRemaining, err = num(2, f2[8], "labels remaining"); err != nil {
		return st, err
	}
	return st, nil
}

// DialTCP returns a DialFunc for a printer's raw TCP port (usually 9100).
func DialTCP(addr string) DialFunc { return link.DialTCP("printer", addr) }

// OpenSerial opens a serial port at baud, 8 data bits, no parity, one stop
// bit, and raises DTR for printers that use DTR handshaking (on a device
// without modem lines, such as a pseudo-terminal, that is skipped).
func OpenSerial(name string, baud int) (io.ReadWriteCloser, error) {
	port, err := link.OpenSerial(name, baud)
	if err != nil {
		return nil, err
	}
	if err := port.SetDTR(true); err != nil {
		slog.Default().Debug("serial port has no DTR line", "port", name, "error", err)
	}
	return port, nil
}

// DialSerial returns a DialFunc that (re)opens a serial port with OpenSerial.
func DialSerial(name string, baud int) DialFunc { return link.DialSerial(name, baud, OpenSerial) }
