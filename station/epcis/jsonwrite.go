package epcis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jsonEncoder writes EPCIS 2.0 JSON-LD by hand, one event at a time.
type jsonEncoder struct {
	w       *bufio.Writer
	scratch []byte
	// docNS maps IRIs (JSON-LD form) to the prefixes the document's
	// @context binds; evNS holds the extra bindings of the current event.
	docNS map[string]string
	evNS  map[string]string
	n     int
	gen   int
	err   error
	head  *Header
}

func newJSONEncoder(w io.Writer) *jsonEncoder {
	return &jsonEncoder{w: bufio.NewWriterSize(w, 64<<10)}
}

// jsonIRI returns the JSON-LD IRI of an XML namespace: urn: namespaces get
// a trailing ":" so that prefix + local name stays a valid URN.
func jsonIRI(ns string) string {
	if strings.HasPrefix(ns, "urn:") && !strings.HasSuffix(ns, ":") {
		return ns + ":"
	}
	return ns
}

// nsFromIRI reverses jsonIRI.
func nsFromIRI(iri string) string {
	if strings.HasPrefix(iri, "urn:") {
		return strings.TrimSuffix(iri, ":")
	}
	return iri
}

func (j *jsonEncoder) str(s string) {
	j.w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				j.w.WriteString(s[start:i])
				j.w.WriteString(`\ufffd`)
				i++
				start = i
				continue
			}
			i += n
			continue
		}
		j.w.WriteString(s[start:i])
		switch c {
		case '"':
			j.w.WriteString(`\"`)
		case '\\':
			j.w.WriteString(`\\`)
		case '\n':
			j.w.WriteString(`\n`)
		case '\r':
			j.w.WriteString(`\r`)
		case '\t':
			j.w.WriteString(`\t`)
		default:
			j.w.WriteString(`\u00`)
			j.w.WriteByte("0123456789abcdef"[c>>4])
			j.w.WriteByte("0123456789abcdef"[c&15])
		}
		i++
		start = i
	}
	j.w.WriteString(s[start:])
	j.w.WriteByte('"')
}

// obj is a small helper that writes the members of one JSON object.
type obj struct {
	j     *jsonEncoder
	first bool
}

func (j *jsonEncoder) begin() *obj {
	j.w.WriteByte('{')
	return &obj{j: j, first: true}
}

func (o *obj) key(k string) {
	if !o.first {
		o.j.w.WriteByte(',')
	}
	o.first = false
	o.j.str(k)
	o.j.w.WriteByte(':')
}

func (o *obj) s(k, v string) {
	if v != "" {
		o.key(k)
		o.j.str(v)
	}
}

func (o *obj) t(k string, v time.Time) {
	if !v.IsZero() {
		o.key(k)
		o.j.scratch = appendTime(o.j.scratch[:0], v)
		o.j.str(unsafeString(o.j.scratch))
	}
}

func (o *obj) num(k string, v *float64) {
	if v != nil {
		o.key(k)
		o.j.number(*v)
	}
}

func (o *obj) strs(k string, list []string) {
	o.key(k)
	o.j.w.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			o.j.w.WriteByte(',')
		}
		o.j.str(s)
	}
	o.j.w.WriteByte(']')
}

func (o *obj) end() { o.j.w.WriteByte('}') }

func (j *jsonEncoder) number(v float64) {
	j.scratch = strconv.AppendFloat(j.scratch[:0], v, 'g', -1, 64)
	j.w.Write(j.scratch)
}

func (j *jsonEncoder) header(h *Header) error {
	j.head = h
	j.docNS = map[string]string{}
	for _, p := range contextPrefixes {
		j.docNS[p[1]] = p[0]
	}
	var extra [][2]string
	bind := func(prefix, iri string) {
		if _, ok := j.docNS[iri]; ok || prefix == "" {
			return
		}
		for _, p := range j.docNS {
			if p == prefix {
				return
			}
		}
		j.docNS[iri] = prefix
		extra = append(extra, [2]string{prefix, iri})
	}
	if h.SBDH != nil {
		bind("sbdh", NamespaceSBDH)
	}
	for _, n := range h.Namespaces {
		bind(n.Prefix, jsonIRI(n.URI))
	}
	for _, ns := range elementNamespaces(nil, h.Extensions) {
		bind(prefixHint(h.Extensions, ns), jsonIRI(ns))
	}
	for _, v := range h.MasterData {
		for _, ve := range v.Elements {
			for _, a := range ve.Attributes {
				for _, ns := range elementNamespaces(nil, a.Children) {
					bind(prefixHint(a.Children, ns), jsonIRI(ns))
				}
			}
			for _, ns := range elementNamespaces(nil, ve.Extensions) {
				bind(prefixHint(ve.Extensions, ns), jsonIRI(ns))
			}
		}
	}
	o := j.begin()
	o.key("@context")
	if len(extra) == 0 {
		j.str(ContextEPCIS20)
	} else {
		j.w.WriteString("[")
		j.str(ContextEPCIS20)
		j.w.WriteString(",")
		c := j.begin()
		for _, kv := range extra {
			c.s(kv[0], kv[1])
		}
		c.end()
		j.w.WriteString("]")
	}
	o.s("type", "EPCISDocument")
	o.s("schemaVersion", "2.0")
	created := h.CreationDate
	if created.IsZero() {
		created = time.Now().UTC()
	}
	o.t("creationDate", created)
	o.s("id", h.ID)
	if s := h.SBDH; s != nil {
		o.s("instanceIdentifier", s.InstanceIdentifier)
		if len(s.Sender) > 0 {
			o.s("sender", s.Sender[0].Identifier)
		}
		if len(s.Receiver) > 0 {
			o.s("receiver", s.Receiver[0].Identifier)
		}
	}
	if h.SBDH != nil || len(h.MasterData) > 0 || len(h.Extensions) > 0 {
		o.key("epcisHeader")
		hd := j.begin()
		if len(h.MasterData) > 0 {
			hd.key("epcisMasterData")
			md := j.begin()
			md.key("vocabularyList")
			j.w.WriteByte('[')
			for i := range h.MasterData {
				if i > 0 {
					j.w.WriteByte(',')
				}
				j.vocabulary(&h.MasterData[i])
			}
			j.w.WriteByte(']')
			md.end()
		}
		if h.SBDH != nil {
			hd.key("sbdh:StandardBusinessDocumentHeader")
			j.sbdh(h.SBDH)
		}
		j.members(hd, h.Extensions)
		hd.end()
	}
	o.key("epcisBody")
	j.w.WriteString(`{"eventList":[`)
	return j.err
}

// prefixHint returns the prefix an element of namespace ns was read with.
func prefixHint(list []Element, ns string) string {
	for i := range list {
		if list[i].Space == ns && list[i].Prefix != "" {
			return list[i].Prefix
		}
		if p := prefixHint(list[i].Children, ns); p != "" {
			return p
		}
	}
	return ""
}

// elementNamespaces appends the namespaces used in list (in order, once).
func elementNamespaces(out []string, list []Element) []string {
	for i := range list {
		if list[i].Space != "" {
			found := false
			for _, s := range out {
				found = found || s == list[i].Space
			}
			if !found {
				out = append(out, list[i].Space)
			}
		}
		out = elementNamespaces(out, list[i].Children)
	}
	return out
}

func (j *jsonEncoder) sbdh(s *SBDH) {
	o := j.begin()
	o.s("sbdh:HeaderVersion", s.HeaderVersion)
	partners := func(k string, list []Partner) {
		if len(list) == 0 {
			return
		}
		o.key(k)
		j.w.WriteByte('[')
		for i, p := range list {
			if i > 0 {
				j.w.WriteByte(',')
			}
			po := j.begin()
			po.s("sbdh:Identifier", p.Identifier)
			po.s("sbdh:Authority", p.Authority)
			if len(p.Contacts) > 0 {
				po.key("sbdh:ContactInformation")
				j.w.WriteByte('[')
				for k, c := range p.Contacts {
					if k > 0 {
						j.w.WriteByte(',')
					}
					co := j.begin()
					co.s("sbdh:Contact", c.Contact)
					co.s("sbdh:EmailAddress", c.EmailAddress)
					co.s("sbdh:FaxNumber", c.FaxNumber)
					co.s("sbdh:TelephoneNumber", c.TelephoneNumber)
					co.s("sbdh:ContactTypeIdentifier", c.ContactTypeIdentifier)
					co.end()
				}
				j.w.WriteByte(']')
			}
			po.end()
		}
		j.w.WriteByte(']')
	}
	partners("sbdh:Sender", s.Sender)
	partners("sbdh:Receiver", s.Receiver)
	o.key("sbdh:DocumentIdentification")
	d := j.begin()
	d.s("sbdh:Standard", s.Standard)
	d.s("sbdh:TypeVersion", s.TypeVersion)
	d.s("sbdh:InstanceIdentifier", s.InstanceIdentifier)
	d.s("sbdh:Type", s.Type)
	if s.MultipleType != nil {
		d.key("sbdh:MultipleType")
		j.w.WriteString(strconv.FormatBool(*s.MultipleType))
	}
	d.t("sbdh:CreationDateAndTime", s.CreationDateAndTime)
	d.end()
	if s.Manifest != nil {
		o.key("sbdh:Manifest")
		j.value(s.Manifest)
	}
	if s.BusinessScope != nil {
		o.key("sbdh:BusinessScope")
		j.value(s.BusinessScope)
	}
	o.end()
}

func (j *jsonEncoder) vocabulary(v *Vocabulary) {
	o := j.begin()
	o.s("type", v.Type)
	if len(v.Elements) > 0 {
		o.key("vocabularyElementList")
		j.w.WriteByte('[')
		for i := range v.Elements {
			ve := &v.Elements[i]
			if i > 0 {
				j.w.WriteByte(',')
			}
			eo := j.begin()
			eo.s("id", ve.ID)
			if len(ve.Attributes) > 0 {
				eo.key("attributes")
				j.w.WriteByte('[')
				for k, a := range ve.Attributes {
					if k > 0 {
						j.w.WriteByte(',')
					}
					ao := j.begin()
					ao.s("id", a.ID)
					ao.key("attribute")
					if len(a.Children) > 0 {
						co := j.begin()
						j.members(co, a.Children)
						co.end()
					} else {
						j.scalar(a.Value, a.Kind)
					}
					ao.end()
				}
				j.w.WriteByte(']')
			}
			if len(ve.Children) > 0 {
				eo.strs("children", ve.Children)
			}
			j.members(eo, ve.Extensions)
			eo.end()
		}
		j.w.WriteByte(']')
	}
	j.members(o, v.Extensions)
	o.end()
}

// jsonKey returns the JSON-LD key of a namespaced name.
func (j *jsonEncoder) jsonKey(space, local, hint string) string {
	if space == "" {
		return local
	}
	iri := jsonIRI(space)
	if p, ok := j.evNS[iri]; ok {
		return p + ":" + local
	}
	if p, ok := j.docNS[iri]; ok {
		return p + ":" + local
	}
	// Not bound: bind it for this event (callers bind before writing).
	return local
}

// members writes extension elements as members of o, repeated names as
// arrays at the place of their first occurrence.
func (j *jsonEncoder) members(o *obj, list []Element) {
	for i := range list {
		el := &list[i]
		dup := false
		for k := 0; k < i; k++ {
			dup = dup || list[k].Space == el.Space && list[k].Local == el.Local
		}
		if dup {
			continue
		}
		n := 0
		for k := i; k < len(list); k++ {
			if list[k].Space == el.Space && list[k].Local == el.Local {
				n++
			}
		}
		o.key(j.jsonKey(el.Space, el.Local, el.Prefix))
		if n == 1 {
			j.value(el)
			continue
		}
		j.w.WriteByte('[')
		first := true
		for k := i; k < len(list); k++ {
			if list[k].Space == el.Space && list[k].Local == el.Local {
				if !first {
					j.w.WriteByte(',')
				}
				first = false
				j.value(&list[k])
			}
		}
		j.w.WriteByte(']')
	}
}

func (j *jsonEncoder) value(el *Element) {
	if len(el.Children) > 0 {
		o := j.begin()
		j.members(o, el.Children)
		o.end()
		return
	}
	j.scalar(el.Text, el.Kind)
}

func (j *jsonEncoder) scalar(text string, kind ValueKind) {
	switch kind {
	case KindNumber:
		if json.Valid([]byte(text)) && text != "" && (text[0] == '-' || text[0] >= '0' && text[0] <= '9') {
			j.w.WriteString(text)
			return
		}
	case KindBool:
		if text == "true" || text == "false" {
			j.w.WriteString(text)
			return
		}
	case KindNull:
		j.w.WriteString("null")
		return
	}
	j.str(text)
}

// bindEvent binds prefixes for the namespaces the event uses that the
// document's @context does not, and returns them for the event's @context.
func (j *jsonEncoder) bindEvent(e *Event) [][2]string {
	var spaces []string
	spaces = elementNamespaces(spaces, e.Extensions)
	spaces = elementNamespaces(spaces, e.ILMD)
	for _, p := range []*Place{e.ReadPoint, e.BizLocation} {
		if p != nil {
			spaces = elementNamespaces(spaces, p.Extensions)
		}
	}
	if e.ErrorDeclaration != nil {
		spaces = elementNamespaces(spaces, e.ErrorDeclaration.Extensions)
	}
	var hints []Attr
	for _, se := range e.SensorElementList {
		spaces = elementNamespaces(spaces, se.Extensions)
		if se.Metadata != nil {
			hints = append(hints, se.Metadata.Extensions...)
		}
		for _, r := range se.Reports {
			hints = append(hints, r.Extensions...)
		}
	}
	for _, a := range hints {
		found := false
		for _, s := range spaces {
			found = found || s == a.Space
		}
		if !found {
			spaces = append(spaces, a.Space)
		}
	}
	clear(j.evNS)
	var out [][2]string
	for _, ns := range spaces {
		iri := jsonIRI(ns)
		if _, ok := j.docNS[iri]; ok {
			continue
		}
		hint := prefixHint(e.Extensions, ns)
		if hint == "" {
			hint = prefixHint(e.ILMD, ns)
		}
		for _, a := range hints {
			if a.Space == ns && hint == "" {
				hint = a.Prefix
			}
		}
		p := hint
		taken := func(p string) bool {
			if p == "" || p == "type" || p == "id" {
				return true
			}
			for _, q := range j.docNS {
				if q == p {
					return true
				}
			}
			for _, q := range j.evNS {
				if q == p {
					return true
				}
			}
			return false
		}
		for taken(p) {
			j.gen++
			p = "ns" + strconv.Itoa(j.gen)
		}
		if j.evNS == nil {
			j.evNS = map[string]string{}
		}
		j.evNS[iri] = p
		out = append(out, [2]string{p, iri})
	}
	return out
}

func (j *jsonEncoder) event(e *Event) error {
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.n++
	j.w.WriteByte('\n')
	local := j.bindEvent(e)
	o := j.begin()
	if len(local) > 0 {
		o.key("@context")
		c := j.begin()
		for _, kv := range local {
			c.s(kv[0], kv[1])
		}
		c.end()
	}
	o.s("type", string(e.Type))
	o.t("eventTime", e.EventTime)
	o.t("recordTime", e.RecordTime)
	o.s("eventTimeZoneOffset", e.EventTimeZoneOffset)
	o.s("eventID", e.EventID)
	if ed := e.ErrorDeclaration; ed != nil {
		o.key("errorDeclaration")
		eo := j.begin()
		eo.t("declarationTime", ed.DeclarationTime)
		eo.s("reason", cbvER.jsonForm(string(ed.Reason)))
		if len(ed.CorrectiveEventIDs) > 0 {
			eo.strs("correctiveEventIDs", ed.CorrectiveEventIDs)
		}
		j.members(eo, ed.Extensions)
		eo.end()
	}
	switch len(e.CertificationInfo) {
	case 0:
	case 1:
		o.s("certificationInfo", e.CertificationInfo[0])
	default:
		o.strs("certificationInfo", e.CertificationInfo)
	}
	// The JSON schema wants at least one of the "what" lists of an object
	// or aggregation event, even when it is empty.
	needEPCs := e.Type == ObjectEvent && len(e.QuantityList) == 0 && len(e.SensorElementList) == 0 ||
		e.Type == TransactionEvent && len(e.QuantityList) == 0
	if len(e.EPCList) > 0 || needEPCs {
		o.strs("epcList", e.EPCList)
	}
	o.s("parentID", e.ParentID)
	needChildren := (e.Type == AggregationEvent || e.Type == AssociationEvent) && len(e.ChildQuantityList) == 0
	if len(e.ChildEPCs) > 0 || needChildren {
		o.strs("childEPCs", e.ChildEPCs)
	}
	if len(e.InputEPCList) > 0 {
		o.strs("inputEPCList", e.InputEPCList)
	}
	j.quantities(o, "inputQuantityList", e.InputQuantityList)
	if len(e.OutputEPCList) > 0 {
		o.strs("outputEPCList", e.OutputEPCList)
	}
	j.quantities(o, "outputQuantityList", e.OutputQuantityList)
	o.s("transformationID", e.TransformationID)
	j.quantities(o, "quantityList", e.QuantityList)
	j.quantities(o, "childQuantityList", e.ChildQuantityList)
	o.s("action", string(e.Action))
	o.s("bizStep", cbvBizStep.jsonForm(string(e.BizStep)))
	o.s("disposition", cbvDisposition.jsonForm(string(e.Disposition)))
	if pd := e.PersistentDisposition; pd != nil {
		o.key("persistentDisposition")
		po := j.begin()
		for _, part := range []struct {
			k    string
			list []Disposition
		}{{"set", pd.Set}, {"unset", pd.Unset}} {
			if len(part.list) > 0 {
				names := make([]string, len(part.list))
				for i, d := range part.list {
					names[i] = cbvDisposition.jsonForm(string(d))
				}
				po.strs(part.k, names)
			}
		}
		po.end()
	}
	j.place(o, "readPoint", e.ReadPoint)
	j.place(o, "bizLocation", e.BizLocation)
	if len(e.BizTransactionList) > 0 {
		o.key("bizTransactionList")
		j.w.WriteByte('[')
		for i, bt := range e.BizTransactionList {
			if i > 0 {
				j.w.WriteByte(',')
			}
			bo := j.begin()
			bo.s("type", cbvBTT.jsonForm(string(bt.Type)))
			bo.key("bizTransaction")
			j.str(bt.Value)
			bo.end()
		}
		j.w.WriteByte(']')
	}
	j.sourceDest(o, "sourceList", "source", e.SourceList)
	j.sourceDest(o, "destinationList", "destination", e.DestinationList)
	if len(e.SensorElementList) > 0 {
		o.key("sensorElementList")
		j.w.WriteByte('[')
		for i := range e.SensorElementList {
			if i > 0 {
				j.w.WriteByte(',')
			}
			j.sensorElement(&e.SensorElementList[i])
		}
		j.w.WriteByte(']')
	}
	if len(e.ILMD) > 0 {
		o.key("ilmd")
		io := j.begin()
		j.members(io, e.ILMD)
		io.end()
	}
	j.members(o, e.Extensions)
	o.end()
	return j.err
}

func (j *jsonEncoder) quantities(o *obj, k string, list []Quantity) {
	if len(list) == 0 {
		return
	}
	o.key(k)
	j.w.WriteByte('[')
	for i, q := range list {
		if i > 0 {
			j.w.WriteByte(',')
		}
		qo := j.begin()
		qo.s("epcClass", q.EPCClass)
		if q.HasQuantity {
			qo.key("quantity")
			j.scratch = appendDecimal(j.scratch[:0], q.Quantity)
			j.w.Write(j.scratch)
		}
		qo.s("uom", q.UOM)
		qo.end()
	}
	j.w.WriteByte(']')
}

func (j *jsonEncoder) place(o *obj, k string, p *Place) {
	if p == nil {
		return
	}
	o.key(k)
	po := j.begin()
	po.s("id", p.ID)
	j.members(po, p.Extensions)
	po.end()
}

func (j *jsonEncoder) sourceDest(o *obj, k, item string, list []SourceDest) {
	if len(list) == 0 {
		return
	}
	o.key(k)
	j.w.WriteByte('[')
	for i, sd := range list {
		if i > 0 {
			j.w.WriteByte(',')
		}
		so := j.begin()
		so.s("type", cbvSDT.jsonForm(string(sd.Type)))
		so.key(item)
		j.str(sd.Value)
		so.end()
	}
	j.w.WriteByte(']')
}

func (j *jsonEncoder) attrs(o *obj, list []Attr) {
	for _, a := range list {
		o.key(j.jsonKey(a.Space, a.Local, a.Prefix))
		j.str(a.Value)
	}
}

func (j *jsonEncoder) sensorElement(se *SensorElement) {
	o := j.begin()
	if m := se.Metadata; m != nil {
		o.key("sensorMetadata")
		mo := j.begin()
		mo.t("time", m.Time)
		mo.s("deviceID", m.DeviceID)
		mo.s("deviceMetadata", m.DeviceMetadata)
		mo.s("rawData", m.RawData)
		mo.t("startTime", m.StartTime)
		mo.t("endTime", m.EndTime)
		mo.s("dataProcessingMethod", m.DataProcessingMethod)
		mo.s("bizRules", m.BizRules)
		j.attrs(mo, m.Extensions)
		mo.end()
	}
	o.key("sensorReport")
	j.w.WriteByte('[')
	for i := range se.Reports {
		r := &se.Reports[i]
		if i > 0 {
			j.w.WriteByte(',')
		}
		ro := j.begin()
		ro.s("type", cbvMeasurement.jsonForm(r.Type))
		ro.s("exception", cbvAlert.jsonForm(r.Exception))
		ro.s("deviceID", r.DeviceID)
		ro.s("deviceMetadata", r.DeviceMetadata)
		ro.s("rawData", r.RawData)
		ro.s("dataProcessingMethod", r.DataProcessingMethod)
		ro.s("bizRules", r.BizRules)
		ro.t("time", r.Time)
		ro.s("microorganism", r.Microorganism)
		ro.s("chemicalSubstance", r.ChemicalSubstance)
		ro.s("coordinateReferenceSystem", r.CoordinateReferenceSystem)
		ro.num("value", r.Value)
		ro.s("component", cbvComponent.jsonForm(r.Component))
		if r.StringValue != nil {
			ro.key("stringValue")
			j.str(*r.StringValue)
		}
		if r.BooleanValue != nil {
			ro.key("booleanValue")
			j.w.WriteString(strconv.FormatBool(*r.BooleanValue))
		}
		ro.s("hexBinaryValue", r.HexBinaryValue)
		ro.s("uriValue", r.URIValue)
		ro.num("minValue", r.MinValue)
		ro.num("maxValue", r.MaxValue)
		ro.num("meanValue", r.MeanValue)
		ro.num("sDev", r.SDev)
		ro.num("percRank", r.PercRank)
		ro.num("percValue", r.PercValue)
		ro.s("uom", r.UOM)
		j.attrs(ro, r.Extensions)
		ro.end()
	}
	j.w.WriteByte(']')
	j.members(o, se.Extensions)
	o.end()
}

func (j *jsonEncoder) close() error {
	j.w.WriteString("\n]}}\n")
	if j.err != nil {
		return j.err
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
