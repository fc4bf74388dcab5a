package station_test

import (
	"testing"

	"github.com/linestation/linestation/station"
)

// The numbers and names are PackML's (DOMAIN.md section 6, OPC 30050).
func TestLineState_String(t *testing.T) {
	names := []string{"Clearing", "Stopped", "Starting", "Idle", "Suspended", "Execute", "Stopping", "Aborting",
		"Aborted", "Holding", "Held", "Unholding", "Suspending", "Unsuspending", "Resetting", "Completing", "Complete"}
	for i, name := range names {
		s := station.LineState(i + 1)
		if got := s.String(); got != name {
			t.Fatalf("LineState(%d)=%q, want %q", i+1, got, name)
		}
		if got, ok := station.ParseLineState(name); !ok || got != s {
			t.Fatalf("ParseLineState(%q)=%v, %v, want %v", name, got, ok, s)
		}
		if !s.Valid() {
			t.Fatalf("%v not valid", s)
		}
	}
	if got, ok := station.ParseLineState(" held "); !ok || got != station.LineStateHeld {
		t.Fatalf("ParseLineState(\" held \")=%v, %v, want Held", got, ok)
	}
	for _, bad := range []string{"", "Undefined", "Running"} {
		if _, ok := station.ParseLineState(bad); ok {
			t.Fatalf("ParseLineState(%q) ok, want false", bad)
		}
	}
	if got := station.LineState(18).String(); got != "LineState(18)" || station.LineState(18).Valid() {
		t.Fatalf("LineState(18)=%q, want LineState(18) and invalid", got)
	}
}

func TestLineCommand_String(t *testing.T) {
	want := []string{"Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear", "ToComplete"}
	cmds := station.LineCommands()
	if len(cmds) != len(want) {
		t.Fatalf("LineCommands() has %d, want %d", len(cmds), len(want))
	}
	for i, c := range cmds {
		if int(c) != i+1 || c.String() != want[i] || !c.Valid() {
			t.Fatalf("command %d=%d %q, want %d %q", i, c, c, i+1, want[i])
		}
	}
	if station.LineCommand(0).Valid() || station.LineCommand(11).Valid() {
		t.Fatal("0 or 11 valid as a command")
	}
	if got := station.LineModeManual.String(); got != "Manual" {
		t.Fatalf("LineModeManual=%q", got)
	}
}
