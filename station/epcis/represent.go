package epcis

import (
	"fmt"
)

// Representable reports whether format f can carry header h without losing
// anything, and if not, names what would be lost in an
// *UnrepresentableError.
func Representable(f Format, h *Header) error {
	bad := func(format string, args ...any) error {
		return &UnrepresentableError{Format: f, Event: -1, What: fmt.Sprintf(format, args...)}
	}
	xml := f == FormatXML12 || f == FormatXML20
	if xml && h.ID != "" {
		return bad("the JSON-LD document id %q has no XML form", h.ID)
	}
	if f == FormatXML12 && h.SBDH == nil && (len(h.MasterData) > 0 || len(h.Extensions) > 0) {
		return bad("EPCIS 1.2 carries master data and header extensions only in a header with a Standard Business Document Header, and this document has none (no sender and receiver)")
	}
	if xml && h.SBDH != nil && (len(h.SBDH.Sender) == 0 || len(h.SBDH.Receiver) == 0) {
		return bad("the XML Standard Business Document Header needs at least one sender and one receiver")
	}
	for _, el := range h.Extensions {
		if err := elementRepresentable(f, el, false); err != "" {
			return bad("header extension %s: %s", el.qname(), err)
		}
	}
	for _, v := range h.MasterData {
		for _, ve := range v.Elements {
			for _, a := range ve.Attributes {
				for _, c := range a.Children {
					if err := elementRepresentable(f, c, false); err != "" {
						return bad("master data %s attribute %s: %s", ve.ID, a.ID, err)
					}
				}
			}
		}
	}
	return nil
}

// representable reports whether format f can carry the event.
func (e *Event) representable(f Format, index int) error {
	bad := func(format string, args ...any) error {
		return &UnrepresentableError{Format: f, Event: index, What: fmt.Sprintf(format, args...)}
	}
	if !e.Type.Standard() {
		if f != FormatJSONLD20 {
			return bad("the user-defined event type %q is only supported in JSON-LD", e.Type)
		}
	} else if msg := e.fieldsFitType(); msg != "" {
		return bad("%s", msg)
	}
	if f == FormatXML12 {
		switch {
		case e.Type == AssociationEvent:
			return bad("EPCIS 1.2 has no AssociationEvent (it was added in 2.0)")
		case len(e.SensorElementList) > 0:
			return bad("sensorElementList (sensor data) has no EPCIS 1.2 form")
		case e.PersistentDisposition != nil:
			return bad("persistentDisposition has no EPCIS 1.2 form")
		case len(e.CertificationInfo) > 0:
			return bad("certificationInfo has no EPCIS 1.2 form")
		}
	}
	if f == FormatXML20 && len(e.CertificationInfo) > 1 {
		return bad("EPCIS 2.0 XML allows one certificationInfo, the event has %d", len(e.CertificationInfo))
	}
	check := func(where string, list []Element, allowLocal bool) error {
		for _, el := range list {
			if msg := elementRepresentable(f, el, allowLocal); msg != "" {
				return bad("%s %s: %s", where, el.qname(), msg)
			}
		}
		return nil
	}
	if err := check("extension", e.Extensions, f == FormatXML12); err != nil {
		return err
	}
	if err := check("ilmd", e.ILMD, false); err != nil {
		return err
	}
	for _, p := range []*Place{e.ReadPoint, e.BizLocation} {
		if p != nil {
			if err := check("readPoint/bizLocation extension", p.Extensions, false); err != nil {
				return err
			}
		}
	}
	if e.ErrorDeclaration != nil {
		if err := check("errorDeclaration extension", e.ErrorDeclaration.Extensions, false); err != nil {
			return err
		}
	}
	for _, se := range e.SensorElementList {
		if err := check("sensorElement extension", se.Extensions, false); err != nil {
			return err
		}
	}
	return nil
}

// fieldsFitType returns what is wrong when the event has fields its type
// does not have, "" when it fits. It does not allocate on success: the
// writer calls it for every event.
func (e *Event) fieldsFitType() string {
	t := e.Type
	obj, agg, tx, tf, as := t == ObjectEvent, t == AggregationEvent, t == TransactionEvent, t == TransformationEvent, t == AssociationEvent
	var name string
	switch {
	case len(e.EPCList) > 0 && !(obj || tx):
		name = "epcList"
	case len(e.QuantityList) > 0 && !(obj || tx):
		name = "quantityList"
	case e.ParentID != "" && !(agg || tx || as):
		name = "parentID"
	case len(e.ChildEPCs) > 0 && !(agg || as):
		name = "childEPCs"
	case len(e.ChildQuantityList) > 0 && !(agg || as):
		name = "childQuantityList"
	case len(e.InputEPCList) > 0 && !tf:
		name = "inputEPCList"
	case len(e.OutputEPCList) > 0 && !tf:
		name = "outputEPCList"
	case len(e.InputQuantityList) > 0 && !tf:
		name = "inputQuantityList"
	case len(e.OutputQuantityList) > 0 && !tf:
		name = "outputQuantityList"
	case e.TransformationID != "" && !tf:
		name = "transformationID"
	case len(e.ILMD) > 0 && !(obj || tf):
		name = "ilmd"
	case e.Action != "" && tf:
		name = "action"
	default:
		return ""
	}
	return fmt.Sprintf("%s has no %s", t, name)
}

// elementRepresentable returns why an extension element cannot be written
// in format f, "" when it can. allowLocal permits elements without a
// namespace (EPCIS 1.2's inner extension wrappers).
func elementRepresentable(f Format, el Element, allowLocal bool) string {
	if el.Space == "" && !allowLocal {
		if f == FormatJSONLD20 {
			return "an element without namespace has no JSON-LD form"
		}
		return "user extension elements need a namespace"
	}
	if f == FormatJSONLD20 {
		if len(el.Attrs) > 0 {
			return "XML attributes on extension elements have no JSON-LD form"
		}
		if len(el.Children) > 0 && el.Text != "" {
			return "mixed content (text and child elements) has no JSON-LD form"
		}
	}
	for _, c := range el.Children {
		if msg := elementRepresentable(f, c, true); msg != "" {
			return msg
		}
	}
	return ""
}

func (el *Element) qname() string {
	if el.Prefix != "" {
		return el.Prefix + ":" + el.Local
	}
	if el.Space != "" {
		return "{" + el.Space + "}" + el.Local
	}
	return el.Local
}
