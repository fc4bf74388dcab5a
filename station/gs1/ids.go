package gs1

import (
	"fmt"
	"strings"
)

// AppendCheckDigit returns digits followed by their GS1 mod-10 check digit.
func AppendCheckDigit(digits string) (string, error) {
	if digits == "" {
		return "", errAt(0, "check-digit", "no digits given")
	}
	if i := firstNonDigit(digits); i >= 0 {
		return "", errAt(i, "check-digit", "%q is not a digit", digits[i:i+1])
	}
	return digits + string(CheckDigit(digits)), nil
}

// ValidateCheckDigit reports whether the last digit of s is the GS1 check
// digit of the others, with an error saying what is wrong when it is not.
func ValidateCheckDigit(s string) error {
	if len(s) < 2 {
		return errAt(0, "check-digit", "%q is too short to carry a check digit", s)
	}
	if i := firstNonDigit(s); i >= 0 {
		return errAt(i, "check-digit", "%q is not a digit", s[i:i+1])
	}
	if want := CheckDigit(s[:len(s)-1]); want != s[len(s)-1] {
		return errAt(len(s)-1, "check-digit", "%s has check digit %c; it should be %c", s, s[len(s)-1], want)
	}
	return nil
}

// NormalizeGTIN checks a GTIN-8, -12, -13 or -14 and returns it as 14 digits,
// padded with leading zeros.
func NormalizeGTIN(gtin string) (string, error) {
	switch len(gtin) {
	case 8, 12, 13, 14:
	default:
		return "", errAt(-1, "gtin", "GTIN %q has %d digits; a GTIN has 8, 12, 13 or 14", gtin, len(gtin))
	}
	if err := ValidateCheckDigit(gtin); err != nil {
		return "", fmt.Errorf("GTIN %s: %w", gtin, err)
	}
	return strings.Repeat("0", 14-len(gtin)) + gtin, nil
}

// ValidateGLN checks a 13-digit Global Location Number.
func ValidateGLN(gln string) error {
	if len(gln) != 13 {
		return errAt(-1, "gln", "GLN %q has %d digits, not 13", gln, len(gln))
	}
	if err := ValidateCheckDigit(gln); err != nil {
		return fmt.Errorf("GLN %s: %w", gln, err)
	}
	return nil
}

// ValidateSSCC checks an 18-digit Serial Shipping Container Code.
func ValidateSSCC(sscc string) error {
	if len(sscc) != 18 {
		return errAt(-1, "sscc", "SSCC %q has %d digits, not 18", sscc, len(sscc))
	}
	if err := ValidateCheckDigit(sscc); err != nil {
		return fmt.Errorf("SSCC %s: %w", sscc, err)
	}
	return nil
}

// BuildSSCC returns the SSCC made of an extension digit, a GS1 Company
// Prefix (4 to 12 digits) and a serial reference that together make 17
// digits, followed by the check digit.
func BuildSSCC(ext, companyPrefix, serialRef string) (string, error) {
	if len(ext) != 1 || !isDigit(ext[0]) {
		return "", errAt(-1, "sscc", "extension digit %q must be one digit", ext)
	}
	if err := checkCompanyPrefix(companyPrefix); err != nil {
		return "", err
	}
	if serialRef == "" || !allDigits(serialRef) {
		return "", errAt(-1, "sscc", "serial reference %q must be digits", serialRef)
	}
	if n := 1 + len(companyPrefix) + len(serialRef); n != 17 {
		return "", errAt(-1, "sscc", "extension digit, company prefix (%d digits) and serial reference (%d digits) make %d digits; an SSCC needs 17 before its check digit, so the serial reference must have %d",
			len(companyPrefix), len(serialRef), n, 16-len(companyPrefix))
	}
	return AppendCheckDigit(ext + companyPrefix + serialRef)
}

func checkCompanyPrefix(p string) error {
	if len(p) < 4 || len(p) > 12 || !allDigits(p) {
		return errAt(-1, "gcp", "GS1 Company Prefix %q must be 4 to 12 digits", p)
	}
	return nil
}

// NDCFormat is how the ten digits of a US National Drug Code split into
// labeler, product and package codes.
type NDCFormat string

// The NDC formats a GTIN can embed. The 11-digit billing form (5-4-2) is
// not one of them.
const (
	NDC442 NDCFormat = "4-4-2"
	NDC532 NDCFormat = "5-3-2"
	NDC541 NDCFormat = "5-4-1"
)

// ndcFormats lists the 10-digit NDC formats.
var ndcFormats = [...]NDCFormat{NDC442, NDC532, NDC541}

func (f NDCFormat) split() (a, b, c int, ok bool) {
	switch f {
	case NDC442:
		return 4, 4, 2, true
	case NDC532:
		return 5, 3, 2, true
	case NDC541:
		return 5, 4, 1, true
	}
	return 0, 0, 0, false
}

// NDC is a 10-digit US National Drug Code. Digits holds the ten digits;
// Format the labeler-product-package split when it is known.
type NDC struct {
	Digits string
	Format NDCFormat // "" when the split is not known (an NDC read from a GTIN)
}

// String returns the dashed form when the format is known, else the ten digits.
func (n NDC) String() string {
	if s, err := n.Dashed(n.Format); err == nil {
		return s
	}
	return n.Digits
}

// Dashed returns the NDC in the given format, e.g. "0001-0123-45".
func (n NDC) Dashed(f NDCFormat) (string, error) {
	a, b, _, ok := f.split()
	if !ok || len(n.Digits) != 10 {
		return "", errAt(-1, "ndc", "NDC format %q is not 4-4-2, 5-3-2 or 5-4-1", f)
	}
	return n.Digits[:a] + "-" + n.Digits[a:a+b] + "-" + n.Digits[a+b:], nil
}

// Candidates returns the NDC in each of the three 10-digit formats, since a
// GTIN does not record where the dashes go.
func (n NDC) Candidates() []string {
	var out []string
	for _, f := range ndcFormats {
		if s, err := n.Dashed(f); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// ParseNDC reads an NDC. With dashes the segment lengths give the format
// (4-4-2, 5-3-2 or 5-4-1); ten bare digits are ambiguous and need format,
// which may be "" otherwise. The 11-digit billing form (5-4-2, or 11 bare
// digits) is refused: it pads one segment with a zero that a GTIN does not
// carry, and which segment cannot be told from the digits alone.
func ParseNDC(s string, format NDCFormat) (NDC, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "-") {
		segs := strings.Split(s, "-")
		if len(segs) != 3 {
			return NDC{}, errAt(-1, "ndc", "NDC %q must have three dash-separated parts (labeler-product-package)", s)
		}
		for i, seg := range segs {
			if seg == "" || !allDigits(seg) {
				return NDC{}, errAt(-1, "ndc", "NDC %q: part %d (%q) must be digits", s, i+1, seg)
			}
		}
		got := NDCFormat(fmt.Sprintf("%d-%d-%d", len(segs[0]), len(segs[1]), len(segs[2])))
		if got == "5-4-2" {
			return NDC{}, errAt(-1, "ndc", "NDC %q is the 11-digit billing form (5-4-2); GTINs embed the 10-digit NDC (4-4-2, 5-3-2 or 5-4-1): drop the padding zero of the part that has one", s)
		}
		if _, _, _, ok := got.split(); !ok {
			return NDC{}, errAt(-1, "ndc", "NDC %q has parts of %s digits; an NDC is 4-4-2, 5-3-2 or 5-4-1", s, got)
		}
		if format != "" && format != got {
			return NDC{}, errAt(-1, "ndc", "NDC %q is in format %s, not %s", s, got, format)
		}
		return NDC{Digits: strings.Join(segs, ""), Format: got}, nil
	}
	if !allDigits(s) || s == "" {
		return NDC{}, errAt(-1, "ndc", "NDC %q must be digits, with or without dashes", s)
	}
	switch len(s) {
	case 10:
		if format == "" {
			return NDC{}, errAt(-1, "ndc", "NDC %q is 10 digits without dashes, which is ambiguous: write it with dashes (4-4-2, 5-3-2 or 5-4-1) or give its format", s)
		}
		if _, _, _, ok := format.split(); !ok {
			return NDC{}, errAt(-1, "ndc", "NDC format %q is not 4-4-2, 5-3-2 or 5-4-1", format)
		}
		return NDC{Digits: s, Format: format}, nil
	case 11:
		return NDC{}, errAt(-1, "ndc", "NDC %q has 11 digits, the billing form (5-4-2); GTINs embed the 10-digit NDC: write it with dashes in its 10-digit format", s)
	}
	return NDC{}, errAt(-1, "ndc", "NDC %q has %d digits; an NDC has 10", s, len(s))
}

// GTIN returns the GTIN-14 that embeds the NDC: indicator digit, "03", the
// ten NDC digits and the check digit. indicator is 0 for the unit of use and
// 1 to 8 for packaging levels.
func (n NDC) GTIN(indicator int) (string, error) {
	if indicator < 0 || indicator > 8 {
		return "", errAt(-1, "ndc", "indicator digit %d must be 0 to 8 (9 is for variable-measure items)", indicator)
	}
	if len(n.Digits) != 10 || !allDigits(n.Digits) {
		return "", errAt(-1, "ndc", "NDC %q must have 10 digits", n.Digits)
	}
	return AppendCheckDigit(fmt.Sprintf("%d03%s", indicator, n.Digits))
}

// NDCFromGTIN returns the NDC embedded in a US pharmaceutical GTIN (one that
// starts with an indicator digit then "03"). The result has no format: the
// GTIN does not record where the dashes go (see NDC.Candidates).
func NDCFromGTIN(gtin string) (NDC, error) {
	g, err := NormalizeGTIN(gtin)
	if err != nil {
		return NDC{}, err
	}
	if g[1:3] != "03" {
		return NDC{}, errAt(1, "ndc", "GTIN %s does not embed an NDC: after the indicator digit it must start with 03, the US drug code prefix", g)
	}
	return NDC{Digits: g[3:13]}, nil
}
