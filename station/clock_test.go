package station_test

import (
	"strings"
	"testing"
	"time"

	"github.com/linestation/linestation/station"
)

func TestClockPolicy_Assess(t *testing.T) {
	for _, tt := range []struct {
		name     string
		policy   station.ClockPolicy
		offset   time.Duration
		age      time.Duration
		state    station.ClockState
		contains []string // in the reason; the reason is empty when synced
	}{
		{"Synced", station.ClockPolicy{}, 3 * time.Millisecond, time.Minute, station.ClockSynced, nil},
		{"SyncedAtLimits", station.ClockPolicy{}, -time.Second, 15 * time.Minute, station.ClockSynced, nil},
		{"DegradedOffsetBehind", station.ClockPolicy{}, 1500 * time.Millisecond, 0, station.ClockDegraded,
			[]string{"1.5s behind the time servers (warning above 1s)"}},
		{"DegradedOffsetAhead", station.ClockPolicy{}, -30 * time.Second, 0, station.ClockDegraded,
			[]string{"30s ahead of the time servers"}},
		{"UnsyncedOffset", station.ClockPolicy{}, 61 * time.Second, 0, station.ClockUnsynced,
			[]string{"1m1s behind the time servers (limit 1m0s)"}},
		{"DegradedAge", station.ClockPolicy{}, 0, 16 * time.Minute, station.ClockDegraded,
			[]string{"no good time sync for 16m0s (limit 15m0s)"}},
		{"UnsyncedAge", station.ClockPolicy{}, 0, 13 * time.Hour, station.ClockUnsynced,
			[]string{"no good time sync for 13h0m0s (limit 12h0m0s)"}},
		{"BothDegraded", station.ClockPolicy{}, 2 * time.Second, time.Hour, station.ClockDegraded,
			[]string{"no good time sync for 1h0m0s", "2s behind"}},
		{"WorstWins", station.ClockPolicy{}, 2 * time.Second, 13 * time.Hour, station.ClockUnsynced,
			[]string{"no good time sync for 13h0m0s"}},
		{"OwnLimits", station.ClockPolicy{WarnOffset: time.Millisecond, MaxOffset: 10 * time.Millisecond},
			20 * time.Millisecond, 0, station.ClockUnsynced, []string{"20ms behind the time servers (limit 10ms)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state, reason := tt.policy.Assess(tt.offset, tt.age)
			if state != tt.state {
				t.Fatalf("state=%q (%s), want %q", state, reason, tt.state)
			}
			if tt.state == station.ClockSynced && reason != "" {
				t.Fatalf("reason=%q, want none when synced", reason)
			}
			for _, c := range tt.contains {
				if !strings.Contains(reason, c) {
					t.Fatalf("reason=%q, want it to contain %q", reason, c)
				}
			}
		})
	}

	t.Run("WorstReasonOnly", func(t *testing.T) {
		_, reason := station.ClockPolicy{}.Assess(2*time.Second, 13*time.Hour)
		if strings.Contains(reason, "behind") {
			t.Fatalf("reason=%q, want only the reason for unsynced, not the lesser warning", reason)
		}
	})
}

func TestClockPolicy_Validate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		policy   station.ClockPolicy
		contains string // "" for valid
	}{
		{"Zero", station.ClockPolicy{}, ""},
		{"Default", station.DefaultClockPolicy(), ""},
		{"ErrNegative", station.ClockPolicy{MaxStep: -time.Second}, "MaxStep is -1s"},
		{"ErrOffsetsOutOfOrder", station.ClockPolicy{WarnOffset: 2 * time.Minute}, "WarnOffset (2m0s) is above MaxOffset (1m0s)"},
		{"ErrAgesOutOfOrder", station.ClockPolicy{DegradedAfter: time.Hour, UnsyncedAfter: time.Minute},
			"DegradedAfter (1h0m0s) is above UnsyncedAfter (1m0s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.contains == "" {
				if err != nil {
					t.Fatalf("Validate=%v, want nil", err)
				}
				return
			}
			if station.ErrorCode(err) != station.EINVALID || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Validate=%v, want EINVALID containing %q", err, tt.contains)
			}
		})
	}

	t.Run("WithDefaults", func(t *testing.T) {
		p := station.ClockPolicy{MaxOffset: 5 * time.Minute}.WithDefaults()
		want := station.DefaultClockPolicy()
		want.MaxOffset = 5 * time.Minute
		if p != want {
			t.Fatalf("WithDefaults=%+v, want %+v", p, want)
		}
	})
}

func TestTime_Trusted(t *testing.T) {
	for _, tt := range []struct {
		name     string
		time     station.Time
		contains string // in the operator's message; "" when trusted
	}{
		{"Synced", station.Time{State: station.ClockSynced}, ""},
		{"Degraded", station.Time{State: station.ClockDegraded, Reason: "no good time sync for 16m0s"}, ""},
		{"ErrUnsynced", station.Time{State: station.ClockUnsynced, Reason: "no good time sync for 13h0m0s"},
			"cannot be trusted: no good time sync for 13h0m0s."},
		{"ErrUnsyncedNoReason", station.Time{State: station.ClockUnsynced}, `the clock reports the state "unsynced"`},
		{"ErrZero", station.Time{}, "the clock has not reported yet"},
		{"ErrUnknownState", station.Time{State: "drifting"}, `the state "drifting"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.time.Trusted()
			if tt.contains == "" {
				if err != nil {
					t.Fatalf("Trusted=%v, want nil", err)
				}
				return
			}
			if got, want := station.ErrorCode(err), station.ECLOCK; got != want {
				t.Fatalf("ErrorCode=%q, want %q", got, want)
			}
			msg := station.ErrorMessage(err)
			if !strings.Contains(msg, tt.contains) || !strings.Contains(msg, "Commissioning is stopped") {
				t.Fatalf("ErrorMessage=%q, want the refusal containing %q", msg, tt.contains)
			}
		})
	}
}

func TestClockState_Worst(t *testing.T) {
	for _, tt := range []struct {
		states []station.ClockState
		want   station.ClockState
	}{
		{[]station.ClockState{station.ClockSynced}, station.ClockSynced},
		{[]station.ClockState{station.ClockSynced, station.ClockDegraded}, station.ClockDegraded},
		{[]station.ClockState{station.ClockDegraded, station.ClockUnsynced, station.ClockSynced}, station.ClockUnsynced},
		{[]station.ClockState{station.ClockSynced, ""}, ""},
	} {
		if got := tt.states[0].Worst(tt.states[1:]...); got != tt.want {
			t.Fatalf("%q.Worst(%q)=%q, want %q", tt.states[0], tt.states[1:], got, tt.want)
		}
	}
}
