package gs1

import (
	"sort"
	"strings"
)

// LintCode names the rule a linter found broken. The values are the GS1
// Barcode Syntax Dictionary's linter error names without their
// "GS1_LINTER_" prefix, e.g. "ILLEGAL_MONTH", so they can be matched against
// the reference implementation and its test vectors.
type LintCode string

// Describe returns a short English description of the broken rule.
func (c LintCode) Describe() string {
	if d, ok := lintText[c]; ok {
		return d
	}
	return strings.ToLower(strings.ReplaceAll(string(c), "_", " "))
}

// lintText holds descriptions where the plain name reads badly.
var lintText = map[LintCode]string{
	"NON_DIGIT_CHARACTER":          "a character that is not a digit",
	"INVALID_CSET82_CHARACTER":     "a character outside GS1 character set 82",
	"INVALID_CSET39_CHARACTER":     "a character outside GS1 character set 39",
	"INVALID_CSET64_CHARACTER":     "a character outside the base64url character set",
	"INVALID_CSET64_PADDING":       "bad base64url padding",
	"INCORRECT_CHECK_DIGIT":        "an incorrect check digit",
	"TOO_SHORT_FOR_CHECK_DIGIT":    "too short to hold a check digit",
	"INCORRECT_CHECK_PAIR":         "an incorrect check character pair",
	"TOO_SHORT_FOR_CHECK_PAIR":     "too short to hold a check character pair",
	"TOO_SHORT_FOR_GCP":            "too short to start with a GS1 Company Prefix",
	"INVALID_GCP_PREFIX":           "not a valid GS1 Company Prefix",
	"GCP_DATASOURCE_OFFLINE":       "the GS1 Company Prefix source is offline",
	"ILLEGAL_MONTH":                "an illegal month",
	"ILLEGAL_DAY":                  "an illegal day of the month",
	"ILLEGAL_HOUR":                 "an illegal hour",
	"ILLEGAL_MINUTE":               "an illegal minute",
	"ILLEGAL_SECOND":               "an illegal second",
	"DATE_TOO_SHORT":               "a date that is too short",
	"DATE_TOO_LONG":                "a date that is too long",
	"NOT_ISO3166":                  "not an ISO 3166 numeric country code",
	"NOT_ISO3166_OR_999":           "not an ISO 3166 numeric country code or 999",
	"NOT_ISO3166_ALPHA2":           "not an ISO 3166 alpha-2 country code",
	"NOT_ISO4217":                  "not an ISO 4217 numeric currency code",
	"INVALID_PACKAGE_TYPE":         "not a UN/ECE Recommendation 21 package type",
	"INVALID_MEDIA_TYPE":           "not a GS1 AIDC media type",
	"INVALID_PERCENT_SEQUENCE":     "a bad percent-encoding sequence",
	"REQUIRES_NON_DIGIT_CHARACTER": "no character other than digits",
}

// lintFail is a linter's finding: the rule and the bad bytes of the data.
type lintFail struct {
	code     LintCode
	pos, len int
}

func fail(code LintCode, pos, n int) *lintFail { return &lintFail{code: code, pos: pos, len: n} }

// GCPLookup reports whether data starts with an allocated GS1 Company
// Prefix. valid means it does (or must be treated so); offline means the
// source cannot be asked, which fails the check closed. It is optional: with
// none, only the syntax of the prefix is checked.
type GCPLookup func(data string) (valid, offline bool)

// lintCtx carries what linters may consult besides the data.
type lintCtx struct {
	gcp GCPLookup
}

type linterFunc func(lc *lintCtx, data string) *lintFail

// linters maps every linter named in the dictionary to its implementation.
// It is filled once and only read afterwards.
var linters = map[string]linterFunc{
	"csetnumeric":    lintNumeric,
	"cset82":         lintCSet82,
	"cset39":         lintCSet39,
	"cset64":         lintCSet64,
	"csum":           lintCsum,
	"csumalpha":      lintCsumAlpha,
	"gcppos1":        lintGCPPos1,
	"gcppos2":        lintGCPPos2,
	"yymmd0":         func(_ *lintCtx, d string) *lintFail { return lintDate(d, 2, true) },
	"yymmdd":         func(_ *lintCtx, d string) *lintFail { return lintDate(d, 2, false) },
	"yyyymmd0":       func(_ *lintCtx, d string) *lintFail { return lintDate(d, 4, true) },
	"yyyymmdd":       func(_ *lintCtx, d string) *lintFail { return lintDate(d, 4, false) },
	"hh":             lintHH,
	"mi":             lintMI,
	"ss":             lintSS,
	"hhmi":           lintHHMI,
	"iso3166":        func(_ *lintCtx, d string) *lintFail { return lintList(d, iso3166Numeric, "NOT_ISO3166") },
	"iso3166999":     lintISO3166999,
	"iso3166alpha2":  func(_ *lintCtx, d string) *lintFail { return lintList(d, iso3166Alpha2, "NOT_ISO3166_ALPHA2") },
	"iso4217":        func(_ *lintCtx, d string) *lintFail { return lintList(d, iso4217Numeric, "NOT_ISO4217") },
	"packagetype":    func(_ *lintCtx, d string) *lintFail { return lintList(d, packageTypes, "INVALID_PACKAGE_TYPE") },
	"mediatype":      func(_ *lintCtx, d string) *lintFail { return lintList(d, mediaTypes, "INVALID_MEDIA_TYPE") },
	"iso5218":        lintISO5218,
	"couponcode":     lintCouponCode,
	"couponposoffer": lintCouponPosOffer,
	"iban":           lintIBAN,
	"importeridx":    lintImporterIdx,
	"pcenc":          lintPcEnc,
	"latitude":       func(_ *lintCtx, d string) *lintFail { return lintLatLong(d, 1800000000, "LATITUDE") },
	"longitude":      func(_ *lintCtx, d string) *lintFail { return lintLatLong(d, 3600000000, "LONGITUDE") },
	"nonzero":        lintNonZero,
	"zero":           lintZero,
	"nozeroprefix":   lintNoZeroPrefix,
	"hasnondigit":    lintHasNonDigit,
	"yesno":          lintYesNo,
	"winding":        lintWinding,
	"hyphen":         lintHyphen,
	"pieceoftotal":   lintPieceOfTotal,
	"posinseqslash":  lintPosInSeqSlash,
}

// lookupLinter returns the named linter, or nil when there is none.
func lookupLinter(name string) linterFunc { return linters[name] }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func firstNonDigit(s string) int {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return i
		}
	}
	return -1
}

func lintNumeric(_ *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	return nil
}

// cset82Chars is GS1 character set 82 in order of its check-pair weights.
const cset82Chars = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// cset32Chars is GS1 character set 32, used for check character pairs.
const cset32Chars = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

var cset82Set, cset39Set, cset64Set = byteSet(cset82Chars), byteSet("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
	byteSet("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")

func byteSet(s string) (set [256]bool) {
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}

func lintSet(d string, set *[256]bool, code LintCode) *lintFail {
	for i := 0; i < len(d); i++ {
		if !set[d[i]] {
			return fail(code, i, 1)
		}
	}
	return nil
}

func lintCSet82(_ *lintCtx, d string) *lintFail {
	return lintSet(d, &cset82Set, "INVALID_CSET82_CHARACTER")
}

func lintCSet39(_ *lintCtx, d string) *lintFail {
	return lintSet(d, &cset39Set, "INVALID_CSET39_CHARACTER")
}

// lintCSet64 checks base64url. Up to two "=" may pad the data to a
// multiple of three characters, as the reference linter accepts.
func lintCSet64(_ *lintCtx, d string) *lintFail {
	n := len(d)
	for n > 0 && d[n-1] == '=' {
		n--
	}
	for i := 0; i < n; i++ {
		if !cset64Set[d[i]] {
			return fail("INVALID_CSET64_CHARACTER", i, 1)
		}
	}
	if pad := len(d) - n; pad > 0 && (pad > 2 || len(d)%3 != 0) {
		return fail("INVALID_CSET64_PADDING", n, pad)
	}
	return nil
}

// CheckDigit returns the GS1 mod-10 check digit for digits (GTIN, GLN, SSCC,
// GSRN, ... without their check digit). digits must be all '0'-'9'.
func CheckDigit(digits string) byte {
	sum := 0
	w := 3
	for i := len(digits) - 1; i >= 0; i-- {
		sum += w * int(digits[i]-'0')
		w = 4 - w
	}
	return byte('0' + (10-sum%10)%10)
}

func lintCsum(_ *lintCtx, d string) *lintFail {
	if d == "" {
		return fail("TOO_SHORT_FOR_CHECK_DIGIT", 0, 0)
	}
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if CheckDigit(d[:len(d)-1]) != d[len(d)-1] {
		return fail("INCORRECT_CHECK_DIGIT", len(d)-1, 1)
	}
	return nil
}

// csumAlphaPrimes are the weights of the alphanumeric check character pair.
var csumAlphaPrimes = [...]int{
	2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
	97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
	197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307, 311,
	313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421, 431, 433,
	439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503, 509,
}

// CheckPair returns the two check characters (CSET 32) of the GS1
// alphanumeric check character pair for data, which must be in CSET 82 and
// at most 97 characters long.
func CheckPair(data string) (string, bool) {
	if len(data) > len(csumAlphaPrimes) {
		return "", false
	}
	sum := 0
	for i := 0; i < len(data); i++ {
		v := strings.IndexByte(cset82Chars, data[i])
		if v < 0 {
			return "", false
		}
		sum += v * csumAlphaPrimes[len(data)-1-i]
	}
	sum %= 1021
	return string([]byte{cset32Chars[sum>>5], cset32Chars[sum&31]}), true
}

func lintCsumAlpha(_ *lintCtx, d string) *lintFail {
	n := len(d)
	if n < 2 {
		return fail("TOO_SHORT_FOR_CHECK_PAIR", 0, n)
	}
	if n-2 > len(csumAlphaPrimes) {
		return fail("TOO_LONG_FOR_CHECK_PAIR_IMPLEMENTATION", 0, n)
	}
	for i := 0; i < n-2; i++ {
		if !cset82Set[d[i]] {
			return fail("INVALID_CSET82_CHARACTER", i, 1)
		}
	}
	if want, _ := CheckPair(d[:n-2]); want != d[n-2:] {
		return fail("INCORRECT_CHECK_PAIR", n-2, 2)
	}
	return nil
}

const gcpMinLength = 4 // the shortest GS1 Company Prefix has four digits

func lintGCPPos1(lc *lintCtx, d string) *lintFail {
	if len(d) < gcpMinLength {
		return fail("TOO_SHORT_FOR_GCP", 0, len(d))
	}
	for i := 0; i < gcpMinLength; i++ {
		if !isDigit(d[i]) {
			return fail("INVALID_GCP_PREFIX", i, 1)
		}
	}
	if lc != nil && lc.gcp != nil {
		valid, offline := lc.gcp(d)
		if offline {
			return fail("GCP_DATASOURCE_OFFLINE", 0, len(d))
		}
		if !valid {
			return fail("INVALID_GCP_PREFIX", 0, len(d))
		}
	}
	return nil
}

// lintGCPPos2 checks for a GCP after a leading indicator or extension digit.
func lintGCPPos2(lc *lintCtx, d string) *lintFail {
	if len(d) < 1 {
		return fail("TOO_SHORT_FOR_GCP", 0, 0)
	}
	if f := lintGCPPos1(lc, d[1:]); f != nil {
		if f.code == "TOO_SHORT_FOR_GCP" && len(d) == 1 {
			return fail("TOO_SHORT_FOR_GCP", 0, 1)
		}
		f.pos++
		return f
	}
	return nil
}

// daysIn returns the number of days in month m of year y.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// lintDate checks YYMMDD (yearDigits 2) or YYYYMMDD (4); zeroDay permits day 00.
func lintDate(d string, yearDigits int, zeroDay bool) *lintFail {
	want := yearDigits + 4
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if len(d) < want {
		return fail("DATE_TOO_SHORT", 0, len(d))
	}
	if len(d) > want {
		return fail("DATE_TOO_LONG", 0, len(d))
	}
	var year int
	if yearDigits == 2 {
		year = fullYear(atoi2(d[:2]), 0)
	} else {
		year = atoi2(d[:2])*100 + atoi2(d[2:4])
	}
	month := atoi2(d[yearDigits : yearDigits+2])
	if month < 1 || month > 12 {
		return fail("ILLEGAL_MONTH", yearDigits, 2)
	}
	day := atoi2(d[yearDigits+2:])
	if (day == 0 && !zeroDay) || day > daysIn(year, month) {
		return fail("ILLEGAL_DAY", yearDigits+2, 2)
	}
	return nil
}

// fullYear resolves a two-digit year with the GS1 General Specifications'
// sliding window around refYear (a four-digit year; 0 means the 2000s, which
// is what leap-year checks of the linters assume).
func fullYear(yy, refYear int) int {
	if refYear == 0 {
		return 2000 + yy
	}
	cur := refYear % 100
	century := refYear - cur
	switch diff := yy - cur; {
	case diff >= 51:
		return century - 100 + yy
	case diff <= -50:
		return century + 100 + yy
	}
	return century + yy
}

func lintTwoDigits(d string, limit int, short, long, illegal LintCode) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if len(d) < 2 {
		return fail(short, 0, len(d))
	}
	if len(d) > 2 {
		return fail(long, 0, len(d))
	}
	if atoi2(d) > limit {
		return fail(illegal, 0, 2)
	}
	return nil
}

func lintHH(_ *lintCtx, d string) *lintFail {
	return lintTwoDigits(d, 23, "HOUR_TOO_SHORT", "HOUR_TOO_LONG", "ILLEGAL_HOUR")
}

func lintMI(_ *lintCtx, d string) *lintFail {
	return lintTwoDigits(d, 59, "MINUTE_TOO_SHORT", "MINUTE_TOO_LONG", "ILLEGAL_MINUTE")
}

func lintSS(_ *lintCtx, d string) *lintFail {
	return lintTwoDigits(d, 59, "SECOND_TOO_SHORT", "SECOND_TOO_LONG", "ILLEGAL_SECOND")
}

func lintHHMI(_ *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if len(d) < 4 {
		return fail("HOUR_WITH_MINUTE_TOO_SHORT", 0, len(d))
	}
	if len(d) > 4 {
		return fail("HOUR_WITH_MINUTE_TOO_LONG", 0, len(d))
	}
	if atoi2(d[:2]) > 23 {
		return fail("ILLEGAL_HOUR", 0, 2)
	}
	if atoi2(d[2:]) > 59 {
		return fail("ILLEGAL_MINUTE", 2, 2)
	}
	return nil
}

func inList(d string, list []string) bool {
	i := sort.SearchStrings(list, d)
	return i < len(list) && list[i] == d
}

func lintList(d string, list []string, code LintCode) *lintFail {
	if !inList(d, list) {
		return fail(code, 0, len(d))
	}
	return nil
}

func lintISO3166999(_ *lintCtx, d string) *lintFail {
	if d != "999" && !inList(d, iso3166Numeric) {
		return fail("NOT_ISO3166_OR_999", 0, len(d))
	}
	return nil
}

func lintISO5218(_ *lintCtx, d string) *lintFail {
	if d != "0" && d != "1" && d != "2" && d != "9" {
		return fail("INVALID_BIOLOGICAL_SEX_CODE", 0, len(d))
	}
	return nil
}

func lintIBAN(_ *lintCtx, d string) *lintFail {
	n := len(d)
	if n < 4 {
		return fail("IBAN_TOO_SHORT", 0, n)
	}
	if !inList(d[:2], iso3166Alpha2) {
		return fail("ILLEGAL_IBAN_COUNTRY_CODE", 0, 2)
	}
	if n > 34 {
		return fail("IBAN_TOO_LONG", 0, n)
	}
	if n <= 10 {
		return fail("IBAN_TOO_SHORT", 0, n)
	}
	sum := 0
	for k := 4; k < n+4; k++ {
		i := k
		if k >= n {
			i = k - n
		}
		c := d[i]
		switch {
		case isDigit(c):
			sum = (sum*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			sum = (sum*100 + int(c-'A') + 10) % 97
		default:
			return fail("INVALID_IBAN_CHARACTER", i, 1)
		}
	}
	if sum != 1 {
		return fail("INCORRECT_IBAN_CHECKSUM", 2, 2)
	}
	return nil
}

var importerIdxSet = byteSet("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")

func lintImporterIdx(_ *lintCtx, d string) *lintFail {
	if len(d) != 1 {
		return fail("IMPORTER_IDX_MUST_BE_ONE_CHARACTER", 0, len(d))
	}
	if !importerIdxSet[d[0]] {
		return fail("INVALID_IMPORT_IDX_CHARACTER", 0, 1)
	}
	return nil
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func lintPcEnc(_ *lintCtx, d string) *lintFail {
	for i := 0; i < len(d); i++ {
		if d[i] != '%' {
			continue
		}
		if i+2 >= len(d) {
			return fail("INVALID_PERCENT_SEQUENCE", i, len(d)-i)
		}
		if !isHex(d[i+1]) || !isHex(d[i+2]) {
			return fail("INVALID_PERCENT_SEQUENCE", i, 3)
		}
		i += 2
	}
	return nil
}

func lintLatLong(d string, limit int, what string) *lintFail {
	if len(d) != 10 {
		return fail(LintCode(what+"_INVALID_LENGTH"), 0, len(d))
	}
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	v := 0
	for i := 0; i < len(d); i++ {
		v = v*10 + int(d[i]-'0')
	}
	if v > limit {
		return fail(LintCode("INVALID_"+what), 0, 10)
	}
	return nil
}

func lintNonZero(_ *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if strings.Trim(d, "0") == "" {
		return fail("ILLEGAL_ZERO_VALUE", 0, len(d))
	}
	return nil
}

func lintZero(_ *lintCtx, d string) *lintFail {
	if d == "" || strings.Trim(d, "0") != "" {
		return fail("NOT_ZERO", 0, len(d))
	}
	return nil
}

func lintNoZeroPrefix(_ *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	if len(d) > 0 && d[0] == '0' {
		return fail("ILLEGAL_ZERO_PREFIX", 0, 1)
	}
	return nil
}

func lintHasNonDigit(_ *lintCtx, d string) *lintFail {
	if firstNonDigit(d) < 0 {
		return fail("REQUIRES_NON_DIGIT_CHARACTER", 0, len(d))
	}
	return nil
}

func lintYesNo(_ *lintCtx, d string) *lintFail {
	if d != "0" && d != "1" {
		return fail("NOT_ZERO_OR_ONE", 0, len(d))
	}
	return nil
}

func lintWinding(_ *lintCtx, d string) *lintFail {
	if d != "0" && d != "1" && d != "9" {
		return fail("INVALID_WINDING_DIRECTION", 0, len(d))
	}
	return nil
}

func lintHyphen(_ *lintCtx, d string) *lintFail {
	if d == "" || strings.Trim(d, "-") != "" {
		return fail("NOT_HYPHEN", 0, len(d))
	}
	return nil
}

func lintPieceOfTotal(_ *lintCtx, d string) *lintFail {
	if len(d) == 0 || len(d)%2 != 0 {
		return fail("INVALID_LENGTH_FOR_PIECE_OF_TOTAL", 0, len(d))
	}
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	h := len(d) / 2
	piece, total := d[:h], d[h:]
	if strings.Trim(piece, "0") == "" {
		return fail("ZERO_PIECE_NUMBER", 0, h)
	}
	if strings.Trim(total, "0") == "" {
		return fail("ZERO_TOTAL_PIECES", h, h)
	}
	if piece > total {
		return fail("PIECE_NUMBER_EXCEEDS_TOTAL", 0, len(d))
	}
	return nil
}

func lintPosInSeqSlash(_ *lintCtx, d string) *lintFail {
	pos, end, ok := strings.Cut(d, "/")
	if !ok || pos == "" || end == "" || firstNonDigit(pos) >= 0 || firstNonDigit(end) >= 0 {
		return fail("POSITION_IN_SEQUENCE_MALFORMED", 0, len(d))
	}
	if pos[0] == '0' {
		return fail("ILLEGAL_ZERO_PREFIX", 0, len(pos))
	}
	if end[0] == '0' {
		return fail("ILLEGAL_ZERO_PREFIX", len(pos)+1, len(end))
	}
	if len(pos) > len(end) || (len(pos) == len(end) && pos > end) {
		return fail("POSITION_EXCEEDS_END", 0, len(d))
	}
	return nil
}
