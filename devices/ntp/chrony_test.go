package ntp_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"github.com/linestation/linestation/station/stationtest"
)

// chronyOptions say what a test chronyd serves.
type chronyOptions struct {
	// Skew shifts the time it serves, in libfaketime's notation ("+30s",
	// "-2m"). Empty: the system clock.
	Skew string

	// Unsynchronised leaves out its local reference, so that it answers
	// "not synchronised" (leap indicator 3, stratum 0).
	Unsynchronised bool
}

// chrony is a real chronyd serving NTP on a loopback port. It runs with -x,
// so it never touches the system clock.
type chrony struct {
	Addr string // 127.0.0.1:port

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stderr *lockedBuffer
}

// MustStartChrony starts a chronyd for the test, waits until it answers, and
// stops it when the test ends. A skewed one runs under libfaketime's
// LD_PRELOAD, which shifts the time it reads and serves. chronyd must run as
// root; a missing chronyd, libfaketime or root fails the test under CI=true.
func MustStartChrony(tb testing.TB, opt chronyOptions) *chrony {
	tb.Helper()
	path := stationtest.RequireCommand(tb, "chronyd", "apt-get install chrony")
	if os.Geteuid() != 0 {
		stationtest.Missing(tb, "chronyd refuses to start without root", "run the NTP tests as root (CI does)")
	}
	var env []string
	if opt.Skew != "" {
		lib := faketimeLibrary()
		if lib == "" {
			stationtest.Missing(tb, "libfaketime is not installed", "apt-get install faketime")
		}
		env = []string{"LD_PRELOAD=" + lib, "FAKETIME=" + opt.Skew, "FAKETIME_DONT_FAKE_MONOTONIC=1"}
	}

	dir := tb.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startChrony(path, dir, env, freeUDPPort(tb), opt)
		if err == nil {
			tb.Cleanup(c.Stop)
			return c
		}
		lastErr = err // most likely the port was taken meanwhile: try another
	}
	tb.Fatalf("start chronyd: %v", lastErr)
	return nil
}

func startChrony(path, dir string, env []string, port int, opt chronyOptions) (*chrony, error) {
	conf := fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nallow 127.0.0.1\ncmdport 0\npidfile %s\n",
		port, filepath.Join(dir, "chronyd.pid"))
	if !opt.Unsynchronised {
		conf += "local stratum 10\n"
	}
	confPath := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write chrony config: %w", err)
	}

	c := &chrony{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:    exec.Command(path, "-d", "-x", "-f", confPath),
		done:   make(chan struct{}),
		stderr: &lockedBuffer{},
	}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()

	deadline := time.Now().Add(5 * time.Second)
	for {
		// Any answer means it is serving, a "not synchronised" one too.
		if _, err := ntp.QueryWithOptions(c.Addr, ntp.QueryOptions{Timeout: 100 * time.Millisecond}); err == nil {
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("chronyd on port %d exited: %s", port, c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("chronyd on port %d does not answer after 5s: %s", port, c.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends chronyd (SIGTERM, then SIGKILL after 5 s) and waits for it.
// Stopping a stopped one does nothing.
func (c *chrony) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// faketimeLibrary returns the path of libfaketime, or "" when missing.
func faketimeLibrary() string {
	for _, pattern := range []string{
		"/usr/lib/*/faketime/libfaketime.so.1",
		"/usr/lib/faketime/libfaketime.so.1",
		"/usr/local/lib/faketime/libfaketime.so.1",
	} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free UDP port: %v", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
