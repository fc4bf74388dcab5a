// Package camera drives vision readers of the Cognex DataMan kind: DataMan
// Control Commands (DMCC) on a command connection (TCP port 23, or serial),
// and decode results as lines on a result connection.
//
// # DMCC
//
// A command is "||" [checksum ":" id] ">" command [SP arguments] CR LF; with
// extended responses (SET COM.DMCC-RESPONSE 1, which the driver sends on
// every new connection) the reader answers "||" checksum ":" id "[" status
// "]" data CR LF, where status 0 is success, 100 an unidentified error, 101
// an invalid command, 102 an invalid parameter, 103 a wrong checksum, 104 a
// parameter rejected in the reader's state and 105 a reader unavailable. The
// driver sends no checksums (checksum 0) and numbers its commands.
//
// # Result lines
//
// The reader's output is formatted (DataMan's formatted-output / scripting
// setup, done once when the reader is commissioned) to one line per trigger:
//
//	READ <trigger> <symbology> <grade> <length> <data> CR LF
//	NOREAD <trigger> CR LF
//
// trigger is the reader's trigger counter; symbology the AIM identifier
// (]d2 GS1 DataMatrix, ]d1 DataMatrix, ]C1 GS1-128, ]Q3 GS1 QR); grade the
// overall ISO/IEC 15415 grade 4.0 to 0.0, or "-" when the reader does not
// grade; length the number of bytes of data; data the decoded data exactly
// (GS kept, no FNC1 prefix), last on the line so that it may hold any byte
// but CR and LF. A line that does not match, or whose data is not length
// bytes long, is reported as garbled, never guessed.
//
// Over a serial line both travel on one port; result lines are told from
// DMCC responses by their first bytes.
package camera

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/devices/internal/link"
	"github.com/linestation/linestation/station"
)

// DefaultAnswerTimeout bounds the wait for one DMCC response.
const DefaultAnswerTimeout = 2 * time.Second

// DialFunc opens a connection to a device. It must give up when ctx is done.
type DialFunc = link.DialFunc

// Options configure a Camera. The zero value is usable with a connection
// given to NewCamera.
type Options struct {
	// Name is the device's configured name; default "camera".
	Name string
	// DialCommand reconnects the DMCC command connection (and makes the
	// first one when NewCamera gets nil). Nil: no reconnection.
	DialCommand DialFunc
	// DialResults reconnects the result connection. When it is nil and
	// NewCamera gets no result connection, results are read from the command
	// connection (a serial reader).
	DialResults DialFunc
	// AnswerTimeout bounds the wait for one DMCC response; default 2 s.
	AnswerTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts; defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Clock stamps reads and Health; default the system clock.
	Clock station.Clock
	// Logger defaults to slog.Default() with component=camera.
	Logger *slog.Logger
}

// Camera is a DataMan-style reader. It is safe for concurrent use: commands
// run one at a time, and Read may wait in another goroutine meanwhile.
type Camera struct {
	opt        Options
	cmd        *link.Link
	res        *link.Link // == cmd when results share the command connection
	sem        chan struct{}
	id         int
	configured *link.Conn // the command connection that got SET COM.DMCC-RESPONSE 1
}

var _ station.Camera = (*Camera)(nil)

// NewCamera returns a driver for a reader: cmd is its DMCC connection and
// results its result connection (nil: results come on cmd, as on a serial
// port). Either may be nil when the matching dial option is set.
func NewCamera(cmd, results io.ReadWriter, opt Options) *Camera {
	if opt.Name == "" {
		opt.Name = "camera"
	}
	if opt.AnswerTimeout <= 0 {
		opt.AnswerTimeout = DefaultAnswerTimeout
	}
	if opt.Clock == nil {
		opt.Clock = link.SystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default().With("component", "camera")
	}
	opt.Logger = opt.Logger.With(link.LogKeyDevice, opt.Name)
	c := &Camera{opt: opt, sem: make(chan struct{}, 1)}
	newLink := func(rw io.ReadWriter, dial DialFunc, logger *slog.Logger) *link.Link {
		return link.New(rw, link.Options{
			Dial: dial, Health: link.NewHealth(opt.Name, "camera", opt.Clock), Split: link.ScanLines, IsEvent: isResult,
			MinBackoff: opt.MinBackoff, MaxBackoff: opt.MaxBackoff, Logger: logger,
		})
	}
	c.cmd = newLink(cmd, opt.DialCommand, opt.Logger)
	c.res = c.cmd
	if results != nil || opt.DialResults != nil {
		c.res = newLink(results, opt.DialResults, opt.Logger.With("connection", "results"))
	}
	return c
}

// isResult tells result lines from DMCC responses (which start with "||").
func isResult(line []byte) bool { return !bytes.HasPrefix(line, []byte("||")) }

// Health is the worse of the two connections' health; it never blocks.
func (c *Camera) Health() station.Health {
	h := c.cmd.Health().Get()
	if c.res != c.cmd {
		if r := c.res.Health().Get(); r.State != station.DeviceConnected && h.State == station.DeviceConnected {
			r.Reason = "result connection: " + r.Reason
			return r
		}
	}
	return h
}

// Close closes both connections.
func (c *Camera) Close() error {
	c.cmd.Close()
	if c.res != c.cmd {
		c.res.Close()
	}
	return nil
}

// Connect opens the command connection (switching it to extended DMCC
// responses) and the result connection, so that no result is missed before
// the first Read. Results produced while no result connection is open are
// lost, as with a real reader.
func (c *Camera) Connect(ctx context.Context) error {
	if _, err := c.Command(ctx, "GET DEVICE.TYPE"); err != nil {
		return fmt.Errorf("connect camera: %w", err)
	}
	if _, err := c.res.Get(ctx); err != nil {
		return fmt.Errorf("connect camera results: %w", err)
	}
	return nil
}

// dmccStatus maps DMCC response statuses to station codes.
func dmccStatus(status int) string {
	switch status {
	case 101, 102, 104:
		return station.EINVALID
	}
	return station.EDEVICE
}

// Command sends one DMCC command (e.g. "GET DEVICE.TYPE") and returns the
// data of its response.
func (c *Camera) Command(ctx context.Context, command string) (string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s is busy", c.opt.Name), ctx.Err())
	}
	defer func() { <-c.sem }()
	conn, err := c.cmd.Get(ctx)
	if err != nil {
		return "", err
	}
	if c.configured != conn {
		// Silent mode (the reader's default) answers nothing: switch to
		// extended responses first, without waiting for an answer.
		if err := c.cmd.Send(ctx, conn, []byte("||>SET COM.DMCC-RESPONSE 1\r\n")); err != nil {
			return "", err
		}
		c.configured = conn
	}
	c.cmd.Drain(conn)
	c.id++
	if err := c.cmd.Send(ctx, conn, []byte(fmt.Sprintf("||0:%d>%s\r\n", c.id, command))); err != nil {
		return "", err
	}
	actx, cancel := context.WithTimeout(ctx, c.opt.AnswerTimeout)
	defer cancel()
	for {
		line, err := c.cmd.Recv(actx, conn)
		if err != nil {
			return "", err
		}
		id, status, data, err := ParseResponse(line)
		if err != nil {
			c.cmd.Drop(conn, err)
			return "", fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s sent a garbled DMCC response", c.opt.Name), err)
		}
		if id != c.id {
			continue // the answer to an earlier or unnumbered command
		}
		if status != 0 {
			return "", station.Errorf(dmccStatus(status), "%s refused %q: DMCC status %d", c.opt.Name, command, status)
		}
		return data, nil
	}
}

// ParseResponse reads an extended DMCC response "||[checksum:]id[status]data";
// id is -1 when the response carries none.
func ParseResponse(line []byte) (id, status int, data string, err error) {
	s := string(line)
	if !strings.HasPrefix(s, "||") {
		return 0, 0, "", fmt.Errorf("DMCC response %q does not start with ||", s)
	}
	open := strings.IndexByte(s, '[')
	end := strings.IndexByte(s, ']')
	if open < 0 || end < open {
		return 0, 0, "", fmt.Errorf("DMCC response %q has no [status]", s)
	}
	hdr := s[2:open]
	id = -1
	if hdr != "" {
		if _, after, ok := strings.Cut(hdr, ":"); ok {
			hdr = after
		} else {
			hdr = "" // only a checksum flag
		}
		if hdr != "" {
			if id, err = strconv.Atoi(hdr); err != nil {
				return 0, 0, "", fmt.Errorf("DMCC response %q: command id is not a number", s)
			}
		}
	}
	if status, err = strconv.Atoi(s[open+1 : end]); err != nil {
		return 0, 0, "", fmt.Errorf("DMCC response %q: status is not a number", s)
	}
	return id, status, s[end+1:], nil
}

// Trigger fires a software trigger (TRIGGER ON); its result arrives on Read.
func (c *Camera) Trigger(ctx context.Context) error {
	if _, err := c.Command(ctx, "TRIGGER ON"); err != nil {
		return fmt.Errorf("trigger camera: %w", err)
	}
	return nil
}

// Get reads a reader setting (GET name).
func (c *Camera) Get(ctx context.Context, name string) (string, error) {
	v, err := c.Command(ctx, "GET "+name)
	if err != nil {
		return "", fmt.Errorf("get camera setting %s: %w", name, err)
	}
	return v, nil
}

// Set changes a reader setting (SET name value).
func (c *Camera) Set(ctx context.Context, name, value string) error {
	if _, err := c.Command(ctx, "SET "+name+" "+value); err != nil {
		return fmt.Errorf("set camera setting %s: %w", name, err)
	}
	return nil
}

// Read waits for the next result line. A no-read is a result; a garbled
// line is an EDEVICE error that quotes it. The result's Received is when
// the driver read the line off the connection, which may be before Read
// was called: results wait, in order, until they are read.
func (c *Camera) Read(ctx context.Context) (station.CameraRead, error) {
	line, received, err := c.res.EventAt(ctx)
	if err != nil {
		return station.CameraRead{}, fmt.Errorf("wait for camera result: %w", err)
	}
	r, err := ParseResult(line)
	if err != nil {
		c.opt.Logger.Warn("garbled camera result", "line", string(line), "error", err)
		return station.CameraRead{}, fmt.Errorf("%w: %w", station.Errorf(station.EDEVICE, "%s sent a garbled result", c.opt.Name), err)
	}
	r.At, r.Received = c.opt.Clock.Now().UTC, received
	return r, nil
}

// ParseResult reads one result line (see the package documentation).
func ParseResult(line []byte) (station.CameraRead, error) {
	var r station.CameraRead
	s := string(line)
	if rest, ok := strings.CutPrefix(s, "NOREAD "); ok {
		n, err := strconv.ParseUint(rest, 10, 64)
		if err != nil {
			return r, fmt.Errorf("result %q: trigger is not a number", s)
		}
		return station.CameraRead{Trigger: n, NoRead: true, Grade: station.NoGrade}, nil
	}
	rest, ok := strings.CutPrefix(s, "READ ")
	if !ok {
		return r, fmt.Errorf("result %q starts with neither READ nor NOREAD", s)
	}
	f := strings.SplitN(rest, " ", 5)
	if len(f) != 5 {
		return r, fmt.Errorf("result %q has %d fields, want 5", s, len(f))
	}
	var err error
	if r.Trigger, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return r, fmt.Errorf("result %q: trigger is not a number", s)
	}
	if len(f[1]) != 3 || f[1][0] != ']' {
		return r, fmt.Errorf("result %q: %q is not an AIM symbology identifier", s, f[1])
	}
	r.Symbology = f[1]
	r.Grade = station.NoGrade
	if f[2] != "-" {
		g, err := strconv.ParseFloat(f[2], 64)
		if err != nil || g < 0 || g > 4 {
			return r, fmt.Errorf("result %q: grade %q is not 0.0 to 4.0", s, f[2])
		}
		r.Grade = station.Grade(g)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil || n < 0 {
		return r, fmt.Errorf("result %q: length is not a number", s)
	}
	if len(f[4]) != n {
		return r, fmt.Errorf("result %q: data is %d bytes, the line says %d", s, len(f[4]), n)
	}
	r.Data = f[4]
	return r, nil
}

// DialTCP returns a DialFunc for a reader's TCP port (23 for DMCC, or the
// result port configured on the reader).
func DialTCP(addr string) DialFunc { return link.DialTCP("camera", addr) }

// OpenSerial opens a serial port at baud, 8N1.
func OpenSerial(name string, baud int) (io.ReadWriteCloser, error) {
	return link.OpenSerial(name, baud)
}
