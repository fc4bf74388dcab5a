package gs1

import (
	"strings"
)

// EPC URIs (GS1 EPC Tag Data Standard, pure identity and class URIs) split a
// key at the end of its GS1 Company Prefix, so building one needs the prefix
// length (6 to 12 digits); reading one does not, since the dot marks it.

// epcEscape lists the CSET 82 characters that EPC URIs percent-encode.
var epcEscape = map[byte]string{'"': "%22", '%': "%25", '&': "%26", '/': "%2F", '<': "%3C", '>': "%3E", '?': "%3F"}

// epcEscaped is the keys of epcEscape.
const epcEscaped = `"%&/<>?`

func epcEscapeString(s string) string {
	// Most values (every serial a line prints) need no escape: return
	// them as they are, without building a copy byte by byte.
	i := strings.IndexAny(s, epcEscaped)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if e, ok := epcEscape[s[i]]; ok {
			b.WriteString(e)
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func checkGCPLen(n int) error {
	if n < 6 || n > 12 {
		return errAt(-1, "epc", "GS1 Company Prefix length %d must be 6 to 12 digits for an EPC URI", n)
	}
	return nil
}

func gtinParts(gtin string, gcpLen int) (prefix, itemRef string, err error) {
	if err := checkGCPLen(gcpLen); err != nil {
		return "", "", err
	}
	g, err := NormalizeGTIN(gtin)
	if err != nil {
		return "", "", err
	}
	return g[1 : 1+gcpLen], g[:1] + g[1+gcpLen:13], nil
}

// SGTINURI returns the EPC pure identity URI of a serialised GTIN, e.g.
// urn:epc:id:sgtin:0614141.812345.6789.
func SGTINURI(gtin, serial string, gcpLen int) (string, error) {
	p, i, err := gtinParts(gtin, gcpLen)
	if err != nil {
		return "", err
	}
	if err := checkValue("21", serial); err != nil {
		return "", err
	}
	return "urn:epc:id:sgtin:" + p + "." + i + "." + epcEscapeString(serial), nil
}

// LGTINURI returns the EPC class URI of a GTIN and lot.
func LGTINURI(gtin, lot string, gcpLen int) (string, error) {
	p, i, err := gtinParts(gtin, gcpLen)
	if err != nil {
		return "", err
	}
	if err := checkValue("10", lot); err != nil {
		return "", err
	}
	return "urn:epc:class:lgtin:" + p + "." + i + "." + epcEscapeString(lot), nil
}

// SGTINPatternURI returns the EPC pattern URI of every serial of a GTIN, the
// product class used in EPCIS master data: urn:epc:idpat:sgtin:P.I.*.
func SGTINPatternURI(gtin string, gcpLen int) (string, error) {
	p, i, err := gtinParts(gtin, gcpLen)
	if err != nil {
		return "", err
	}
	return "urn:epc:idpat:sgtin:" + p + "." + i + ".*", nil
}

// SSCCURI returns the EPC pure identity URI of an SSCC.
func SSCCURI(sscc string, gcpLen int) (string, error) {
	if err := checkGCPLen(gcpLen); err != nil {
		return "", err
	}
	if err := ValidateSSCC(sscc); err != nil {
		return "", err
	}
	return "urn:epc:id:sscc:" + sscc[1:1+gcpLen] + "." + sscc[:1] + sscc[1+gcpLen:17], nil
}

// SGLNURI returns the EPC pure identity URI of a GLN with an optional
// extension (AI 254); an empty extension is written "0".
func SGLNURI(gln, ext string, gcpLen int) (string, error) {
	if err := checkGCPLen(gcpLen); err != nil {
		return "", err
	}
	if err := ValidateGLN(gln); err != nil {
		return "", err
	}
	if ext == "" {
		ext = "0"
	} else if err := checkValue("254", ext); err != nil {
		return "", err
	}
	return "urn:epc:id:sgln:" + gln[:gcpLen] + "." + gln[gcpLen:12] + "." + epcEscapeString(ext), nil
}

// checkValue applies the AI table's rules to one value.
func checkValue(ai, value string) error {
	e := lookupAI(ai, false)
	el := Element{AI: ai, Value: value, entry: e, pos: -1}
	if f := checkLength(e, value); f != nil {
		return placeFault(el, f)
	}
	if _, f := lintValue(&lintCtx{}, e, value); f != nil {
		return placeFault(el, f)
	}
	return nil
}

// EPCURI returns the EPC URI of the message's identifier, given the length
// of its GS1 Company Prefix: SGTIN for (01) with (21), LGTIN class for (01)
// with (10), SSCC for (00), SGLN for (414) with an optional (254).
func (m *Message) EPCURI(gcpLen int) (string, error) {
	gtin, hasGTIN := m.Get("01")
	if s, ok := m.Get("21"); ok && hasGTIN {
		return SGTINURI(gtin, s, gcpLen)
	}
	if l, ok := m.Get("10"); ok && hasGTIN {
		return LGTINURI(gtin, l, gcpLen)
	}
	if s, ok := m.Get("00"); ok {
		return SSCCURI(s, gcpLen)
	}
	if g, ok := m.Get("414"); ok {
		ext, _ := m.Get("254")
		return SGLNURI(g, ext, gcpLen)
	}
	return "", errAt(-1, "epc", "no identifier with an EPC URI: need (01) with (21) or (10), (00), or (414)")
}

// ParseEPCURI reads an EPC URI (sgtin, sscc, sgln, lgtin class or sgtin
// pattern) into its GS1 elements, with the default options.
func ParseEPCURI(uri string) (*Message, error) { return Options{}.ParseEPCURI(uri) }

// ParseEPCURI reads an EPC URI into its GS1 elements and checks them.
func (o Options) ParseEPCURI(uri string) (*Message, error) {
	schemes := []struct{ prefix, kind string }{
		{"urn:epc:id:sgtin:", "sgtin"}, {"urn:epc:id:sscc:", "sscc"}, {"urn:epc:id:sgln:", "sgln"},
		{"urn:epc:class:lgtin:", "lgtin"}, {"urn:epc:idpat:sgtin:", "idpat"},
	}
	kind, rest, base := "", "", 0
	for _, s := range schemes {
		if strings.HasPrefix(uri, s.prefix) {
			kind, rest, base = s.kind, uri[len(s.prefix):], len(s.prefix)
			break
		}
	}
	if kind == "" {
		return nil, errAt(0, "epc", "EPC URI must start with urn:epc:id:sgtin:, urn:epc:id:sscc:, urn:epc:id:sgln:, urn:epc:class:lgtin: or urn:epc:idpat:sgtin:")
	}
	// The last component of an sgtin, lgtin or sgln (a serial, lot or
	// extension) may itself hold dots: TDS lets them stand unescaped there.
	want := 3
	if kind == "sscc" {
		want = 2
	}
	parts := strings.SplitN(rest, ".", want)
	if kind == "sscc" && strings.Contains(parts[len(parts)-1], ".") {
		parts = strings.Split(rest, ".")
	}
	if len(parts) != want {
		return nil, errAt(base, "epc", "%s URI must have %d dot-separated parts after the scheme, has %d", kind, want, len(parts))
	}
	prefix := parts[0]
	if len(prefix) < 6 || len(prefix) > 12 || !allDigits(prefix) {
		return nil, errAt(base, "epc", "company prefix %q must be 6 to 12 digits", prefix)
	}
	pos := base + len(prefix) + 1
	m := &Message{}
	add := func(ai, value string, at int) {
		m.Elements = append(m.Elements, Element{AI: ai, Value: value, entry: lookupAI(ai, false), pos: at})
	}
	unescape := func(s string, at int) (string, error) {
		v, ok := URIUnescape(s, false)
		if !ok {
			return "", errAt(at, "epc", "decoded value contains a NUL byte")
		}
		return v, nil
	}
	switch kind {
	case "sgtin", "lgtin", "idpat":
		item := parts[1]
		if len(prefix)+len(item) != 13 || !allDigits(item) {
			return nil, errAt(pos, "epc", "company prefix and indicator/item reference must be 13 digits together, are %q and %q", prefix, item)
		}
		gtin, _ := AppendCheckDigit(item[:1] + prefix + item[1:])
		add("01", gtin, -1)
		last := parts[2]
		lastPos := pos + len(item) + 1
		switch kind {
		case "idpat":
			if last != "*" {
				return nil, errAt(lastPos, "epc", "sgtin pattern must end with \"*\"")
			}
		default:
			v, err := unescape(last, lastPos)
			if err != nil {
				return nil, err
			}
			ai := "21"
			if kind == "lgtin" {
				ai = "10"
			}
			add(ai, v, lastPos)
		}
	case "sscc":
		ref := parts[1]
		if len(prefix)+len(ref) != 17 || !allDigits(ref) {
			return nil, errAt(pos, "epc", "company prefix and serial reference must be 17 digits together, are %q and %q", prefix, ref)
		}
		sscc, _ := AppendCheckDigit(ref[:1] + prefix + ref[1:])
		add("00", sscc, -1)
	case "sgln":
		loc := parts[1]
		if len(prefix)+len(loc) != 12 || !allDigits(loc) {
			return nil, errAt(pos, "epc", "company prefix and location reference must be 12 digits together, are %q and %q", prefix, loc)
		}
		gln, _ := AppendCheckDigit(prefix + loc)
		add("414", gln, -1)
		extPos := pos + len(loc) + 1
		ext, err := unescape(parts[2], extPos)
		if err != nil {
			return nil, err
		}
		if ext != "0" {
			add("254", ext, extPos)
		}
	}
	lc := o.lintCtx()
	for _, el := range m.Elements {
		if f := checkLength(el.entry, el.Value); f != nil {
			return nil, placeFault(el, f)
		}
		if _, f := lintValue(lc, el.entry, el.Value); f != nil {
			return nil, placeFault(el, f)
		}
	}
	if err := o.check(m); err != nil {
		return nil, err
	}
	return m, nil
}
