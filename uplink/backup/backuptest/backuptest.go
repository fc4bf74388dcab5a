// Package backuptest runs a real S3-compatible server (MinIO) on loopback
// for the tests of backup and restore: the pinned server that
// scripts/minio.sh installs into build/bin, or minio on PATH. A test whose
// server is missing fails under CI=true and is skipped with the install
// hint elsewhere (station/stationtest.Missing).
package backuptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linestation/linestation/station/stationtest"
)

// Hint is how a developer gets the MinIO server.
const Hint = "run 'make test-deps' (scripts/minio.sh installs the pinned MinIO server into build/bin)"

// Binary finds the MinIO server: build/bin/minio of the repository the
// test runs in, else minio on PATH; "" when there is none.
func Binary() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "build", "bin", "minio")
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	p, _ := exec.LookPath("minio")
	return p
}

// Server is a MinIO server on loopback.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	User     string // root access key id
	Password string // root secret
	Dir      string // its data folder

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Launch starts the server at bin on dir, with extra environment
// (NAME=value), and waits until it is ready. The caller stops it.
func Launch(bin, dir string, env ...string) (*Server, error) {
	var lastErr error
	for try := 0; try < 3; try++ { // a port taken between probe and start: try others
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		console, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), User: "linestation-test", Password: "secret-" + randomHex(8), Dir: dir}
		s.cmd = exec.Command(bin, "server", dir, "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", fmt.Sprintf("127.0.0.1:%d", console))
		s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.User, "MINIO_ROOT_PASSWORD="+s.Password, "MINIO_UPDATE=off", "MINIO_BROWSER=off")
		s.cmd.Env = append(s.cmd.Env, env...)
		if err := s.start(); err != nil {
			return nil, err
		}
		if err := s.waitReady(30 * time.Second); err != nil {
			s.Stop()
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

func (s *Server) start() error {
	KillWithParent(s.cmd)
	s.out = &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.cmd.Path, err)
	}
	cmd, exited := s.cmd, make(chan struct{})
	s.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited before it was ready: %s", s.out.String())
		default:
		}
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not ready at %s after %s: %s", s.Endpoint, timeout, s.out.String())
}

// Restart starts the stopped server again, on the same ports, data and
// credentials, and waits until it is ready.
func (s *Server) Restart() error {
	cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	cmd.Env = s.cmd.Env
	s.cmd = cmd
	if err := s.start(); err != nil {
		return err
	}
	return s.waitReady(30 * time.Second)
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Start starts a server of the test's own (with extra environment), on a
// temporary folder, stopped at the end of the test.
func Start(tb testing.TB, env ...string) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		stationtest.Missing(tb, "the MinIO server is not installed", Hint)
	}
	s, err := Launch(bin, tb.TempDir(), env...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
}

// Shared returns the test binary's server, started on first use; TestMain
// calls StopShared after the tests. Tests keep apart by using buckets of
// their own.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		return shared.srv
	}
	bin := Binary()
	if bin == "" {
		stationtest.Missing(tb, "the MinIO server is not installed", Hint)
	}
	dir, err := os.MkdirTemp("", "linestation-minio-")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Launch(bin, dir)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	shared.srv = s
	return s
}

// StopShared stops the shared server, if one was started, and removes its
// data.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		os.RemoveAll(shared.srv.Dir)
		shared.srv = nil
	}
}
