package dscsa_test

import (
	"errors"

	"context"
	"github.com/linestation/linestation/station/stationtest"
	"testing"
	"time"
)

type ctxT = context.Context

// waitUntil sleeps until t (a backoff in tests is milliseconds).
func waitUntil(tb testing.TB, t time.Time) {
	tb.Helper()
	if d := time.Until(t); d > 0 {
		if d > 5*time.Second {
			tb.Fatalf("next attempt %s is too far away for a test", d)
		}
		time.Sleep(d + time.Millisecond)
	}
}

func errorsAs[T any](err error, target *T) bool { return errors.As(err, target) }

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	stationtest.Poll(tb, 10*time.Second, what, cond)
}
