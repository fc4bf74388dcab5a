package sim

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// PrintedLabel is one label that came out of the simulated printer.
type PrintedLabel struct {
	Seq   int    // 1 for the first label printed
	ZPL   []byte // the format it was printed from
	Label *Label // the rendered label; nil when Err is set
	Err   error  // why the format could not be rendered (the label comes out wrong)
}

// ZPLPrinter simulates a Zebra label printer: it takes ZPL on TCP (like port
// 9100) or a serial stream, answers ~HS with the three-string host status,
// cancels on ~JA, resumes on ~PS, and prints each format's ^PQ copies one
// after another, each taking PrintTime. Printing renders the label with
// RenderZPL. Its knobs (SetPaused, SetHeadOpen, SetPaperOut, SetRibbonOut,
// RibbonOutAfter, Disconnect, SetOffline) set the faults a real printer has.
type ZPLPrinter struct {
	// OnLabel, if set, is called with each label printed, in order, outside
	// the printer's lock. Set it before the first connection.
	OnLabel func(PrintedLabel)
	// Logger defaults to slog.Default() with component=sim-zpl.
	Logger *slog.Logger

	srv  server
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	printTime  time.Duration
	silent     bool
	paused     bool
	headOpen   bool
	paperOut   bool
	ribbonOut  bool
	ribbonLeft int // labels left before the ribbon runs out; <0: unlimited
	queue      [][]byte
	gen        int // bumped by ~JA, so that a label in progress is dropped
	remaining  int // copies of queue[0] still to print
	rendered   *Label
	renderErr  error
	partial    int // connections in the middle of a format
	printed    []PrintedLabel
	statusAsks int
}

// NewZPLPrinter returns a printer that is ready (not paused, no fault) and
// starts its print engine; Close stops it.
func NewZPLPrinter() *ZPLPrinter {
	p := &ZPLPrinter{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), ribbonLeft: -1, printTime: 2 * time.Millisecond}
	go p.engine()
	return p
}

func (p *ZPLPrinter) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default().With("component", "sim-zpl")
}

// ListenTCP accepts connections on addr ("127.0.0.1:0" picks a free port).
func (p *ZPLPrinter) ListenTCP(addr string) (net.Addr, error) {
	return p.srv.listen(addr, p.handle)
}

// Serve speaks ZPL on rw (a pseudo-terminal end) until rw fails or the
// printer is closed.
func (p *ZPLPrinter) Serve(rw io.ReadWriteCloser) { p.srv.serve(rw, p.handle) }

// Close cuts every connection and stops the print engine.
func (p *ZPLPrinter) Close() error {
	p.srv.close()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return nil
}

// Disconnect cuts every open connection, as a printer that reboots.
func (p *ZPLPrinter) Disconnect() { p.srv.disconnect() }

// SetOffline makes the printer unreachable, or reachable again.
func (p *ZPLPrinter) SetOffline(off bool) { p.srv.setOffline(off) }

// SetPrintTime sets how long one label takes to print (default 2 ms).
func (p *ZPLPrinter) SetPrintTime(d time.Duration) { p.set(func() { p.printTime = d }) }

// SetSilentWhenFaulted models firmware that does not answer ~HS while the
// head is open or paper or ribbon is out.
func (p *ZPLPrinter) SetSilentWhenFaulted(v bool) { p.set(func() { p.silent = v }) }

// SetPaused pauses or resumes printing (the pause key).
func (p *ZPLPrinter) SetPaused(v bool) { p.set(func() { p.paused = v }) }

// SetHeadOpen opens or closes the print head.
func (p *ZPLPrinter) SetHeadOpen(v bool) { p.set(func() { p.headOpen = v }) }

// SetPaperOut runs out of labels, or loads them.
func (p *ZPLPrinter) SetPaperOut(v bool) { p.set(func() { p.paperOut = v }) }

// SetRibbonOut runs out of ribbon, or loads a new one (unlimited).
func (p *ZPLPrinter) SetRibbonOut(v bool) {
	p.set(func() {
		p.ribbonOut = v
		if !v {
			p.ribbonLeft = -1
		}
	})
}

// RibbonOutAfter lets n more labels print, then the ribbon runs out.
func (p *ZPLPrinter) RibbonOutAfter(n int) {
	p.set(func() {
		p.ribbonLeft = n
		if n <= 0 {
			p.ribbonOut = true
		}
	})
}

func (p *ZPLPrinter) set(f func()) {
	p.mu.Lock()
	f()
	p.mu.Unlock()
	p.poke()
}

func (p *ZPLPrinter) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Printed returns the labels printed so far, in order.
func (p *ZPLPrinter) Printed() []PrintedLabel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PrintedLabel(nil), p.printed...)
}

// StatusQueries returns how many ~HS the printer answered.
func (p *ZPLPrinter) StatusQueries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusAsks
}

func (p *ZPLPrinter) faulted() bool { return p.headOpen || p.paperOut || p.ribbonOut }

// handle reads one connection: control commands (~) act at once, formats
// (^XA ... ^XZ) go to the print queue when complete.
func (p *ZPLPrinter) handle(rw io.ReadWriteCloser) {
	var buf []byte
	inFormat := false
	defer func() {
		if inFormat {
			p.mu.Lock()
			p.partial--
			p.mu.Unlock()
		}
	}()
	chunk := make([]byte, 4096)
	for {
		n, err := rw.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			if !inFormat {
				i := bytes.IndexAny(buf, "^~")
				if i < 0 {
					buf = buf[:0]
					break
				}
				buf = buf[i:]
				if len(buf) < 3 {
					break
				}
				if buf[0] == '~' {
					if werr := p.control(rw, string(bytes.ToUpper(buf[1:3]))); werr != nil {
						return
					}
					buf = buf[3:]
					continue
				}
				if !bytes.EqualFold(buf[1:3], []byte("XA")) {
					buf = buf[1:] // stray command outside a format: ignored
					continue
				}
				inFormat = true
				p.mu.Lock()
				p.partial++
				p.mu.Unlock()
			}
			end := indexCmd(buf, "XZ")
			if end < 0 {
				break
			}
			format := append([]byte(nil), buf[:end+3]...)
			buf = buf[end+3:]
			inFormat = false
			p.mu.Lock()
			p.partial--
			p.queue = append(p.queue, format)
			p.mu.Unlock()
			p.poke()
		}
		if err != nil {
			return
		}
	}
}

// control runs one control command; it returns an error only when the
// answer cannot be written.
func (p *ZPLPrinter) control(w io.Writer, code string) error {
	switch code {
	case "HS":
		p.mu.Lock()
		p.statusAsks++
		if p.silent && p.faulted() {
			p.mu.Unlock()
			return nil
		}
		formats := len(p.queue)
		ans := fmt.Sprintf("\x02030,%d,%d,1218,%03d,0,0,%d,000,0,0,0\x03\r\n\x02001,0,%d,%d,1,2,6,0,%08d,1,000\x03\r\n\x021234,0\x03\r\n",
			b2i(p.paperOut), b2i(p.paused), formats, b2i(p.partial > 0), b2i(p.headOpen), b2i(p.ribbonOut), p.remaining)
		p.mu.Unlock()
		_, err := w.Write([]byte(ans))
		return err
	case "JA":
		p.mu.Lock()
		p.queue, p.remaining, p.rendered, p.renderErr = nil, 0, nil, nil
		p.gen++
		p.mu.Unlock()
	case "PS":
		p.SetPaused(false)
	default:
		p.logger().Debug("control command ignored", "command", "~"+code)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// engine prints queued formats while the printer is ready.
func (p *ZPLPrinter) engine() {
	defer close(p.done)
	for {
		p.mu.Lock()
		ready := len(p.queue) > 0 && !p.paused && !p.faulted()
		if ready && p.remaining == 0 && p.rendered == nil && p.renderErr == nil {
			p.rendered, p.renderErr = RenderZPL(p.queue[0])
			p.remaining = 1
			if p.rendered != nil {
				p.remaining = max(1, p.rendered.Quantity)
			}
		}
		gen, d := p.gen, p.printTime
		p.mu.Unlock()
		if !ready {
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-p.stop:
			t.Stop()
			return
		}
		p.mu.Lock()
		if p.gen != gen || p.paused || p.faulted() || len(p.queue) == 0 {
			p.mu.Unlock() // cancelled or faulted mid-label: nothing came out
			continue
		}
		lbl := PrintedLabel{Seq: len(p.printed) + 1, ZPL: p.queue[0], Label: p.rendered, Err: p.renderErr}
		p.printed = append(p.printed, lbl)
		p.remaining--
		if p.remaining == 0 {
			p.queue = p.queue[1:]
			p.rendered, p.renderErr = nil, nil
		}
		if p.ribbonLeft > 0 {
			p.ribbonLeft--
			if p.ribbonLeft == 0 {
				p.ribbonOut = true
			}
		}
		on := p.OnLabel
		p.mu.Unlock()
		if on != nil {
			on(lbl)
		}
	}
}
