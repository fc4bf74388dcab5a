package packml

import "github.com/linestation/linestation/station"

// The PackML state model (ISA-TR88.00.02; OPC 30050 transition tables):
// commands move the unit from a wait state into an acting state, and an acting
// state ends by itself (state complete, SC) in the next wait state.

// commandTarget is the acting state a command leads to from a state, and
// false when the command is not allowed there.
func commandTarget(from station.LineState, cmd station.LineCommand) (station.LineState, bool) {
	switch cmd {
	case station.LineCmdStart:
		if from == station.LineStateIdle {
			return station.LineStateStarting, true
		}
	case station.LineCmdHold:
		switch from {
		case station.LineStateExecute, station.LineStateStarting, station.LineStateSuspending,
			station.LineStateSuspended, station.LineStateUnsuspending, station.LineStateUnholding:
			return station.LineStateHolding, true
		}
	case station.LineCmdUnhold:
		if from == station.LineStateHeld {
			return station.LineStateUnholding, true
		}
	case station.LineCmdSuspend:
		if from == station.LineStateExecute {
			return station.LineStateSuspending, true
		}
	case station.LineCmdUnsuspend:
		if from == station.LineStateSuspended {
			return station.LineStateUnsuspending, true
		}
	case station.LineCmdComplete:
		if from == station.LineStateExecute {
			return station.LineStateCompleting, true
		}
	case station.LineCmdReset:
		if from == station.LineStateStopped || from == station.LineStateComplete {
			return station.LineStateResetting, true
		}
	case station.LineCmdStop:
		switch from {
		case station.LineStateClearing, station.LineStateStopped, station.LineStateStopping,
			station.LineStateAborting, station.LineStateAborted, station.LineStateUndefined:
			return 0, false
		}
		return station.LineStateStopping, true
	case station.LineCmdAbort:
		if from == station.LineStateAborting || from == station.LineStateAborted {
			return 0, false
		}
		return station.LineStateAborting, true
	case station.LineCmdClear:
		if from == station.LineStateAborted {
			return station.LineStateClearing, true
		}
	}
	return 0, false
}

// completes returns the wait state an acting state ends in, and false for
// wait states.
func completes(acting station.LineState) (station.LineState, bool) {
	switch acting {
	case station.LineStateStarting, station.LineStateUnholding, station.LineStateUnsuspending:
		return station.LineStateExecute, true
	case station.LineStateHolding:
		return station.LineStateHeld, true
	case station.LineStateSuspending:
		return station.LineStateSuspended, true
	case station.LineStateCompleting:
		return station.LineStateComplete, true
	case station.LineStateResetting:
		return station.LineStateIdle, true
	case station.LineStateStopping, station.LineStateClearing:
		return station.LineStateStopped, true
	case station.LineStateAborting:
		return station.LineStateAborted, true
	}
	return 0, false
}
