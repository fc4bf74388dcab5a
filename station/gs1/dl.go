package gs1

import (
	"fmt"
	"sort"
	"strings"
)

// CanonicalDLStem is the stem of canonical GS1 Digital Link URIs.
const CanonicalDLStem = "https://id.gs1.org"

// uriChars are the characters allowed anywhere in a URI (RFC 3986), with "%".
var uriChars = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")

// badDomainChars are URI characters that may not appear in a host.
const badDomainChars = "_~?#@!$&'()*+,;=%"

// convenienceAlphas are the deprecated Digital Link path names of some AIs.
var convenienceAlphas = map[string]string{
	"cpid": "8010", "cpsn": "8011", "cpv": "22", "gcn": "255", "gdti": "253", "giai": "8004",
	"ginc": "401", "gln": "414", "glnx": "254", "gmn": "8013", "grai": "8003", "gsin": "402",
	"gsrn": "8018", "gsrnp": "8017", "gtin": "01", "itip": "8006", "lot": "10", "party": "417",
	"refno": "8020", "ser": "21", "srin": "8019", "sscc": "00",
}

func isURIUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

// URIEscape percent-encodes s for a Digital Link path segment, or for a
// query value when query is true (where a space becomes "+").
func URIEscape(s string, query bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isURIUnreserved(c):
			b.WriteByte(c)
		case c == ' ' && query:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// URIUnescape reverses percent-encoding; in a query value "+" means space.
// A "%" not followed by two hex digits is kept as it is. ok is false when the
// result would contain a NUL byte.
func URIUnescape(s string, query bool) (out string, ok bool) {
	out, _, ok = uriUnescape(s, query)
	return out, ok
}

// uriUnescape also returns the offset in s of each output byte.
func uriUnescape(s string, query bool) (string, []int, bool) {
	var b strings.Builder
	src := make([]int, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			if c == 0 {
				return "", nil, false
			}
			b.WriteByte(c)
			src = append(src, i)
			i += 2
			continue
		case c == '+' && query:
			c = ' '
		}
		b.WriteByte(c)
		src = append(src, i)
	}
	return b.String(), src, true
}

// DigitalLink is a parsed GS1 Digital Link URI.
type DigitalLink struct {
	Message
	Stem     string   // scheme, host and any path before the primary key, e.g. "https://id.gs1.org"
	PathAIs  int      // how many of Elements (the first ones) came from the path
	Extra    []string // query parameters that are not AIs, as given
	Fragment string   // text after "#", if any
}

// ParseDigitalLink parses and checks a GS1 Digital Link URI with the default
// options.
func ParseDigitalLink(uri string) (*DigitalLink, error) { return Options{}.ParseDigitalLink(uri) }

// ParseDigitalLink parses and checks a GS1 Digital Link URI: any host, a
// path of AI/value pairs that starts with a primary key and continues with
// its qualifiers in order, and data attributes as query parameters.
func (o Options) ParseDigitalLink(uri string) (*DigitalLink, error) {
	for i := 0; i < len(uri); i++ {
		if !uriChars[uri[i]] {
			return nil, errAt(i, "dl-syntax", "URI contains a character that is not allowed in URIs (%q)", uri[i:i+1])
		}
	}
	var p int
	switch {
	case strings.HasPrefix(uri, "https://") || strings.HasPrefix(uri, "HTTPS://"):
		p = 8
	case strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "HTTP://"):
		p = 7
	default:
		return nil, errAt(0, "dl-syntax", "URI must start with http:// or https:// (all lower or all upper case)")
	}
	slash := strings.IndexByte(uri[p:], '/')
	if slash < 1 {
		return nil, errAt(p, "dl-syntax", "URI has no host and path")
	}
	if i := strings.IndexAny(uri[p:p+slash], badDomainChars); i >= 0 {
		return nil, errAt(p+i, "dl-syntax", "host contains %q, which is not allowed in a host", uri[p+i:p+i+1])
	}
	pathStart := p + slash
	dl := &DigitalLink{}
	rest := uri[pathStart:]
	end := len(uri)
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		dl.Fragment = rest[i+1:]
		end = pathStart + i
	}
	query := ""
	queryStart := -1
	pathEnd := end
	if i := strings.IndexByte(uri[pathStart:end], '?'); i >= 0 {
		pathEnd = pathStart + i
		queryStart = pathEnd + 1
		query = uri[queryStart:end]
	}
	path := uri[pathStart:pathEnd]

	// Split the path into segments and find, from the end, the rightmost
	// AI/value pair whose AI is a primary key.
	var segs []string
	var segPos []int
	for i := 0; i < len(path); {
		j := strings.IndexByte(path[i+1:], '/')
		if j < 0 {
			j = len(path) - i - 1
		}
		segs = append(segs, path[i+1:i+1+j])
		segPos = append(segPos, pathStart+i+1)
		i += 1 + j
	}
	resolve := func(seg string) *aiEntry {
		if o.PermitConvenienceAlphas && len(seg) >= 3 && len(seg) <= 5 && !isDigit(seg[0]) {
			if ai, ok := convenienceAlphas[seg]; ok {
				return lookupAI(ai, false)
			}
		}
		return lookupAI(seg, o.PermitUnknownAIs)
	}
	t := derived()
	root := -1
	for i := len(segs) - 2; i >= 0; i -= 2 {
		e := resolve(segs[i])
		if e == nil {
			break
		}
		if t.dlPrimaryKey[e.ai] {
			root = i
			break
		}
	}
	if root < 0 {
		return nil, errAt(pathStart, "dl-path", "no GS1 primary key (such as /01/ or /00/) found in the URI path")
	}
	dl.Stem = uri[:segPos[root]-1]
	var pathSeq []string
	for i := root; i+1 < len(segs); i += 2 {
		e := resolve(segs[i])
		el, err := o.dlElement(e, segs[i+1], segPos[i+1], false)
		if err != nil {
			return nil, err
		}
		dl.Elements = append(dl.Elements, el)
		pathSeq = append(pathSeq, e.ai)
	}
	dl.PathAIs = len(dl.Elements)

	// Query parameters: AIs become data attributes, others are kept aside.
	for q := 0; queryStart >= 0 && q < len(query); {
		amp := strings.IndexByte(query[q:], '&')
		if amp < 0 {
			amp = len(query) - q
		}
		param := query[q : q+amp]
		at := queryStart + q
		q += amp + 1
		if param == "" {
			continue
		}
		key, val, hasVal := strings.Cut(param, "=")
		if !hasVal || key == "" || !allDigits(key) {
			dl.Extra = append(dl.Extra, param)
			continue
		}
		e := lookupAI(key, o.PermitUnknownAIs)
		if e == nil {
			return nil, errAt(at, "dl-query", "query parameter %q is numeric but not a known AI", key)
		}
		el, err := o.dlElement(e, val, at+len(key)+1, true)
		if err != nil {
			return nil, err
		}
		if len(dl.Elements) >= MaxAIs {
			return nil, errAt(at, "syntax", "more than %d AIs", MaxAIs)
		}
		dl.Elements = append(dl.Elements, el)
	}

	if !t.dlSeqSet[strings.Join(pathSeq, " ")] {
		return nil, errAt(segPos[root], "dl-path", "path AIs (%s) are not a primary key followed by its qualifiers in order", strings.Join(pathSeq, ")("))
	}
	for i := dl.PathAIs; i < len(dl.Elements); i++ {
		a := dl.Elements[i]
		for _, b := range dl.Elements[:i] {
			if b.AI == a.AI {
				return nil, &Error{AI: a.AI, Pos: a.at(0), Rule: "dl-query", Msg: "appears more than once in the URI"}
			}
		}
		if !o.dlAttrAllowed(a.entry) {
			return nil, &Error{AI: a.AI, Pos: a.at(0), Rule: "dl-query", Msg: "is not permitted as a Digital Link data attribute"}
		}
		for j := 1; j <= len(pathSeq); j++ {
			seq := append(append(append([]string{}, pathSeq[:j]...), a.AI), pathSeq[j:]...)
			if t.dlSeqSet[strings.Join(seq, " ")] {
				return nil, &Error{AI: a.AI, Pos: a.at(0), Rule: "dl-query", Msg: "is a key qualifier and belongs in the URI path, not the query"}
			}
		}
	}
	lc := o.lintCtx()
	for _, el := range dl.Elements {
		if _, f := lintValue(lc, el.entry, el.Value); f != nil {
			return nil, placeFault(el, f)
		}
	}
	if err := o.check(&dl.Message); err != nil {
		return nil, err
	}
	return dl, nil
}

func (o Options) dlAttrAllowed(e *aiEntry) bool {
	if e.unknown {
		return o.UnknownAIsAsDLAttributes
	}
	return e.dlAttr
}

// dlElement decodes one AI value from the path or the query.
func (o Options) dlElement(e *aiEntry, raw string, pos int, query bool) (Element, error) {
	if raw == "" {
		return Element{}, errAI(e.ai, pos, "length", "value is empty in the URI")
	}
	val, src, ok := uriUnescape(raw, query)
	if !ok {
		return Element{}, errAI(e.ai, pos, "dl-syntax", "decoded value contains a NUL byte")
	}
	for i := range src {
		src[i] += pos
	}
	if o.PermitZeroSuppressedGTIN && e.ai == "01" && (len(val) == 8 || len(val) == 12 || len(val) == 13) {
		pad := 14 - len(val)
		val = strings.Repeat("0", pad) + val
		src = append(make([]int, pad), src...)
		for i := 0; i < pad; i++ {
			src[i] = pos
		}
	}
	el := Element{AI: e.ai, Value: val, entry: e, pos: pos, src: src}
	if f := checkLength(e, val); f != nil {
		return Element{}, placeFault(el, f)
	}
	return el, nil
}

// DigitalLink returns the GS1 Digital Link URI of the message with the given
// stem (CanonicalDLStem when empty). The first AI that can be a primary key
// goes into the path with the most qualifiers the message has; the other AIs
// become query attributes, those of predefined length first. It fails when
// there is no primary key or an AI may not be a data attribute.
func (m *Message) DigitalLink(stem string) (string, error) { return Options{}.DigitalLink(m, stem) }

// DigitalLink is Message.DigitalLink with options (for unknown AIs as
// attributes).
func (o Options) DigitalLink(m *Message, stem string) (string, error) {
	t := derived()
	key := ""
	for _, e := range m.Elements {
		if t.dlPrimaryKey[e.AI] {
			key = e.AI
			break
		}
	}
	if key == "" {
		return "", errAt(-1, "dl-path", "a Digital Link URI needs a primary key AI such as (01), (00) or (414)")
	}
	// Choose the key-qualifier sequence that matches the most elements;
	// the first in sorted order wins a tie.
	best, bestCount := key, 0
	i := sort.SearchStrings(t.dlSequences, key)
	for i++; i < len(t.dlSequences); i++ {
		seq := strings.Fields(t.dlSequences[i])
		if seq[0] != key {
			break
		}
		n := 0
		for _, q := range seq[1:] {
			for _, e := range m.Elements {
				if e.AI == q {
					n++
				}
			}
		}
		if n > bestCount {
			best, bestCount = t.dlSequences[i], n
		}
	}
	path := strings.Fields(best)
	inPath := map[string]bool{}
	for _, ai := range path {
		inPath[ai] = true
	}
	if stem == "" {
		stem = CanonicalDLStem
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(stem, "/"))
	for _, ai := range path {
		for _, e := range m.Elements {
			if e.AI == ai {
				b.WriteString("/" + ai + "/" + URIEscape(e.Value, false))
				break
			}
		}
	}
	sep := byte('?')
	done := map[string]bool{}
	for _, fixed := range []bool{true, false} {
		for _, e := range m.Elements {
			if inPath[e.AI] || done[e.AI] || (e.entry != nil && e.entry.fixedLen) != fixed {
				continue
			}
			done[e.AI] = true
			if e.entry == nil || !o.dlAttrAllowed(e.entry) {
				return "", &Error{AI: e.AI, Pos: -1, Rule: "dl-query", Msg: "is not permitted as a Digital Link data attribute"}
			}
			b.WriteByte(sep)
			sep = '&'
			b.WriteString(e.AI + "=" + URIEscape(e.Value, true))
		}
	}
	return b.String(), nil
}

// String returns the link's AIs in bracketed form and how many came from
// the path, for logs.
func (dl *DigitalLink) String() string {
	return fmt.Sprintf("%s (%d path AIs)", dl.HRI(), dl.PathAIs)
}

// URI writes the Digital Link again with the given stem (CanonicalDLStem when
// empty), keeping its path AIs as they were and putting the data attributes
// in the query, those of predefined length first. Unlike
// Message.DigitalLink it never has to choose a key-qualifier path, so it
// cannot fail for a parsed link.
func (dl *DigitalLink) URI(stem string) string {
	if stem == "" {
		stem = CanonicalDLStem
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(stem, "/"))
	for _, e := range dl.Elements[:dl.PathAIs] {
		b.WriteString("/" + e.AI + "/" + URIEscape(e.Value, false))
	}
	sep := byte('?')
	for _, fixed := range []bool{true, false} {
		for _, e := range dl.Elements[dl.PathAIs:] {
			if e.entry.fixedLen != fixed {
				continue
			}
			b.WriteByte(sep)
			sep = '&'
			b.WriteString(e.AI + "=" + URIEscape(e.Value, true))
		}
	}
	return b.String()
}
