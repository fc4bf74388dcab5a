package station

import (
	"errors"
	"fmt"
)

// Error codes. They tell a caller what kind of failure happened so that it can
// decide what to do next; the message tells a person.
const (
	ECONFLICT     = "conflict"     // the action clashes with recorded state (duplicate serial, wrong state)
	EINTERNAL     = "internal"     // a bug or an unexpected failure below us
	EINVALID      = "invalid"      // bad input: a scan, a document, a config value
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	EDEVICE       = "device"       // a device is offline, faulted or answered wrongly
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials, or the role may not do this
	ECLOCK        = "clock"        // time cannot be trusted, so the action is refused
	EUNAVAILABLE  = "unavailable"  // a peer (central, storage) cannot be reached now
)

// Error is a domain error with a code and a message that is safe to show to
// an operator. Messages say what is wrong and, where it helps, what to do next.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the operator-safe message of the first *Error in err's
// chain, or a generic message for anything else (whose details belong in the
// log, not on the screen).
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error: call the line supervisor or IT; details are in the station log."
}
