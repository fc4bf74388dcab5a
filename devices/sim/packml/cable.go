package packml

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// cable is the PLC's simulated network cable: a loopback TCP relay from the
// public endpoint to the OPC UA server's private port. Pulling it closes the
// listener and every relayed connection, as a PLC dropping off the network
// does, while the server and its state machine run on; plugging it back
// listens on the same port again. (Restarting gopcua's server instead would
// reload its whole standard address space, which takes seconds under the
// race detector.)
type cable struct {
	mu      sync.Mutex
	l       net.Listener
	conns   map[net.Conn]struct{}
	backend string
	wg      sync.WaitGroup
}

// plugged reports whether the public endpoint is listening.
func (c *cable) plugged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.l != nil
}

// plug listens on addr and relays each connection to backend.
func (c *cable) plug(addr, backend string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.l != nil {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	c.l, c.backend = l, backend
	if c.conns == nil {
		c.conns = map[net.Conn]struct{}{}
	}
	c.wg.Add(1)
	go c.accept(l)
	return nil
}

// pull closes the listener and every relayed connection, and waits for the
// relay's goroutines.
func (c *cable) pull() {
	c.mu.Lock()
	if c.l != nil {
		c.l.Close()
		c.l = nil
	}
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *cable) accept(l net.Listener) {
	defer c.wg.Done()
	for {
		front, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				continue
			}
			return
		}
		back, err := net.Dial("tcp", c.backend)
		if err != nil {
			front.Close()
			continue
		}
		c.mu.Lock()
		if c.l != l { // pulled meanwhile
			c.mu.Unlock()
			front.Close()
			back.Close()
			return
		}
		c.conns[front], c.conns[back] = struct{}{}, struct{}{}
		c.wg.Add(2)
		c.mu.Unlock()
		go c.relay(front, back)
		go c.relay(back, front)
	}
}

// relay copies from src to dst until either side closes, then closes both.
func (c *cable) relay(dst, src net.Conn) {
	defer c.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	c.mu.Lock()
	delete(c.conns, dst)
	delete(c.conns, src)
	c.mu.Unlock()
}
