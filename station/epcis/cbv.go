package epcis

import (
	"sort"
	"strings"
)

// cbvList is one CBV code list: its URN prefix, the stem of its web URIs and
// its short names (sorted, from cbv_gen.go).
type cbvList struct {
	what  string // for messages, e.g. "business step"
	urn   string // "urn:epcglobal:cbv:bizstep:"; "" when the list has no URN form
	web   string // "https://ref.gs1.org/cbv/BizStep-"
	names []string
}

const cbvWeb = "https://ref.gs1.org/cbv/"

var (
	cbvBizStep     = cbvList{"business step", "urn:epcglobal:cbv:bizstep:", cbvWeb + "BizStep-", bizStepNames[:]}
	cbvDisposition = cbvList{"disposition", "urn:epcglobal:cbv:disp:", cbvWeb + "Disp-", dispositionNames[:]}
	cbvBTT         = cbvList{"business transaction type", "urn:epcglobal:cbv:btt:", cbvWeb + "BTT-", bizTransactionTypeNames[:]}
	cbvSDT         = cbvList{"source/destination type", "urn:epcglobal:cbv:sdt:", cbvWeb + "SDT-", sourceDestTypeNames[:]}
	cbvER          = cbvList{"error reason", "urn:epcglobal:cbv:er:", cbvWeb + "ER-", errorReasonNames[:]}
	cbvComponent   = cbvList{"sensor component", "", cbvWeb + "Comp-", componentNames[:]}
	// Measurement types and sensor alert types are GS1 Web Vocabulary terms,
	// written "gs1:Temperature" in the model and XML.
	cbvMeasurement = cbvList{"measurement type", "gs1:", "https://gs1.org/voc/", measurementTypeNames[:]}
	cbvAlert       = cbvList{"sensor alert type", "gs1:", "https://gs1.org/voc/", sensorAlertTypeNames[:]}
)

func (l *cbvList) has(name string) bool {
	i := sort.SearchStrings(l.names, name)
	return i < len(l.names) && l.names[i] == name
}

// short returns the short name of a standard value in any of its forms
// (URN, web URI, short name), and whether v is one.
func (l *cbvList) short(v string) (string, bool) {
	var name string
	switch {
	case l.urn != "" && strings.HasPrefix(v, l.urn):
		name = v[len(l.urn):]
	case strings.HasPrefix(v, l.web):
		name = v[len(l.web):]
	default:
		name = v
	}
	return name, l.has(name)
}

// canonical returns the model's form of v: the URN (or "gs1:" term) of a
// standard value given in any form, the web URI for lists without URN form,
// and v itself otherwise.
func (l *cbvList) canonical(v string) string {
	name, ok := l.short(v)
	if !ok {
		return v
	}
	if l.urn != "" {
		return l.urn + name
	}
	return l.web + name
}

// jsonForm returns the JSON-LD form of a model value: the short name of a
// standard value, and v itself otherwise.
func (l *cbvList) jsonForm(v string) string {
	if name, ok := l.short(v); ok && (l.urn == "" || strings.HasPrefix(v, l.urn) || strings.HasPrefix(v, l.web)) {
		return name
	}
	return v
}

// webURI returns the web URI of a standard value, for event hashes; other
// values come back unchanged.
func (l *cbvList) webURI(v string) string {
	if l.urn != "" && strings.HasPrefix(v, l.urn) {
		if name := v[len(l.urn):]; l.has(name) {
			return l.web + name
		}
	}
	return v
}

// inNamespace reports whether v claims to be a value of the list (it uses
// the list's URN prefix or web stem), standard or not.
func (l *cbvList) inNamespace(v string) bool {
	return l.urn != "" && l.urn != "gs1:" && strings.HasPrefix(v, l.urn) || strings.HasPrefix(v, l.web) && l.web != "https://gs1.org/voc/"
}

// Short returns the CBV short name of a standard business step ("shipping"),
// and false for any other value.
func (b BizStep) Short() (string, bool) { return cbvBizStep.short(string(b)) }

// Short returns the CBV short name of a standard disposition ("in_transit"),
// and false for any other value.
func (d Disposition) Short() (string, bool) { return cbvDisposition.short(string(d)) }

// Short returns the CBV short name of a standard business transaction type,
// and false for any other value.
func (t BizTransactionType) Short() (string, bool) { return cbvBTT.short(string(t)) }

// Short returns the CBV short name of a standard source/destination type,
// and false for any other value.
func (t SourceDestType) Short() (string, bool) { return cbvSDT.short(string(t)) }

// Short returns the CBV short name of a standard error reason, and false for
// any other value.
func (r ErrorReason) Short() (string, bool) { return cbvER.short(string(r)) }
