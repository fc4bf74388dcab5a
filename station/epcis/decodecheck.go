package epcis

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// The readers of all three formats hand their decoded events and headers to
// the same checks below before they return them. The checks hold what the
// model promises every writer: an event that a reader accepts can be
// written in every format that has a form for it (or is refused there with
// an *UnrepresentableError), and what is written reads back. What the
// schemas say beyond that (CBV values, EPC syntax, times) is Validate's job;
// these checks only refuse what no writer could write or no reader could
// read again.

// modelError is a finding of the shared checks: the path of the field,
// from the event type or header part on, and the reason.
type modelError struct {
	path   string
	reason string
}

func modelErrorf(path, format string, args ...any) *modelError {
	return &modelError{path: path, reason: fmt.Sprintf(format, args...)}
}

// checkDecoded returns what is wrong with a decoded event, nil when every
// writer can carry it (or cleanly refuse it) and every reader can read it
// back. f is the format it was read from: only EPCIS 1.2 XML has user
// extension elements without a namespace, in the extension wrappers of an
// event (the writers put them back there). Elsewhere the schemas reserve
// such elements for later versions of the standard, and no writer has a
// form for them.
func (e *Event) checkDecoded(f Format) *modelError {
	base := string(e.Type)
	for _, p := range e.places() {
		if p.pl == nil {
			continue
		}
		// XML readers trim the text of elements, so an id of only white
		// space would be written as one that reads back empty.
		if strings.TrimSpace(p.pl.ID) == "" {
			return modelErrorf(base+"/"+p.name+"/id", "%s needs an id", p.name)
		}
		if err := checkElements(base+"/"+p.name, p.pl.Extensions, false); err != nil {
			return err
		}
	}
	if err := checkElements(base, e.Extensions, f == FormatXML12); err != nil {
		return err
	}
	if err := checkElements(base+"/ilmd", e.ILMD, false); err != nil {
		return err
	}
	if ed := e.ErrorDeclaration; ed != nil {
		if err := checkElements(base+"/errorDeclaration", ed.Extensions, false); err != nil {
			return err
		}
	}
	for i := range e.SensorElementList {
		se := &e.SensorElementList[i]
		path := fmt.Sprintf("%s/sensorElementList[%d]", base, i)
		if err := checkElements(path, se.Extensions, false); err != nil {
			return err
		}
		if m := se.Metadata; m != nil {
			if err := checkAttrs(path+"/sensorMetadata", m.Extensions); err != nil {
				return err
			}
		}
		for k := range se.Reports {
			r := &se.Reports[k]
			rpath := fmt.Sprintf("%s/sensorReport[%d]", path, k)
			for _, n := range []struct {
				name string
				v    *float64
			}{{"value", r.Value}, {"minValue", r.MinValue}, {"maxValue", r.MaxValue}, {"meanValue", r.MeanValue},
				{"sDev", r.SDev}, {"percRank", r.PercRank}, {"percValue", r.PercValue}} {
				if n.v != nil && (math.IsNaN(*n.v) || math.IsInf(*n.v, 0)) {
					return modelErrorf(rpath+"/"+n.name, "%s is %v: sensor values must be finite numbers (JSON has no form for NaN or infinity)", n.name, *n.v)
				}
			}
			if err := checkAttrs(rpath, r.Extensions); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDecoded returns what is wrong with a decoded header, nil when the
// writers can carry it.
func (h *Header) checkDecoded() *modelError {
	if err := checkElements("EPCISHeader", h.Extensions, false); err != nil {
		return err
	}
	if s := h.SBDH; s != nil {
		for _, el := range []*Element{s.Manifest, s.BusinessScope} {
			if el != nil {
				if err := checkElements("EPCISHeader/sbdh:StandardBusinessDocumentHeader", []Element{*el}, false); err != nil {
					return err
				}
			}
		}
	}
	for i := range h.MasterData {
		v := &h.MasterData[i]
		path := fmt.Sprintf("EPCISHeader/epcisMasterData/vocabularyList[%d]", i)
		if err := checkElements(path, v.Extensions, false); err != nil {
			return err
		}
		for k := range v.Elements {
			ve := &v.Elements[k]
			epath := fmt.Sprintf("%s/vocabularyElementList[%d]", path, k)
			if err := checkElements(epath, ve.Extensions, false); err != nil {
				return err
			}
			for _, a := range ve.Attributes {
				if err := checkElements(epath+"/attributes", a.Children, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkElements checks user extension elements and their children: every
// name must be an XML name without a colon (the local part of a qualified
// name), and unless allowLocal, the top-level elements need a namespace.
func checkElements(path string, list []Element, allowLocal bool) *modelError {
	for i := range list {
		el := &list[i]
		epath := path + "/" + el.qname()
		if !isNCName(el.Local) {
			return modelErrorf(epath, "%q is not a valid XML element name (an extension's name, without its prefix, must be an XML name without a colon)", el.Local)
		}
		if el.Space == "" && !allowLocal {
			if el.Prefix != "" {
				return modelErrorf(epath, "extension element %s needs a namespace, and its prefix %s is bound to an empty IRI", el.Local, el.Prefix)
			}
			return modelErrorf(epath, "extension element %s needs a namespace", el.Local)
		}
		if err := checkAttrs(epath, el.Attrs); err != nil {
			return err
		}
		if err := checkElements(epath, el.Children, true); err != nil {
			return err
		}
	}
	return nil
}

// checkAttrs checks user attributes: namespaced, with an XML name.
func checkAttrs(path string, list []Attr) *modelError {
	for _, a := range list {
		if !isNCName(a.Local) {
			return modelErrorf(path+"/"+a.Local, "%q is not a valid XML attribute name", a.Local)
		}
		if a.Space == "" {
			return modelErrorf(path+"/"+a.Local, "user attribute %s needs a namespace", a.Local)
		}
	}
	return nil
}

// isNCName reports whether s is an XML name without a colon, as the XML
// decoder the readers use accepts it: a local name or a prefix.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			ascii = false
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', c == '_':
		case '0' <= c && c <= '9', c == '.', c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	if ascii {
		return true
	}
	// Names with other characters: ask the decoder, whose tables of name
	// characters are what the readers will apply to the written document.
	d := xml.NewDecoder(strings.NewReader("<" + s + "/>"))
	tok, err := d.RawToken()
	st, ok := tok.(xml.StartElement)
	return err == nil && ok && st.Name.Space == "" && st.Name.Local == s
}
