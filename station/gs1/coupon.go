package gs1

// The coupon linters check the North American coupon codes carried in AI
// (8110) and AI (8112), field by field, reporting the first field that is
// missing, truncated or out of range.

// couponCursor walks a coupon code. Findings follow the reference linters:
// a missing field marks the whole data, a truncated field marks what is left
// (or the whole data when nothing is left), a bad value marks its digit.
type couponCursor struct {
	d string
	p int
}

func (c *couponCursor) atEnd() bool { return c.p >= len(c.d) }

func (c *couponCursor) missing(code LintCode) *lintFail { return fail(code, 0, len(c.d)) }

func (c *couponCursor) truncated(code LintCode) *lintFail {
	if c.atEnd() {
		return fail(code, 0, len(c.d))
	}
	return fail(code, c.p, len(c.d)-c.p)
}

// need checks that n more digits are present.
func (c *couponCursor) need(n int, code LintCode) *lintFail {
	if len(c.d)-c.p < n {
		return c.truncated(code)
	}
	return nil
}

// vliField reads a variable-length indicator in [lo, hi] (or the extra value
// alt, meaning a zero-length field, when alt >= 0), adds plus to it, and
// checks that the field that follows is present. It returns the field length.
func (c *couponCursor) vliField(lo, hi, alt byte, plus int, missing, invalid, trunc LintCode) (int, *lintFail) {
	if c.atEnd() {
		return 0, c.missing(missing)
	}
	v := c.d[c.p]
	n := 0
	switch {
	case v >= lo && v <= hi:
		n = int(v-'0') + plus
	case alt != 0 && v == alt:
		n = 0
	default:
		return 0, fail(invalid, c.p, 1)
	}
	c.p++
	if f := c.need(n, trunc); f != nil {
		return 0, f
	}
	return n, nil
}

// gcp checks an n-digit GS1 Company Prefix at the cursor and skips it.
func (c *couponCursor) gcp(lc *lintCtx, n int) *lintFail {
	if n == 0 {
		return nil
	}
	if f := lintGCPPos1(lc, c.d[c.p:c.p+n]); f != nil {
		return fail(f.code, c.p, n)
	}
	c.p += n
	return nil
}

// purchase checks a purchase requirement: VLI 1-5 and the requirement, a
// code 0-4 or 9, and a three-digit family code.
func (c *couponCursor) purchase(nth string) *lintFail {
	n, f := c.vliField('1', '5', 0, 0, LintCode("COUPON_MISSING_"+nth+"_PURCHASE_REQUIREMENT_VLI"),
		LintCode("COUPON_INVALID_"+nth+"_PURCHASE_REQUIREMENT_LENGTH"), LintCode("COUPON_TRUNCATED_"+nth+"_PURCHASE_REQUIREMENT"))
	if f != nil {
		return f
	}
	c.p += n
	if c.atEnd() {
		return c.missing(LintCode("COUPON_MISSING_" + nth + "_PURCHASE_REQUIREMENT_CODE"))
	}
	if v := c.d[c.p]; v > '4' && v != '9' {
		return fail(LintCode("COUPON_INVALID_"+nth+"_PURCHASE_REQUIREMENT_CODE"), c.p, 1)
	}
	c.p++
	if f := c.need(3, LintCode("COUPON_TRUNCATED_"+nth+"_PURCHASE_FAMILY_CODE")); f != nil {
		return f
	}
	c.p += 3
	return nil
}

// extraGCP checks the GCP of a second or third purchase: VLI 0-6 (6 to 12
// digits) or 9 (none).
func (c *couponCursor) extraGCP(lc *lintCtx, nth string) *lintFail {
	n, f := c.vliField('0', '6', '9', 6, LintCode("COUPON_MISSING_"+nth+"_PURCHASE_GCP_VLI"),
		LintCode("COUPON_INVALID_"+nth+"_PURCHASE_GCP_LENGTH"), LintCode("COUPON_TRUNCATED_"+nth+"_PURCHASE_GCP"))
	if f != nil {
		return f
	}
	return c.gcp(lc, n)
}

// date checks a YYMMDD date of an optional field and returns where it starts.
func (c *couponCursor) date(short, invalid LintCode) (int, *lintFail) {
	c.p++
	if f := c.need(6, short); f != nil {
		return 0, f
	}
	if lintDate(c.d[c.p:c.p+6], 2, false) != nil {
		return 0, fail(invalid, c.p, 6)
	}
	at := c.p
	c.p += 6
	return at, nil
}

func lintCouponCode(lc *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	c := &couponCursor{d: d}
	n, f := c.vliField('0', '6', 0, 6, "COUPON_MISSING_GCP_VLI", "COUPON_INVALID_GCP_LENGTH", "COUPON_TRUNCATED_GCP")
	if f != nil {
		return f
	}
	if f := c.gcp(lc, n); f != nil {
		return f
	}
	if f := c.need(6, "COUPON_TRUNCATED_OFFER_CODE"); f != nil {
		return f
	}
	c.p += 6
	n, f = c.vliField('1', '5', 0, 0, "COUPON_MISSING_SAVE_VALUE_VLI", "COUPON_INVALID_SAVE_VALUE_LENGTH", "COUPON_TRUNCATED_SAVE_VALUE")
	if f != nil {
		return f
	}
	c.p += n
	if f := c.purchase("1ST"); f != nil {
		return f
	}
	// Optional field 1: additional purchase rules and a second purchase.
	if !c.atEnd() && c.d[c.p] == '1' {
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_ADDITIONAL_PURCHASE_RULES_CODE")
		}
		if c.d[c.p] > '3' {
			return fail("COUPON_INVALID_ADDITIONAL_PURCHASE_RULES_CODE", c.p, 1)
		}
		c.p++
		if f := c.purchase("2ND"); f != nil {
			return f
		}
		if f := c.extraGCP(lc, "2ND"); f != nil {
			return f
		}
	}
	// Optional field 2: a third purchase.
	if !c.atEnd() && c.d[c.p] == '2' {
		c.p++
		if f := c.purchase("3RD"); f != nil {
			return f
		}
		if f := c.extraGCP(lc, "3RD"); f != nil {
			return f
		}
	}
	// Optional field 3: expiration date; field 4: start date.
	expiry := -1
	if !c.atEnd() && c.d[c.p] == '3' {
		at, f := c.date("COUPON_TOO_SHORT_FOR_EXPIRATION_DATE", "COUPON_INVALID_EXIPIRATION_DATE")
		if f != nil {
			return f
		}
		expiry = at
	}
	if !c.atEnd() && c.d[c.p] == '4' {
		at, f := c.date("COUPON_TOO_SHORT_FOR_START_DATE", "COUPON_INVALID_START_DATE")
		if f != nil {
			return f
		}
		if expiry >= 0 && d[at:at+6] > d[expiry:expiry+6] {
			return fail("COUPON_EXPIRATION_BEFORE_START", at-8, 14)
		}
	}
	// Optional field 5: serial number.
	if !c.atEnd() && c.d[c.p] == '5' {
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_SERIAL_NUMBER_VLI")
		}
		n := int(c.d[c.p]-'0') + 6
		c.p++
		if f := c.need(n, "COUPON_TRUNCATED_SERIAL_NUMBER"); f != nil {
			return f
		}
		c.p += n
	}
	// Optional field 6: retailer GCP or GLN.
	if !c.atEnd() && c.d[c.p] == '6' {
		c.p++
		n, f := c.vliField('1', '7', 0, 6, "COUPON_MISSING_RETAILER_GCP_OR_GLN_VLI",
			"COUPON_INVALID_RETAILER_GCP_OR_GLN_LENGTH", "COUPON_TRUNCATED_RETAILER_GCP_OR_GLN")
		if f != nil {
			return f
		}
		if f := c.gcp(lc, n); f != nil {
			return f
		}
	}
	// Optional field 9: miscellaneous flags.
	if !c.atEnd() && c.d[c.p] == '9' {
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_SAVE_VALUE_CODE")
		}
		if v := c.d[c.p]; v != '0' && v != '1' && v != '2' && v != '5' && v != '6' {
			return fail("COUPON_INVALID_SAVE_VALUE_CODE", c.p, 1)
		}
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_SAVE_VALUE_APPLIES_TO_ITEM")
		}
		if c.d[c.p] > '2' {
			return fail("COUPON_INVALID_SAVE_VALUE_APPLIES_TO_ITEM", c.p, 1)
		}
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_STORE_COUPON_FLAG")
		}
		c.p++
		if c.atEnd() {
			return c.missing("COUPON_MISSING_DONT_MULTIPLY_FLAG")
		}
		if v := c.d[c.p]; v != '0' && v != '1' {
			return fail("COUPON_INVALID_DONT_MULTIPLY_FLAG", c.p, 1)
		}
		c.p++
	}
	if !c.atEnd() {
		return fail("COUPON_EXCESS_DATA", c.p, len(d)-c.p)
	}
	return nil
}

func lintCouponPosOffer(_ *lintCtx, d string) *lintFail {
	if i := firstNonDigit(d); i >= 0 {
		return fail("NON_DIGIT_CHARACTER", i, 1)
	}
	c := &couponCursor{d: d}
	if c.atEnd() {
		return c.missing("COUPON_MISSING_FORMAT_CODE")
	}
	if v := d[0]; v != '0' && v != '1' {
		return fail("COUPON_INVALID_FORMAT_CODE", 0, 1)
	}
	c.p++
	n, f := c.vliField('0', '6', 0, 6, "COUPON_MISSING_FUNDER_VLI", "COUPON_INVALID_FUNDER_LENGTH", "COUPON_TRUNCATED_FUNDER")
	if f != nil {
		return f
	}
	c.p += n
	if f := c.need(6, "COUPON_TRUNCATED_OFFER_CODE"); f != nil {
		return f
	}
	c.p += 6
	if c.atEnd() {
		return c.missing("COUPON_MISSING_SERIAL_NUMBER_VLI")
	}
	n = int(d[c.p]-'0') + 6
	c.p++
	if f := c.need(n, "COUPON_TRUNCATED_SERIAL_NUMBER"); f != nil {
		return f
	}
	c.p += n
	if !c.atEnd() {
		return fail("COUPON_EXCESS_DATA", c.p, len(d)-c.p)
	}
	return nil
}
