package epcis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/linestation/linestation/station"
)

// Sentinel errors that callers branch on. Decoders wrap them in a
// *DecodeError that says where.
var (
	// ErrDoctype: the XML has a DOCTYPE. EPCIS documents never need one, and
	// refusing it shuts out entity expansion (billion laughs) and external
	// entities.
	ErrDoctype = errors.New("XML DOCTYPE declarations are not allowed in EPCIS documents (entity expansion and external entities are refused)")
	// ErrTooDeep: elements or JSON values nest deeper than the limit.
	ErrTooDeep = errors.New("nesting is deeper than the limit")
	// ErrTooLarge: one token (text, a tag, a JSON string) or one event is
	// larger than the limit.
	ErrTooLarge = errors.New("a single token or event is larger than the limit")
	// ErrFormat: the input is not an EPCIS document of a known format.
	ErrFormat = errors.New("not an EPCIS 1.2 XML, 2.0 XML or 2.0 JSON-LD document")
)

// DecodeError says what is wrong in a document and where: the event (0 for
// the first, -1 for the header or the document outside the events), the
// path of the field, and the line (XML) or byte offset (JSON) when known.
type DecodeError struct {
	Event  int
	Path   string
	Line   int   // 1-based line number, 0 when unknown
	Offset int64 // byte offset, -1 when unknown
	Reason string
	Err    error // the underlying error, if any (e.g. ErrDoctype, ErrTooDeep)
}

// Error formats the finding, e.g.
// `event 3, ObjectEvent/action: "MOVE" is not ADD, OBSERVE or DELETE (line 42)`.
func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Event >= 0 {
		fmt.Fprintf(&b, "event %d", e.Event)
	} else {
		b.WriteString("document")
	}
	if e.Path != "" {
		b.WriteString(", " + e.Path)
	}
	b.WriteString(": " + e.Reason)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	} else if e.Offset >= 0 {
		fmt.Fprintf(&b, " (byte %d)", e.Offset)
	}
	return b.String()
}

// Unwrap returns the underlying error, if any, and an EINVALID station
// error, so that station.ErrorCode reports bad input.
func (e *DecodeError) Unwrap() []error {
	inv := station.Errorf(station.EINVALID, "%s", e.Error())
	if e.Err != nil {
		return []error{e.Err, inv}
	}
	return []error{inv}
}

// Problem is one validation finding: the event index (-1 for the header or
// document), the path of the field and the reason.
type Problem struct {
	Event  int
	Path   string
	Reason string
}

// String formats the problem like a DecodeError.
func (p Problem) String() string {
	where := "document"
	if p.Event >= 0 {
		where = fmt.Sprintf("event %d", p.Event)
	}
	if p.Path != "" {
		where += ", " + p.Path
	}
	return where + ": " + p.Reason
}

// UnrepresentableError says that a document or event cannot be written in a
// format without losing something, and names what.
type UnrepresentableError struct {
	Format Format
	Event  int // -1 for the header
	What   string
}

// Error names what would be lost.
func (e *UnrepresentableError) Error() string {
	where := "header"
	if e.Event >= 0 {
		where = fmt.Sprintf("event %d", e.Event)
	}
	return fmt.Sprintf("cannot write %s: %s: %s", e.Format.Title(), where, e.What)
}

// Unwrap makes the error an EINVALID station error.
func (e *UnrepresentableError) Unwrap() error {
	return station.Errorf(station.EINVALID, "%s", e.What)
}
