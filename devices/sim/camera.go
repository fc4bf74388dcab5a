package sim

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CameraResult is one result of the simulated camera, as it sent it.
type CameraResult struct {
	Trigger   uint64
	NoRead    bool
	Symbology string
	Data      string
	Grade     float64   // ISO/IEC 15415 overall grade 4.0 to 0.0; -1 on a no-read
	Sent      time.Time // when the result line was written
}

// Camera simulates a Cognex DataMan-style reader: DMCC on a command
// connection (silent by default, extended after SET COM.DMCC-RESPONSE 1;
// TRIGGER ON, GET and SET), result lines on a result connection in the
// format documented in devices/camera, and both on one stream for a serial
// reader. Inspect is the hardware trigger: it decodes an image with gozxing
// and grades it.
type Camera struct {
	// Logger defaults to slog.Default() with component=sim-camera.
	Logger *slog.Logger

	cmd, res, ser server // DMCC connections, result connections, serial streams

	mu       sync.Mutex
	extended bool
	params   map[string]string
	trigger  uint64
	view     *image.Gray
}

// NewCamera returns a reader in DMCC silent mode with nothing in view.
func NewCamera() *Camera {
	return &Camera{params: map[string]string{
		"DEVICE.TYPE":       "sim-DataMan",
		"SYMBOL.DATAMATRIX": "ON",
		"SYMBOL.C128":       "ON",
		"COM.DMCC-RESPONSE": "0",
	}}
}

// ListenTCP accepts DMCC connections on cmdAddr and result connections on
// resAddr (use "127.0.0.1:0" for free ports).
func (c *Camera) ListenTCP(cmdAddr, resAddr string) (cmd, res net.Addr, err error) {
	if cmd, err = c.cmd.listen(cmdAddr, c.handleDMCC); err != nil {
		return nil, nil, err
	}
	if res, err = c.res.listen(resAddr, discardInput); err != nil {
		return nil, nil, err
	}
	return cmd, res, nil
}

// Serve speaks DMCC and sends results on one stream (a serial reader).
func (c *Camera) Serve(rw io.ReadWriteCloser) { c.ser.serve(rw, c.handleDMCC) }

// Close cuts every connection.
func (c *Camera) Close() error {
	c.cmd.close()
	c.res.close()
	c.ser.close()
	return nil
}

// Disconnect cuts every open connection.
func (c *Camera) Disconnect() {
	c.cmd.disconnect()
	c.res.disconnect()
	c.ser.disconnect()
}

// SetOffline makes the camera unreachable, or reachable again.
func (c *Camera) SetOffline(off bool) {
	c.cmd.setOffline(off)
	c.res.setOffline(off)
	c.ser.setOffline(off)
}

// ResultClients returns the number of open result connections (TCP result
// port and serial streams).
func (c *Camera) ResultClients() int { return c.res.count() + c.ser.count() }

// SetView puts img in front of the camera for a software trigger.
func (c *Camera) SetView(img *image.Gray) {
	c.mu.Lock()
	c.view = img
	c.mu.Unlock()
}

// Inspect is a hardware trigger (the photo eye sees a carton): it decodes
// img, grades it and sends the result line to every result connection.
// A nil img (nothing in view) is a no-read.
func (c *Camera) Inspect(img *image.Gray) CameraResult {
	c.mu.Lock()
	c.trigger++
	n := c.trigger
	c.mu.Unlock()
	r := CameraResult{Trigger: n, NoRead: true, Grade: -1}
	if img != nil {
		if d, err := DecodeDataMatrix(img); err == nil {
			r = CameraResult{Trigger: n, Symbology: d.Symbology, Data: d.Text, Grade: GradeContrast(img)}
		}
	}
	var line string
	if r.NoRead {
		line = fmt.Sprintf("NOREAD %d\r\n", n)
	} else {
		line = fmt.Sprintf("READ %d %s %.1f %d %s\r\n", n, r.Symbology, r.Grade, len(r.Data), r.Data)
	}
	r.Sent = time.Now()
	c.res.broadcast([]byte(line))
	c.ser.broadcast([]byte(line))
	return r
}

// GradeContrast grades a decoded symbol's image by symbol contrast, the
// ISO/IEC 15415 parameter a faded mark fails first: SC = (Rmax - Rmin) as a
// percentage of full scale, A (4) from 70 %, B (3) 55 %, C (2) 40 %, D (1)
// 20 %, else F (0). The other 15415 parameters (modulation, axial
// non-uniformity, grid non-uniformity, fixed-pattern damage, unused error
// correction) are not measured: the simulator's marks are geometrically
// perfect, so they would all grade A.
func GradeContrast(img *image.Gray) float64 {
	lo, hi := uint8(255), uint8(0)
	for _, v := range img.Pix {
		lo, hi = min(lo, v), max(hi, v)
	}
	sc := float64(hi-lo) * 100 / 255
	switch {
	case sc >= 70:
		return 4
	case sc >= 55:
		return 3
	case sc >= 40:
		return 2
	case sc >= 20:
		return 1
	}
	return 0
}

// handleDMCC answers DMCC commands on one connection.
func (c *Camera) handleDMCC(rw io.ReadWriteCloser) {
	sc := bufio.NewScanner(rw)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		resp, ok := c.dmcc(line)
		if !ok {
			continue
		}
		if _, err := io.WriteString(rw, resp+"\r\n"); err != nil {
			return
		}
	}
}

// dmcc runs one command; ok is false when no answer is due (silent mode).
func (c *Camera) dmcc(line string) (string, bool) {
	if !strings.HasPrefix(line, "||") {
		return "", false
	}
	gt := strings.IndexByte(line, '>')
	if gt < 0 {
		return "", false
	}
	hdr, cmd := line[2:gt], strings.TrimSpace(line[gt+1:])
	id := ""
	if _, after, ok := strings.Cut(hdr, ":"); ok {
		id = after
	}
	c.mu.Lock()
	extended := c.extended
	status, data := 0, ""
	f := strings.Fields(cmd)
	verb := ""
	if len(f) > 0 {
		verb = strings.ToUpper(f[0])
	}
	switch {
	case verb == "TRIGGER" && len(f) == 2 && strings.EqualFold(f[1], "ON"):
		view := c.view
		c.mu.Unlock()
		go c.Inspect(view) // the result goes to the result connection
		c.mu.Lock()
	case verb == "GET" && len(f) == 2:
		v, ok := c.params[strings.ToUpper(f[1])]
		if !ok {
			status = 102
		}
		data = v
	case verb == "SET" && len(f) >= 3:
		name := strings.ToUpper(f[1])
		if _, ok := c.params[name]; !ok {
			status = 102
			break
		}
		c.params[name] = strings.Join(f[2:], " ")
		if name == "COM.DMCC-RESPONSE" {
			c.extended = f[2] == "1"
		}
	default:
		status = 101
	}
	c.mu.Unlock()
	if !extended {
		if verb == "GET" && status == 0 {
			return data, true // silent mode answers a GET with the bare value
		}
		return "", false
	}
	return "||0:" + id + "[" + strconv.Itoa(status) + "]" + data, true
}
