package station

import (
	"context"
	"fmt"
	"time"
)

// The line devices the station drives, as the domain sees them.
//
// How a serialization line uses them, unit by unit:
//
//  1. The station takes serial N from its pool and queues its code on the
//     Coder (Queue). A coder holds a few codes ahead of the product (queue
//     mode) or exactly one (armed mode, Queue one code at a time and wait for
//     its acknowledgement).
//  2. A carton passes the coder's product detector; the coder prints the next
//     queued code and acknowledges it with the unit's serial (Printed). Only
//     an acknowledged serial is "printed": a queued code that was never
//     acknowledged was not put on a pack, whatever the station sent.
//  3. Downstream, the carton passes the vision Camera, which reads the code
//     and grades it (Read). Between the coder and the camera there are a
//     known number of cartons in flight, in order.
//  4. The station matches each camera result to the oldest acknowledged,
//     not yet verified serial: the data read must carry that serial, with the
//     expected GTIN, lot and expiry, from a GS1 symbol (]d2) with an ISO/IEC
//     15415 grade at or above the order's minimum. A match is commissioned;
//     a no-read, a wrong or unexpected code, a duplicate (a serial already
//     verified) or a low grade is rejected at the reject gate, with that
//     reason, and its serial is never reused.
//  5. Cases and pallets get labels from the Printer: Print returns only once
//     the printer confirmed the label; an operator or a case-packing station
//     checks them with the handheld Scanner.
//
// A device that is offline or faulted returns an *Error with code EDEVICE
// (message for the operator) and shows it in its Health; the station holds
// the line until every device it needs reports DeviceConnected again.

// Label is one label to print: a template with its field values.
type Label struct {
	// Template names a label template of assets/labels without its
	// extension, e.g. "unit" or "case".
	Template string
	// Serial is what makes this label unique (the AI 21 serial or the SSCC);
	// drivers use it in logs and in acknowledgements.
	Serial string
	// Data is the GS1 element string of the label's 2D symbol in FNC1 form:
	// AIs and values run together, a GS (0x1D) after each variable-length
	// value that is followed by another element, no leading FNC1 or GS.
	Data string
	// Fields holds the template's other values by name: human-readable text
	// ("gtin", "lot", "expiry", "serial", "sscc", "product", ...) and the
	// data of linear symbols. A template that names a field missing here is
	// an EINVALID error.
	Fields map[string]string
}

// PrinterStatus is what a label printer reports about itself.
type PrinterStatus struct {
	Paused    bool // paused at the printer (or by a command); labels wait
	HeadOpen  bool // print head up or open
	PaperOut  bool // out of labels (media out)
	RibbonOut bool // out of thermal-transfer ribbon
	// Formats is the number of label formats received and not yet printed.
	Formats int
	// Partial is true while a label format is only partly received.
	Partial bool
	// LabelsRemaining is the number of labels of the current batch still to print.
	LabelsRemaining int
}

// Ready reports whether the printer can print now: no fault, not paused.
func (s PrinterStatus) Ready() bool {
	return !s.Paused && !s.HeadOpen && !s.PaperOut && !s.RibbonOut
}

// Idle reports whether everything sent has been printed.
func (s PrinterStatus) Idle() bool {
	return s.Formats == 0 && !s.Partial && s.LabelsRemaining == 0
}

// Reason says in an operator's words why the printer is not ready, or ""
// when it is.
func (s PrinterStatus) Reason() string {
	switch {
	case s.HeadOpen:
		return "print head is open: close it"
	case s.PaperOut:
		return "out of labels: load labels"
	case s.RibbonOut:
		return "out of ribbon: load ribbon"
	case s.Paused:
		return "paused: press pause on the printer to resume"
	}
	return ""
}

// Printer prints labels and confirms them.
type Printer interface {
	HealthReporter
	// Print sends l to the printer and returns once the printer confirmed
	// that it printed it (a status answer showing nothing left to print and
	// no fault), not merely once the bytes were sent.
	// Errors: EINVALID when the label cannot be built (unknown template,
	// missing field, data the symbol cannot carry); EDEVICE when the printer
	// is offline, paused or faulted before printing, faults while printing,
	// or does not confirm before ctx is done.
	Print(ctx context.Context, l Label) error
	// Status asks the printer for its state.
	// Errors: EDEVICE when it does not answer or answers garbage.
	Status(ctx context.Context) (PrinterStatus, error)
}

// UnitCode is one unit's code for the coder: what to mark on one carton.
type UnitCode struct {
	// Serial is the unit's serial (AI 21); the coder's print acknowledgement
	// carries it back.
	Serial string
	// Data is the GS1 element string of the unit's DataMatrix in FNC1 form
	// (see Label.Data).
	Data string
	// Fields holds the human-readable text lines of the coder's template by
	// name ("gtin", "lot", "expiry", "serial").
	Fields map[string]string
}

// CoderAck is the coder's acknowledgement that it printed one unit.
type CoderAck struct {
	Serial string    // the serial of the unit printed
	Count  uint64    // the coder's print counter after this unit
	At     time.Time // when the driver received the acknowledgement (station clock, UTC)
}

// CoderStatus is what a unit coder reports about itself.
type CoderStatus struct {
	Template string // the template selected
	Queued   int    // codes queued and not yet printed
	Armed    bool   // the coder will print the next queued code on the next product detect
	Fault    string // fault code ("" when none), e.g. "INK_LOW", "HEAD_FAULT"
	Reason   string // the coder's text for the fault
	Count    uint64 // units printed since the coder started
}

// Coder marks unit codes on cartons (TIJ, CIJ, thermal transfer overprinter).
type Coder interface {
	HealthReporter
	// Select loads the named coder template (its layout) and clears the queue.
	// Errors: ENOTFOUND when the coder has no such template; EDEVICE when the
	// coder is offline or faulted.
	Select(ctx context.Context, template string) error
	// Queue appends codes, in order, to the codes the coder prints on the
	// next units. Queue one code at a time and wait for its acknowledgement
	// to run the coder armed one unit at a time.
	// Errors: EINVALID for a code the coder refuses (bad field, too long);
	// ECONFLICT when its queue is full; EDEVICE when offline or faulted.
	Queue(ctx context.Context, codes ...UnitCode) error
	// Printed blocks until the coder acknowledges the next printed unit and
	// returns that acknowledgement, in print order.
	// Errors: EDEVICE when the coder reports a fault (the message names it)
	// or the connection is lost; ctx.Err() when ctx is done first.
	Printed(ctx context.Context) (CoderAck, error)
	// Status asks the coder for its state.
	// Errors: EDEVICE when it does not answer.
	Status(ctx context.Context) (CoderStatus, error)
}

// Grade is an ISO/IEC 15415 overall symbol grade, 4.0 (A) to 0.0 (F).
type Grade float64

// NoGrade is the grade of a read that was not graded.
const NoGrade Grade = -1

// Letter returns the letter grade: A (3.5 and above), B (2.5), C (1.5),
// D (0.5), F, or "-" for NoGrade.
func (g Grade) Letter() string {
	switch {
	case g < 0:
		return "-"
	case g >= 3.5:
		return "A"
	case g >= 2.5:
		return "B"
	case g >= 1.5:
		return "C"
	case g >= 0.5:
		return "D"
	}
	return "F"
}

// String returns the grade as "3.5 (A)".
func (g Grade) String() string {
	if g < 0 {
		return "ungraded"
	}
	return fmt.Sprintf("%.1f (%s)", float64(g), g.Letter())
}

// CameraRead is one result of the vision camera: a decoded symbol or a no-read.
type CameraRead struct {
	// Trigger is the camera's trigger number for this result; consecutive
	// results have consecutive numbers unless results were lost.
	Trigger uint64
	// NoRead is true when the camera found no readable symbol; Data,
	// Symbology and Grade are then empty.
	NoRead bool
	// Symbology is the AIM symbology identifier: "]d2" GS1 DataMatrix,
	// "]d1" DataMatrix without FNC1 (a wrongly encoded GS1 code), "]C1" GS1-128.
	Symbology string
	// Data is the decoded data with GS separators kept and no leading FNC1
	// or AIM identifier.
	Data string
	// Grade is the overall ISO/IEC 15415 grade, or NoGrade.
	Grade Grade
	// At is when the driver received the result (station clock, UTC).
	At time.Time
	// Received is when the driver read the result off its connection, from
	// time.Now with its monotonic clock reading: what time.Since measures
	// the handling of the result from, including any time it waited in the
	// driver before Read returned it. It is not station time (see At) and
	// is not recorded. Zero when the driver does not know.
	Received time.Time
}

// Camera is a vision reader (verifier) downstream of the coder.
type Camera interface {
	HealthReporter
	// Read blocks until the camera reports its next result and returns it; a
	// no-read is a result (NoRead), not an error.
	// Errors: EDEVICE when the result is garbled or the camera is offline
	// and cannot be reached again; ctx.Err() when ctx is done first.
	Read(ctx context.Context) (CameraRead, error)
}

// Scan is one frame from a handheld scanner.
type Scan struct {
	// Symbology is the AIM symbology identifier ("]d2", "]C1", "]Q3", ...),
	// or "" when the scanner sends none.
	Symbology string
	// Data is the scanned data with GS separators kept, without the AIM
	// identifier and the suffix.
	Data string
	// Raw is the frame exactly as received, suffix excluded.
	Raw []byte
	// Problem is empty for a good frame; for a partial or garbled one it says
	// what is wrong ("frame not terminated within 100ms", "non-printable
	// byte 0x07 at offset 12", "no AIM symbology identifier").
	Problem string
	// At is when the frame was complete (station clock, UTC).
	At time.Time
}

// Scanner is a handheld barcode scanner in serial (or USB-CDC) mode.
type Scanner interface {
	HealthReporter
	// Scan blocks until the next frame. A partial or garbled frame is
	// returned with Problem set together with an EINVALID error, so that the
	// operator is asked to scan again and nothing is guessed.
	// Errors: EINVALID for such a frame; EDEVICE when the scanner is gone and
	// cannot be reopened; ctx.Err() when ctx is done first.
	Scan(ctx context.Context) (Scan, error)
}
