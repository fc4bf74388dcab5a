package epcis

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// jv is a JSON value read into memory, object members in document order.
type jv struct {
	kind byte // 's' string, 'n' number, 'b' bool, 'z' null, 'o' object, 'a' array
	s    string
	obj  []jkv
	arr  []jv
}

type jkv struct {
	k string
	v jv
}

func (v *jv) get(k string) (*jv, bool) {
	for i := range v.obj {
		if v.obj[i].k == k {
			return &v.obj[i].v, true
		}
	}
	return nil, false
}

func (v *jv) kindName() string {
	switch v.kind {
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	case 'z':
		return "null"
	case 'o':
		return "an object"
	}
	return "an array"
}

type jsonDecoder struct {
	lr    *limitedReader
	d     *json.Decoder
	opts  ReaderOptions
	index int
	// state: 0 header, 1 in eventList, 2 after it, 3 single event pending, 4 done
	state int
	// ns maps prefixes of the document's @context to namespaces.
	ns     map[string]string
	single *jv
	tail   []jkv // document members after epcisBody
	head   *Header
}

func newJSONDecoder(br *bufio.Reader, o ReaderOptions) *jsonDecoder {
	lr := &limitedReader{r: br, max: o.MaxEventBytes}
	d := json.NewDecoder(lr)
	d.UseNumber()
	ns := map[string]string{}
	for _, p := range contextPrefixes {
		ns[p[0]] = nsFromIRI(p[1])
	}
	return &jsonDecoder{lr: lr, d: d, opts: o, ns: ns}
}

func (j *jsonDecoder) fail(event int, path, format string, args ...any) error {
	return &DecodeError{Event: event, Path: path, Offset: j.d.InputOffset(), Reason: fmt.Sprintf(format, args...)}
}

func (j *jsonDecoder) tokErr(err error) error {
	event := -1
	if j.state == 1 {
		event = j.index
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &DecodeError{Event: event, Offset: j.d.InputOffset(), Reason: "the JSON document ends too early", Err: io.ErrUnexpectedEOF}
	}
	if errors.Is(err, ErrTooLarge) {
		return &DecodeError{Event: event, Offset: j.d.InputOffset(), Reason: fmt.Sprintf("%v (%d bytes)", ErrTooLarge, j.opts.MaxEventBytes), Err: ErrTooLarge}
	}
	return &DecodeError{Event: event, Offset: j.d.InputOffset(), Reason: fmt.Sprintf("JSON is not well-formed: %v", err), Err: err}
}

// value reads one JSON value whose first token is tok.
func (j *jsonDecoder) value(tok json.Token, depth int) (jv, error) {
	if depth > j.opts.MaxDepth {
		return jv{}, &DecodeError{Event: -1, Offset: j.d.InputOffset(), Reason: fmt.Sprintf("JSON values nest deeper than %d levels", j.opts.MaxDepth), Err: ErrTooDeep}
	}
	switch t := tok.(type) {
	case string:
		return jv{kind: 's', s: t}, nil
	case json.Number:
		return jv{kind: 'n', s: t.String()}, nil
	case bool:
		return jv{kind: 'b', s: strconv.FormatBool(t)}, nil
	case nil:
		return jv{kind: 'z'}, nil
	case json.Delim:
		switch t {
		case '{':
			v := jv{kind: 'o'}
			for j.d.More() {
				kt, err := j.d.Token()
				if err != nil {
					return jv{}, j.tokErr(err)
				}
				k, _ := kt.(string)
				vt, err := j.d.Token()
				if err != nil {
					return jv{}, j.tokErr(err)
				}
				val, err := j.value(vt, depth+1)
				if err != nil {
					return jv{}, err
				}
				v.obj = append(v.obj, jkv{k: k, v: val})
			}
			if _, err := j.d.Token(); err != nil {
				return jv{}, j.tokErr(err)
			}
			return v, nil
		case '[':
			v := jv{kind: 'a'}
			for j.d.More() {
				et, err := j.d.Token()
				if err != nil {
					return jv{}, j.tokErr(err)
				}
				val, err := j.value(et, depth+1)
				if err != nil {
					return jv{}, err
				}
				v.arr = append(v.arr, val)
			}
			if _, err := j.d.Token(); err != nil {
				return jv{}, j.tokErr(err)
			}
			return v, nil
		}
	}
	return jv{}, j.fail(-1, "", "unexpected JSON token %v", tok)
}

func (j *jsonDecoder) expectDelim(want json.Delim, path string) error {
	tok, err := j.d.Token()
	if err != nil {
		return j.tokErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return j.fail(-1, path, "want %q, found %v", string(want), tok)
	}
	return nil
}

func (j *jsonDecoder) header() (*Header, error) {
	j.lr.reset()
	if err := j.expectDelim('{', ""); err != nil {
		return nil, err
	}
	var seen []jkv
	for j.d.More() {
		kt, err := j.d.Token()
		if err != nil {
			return nil, j.tokErr(err)
		}
		k, _ := kt.(string)
		if k == "epcisBody" {
			h, err := j.buildHeader(seen)
			if err != nil {
				return nil, err
			}
			if err := j.enterBody(); err != nil {
				return nil, err
			}
			return h, nil
		}
		vt, err := j.d.Token()
		if err != nil {
			return nil, j.tokErr(err)
		}
		v, err := j.value(vt, 1)
		if err != nil {
			return nil, err
		}
		if k == "@context" {
			if err := j.context(&v, j.ns); err != nil {
				return nil, err
			}
		}
		seen = append(seen, jkv{k: k, v: v})
	}
	if _, err := j.d.Token(); err != nil {
		return nil, j.tokErr(err)
	}
	// No epcisBody: a single event, as in the standard's examples.
	whole := jv{kind: 'o', obj: seen}
	typ, _ := whole.get("type")
	if typ == nil || typ.kind != 's' {
		return nil, j.fail(-1, "type", "the JSON object has no \"type\": want EPCISDocument or an event type")
	}
	if typ.s == "EPCISDocument" || typ.s == "EPCISQueryDocument" {
		return nil, j.fail(-1, "epcisBody", "%s needs an epcisBody", typ.s)
	}
	j.single = &whole
	j.state = 3
	h := &Header{SchemaVersion: "2.0"}
	j.head = h
	return h, nil
}

// context reads a JSON-LD @context: strings (remote contexts) are skipped,
// objects bind prefixes.
func (j *jsonDecoder) context(v *jv, into map[string]string) error {
	switch v.kind {
	case 's':
		return nil
	case 'a':
		for i := range v.arr {
			if err := j.context(&v.arr[i], into); err != nil {
				return err
			}
		}
		return nil
	case 'o':
		for _, m := range v.obj {
			if m.v.kind == 's' && !strings.HasPrefix(m.k, "@") {
				into[m.k] = nsFromIRI(m.v.s)
			}
		}
		return nil
	}
	return j.fail(-1, "@context", "@context must be a string, an object or an array, is %s", v.kindName())
}

func (j *jsonDecoder) buildHeader(members []jkv) (*Header, error) {
	h := &Header{}
	j.head = h
	var sender, receiver, instance string
	for _, m := range members {
		v := m.v
		switch m.k {
		case "@context":
			j.contextNamespaces(h, &v)
		case "type":
			if v.s != "EPCISDocument" {
				return nil, j.fail(-1, "type", "type is %q, want EPCISDocument", v.s)
			}
		case "schemaVersion":
			if v.kind != 's' {
				return nil, j.fail(-1, "schemaVersion", "schemaVersion must be a string such as \"2.0\"")
			}
			h.SchemaVersion = v.s
		case "creationDate":
			t, err := parseTime(v.s, false)
			if err != nil {
				return nil, j.fail(-1, "creationDate", "%v", err)
			}
			h.CreationDate = t
		case "id":
			h.ID = v.s
		case "instanceIdentifier":
			instance = v.s
		case "sender":
			sender = v.s
		case "receiver":
			receiver = v.s
		case "epcisHeader":
			if err := j.readHeader(h, &v); err != nil {
				return nil, err
			}
		default:
			if !strings.Contains(m.k, ":") {
				return nil, j.fail(-1, m.k, "unknown document field %q", m.k)
			}
			els, err := j.elements(m.k, &v, j.ns, "", -1)
			if err != nil {
				return nil, err
			}
			h.Extensions = append(h.Extensions, els...)
		}
	}
	if h.SBDH == nil && (sender != "" || receiver != "" || instance != "") {
		h.SBDH = &SBDH{InstanceIdentifier: instance}
		if sender != "" {
			h.SBDH.Sender = []Partner{{Identifier: sender}}
		}
		if receiver != "" {
			h.SBDH.Receiver = []Partner{{Identifier: receiver}}
		}
	}
	if bad := h.checkDecoded(); bad != nil {
		return nil, j.fail(-1, bad.path, "%s", bad.reason)
	}
	return h, nil
}

// contextNamespaces records the user prefixes of the document's @context.
func (j *jsonDecoder) contextNamespaces(h *Header, v *jv) {
	switch v.kind {
	case 'a':
		for i := range v.arr {
			j.contextNamespaces(h, &v.arr[i])
		}
	case 'o':
		for _, m := range v.obj {
			if m.v.kind == 's' && !strings.HasPrefix(m.k, "@") && m.k != "sbdh" {
				h.Namespaces = append(h.Namespaces, Namespace{Prefix: m.k, URI: nsFromIRI(m.v.s)})
			}
		}
	}
}

func (j *jsonDecoder) enterBody() error {
	if err := j.expectDelim('{', "epcisBody"); err != nil {
		return err
	}
	for j.d.More() {
		kt, err := j.d.Token()
		if err != nil {
			return j.tokErr(err)
		}
		if k, _ := kt.(string); k == "eventList" {
			if err := j.expectDelim('[', "epcisBody/eventList"); err != nil {
				return err
			}
			j.state = 1
			return nil
		}
		vt, err := j.d.Token()
		if err != nil {
			return j.tokErr(err)
		}
		if _, err := j.value(vt, 2); err != nil {
			return err
		}
	}
	return j.fail(-1, "epcisBody", "epcisBody has no eventList")
}

func (j *jsonDecoder) next() (*Event, error) {
	j.lr.reset()
	switch j.state {
	case 3:
		j.state = 4
		e, err := j.event(j.single, 0)
		j.single = nil
		if err != nil {
			return nil, err
		}
		j.index++
		return e, nil
	case 1:
		if j.d.More() {
			tok, err := j.d.Token()
			if err != nil {
				return nil, j.tokErr(err)
			}
			v, err := j.value(tok, 3)
			if err != nil {
				var de *DecodeError
				if errors.As(err, &de) {
					de.Event = j.index
				}
				return nil, err
			}
			e, err := j.event(&v, j.index)
			if err != nil {
				return nil, err
			}
			j.index++
			return e, nil
		}
		if _, err := j.d.Token(); err != nil { // ]
			return nil, j.tokErr(err)
		}
		j.state = 2
		// the rest of epcisBody, then of the document
		for depth := 2; depth > 0; {
			if !j.d.More() {
				if _, err := j.d.Token(); err != nil {
					return nil, j.tokErr(err)
				}
				depth--
				continue
			}
			kt, err := j.d.Token()
			if err != nil {
				return nil, j.tokErr(err)
			}
			vt, err := j.d.Token()
			if err != nil {
				return nil, j.tokErr(err)
			}
			v, err := j.value(vt, 2)
			if err != nil {
				return nil, err
			}
			if depth == 1 {
				k, _ := kt.(string)
				j.tail = append(j.tail, jkv{k: k, v: v})
			}
		}
		if tok, err := j.d.Token(); err == nil {
			return nil, j.fail(-1, "", "unexpected data after the document: %v", tok)
		} else if !errors.Is(err, io.EOF) {
			return nil, j.tokErr(err)
		}
		j.state = 4
	}
	return nil, io.EOF
}

func (j *jsonDecoder) trailer(h *Header) {
	if len(j.tail) == 0 {
		return
	}
	tail := j.tail
	j.tail = nil
	if t, err := j.buildHeader(tail); err == nil {
		// Merge what came after the body into the header.
		if h.SBDH == nil {
			h.SBDH = t.SBDH
		}
		h.MasterData = append(h.MasterData, t.MasterData...)
		h.Extensions = append(h.Extensions, t.Extensions...)
		if h.CreationDate.IsZero() {
			h.CreationDate = t.CreationDate
		}
		if h.SchemaVersion == "" {
			h.SchemaVersion = t.SchemaVersion
		}
	}
	j.head = h
}

func (j *jsonDecoder) readHeader(h *Header, v *jv) error {
	if v.kind != 'o' {
		return j.fail(-1, "epcisHeader", "epcisHeader must be an object")
	}
	for _, m := range v.obj {
		switch {
		case m.k == "epcisMasterData":
			list, ok := m.v.get("vocabularyList")
			if !ok {
				continue
			}
			if list.kind != 'a' {
				return j.fail(-1, "epcisHeader/epcisMasterData/vocabularyList", "vocabularyList must be an array")
			}
			for i := range list.arr {
				voc, err := j.vocabulary(&list.arr[i], fmt.Sprintf("epcisHeader/epcisMasterData/vocabularyList[%d]", i))
				if err != nil {
					return err
				}
				h.MasterData = append(h.MasterData, voc)
			}
		case m.k == "sbdh:StandardBusinessDocumentHeader" && j.ns["sbdh"] == NamespaceSBDH || m.k == "sbdh:StandardBusinessDocumentHeader" && j.ns["sbdh"] == "":
			s, err := j.sbdh(&m.v)
			if err != nil {
				return err
			}
			h.SBDH = s
		case strings.Contains(m.k, ":"):
			els, err := j.elements(m.k, &m.v, j.ns, "", -1)
			if err != nil {
				return err
			}
			h.Extensions = append(h.Extensions, els...)
		default:
			return j.fail(-1, "epcisHeader/"+m.k, "unknown header field %q", m.k)
		}
	}
	return nil
}

func (j *jsonDecoder) sbdh(v *jv) (*SBDH, error) {
	const path = "epcisHeader/sbdh:StandardBusinessDocumentHeader"
	s := &SBDH{}
	str := func(o *jv, k string) string {
		if x, ok := o.get(k); ok {
			return x.s
		}
		return ""
	}
	s.HeaderVersion = str(v, "sbdh:HeaderVersion")
	partners := func(k string) []Partner {
		x, ok := v.get(k)
		if !ok {
			return nil
		}
		list := x.arr
		if x.kind == 'o' {
			list = []jv{*x}
		}
		var out []Partner
		for i := range list {
			p := Partner{Identifier: str(&list[i], "sbdh:Identifier"), Authority: str(&list[i], "sbdh:Authority")}
			if cs, ok := list[i].get("sbdh:ContactInformation"); ok {
				for k := range cs.arr {
					c := &cs.arr[k]
					p.Contacts = append(p.Contacts, Contact{Contact: str(c, "sbdh:Contact"), EmailAddress: str(c, "sbdh:EmailAddress"),
						FaxNumber: str(c, "sbdh:FaxNumber"), TelephoneNumber: str(c, "sbdh:TelephoneNumber"), ContactTypeIdentifier: str(c, "sbdh:ContactTypeIdentifier")})
				}
			}
			out = append(out, p)
		}
		return out
	}
	s.Sender = partners("sbdh:Sender")
	s.Receiver = partners("sbdh:Receiver")
	if d, ok := v.get("sbdh:DocumentIdentification"); ok {
		s.Standard = str(d, "sbdh:Standard")
		s.TypeVersion = str(d, "sbdh:TypeVersion")
		s.InstanceIdentifier = str(d, "sbdh:InstanceIdentifier")
		s.Type = str(d, "sbdh:Type")
		if mt, ok := d.get("sbdh:MultipleType"); ok {
			b := mt.s == "true"
			s.MultipleType = &b
		}
		if ct := str(d, "sbdh:CreationDateAndTime"); ct != "" {
			t, err := parseTime(ct, false)
			if err != nil {
				return nil, j.fail(-1, path+"/sbdh:DocumentIdentification/sbdh:CreationDateAndTime", "%v", err)
			}
			s.CreationDateAndTime = t
		}
	}
	for _, k := range []string{"sbdh:Manifest", "sbdh:BusinessScope"} {
		if x, ok := v.get(k); ok {
			els, err := j.elements(k, x, j.ns, "", -1)
			if err != nil {
				return nil, err
			}
			if len(els) > 0 {
				el := els[0]
				if k == "sbdh:Manifest" {
					s.Manifest = &el
				} else {
					s.BusinessScope = &el
				}
			}
		}
	}
	return s, nil
}

func (j *jsonDecoder) vocabulary(v *jv, path string) (Vocabulary, error) {
	var voc Vocabulary
	if v.kind != 'o' {
		return voc, j.fail(-1, path, "a vocabulary must be an object")
	}
	for _, m := range v.obj {
		switch {
		case m.k == "type":
			voc.Type = m.v.s
		case m.k == "vocabularyElementList":
			for i := range m.v.arr {
				ev := &m.v.arr[i]
				epath := fmt.Sprintf("%s/vocabularyElementList[%d]", path, i)
				if ev.kind != 'o' {
					return voc, j.fail(-1, epath, "a vocabulary element must be an object")
				}
				var ve VocabularyElement
				for _, f := range ev.obj {
					switch {
					case f.k == "id":
						ve.ID = f.v.s
					case f.k == "attributes":
						for k := range f.v.arr {
							av := &f.v.arr[k]
							a := Attribute{}
							if id, ok := av.get("id"); ok {
								a.ID = id.s
							}
							if val, ok := av.get("attribute"); ok {
								if val.kind == 'o' {
									for _, c := range val.obj {
										els, err := j.elements(c.k, &c.v, j.ns, "", -1)
										if err != nil {
											return voc, err
										}
										a.Children = append(a.Children, els...)
									}
								} else {
									a.Value, a.Kind = val.s, kindOf(val)
								}
							}
							ve.Attributes = append(ve.Attributes, a)
						}
					case f.k == "children":
						for k := range f.v.arr {
							ve.Children = append(ve.Children, f.v.arr[k].s)
						}
					case strings.Contains(f.k, ":"):
						els, err := j.elements(f.k, &f.v, j.ns, "", -1)
						if err != nil {
							return voc, err
						}
						ve.Extensions = append(ve.Extensions, els...)
					default:
						return voc, j.fail(-1, epath+"/"+f.k, "unknown vocabulary element field %q", f.k)
					}
				}
				voc.Elements = append(voc.Elements, ve)
			}
		case strings.Contains(m.k, ":"):
			els, err := j.elements(m.k, &m.v, j.ns, "", -1)
			if err != nil {
				return voc, err
			}
			voc.Extensions = append(voc.Extensions, els...)
		default:
			return voc, j.fail(-1, path+"/"+m.k, "unknown vocabulary field %q", m.k)
		}
	}
	return voc, nil
}

func kindOf(v *jv) ValueKind {
	switch v.kind {
	case 'n':
		return KindNumber
	case 'b':
		return KindBool
	case 'z':
		return KindNull
	}
	return KindString
}

// splitKey resolves "prefix:local" with the bindings ns; a key without a
// prefix has no namespace.
func splitKey(k string, ns map[string]string) (space, local, prefix string, ok bool) {
	i := strings.IndexByte(k, ':')
	if i < 0 {
		return "", k, "", true
	}
	prefix, local = k[:i], k[i+1:]
	if strings.HasPrefix(local, "//") {
		// a full IRI as key: namespace up to the last / or #
		cut := strings.LastIndexAny(k, "/#")
		return k[:cut+1], k[cut+1:], "", cut+1 < len(k)
	}
	space, ok = ns[prefix]
	return space, local, prefix, ok
}

// elements turns a JSON member into extension elements: one per array item.
func (j *jsonDecoder) elements(k string, v *jv, ns map[string]string, path string, event int) ([]Element, error) {
	space, local, prefix, ok := splitKey(k, ns)
	if !ok {
		return nil, j.fail(event, strings.TrimPrefix(path+"/"+k, "/"), "the prefix of %q is not declared in @context", k)
	}
	one := func(v *jv) (Element, error) {
		el := Element{Space: space, Local: local, Prefix: prefix}
		switch v.kind {
		case 'o':
			for _, m := range v.obj {
				if m.k == "@context" {
					continue
				}
				cs, err := j.elements(m.k, &m.v, ns, path+"/"+k, event)
				if err != nil {
					return el, err
				}
				el.Children = append(el.Children, cs...)
			}
		case 'a':
			return el, j.fail(event, strings.TrimPrefix(path+"/"+k, "/"), "arrays nested in arrays have no XML form")
		default:
			el.Text, el.Kind = v.s, kindOf(v)
		}
		return el, nil
	}
	if v.kind == 'a' {
		out := make([]Element, 0, len(v.arr))
		for i := range v.arr {
			el, err := one(&v.arr[i])
			if err != nil {
				return nil, err
			}
			out = append(out, el)
		}
		return out, nil
	}
	el, err := one(v)
	if err != nil {
		return nil, err
	}
	return []Element{el}, nil
}

// event converts one JSON event object and checks it as every reader does.
func (j *jsonDecoder) event(v *jv, idx int) (*Event, error) {
	e, err := j.convert(v, idx)
	if err != nil {
		return nil, err
	}
	if bad := e.checkDecoded(FormatJSONLD20); bad != nil {
		return nil, j.fail(idx, bad.path, "%s", bad.reason)
	}
	return e, nil
}

// convert converts one JSON event object.
func (j *jsonDecoder) convert(v *jv, idx int) (*Event, error) {
	if v.kind != 'o' {
		return nil, j.fail(idx, "", "an event must be an object, is %s", v.kindName())
	}
	ns := j.ns
	if c, ok := v.get("@context"); ok {
		ns = make(map[string]string, len(j.ns)+4)
		for k, s := range j.ns {
			ns[k] = s
		}
		if err := j.context(c, ns); err != nil {
			return nil, err
		}
	}
	e := &Event{}
	t, ok := v.get("type")
	if !ok || t.kind != 's' || t.s == "" {
		return nil, j.fail(idx, "type", "an event needs a type")
	}
	e.Type = EventType(t.s)
	bad := func(path, format string, args ...any) error {
		return j.fail(idx, path, format, args...)
	}
	str := func(k string, x *jv) (string, error) {
		if x.kind != 's' {
			return "", bad(k, "%s must be a string, is %s", k, x.kindName())
		}
		return x.s, nil
	}
	strs := func(k string, x *jv) ([]string, error) {
		if x.kind != 'a' {
			return nil, bad(k, "%s must be an array, is %s", k, x.kindName())
		}
		out := make([]string, 0, len(x.arr))
		for i := range x.arr {
			if x.arr[i].kind != 's' {
				return nil, bad(fmt.Sprintf("%s[%d]", k, i), "must be a string, is %s", x.arr[i].kindName())
			}
			out = append(out, x.arr[i].s)
		}
		return out, nil
	}
	tm := func(k string, x *jv) (time.Time, error) {
		s, err := str(k, x)
		if err != nil {
			return time.Time{}, err
		}
		t, err := parseTime(s, false)
		if err != nil {
			return time.Time{}, bad(k, "%v", err)
		}
		return t, nil
	}
	var err error
	for _, m := range v.obj {
		x := &m.v
		switch m.k {
		case "@context", "type":
		case "eventTime":
			e.EventTime, err = tm(m.k, x)
		case "recordTime":
			e.RecordTime, err = tm(m.k, x)
		case "eventTimeZoneOffset":
			e.EventTimeZoneOffset, err = str(m.k, x)
		case "eventID":
			e.EventID, err = str(m.k, x)
		case "certificationInfo":
			if x.kind == 's' {
				e.CertificationInfo = []string{x.s}
			} else {
				e.CertificationInfo, err = strs(m.k, x)
			}
		case "errorDeclaration":
			e.ErrorDeclaration, err = j.errorDeclaration(x, ns, idx)
		case "epcList":
			e.EPCList, err = strs(m.k, x)
		case "parentID":
			e.ParentID, err = str(m.k, x)
		case "childEPCs":
			e.ChildEPCs, err = strs(m.k, x)
		case "inputEPCList":
			e.InputEPCList, err = strs(m.k, x)
		case "outputEPCList":
			e.OutputEPCList, err = strs(m.k, x)
		case "quantityList":
			e.QuantityList, err = j.quantities(m.k, x, idx)
		case "childQuantityList":
			e.ChildQuantityList, err = j.quantities(m.k, x, idx)
		case "inputQuantityList":
			e.InputQuantityList, err = j.quantities(m.k, x, idx)
		case "outputQuantityList":
			e.OutputQuantityList, err = j.quantities(m.k, x, idx)
		case "transformationID":
			e.TransformationID, err = str(m.k, x)
		case "action":
			var s string
			s, err = str(m.k, x)
			e.Action = Action(s)
		case "bizStep":
			var s string
			s, err = str(m.k, x)
			e.BizStep = BizStep(cbvBizStep.canonical(s))
		case "disposition":
			var s string
			s, err = str(m.k, x)
			e.Disposition = Disposition(cbvDisposition.canonical(s))
		case "persistentDisposition":
			pd := &PersistentDisposition{}
			for _, f := range x.obj {
				list, lerr := strs(m.k+"/"+f.k, &f.v)
				if lerr != nil {
					return nil, lerr
				}
				for _, s := range list {
					d := Disposition(cbvDisposition.canonical(s))
					switch f.k {
					case "set":
						pd.Set = append(pd.Set, d)
					case "unset":
						pd.Unset = append(pd.Unset, d)
					default:
						return nil, bad(m.k+"/"+f.k, "unknown field %q: want set or unset", f.k)
					}
				}
			}
			e.PersistentDisposition = pd
		case "readPoint", "bizLocation":
			var p *Place
			p, err = j.place(m.k, x, ns, idx)
			if m.k == "readPoint" {
				e.ReadPoint = p
			} else {
				e.BizLocation = p
			}
		case "bizTransactionList":
			if x.kind != 'a' {
				return nil, bad(m.k, "bizTransactionList must be an array")
			}
			for i := range x.arr {
				b := &x.arr[i]
				typ, _ := b.get("type")
				val, ok := b.get("bizTransaction")
				if !ok {
					return nil, bad(fmt.Sprintf("%s[%d]", m.k, i), "bizTransaction is missing")
				}
				bt := BizTransaction{Value: val.s}
				if typ != nil {
					bt.Type = BizTransactionType(cbvBTT.canonical(typ.s))
				}
				e.BizTransactionList = append(e.BizTransactionList, bt)
			}
		case "sourceList", "destinationList":
			item := strings.TrimSuffix(m.k, "List")
			if x.kind != 'a' {
				return nil, bad(m.k, "%s must be an array", m.k)
			}
			for i := range x.arr {
				b := &x.arr[i]
				typ, _ := b.get("type")
				val, ok := b.get(item)
				if !ok {
					return nil, bad(fmt.Sprintf("%s[%d]", m.k, i), "%s is missing", item)
				}
				sd := SourceDest{Value: val.s}
				if typ != nil {
					sd.Type = SourceDestType(cbvSDT.canonical(typ.s))
				}
				if item == "source" {
					e.SourceList = append(e.SourceList, sd)
				} else {
					e.DestinationList = append(e.DestinationList, sd)
				}
			}
		case "sensorElementList":
			e.SensorElementList, err = j.sensors(x, ns, idx)
		case "ilmd":
			if x.kind != 'o' {
				return nil, bad("ilmd", "ilmd must be an object")
			}
			for _, f := range x.obj {
				if f.k == "@context" {
					continue
				}
				els, eerr := j.elements(f.k, &f.v, ns, "ilmd", idx)
				if eerr != nil {
					return nil, eerr
				}
				e.ILMD = append(e.ILMD, els...)
			}
		default:
			if !strings.Contains(m.k, ":") {
				return nil, bad(m.k, "unknown event field %q (user extensions need a prefix declared in @context)", m.k)
			}
			els, eerr := j.elements(m.k, x, ns, "", idx)
			if eerr != nil {
				return nil, eerr
			}
			e.Extensions = append(e.Extensions, els...)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (j *jsonDecoder) errorDeclaration(x *jv, ns map[string]string, idx int) (*ErrorDeclaration, error) {
	if x.kind != 'o' {
		return nil, j.fail(idx, "errorDeclaration", "errorDeclaration must be an object")
	}
	ed := &ErrorDeclaration{}
	for _, f := range x.obj {
		switch f.k {
		case "declarationTime":
			t, err := parseTime(f.v.s, false)
			if err != nil {
				return nil, j.fail(idx, "errorDeclaration/declarationTime", "%v", err)
			}
			ed.DeclarationTime = t
		case "reason":
			ed.Reason = ErrorReason(cbvER.canonical(f.v.s))
		case "correctiveEventIDs":
			for i := range f.v.arr {
				ed.CorrectiveEventIDs = append(ed.CorrectiveEventIDs, f.v.arr[i].s)
			}
		default:
			if !strings.Contains(f.k, ":") {
				return nil, j.fail(idx, "errorDeclaration/"+f.k, "unknown field %q", f.k)
			}
			els, err := j.elements(f.k, &f.v, ns, "errorDeclaration", idx)
			if err != nil {
				return nil, err
			}
			ed.Extensions = append(ed.Extensions, els...)
		}
	}
	return ed, nil
}

func (j *jsonDecoder) place(k string, x *jv, ns map[string]string, idx int) (*Place, error) {
	if x.kind != 'o' {
		return nil, j.fail(idx, k, "%s must be an object with an id", k)
	}
	p := &Place{}
	for _, f := range x.obj {
		switch {
		case f.k == "id":
			p.ID = f.v.s
		case strings.Contains(f.k, ":"):
			els, err := j.elements(f.k, &f.v, ns, k, idx)
			if err != nil {
				return nil, err
			}
			p.Extensions = append(p.Extensions, els...)
		default:
			return nil, j.fail(idx, k+"/"+f.k, "unknown field %q", f.k)
		}
	}
	return p, nil
}

func (j *jsonDecoder) quantities(k string, x *jv, idx int) ([]Quantity, error) {
	if x.kind != 'a' {
		return nil, j.fail(idx, k, "%s must be an array", k)
	}
	out := make([]Quantity, 0, len(x.arr))
	for i := range x.arr {
		q := &x.arr[i]
		path := fmt.Sprintf("%s[%d]", k, i)
		if q.kind != 'o' {
			return nil, j.fail(idx, path, "a quantity element must be an object")
		}
		var qe Quantity
		for _, f := range q.obj {
			switch f.k {
			case "epcClass":
				qe.EPCClass = f.v.s
			case "quantity":
				if f.v.kind != 'n' {
					return nil, j.fail(idx, path+"/quantity", "quantity must be a number, is %s", f.v.kindName())
				}
				v, err := strconv.ParseFloat(f.v.s, 64)
				if err != nil {
					return nil, j.fail(idx, path+"/quantity", "quantity %q is out of range", f.v.s)
				}
				qe.Quantity, qe.HasQuantity = v, true
			case "uom":
				qe.UOM = f.v.s
			default:
				return nil, j.fail(idx, path+"/"+f.k, "unknown field %q", f.k)
			}
		}
		out = append(out, qe)
	}
	return out, nil
}

func (j *jsonDecoder) attrOf(k, value string, ns map[string]string) (Attr, bool) {
	space, local, prefix, ok := splitKey(k, ns)
	return Attr{Space: space, Local: local, Prefix: prefix, Value: value}, ok && space != ""
}

func (j *jsonDecoder) sensors(x *jv, ns map[string]string, idx int) ([]SensorElement, error) {
	if x.kind != 'a' {
		return nil, j.fail(idx, "sensorElementList", "sensorElementList must be an array")
	}
	var out []SensorElement
	for i := range x.arr {
		sv := &x.arr[i]
		path := fmt.Sprintf("sensorElementList[%d]", i)
		var se SensorElement
		for _, f := range sv.obj {
			switch {
			case f.k == "sensorMetadata":
				m := &SensorMetadata{}
				for _, a := range f.v.obj {
					if err := j.metaField(m, a, ns); err != nil {
						return nil, j.fail(idx, path+"/sensorMetadata/"+a.k, "%v", err)
					}
				}
				se.Metadata = m
			case f.k == "sensorReport":
				for k := range f.v.arr {
					var r SensorReport
					for _, a := range f.v.arr[k].obj {
						if err := j.reportField(&r, a, ns); err != nil {
							return nil, j.fail(idx, fmt.Sprintf("%s/sensorReport[%d]/%s", path, k, a.k), "%v", err)
						}
					}
					se.Reports = append(se.Reports, r)
				}
			case strings.Contains(f.k, ":"):
				els, err := j.elements(f.k, &f.v, ns, path, idx)
				if err != nil {
					return nil, err
				}
				se.Extensions = append(se.Extensions, els...)
			default:
				return nil, j.fail(idx, path+"/"+f.k, "unknown field %q", f.k)
			}
		}
		out = append(out, se)
	}
	return out, nil
}

func (j *jsonDecoder) metaField(m *SensorMetadata, a jkv, ns map[string]string) error {
	var err error
	switch a.k {
	case "time":
		m.Time, err = parseTime(a.v.s, false)
	case "startTime":
		m.StartTime, err = parseTime(a.v.s, false)
	case "endTime":
		m.EndTime, err = parseTime(a.v.s, false)
	case "deviceID":
		m.DeviceID = a.v.s
	case "deviceMetadata":
		m.DeviceMetadata = a.v.s
	case "rawData":
		m.RawData = a.v.s
	case "dataProcessingMethod":
		m.DataProcessingMethod = a.v.s
	case "bizRules":
		m.BizRules = a.v.s
	default:
		at, ok := j.attrOf(a.k, a.v.s, ns)
		if !ok || a.v.kind == 'o' || a.v.kind == 'a' {
			return fmt.Errorf("unknown sensorMetadata field %q", a.k)
		}
		m.Extensions = append(m.Extensions, at)
	}
	return err
}

func (j *jsonDecoder) reportField(r *SensorReport, a jkv, ns map[string]string) error {
	v := a.v.s
	num := func(dst **float64) error {
		if a.v.kind != 'n' {
			return fmt.Errorf("%s must be a number", a.k)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%s %q is out of range", a.k, v)
		}
		*dst = &f
		return nil
	}
	var err error
	switch a.k {
	case "type":
		r.Type = cbvMeasurement.canonical(v)
	case "exception":
		r.Exception = cbvAlert.canonical(v)
	case "deviceID":
		r.DeviceID = v
	case "deviceMetadata":
		r.DeviceMetadata = v
	case "rawData":
		r.RawData = v
	case "dataProcessingMethod":
		r.DataProcessingMethod = v
	case "bizRules":
		r.BizRules = v
	case "time":
		r.Time, err = parseTime(v, false)
	case "microorganism":
		r.Microorganism = v
	case "chemicalSubstance":
		r.ChemicalSubstance = v
	case "coordinateReferenceSystem":
		r.CoordinateReferenceSystem = v
	case "value":
		err = num(&r.Value)
	case "component":
		r.Component = cbvComponent.canonical(v)
	case "stringValue":
		s := v
		r.StringValue = &s
	case "booleanValue":
		if a.v.kind != 'b' {
			return fmt.Errorf("booleanValue must be true or false")
		}
		b := v == "true"
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
	default:
		at, ok := j.attrOf(a.k, v, ns)
		if !ok || a.v.kind == 'o' || a.v.kind == 'a' {
			return fmt.Errorf("unknown sensorReport field %q", a.k)
		}
		r.Extensions = append(r.Extensions, at)
	}
	return err
}
