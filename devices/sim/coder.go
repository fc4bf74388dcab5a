package sim

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
)

// CoderPrint is one unit the simulated coder marked.
type CoderPrint struct {
	Count  uint64      // the coder's counter after this unit
	Serial string      // the serial acknowledged with PRN
	Data   string      // the data marked (FNC1 form)
	GS1    bool        // marked as GS1 DataMatrix (FNC1 first)
	Ink    uint8       // grey level of dark modules: 0 is black, higher is fainter
	Smudge bool        // the mark is smudged across its finder pattern
	Image  *image.Gray // the mark as the camera sees it
}

// ErrNothingQueued is returned by Coder.Detect when a product passed with no
// code queued: it leaves the coder unmarked.
var ErrNothingQueued = errors.New("sim coder: product passed with nothing queued")

// ErrCoderFaulted is returned by Coder.Detect while the coder is faulted.
var ErrCoderFaulted = errors.New("sim coder: faulted, product passed unmarked")

type coderCode struct {
	serial, data string
	fields       map[string]string
}

// Coder simulates a unit coder speaking LSC/1 (devices/coder/PROTOCOL.md) on
// TCP or a serial stream. Each Detect (a product passing its sensor) prints
// the next queued code as a GS1 DataMatrix image and acknowledges it with
// PRN. Tamper lets the line inject print faults before the mark is rendered.
type Coder struct {
	// Module is the size of one DataMatrix module in pixels; default 3.
	Module int
	// MaxQueue is the queue limit; default 16.
	MaxQueue int
	// Templates are the templates SEL accepts; default "unit".
	Templates []string
	// Tamper, if set, may change a print before it is rendered (wrong
	// content, faded ink, smudge): the line's fault injection. Set it before
	// the first Detect.
	Tamper func(*CoderPrint)
	// Logger defaults to slog.Default() with component=sim-coder.
	Logger *slog.Logger

	srv server

	mu        sync.Mutex
	template  string
	queue     []coderCode
	count     uint64
	fault     string
	faultText string
}

// NewCoder returns an idle coder with no template selected.
func NewCoder() *Coder { return &Coder{} }

// ListenTCP accepts connections on addr ("127.0.0.1:0" picks a free port).
func (c *Coder) ListenTCP(addr string) (net.Addr, error) { return c.srv.listen(addr, c.handle) }

// Serve speaks LSC/1 on rw until it fails or the coder is closed.
func (c *Coder) Serve(rw io.ReadWriteCloser) { c.srv.serve(rw, c.handle) }

// Close cuts every connection.
func (c *Coder) Close() error { c.srv.close(); return nil }

// Disconnect cuts every open connection.
func (c *Coder) Disconnect() { c.srv.disconnect() }

// SetOffline makes the coder unreachable, or reachable again.
func (c *Coder) SetOffline(off bool) { c.srv.setOffline(off) }

// SetFault raises a fault (FLT code text); INK_LOW and NO_CODE are
// warnings and do not stop printing.
func (c *Coder) SetFault(code, text string) {
	c.mu.Lock()
	if code != "INK_LOW" && code != "NO_CODE" {
		c.fault, c.faultText = code, text
	}
	c.mu.Unlock()
	c.srv.broadcast([]byte("FLT " + code + " " + text + "\n"))
}

// ClearFault clears the fault and sends RDY.
func (c *Coder) ClearFault() {
	c.mu.Lock()
	c.fault, c.faultText = "", ""
	c.mu.Unlock()
	c.srv.broadcast([]byte("RDY\n"))
}

// Queued returns the number of codes waiting.
func (c *Coder) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Ready reports whether the coder would mark a product now: a code is
// queued and no fault stops printing. It is the coder's "ready" output that
// a line PLC interlocks its infeed with.
func (c *Coder) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault == "" && len(c.queue) > 0
}

// Detect is a product passing the coder: it prints the next queued code,
// acknowledges it (PRN) to every connection and returns the print.
func (c *Coder) Detect() (CoderPrint, error) {
	p, _, err := c.detect(false)
	return p, err
}

// detect is Detect; with ifReady it does nothing (ok false) unless the
// coder is Ready, decided under the same lock as the print.
func (c *Coder) detect(ifReady bool) (p CoderPrint, ok bool, err error) {
	c.mu.Lock()
	if ifReady && (c.fault != "" || len(c.queue) == 0) {
		c.mu.Unlock()
		return CoderPrint{}, false, nil
	}
	if c.fault != "" {
		c.mu.Unlock()
		return CoderPrint{}, true, ErrCoderFaulted
	}
	if len(c.queue) == 0 {
		c.mu.Unlock()
		c.srv.broadcast([]byte("FLT NO_CODE product passed with nothing queued\n"))
		return CoderPrint{}, true, ErrNothingQueued
	}
	code := c.queue[0]
	c.queue = c.queue[1:]
	c.count++
	p = CoderPrint{Count: c.count, Serial: code.serial, Data: code.data, GS1: true}
	tamper, module := c.Tamper, c.Module
	c.mu.Unlock()
	if tamper != nil {
		tamper(&p)
	}
	if module <= 0 {
		module = 3
	}
	m, err := EncodeGS1DataMatrix(p.Data, p.GS1)
	if err != nil {
		return p, true, fmt.Errorf("sim coder: mark %s: %w", p.Serial, err)
	}
	p.Image = RenderMark(m, module, p.Ink, p.Smudge)
	c.srv.broadcast([]byte("PRN " + strconv.FormatUint(p.Count, 10) + " " + lscEncode(p.Serial) + "\n"))
	return p, true, nil
}

// RenderMark draws a DataMatrix as a coder marks it: dark modules at grey
// level ink (0 black), and, when smudged, its solid finder edges wiped out
// so that no reader can find the symbol.
func RenderMark(m *DataMatrix, module int, ink uint8, smudge bool) *image.Gray {
	img := RenderDataMatrix(m, module, 2)
	if ink > 0 {
		for i, v := range img.Pix {
			if v == 0 {
				img.Pix[i] = ink
			}
		}
	}
	if smudge {
		q := 2 * module
		w, h := m.Size.X*module, m.Size.Y*module
		fillRect(img, image.Rect(q, q, q+2*module, q+h), 0xFF)     // left finder edge
		fillRect(img, image.Rect(q, q+h-2*module, q+w, q+h), 0xFF) // bottom finder edge
	}
	return img
}

func (c *Coder) knownTemplate(t string) bool {
	if len(c.Templates) == 0 {
		return t == "unit"
	}
	for _, k := range c.Templates {
		if k == t {
			return true
		}
	}
	return false
}

// handle answers the requests of one connection.
func (c *Coder) handle(rw io.ReadWriteCloser) {
	sc := bufio.NewScanner(rw)
	sc.Buffer(make([]byte, 1024), 1024)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if _, err := io.WriteString(rw, c.answer(line)+"\n"); err != nil {
			return
		}
	}
}

// answer returns the response line to one request line.
func (c *Coder) answer(line string) string {
	f := strings.Split(line, " ")
	if len(f) < 2 {
		return "ERR 0 BAD_ARGUMENT request needs a verb and an id"
	}
	verb, id := f[0], f[1]
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "ERR 0 BAD_ARGUMENT request id " + strconv.Quote(id) + " is not a number"
	}
	args := f[2:]
	errf := func(code, text string) string { return "ERR " + id + " " + code + " " + text }
	c.mu.Lock()
	defer c.mu.Unlock()
	switch verb {
	case "VER":
		return "OK " + id + " LSC/1 sim-coder"
	case "SEL":
		if len(args) != 1 {
			return errf("BAD_ARGUMENT", "SEL needs one template name")
		}
		t, err := lscDecode(args[0])
		if err != nil || !c.knownTemplate(t) {
			return errf("NO_TEMPLATE", "no template "+args[0])
		}
		c.template, c.queue = t, nil
		return "OK " + id
	case "QUE":
		if c.template == "" {
			return errf("NO_TEMPLATE", "select a template first")
		}
		if c.fault != "" {
			return errf("FAULTED", c.faultText)
		}
		if len(args) < 2 {
			return errf("BAD_ARGUMENT", "QUE needs a serial and data")
		}
		max := c.MaxQueue
		if max <= 0 {
			max = 16
		}
		if len(c.queue) >= max {
			return errf("QUEUE_FULL", fmt.Sprintf("%d codes queued", len(c.queue)))
		}
		serial, err1 := lscDecode(args[0])
		data, err2 := lscDecode(args[1])
		if err1 != nil || err2 != nil || serial == "" || data == "" {
			return errf("BAD_ARGUMENT", "serial or data is not a valid token")
		}
		if _, err := EncodeGS1DataMatrix(data, true); err != nil {
			return errf("BAD_ARGUMENT", "data does not fit a DataMatrix")
		}
		fields := map[string]string{}
		for _, a := range args[2:] {
			k, v, ok := strings.Cut(a, "=")
			kd, err1 := lscDecode(k)
			vd, err2 := lscDecode(v)
			if !ok || err1 != nil || err2 != nil {
				return errf("BAD_ARGUMENT", "field "+a+" is not name=value")
			}
			fields[kd] = vd
		}
		c.queue = append(c.queue, coderCode{serial: serial, data: data, fields: fields})
		return "OK " + id + " " + strconv.Itoa(len(c.queue))
	case "CLR":
		c.queue = nil
		return "OK " + id
	case "STA":
		fault := c.fault
		if fault == "" {
			fault = "-"
		}
		armed := 0
		if len(c.queue) > 0 && c.fault == "" {
			armed = 1
		}
		t := c.template
		if t == "" {
			t = "-"
		}
		return fmt.Sprintf("OK %s TEMPLATE=%s QUEUED=%d ARMED=%d COUNT=%d FAULT=%s", id, lscEncode(t), len(c.queue), armed, c.count, fault)
	}
	return errf("UNKNOWN_COMMAND", "unknown command "+verb)
}

// lscEncode and lscDecode are LSC/1's token escapes (%XX), kept here so that
// the simulator does not import the driver it tests.
func lscEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= ' ' || ch > '~' || ch == '%' || ch == '=' {
			fmt.Fprintf(&b, "%%%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func lscDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("escape at offset %d is cut short", i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("escape at offset %d is not hex", i)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
