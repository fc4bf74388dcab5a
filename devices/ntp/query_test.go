package ntp

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"
)

func TestAgree(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name     string
		offsets  []time.Duration // server i answered offsets[i]
		minGood  int
		median   time.Duration
		members  []int
		contains string // error, "" for none
	}{
		{"One", []time.Duration{5 * ms}, 1, 5 * ms, []int{0}, ""},
		{"Three", []time.Duration{3 * ms, 1 * ms, 2 * ms}, 2, 2 * ms, []int{1, 2, 0}, ""},
		{"EvenCountTakesMiddleMean", []time.Duration{1 * ms, 4 * ms, 2 * ms, 3 * ms}, 2, 2500 * time.Microsecond, []int{0, 2, 3, 1}, ""},
		{"OutlierHigh", []time.Duration{1 * ms, 30 * time.Second, 2 * ms}, 2, 1500 * time.Microsecond, []int{0, 2}, ""},
		{"OutlierLow", []time.Duration{-time.Minute, 10 * ms, 20 * ms, 30 * ms}, 2, 20 * ms, []int{1, 2, 3}, ""},
		{"ErrNone", nil, 1, 0, nil, "0 good answers from the time servers, 1 needed"},
		{"ErrTooFew", []time.Duration{1 * ms}, 2, 0, nil, "1 good answers from the time servers, 2 needed"},
		{"ErrTwoDisagree", []time.Duration{0, 30 * time.Second}, 1, 0, nil, "no majority within 250ms (offsets 0s, 30s)"},
		{"ErrTie", []time.Duration{0, 1 * ms, 30 * time.Second, 30*time.Second + ms}, 2, 0, nil, "the time servers disagree"},
		{"ErrMajorityTooSmall", []time.Duration{0, 1 * ms, 30 * time.Second}, 3, 0, nil, "2 agreeing answers from the time servers, 3 needed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answers := make([]answer, len(tt.offsets))
			for i, o := range tt.offsets {
				answers[i] = answer{server: i, offset: o}
			}
			ag, err := agree(answers, tt.minGood, 250*ms)
			if tt.contains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.contains) {
					t.Fatalf("agree=%+v, %v; want an error containing %q", ag, err, tt.contains)
				}
				return
			}
			if err != nil {
				t.Fatalf("agree: %v", err)
			}
			if got, want := ag.median, tt.median; got != want {
				t.Fatalf("median=%s, want %s", got, want)
			}
			if got, want := ag.members, tt.members; !slices.Equal(got, want) {
				t.Fatalf("members=%v, want %v", got, want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	now := time.Now()
	good := func() *ntp.Response {
		return &ntp.Response{
			Version: 4, Stratum: 2, Leap: ntp.LeapNoWarning, Time: now, ReferenceTime: now.Add(-time.Minute),
			RootDelay: 10 * time.Millisecond, RootDispersion: 5 * time.Millisecond, RootDistance: 20 * time.Millisecond,
		}
	}
	for _, tt := range []struct {
		name     string
		edit     func(r *ntp.Response)
		contains string // "" for a good answer
		hold     time.Duration
	}{
		{"OK", func(r *ntp.Response) {}, "", 0},
		{"ErrKissRate", func(r *ntp.Response) { r.Stratum, r.Leap, r.KissCode = 0, ntp.LeapNotInSync, "RATE" }, "kiss-of-death RATE", 4 * time.Minute},
		{"ErrKissDeny", func(r *ntp.Response) { r.Stratum, r.Leap, r.KissCode = 0, ntp.LeapNotInSync, "DENY" }, "refuses to serve", time.Hour},
		{"ErrNotInSync", func(r *ntp.Response) { r.Leap = ntp.LeapNotInSync }, "not synchronised itself", 0},
		{"ErrStratum0", func(r *ntp.Response) { r.Stratum = 0 }, "stratum 0", 0},
		{"ErrStratum16", func(r *ntp.Response) { r.Stratum = 16 }, "stratum 16", 0},
		{"ErrStale", func(r *ntp.Response) { r.ReferenceTime = now.Add(-48 * time.Hour) }, "invalid answer: server clock not fresh", 0},
		{"ErrRootDistance", func(r *ntp.Response) { r.RootDistance = 2 * time.Second }, "root distance 2s is above the limit 1.5s", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.edit(r)
			err := check(r, 1500*time.Millisecond)
			if tt.contains == "" {
				if err != nil {
					t.Fatalf("check=%v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("check=%v, want an error containing %q", err, tt.contains)
			}
			var kod *kissError
			if got := errors.As(err, &kod); got != (tt.hold > 0) {
				t.Fatalf("kiss-of-death=%v, want %v", got, tt.hold > 0)
			}
			if kod != nil && kod.hold(time.Minute) != tt.hold {
				t.Fatalf("hold=%s, want %s", kod.hold(time.Minute), tt.hold)
			}
		})
	}
}
