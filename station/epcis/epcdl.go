package epcis

import (
	"strings"

	"github.com/linestation/linestation/station/gs1"
)

// epcToDL converts an EPC pure identity, class or pattern URI into its
// canonical GS1 Digital Link URI (https://id.gs1.org/...), as the event hash
// requires. ok is false for URIs it does not convert.
func epcToDL(uri string) (string, bool) {
	const stem = gs1.CanonicalDLStem
	switch {
	case strings.HasPrefix(uri, "urn:epc:id:sgtin:"), strings.HasPrefix(uri, "urn:epc:id:sscc:"),
		strings.HasPrefix(uri, "urn:epc:id:sgln:"), strings.HasPrefix(uri, "urn:epc:class:lgtin:"),
		strings.HasPrefix(uri, "urn:epc:idpat:sgtin:"):
		m, err := gs1.Options{NoAssociations: true}.ParseEPCURI(uri)
		if err != nil {
			return "", false
		}
		return constrainedDL(&m.Elements), true
	case strings.HasPrefix(uri, "urn:epc:id:"):
		rest := uri[len("urn:epc:id:"):]
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return "", false
		}
		scheme, parts := rest[:i], strings.Split(rest[i+1:], ".")
		digits := func(ss ...string) bool {
			for _, s := range ss {
				if s == "" {
					return false
				}
				for j := 0; j < len(s); j++ {
					if s[j] < '0' || s[j] > '9' {
						return false
					}
				}
			}
			return true
		}
		check := func(s string) string {
			out, err := gs1.AppendCheckDigit(s)
			if err != nil {
				return ""
			}
			return out
		}
		unesc := func(s string) string {
			v, ok := gs1.URIUnescape(s, false)
			if !ok {
				return s
			}
			return gs1.URIEscape(v, false)
		}
		switch {
		case scheme == "pgln" && len(parts) == 2 && digits(parts...) && len(parts[0])+len(parts[1]) == 12:
			return stem + "/417/" + check(parts[0]+parts[1]), true
		case scheme == "grai" && len(parts) == 3 && digits(parts[0], parts[1]) && len(parts[0])+len(parts[1]) == 12:
			return stem + "/8003/0" + check(parts[0]+parts[1]) + unesc(parts[2]), true
		case scheme == "giai" && len(parts) == 2 && digits(parts[0]):
			return stem + "/8004/" + parts[0] + unesc(parts[1]), true
		case (scheme == "gsrn" || scheme == "gsrnp") && len(parts) == 2 && digits(parts...) && len(parts[0])+len(parts[1]) == 17:
			ai := "8018"
			if scheme == "gsrnp" {
				ai = "8017"
			}
			return stem + "/" + ai + "/" + check(parts[0]+parts[1]), true
		case scheme == "gdti" && len(parts) == 3 && digits(parts[0], parts[1]) && len(parts[0])+len(parts[1]) == 12:
			return stem + "/253/" + check(parts[0]+parts[1]) + unesc(parts[2]), true
		case scheme == "sgcn" && len(parts) == 3 && digits(parts...) && len(parts[0])+len(parts[1]) == 12:
			return stem + "/255/" + check(parts[0]+parts[1]) + parts[2], true
		case scheme == "ginc" && len(parts) == 2 && digits(parts[0]):
			return stem + "/401/" + parts[0] + unesc(parts[1]), true
		case scheme == "gsin" && len(parts) == 2 && digits(parts...) && len(parts[0])+len(parts[1]) == 16:
			return stem + "/402/" + check(parts[0]+parts[1]), true
		case scheme == "cpi" && len(parts) == 3 && digits(parts[0], parts[2]):
			return stem + "/8010/" + parts[0] + unesc(parts[1]) + "/8011/" + parts[2], true
		case scheme == "itip" && len(parts) == 5 && digits(parts[:4]...) && len(parts[0])+len(parts[1]) == 13:
			gtin := check(parts[1][:1] + parts[0] + parts[1][1:])
			return stem + "/8006/" + gtin + parts[2] + parts[3] + "/21/" + unesc(parts[4]), true
		}
	}
	return "", false
}

// constrainedDL writes the canonical Digital Link of a key with only its
// most fine-grained qualifier (the event hash's "constrained" form).
func constrainedDL(els *[]gs1.Element) string {
	get := func(ai string) (string, bool) {
		for _, e := range *els {
			if e.AI == ai {
				return e.Value, true
			}
		}
		return "", false
	}
	keys := []struct {
		key   string
		quals []string
	}{
		{"01", []string{"21", "235", "10"}}, {"00", nil}, {"414", []string{"254"}}, {"417", nil}, {"8006", []string{"21", "10"}},
		{"8010", []string{"8011"}}, {"253", nil}, {"255", nil}, {"401", nil}, {"402", nil}, {"8003", nil}, {"8004", nil},
		{"8017", nil}, {"8018", nil},
	}
	var b strings.Builder
	b.WriteString(gs1.CanonicalDLStem)
	for _, k := range keys {
		v, ok := get(k.key)
		if !ok {
			continue
		}
		b.WriteString("/" + k.key + "/" + gs1.URIEscape(v, false))
		for _, q := range k.quals {
			if qv, ok := get(q); ok {
				b.WriteString("/" + q + "/" + gs1.URIEscape(qv, false))
				break
			}
		}
		break
	}
	return b.String()
}

// normalizeDL returns the constrained canonical form of a GS1 Digital Link
// URI on any host, and false for URIs that are not Digital Links.
func normalizeDL(uri string) (string, bool) {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
		return "", false
	}
	dl, err := gs1.Options{NoAssociations: true}.ParseDigitalLink(uri)
	if err != nil || dl.PathAIs == 0 {
		return "", false
	}
	path := dl.Elements[:dl.PathAIs]
	return constrainedDL(&path), true
}
