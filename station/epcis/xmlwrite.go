package epcis

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// xmlNamespace is the namespace that the prefix xml is bound to in every
// XML document; it is never declared.
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// xmlEncoder writes EPCIS 1.2 or 2.0 XML by hand into a buffered writer:
// no reflection, no per-event allocations, element order from the schema
// tables in xmlfields.go.
type xmlEncoder struct {
	w       *bufio.Writer
	f       Format
	head    *Header
	scratch []byte
	// rootNS maps namespace URIs declared on the root to their prefixes.
	rootNS map[string]string
	// local holds the namespace declarations in force below the root, a
	// stack of (uri, prefix) pairs.
	local [][2]string
	gen   int
	err   error
}

func newXMLEncoder(w io.Writer, f Format) *xmlEncoder {
	return &xmlEncoder{w: bufio.NewWriterSize(w, 64<<10), f: f, scratch: make([]byte, 0, 64)}
}

const indentSpaces = "\n                                                                "

// nl writes a newline and depth levels of indentation.
func (x *xmlEncoder) nl(depth int) {
	n := 1 + 2*depth
	if n > len(indentSpaces) {
		n = len(indentSpaces)
	}
	x.w.WriteString(indentSpaces[:n])
}

// escape writes s with the XML special characters escaped. It refuses
// characters that XML 1.0 cannot carry.
func (x *xmlEncoder) escape(s string, attr bool) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '&' && c != '<' && c != '>' && c != '"' && c < utf8.RuneSelf {
			i++
			continue
		}
		var esc string
		width := 1
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				i++
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				i++
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				i++
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if c < 0x20 {
				x.fail(fmt.Errorf("text %q contains the control character %#x, which XML 1.0 cannot carry", s, c))
				return
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
				x.fail(fmt.Errorf("text %q is not valid UTF-8 or contains a character XML 1.0 cannot carry", s))
				return
			}
			i += n
			continue
		}
		x.w.WriteString(s[start:i])
		x.w.WriteString(esc)
		i += width
		start = i
	}
	x.w.WriteString(s[start:])
}

func (x *xmlEncoder) fail(err error) {
	if x.err == nil {
		x.err = err
	}
}

// leaf writes <name>text</name> on its own line.
func (x *xmlEncoder) leaf(depth int, name, text string) {
	x.nl(depth)
	x.w.WriteByte('<')
	x.w.WriteString(name)
	x.w.WriteByte('>')
	x.escape(text, false)
	x.w.WriteString("</")
	x.w.WriteString(name)
	x.w.WriteByte('>')
}

func (x *xmlEncoder) open(depth int, name string) {
	x.nl(depth)
	x.w.WriteByte('<')
	x.w.WriteString(name)
	x.w.WriteByte('>')
}

func (x *xmlEncoder) closeTag(depth int, name string) {
	x.nl(depth)
	x.w.WriteString("</")
	x.w.WriteString(name)
	x.w.WriteByte('>')
}

func (x *xmlEncoder) attr(name, value string) {
	x.w.WriteByte(' ')
	x.w.WriteString(name)
	x.w.WriteString(`="`)
	x.escape(value, true)
	x.w.WriteByte('"')
}

func (x *xmlEncoder) timeText(t time.Time) string {
	x.scratch = appendTime(x.scratch[:0], t)
	return unsafeString(x.scratch)
}

func (x *xmlEncoder) header(h *Header) error {
	x.head = h
	x.rootNS = map[string]string{}
	ns, ver := NamespaceEPCIS12, "1.2"
	if x.f == FormatXML20 {
		ns, ver = NamespaceEPCIS20, "2.0"
	}
	x.w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<epcis:EPCISDocument")
	declare := func(prefix, uri string) {
		// A prefix read from JSON-LD need not be an XML name; such a
		// namespace is declared where it is used, with a prefix of ours.
		if _, ok := x.rootNS[uri]; ok || !isNCName(prefix) || prefix == "xmlns" || uri == "" || uri == xmlNamespace {
			return
		}
		for _, p := range x.rootNS {
			if p == prefix {
				return
			}
		}
		x.rootNS[uri] = prefix
		x.attr("xmlns:"+prefix, uri)
	}
	declare("epcis", ns)
	if h.SBDH != nil {
		declare("sbdh", NamespaceSBDH)
	}
	declare("cbvmda", NamespaceCBVMDA)
	if usesNamespace(h.Extensions, NamespaceGS1USHC) {
		declare("gs1ushc", NamespaceGS1USHC)
	}
	for _, n := range h.Namespaces {
		if n.Prefix != "xsi" && n.Prefix != "xml" {
			declare(n.Prefix, n.URI)
		}
	}
	x.attr("schemaVersion", ver)
	created := h.CreationDate
	if created.IsZero() {
		created = time.Now().UTC()
	}
	x.attr("creationDate", x.timeText(created))
	x.w.WriteByte('>')
	hasMD := len(h.MasterData) > 0
	if h.SBDH != nil || hasMD || (x.f == FormatXML12 && len(h.Extensions) > 0) {
		x.open(1, "EPCISHeader")
		if h.SBDH != nil {
			x.sbdh(2, h.SBDH, created)
		}
		if hasMD {
			x.open(2, "extension")
			x.open(3, "EPCISMasterData")
			x.open(4, "VocabularyList")
			for i := range h.MasterData {
				x.vocabulary(5, &h.MasterData[i])
			}
			x.closeTag(4, "VocabularyList")
			x.closeTag(3, "EPCISMasterData")
			x.closeTag(2, "extension")
		}
		if x.f == FormatXML12 {
			for i := range h.Extensions {
				x.element(2, &h.Extensions[i])
			}
		}
		x.closeTag(1, "EPCISHeader")
	}
	x.open(1, "EPCISBody")
	x.open(2, "EventList")
	return x.err
}

func usesNamespace(list []Element, ns string) bool {
	for i := range list {
		if list[i].Space == ns || usesNamespace(list[i].Children, ns) {
			return true
		}
	}
	return false
}

func (x *xmlEncoder) sbdh(d int, s *SBDH, created time.Time) {
	x.open(d, "sbdh:StandardBusinessDocumentHeader")
	hv := s.HeaderVersion
	if hv == "" {
		hv = "1.0"
	}
	x.leaf(d+1, "sbdh:HeaderVersion", hv)
	partners := func(name string, list []Partner) {
		for _, p := range list {
			x.open(d+1, name)
			x.nl(d + 2)
			x.w.WriteString("<sbdh:Identifier")
			if p.Authority != "" {
				x.attr("Authority", p.Authority)
			}
			x.w.WriteByte('>')
			x.escape(p.Identifier, false)
			x.w.WriteString("</sbdh:Identifier>")
			for _, c := range p.Contacts {
				x.open(d+2, "sbdh:ContactInformation")
				x.leaf(d+3, "sbdh:Contact", c.Contact)
				for _, kv := range [][2]string{{"sbdh:EmailAddress", c.EmailAddress}, {"sbdh:FaxNumber", c.FaxNumber},
					{"sbdh:TelephoneNumber", c.TelephoneNumber}, {"sbdh:ContactTypeIdentifier", c.ContactTypeIdentifier}} {
					if kv[1] != "" {
						x.leaf(d+3, kv[0], kv[1])
					}
				}
				x.closeTag(d+2, "sbdh:ContactInformation")
			}
			x.closeTag(d+1, name)
		}
	}
	partners("sbdh:Sender", s.Sender)
	partners("sbdh:Receiver", s.Receiver)
	x.open(d+1, "sbdh:DocumentIdentification")
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	x.leaf(d+2, "sbdh:Standard", or(s.Standard, "EPCglobal"))
	x.leaf(d+2, "sbdh:TypeVersion", or(s.TypeVersion, "1.0"))
	x.leaf(d+2, "sbdh:InstanceIdentifier", s.InstanceIdentifier)
	x.leaf(d+2, "sbdh:Type", or(s.Type, "Events"))
	if s.MultipleType != nil {
		x.leaf(d+2, "sbdh:MultipleType", strconv.FormatBool(*s.MultipleType))
	}
	ct := s.CreationDateAndTime
	if ct.IsZero() {
		ct = created
	}
	x.leaf(d+2, "sbdh:CreationDateAndTime", x.timeText(ct))
	x.closeTag(d+1, "sbdh:DocumentIdentification")
	if s.Manifest != nil {
		x.element(d+1, s.Manifest)
	}
	if s.BusinessScope != nil {
		x.element(d+1, s.BusinessScope)
	}
	x.closeTag(d, "sbdh:StandardBusinessDocumentHeader")
}

func (x *xmlEncoder) vocabulary(d int, v *Vocabulary) {
	x.nl(d)
	x.w.WriteString("<Vocabulary")
	x.attr("type", v.Type)
	x.w.WriteByte('>')
	if len(v.Elements) > 0 {
		x.open(d+1, "VocabularyElementList")
		for i := range v.Elements {
			ve := &v.Elements[i]
			x.nl(d + 2)
			x.w.WriteString("<VocabularyElement")
			x.attr("id", ve.ID)
			x.w.WriteByte('>')
			for _, a := range ve.Attributes {
				x.nl(d + 3)
				x.w.WriteString("<attribute")
				x.attr("id", a.ID)
				x.w.WriteByte('>')
				x.escape(a.Value, false)
				if len(a.Children) > 0 {
					for j := range a.Children {
						x.element(d+4, &a.Children[j])
					}
					x.nl(d + 3)
				}
				x.w.WriteString("</attribute>")
			}
			if len(ve.Children) > 0 {
				x.open(d+3, "children")
				for _, c := range ve.Children {
					x.leaf(d+4, "id", c)
				}
				x.closeTag(d+3, "children")
			}
			for j := range ve.Extensions {
				x.element(d+3, &ve.Extensions[j])
			}
			x.closeTag(d+2, "VocabularyElement")
		}
		x.closeTag(d+1, "VocabularyElementList")
	}
	for j := range v.Extensions {
		x.element(d+1, &v.Extensions[j])
	}
	x.closeTag(d, "Vocabulary")
}

// prefixFor returns the prefix bound to uri, and whether the caller must
// declare it (with the returned prefix) on the element it writes.
func (x *xmlEncoder) prefixFor(uri, hint string) (string, bool) {
	for i := len(x.local) - 1; i >= 0; i-- {
		if x.local[i][0] == uri {
			return x.local[i][1], false
		}
	}
	if p, ok := x.rootNS[uri]; ok {
		return p, false
	}
	if uri == xmlNamespace {
		return "xml", false
	}
	p := hint
	taken := func(p string) bool {
		if !isNCName(p) || p == "xml" || p == "xmlns" || p == "epcis" || p == "sbdh" {
			return true
		}
		for u, q := range x.rootNS {
			if q == p && u != uri {
				return true
			}
		}
		for _, l := range x.local {
			if l[1] == p && l[0] != uri {
				return true
			}
		}
		return false
	}
	for taken(p) {
		x.gen++
		p = "ns" + strconv.Itoa(x.gen)
	}
	return p, true
}

// element writes a user extension element and its children.
func (x *xmlEncoder) element(d int, el *Element) {
	mark := len(x.local)
	prefix := ""
	x.nl(d)
	x.w.WriteByte('<')
	if el.Space != "" {
		p, need := x.prefixFor(el.Space, el.Prefix)
		prefix = p
		if need {
			x.local = append(x.local, [2]string{el.Space, p})
		}
		x.w.WriteString(p)
		x.w.WriteByte(':')
	}
	x.w.WriteString(el.Local)
	// Declare the namespaces this element introduces, then its attributes.
	for i := mark; i < len(x.local); i++ {
		x.attr("xmlns:"+x.local[i][1], x.local[i][0])
	}
	for _, a := range el.Attrs {
		x.w.WriteByte(' ')
		if a.Space != "" {
			p, need := x.prefixFor(a.Space, a.Prefix)
			if need {
				x.local = append(x.local, [2]string{a.Space, p})
				x.w.WriteString("xmlns:" + p + `="`)
				x.escape(a.Space, true)
				x.w.WriteString(`" `)
			}
			x.w.WriteString(p)
			x.w.WriteByte(':')
		}
		x.w.WriteString(a.Local)
		x.w.WriteString(`="`)
		x.escape(a.Value, true)
		x.w.WriteByte('"')
	}
	if el.Text == "" && len(el.Children) == 0 {
		x.w.WriteString("/>")
		x.local = x.local[:mark]
		return
	}
	x.w.WriteByte('>')
	x.escape(el.Text, false)
	if len(el.Children) > 0 {
		for i := range el.Children {
			x.element(d+1, &el.Children[i])
		}
		x.nl(d)
	}
	x.w.WriteString("</")
	if prefix != "" {
		x.w.WriteString(prefix)
		x.w.WriteByte(':')
	}
	x.w.WriteString(el.Local)
	x.w.WriteByte('>')
	x.local = x.local[:mark]
}

func (x *xmlEncoder) event(e *Event) error {
	if x.err != nil {
		return x.err
	}
	name := string(e.Type)
	d := 3
	wrapped := x.f == FormatXML12 && e.Type == TransformationEvent
	if wrapped {
		x.open(3, "extension")
		d = 4
	}
	x.open(d, name)
	if x.f == FormatXML12 {
		x.seq(d+1, e, base12)
		x.seq(d+1, e, seq12[e.Type])
	} else {
		x.seq(d+1, e, base20)
		x.seq(d+1, e, seq20[e.Type])
	}
	for i := range e.Extensions {
		if e.Extensions[i].Space != "" {
			x.element(d+1, &e.Extensions[i])
		}
	}
	x.closeTag(d, name)
	if wrapped {
		x.closeTag(3, "extension")
	}
	return x.err
}

// has reports whether the event has a value for the field (for wrappers:
// for any field inside).
func (x *xmlEncoder) has(e *Event, it seqItem) bool {
	switch it.id {
	case fExtension:
		for _, s := range it.sub {
			if x.has(e, s) {
				return true
			}
		}
		return x.f == FormatXML12 && hasLocal(e.Extensions)
	case fBaseExtension:
		return e.EventID != "" || e.ErrorDeclaration != nil
	}
	return it.required || e.hasField(it.id)
}

func hasLocal(list []Element) bool {
	for i := range list {
		if list[i].Space == "" {
			return true
		}
	}
	return false
}

func (e *Event) hasField(id fieldID) bool {
	switch id {
	case fEventTime:
		return true
	case fRecordTime:
		return !e.RecordTime.IsZero()
	case fTimeZoneOffset:
		return true
	case fEventID:
		return e.EventID != ""
	case fErrorDeclaration:
		return e.ErrorDeclaration != nil
	case fCertificationInfo:
		return len(e.CertificationInfo) > 0
	case fEPCList:
		return len(e.EPCList) > 0
	case fParentID:
		return e.ParentID != ""
	case fChildEPCs:
		return len(e.ChildEPCs) > 0
	case fInputEPCList:
		return len(e.InputEPCList) > 0
	case fInputQuantityList:
		return len(e.InputQuantityList) > 0
	case fOutputEPCList:
		return len(e.OutputEPCList) > 0
	case fOutputQuantityList:
		return len(e.OutputQuantityList) > 0
	case fTransformationID:
		return e.TransformationID != ""
	case fAction:
		return e.Action != ""
	case fBizStep:
		return e.BizStep != ""
	case fDisposition:
		return e.Disposition != ""
	case fReadPoint:
		return e.ReadPoint != nil
	case fBizLocation:
		return e.BizLocation != nil
	case fBizTransactionList:
		return len(e.BizTransactionList) > 0
	case fQuantityList:
		return len(e.QuantityList) > 0
	case fChildQuantityList:
		return len(e.ChildQuantityList) > 0
	case fSourceList:
		return len(e.SourceList) > 0
	case fDestinationList:
		return len(e.DestinationList) > 0
	case fSensorElementList:
		return len(e.SensorElementList) > 0
	case fPersistentDisposition:
		return e.PersistentDisposition != nil
	case fILMD:
		return len(e.ILMD) > 0
	}
	return false
}

func (x *xmlEncoder) seq(d int, e *Event, seq []seqItem) {
	for _, it := range seq {
		if !x.has(e, it) {
			continue
		}
		switch it.id {
		case fExtension:
			if x.f != FormatXML12 {
				continue // 2.0 writes extensions after the standard fields
			}
			x.open(d, "extension")
			x.seq(d+1, e, it.sub)
			if hasLocal(e.Extensions) {
				if len(it.sub) > 0 {
					x.open(d+1, "extension")
				}
				for i := range e.Extensions {
					if e.Extensions[i].Space == "" {
						x.element(d+2, &e.Extensions[i])
					}
				}
				if len(it.sub) > 0 {
					x.closeTag(d+1, "extension")
				}
			}
			x.closeTag(d, "extension")
		case fBaseExtension:
			x.open(d, "baseExtension")
			x.seq(d+1, e, items(fEventID, fErrorDeclaration))
			x.closeTag(d, "baseExtension")
		default:
			x.field(d, e, it.id)
		}
	}
}

func (x *xmlEncoder) epcs(d int, name string, list []string) {
	if len(list) == 0 {
		x.nl(d)
		x.w.WriteString("<" + name + "/>")
		return
	}
	x.open(d, name)
	for _, epc := range list {
		x.leaf(d+1, "epc", epc)
	}
	x.closeTag(d, name)
}

func (x *xmlEncoder) quantities(d int, name string, list []Quantity) {
	x.open(d, name)
	for _, q := range list {
		x.open(d+1, "quantityElement")
		x.leaf(d+2, "epcClass", q.EPCClass)
		if q.HasQuantity {
			x.scratch = appendDecimal(x.scratch[:0], q.Quantity)
			x.leaf(d+2, "quantity", unsafeString(x.scratch))
			if q.UOM != "" {
				x.leaf(d+2, "uom", q.UOM)
			}
		}
		x.closeTag(d+1, "quantityElement")
	}
	x.closeTag(d, name)
}

func (x *xmlEncoder) place(d int, name string, p *Place) {
	x.open(d, name)
	x.leaf(d+1, "id", p.ID)
	for i := range p.Extensions {
		x.element(d+1, &p.Extensions[i])
	}
	x.closeTag(d, name)
}

func (x *xmlEncoder) typed(d int, name, typ, value string) {
	x.nl(d)
	x.w.WriteByte('<')
	x.w.WriteString(name)
	if typ != "" {
		x.attr("type", typ)
	}
	x.w.WriteByte('>')
	x.escape(value, false)
	x.w.WriteString("</")
	x.w.WriteString(name)
	x.w.WriteByte('>')
}

func (x *xmlEncoder) field(d int, e *Event, id fieldID) {
	switch id {
	case fEventTime:
		x.leaf(d, "eventTime", x.timeText(e.EventTime))
	case fRecordTime:
		x.leaf(d, "recordTime", x.timeText(e.RecordTime))
	case fTimeZoneOffset:
		x.leaf(d, "eventTimeZoneOffset", e.EventTimeZoneOffset)
	case fEventID:
		x.leaf(d, "eventID", e.EventID)
	case fErrorDeclaration:
		ed := e.ErrorDeclaration
		x.open(d, "errorDeclaration")
		x.leaf(d+1, "declarationTime", x.timeText(ed.DeclarationTime))
		if ed.Reason != "" {
			x.leaf(d+1, "reason", string(ed.Reason))
		}
		if len(ed.CorrectiveEventIDs) > 0 {
			x.open(d+1, "correctiveEventIDs")
			for _, id := range ed.CorrectiveEventIDs {
				x.leaf(d+2, "correctiveEventID", id)
			}
			x.closeTag(d+1, "correctiveEventIDs")
		}
		for i := range ed.Extensions {
			x.element(d+1, &ed.Extensions[i])
		}
		x.closeTag(d, "errorDeclaration")
	case fCertificationInfo:
		x.leaf(d, "certificationInfo", e.CertificationInfo[0])
	case fEPCList:
		x.epcs(d, "epcList", e.EPCList)
	case fParentID:
		x.leaf(d, "parentID", e.ParentID)
	case fChildEPCs:
		x.epcs(d, "childEPCs", e.ChildEPCs)
	case fInputEPCList:
		x.epcs(d, "inputEPCList", e.InputEPCList)
	case fOutputEPCList:
		x.epcs(d, "outputEPCList", e.OutputEPCList)
	case fInputQuantityList:
		x.quantities(d, "inputQuantityList", e.InputQuantityList)
	case fOutputQuantityList:
		x.quantities(d, "outputQuantityList", e.OutputQuantityList)
	case fQuantityList:
		x.quantities(d, "quantityList", e.QuantityList)
	case fChildQuantityList:
		x.quantities(d, "childQuantityList", e.ChildQuantityList)
	case fTransformationID:
		x.leaf(d, "transformationID", e.TransformationID)
	case fAction:
		x.leaf(d, "action", string(e.Action))
	case fBizStep:
		x.leaf(d, "bizStep", string(e.BizStep))
	case fDisposition:
		x.leaf(d, "disposition", string(e.Disposition))
	case fReadPoint:
		x.place(d, "readPoint", e.ReadPoint)
	case fBizLocation:
		x.place(d, "bizLocation", e.BizLocation)
	case fBizTransactionList:
		x.open(d, "bizTransactionList")
		for _, bt := range e.BizTransactionList {
			x.typed(d+1, "bizTransaction", string(bt.Type), bt.Value)
		}
		x.closeTag(d, "bizTransactionList")
	case fSourceList:
		x.open(d, "sourceList")
		for _, s := range e.SourceList {
			x.typed(d+1, "source", string(s.Type), s.Value)
		}
		x.closeTag(d, "sourceList")
	case fDestinationList:
		x.open(d, "destinationList")
		for _, s := range e.DestinationList {
			x.typed(d+1, "destination", string(s.Type), s.Value)
		}
		x.closeTag(d, "destinationList")
	case fSensorElementList:
		x.sensors(d, e.SensorElementList)
	case fPersistentDisposition:
		pd := e.PersistentDisposition
		x.open(d, "persistentDisposition")
		for _, v := range pd.Unset {
			x.leaf(d+1, "unset", string(v))
		}
		for _, v := range pd.Set {
			x.leaf(d+1, "set", string(v))
		}
		x.closeTag(d, "persistentDisposition")
	case fILMD:
		x.open(d, "ilmd")
		for i := range e.ILMD {
			x.element(d+1, &e.ILMD[i])
		}
		x.closeTag(d, "ilmd")
	}
}

func (x *xmlEncoder) sensors(d int, list []SensorElement) {
	x.open(d, "sensorElementList")
	for _, se := range list {
		x.open(d+1, "sensorElement")
		mark := len(x.local)
		if m := se.Metadata; m != nil {
			x.nl(d + 2)
			x.w.WriteString("<sensorMetadata")
			x.timeAttr("time", m.Time)
			x.strAttr("deviceID", m.DeviceID)
			x.strAttr("deviceMetadata", m.DeviceMetadata)
			x.strAttr("rawData", m.RawData)
			x.timeAttr("startTime", m.StartTime)
			x.timeAttr("endTime", m.EndTime)
			x.strAttr("bizRules", m.BizRules)
			x.strAttr("dataProcessingMethod", m.DataProcessingMethod)
			x.extAttrs(m.Extensions)
			x.w.WriteString("/>")
			x.local = x.local[:mark]
		}
		for i := range se.Reports {
			r := &se.Reports[i]
			x.nl(d + 2)
			x.w.WriteString("<sensorReport")
			x.strAttr("type", r.Type)
			x.numAttr("value", r.Value)
			x.strAttr("component", r.Component)
			if r.StringValue != nil {
				x.attr("stringValue", *r.StringValue)
			}
			if r.BooleanValue != nil {
				x.attr("booleanValue", strconv.FormatBool(*r.BooleanValue))
			}
			x.strAttr("hexBinaryValue", r.HexBinaryValue)
			x.strAttr("uriValue", r.URIValue)
			x.strAttr("uom", r.UOM)
			x.numAttr("minValue", r.MinValue)
			x.numAttr("maxValue", r.MaxValue)
			x.numAttr("sDev", r.SDev)
			x.strAttr("chemicalSubstance", r.ChemicalSubstance)
			x.strAttr("microorganism", r.Microorganism)
			x.strAttr("deviceID", r.DeviceID)
			x.strAttr("deviceMetadata", r.DeviceMetadata)
			x.strAttr("rawData", r.RawData)
			x.timeAttr("time", r.Time)
			x.numAttr("meanValue", r.MeanValue)
			x.numAttr("percRank", r.PercRank)
			x.numAttr("percValue", r.PercValue)
			x.strAttr("dataProcessingMethod", r.DataProcessingMethod)
			x.strAttr("coordinateReferenceSystem", r.CoordinateReferenceSystem)
			x.strAttr("exception", r.Exception)
			x.strAttr("bizRules", r.BizRules)
			x.extAttrs(r.Extensions)
			x.w.WriteString("/>")
			x.local = x.local[:mark]
		}
		for i := range se.Extensions {
			x.element(d+2, &se.Extensions[i])
		}
		x.closeTag(d+1, "sensorElement")
	}
	x.closeTag(d, "sensorElementList")
}

func (x *xmlEncoder) strAttr(name, v string) {
	if v != "" {
		x.attr(name, v)
	}
}

func (x *xmlEncoder) timeAttr(name string, t time.Time) {
	if !t.IsZero() {
		x.attr(name, x.timeText(t))
	}
}

func (x *xmlEncoder) numAttr(name string, v *float64) {
	if v != nil {
		x.scratch = strconv.AppendFloat(x.scratch[:0], *v, 'g', -1, 64)
		x.attr(name, unsafeString(x.scratch))
	}
}

// extAttrs writes namespaced user attributes, declaring their namespaces on
// the element when the root did not.
func (x *xmlEncoder) extAttrs(list []Attr) {
	for _, a := range list {
		p, need := x.prefixFor(a.Space, a.Prefix)
		if need {
			x.attr("xmlns:"+p, a.Space)
			x.local = append(x.local, [2]string{a.Space, p})
		}
		x.attr(p+":"+a.Local, a.Value)
	}
}

func (x *xmlEncoder) close() error {
	if x.err != nil {
		return x.err
	}
	x.closeTag(2, "EventList")
	x.closeTag(1, "EPCISBody")
	if x.f == FormatXML20 {
		for i := range x.head.Extensions {
			x.element(1, &x.head.Extensions[i])
		}
	}
	x.w.WriteString("\n</epcis:EPCISDocument>\n")
	if x.err != nil {
		return x.err
	}
	if err := x.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// appendTime appends t as an XML Schema dateTime with its own offset ("Z"
// for UTC) and only as many fraction digits as it needs.
func appendTime(b []byte, t time.Time) []byte {
	return t.AppendFormat(b, time.RFC3339Nano)
}

// appendDecimal appends v as an xsd:decimal (no exponent).
func appendDecimal(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
