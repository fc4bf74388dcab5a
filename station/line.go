package station

import (
	"context"
	"strconv"
	"strings"
)

// Line is the packaging line's controller (the line PLC) as the station sees
// it: a PackML unit (ISA-TR88.00.02, OPC 30050) that reports its state, mode,
// production counters and stop reason, takes the PackML commands, and drives
// the reject gate that pushes a rejected pack off the line.
//
// Implementations keep the last known status and answer Status and Health
// without blocking; Command and Reject block at most until ctx is done.
type Line interface {
	HealthReporter

	// Status returns the last known status of the line. It never blocks; while
	// the PLC cannot be reached, Connected is false and the other fields keep
	// their last known values.
	Status() LineStatus

	// Watch delivers the current status at once, then a new status after every
	// change (state, mode, counters, stop reason, connection), in order. A
	// receiver that falls far behind loses intermediate statuses, never the
	// latest one. The channel is closed when ctx is done or the line is closed.
	Watch(ctx context.Context) <-chan LineStatus

	// Command sends a PackML command to the PLC and returns once the PLC has
	// accepted it; the state change follows through Status and Watch.
	// Errors: EINVALID (unknown command), ECONFLICT (the PLC refuses the command
	// in its current state), EDEVICE (the PLC is not connected, did not answer
	// before ctx was done, or failed the call).
	Command(ctx context.Context, cmd LineCommand) error

	// Reject tells the reject gate to remove the unit the station identifies by
	// unit (its serial or its tracking slot, as configured for the PLC), and
	// returns once the PLC has accepted the order.
	// Errors: EINVALID (empty id, or an id the PLC's reject tag cannot hold),
	// EDEVICE (the PLC is not connected, did not answer before ctx was done, or
	// failed the call).
	Reject(ctx context.Context, unit string) error
}

// LineStatus is one reading of the line PLC.
type LineStatus struct {
	Connected  bool           // the driver has a working session with the PLC
	State      LineState      // PackML state; LineStateUndefined until first read
	Mode       LineMode       // PackML unit mode
	Processed  int64          // ProdProcessedCount: packs the machine processed
	Defective  int64          // ProdDefectiveCount: packs the machine counted as defective
	StopReason LineStopReason // why the PLC last stopped, held or aborted; zero when none
}

// LineStopReason is the PLC's PackML StopReason (PackMLAlarmDataType ID and
// Message): the first fault that stopped, held or aborted the machine.
type LineStopReason struct {
	ID      int32  // machine-specific reason number; 0 means no reason
	Message string // the PLC's text for it, when it gives one
}

// IsZero reports whether the PLC gives no stop reason.
func (r LineStopReason) IsZero() bool { return r.ID == 0 && r.Message == "" }

// LineState is a PackML state number (OPC 30050 StateNumber, PackTags
// Status.StateCurrent).
type LineState int32

// PackML states.
const (
	LineStateUndefined    LineState = 0
	LineStateClearing     LineState = 1
	LineStateStopped      LineState = 2
	LineStateStarting     LineState = 3
	LineStateIdle         LineState = 4
	LineStateSuspended    LineState = 5
	LineStateExecute      LineState = 6
	LineStateStopping     LineState = 7
	LineStateAborting     LineState = 8
	LineStateAborted      LineState = 9
	LineStateHolding      LineState = 10
	LineStateHeld         LineState = 11
	LineStateUnholding    LineState = 12
	LineStateSuspending   LineState = 13
	LineStateUnsuspending LineState = 14
	LineStateResetting    LineState = 15
	LineStateCompleting   LineState = 16
	LineStateComplete     LineState = 17
)

var lineStateNames = [...]string{
	"Undefined", "Clearing", "Stopped", "Starting", "Idle", "Suspended", "Execute", "Stopping", "Aborting",
	"Aborted", "Holding", "Held", "Unholding", "Suspending", "Unsuspending", "Resetting", "Completing", "Complete",
}

// String returns the PackML name of the state, e.g. "Execute".
func (s LineState) String() string {
	if s.Valid() || s == LineStateUndefined {
		return lineStateNames[s]
	}
	return "LineState(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the 17 PackML states.
func (s LineState) Valid() bool { return s >= LineStateClearing && s <= LineStateComplete }

// ParseLineState returns the state with the given PackML name (any case), and
// false when there is none.
func ParseLineState(name string) (LineState, bool) {
	for i, n := range lineStateNames {
		if i > 0 && strings.EqualFold(n, strings.TrimSpace(name)) {
			return LineState(i), true
		}
	}
	return LineStateUndefined, false
}

// LineMode is a PackML unit mode (OPC 30050 ProductionMaintenanceModeEnum).
type LineMode int32

// PackML unit modes.
const (
	LineModeInvalid     LineMode = 0
	LineModeProduce     LineMode = 1
	LineModeMaintenance LineMode = 2
	LineModeManual      LineMode = 3
)

// String returns the PackML name of the mode, e.g. "Produce".
func (m LineMode) String() string {
	switch m {
	case LineModeInvalid:
		return "Invalid"
	case LineModeProduce:
		return "Produce"
	case LineModeMaintenance:
		return "Maintenance"
	case LineModeManual:
		return "Manual"
	}
	return "LineMode(" + strconv.Itoa(int(m)) + ")"
}

// LineCommand is a PackML command; the numbers are PackTags Command.CntrlCmd
// values, the names OPC 30050's method browse names.
type LineCommand int32

// PackML commands.
const (
	LineCmdReset     LineCommand = 1
	LineCmdStart     LineCommand = 2
	LineCmdStop      LineCommand = 3
	LineCmdHold      LineCommand = 4
	LineCmdUnhold    LineCommand = 5
	LineCmdSuspend   LineCommand = 6
	LineCmdUnsuspend LineCommand = 7
	LineCmdAbort     LineCommand = 8
	LineCmdClear     LineCommand = 9
	LineCmdComplete  LineCommand = 10
)

var lineCommandNames = [...]string{
	"", "Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear", "ToComplete",
}

// LineCommands lists every PackML command in CntrlCmd order.
func LineCommands() []LineCommand {
	return []LineCommand{LineCmdReset, LineCmdStart, LineCmdStop, LineCmdHold, LineCmdUnhold,
		LineCmdSuspend, LineCmdUnsuspend, LineCmdAbort, LineCmdClear, LineCmdComplete}
}

// String returns the command's OPC 30050 method name, e.g. "Start" or
// "ToComplete".
func (c LineCommand) String() string {
	if c.Valid() {
		return lineCommandNames[c]
	}
	return "LineCommand(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the ten PackML commands.
func (c LineCommand) Valid() bool { return c >= LineCmdReset && c <= LineCmdComplete }
