package gs1

import (
	"strings"
)

// Symbology is a barcode symbology, as far as scan data tells it apart.
type Symbology string

// Symbologies named as in the GS1 Barcode Syntax Engine.
const (
	SymNone               Symbology = "NONE"
	SymDataBarOmni        Symbology = "DataBarOmni"
	SymDataBarTruncated   Symbology = "DataBarTruncated"
	SymDataBarStacked     Symbology = "DataBarStacked"
	SymDataBarStackedOmni Symbology = "DataBarStackedOmni"
	SymDataBarLimited     Symbology = "DataBarLimited"
	SymDataBarExpanded    Symbology = "DataBarExpanded"
	SymUPCA               Symbology = "UPCA"
	SymUPCE               Symbology = "UPCE"
	SymEAN13              Symbology = "EAN13"
	SymEAN8               Symbology = "EAN8"
	SymGS1128CCA          Symbology = "GS1_128_CCA"
	SymGS1128CCC          Symbology = "GS1_128_CCC"
	SymQR                 Symbology = "QR"
	SymDM                 Symbology = "DM"
	SymDotCode            Symbology = "DotCode"
)

type symID struct {
	id  string // the two characters after "]"
	gs1 bool   // the identifier announces GS1 (AI) data
	sym Symbology
}

// symIDs maps AIM symbology identifiers to symbologies. For scanning, the
// first entry of an identifier wins; for generating, the first entry of a
// symbology and data kind wins.
var symIDs = []symID{
	{"C1", true, SymGS1128CCA}, {"C1", true, SymGS1128CCC},
	{"E0", false, SymEAN13}, {"E0", true, SymEAN13}, {"E0", false, SymUPCA}, {"E0", true, SymUPCA},
	{"E0", false, SymUPCE}, {"E0", true, SymUPCE},
	{"E4", false, SymEAN8}, {"E4", true, SymEAN8},
	{"e0", true, SymDataBarExpanded},
	{"e0", true, SymDataBarOmni}, {"e0", false, SymDataBarOmni},
	{"e0", true, SymDataBarTruncated}, {"e0", false, SymDataBarTruncated},
	{"e0", true, SymDataBarStacked}, {"e0", false, SymDataBarStacked},
	{"e0", true, SymDataBarStackedOmni}, {"e0", false, SymDataBarStackedOmni},
	{"e0", true, SymDataBarLimited}, {"e0", false, SymDataBarLimited},
	{"d1", false, SymDM}, {"d2", true, SymDM},
	{"Q1", false, SymQR}, {"Q3", true, SymQR},
	{"J0", false, SymDotCode}, {"J1", true, SymDotCode},
}

// Scan is what a scanner read: the symbology, the data in the GS1 engine's
// notation, and the GS1 message when the data holds one.
type Scan struct {
	Symbology Symbology
	// Data is the payload in engine notation: GS1 data as "^..." (FNC1 as
	// "^"), a composite after "|", plain data as sent with a leading "^"
	// escaped as "\^".
	Data string
	// Message holds the AIs of GS1 data, of a GS1 Digital Link URI in
	// plain data, or of an EAN/UPC composite; nil for other plain data.
	Message *Message
	// Primary is the EAN/UPC number of a linear symbol, when there is one.
	Primary string
}

// ParseScanData reads scanner output that starts with an AIM symbology
// identifier (such as "]d2" for GS1 DataMatrix, with GS bytes for FNC1), with
// the default options.
func ParseScanData(s string) (*Scan, error) { return Options{}.ParseScanData(s) }

// ParseScanData reads scanner output that starts with an AIM symbology
// identifier.
func (o Options) ParseScanData(s string) (*Scan, error) {
	if len(s) < 3 || s[0] != ']' {
		return nil, errAt(0, "scan", "scan data must start with a symbology identifier such as ]d2, ]C1, ]Q3 or ]e0")
	}
	var id *symID
	for i := range symIDs {
		if symIDs[i].id == s[1:3] {
			id = &symIDs[i]
			break
		}
	}
	if id == nil {
		return nil, errAt(1, "scan", "symbology identifier %q is not one this station reads", s[:3])
	}
	sc := &Scan{Symbology: id.sym}
	body := s[3:]
	gs1 := id.gs1
	base := 3
	if id.sym == SymEAN13 || id.sym == SymEAN8 {
		n := 13
		if id.sym == SymEAN8 {
			n = 8
		}
		if len(body) < n {
			return nil, errAt(3, "scan", "EAN/UPC data is too short (%d digits wanted)", n)
		}
		cc := ""
		hasCC := false
		if len(body) > n {
			if !strings.HasPrefix(body[n:], "|]e0") {
				return nil, errAt(3+n, "scan", "EAN/UPC data is too long (%d digits wanted)", n)
			}
			cc, hasCC = body[n+4:], true
		}
		primary := body[:n]
		if i := firstNonDigit(primary); i >= 0 {
			return nil, errAt(3+i, "scan", "EAN/UPC data must be all digits")
		}
		if CheckDigit(primary[:n-1]) != primary[n-1] {
			return nil, errAt(3+n-1, "check-digit", "EAN/UPC check digit is incorrect")
		}
		sc.Primary = primary
		sc.Data = primary
		if !hasCC {
			return sc, nil
		}
		sc.Data += "|"
		body, base, gs1 = cc, 3+n+4, true
	}
	if gs1 {
		if i := strings.IndexByte(body, '^'); i >= 0 {
			return nil, errAt(base+i, "scan", "scan data contains \"^\", which is not a data character")
		}
		fnc := "^" + strings.ReplaceAll(body, string(rune(gs)), "^")
		m, err := o.parseFNC1(fnc, base-1)
		if err != nil {
			return nil, err
		}
		if err := o.check(m); err != nil {
			return nil, err
		}
		sc.Data += fnc
		sc.Message = m
		return sc, nil
	}
	// Plain data: a leading "^" (after any backslashes) is escaped so that
	// it cannot be mistaken for FNC1.
	k := 0
	for k < len(body) && body[k] == '\\' {
		k++
	}
	if k < len(body) && body[k] == '^' {
		sc.Data = `\` + body
	} else {
		sc.Data = body
	}
	if hasDLScheme(body) {
		dl, err := o.ParseDigitalLink(body)
		if err != nil {
			if e, ok := err.(*Error); ok && e.Pos >= 0 {
				e.Pos += 3
			}
			return nil, err
		}
		sc.Message = &dl.Message
	}
	return sc, nil
}

// hasDLScheme reports whether s starts like a GS1 Digital Link URI.
func hasDLScheme(s string) bool {
	for _, p := range []string{"https://", "HTTPS://", "http://", "HTTP://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ScanData returns what a scanner sends when it reads m in a symbol of the
// given symbology: the symbology identifier, then the elements in the
// fewest-separators order with GS for FNC1. Use SymDM for GS1 DataMatrix,
// SymGS1128CCA for GS1-128, SymQR for GS1 QR Code, SymDataBarExpanded for
// GS1 DataBar Expanded.
func (m *Message) ScanData(sym Symbology) (string, error) {
	return GenerateScanData(sym, m.Encode(), false)
}

// GenerateScanData returns the scan data of engine-notation data (see
// Scan.Data) in a symbol of the given symbology. addCheckDigit means an
// EAN/UPC/DataBar primary number is given without its check digit.
func GenerateScanData(sym Symbology, data string, addCheckDigit bool) (string, error) {
	lin, cc, hasCC := strings.Cut(data, "|")
	isGS1 := strings.HasPrefix(lin, "^")
	if isGS1 {
		if _, err := (Options{NoAssociations: true}).parseFNC1(lin, 0); err != nil {
			return "", err
		}
	}
	if hasCC && strings.HasPrefix(cc, "^") {
		if _, err := (Options{NoAssociations: true}).parseFNC1(cc, len(lin)+1); err != nil {
			return "", err
		}
	}
	ident := func(gs1 bool) string {
		for _, s := range symIDs {
			if s.sym == sym && s.gs1 == gs1 {
				return "]" + s.id
			}
		}
		return ""
	}
	notGS1 := errAt(0, "scan", "%s needs GS1 data starting with FNC1 (^)", sym)
	switch sym {
	case SymQR, SymDM, SymDotCode:
		if !isGS1 {
			return ident(false) + unescapePlain(data), nil
		}
		return ident(true) + scanBody(data), nil
	case SymGS1128CCA, SymGS1128CCC, SymDataBarExpanded:
		if !isGS1 {
			return "", notGS1
		}
		if !hasCC && sym != SymDataBarExpanded {
			return ident(true) + scanBody(lin), nil
		}
		out := "]e0" + scanBody(lin)
		if hasCC {
			if !strings.HasPrefix(cc, "^") {
				return "", errAt(len(lin)+1, "scan", "composite data must start with FNC1 (^)")
			}
			m, err := Options{NoAssociations: true}.parseFNC1(lin, 0)
			if err != nil {
				return "", err
			}
			if last := m.Elements[len(m.Elements)-1]; last.entry.fnc1() && !strings.HasSuffix(lin, "^") {
				out += string(rune(gs))
			}
			out += scanBody(cc)
		}
		return out, nil
	case SymDataBarOmni, SymDataBarTruncated, SymDataBarStacked, SymDataBarStackedOmni, SymDataBarLimited:
		primary, err := primaryNumber(strings.TrimPrefix(lin, "^01"), 14, addCheckDigit)
		if err != nil {
			return "", err
		}
		if sym == SymDataBarLimited && primary > "19999999999999" {
			return "", errAt(0, "scan", "GS1 DataBar Limited only carries GTINs below 20000000000000")
		}
		out := "]e001" + primary
		if hasCC {
			if !strings.HasPrefix(cc, "^") {
				return "", errAt(len(lin)+1, "scan", "composite data must start with FNC1 (^)")
			}
			out += scanBody(cc)
		}
		return out, nil
	case SymEAN13, SymEAN8, SymUPCA, SymUPCE:
		n, pad := 13, ""
		switch sym {
		case SymEAN8:
			n = 8
		case SymUPCA, SymUPCE:
			n, pad = 12, "0"
		}
		zeros := 17 - n
		if len(lin) >= zeros && lin[:zeros] == "^01000000"[:zeros] {
			lin = lin[zeros:]
		}
		primary, err := primaryNumber(lin, n, addCheckDigit)
		if err != nil {
			return "", err
		}
		out := ident(false) + pad + primary
		if hasCC {
			if !strings.HasPrefix(cc, "^") {
				return "", errAt(len(lin)+1, "scan", "composite data must start with FNC1 (^)")
			}
			out += "|]e0" + scanBody(cc)
		}
		return out, nil
	}
	return "", errAt(-1, "scan", "symbology %q is not supported", sym)
}

// scanBody turns "^..." data into scan data: no leading FNC1, GS for the others.
func scanBody(data string) string {
	return strings.ReplaceAll(strings.TrimPrefix(data, "^"), "^", string(rune(gs)))
}

// unescapePlain undoes the "\^" escape of plain data.
func unescapePlain(data string) string {
	k := 0
	for k < len(data) && data[k] == '\\' {
		k++
	}
	if k > 0 && k < len(data) && data[k] == '^' {
		return data[1:]
	}
	return data
}

// primaryNumber checks an n-digit EAN/UPC/DataBar number, computing its
// check digit when addCheckDigit is set (then n-1 digits are given).
func primaryNumber(s string, n int, addCheckDigit bool) (string, error) {
	want := n
	if addCheckDigit {
		want = n - 1
	}
	if len(s) != want {
		return "", errAt(0, "scan", "primary data must be %d digits", want)
	}
	if i := firstNonDigit(s); i >= 0 {
		return "", errAt(i, "scan", "primary data must be all digits")
	}
	if addCheckDigit {
		return s + string(CheckDigit(s)), nil
	}
	if CheckDigit(s[:n-1]) != s[n-1] {
		return "", errAt(n-1, "check-digit", "primary data check digit is incorrect")
	}
	return s, nil
}
