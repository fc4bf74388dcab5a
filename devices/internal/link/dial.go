package link

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"

	"go.bug.st/serial"
)

// DialTCP returns a DialFunc for a device of the given kind ("printer",
// "coder", ...) listening on a TCP address.
func DialTCP(kind, addr string) DialFunc {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s %s: %w", kind, addr, err)
		}
		return c, nil
	}
}

// OpenSerial opens a serial port at baud, 8 data bits, no parity, one stop
// bit.
func OpenSerial(name string, baud int) (serial.Port, error) {
	port, err := serial.Open(name, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", name, err)
	}
	return port, nil
}

// DialSerial returns a DialFunc that (re)opens a serial port with open
// (a driver's OpenSerial), unless ctx is already done.
func DialSerial(name string, baud int, open func(name string, baud int) (io.ReadWriteCloser, error)) DialFunc {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return open(name, baud)
	}
}

// ScanLines is a bufio.SplitFunc for line protocols: it splits on LF and
// drops a CR before it; a last line without LF counts at EOF.
func ScanLines(data []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if atEOF && len(data) > 0 {
			return len(data), bytes.TrimSuffix(data, []byte("\r")), nil
		}
		return 0, nil, nil
	}
	return i + 1, bytes.TrimSuffix(data[:i], []byte("\r")), nil
}
