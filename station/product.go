package station

import (
	"fmt"
	"slices"
	"strings"

	"github.com/linestation/linestation/station/gs1"
)

// Market is a regulatory market a product is made for, as a short code.
type Market string

// Markets whose serialization rules the station knows.
const (
	MarketUS Market = "US" // DSCSA: NDC in the GTIN, EPCIS 1.2 exchange
	MarketEU Market = "EU" // FMD: randomized serials, EU hub upload
	MarketIN Market = "IN" // India DGFT
	MarketBR Market = "BR" // Brazil
	MarketKR Market = "KR" // Korea
	MarketSA Market = "SA" // Saudi Arabia
	MarketTR Market = "TR" // Turkey
	MarketRU Market = "RU" // Russia
	MarketCN Market = "CN" // China
)

// Markets lists the known markets.
func Markets() []Market {
	return []Market{MarketUS, MarketEU, MarketIN, MarketBR, MarketKR, MarketSA, MarketTR, MarketRU, MarketCN}
}

// LevelUnit is the packaging level of a single pack (the unit of sale); it
// holds no children, so it is not an AggregationLevel of the journal.
const LevelUnit AggregationLevel = "unit"

// levelRank orders packaging levels from the unit up.
func levelRank(l AggregationLevel) int {
	switch l {
	case LevelUnit:
		return 0
	case LevelBundle:
		return 1
	case LevelCase:
		return 2
	case LevelPallet:
		return 3
	}
	return -1
}

// DefaultMinGrade is the lowest ISO/IEC 15415 grade a unit code may have
// when neither the product nor the order says: C (1.5), the usual minimum
// for pharmaceutical DataMatrix codes.
const DefaultMinGrade = "C"

// maxLevelQuantity bounds the children of one full parent.
const maxLevelQuantity = 10000

// PackagingLevel is one level above the unit in a product's packaging
// hierarchy: how it is identified and how many children make it full.
type PackagingLevel struct {
	Level AggregationLevel `json:"level"` // bundle, case or pallet
	// GTIN is the level's GTIN-14 when it is identified by SGTIN (bundles
	// always, cases may be); empty when identified by SSCC.
	GTIN string `json:"gtin,omitempty"`
	// SSCC is true when the level is identified by SSCC (pallets always,
	// cases may be).
	SSCC bool `json:"sscc,omitempty"`
	// Quantity is the number of children (of the level below) in a full
	// parent, 1 to 10,000.
	Quantity int `json:"quantity"`
	// Extension is the SSCC extension digit (0-9) of SSCC levels.
	Extension int `json:"extension,omitempty"`
}

// Product is the master data of one pharmaceutical product: its
// identifiers at every packaging level, what it is, where it is sold and how
// its packs are serialized and aggregated.
type Product struct {
	GTIN         string   `json:"gtin"`          // GTIN-14 of the unit (the product's key)
	NDC          string   `json:"ndc,omitempty"` // dashed 10-digit US NDC (4-4-2, 5-3-2 or 5-4-1); required for the US market
	Name         string   `json:"name"`          // regulated product name
	DosageForm   string   `json:"dosage_form"`   // e.g. "tablet, film coated"
	Strength     string   `json:"strength"`      // e.g. "500 mg"
	NetContent   string   `json:"net_content"`   // e.g. "30 tablets"
	Manufacturer string   `json:"manufacturer"`  // manufacturer of the trade item (party name)
	Markets      []Market `json:"markets"`       // target markets, at least one
	// CompanyPrefixLength is the length of the GS1 Company Prefix inside
	// the GTIN (after the indicator digit), 6 to 12: it splits the GTIN in
	// EPC URIs and starts every SSCC of the product.
	CompanyPrefixLength int          `json:"company_prefix_length"`
	Serial              SerialScheme `json:"serial"` // how unit serials are made
	// Levels is the packaging hierarchy above the unit, smallest first;
	// any level may be skipped (no bundles, or no cases).
	Levels []PackagingLevel `json:"levels,omitempty"`
	// MixedLots lets a parent hold children of different lots.
	MixedLots bool `json:"mixed_lots,omitempty"`
	// MinGrade is the lowest grade letter (A-D) a unit code may have;
	// "" means DefaultMinGrade.
	MinGrade string `json:"min_grade,omitempty"`
	// Labels names the label template (in assets/labels) per use: "unit"
	// for the coder, "bundle", "case", "pallet" for the label printer.
	// A missing use falls back to the use's name.
	Labels map[string]string `json:"labels,omitempty"`
}

// Validate checks the product against the GS1 rules and the markets'
// rules. The error names the field and says what is wrong.
func (p Product) Validate() error {
	if err := validateProductGTIN("unit GTIN", p.GTIN); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
	}{{"name", p.Name}, {"dosage form", p.DosageForm}, {"strength", p.Strength}, {"net content", p.NetContent}, {"manufacturer", p.Manufacturer}} {
		if strings.TrimSpace(f.v) == "" {
			return Errorf(EINVALID, "product %s: %s is missing", p.GTIN, f.name)
		}
		if len(f.v) > 200 || !isPrintableUTF8(f.v) {
			return Errorf(EINVALID, "product %s: %s must be at most 200 printable characters", p.GTIN, f.name)
		}
	}
	if len(p.Markets) == 0 {
		return Errorf(EINVALID, "product %s: no target market: give at least one of %s", p.GTIN, joinMarkets(Markets()))
	}
	for i, m := range p.Markets {
		if !slices.Contains(Markets(), m) {
			return Errorf(EINVALID, "product %s: market %q is not one of %s", p.GTIN, m, joinMarkets(Markets()))
		}
		if slices.Contains(p.Markets[:i], m) {
			return Errorf(EINVALID, "product %s: market %s is listed twice", p.GTIN, m)
		}
	}
	if p.CompanyPrefixLength < 6 || p.CompanyPrefixLength > 12 {
		return Errorf(EINVALID, "product %s: company prefix length %d must be 6 to 12", p.GTIN, p.CompanyPrefixLength)
	}
	if err := p.Serial.Validate(); err != nil {
		return Errorf(EINVALID, "product %s: %s", p.GTIN, ErrorMessage(err))
	}
	if p.Serial.Sequential && p.SoldIn(MarketEU) {
		return Errorf(EINVALID, "product %s: sequential serials are not allowed for the EU market (FMD requires randomized serials)", p.GTIN)
	}
	if p.MinGrade != "" && (len(p.MinGrade) != 1 || p.MinGrade[0] < 'A' || p.MinGrade[0] > 'D') {
		return Errorf(EINVALID, "product %s: minimum grade %q is not a letter A-D", p.GTIN, p.MinGrade)
	}
	if err := p.validateNDC(); err != nil {
		return err
	}
	if err := p.validateLevels(); err != nil {
		return err
	}
	for use, tmpl := range p.Labels {
		if !slices.Contains([]string{"unit", "bundle", "case", "pallet"}, use) {
			return Errorf(EINVALID, "product %s: label use %q is not unit, bundle, case or pallet", p.GTIN, use)
		}
		if !validTemplateName(tmpl) {
			return Errorf(EINVALID, "product %s: label template %q for %s must be 1 to 64 of a-z, 0-9, '-' and '_'", p.GTIN, tmpl, use)
		}
	}
	return nil
}

func validateProductGTIN(what, g string) error {
	if len(g) != 14 {
		return Errorf(EINVALID, "%s %q must be a GTIN-14 (14 digits)", what, g)
	}
	for i := 0; i < len(g); i++ {
		if g[i] < '0' || g[i] > '9' {
			return Errorf(EINVALID, "%s %q must be 14 digits: %q at position %d is not a digit", what, g, g[i], i+1)
		}
	}
	if err := gs1.ValidateCheckDigit(g); err != nil {
		return Errorf(EINVALID, "%s %q: wrong check digit (%v)", what, g, err)
	}
	return nil
}

// validateNDC checks that a US product has an NDC and that every GTIN of
// the product embeds it, and that the company prefix is 03 + the labeler.
func (p Product) validateNDC() error {
	if p.NDC == "" {
		if p.SoldIn(MarketUS) {
			return Errorf(EINVALID, "product %s: the US market needs the NDC (for example 0001-0123-45)", p.GTIN)
		}
		return nil
	}
	ndc, err := gs1.ParseNDC(p.NDC, "")
	if err != nil {
		return Errorf(EINVALID, "product %s: NDC %q: %v", p.GTIN, p.NDC, err)
	}
	gtins := []string{p.GTIN}
	for _, l := range p.Levels {
		if l.GTIN != "" {
			gtins = append(gtins, l.GTIN)
		}
	}
	for _, g := range gtins {
		want, err := ndc.GTIN(int(g[0] - '0'))
		if err != nil {
			return Errorf(EINVALID, "product %s: NDC %s: %v", p.GTIN, p.NDC, err)
		}
		if g != want {
			return Errorf(EINVALID, "product %s: GTIN %s does not embed NDC %s (with indicator %c it would be %s)", p.GTIN, g, p.NDC, g[0], want)
		}
	}
	labeler := strings.IndexByte(p.NDC, '-')
	if want := 2 + labeler; p.CompanyPrefixLength != want {
		return Errorf(EINVALID, "product %s: company prefix length %d does not match NDC %s: 03 and its %d-digit labeler code make %d",
			p.GTIN, p.CompanyPrefixLength, p.NDC, labeler, want)
	}
	return nil
}

// validateLevels checks the packaging hierarchy: known levels in order,
// each once, identified as the level allows, with a possible quantity.
func (p Product) validateLevels() error {
	seen := map[string]AggregationLevel{p.GTIN: LevelUnit}
	prev := 0
	for i, l := range p.Levels {
		r := levelRank(l.Level)
		if r <= 0 {
			return Errorf(EINVALID, "product %s: packaging level %d is %q, not bundle, case or pallet", p.GTIN, i+1, l.Level)
		}
		if r <= prev {
			return Errorf(EINVALID, "product %s: packaging level %s comes after a level it must be below: list bundle, case, pallet in that order, each once", p.GTIN, l.Level)
		}
		prev = r
		if l.Quantity < 1 || l.Quantity > maxLevelQuantity {
			return Errorf(EINVALID, "product %s: a %s holds %d children; it must hold 1 to %d", p.GTIN, l.Level, l.Quantity, maxLevelQuantity)
		}
		switch {
		case l.Level == LevelBundle && (l.SSCC || l.GTIN == ""):
			return Errorf(EINVALID, "product %s: a bundle is identified by its own GTIN (SGTIN), not by SSCC", p.GTIN)
		case l.Level == LevelPallet && (!l.SSCC || l.GTIN != ""):
			return Errorf(EINVALID, "product %s: a pallet is identified by SSCC only: set sscc and leave its GTIN empty", p.GTIN)
		case l.Level == LevelCase && l.SSCC == (l.GTIN != ""):
			return Errorf(EINVALID, "product %s: a case is identified either by its GTIN (SGTIN) or by SSCC: give exactly one", p.GTIN)
		}
		if l.GTIN != "" {
			if err := validateProductGTIN(string(l.Level)+" GTIN", l.GTIN); err != nil {
				return Errorf(EINVALID, "product %s: %s", p.GTIN, ErrorMessage(err))
			}
			if other, ok := seen[l.GTIN]; ok {
				return Errorf(EINVALID, "product %s: the %s GTIN %s is already the %s GTIN: every level needs its own", p.GTIN, l.Level, l.GTIN, other)
			}
			seen[l.GTIN] = l.Level
			if l.GTIN[1:1+p.CompanyPrefixLength] != p.GTIN[1:1+p.CompanyPrefixLength] {
				return Errorf(EINVALID, "product %s: the %s GTIN %s has another company prefix than the unit GTIN", p.GTIN, l.Level, l.GTIN)
			}
		}
		if l.Extension < 0 || l.Extension > 9 {
			return Errorf(EINVALID, "product %s: SSCC extension digit %d of the %s must be 0 to 9", p.GTIN, l.Extension, l.Level)
		}
	}
	return nil
}

// SoldIn reports whether m is among the product's markets.
func (p Product) SoldIn(m Market) bool { return slices.Contains(p.Markets, m) }

// Level returns the packaging level l of the product and whether it has it.
func (p Product) Level(l AggregationLevel) (PackagingLevel, bool) {
	for _, pl := range p.Levels {
		if pl.Level == l {
			return pl, true
		}
	}
	return PackagingLevel{}, false
}

// LevelOfGTIN returns the packaging level a GTIN of the product stands
// for (LevelUnit for the unit GTIN), and false for a GTIN of another product.
func (p Product) LevelOfGTIN(gtin string) (AggregationLevel, bool) {
	if gtin == p.GTIN {
		return LevelUnit, true
	}
	for _, l := range p.Levels {
		if l.GTIN != "" && l.GTIN == gtin {
			return l.Level, true
		}
	}
	return "", false
}

// ChildLevel returns the level whose items a parent of level l holds: the
// next level below it in the hierarchy (skipped levels left out), or the
// unit.
func (p Product) ChildLevel(l AggregationLevel) AggregationLevel {
	child := LevelUnit
	for _, pl := range p.Levels {
		if levelRank(pl.Level) < levelRank(l) {
			child = pl.Level
		}
	}
	return child
}

// CompanyPrefix returns the GS1 Company Prefix of the product.
func (p Product) CompanyPrefix() string { return p.GTIN[1 : 1+p.CompanyPrefixLength] }

// Label returns the label template for a use ("unit", "case", ...).
func (p Product) Label(use string) string {
	if t := p.Labels[use]; t != "" {
		return t
	}
	return use
}

// MinGradeFor returns the minimum grade letter that applies to an order:
// the order's, else the product's, else DefaultMinGrade.
func (p Product) MinGradeFor(o OrderStatus) string {
	switch {
	case o.MinGrade != "":
		return o.MinGrade
	case p.MinGrade != "":
		return p.MinGrade
	}
	return DefaultMinGrade
}

// gradeFloor is the lowest numeric grade of a grade letter.
func gradeFloor(letter string) Grade {
	switch letter {
	case "A":
		return 3.5
	case "B":
		return 2.5
	case "C":
		return 1.5
	case "D":
		return 0.5
	}
	return 0
}

func joinMarkets(ms []Market) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func validTemplateName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isPrintableUTF8 reports whether s has no control characters.
func isPrintableUTF8(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// ProductDefined records a product's master data, new or changed. The
// latest definition of a unit GTIN is the one that applies.
type ProductDefined struct {
	Product Product `json:"product"`
}

// EventType implements Payload.
func (ProductDefined) EventType() EventType { return EventProductDefined }

// Validate implements Payload.
func (p ProductDefined) Validate() error {
	if err := p.Product.Validate(); err != nil {
		return fmt.Errorf("product.defined: %w", err)
	}
	return nil
}
