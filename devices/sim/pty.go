package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// PTYPair is two pseudo-terminals joined by socat: what is written to one
// end is read at the other, as on a null-modem serial cable. A simulator
// serves one end; the driver opens the other as a serial port.
type PTYPair struct {
	A, B string // paths of the two ends (symlinks in the directory given)
	cmd  *exec.Cmd
	done chan error
	once sync.Once
	err  error
}

// StartPTYPair starts socat (which must be installed) with two raw,
// non-echoing pseudo-terminals linked as dir/ttyA and dir/ttyB, and waits
// until it reports "starting data transfer loop".
func StartPTYPair(ctx context.Context, dir string) (*PTYPair, error) {
	a, b := filepath.Join(dir, "ttyA"), filepath.Join(dir, "ttyB")
	cmd := exec.Command("socat", "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start socat: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start socat: %w", err)
	}
	p := &PTYPair{A: a, B: b, cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "starting data transfer loop") {
					signalled = true
					close(ready)
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("socat ended before it was ready (%v): %s", err, log.String())
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("start socat: %w", ctx.Err())
	case <-t.C:
		p.Close()
		return nil, fmt.Errorf("start socat: not ready after 10s")
	}
}

// Close stops socat and waits for it.
func (p *PTYPair) Close() error {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			p.cmd.Process.Kill()
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.err = fmt.Errorf("socat did not stop")
		}
	})
	return p.err
}

// openPTY opens one end of a pair for a simulator to serve.
func openPTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open pseudo-terminal %s: %w", path, err)
	}
	return f, nil
}
