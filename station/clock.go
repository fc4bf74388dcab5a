package station

import "time"

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
