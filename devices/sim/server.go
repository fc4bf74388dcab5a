package sim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// server runs a simulator's connections: TCP listeners on loopback and
// streams handed in (a pseudo-terminal end). It tracks every connection so
// that the disconnect knob can cut them and Close can wait for them.
type server struct {
	mu      sync.Mutex
	lns     []net.Listener
	conns   map[io.ReadWriteCloser]struct{}
	offline bool
	closed  bool
	wg      sync.WaitGroup
}

// listen accepts TCP connections on addr (use "127.0.0.1:0") and serves each
// with handle in its own goroutine.
func (s *server) listen(addr string, handle func(rw io.ReadWriteCloser)) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, errors.New("listen: simulator closed")
	}
	s.lns = append(s.lns, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			s.mu.Lock()
			if s.offline || s.closed {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, handle)
			}()
		}
	}()
	return ln.Addr(), nil
}

// serve runs handle on rw until it returns, then closes rw.
func (s *server) serve(rw io.ReadWriteCloser, handle func(rw io.ReadWriteCloser)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rw.Close()
		return
	}
	if s.conns == nil {
		s.conns = map[io.ReadWriteCloser]struct{}{}
	}
	s.conns[rw] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, rw)
		s.mu.Unlock()
		rw.Close()
	}()
	handle(rw)
}

// count returns the number of open connections.
func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// disconnect cuts every open connection, as a device that reboots does.
func (s *server) disconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// setOffline makes the device unreachable (connections cut, new ones closed
// at once) or reachable again.
func (s *server) setOffline(off bool) {
	s.mu.Lock()
	s.offline = off
	s.mu.Unlock()
	if off {
		s.disconnect()
	}
}

// close stops the listeners and the connections and waits for them.
func (s *server) close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// broadcast writes p to every connection; a failed write drops that connection.
func (s *server) broadcast(p []byte) int {
	s.mu.Lock()
	conns := make([]io.ReadWriteCloser, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		if _, err := c.Write(p); err != nil {
			c.Close()
			continue
		}
		n++
	}
	return n
}
