// Package stationtest holds helpers shared by the tests of every package:
// finding the real peer programs a test needs (chronyd, socat, xmllint, an
// OPC UA server, an S3 server) and waiting for conditions with a deadline.
package stationtest

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// InstallHint is what a developer runs to get every test peer.
const InstallHint = "run 'make deps' (scripts/deps.sh installs the test peers)"

// RequireCommand returns the path of the named program. When it is missing
// the test fails under CI=true, since CI must run every test, and is skipped
// with the install hint elsewhere. It never skips silently.
func RequireCommand(tb testing.TB, name, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := dir + "/" + name; isExecutable(p) {
			return p
		}
	}
	Missing(tb, name+" is not installed", hint)
	return ""
}

// Missing fails (under CI=true) or skips (elsewhere) a test whose peer is not
// available, always saying what is missing and how to install it.
func Missing(tb testing.TB, what, hint string) {
	tb.Helper()
	if hint == "" {
		hint = InstallHint
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s; CI must run this test: %s", what, hint)
	}
	tb.Skipf("%s; to run this test: %s", what, hint)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Poll calls cond every interval until it returns true or timeout passes,
// then fails the test with msg.
func Poll(tb testing.TB, timeout time.Duration, msg string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
