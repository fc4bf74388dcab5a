package station

import (
	"fmt"
	"strings"
	"time"
)

// ClockState says how far the station's time can be trusted.
type ClockState string

// Clock states, from best to worst. A station commissions only while its
// clock is synced or degraded; events written while degraded carry that state.
const (
	ClockSynced   ClockState = "synced"   // a good NTP answer recently, offset within policy
	ClockDegraded ClockState = "degraded" // no good answer for a while, or offset above the warning limit
	ClockUnsynced ClockState = "unsynced" // time cannot be trusted: production must stop
)

// Time is one reading of the station clock.
type Time struct {
	UTC      time.Time     // corrected UTC (system time + Offset)
	Offset   time.Duration // correction applied to the system clock: reference minus system
	State    ClockState
	Reason   string    // why the clock is not synced; empty when synced
	LastSync time.Time // UTC of the last good sync; zero when never synced
}

// Clock gives the station its time. Implementations must be safe for
// concurrent use and must not block: a reading reflects the last sync, it
// never waits for one.
type Clock interface {
	Now() Time
}

// ClockFunc adapts a function to the Clock interface.
type ClockFunc func() Time

// Now calls f.
func (f ClockFunc) Now() Time { return f() }

// ClockPolicy says how far the station trusts its clock: the limits that turn
// a synced clock into a degraded or an unsynced one. The NTP clock applies it
// to every reading; the zero value of a field means its default
// (DefaultClockPolicy).
//
// What the offset means for trust. The offset is the correction between the
// station PC's system clock and the time servers' reference, and every reading
// applies it, so a large offset does not make a stamp wrong by itself. What it
// does signal is that one of the two clocks cannot be trusted, and the station
// cannot tell which:
//   - the system clock is not disciplined by anyone (the PC's own time service
//     is broken or was never set up, or someone set the clock by hand), so
//     between two polls the corrected time rests on a free-running oscillator,
//     each new poll steps the corrected time, and every other record on the
//     PC (operating system logs, file times, certificate checks) carries the
//     wrong time, which an auditor sees as an unsynchronised computer;
//   - or the reference is wrong: a misconfigured, spoofed or broken time
//     server, which a majority of agreeing servers makes unlikely but a single
//     server cannot rule out.
//
// A PC clock that is disciplined by its own time service stays within
// milliseconds of the same servers, and a free-running one drifts by seconds a
// day (50 ppm is about 4.3 s a day). So an offset above WarnOffset asks for
// attention while production goes on (events carry "degraded"), and an offset
// above MaxOffset means a step or a wrong reference that a person must look
// at before commissioning goes on. Disagreement between servers is judged by
// the NTP clock before any offset is taken (a minority that disagrees is left
// out; with no agreeing majority there is no sync at all), so the offset here
// is always one that a majority of the servers agree on.
type ClockPolicy struct {
	// WarnOffset is the largest offset (either sign) of a synced clock; above
	// it the clock is degraded. Default 1s.
	WarnOffset time.Duration

	// MaxOffset is the largest offset of a degraded clock; above it the clock
	// is unsynced and commissioning stops. Default 1m.
	MaxOffset time.Duration

	// DegradedAfter is how long the clock stays synced without a good sync;
	// after it the clock is degraded. Several missed polls at the default:
	// amber on the lamps so that IT can act while production goes on.
	// Default 15m.
	DegradedAfter time.Duration

	// UnsyncedAfter is how long the clock stays degraded without a good sync;
	// after it the clock is unsynced and commissioning stops. A station must
	// run a whole shift (8 h) without its network; at the 50 ppm worst case of
	// an undisciplined PC oscillator the corrected time drifts about 0.2 s an
	// hour, about 2 s after 12 h. Default 12h.
	UnsyncedAfter time.Duration

	// MaxStep is the largest jump of the system clock between two syncs (seen
	// as a difference between the wall clock and the monotonic clock) that a
	// reading tolerates. Above it the reading is unsynced until the next sync,
	// which the NTP clock starts at once. Default 1s.
	MaxStep time.Duration
}

// Default clock policy limits; see ClockPolicy for the reasoning.
const (
	DefaultWarnOffset    = time.Second
	DefaultMaxOffset     = time.Minute
	DefaultDegradedAfter = 15 * time.Minute
	DefaultUnsyncedAfter = 12 * time.Hour
	DefaultMaxStep       = time.Second
)

// DefaultClockPolicy returns the policy with every limit at its default.
func DefaultClockPolicy() ClockPolicy {
	return ClockPolicy{
		WarnOffset:    DefaultWarnOffset,
		MaxOffset:     DefaultMaxOffset,
		DegradedAfter: DefaultDegradedAfter,
		UnsyncedAfter: DefaultUnsyncedAfter,
		MaxStep:       DefaultMaxStep,
	}
}

// WithDefaults returns p with every zero field set to its default.
func (p ClockPolicy) WithDefaults() ClockPolicy {
	d := DefaultClockPolicy()
	if p.WarnOffset == 0 {
		p.WarnOffset = d.WarnOffset
	}
	if p.MaxOffset == 0 {
		p.MaxOffset = d.MaxOffset
	}
	if p.DegradedAfter == 0 {
		p.DegradedAfter = d.DegradedAfter
	}
	if p.UnsyncedAfter == 0 {
		p.UnsyncedAfter = d.UnsyncedAfter
	}
	if p.MaxStep == 0 {
		p.MaxStep = d.MaxStep
	}
	return p
}

// Validate returns EINVALID, naming the field, when a limit is negative or
// the limits are out of order (WarnOffset above MaxOffset, DegradedAfter
// above UnsyncedAfter). Zero fields are valid: they mean the default.
func (p ClockPolicy) Validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"WarnOffset", p.WarnOffset},
		{"MaxOffset", p.MaxOffset},
		{"DegradedAfter", p.DegradedAfter},
		{"UnsyncedAfter", p.UnsyncedAfter},
		{"MaxStep", p.MaxStep},
	} {
		if f.v < 0 {
			return Errorf(EINVALID, "clock policy: %s is %s; it must be positive (or zero for the default)", f.name, f.v)
		}
	}
	p = p.WithDefaults()
	if p.WarnOffset > p.MaxOffset {
		return Errorf(EINVALID, "clock policy: WarnOffset (%s) is above MaxOffset (%s)", p.WarnOffset, p.MaxOffset)
	}
	if p.DegradedAfter > p.UnsyncedAfter {
		return Errorf(EINVALID, "clock policy: DegradedAfter (%s) is above UnsyncedAfter (%s)", p.DegradedAfter, p.UnsyncedAfter)
	}
	return nil
}

// Assess judges a clock from its last good sync: offset is the correction that
// sync measured (reference minus system clock) and age is how long ago it was,
// measured on a monotonic clock. It returns the worst state that any limit of
// p gives and, unless synced, the reasons for it in words for the operator.
// Zero fields of p mean their defaults.
func (p ClockPolicy) Assess(offset, age time.Duration) (ClockState, string) {
	p = p.WithDefaults()
	state := ClockSynced
	var reasons []string
	judge := func(s ClockState, reason string) {
		if s.worse(state) {
			state, reasons = s, nil
		}
		if s == state && s != ClockSynced {
			reasons = append(reasons, reason)
		}
	}

	switch {
	case age > p.UnsyncedAfter:
		judge(ClockUnsynced, fmt.Sprintf("no good time sync for %s (limit %s)", roundAge(age), p.UnsyncedAfter))
	case age > p.DegradedAfter:
		judge(ClockDegraded, fmt.Sprintf("no good time sync for %s (limit %s)", roundAge(age), p.DegradedAfter))
	}

	abs := offset.Abs()
	switch {
	case abs > p.MaxOffset:
		judge(ClockUnsynced, fmt.Sprintf("the station PC clock is %s the time servers (limit %s): "+
			"the PC's own time service or a time server is wrong", describeOffset(offset), p.MaxOffset))
	case abs > p.WarnOffset:
		judge(ClockDegraded, fmt.Sprintf("the station PC clock is %s the time servers (warning above %s): "+
			"the PC's own time service needs checking", describeOffset(offset), p.WarnOffset))
	}
	return state, strings.Join(reasons, "; ")
}

// Worst returns the least trusted of the states: unsynced before degraded
// before synced. An unknown state counts as unsynced.
func (s ClockState) Worst(others ...ClockState) ClockState {
	w := s
	for _, o := range others {
		if o.worse(w) {
			w = o
		}
	}
	return w
}

// worse reports whether s is less trusted than o.
func (s ClockState) worse(o ClockState) bool { return s.rank() > o.rank() }

func (s ClockState) rank() int {
	switch s {
	case ClockSynced:
		return 0
	case ClockDegraded:
		return 1
	default:
		return 2
	}
}

// Trusted returns nil when the reading may stamp a commissioning: the clock is
// synced or degraded (degraded events carry that state). Otherwise, including
// a zero Time that no clock produced, it returns ECLOCK with a message for the
// operator that says why and what to do.
func (t Time) Trusted() error {
	switch t.State {
	case ClockSynced, ClockDegraded:
		return nil
	}
	why := t.Reason
	if why == "" {
		why = fmt.Sprintf("the clock reports the state %q", t.State)
		if t.State == "" {
			why = "the clock has not reported yet"
		}
	}
	return Errorf(ECLOCK, "Commissioning is stopped because the station clock cannot be trusted: %s. "+
		"Check the station's network connection; if the clock does not recover within minutes, "+
		"call IT to check the time servers and this PC's clock.", why)
}

// roundAge rounds an age for display: to the second, or to the minute above
// an hour.
func roundAge(d time.Duration) time.Duration {
	if d >= time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// describeOffset says where the system clock stands against the reference,
// rounded to the millisecond (to the second above a minute): a positive
// offset (reference minus system) means the PC clock is behind.
func describeOffset(d time.Duration) string {
	r := d.Abs().Round(time.Millisecond)
	if r >= time.Minute {
		r = d.Abs().Round(time.Second)
	}
	if d > 0 {
		return r.String() + " behind"
	}
	return r.String() + " ahead of"
}
