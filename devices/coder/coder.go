// Package coder drives unit coders (the TIJ, CIJ or thermal-transfer
// printers that mark each carton) over LSC/1, the line-based text protocol
// of our own described in PROTOCOL.md, on TCP or a serial line. Vendor
// coders are reached through adapters that speak LSC/1.
//
// The driver queues codes (Queue), turns the coder's PRN events into print
// acknowledgements carrying the unit's serial (Printed), and its FLT/RDY
// events into faults and Health. The two warnings show as degraded: INK_LOW
// until RDY, NO_CODE (a unit passed unmarked) until the coder acknowledges
// a print again or is reset with Select. It reconnects with backoff when given a
// DialFunc; acknowledgements read before a connection drops are still
// delivered.
package coder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/devices/internal/link"
	"github.com/linestation/linestation/station"
)

// DefaultAnswerTimeout bounds the wait for one response.
const DefaultAnswerTimeout = 2 * time.Second

// DialFunc opens a connection to a device. It must give up when ctx is done.
type DialFunc = link.DialFunc

// Options configure a Coder. The zero value is usable.
type Options struct {
	// Name is the device's configured name; default "coder".
	Name string
	// Dial reconnects after the connection fails (and connects first when
	// NewCoder gets a nil io.ReadWriter). Nil: no reconnection.
	Dial DialFunc
	// AnswerTimeout bounds the wait for one response; default 2 s.
	AnswerTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Clock stamps acknowledgements and Health; default the system clock.
	Clock station.Clock
	// Logger defaults to slog.Default() with component=coder.
	Logger *slog.Logger
}

// Coder is an LSC/1 unit coder. It is safe for concurrent use: requests run
// one at a time, and Printed may wait in another goroutine meanwhile.
type Coder struct {
	opt  Options
	link *link.Link
	sem  chan struct{}
	id   int

	mu     sync.Mutex
	inkLow string // the INK_LOW warning's text until RDY; "" when none
	noCode bool   // Health is degraded for a NO_CODE warning
}

var _ station.Coder = (*Coder)(nil)

// NewCoder returns a driver for the coder at the other end of rw (nil when
// opt.Dial makes the first connection).
func NewCoder(rw io.ReadWriter, opt Options) *Coder {
	if opt.Name == "" {
		opt.Name = "coder"
	}
	if opt.AnswerTimeout <= 0 {
		opt.AnswerTimeout = DefaultAnswerTimeout
	}
	if opt.Clock == nil {
		opt.Clock = link.SystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default().With("component", "coder")
	}
	opt.Logger = opt.Logger.With(link.LogKeyDevice, opt.Name)
	return &Coder{
		opt: opt,
		link: link.New(rw, link.Options{
			Dial: opt.Dial, Health: link.NewHealth(opt.Name, "coder", opt.Clock), Split: link.ScanLines, IsEvent: isEvent,
			MinBackoff: opt.MinBackoff, MaxBackoff: opt.MaxBackoff, Logger: opt.Logger,
		}),
		sem: make(chan struct{}, 1),
	}
}

// isEvent tells unsolicited lines (PRN, FLT, RDY) from responses.
func isEvent(line []byte) bool {
	return !bytes.HasPrefix(line, []byte("OK ")) && !bytes.HasPrefix(line, []byte("ERR "))
}

// Health reports the coder's state as last seen; it never blocks.
func (c *Coder) Health() station.Health { return c.link.Health().Get() }

// Close closes the connection; later calls fail with EDEVICE.
func (c *Coder) Close() error { return c.link.Close() }

// Encode writes s as an LSC/1 token: bytes outside ! to ~, and % and =, as %XX.
func Encode(s string) string {
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

// Decode reads an LSC/1 token.
func Decode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("decode token %q: escape at offset %d is cut short", s, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("decode token %q: escape at offset %d is not hex", s, i)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// errorCodes maps LSC/1 error codes to station codes.
var errorCodes = map[string]string{
	"UNKNOWN_COMMAND": station.EDEVICE,
	"BAD_ARGUMENT":    station.EINVALID,
	"NO_TEMPLATE":     station.ENOTFOUND,
	"QUEUE_FULL":      station.ECONFLICT,
	"FAULTED":         station.EDEVICE,
}

// request sends one request and returns the tokens of its OK answer.
func (c *Coder) request(ctx context.Context, verb string, args ...string) ([]string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is busy", c.opt.Name), ctx.Err())
	}
	defer func() { <-c.sem }()
	conn, err := c.link.Get(ctx)
	if err != nil {
		return nil, err
	}
	c.link.Drain(conn)
	c.id++
	id := strconv.Itoa(c.id)
	line := verb + " " + id
	if len(args) > 0 {
		line += " " + strings.Join(args, " ")
	}
	if err := c.link.Send(ctx, conn, []byte(line+"\n")); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.opt.AnswerTimeout)
	defer cancel()
	for {
		resp, err := c.link.Recv(actx, conn)
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(resp))
		if len(f) < 2 {
			c.link.Drop(conn, fmt.Errorf("garbled response %q", resp))
			return nil, station.Errorf(station.EDEVICE, "%s sent a garbled answer to %s", c.opt.Name, verb)
		}
		if f[1] != id { // a late answer to an earlier request: skip it
			c.opt.Logger.Debug("stale response skipped", "response", string(resp), "want_id", id)
			continue
		}
		if f[0] == "OK" {
			return f[2:], nil
		}
		code, text := "", ""
		if len(f) > 2 {
			code = f[2]
		}
		if rest := strings.SplitN(string(resp), " ", 4); len(rest) == 4 {
			text = rest[3]
		}
		sc, ok := errorCodes[code]
		if !ok {
			sc = station.EDEVICE
		}
		if code == "FAULTED" {
			c.link.Health().Set(station.DeviceFaulted, text)
		}
		return nil, station.Errorf(sc, "%s refused %s: %s (%s)", c.opt.Name, verb, text, code)
	}
}

// Version asks the coder for its protocol version and model.
func (c *Coder) Version(ctx context.Context) (string, error) {
	f, err := c.request(ctx, "VER")
	if err != nil {
		return "", fmt.Errorf("coder version: %w", err)
	}
	return strings.Join(f, " "), nil
}

// Select loads a template and clears the queue.
func (c *Coder) Select(ctx context.Context, template string) error {
	if template == "" {
		return station.Errorf(station.EINVALID, "no coder template given")
	}
	if _, err := c.request(ctx, "SEL", Encode(template)); err != nil {
		return fmt.Errorf("select coder template %s: %w", template, err)
	}
	c.clearNoCode()
	return nil
}

// warn records a warning (INK_LOW or NO_CODE): printing goes on, and Health
// is degraded until clearNoCode or RDY.
func (c *Coder) warn(code, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code == "INK_LOW" {
		c.inkLow = text
	} else {
		c.noCode = true
	}
	// A warning does not hide a fault.
	h := c.link.Health()
	if !h.Replace(station.DeviceConnected, station.DeviceDegraded, text) {
		h.Replace(station.DeviceDegraded, station.DeviceDegraded, text)
	}
}

// clearNoCode ends a NO_CODE warning: the coder printed a unit (PRN) or was
// reset (SEL). Health goes back to connected, or stays degraded for a low
// ink warning; a fault or a lost connection since is left as it is.
func (c *Coder) clearNoCode() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.noCode {
		return
	}
	c.noCode = false
	if c.inkLow != "" {
		c.link.Health().Replace(station.DeviceDegraded, station.DeviceDegraded, c.inkLow)
		return
	}
	c.link.Health().Replace(station.DeviceDegraded, station.DeviceConnected, "")
}

// Queue queues codes in order; it stops at the first one refused.
func (c *Coder) Queue(ctx context.Context, codes ...station.UnitCode) error {
	for _, u := range codes {
		if u.Serial == "" || u.Data == "" {
			return station.Errorf(station.EINVALID, "unit code needs a serial and data (serial %q)", u.Serial)
		}
		args := []string{Encode(u.Serial), Encode(u.Data)}
		names := make([]string, 0, len(u.Fields))
		for k := range u.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			args = append(args, Encode(k)+"="+Encode(u.Fields[k]))
		}
		if _, err := c.request(ctx, "QUE", args...); err != nil {
			return fmt.Errorf("queue unit %s: %w", u.Serial, err)
		}
	}
	return nil
}

// Clear empties the coder's queue.
func (c *Coder) Clear(ctx context.Context) error {
	if _, err := c.request(ctx, "CLR"); err != nil {
		return fmt.Errorf("clear coder queue: %w", err)
	}
	return nil
}

// Status asks the coder for its state.
func (c *Coder) Status(ctx context.Context) (station.CoderStatus, error) {
	f, err := c.request(ctx, "STA")
	if err != nil {
		return station.CoderStatus{}, fmt.Errorf("coder status: %w", err)
	}
	var st station.CoderStatus
	for _, tok := range f {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return st, station.Errorf(station.EDEVICE, "%s sent a status token %q without '='", c.opt.Name, tok)
		}
		if v, err = Decode(v); err != nil {
			return st, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s sent a garbled status", c.opt.Name), err)
		}
		switch k {
		case "TEMPLATE":
			st.Template = v
		case "QUEUED":
			st.Queued, err = strconv.Atoi(v)
		case "ARMED":
			st.Armed = v == "1"
		case "COUNT":
			st.Count, err = strconv.ParseUint(v, 10, 64)
		case "FAULT":
			if v != "-" {
				st.Fault = v
			}
		}
		if err != nil {
			return st, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s sent a status %s that is not a number", c.opt.Name, k), err)
		}
	}
	if st.Fault != "" && st.Fault != "INK_LOW" {
		c.link.Health().Set(station.DeviceFaulted, "fault "+st.Fault)
	}
	return st, nil
}

// Printed waits for the next print acknowledgement. A fault event returns
// EDEVICE naming the fault; call Printed again to go on waiting (printing
// resumes after RDY).
func (c *Coder) Printed(ctx context.Context) (station.CoderAck, error) {
	for {
		ev, err := c.link.Event(ctx)
		if err != nil {
			return station.CoderAck{}, fmt.Errorf("wait for coder acknowledgement: %w", err)
		}
		f := strings.SplitN(string(ev), " ", 3)
		switch f[0] {
		case "PRN":
			if len(f) != 3 {
				return station.CoderAck{}, station.Errorf(station.EDEVICE, "%s sent a garbled print acknowledgement %q", c.opt.Name, ev)
			}
			n, err := strconv.ParseUint(f[1], 10, 64)
			serial, derr := Decode(f[2])
			if err != nil || derr != nil || serial == "" || strings.Contains(f[2], " ") {
				return station.CoderAck{}, station.Errorf(station.EDEVICE, "%s sent a garbled print acknowledgement %q", c.opt.Name, ev)
			}
			c.clearNoCode()
			return station.CoderAck{Serial: serial, Count: n, At: c.opt.Clock.Now().UTC}, nil
		case "FLT":
			code, text := "", ""
			if len(f) > 1 {
				code = f[1]
			}
			if len(f) > 2 {
				text = f[2]
			}
			switch code {
			case "INK_LOW":
				c.warn(code, text)
				continue
			case "NO_CODE":
				c.warn(code, text)
				return station.CoderAck{}, station.Errorf(station.EDEVICE, "%s: a unit passed unmarked: %s", c.opt.Name, text)
			}
			c.link.Health().Set(station.DeviceFaulted, text+" ("+code+")")
			return station.CoderAck{}, station.Errorf(station.EDEVICE, "%s fault %s: %s", c.opt.Name, code, text)
		case "RDY":
			c.mu.Lock()
			c.inkLow, c.noCode = "", false
			c.link.Health().Set(station.DeviceConnected, "")
			c.mu.Unlock()
		default:
			c.opt.Logger.Warn("unknown coder event ignored", "event", string(ev))
		}
	}
}

// DialTCP returns a DialFunc for a coder on TCP.
func DialTCP(addr string) DialFunc { return link.DialTCP("coder", addr) }

// OpenSerial opens a serial port at baud, 8N1.
func OpenSerial(name string, baud int) (io.ReadWriteCloser, error) {
	return link.OpenSerial(name, baud)
}

// DialSerial returns a DialFunc that (re)opens a serial port with OpenSerial.
func DialSerial(name string, baud int) DialFunc { return link.DialSerial(name, baud, OpenSerial) }
