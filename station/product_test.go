package station_test

import (
	"testing"

	"github.com/linestation/linestation/station"
)

func TestProduct_Validate(t *testing.T) {
	if err := testProduct().Validate(); err != nil {
		t.Fatalf("the test product: %v", err)
	}
	withBundle := testProduct()
	withBundle.Levels = append([]station.PackagingLevel{{Level: station.LevelBundle, GTIN: "50300010123450", Quantity: 10}}, withBundle.Levels...)
	if err := withBundle.Validate(); err != nil {
		t.Fatalf("with a bundle level: %v", err)
	}
	if got := withBundle.ChildLevel(station.LevelCase); got != station.LevelBundle {
		t.Fatalf("a case of a product with bundles holds %s", got)
	}
	if got := testProduct().ChildLevel(station.LevelCase); got != station.LevelUnit {
		t.Fatalf("a case of a product without bundles holds %s", got)
	}
	for _, tt := range []struct {
		name string
		edit func(p *station.Product)
		want string
	}{
		{"CheckDigit", func(p *station.Product) { p.GTIN = "00300010123456" }, "wrong check digit"},
		{"NotDigits", func(p *station.Product) { p.GTIN = "0030001012345X" }, "is not a digit"},
		{"ShortGTIN", func(p *station.Product) { p.GTIN = "0300010123455" }, "must be a GTIN-14"},
		{"NDCMismatch", func(p *station.Product) { p.NDC = "0001-0123-46" }, "does not embed NDC 0001-0123-46"},
		{"NDCBilling", func(p *station.Product) { p.NDC = "00001-0123-45" }, "NDC"},
		{"USWithoutNDC", func(p *station.Product) { p.NDC = "" }, "the US market needs the NDC"},
		{"PrefixVsNDC", func(p *station.Product) { p.CompanyPrefixLength = 7 }, "does not match NDC"},
		{"NoName", func(p *station.Product) { p.Name = " " }, "name is missing"},
		{"NoMarket", func(p *station.Product) { p.Markets = nil }, "no target market"},
		{"UnknownMarket", func(p *station.Product) { p.Markets = []station.Market{"XX"} }, `market "XX" is not one of`},
		{"MarketTwice", func(p *station.Product) { p.Markets = []station.Market{"US", "US"} }, "listed twice"},
		{"EUSequential", func(p *station.Product) {
			p.Markets = append(p.Markets, station.MarketEU)
			p.Serial = station.SerialScheme{Sequential: true}
		}, "sequential serials are not allowed for the EU market"},
		{"BadAlphabet", func(p *station.Product) { p.Serial = station.SerialScheme{Alphabet: "AB#"} }, "not in GS1 character set 82"},
		{"LevelsOutOfOrder", func(p *station.Product) { p.Levels[0], p.Levels[1] = p.Levels[1], p.Levels[0] }, "comes after a level it must be below"},
		{"LevelTwice", func(p *station.Product) { p.Levels = append(p.Levels, p.Levels[1]) }, "comes after a level it must be below"},
		{"UnknownLevel", func(p *station.Product) { p.Levels[0].Level = "crate" }, `is "crate", not bundle, case or pallet`},
		{"ZeroQuantity", func(p *station.Product) { p.Levels[0].Quantity = 0 }, "a case holds 0 children"},
		{"PalletWithGTIN", func(p *station.Product) { p.Levels[1].GTIN = caseGTIN }, "a pallet is identified by SSCC only"},
		{"CaseBoth", func(p *station.Product) { p.Levels[0].GTIN = caseGTIN }, "either by its GTIN (SGTIN) or by SSCC"},
		{"CaseNeither", func(p *station.Product) { p.Levels[0].SSCC = false }, "either by its GTIN (SGTIN) or by SSCC"},
		{"BundleSSCC", func(p *station.Product) {
			p.Levels = append([]station.PackagingLevel{{Level: station.LevelBundle, SSCC: true, Quantity: 5}}, p.Levels...)
		}, "a bundle is identified by its own GTIN"},
		{"LevelGTINIsUnit", func(p *station.Product) {
			p.Levels[0] = station.PackagingLevel{Level: station.LevelCase, GTIN: unitGTIN, Quantity: 4}
		}, "is already the unit GTIN"},
		{"LevelNotNDC", func(p *station.Product) {
			p.Levels[0] = station.PackagingLevel{Level: station.LevelCase, GTIN: "10300010123469", Quantity: 4}
		}, "does not embed NDC"},
		{"Extension", func(p *station.Product) { p.Levels[1].Extension = 12 }, "extension digit 12"},
		{"MinGrade", func(p *station.Product) { p.MinGrade = "F" }, `minimum grade "F"`},
		{"LabelUse", func(p *station.Product) { p.Labels = map[string]string{"crate": "x"} }, `label use "crate"`},
		{"LabelName", func(p *station.Product) { p.Labels = map[string]string{"case": "../etc"} }, "label template"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := testProduct()
			tt.edit(&p)
			wantErr(t, p.Validate(), station.EINVALID, tt.want)
		})
	}
}

// TestService_DefineProduct: products are events; a GTIN belongs to one
// product; only admins and supervisors may define them locally.
func TestService_DefineProduct(t *testing.T) {
	w := MustWorld(t, station.PoolPolicy{})
	p, err := w.svc.Product(w.ctx, unitGTIN)
	must(t, err)
	if p.Name != w.product.Name || len(p.Levels) != 2 {
		t.Fatalf("product = %+v", p)
	}
	other := testProduct()
	other.GTIN, other.NDC, other.Levels = "00300010999999", "0001-0999-99", nil
	must(t, other.Validate())
	wantErr(t, w.svc.DefineProduct(w.ctx, "op", other), station.EUNAUTHORIZED, "needs the role admin or supervisor")
	must(t, w.svc.DefineProduct(w.ctx, "admin", other))
	w.product.Levels = []station.PackagingLevel{{Level: station.LevelCase, GTIN: caseGTIN, Quantity: 12}}
	must(t, w.svc.DefineProduct(w.ctx, "sup", w.product))
	clash := other
	clash.Levels = []station.PackagingLevel{{Level: station.LevelCase, GTIN: caseGTIN, Quantity: 10}}
	clash.NDC, clash.Markets = "", []station.Market{station.MarketEU}
	wantErr(t, w.svc.DefineProduct(w.ctx, "admin", clash), station.ECONFLICT, "already belongs to product "+unitGTIN)
	// A level GTIN finds its product.
	if p, err := w.svc.Product(w.ctx, caseGTIN); err != nil || p.GTIN != unitGTIN {
		t.Fatalf("product of the case GTIN = %+v, %v", p, err)
	}
}
