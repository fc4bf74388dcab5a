package ntp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/beevik/ntp"
)

// result is one server's answer in a round: resp is nil when the query
// failed; err is set when it failed or the answer was rejected.
type result struct {
	resp *ntp.Response
	err  error
}

// query asks one server once, within Timeout and ctx, and checks the answer.
func (c *Clock) query(ctx context.Context, addr string) result {
	var stop func() bool
	opt := ntp.QueryOptions{
		Timeout:       c.cfg.Timeout,
		GetSystemTime: c.queryWall,
		Dialer: func(_, remote string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "udp", remote)
			if err != nil {
				return nil, err
			}
			// Close the socket when ctx ends, so that the read returns.
			stop = context.AfterFunc(ctx, func() { conn.Close() })
			return conn, nil
		},
	}
	resp, err := ntp.QueryWithOptions(addr, opt)
	if stop != nil {
		stop()
	}
	if err != nil {
		return result{err: describeQueryError(ctx, err, c.cfg.Timeout)}
	}
	return result{resp: resp, err: check(resp, c.cfg.MaxRootDistance)}
}

// describeQueryError words a failed query for the operator, keeping the cause.
func describeQueryError(ctx context.Context, err error, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("query stopped: %w", ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("no NTP server is listening there: %w", err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot resolve the server's name: %w", err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return fmt.Errorf("query: %w", err)
}

// kissError is a kiss-of-death answer: the server tells the client to slow
// down (RATE) or to stop asking (DENY, RSTR).
type kissError struct {
	code string
}

func (e *kissError) Error() string {
	switch e.code {
	case "RATE":
		return "kiss-of-death RATE: the server asks us to poll less often; it is not asked for a while"
	case "DENY", "RSTR":
		return fmt.Sprintf("kiss-of-death %s: the server refuses to serve this station; check its access rules", e.code)
	}
	return fmt.Sprintf("kiss-of-death %q: the server gives no time", e.code)
}

// hold is how long a server that sent e is not asked again: four polls after
// RATE, an hour (or one poll, if longer) after DENY or RSTR, as the NTP
// specification asks, and nothing for other codes.
func (e *kissError) hold(poll time.Duration) time.Duration {
	switch e.code {
	case "RATE":
		return 4 * poll
	case "DENY", "RSTR":
		return max(time.Hour, poll)
	}
	return 0
}

// check rejects an answer that must not be used for time, saying why.
func check(r *ntp.Response, maxRootDistance time.Duration) error {
	switch {
	case r.Stratum == 0 && r.KissCode != "":
		return &kissError{code: r.KissCode}
	case r.Leap == ntp.LeapNotInSync:
		return fmt.Errorf("the server is not synchronised itself (leap indicator 'not synchronised', stratum %d)", r.Stratum)
	case r.Stratum == 0 || r.Stratum >= 16:
		return fmt.Errorf("stratum %d: the server is not synchronised", r.Stratum)
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("invalid answer: %w", err)
	}
	if r.RootDistance > maxRootDistance {
		return fmt.Errorf("root distance %s is above the limit %s: the server's own time is too uncertain",
			r.RootDistance.Round(time.Microsecond), maxRootDistance)
	}
	return nil
}

// answer is a good answer's offset, by server index.
type answer struct {
	server int
	offset time.Duration
}

// agreement is the outcome of agree.
type agreement struct {
	median  time.Duration // the offset to apply
	spread  time.Duration // largest minus smallest offset of the members
	members []int         // servers whose answers agreed, in offset order
}

// agree finds the largest group of answers whose offsets lie within
// maxSpread of each other. That group must be a strict majority of the
// answers and have at least minGood members; its median offset (the mean of
// the two middle ones for an even count) is the offset to apply.
func agree(answers []answer, minGood int, maxSpread time.Duration) (agreement, error) {
	if len(answers) < minGood {
		return agreement{}, fmt.Errorf("%d good answers from the time servers, %d needed", len(answers), minGood)
	}
	sorted := slices.Clone(answers)
	slices.SortStableFunc(sorted, func(a, b answer) int { return cmp.Compare(a.offset, b.offset) })

	bestLo, bestHi := 0, 0 // the group is sorted[bestLo:bestHi]
	for lo, hi := 0, 0; lo < len(sorted); lo++ {
		for hi < len(sorted) && sorted[hi].offset-sorted[lo].offset <= maxSpread {
			hi++
		}
		if hi-lo > bestHi-bestLo {
			bestLo, bestHi = lo, hi
		}
	}
	group := sorted[bestLo:bestHi]
	if 2*len(group) <= len(sorted) {
		offsets := make([]string, len(sorted))
		for i, a := range sorted {
			offsets[i] = a.offset.Round(time.Millisecond).String()
		}
		return agreement{}, fmt.Errorf("the time servers disagree: no majority within %s (offsets %s)",
			maxSpread, strings.Join(offsets, ", "))
	}
	if len(group) < minGood {
		return agreement{}, fmt.Errorf("%d agreeing answers from the time servers, %d needed", len(group), minGood)
	}

	ag := agreement{spread: group[len(group)-1].offset - group[0].offset}
	n := len(group)
	if n%2 == 1 {
		ag.median = group[n/2].offset
	} else {
		a, b := group[n/2-1].offset, group[n/2].offset
		ag.median = a + (b-a)/2
	}
	for _, a := range group {
		ag.members = append(ag.members, a.server)
	}
	return ag, nil
}
