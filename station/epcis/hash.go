package epcis

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HashVersion is the version of the event hash algorithm: that of CBV 2.0.
const HashVersion = "CBV2.0"

// Hash returns the event's canonical event hash ID of CBV 2.0 (section
// "EPCIS event hash ID"): ni:///sha-256;<hex>?ver=CBV2.0. Two
// serialisations of the same event (XML or JSON-LD, any element order,
// prefixes, time zone or URN/Digital Link spelling) have the same hash, so
// it serves to deduplicate events and as an eventID.
func (e *Event) Hash() string {
	sum := sha256.Sum256([]byte(e.PreHash()))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=" + HashVersion
}

// PreHash returns the canonical string the event hash is computed from.
//
// The fields come in the canonical property order of CBV 2.0, each as
// name=value with no separators; list items and the members of extension
// elements are sorted; times are UTC with milliseconds; numbers lose
// trailing zeros; CBV URNs become their web URIs and EPC URIs their
// canonical GS1 Digital Link URIs; eventID, recordTime, errorDeclaration
// and (new in CBV 2.1) certificationInfo are left out. Where the standard's
// text leaves room, this follows the outputs of the GS1 reference
// implementation (github.com/RalphTro/epcis-event-hash-generator): a
// business transaction, source or destination is written type first; sensor
// elements are listed without their list's name; ILMD, user extensions and
// the extension attributes of sensor data follow the standard fields,
// sorted together. One known difference: the compact URI "gs1:X" expands to
// https://gs1.org/voc/X as the CBV says.
func (e *Event) PreHash() string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("eventType=")
	b.WriteString(string(e.Type))
	kv := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	list := func(name, item string, vals []string) {
		if len(vals) == 0 {
			return
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = item + "=" + canonValue(v)
		}
		sort.Strings(parts)
		b.WriteString(name)
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	quantities := func(name string, qs []Quantity) {
		if len(qs) == 0 {
			return
		}
		parts := make([]string, len(qs))
		for i, q := range qs {
			s := "quantityElementepcClass=" + canonValue(q.EPCClass)
			if q.HasQuantity {
				s += "quantity=" + canonNumber(q.Quantity)
			}
			if q.UOM != "" {
				s += "uom=" + canonValue(q.UOM)
			}
			parts[i] = s
		}
		sort.Strings(parts)
		b.WriteString(name)
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	kv("eventTime", canonTime(e.EventTime))
	kv("eventTimeZoneOffset", strings.TrimSpace(e.EventTimeZoneOffset))
	list("epcList", "epc", e.EPCList)
	kv("parentID", canonValue(e.ParentID))
	list("inputEPCList", "epc", e.InputEPCList)
	list("childEPCs", "epc", e.ChildEPCs)
	quantities("quantityList", e.QuantityList)
	quantities("childQuantityList", e.ChildQuantityList)
	quantities("inputQuantityList", e.InputQuantityList)
	list("outputEPCList", "epc", e.OutputEPCList)
	quantities("outputQuantityList", e.OutputQuantityList)
	kv("action", string(e.Action))
	kv("transformationID", canonValue(e.TransformationID))
	kv("bizStep", canonValue(string(e.BizStep)))
	kv("disposition", canonValue(string(e.Disposition)))
	if pd := e.PersistentDisposition; pd != nil && len(pd.Set)+len(pd.Unset) > 0 {
		b.WriteString("persistentDisposition")
		for _, part := range []struct {
			k    string
			list []Disposition
		}{{"set", pd.Set}, {"unset", pd.Unset}} {
			vals := make([]string, len(part.list))
			for i, d := range part.list {
				vals[i] = part.k + "=" + canonValue(string(d))
			}
			sort.Strings(vals)
			for _, v := range vals {
				b.WriteString(v)
			}
		}
	}
	for _, p := range e.places() {
		if p.pl == nil || p.pl.ID == "" {
			continue
		}
		b.WriteString(p.name)
		b.WriteString("id=")
		b.WriteString(canonValue(p.pl.ID))
		b.WriteString(sortedGeneric(p.pl.Extensions, nil))
	}
	typed := func(name, item string, n int, at func(int) (string, string)) {
		if n == 0 {
			return
		}
		parts := make([]string, n)
		for i := range parts {
			typ, val := at(i)
			s := ""
			if typ != "" {
				s = "type=" + canonValue(typ)
			}
			parts[i] = s + item + "=" + canonValue(val)
		}
		sort.Strings(parts)
		b.WriteString(name)
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	typed("bizTransactionList", "bizTransaction", len(e.BizTransactionList), func(i int) (string, string) {
		return string(e.BizTransactionList[i].Type), e.BizTransactionList[i].Value
	})
	typed("sourceList", "source", len(e.SourceList), func(i int) (string, string) {
		return string(e.SourceList[i].Type), e.SourceList[i].Value
	})
	typed("destinationList", "destination", len(e.DestinationList), func(i int) (string, string) {
		return string(e.DestinationList[i].Type), e.DestinationList[i].Value
	})
	if len(e.SensorElementList) > 0 {
		parts := make([]string, 0, len(e.SensorElementList))
		for i := range e.SensorElementList {
			parts = append(parts, sensorPreHash(&e.SensorElementList[i]))
		}
		sort.Strings(parts)
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	// ILMD, the sensor data's extensions and the event's user extensions,
	// sorted together.
	var rest []string
	if len(e.ILMD) > 0 {
		rest = append(rest, "ilmd"+sortedGeneric(e.ILMD, nil))
	}
	for i := range e.SensorElementList {
		if s := sensorExtPreHash(&e.SensorElementList[i]); s != "" {
			rest = append(rest, s)
		}
	}
	for i := range e.Extensions {
		rest = append(rest, generic(&e.Extensions[i]))
	}
	sort.Strings(rest)
	for _, s := range rest {
		b.WriteString(s)
	}
	return b.String()
}

func sensorPreHash(se *SensorElement) string {
	var b strings.Builder
	b.WriteString("sensorElement")
	if m := se.Metadata; m != nil {
		var mb strings.Builder
		for _, f := range [][2]string{
			{"time", canonTime(m.Time)}, {"startTime", canonTime(m.StartTime)}, {"endTime", canonTime(m.EndTime)},
			{"deviceID", canonValue(m.DeviceID)}, {"deviceMetadata", canonValue(m.DeviceMetadata)}, {"rawData", canonValue(m.RawData)},
			{"dataProcessingMethod", canonValue(m.DataProcessingMethod)}, {"bizRules", canonValue(m.BizRules)},
		} {
			if f[1] != "" {
				mb.WriteString(f[0] + "=" + f[1])
			}
		}
		if mb.Len() > 0 {
			b.WriteString("sensorMetadata")
			b.WriteString(mb.String())
		}
	}
	reports := make([]string, 0, len(se.Reports))
	for i := range se.Reports {
		r := &se.Reports[i]
		num := func(p *float64) string {
			if p == nil {
				return ""
			}
			return canonNumber(*p)
		}
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return canonValue(*p)
		}
		boolean := ""
		if r.BooleanValue != nil {
			boolean = strconv.FormatBool(*r.BooleanValue)
		}
		var rb strings.Builder
		for _, f := range [][2]string{
			{"type", canonValue(r.Type)}, {"exception", canonValue(r.Exception)}, {"deviceID", canonValue(r.DeviceID)},
			{"deviceMetadata", canonValue(r.DeviceMetadata)}, {"rawData", canonValue(r.RawData)},
			{"dataProcessingMethod", canonValue(r.DataProcessingMethod)}, {"time", canonTime(r.Time)},
			{"microorganism", canonValue(r.Microorganism)}, {"chemicalSubstance", canonValue(r.ChemicalSubstance)},
			{"value", num(r.Value)}, {"component", canonValue(r.Component)}, {"stringValue", str(r.StringValue)},
			{"booleanValue", boolean}, {"hexBinaryValue", canonValue(r.HexBinaryValue)}, {"uriValue", canonValue(r.URIValue)},
			{"minValue", num(r.MinValue)}, {"maxValue", num(r.MaxValue)}, {"meanValue", num(r.MeanValue)},
			{"sDev", num(r.SDev)}, {"percRank", num(r.PercRank)}, {"percValue", num(r.PercValue)},
			{"uom", canonValue(r.UOM)}, {"coordinateReferenceSystem", canonValue(r.CoordinateReferenceSystem)},
		} {
			if f[1] != "" {
				rb.WriteString(f[0] + "=" + f[1])
			}
		}
		if rb.Len() > 0 {
			reports = append(reports, "sensorReport"+rb.String())
		}
	}
	sort.Strings(reports)
	for _, r := range reports {
		b.WriteString(r)
	}
	return b.String()
}

// sensorExtPreHash returns the extension part of a sensor element: its
// metadata's and reports' user attributes and its user elements.
func sensorExtPreHash(se *SensorElement) string {
	var parts []string
	if se.Metadata != nil && len(se.Metadata.Extensions) > 0 {
		parts = append(parts, "sensorMetadata"+sortedGeneric(nil, se.Metadata.Extensions))
	}
	for _, r := range se.Reports {
		if len(r.Extensions) > 0 {
			parts = append(parts, "sensorReport"+sortedGeneric(nil, r.Extensions))
		}
	}
	for i := range se.Extensions {
		parts = append(parts, generic(&se.Extensions[i]))
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	return "sensorElement" + strings.Join(parts, "")
}

func expandedName(space, local string) string {
	if space == "" {
		return local
	}
	return "{" + space + "}" + local
}

// generic writes a user extension element: {namespace}name=value, then its
// attributes and children, sorted.
func generic(el *Element) string {
	s := expandedName(el.Space, el.Local)
	if t := strings.TrimSpace(el.Text); t != "" {
		s += "=" + canonValue(t)
	}
	return s + sortedGeneric(el.Children, el.Attrs)
}

func sortedGeneric(children []Element, attrs []Attr) string {
	if len(children)+len(attrs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(children)+len(attrs))
	for _, a := range attrs {
		parts = append(parts, expandedName(a.Space, a.Local)+"="+canonValue(a.Value))
	}
	for i := range children {
		parts = append(parts, generic(&children[i]))
	}
	sort.Strings(parts)
	return strings.Join(parts, "")
}

// canonTime writes a time in UTC with milliseconds, rounding half to even
// at the microsecond level as the reference implementation does.
func canonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC().Truncate(time.Microsecond)
	us := t.Nanosecond() / 1000
	ms, rem := us/1000, us%1000
	if rem > 500 || rem == 500 && ms%2 == 1 {
		ms++
	}
	t = t.Truncate(time.Second).Add(time.Duration(ms) * time.Millisecond)
	return t.Format("2006-01-02T15:04:05.000Z")
}

// canonValue normalises a value for the pre-hash: trimmed, CBV URNs as web
// URIs, gs1: compact URIs expanded, numbers without trailing zeros, EPC
// URIs and Digital Links in constrained canonical Digital Link form.
func canonValue(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	for _, l := range []*cbvList{&cbvBizStep, &cbvDisposition, &cbvBTT, &cbvSDT, &cbvER} {
		if strings.HasPrefix(v, l.urn) {
			return l.web + v[len(l.urn):]
		}
	}
	if strings.HasPrefix(v, "gs1:") {
		return "https://gs1.org/voc/" + v[4:]
	}
	if n, ok := numeric(v); ok {
		return n
	}
	if dl, ok := epcToDL(v); ok {
		return dl
	}
	if dl, ok := normalizeDL(v); ok {
		return dl
	}
	return v
}

// numeric formats a decimal string as the reference implementation does
// (Python's float then str): integers without ".0", others in shortest form.
func numeric(v string) (string, bool) {
	c := v[0]
	if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return "", false
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return canonNumber(f), true
}

func canonNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e300 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	if a := math.Abs(f); a < 1e-4 {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
