package sim

import (
	"fmt"
	"image"
	"io"
	"net"
	"sync"
)

// Scanner simulates a handheld scanner in serial mode: each scan is written
// as the AIM symbology identifier, the data (GS kept) and the suffix, to
// every connection (a pseudo-terminal end, or TCP like a serial server).
type Scanner struct {
	srv server

	mu     sync.Mutex
	suffix string
	noAIM  bool
}

// NewScanner returns a scanner that ends frames with CR and sends AIM
// symbology identifiers.
func NewScanner() *Scanner { return &Scanner{suffix: "\r"} }

// ListenTCP accepts connections on addr ("127.0.0.1:0" picks a free port).
func (s *Scanner) ListenTCP(addr string) (net.Addr, error) { return s.srv.listen(addr, discardInput) }

// Serve sends scans on rw (a pseudo-terminal end) until it fails or the
// scanner is closed.
func (s *Scanner) Serve(rw io.ReadWriteCloser) { s.srv.serve(rw, discardInput) }

// Clients returns the number of open connections.
func (s *Scanner) Clients() int { return s.srv.count() }

// Close cuts every connection.
func (s *Scanner) Close() error { s.srv.close(); return nil }

// Disconnect cuts every open connection (the cable is pulled).
func (s *Scanner) Disconnect() { s.srv.disconnect() }

// SetSuffix sets the frame suffix ("\r", "\r\n", "\n", ...).
func (s *Scanner) SetSuffix(suffix string) { s.mu.Lock(); s.suffix = suffix; s.mu.Unlock() }

// SetNoAIM makes the scanner leave out AIM symbology identifiers.
func (s *Scanner) SetNoAIM(v bool) { s.mu.Lock(); s.noAIM = v; s.mu.Unlock() }

// Frame returns the bytes one scan of data is sent as.
func (s *Scanner) Frame(symbology, data string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noAIM {
		symbology = ""
	}
	return []byte(symbology + data + s.suffix)
}

// Scan sends one scan; it returns how many connections got it.
func (s *Scanner) Scan(symbology, data string) int { return s.srv.broadcast(s.Frame(symbology, data)) }

// SendRaw sends exactly b: a partial frame, line noise.
func (s *Scanner) SendRaw(b []byte) int { return s.srv.broadcast(b) }

// ScanImage decodes the DataMatrix in img, as the operator aiming the
// scanner at a label or a carton, and sends what it read.
func (s *Scanner) ScanImage(img *image.Gray) error {
	d, err := DecodeDataMatrix(img)
	if err != nil {
		return fmt.Errorf("sim scanner: %w", err)
	}
	s.Scan(d.Symbology, d.Text)
	return nil
}

// discardInput reads and drops what the host sends (a scanner ignores it).
func discardInput(rw io.ReadWriteCloser) { io.Copy(io.Discard, rw) }
