package epcis

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// limitedReader feeds the XML and JSON decoders and fails once more than max
// bytes are read since the last reset (the start of an event), so that no
// token or event can exhaust memory.
type limitedReader struct {
	r   *bufio.Reader
	n   int64
	max int64
	off int64
}

func (l *limitedReader) ReadByte() (byte, error) {
	if l.n >= l.max {
		return 0, ErrTooLarge
	}
	c, err := l.r.ReadByte()
	if err == nil {
		l.n++
		l.off++
	}
	return c, err
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, ErrTooLarge
	}
	if rem := l.max - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	l.off += int64(n)
	return n, err
}

func (l *limitedReader) reset() { l.n = 0 }

// xnode is an element read into memory: one event, or one part of the
// header, at a time.
type xnode struct {
	name     xml.Name
	attrs    []xml.Attr
	text     string
	children []*xnode
	line     int
}

// find returns the element that a path from n names, as far as it can
// follow it: "ObjectEvent/readPoint/id" from the ObjectEvent is its id
// element, or the readPoint when that has no id. The first step names n
// itself; "name[i]" is the i-th such child; "prefix:name" matches the local
// name; EPCIS 1.2 extension wrappers are looked through. It is for the line
// of an error found after decoding.
func (n *xnode) find(path string) *xnode {
	steps := strings.Split(path, "/")
	for _, step := range steps[1:] {
		index := 0
		if i := strings.IndexByte(step, '['); i > 0 && strings.HasSuffix(step, "]") {
			index, _ = strconv.Atoi(step[i+1 : len(step)-1])
			step = step[:i]
		}
		if i := strings.IndexByte(step, ':'); i >= 0 {
			step = step[i+1:]
		}
		c := n.child(step, &index)
		if c == nil {
			return n
		}
		n = c
	}
	return n
}

func (n *xnode) child(local string, index *int) *xnode {
	for _, c := range n.children {
		if c.name.Local == local {
			if *index == 0 {
				return c
			}
			*index--
		}
	}
	for _, c := range n.children {
		if c.name.Space == "" && (c.name.Local == "extension" || c.name.Local == "baseExtension") {
			if f := c.child(local, index); f != nil {
				return f
			}
		}
	}
	return nil
}

func (n *xnode) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

type xmlDecoder struct {
	lr    *limitedReader
	d     *xml.Decoder
	f     Format
	opts  ReaderOptions
	depth int
	index int
	// state: 0 before the body's events, 1 in EventList, 2 after it
	state    int
	trailing []Element
	prefixes map[string]string // namespace -> prefix seen in declarations
}

func newXMLDecoder(br *bufio.Reader, o ReaderOptions) *xmlDecoder {
	lr := &limitedReader{r: br, max: o.MaxEventBytes}
	d := xml.NewDecoder(lr)
	d.Strict = true
	return &xmlDecoder{lr: lr, d: d, f: o.Format, opts: o, prefixes: map[string]string{}}
}

func (x *xmlDecoder) fail(event int, path, format string, args ...any) error {
	line, _ := x.d.InputPos()
	return &DecodeError{Event: event, Path: path, Line: line, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

func (x *xmlDecoder) failAt(event int, path string, n *xnode, format string, args ...any) error {
	return &DecodeError{Event: event, Path: path, Line: n.line, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// token returns the next token that matters (no comments or processing
// instructions), refusing DOCTYPEs and too deep nesting.
func (x *xmlDecoder) token() (xml.Token, error) {
	for {
		tok, err := x.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			line, _ := x.d.InputPos()
			de := &DecodeError{Event: -1, Line: line, Offset: -1, Reason: fmt.Sprintf("XML is not well-formed: %v", err), Err: err}
			switch {
			case errors.Is(err, ErrTooLarge):
				de.Reason = fmt.Sprintf("%v (%d bytes)", ErrTooLarge, x.opts.MaxEventBytes)
				de.Err = ErrTooLarge
			}
			if x.state == 1 {
				de.Event = x.index
			}
			return nil, de
		}
		switch t := tok.(type) {
		case xml.Directive:
			line, _ := x.d.InputPos()
			return nil, &DecodeError{Event: -1, Line: line, Offset: -1, Reason: ErrDoctype.Error(), Err: ErrDoctype}
		case xml.Comment, xml.ProcInst:
			continue
		case xml.StartElement:
			x.depth++
			if x.depth > x.opts.MaxDepth {
				line, _ := x.d.InputPos()
				return nil, &DecodeError{Event: -1, Line: line, Offset: -1, Reason: fmt.Sprintf("elements nest deeper than %d levels", x.opts.MaxDepth), Err: ErrTooDeep}
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					if _, ok := x.prefixes[a.Value]; !ok {
						x.prefixes[a.Value] = a.Name.Local
					}
				}
			}
			return t.Copy(), nil
		case xml.EndElement:
			x.depth--
			return t, nil
		case xml.CharData:
			return t.Copy(), nil
		}
	}
}

// tree reads the element that start opened, with everything in it.
func (x *xmlDecoder) tree(start xml.StartElement) (*xnode, error) {
	line, _ := x.d.InputPos()
	n := &xnode{name: start.Name, line: line}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		n.attrs = append(n.attrs, a)
	}
	var text strings.Builder
	for {
		tok, err := x.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, x.fail(-1, "", "the document ends inside <%s>", start.Name.Local)
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := x.tree(t)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			n.text = strings.TrimSpace(text.String())
			return n, nil
		}
	}
}

func (x *xmlDecoder) epcisNS() string {
	if x.f == FormatXML12 {
		return NamespaceEPCIS12
	}
	return NamespaceEPCIS20
}

func (x *xmlDecoder) header() (*Header, error) {
	h := &Header{}
	x.lr.reset()
	var root xml.StartElement
	for {
		tok, err := x.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, x.fail(-1, "", "the document has no root element")
			}
			return nil, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			root = s
			break
		}
	}
	if root.Name.Local != "EPCISDocument" || root.Name.Space != x.epcisNS() {
		return nil, x.fail(-1, root.Name.Local, "root element must be EPCISDocument in namespace %s", x.epcisNS())
	}
	for _, a := range root.Attr {
		switch {
		case a.Name.Space == "xmlns":
			if a.Value != x.epcisNS() && a.Value != NamespaceSBDH && a.Value != NamespaceXSI {
				h.Namespaces = append(h.Namespaces, Namespace{Prefix: a.Name.Local, URI: a.Value})
			}
		case a.Name.Space == "" && a.Name.Local == "schemaVersion":
			h.SchemaVersion = strings.TrimSpace(a.Value)
		case a.Name.Space == "" && a.Name.Local == "creationDate":
			t, err := parseTime(a.Value, x.f == FormatXML12)
			if err != nil {
				return nil, x.fail(-1, "EPCISDocument/@creationDate", "%v", err)
			}
			h.CreationDate = t
		}
	}
	if h.SchemaVersion == "" {
		return nil, x.fail(-1, "EPCISDocument/@schemaVersion", "schemaVersion is required")
	}
	if h.CreationDate.IsZero() {
		return nil, x.fail(-1, "EPCISDocument/@creationDate", "creationDate is required")
	}
	seenHeader := false
	for {
		tok, err := x.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, x.fail(-1, "EPCISDocument", "the document ends before EPCISBody")
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, x.fail(-1, "EPCISDocument", "unexpected text %q", clip(string(t)))
			}
		case xml.EndElement:
			return nil, x.fail(-1, "EPCISDocument", "EPCISBody is missing")
		case xml.StartElement:
			switch {
			case t.Name.Local == "EPCISHeader" && t.Name.Space == "" && !seenHeader:
				seenHeader = true
				n, err := x.tree(t)
				if err != nil {
					return nil, err
				}
				if err := x.readHeader(h, n); err != nil {
					return nil, err
				}
				if bad := h.checkDecoded(); bad != nil {
					return nil, x.failAt(-1, bad.path, n.find(bad.path), "%s", bad.reason)
				}
				x.lr.reset()
			case t.Name.Local == "EPCISBody" && t.Name.Space == "":
				return h, x.enterBody()
			default:
				return nil, x.fail(-1, "EPCISDocument/"+t.Name.Local, "unexpected element %s: want EPCISHeader or EPCISBody", t.Name.Local)
			}
		}
	}
}

// enterBody moves past <EventList>, or to the end of an empty body.
func (x *xmlDecoder) enterBody() error {
	for {
		tok, err := x.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "EventList" && t.Name.Space == "" {
				x.state = 1
				return nil
			}
			return x.fail(-1, "EPCISBody/"+t.Name.Local, "unexpected element %s: want EventList", t.Name.Local)
		case xml.EndElement:
			x.state = 2
			return nil
		}
	}
}

func (x *xmlDecoder) next() (*Event, error) {
	x.lr.reset()
	for x.state == 1 {
		tok, err := x.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, x.fail(x.index, "EventList", "the document ends inside EventList")
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, x.fail(x.index, "EventList", "unexpected text %q", clip(string(t)))
			}
		case xml.EndElement:
			x.state = 2
		case xml.StartElement:
			n, err := x.tree(t)
			if err != nil {
				return nil, err
			}
			if n.name.Space == "" && n.name.Local == "extension" {
				if x.f == FormatXML20 || len(n.children) != 1 || n.children[0].name.Local != "TransformationEvent" || n.children[0].name.Space != "" {
					return nil, x.failAt(x.index, "EventList/extension", n, "event list extensions other than the EPCIS 1.2 TransformationEvent wrapper are not supported")
				}
				n = n.children[0]
			}
			e, err := x.event(n, x.index)
			if err != nil {
				return nil, err
			}
			if bad := e.checkDecoded(x.f); bad != nil {
				return nil, x.failAt(x.index, bad.path, n.find(bad.path), "%s", bad.reason)
			}
			x.index++
			return e, nil
		}
	}
	return nil, x.finish()
}

// finish reads what follows the event list: body and document extensions
// (kept as header extensions) and the end of the document.
func (x *xmlDecoder) finish() error {
	for {
		tok, err := x.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if x.depth != 0 {
					return x.fail(-1, "", "the document ends before </EPCISDocument>")
				}
				return io.EOF
			}
			return err
		}
		if t, ok := tok.(xml.StartElement); ok {
			n, err := x.tree(t)
			if err != nil {
				return err
			}
			if n.name.Space == "" {
				return x.failAt(-1, n.name.Local, n, "unsupported element %s after the event list", n.name.Local)
			}
			el := x.element(n)
			if bad := checkElements("EPCISDocument", []Element{el}, false); bad != nil {
				return x.failAt(-1, bad.path, n, "%s", bad.reason)
			}
			x.trailing = append(x.trailing, el)
		}
		if c, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(c)) != "" {
			return x.fail(-1, "", "unexpected text %q after the event list", clip(string(c)))
		}
	}
}

func (x *xmlDecoder) trailer(h *Header) {
	h.Extensions = append(h.Extensions, x.trailing...)
	x.trailing = nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// element turns a node into a user extension element.
func (x *xmlDecoder) element(n *xnode) Element {
	el := Element{Space: n.name.Space, Local: n.name.Local, Prefix: x.prefixes[n.name.Space], Text: n.text}
	for _, a := range n.attrs {
		el.Attrs = append(el.Attrs, Attr{Space: a.Name.Space, Local: a.Name.Local, Prefix: x.prefixes[a.Name.Space], Value: a.Value})
	}
	if len(n.children) > 0 {
		el.Children = make([]Element, 0, len(n.children))
		for _, c := range n.children {
			el.Children = append(el.Children, x.element(c))
		}
	}
	return el
}

func (x *xmlDecoder) readHeader(h *Header, n *xnode) error {
	const path = "EPCISHeader"
	stage := 0
	for _, c := range n.children {
		switch {
		case c.name.Space == NamespaceSBDH && c.name.Local == "StandardBusinessDocumentHeader" && stage == 0:
			s, err := x.readSBDH(c)
			if err != nil {
				return err
			}
			h.SBDH = s
			stage = 1
		case c.name.Space == "" && c.name.Local == "extension" && stage <= 1:
			stage = 2
			for _, cc := range c.children {
				switch {
				case cc.name.Space == "" && cc.name.Local == "EPCISMasterData":
					md, err := x.readMasterData(cc)
					if err != nil {
						return err
					}
					h.MasterData = append(h.MasterData, md...)
				default:
					return x.failAt(-1, path+"/extension/"+cc.name.Local, cc, "unsupported element %s in the header extension", cc.name.Local)
				}
			}
		case c.name.Space != "":
			if x.f == FormatXML20 {
				return x.failAt(-1, path+"/"+c.name.Local, c, "the EPCIS 2.0 XML header allows only the SBDH and extension/EPCISMasterData")
			}
			stage = 3
			h.Extensions = append(h.Extensions, x.element(c))
		default:
			return x.failAt(-1, path+"/"+c.name.Local, c, "unexpected or misplaced element %s", c.name.Local)
		}
	}
	if x.f == FormatXML12 && h.SBDH == nil {
		return x.failAt(-1, path, n, "an EPCIS 1.2 header must start with sbdh:StandardBusinessDocumentHeader")
	}
	return nil
}

func (x *xmlDecoder) readSBDH(n *xnode) (*SBDH, error) {
	const path = "EPCISHeader/sbdh:StandardBusinessDocumentHeader"
	s := &SBDH{}
	order := []string{"HeaderVersion", "Sender", "Receiver", "DocumentIdentification", "Manifest", "BusinessScope"}
	last := -1
	for _, c := range n.children {
		rank := -1
		for i, o := range order {
			if c.name.Local == o && c.name.Space == NamespaceSBDH {
				rank = i
			}
		}
		if rank < 0 || rank < last || rank == last && c.name.Local != "Sender" && c.name.Local != "Receiver" {
			return nil, x.failAt(-1, path+"/"+c.name.Local, c, "unexpected or misplaced element %s (order: %s)", c.name.Local, strings.Join(order, ", "))
		}
		last = rank
		switch c.name.Local {
		case "HeaderVersion":
			s.HeaderVersion = c.text
		case "Sender", "Receiver":
			p := Partner{}
			for _, cc := range c.children {
				switch cc.name.Local {
				case "Identifier":
					p.Identifier = cc.text
					p.Authority, _ = cc.attr("Authority")
				case "ContactInformation":
					var ct Contact
					for _, f := range cc.children {
						switch f.name.Local {
						case "Contact":
							ct.Contact = f.text
						case "EmailAddress":
							ct.EmailAddress = f.text
						case "FaxNumber":
							ct.FaxNumber = f.text
						case "TelephoneNumber":
							ct.TelephoneNumber = f.text
						case "ContactTypeIdentifier":
							ct.ContactTypeIdentifier = f.text
						}
					}
					p.Contacts = append(p.Contacts, ct)
				}
			}
			if p.Identifier == "" {
				return nil, x.failAt(-1, path+"/"+c.name.Local, c, "%s needs an Identifier", c.name.Local)
			}
			if c.name.Local == "Sender" {
				s.Sender = append(s.Sender, p)
			} else {
				s.Receiver = append(s.Receiver, p)
			}
		case "DocumentIdentification":
			for _, cc := range c.children {
				switch cc.name.Local {
				case "Standard":
					s.Standard = cc.text
				case "TypeVersion":
					s.TypeVersion = cc.text
				case "InstanceIdentifier":
					s.InstanceIdentifier = cc.text
				case "Type":
					s.Type = cc.text
				case "MultipleType":
					b, err := parseBool(cc.text)
					if err != nil {
						return nil, x.failAt(-1, path+"/DocumentIdentification/MultipleType", cc, "%v", err)
					}
					s.MultipleType = &b
				case "CreationDateAndTime":
					t, err := parseTime(cc.text, true)
					if err != nil {
						return nil, x.failAt(-1, path+"/DocumentIdentification/CreationDateAndTime", cc, "%v", err)
					}
					s.CreationDateAndTime = t
				}
			}
		case "Manifest":
			el := x.element(c)
			s.Manifest = &el
		case "BusinessScope":
			el := x.element(c)
			s.BusinessScope = &el
		}
	}
	if len(s.Sender) == 0 || len(s.Receiver) == 0 {
		return nil, x.failAt(-1, path, n, "the Standard Business Document Header needs at least one Sender and one Receiver")
	}
	return s, nil
}

func (x *xmlDecoder) readMasterData(n *xnode) ([]Vocabulary, error) {
	const path = "EPCISHeader/extension/EPCISMasterData"
	var out []Vocabulary
	for _, c := range n.children {
		if c.name.Local != "VocabularyList" || c.name.Space != "" {
			if c.name.Local == "extension" && c.name.Space == "" {
				continue
			}
			return nil, x.failAt(-1, path+"/"+c.name.Local, c, "unexpected element %s: want VocabularyList", c.name.Local)
		}
		for _, vn := range c.children {
			if vn.name.Local != "Vocabulary" {
				return nil, x.failAt(-1, path+"/VocabularyList/"+vn.name.Local, vn, "unexpected element %s: want Vocabulary", vn.name.Local)
			}
			v := Vocabulary{}
			var ok bool
			if v.Type, ok = vn.attr("type"); !ok {
				return nil, x.failAt(-1, path+"/VocabularyList/Vocabulary", vn, "Vocabulary needs a type attribute")
			}
			for _, vc := range vn.children {
				switch {
				case vc.name.Local == "VocabularyElementList" && vc.name.Space == "":
					for _, en := range vc.children {
						ve, err := x.readVocabularyElement(en, path+"/VocabularyList/Vocabulary/VocabularyElementList")
						if err != nil {
							return nil, err
						}
						v.Elements = append(v.Elements, ve)
					}
				case vc.name.Space != "":
					v.Extensions = append(v.Extensions, x.element(vc))
				case vc.name.Local == "extension":
				default:
					return nil, x.failAt(-1, path+"/VocabularyList/Vocabulary/"+vc.name.Local, vc, "unexpected element %s", vc.name.Local)
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (x *xmlDecoder) readVocabularyElement(en *xnode, path string) (VocabularyElement, error) {
	if en.name.Local != "VocabularyElement" {
		return VocabularyElement{}, x.failAt(-1, path+"/"+en.name.Local, en, "unexpected element %s: want VocabularyElement", en.name.Local)
	}
	id, ok := en.attr("id")
	if !ok {
		return VocabularyElement{}, x.failAt(-1, path+"/VocabularyElement", en, "VocabularyElement needs an id attribute")
	}
	ve := VocabularyElement{ID: id}
	for _, ac := range en.children {
		switch {
		case ac.name.Local == "attribute" && ac.name.Space == "":
			aid, ok := ac.attr("id")
			if !ok {
				return VocabularyElement{}, x.failAt(-1, path+"/VocabularyElement/attribute", ac, "attribute needs an id (vocabulary element %s)", id)
			}
			a := Attribute{ID: aid, Value: ac.text}
			for _, cc := range ac.children {
				a.Children = append(a.Children, x.element(cc))
			}
			ve.Attributes = append(ve.Attributes, a)
		case ac.name.Local == "children" && ac.name.Space == "":
			for _, cc := range ac.children {
				ve.Children = append(ve.Children, cc.text)
			}
		case ac.name.Space != "":
			ve.Extensions = append(ve.Extensions, x.element(ac))
		case ac.name.Local == "extension":
		default:
			return VocabularyElement{}, x.failAt(-1, path+"/VocabularyElement/"+ac.name.Local, ac, "unexpected element %s", ac.name.Local)
		}
	}
	return ve, nil
}

// event converts one event element, checking the schema's element order.
func (x *xmlDecoder) event(n *xnode, idx int) (*Event, error) {
	typ := EventType(n.name.Local)
	if n.name.Space != "" {
		return nil, x.failAt(idx, n.name.Local, n, "event elements are unqualified; %s has namespace %s", n.name.Local, n.name.Space)
	}
	var base, body []seqItem
	if x.f == FormatXML12 {
		base, body = base12, seq12[typ]
		if typ == "QuantityEvent" {
			return nil, x.failAt(idx, string(typ), n, "QuantityEvent (deprecated since EPCIS 1.1, removed in 2.0) is not supported")
		}
	} else {
		base, body = base20, seq20[typ]
	}
	if body == nil {
		return nil, x.failAt(idx, string(typ), n, "unknown event type %s", typ)
	}
	seq := append(append([]seqItem(nil), base...), body...)
	e := &Event{Type: typ}
	if err := x.fields(e, n, seq, string(typ), idx, true); err != nil {
		return nil, err
	}
	return e, nil
}

// fields reads the children of n into e following the sequence seq; with
// others, namespaced elements after the sequence are user extensions.
func (x *xmlDecoder) fields(e *Event, n *xnode, seq []seqItem, path string, idx int, others bool) error {
	pos := -1
	for _, c := range n.children {
		cpath := path + "/" + c.name.Local
		if c.name.Space != "" {
			if !others {
				return x.failAt(idx, cpath, c, "user extension elements are not allowed here")
			}
			pos = len(seq)
			e.Extensions = append(e.Extensions, x.element(c))
			continue
		}
		id := fieldByName(c.name.Local)
		at := -1
		for i := pos + 1; i < len(seq); i++ {
			if seq[i].id == id {
				at = i
				break
			}
		}
		if at < 0 {
			for i := 0; i <= pos && i < len(seq); i++ {
				if seq[i].id == id {
					return x.failAt(idx, cpath, c, "%s is misplaced or repeated: the schema wants %s", c.name.Local, seqNames(seq))
				}
			}
			return x.failAt(idx, cpath, c, "unexpected element %s in %s (the schema wants %s)", c.name.Local, path, seqNames(seq))
		}
		pos = at
		it := seq[at]
		switch it.id {
		case fExtension:
			if x.f == FormatXML20 {
				for _, cc := range c.children {
					if cc.name.Space == "" {
						return x.failAt(idx, cpath+"/"+cc.name.Local, cc, "EPCIS 2.0 extension elements need a namespace")
					}
					e.Extensions = append(e.Extensions, x.element(cc))
				}
				continue
			}
			sub := append(append([]seqItem(nil), it.sub...), seqItem{id: fExtension})
			if len(it.sub) == 0 {
				// TransformationEvent/extension holds ##local elements directly.
				for _, cc := range c.children {
					e.Extensions = append(e.Extensions, x.element(cc))
				}
				continue
			}
			if err := x.fieldsInner(e, c, sub, cpath, idx); err != nil {
				return err
			}
		case fBaseExtension:
			if x.f == FormatXML20 {
				for _, cc := range c.children {
					e.Extensions = append(e.Extensions, x.element(cc))
				}
				continue
			}
			if err := x.fieldsInner(e, c, []seqItem{{id: fEventID}, {id: fErrorDeclaration}, {id: fExtension}}, cpath, idx); err != nil {
				return err
			}
		default:
			if err := x.value(e, it.id, c, cpath, idx); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldsInner reads a 1.2 extension wrapper: its fields in order, then an
// inner extension of ##local elements.
func (x *xmlDecoder) fieldsInner(e *Event, n *xnode, seq []seqItem, path string, idx int) error {
	pos := -1
	for _, c := range n.children {
		cpath := path + "/" + c.name.Local
		id := fieldByName(c.name.Local)
		at := -1
		for i := pos + 1; i < len(seq) && c.name.Space == ""; i++ {
			if seq[i].id == id {
				at = i
				break
			}
		}
		if at < 0 {
			return x.failAt(idx, cpath, c, "unexpected or misplaced element %s (the schema wants %s)", c.name.Local, seqNames(seq))
		}
		pos = at
		if id == fExtension {
			for _, cc := range c.children {
				e.Extensions = append(e.Extensions, x.element(cc))
			}
			continue
		}
		if err := x.value(e, id, c, cpath, idx); err != nil {
			return err
		}
	}
	return nil
}

func seqNames(seq []seqItem) string {
	names := make([]string, 0, len(seq))
	for _, it := range seq {
		names = append(names, fieldNames[it.id])
	}
	return strings.Join(names, ", ")
}

func (x *xmlDecoder) epcList(n *xnode, path string, idx int) ([]string, error) {
	if len(n.children) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(n.children))
	for _, c := range n.children {
		if c.name.Local != "epc" || c.name.Space != "" {
			return nil, x.failAt(idx, path+"/"+c.name.Local, c, "unexpected element %s: want epc", c.name.Local)
		}
		out = append(out, c.text)
	}
	return out, nil
}

func (x *xmlDecoder) quantityList(n *xnode, path string, idx int) ([]Quantity, error) {
	var out []Quantity
	for i, c := range n.children {
		qpath := fmt.Sprintf("%s/quantityElement[%d]", path, i)
		if c.name.Local != "quantityElement" {
			return nil, x.failAt(idx, qpath, c, "unexpected element %s: want quantityElement", c.name.Local)
		}
		var q Quantity
		stage := 0
		for _, f := range c.children {
			switch {
			case f.name.Local == "epcClass" && stage == 0:
				q.EPCClass, stage = f.text, 1
			case f.name.Local == "quantity" && stage == 1:
				v, err := parseDecimal(f.text)
				if err != nil {
					return nil, x.failAt(idx, qpath+"/quantity", f, "%v", err)
				}
				q.Quantity, q.HasQuantity, stage = v, true, 2
			case f.name.Local == "uom" && stage == 2:
				q.UOM, stage = f.text, 3
			default:
				return nil, x.failAt(idx, qpath+"/"+f.name.Local, f, "unexpected or misplaced element %s (want epcClass, quantity, uom)", f.name.Local)
			}
		}
		if stage == 0 {
			return nil, x.failAt(idx, qpath, c, "quantityElement needs an epcClass")
		}
		out = append(out, q)
	}
	return out, nil
}

func (x *xmlDecoder) place(n *xnode, path string, idx int) (*Place, error) {
	p := &Place{}
	for i, c := range n.children {
		switch {
		case i == 0 && c.name.Local == "id" && c.name.Space == "":
			p.ID = c.text
		case c.name.Space != "":
			p.Extensions = append(p.Extensions, x.element(c))
		case c.name.Local == "extension" && i > 0:
			for _, cc := range c.children {
				p.Extensions = append(p.Extensions, x.element(cc))
			}
		default:
			return nil, x.failAt(idx, path+"/"+c.name.Local, c, "unexpected element %s: want id first", c.name.Local)
		}
	}
	return p, nil
}

func (x *xmlDecoder) value(e *Event, id fieldID, c *xnode, path string, idx int) error {
	var err error
	needLeaf := func() error {
		if len(c.children) > 0 {
			return x.failAt(idx, path, c, "%s must be text, has child elements", c.name.Local)
		}
		return nil
	}
	switch id {
	case fEventTime, fRecordTime:
		if err := needLeaf(); err != nil {
			return err
		}
		t, perr := parseTime(c.text, x.f == FormatXML12)
		if perr != nil {
			return x.failAt(idx, path, c, "%v", perr)
		}
		if id == fEventTime {
			e.EventTime = t
		} else {
			e.RecordTime = t
		}
	case fTimeZoneOffset:
		e.EventTimeZoneOffset = c.text
	case fEventID:
		e.EventID = c.text
	case fCertificationInfo:
		e.CertificationInfo = append(e.CertificationInfo, c.text)
	case fErrorDeclaration:
		ed := &ErrorDeclaration{}
		for _, f := range c.children {
			switch {
			case f.name.Space != "":
				ed.Extensions = append(ed.Extensions, x.element(f))
			case f.name.Local == "declarationTime":
				t, perr := parseTime(f.text, x.f == FormatXML12)
				if perr != nil {
					return x.failAt(idx, path+"/declarationTime", f, "%v", perr)
				}
				ed.DeclarationTime = t
			case f.name.Local == "reason":
				ed.Reason = ErrorReason(cbvER.canonical(f.text))
			case f.name.Local == "correctiveEventIDs":
				for _, g := range f.children {
					ed.CorrectiveEventIDs = append(ed.CorrectiveEventIDs, g.text)
				}
			case f.name.Local == "extension":
				for _, g := range f.children {
					ed.Extensions = append(ed.Extensions, x.element(g))
				}
			default:
				return x.failAt(idx, path+"/"+f.name.Local, f, "unexpected element %s", f.name.Local)
			}
		}
		e.ErrorDeclaration = ed
	case fEPCList:
		e.EPCList, err = x.epcList(c, path, idx)
	case fChildEPCs:
		e.ChildEPCs, err = x.epcList(c, path, idx)
	case fInputEPCList:
		e.InputEPCList, err = x.epcList(c, path, idx)
	case fOutputEPCList:
		e.OutputEPCList, err = x.epcList(c, path, idx)
	case fQuantityList:
		e.QuantityList, err = x.quantityList(c, path, idx)
	case fChildQuantityList:
		e.ChildQuantityList, err = x.quantityList(c, path, idx)
	case fInputQuantityList:
		e.InputQuantityList, err = x.quantityList(c, path, idx)
	case fOutputQuantityList:
		e.OutputQuantityList, err = x.quantityList(c, path, idx)
	case fParentID:
		e.ParentID = c.text
	case fTransformationID:
		e.TransformationID = c.text
	case fAction:
		e.Action = Action(c.text)
	case fBizStep:
		e.BizStep = BizStep(cbvBizStep.canonical(c.text))
	case fDisposition:
		e.Disposition = Disposition(cbvDisposition.canonical(c.text))
	case fReadPoint:
		e.ReadPoint, err = x.place(c, path, idx)
	case fBizLocation:
		e.BizLocation, err = x.place(c, path, idx)
	case fBizTransactionList:
		for _, f := range c.children {
			if f.name.Local != "bizTransaction" {
				return x.failAt(idx, path+"/"+f.name.Local, f, "unexpected element %s: want bizTransaction", f.name.Local)
			}
			t, _ := f.attr("type")
			e.BizTransactionList = append(e.BizTransactionList, BizTransaction{Type: BizTransactionType(cbvBTT.canonical(t)), Value: f.text})
		}
	case fSourceList, fDestinationList:
		want := "source"
		if id == fDestinationList {
			want = "destination"
		}
		for _, f := range c.children {
			if f.name.Local != want {
				return x.failAt(idx, path+"/"+f.name.Local, f, "unexpected element %s: want %s", f.name.Local, want)
			}
			t, _ := f.attr("type")
			sd := SourceDest{Type: SourceDestType(cbvSDT.canonical(t)), Value: f.text}
			if id == fSourceList {
				e.SourceList = append(e.SourceList, sd)
			} else {
				e.DestinationList = append(e.DestinationList, sd)
			}
		}
	case fSensorElementList:
		e.SensorElementList, err = x.sensors(c, path, idx)
	case fPersistentDisposition:
		pd := &PersistentDisposition{}
		for _, f := range c.children {
			switch f.name.Local {
			case "set":
				pd.Set = append(pd.Set, Disposition(cbvDisposition.canonical(f.text)))
			case "unset":
				pd.Unset = append(pd.Unset, Disposition(cbvDisposition.canonical(f.text)))
			default:
				return x.failAt(idx, path+"/"+f.name.Local, f, "unexpected element %s: want set or unset", f.name.Local)
			}
		}
		e.PersistentDisposition = pd
	case fILMD:
		for _, f := range c.children {
			if f.name.Space == "" {
				if f.name.Local == "extension" {
					for _, g := range f.children {
						e.ILMD = append(e.ILMD, x.element(g))
					}
					continue
				}
				return x.failAt(idx, path+"/"+f.name.Local, f, "ILMD elements need a namespace (e.g. cbvmda:lotNumber)")
			}
			e.ILMD = append(e.ILMD, x.element(f))
		}
	}
	return err
}

func (x *xmlDecoder) sensors(n *xnode, path string, idx int) ([]SensorElement, error) {
	var out []SensorElement
	for i, c := range n.children {
		spath := fmt.Sprintf("%s/sensorElement[%d]", path, i)
		if c.name.Local != "sensorElement" {
			if c.name.Local == "extension" {
				continue
			}
			return nil, x.failAt(idx, spath, c, "unexpected element %s: want sensorElement", c.name.Local)
		}
		var se SensorElement
		for _, f := range c.children {
			switch {
			case f.name.Space != "":
				se.Extensions = append(se.Extensions, x.element(f))
			case f.name.Local == "sensorMetadata":
				m := &SensorMetadata{}
				for _, a := range f.attrs {
					if err := x.metaAttr(m, a); err != nil {
						return nil, x.failAt(idx, spath+"/sensorMetadata/@"+a.Name.Local, f, "%v", err)
					}
				}
				se.Metadata = m
			case f.name.Local == "sensorReport":
				var r SensorReport
				for _, a := range f.attrs {
					if err := x.reportAttr(&r, a); err != nil {
						return nil, x.failAt(idx, spath+"/sensorReport/@"+a.Name.Local, f, "%v", err)
					}
				}
				se.Reports = append(se.Reports, r)
			case f.name.Local == "extension":
				for _, g := range f.children {
					se.Extensions = append(se.Extensions, x.element(g))
				}
			default:
				return nil, x.failAt(idx, spath+"/"+f.name.Local, f, "unexpected element %s", f.name.Local)
			}
		}
		out = append(out, se)
	}
	return out, nil
}

func (x *xmlDecoder) extAttr(a xml.Attr) Attr {
	return Attr{Space: a.Name.Space, Local: a.Name.Local, Prefix: x.prefixes[a.Name.Space], Value: a.Value}
}

func (x *xmlDecoder) metaAttr(m *SensorMetadata, a xml.Attr) error {
	if a.Name.Space != "" {
		m.Extensions = append(m.Extensions, x.extAttr(a))
		return nil
	}
	var err error
	switch a.Name.Local {
	case "time":
		m.Time, err = parseTime(a.Value, false)
	case "startTime":
		m.StartTime, err = parseTime(a.Value, false)
	case "endTime":
		m.EndTime, err = parseTime(a.Value, false)
	case "deviceID":
		m.DeviceID = a.Value
	case "deviceMetadata":
		m.DeviceMetadata = a.Value
	case "rawData":
		m.RawData = a.Value
	case "dataProcessingMethod":
		m.DataProcessingMethod = a.Value
	case "bizRules":
		m.BizRules = a.Value
	default:
		return fmt.Errorf("unknown sensorMetadata attribute %s", a.Name.Local)
	}
	return err
}

func (x *xmlDecoder) reportAttr(r *SensorReport, a xml.Attr) error {
	if a.Name.Space != "" {
		r.Extensions = append(r.Extensions, x.extAttr(a))
		return nil
	}
	v := a.Value
	num := func(dst **float64) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%s %q is not a number", a.Name.Local, v)
		}
		*dst = &f
		return nil
	}
	var err error
	switch a.Name.Local {
	case "type":
		r.Type = v
	case "exception":
		r.Exception = v
	case "deviceID":
		r.DeviceID = v
	case "deviceMetadata":
		r.DeviceMetadata = v
	case "rawData":
		r.RawData = v
	case "dataProcessingMethod":
		r.DataProcessingMethod = v
	case "time":
		r.Time, err = parseTime(v, false)
	case "microorganism":
		r.Microorganism = v
	case "chemicalSubstance":
		r.ChemicalSubstance = v
	case "value":
		err = num(&r.Value)
	case "component":
		r.Component = cbvComponent.canonical(v)
	case "stringValue":
		s := v
		r.StringValue = &s
	case "booleanValue":
		b, berr := parseBool(v)
		if berr != nil {
			return berr
		}
		r.BooleanValue = &b
	case "hexBinaryValue":
		r.HexBinaryValue = v
	case "uriValue":
		r.URIValue = v
	case "minValue":
		err = num(&r.MinValue)
	case "maxValue":
		err = num(&r.MaxValue)
	case "meanValue":
		err = num(&r.MeanValue)
	case "sDev":
		err = num(&r.SDev)
	case "percRank":
		err = num(&r.PercRank)
	case "percValue":
		err = num(&r.PercValue)
	case "uom":
		r.UOM = v
	case "coordinateReferenceSystem":
		r.CoordinateReferenceSystem = v
	case "bizRules":
		r.BizRules = v
	default:
		return fmt.Errorf("unknown sensorReport attribute %s", a.Name.Local)
	}
	return err
}

// parseTime reads an XML Schema dateTime. EPCIS 2.0 requires an offset;
// an EPCIS 1.2 time without one (allowed by xsd:dateTime) is taken as UTC.
func parseTime(s string, allowLocal bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		if allowLocal {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("time %q has no time zone offset (want e.g. 2023-04-01T08:45:16Z or ...+01:00)", s)
	}
	return time.Time{}, fmt.Errorf("time %q is not an XML Schema dateTime such as 2023-04-01T08:45:16.000Z", s)
}

func parseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true, false, 1, 0)", s)
}

// parseDecimal reads an xsd:decimal (no exponent, no NaN or infinity).
func parseDecimal(s string) (float64, error) {
	s = strings.TrimSpace(s)
	ok := s != ""
	digits := 0
	for i := 0; i < len(s) && ok; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case (c == '+' || c == '-') && i == 0, c == '.':
		default:
			ok = false
		}
	}
	if !ok || digits == 0 || strings.Count(s, ".") > 1 {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	return strconv.ParseFloat(s, 64)
}
