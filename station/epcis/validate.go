package epcis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/linestation/linestation/station/gs1"
)

// MaxProblems is how many problems Validate reports before it stops.
const MaxProblems = 100

// Report is the outcome of validating a document.
type Report struct {
	Format Format
	Header *Header
	Events int
	// ByType counts the events of each type.
	ByType map[EventType]int
	// Problems lists what is wrong, in document order; empty when valid.
	Problems []Problem
}

// Valid reports whether the document has no problems.
func (r *Report) Valid() bool { return len(r.Problems) == 0 }

// Summary returns a one-line summary, e.g.
// "EPCIS 1.2 XML, 8 events: 4 ObjectEvent, 4 AggregationEvent".
func (r *Report) Summary() string {
	var parts []string
	for _, t := range []EventType{ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent} {
		if n := r.ByType[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	other := 0
	for t, n := range r.ByType {
		if !t.Standard() {
			other += n
		}
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d user-defined", other))
	}
	s := fmt.Sprintf("%s, %d events", r.Format.Title(), r.Events)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// Validate reads a whole document in bounded memory and checks it as the
// XSD or JSON schema of its format would, plus what the schemas leave as
// plain strings: CBV code lists, EPC URI syntax and check digits (through
// station/gs1), time formats and per-type rules. A document that cannot be
// decoded ends with its decoding problem. The error is for reading failures
// and a cancelled ctx only.
func Validate(ctx context.Context, r io.Reader, opts *ReaderOptions) (*Report, error) {
	rep := &Report{ByType: map[EventType]int{}}
	rd, err := NewReader(r, opts)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			rep.Problems = append(rep.Problems, Problem{Event: de.Event, Path: de.Path, Reason: de.Reason + where(de)})
			return rep, nil
		}
		return nil, fmt.Errorf("validate: %w", err)
	}
	rep.Format = rd.Format()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("validate: %w", err)
		}
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				rep.Problems = append(rep.Problems, Problem{Event: de.Event, Path: de.Path, Reason: de.Reason + where(de)})
				break
			}
			return nil, fmt.Errorf("validate: %w", err)
		}
		idx := rep.Events
		rep.Events++
		rep.ByType[e.Type]++
		for _, p := range e.Validate(rep.Format) {
			p.Event = idx
			if len(rep.Problems) < MaxProblems {
				rep.Problems = append(rep.Problems, p)
			}
		}
	}
	rep.Header = rd.Header()
	rep.Problems = append(rep.Problems, rep.Header.Validate(rep.Format)...)
	return rep, nil
}

func where(de *DecodeError) string {
	if de.Line > 0 {
		return fmt.Sprintf(" (line %d)", de.Line)
	}
	if de.Offset > 0 {
		return fmt.Sprintf(" (byte %d)", de.Offset)
	}
	return ""
}

// Validate checks the header; problems have Event -1.
func (h *Header) Validate(f Format) []Problem {
	var out []Problem
	bad := func(path, format string, args ...any) {
		out = append(out, Problem{Event: -1, Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	if h.CreationDate.IsZero() && f != FormatJSONLD20 {
		bad("creationDate", "creationDate is required")
	}
	if s := h.SBDH; s != nil && f != FormatJSONLD20 {
		if len(s.Sender) == 0 || len(s.Receiver) == 0 {
			bad("sbdh", "the Standard Business Document Header needs a Sender and a Receiver")
		}
		if s.InstanceIdentifier == "" {
			bad("sbdh/DocumentIdentification/InstanceIdentifier", "the document's InstanceIdentifier is required")
		}
	}
	for i, v := range h.MasterData {
		path := fmt.Sprintf("masterData/vocabulary[%d]", i)
		if !isURI(v.Type) {
			bad(path+"/type", "vocabulary type %q is not a URI", v.Type)
		}
		for k, ve := range v.Elements {
			if !isURI(ve.ID) {
				bad(fmt.Sprintf("%s/element[%d]/id", path, k), "vocabulary element id %q is not a URI", ve.ID)
			}
			for _, a := range ve.Attributes {
				if !isURI(a.ID) {
					bad(fmt.Sprintf("%s/element[%d]/attribute", path, k), "attribute id %q is not a URI", a.ID)
				}
			}
		}
	}
	if ts, ok := h.TransactionStatement(); ok && !ts.Affirm {
		bad("gs1ushc:dscsaTransactionStatement", "the DSCSA transaction statement is present but not affirmed")
	}
	return out
}

var (
	tzOffset = regexp.MustCompile(`^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$`)
	uomCode  = regexp.MustCompile(`^[A-Z0-9]{2,3}$`)
	hexBin   = regexp.MustCompile(`^[A-Fa-f0-9]+$`)
	uriStart = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$`)
)

// isURI reports whether s is an absolute URI (scheme ":" something, no
// spaces or control characters).
func isURI(s string) bool {
	if !uriStart.MatchString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// checkEPC returns what is wrong with an EPC or other identifier URI, ""
// when it is fine. EPC pure identity URIs of the GS1 keys that DSCSA uses
// are checked in full (company prefix, check digits, CSET 82) by station/gs1.
func checkEPC(s string, class bool) string {
	if !isURI(s) {
		return fmt.Sprintf("%q is not a URI", s)
	}
	if strings.HasPrefix(s, "urn:epc:") {
		parsable := []string{"urn:epc:id:sgtin:", "urn:epc:id:sscc:", "urn:epc:id:sgln:", "urn:epc:class:lgtin:", "urn:epc:idpat:sgtin:"}
		for _, p := range parsable {
			if strings.HasPrefix(s, p) {
				if _, err := (gs1.Options{NoAssociations: true}).ParseEPCURI(s); err != nil {
					return fmt.Sprintf("%q is not a valid EPC URI: %v", s, err)
				}
				return ""
			}
		}
		if !strings.HasPrefix(s, "urn:epc:id:") && !strings.HasPrefix(s, "urn:epc:class:") && !strings.HasPrefix(s, "urn:epc:idpat:") {
			return fmt.Sprintf("%q is not an EPC URI (urn:epc:id:..., urn:epc:class:... or urn:epc:idpat:...)", s)
		}
		if _, ok := epcToDL(s); !ok && strings.HasPrefix(s, "urn:epc:id:") && knownEPCScheme(s) {
			return fmt.Sprintf("%q is not a valid EPC URI of its scheme", s)
		}
		return ""
	}
	if strings.HasPrefix(s, "https://id.gs1.org/") {
		if _, err := (gs1.Options{NoAssociations: true}).ParseDigitalLink(s); err != nil {
			return fmt.Sprintf("%q is not a valid GS1 Digital Link URI: %v", s, err)
		}
	}
	return ""
}

func knownEPCScheme(s string) bool {
	for _, k := range []string{"pgln", "grai", "giai", "gsrn", "gsrnp", "gdti", "sgcn", "ginc", "gsin", "cpi", "itip"} {
		if strings.HasPrefix(s, "urn:epc:id:"+k+":") {
			return true
		}
	}
	return false
}

// Validate checks one event the way the EPCIS schemas do, plus CBV code
// lists and EPC URI syntax. Problems carry the path; the caller sets Event.
func (e *Event) Validate(f Format) []Problem {
	var out []Problem
	bad := func(path, format string, args ...any) {
		out = append(out, Problem{Path: string(e.Type) + "/" + path, Reason: fmt.Sprintf(format, args...)})
	}
	if !e.Type.Standard() {
		if f != FormatJSONLD20 || !isURI(string(e.Type)) {
			bad("type", "%q is not an event type (ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent, or a user-defined type URI)", e.Type)
		}
	} else if msg := e.fieldsFitType(); msg != "" {
		bad("type", "%s", msg)
	}
	if e.EventTime.IsZero() {
		bad("eventTime", "eventTime is required")
	}
	if !tzOffset.MatchString(e.EventTimeZoneOffset) {
		bad("eventTimeZoneOffset", "%q is not an offset such as +01:00 or -05:00", e.EventTimeZoneOffset)
	}
	if e.EventID != "" && !isURI(e.EventID) {
		bad("eventID", "%q is not a URI", e.EventID)
	}
	for _, c := range e.CertificationInfo {
		if !isURI(c) {
			bad("certificationInfo", "%q is not a URI", c)
		}
	}
	if ed := e.ErrorDeclaration; ed != nil {
		if ed.DeclarationTime.IsZero() {
			bad("errorDeclaration/declarationTime", "declarationTime is required")
		}
		checkCBV(bad, "errorDeclaration/reason", string(ed.Reason), &cbvER)
		for _, id := range ed.CorrectiveEventIDs {
			if !isURI(id) {
				bad("errorDeclaration/correctiveEventIDs", "%q is not a URI", id)
			}
		}
	}
	epcs := func(name string, list []string) {
		seen := make(map[string]bool, len(list))
		for i, s := range list {
			if msg := checkEPC(s, false); msg != "" {
				bad(fmt.Sprintf("%s[%d]", name, i), "%s", msg)
			}
			if seen[s] {
				bad(fmt.Sprintf("%s[%d]", name, i), "%s repeats %s", name, s)
			}
			seen[s] = true
		}
	}
	epcs("epcList", e.EPCList)
	epcs("childEPCs", e.ChildEPCs)
	epcs("inputEPCList", e.InputEPCList)
	epcs("outputEPCList", e.OutputEPCList)
	quantities := func(name string, list []Quantity) {
		for i, q := range list {
			path := fmt.Sprintf("%s[%d]", name, i)
			if q.EPCClass == "" {
				bad(path+"/epcClass", "epcClass is required")
			} else if msg := checkEPC(q.EPCClass, true); msg != "" {
				bad(path+"/epcClass", "%s", msg)
			}
			if q.UOM != "" && !uomCode.MatchString(q.UOM) {
				bad(path+"/uom", "%q is not a UN/ECE Rec. 20 unit code (2 or 3 capital letters or digits)", q.UOM)
			}
			if q.UOM != "" && !q.HasQuantity {
				bad(path+"/uom", "uom needs a quantity")
			}
		}
	}
	quantities("quantityList", e.QuantityList)
	quantities("childQuantityList", e.ChildQuantityList)
	quantities("inputQuantityList", e.InputQuantityList)
	quantities("outputQuantityList", e.OutputQuantityList)
	if e.ParentID != "" {
		if msg := checkEPC(e.ParentID, false); msg != "" {
			bad("parentID", "%s", msg)
		}
	}
	if e.TransformationID != "" && !isURI(e.TransformationID) {
		bad("transformationID", "%q is not a URI", e.TransformationID)
	}
	switch e.Type {
	case TransformationEvent:
		if len(e.InputEPCList)+len(e.InputQuantityList)+len(e.OutputEPCList)+len(e.OutputQuantityList) == 0 && e.TransformationID == "" {
			bad("inputEPCList", "a TransformationEvent needs inputs, outputs or a transformationID")
		}
	case ObjectEvent, AggregationEvent, TransactionEvent, AssociationEvent:
		switch e.Action {
		case ActionAdd, ActionObserve, ActionDelete:
		case "":
			bad("action", "action is required")
		default:
			bad("action", "%q is not ADD, OBSERVE or DELETE", e.Action)
		}
	}
	switch e.Type {
	case ObjectEvent:
		if len(e.ILMD) > 0 && e.Action != ActionAdd {
			bad("ilmd", "ilmd is only allowed with action ADD (objects are created here)")
		}
	case AggregationEvent:
		if e.ParentID == "" && (e.Action == ActionAdd || e.Action == ActionDelete) {
			bad("parentID", "parentID is required for action %s", e.Action)
		}
	case TransactionEvent:
		if len(e.BizTransactionList) == 0 {
			bad("bizTransactionList", "a TransactionEvent needs a bizTransactionList")
		}
	case AssociationEvent:
		if e.ParentID == "" {
			bad("parentID", "an AssociationEvent needs a parentID")
		}
	}
	checkCBV(bad, "bizStep", string(e.BizStep), &cbvBizStep)
	checkCBV(bad, "disposition", string(e.Disposition), &cbvDisposition)
	if pd := e.PersistentDisposition; pd != nil {
		if len(pd.Set)+len(pd.Unset) == 0 {
			bad("persistentDisposition", "persistentDisposition needs set or unset")
		}
		for _, d := range append(append([]Disposition(nil), pd.Set...), pd.Unset...) {
			checkCBV(bad, "persistentDisposition", string(d), &cbvDisposition)
		}
	}
	for _, p := range e.places() {
		if p.pl == nil {
			continue
		}
		if p.pl.ID == "" {
			bad(p.name+"/id", "id is required")
		} else if msg := checkEPC(p.pl.ID, false); msg != "" {
			bad(p.name+"/id", "%s", msg)
		}
	}
	for i, bt := range e.BizTransactionList {
		path := fmt.Sprintf("bizTransactionList[%d]", i)
		if !isURI(bt.Value) {
			bad(path, "business transaction %q is not a URI", bt.Value)
		}
		checkCBV(bad, path+"/type", string(bt.Type), &cbvBTT)
	}
	sd := func(name string, list []SourceDest) {
		for i, s := range list {
			path := fmt.Sprintf("%s[%d]", name, i)
			if s.Type == "" {
				bad(path+"/type", "type is required")
			}
			checkCBV(bad, path+"/type", string(s.Type), &cbvSDT)
			if msg := checkEPC(s.Value, false); msg != "" {
				bad(path, "%s", msg)
			}
		}
	}
	sd("sourceList", e.SourceList)
	sd("destinationList", e.DestinationList)
	for i, se := range e.SensorElementList {
		path := fmt.Sprintf("sensorElementList[%d]", i)
		if len(se.Reports) == 0 {
			bad(path+"/sensorReport", "a sensor element needs at least one sensorReport")
		}
		for k, r := range se.Reports {
			rpath := fmt.Sprintf("%s/sensorReport[%d]", path, k)
			if r.Type == "" && f == FormatJSONLD20 {
				bad(rpath+"/type", "type is required")
			}
			if r.Type != "" {
				if _, ok := cbvMeasurement.short(r.Type); !ok && !isURI(r.Type) {
					bad(rpath+"/type", "%q is neither a GS1 measurement type nor a URI", r.Type)
				}
			}
			if r.HexBinaryValue != "" && !hexBin.MatchString(r.HexBinaryValue) {
				bad(rpath+"/hexBinaryValue", "%q is not hexadecimal", r.HexBinaryValue)
			}
		}
	}
	for i, el := range e.ILMD {
		if el.Space == "" {
			bad(fmt.Sprintf("ilmd[%d]", i), "ILMD element %s needs a namespace", el.Local)
		}
	}
	for _, el := range e.Extensions {
		if el.Space == "" && f != FormatXML12 {
			bad(el.Local, "user extension %s needs a namespace", el.Local)
		}
	}
	return out
}

// checkCBV reports a value that claims a CBV code list's namespace but is
// not in it, or that is not a URI at all.
func checkCBV(bad func(string, string, ...any), path, v string, l *cbvList) {
	if v == "" {
		return
	}
	if _, ok := l.short(v); ok {
		return
	}
	if l.inNamespace(v) {
		bad(path, "%q is not a CBV %s (known: %s)", v, l.what, strings.Join(l.names, ", "))
		return
	}
	if !isURI(v) {
		bad(path, "%q is neither a CBV %s nor a URI", v, l.what)
	}
}
