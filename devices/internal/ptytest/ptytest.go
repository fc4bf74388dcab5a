// Package ptytest connects the tests of the serial drivers to the
// simulators over a real pseudo-terminal pair (socat), as a device is
// connected by a null-modem cable.
package ptytest

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/linestation/linestation/devices/sim"
	"github.com/linestation/linestation/station/stationtest"
)

// MustServe starts a socat pseudo-terminal pair, hands one end to serve (a
// simulator's Serve) in its own goroutine, and returns the path of the other
// end, for the driver to open as a serial port. Without socat the test fails
// under CI=true and is skipped elsewhere, with the install hint.
func MustServe(tb testing.TB, serve func(io.ReadWriteCloser)) string {
	tb.Helper()
	stationtest.RequireCommand(tb, "socat", "apt-get install socat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pair, err := sim.StartPTYPair(ctx, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pair.Close() })
	end, err := os.OpenFile(pair.B, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	go serve(end)
	return pair.A
}
