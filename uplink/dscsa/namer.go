package dscsa

import (
	"sort"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
)

// Namer writes items as EPC URIs. An EPC URI splits a GTIN or SSCC at the
// end of its GS1 Company Prefix, whose length the identifier does not
// say: the Namer knows it from the products' master data (every GTIN of
// every packaging level, and their company prefixes for SSCCs).
type Namer struct {
	cpl      map[string]int    // GTIN -> company prefix length
	prefixes []string          // company prefixes, longest first
	products map[string]string // any GTIN -> the product's unit GTIN
}

// NewNamer returns a Namer for the products.
func NewNamer(products []station.Product) *Namer {
	n := &Namer{cpl: map[string]int{}, products: map[string]string{}}
	seen := map[string]bool{}
	for _, p := range products {
		if p.CompanyPrefixLength < 6 || p.CompanyPrefixLength > 12 || len(p.GTIN) != 14 {
			continue
		}
		n.cpl[p.GTIN] = p.CompanyPrefixLength
		n.products[p.GTIN] = p.GTIN
		for _, l := range p.Levels {
			if l.GTIN != "" {
				n.cpl[l.GTIN] = p.CompanyPrefixLength
				n.products[l.GTIN] = p.GTIN
			}
		}
		if pre := p.CompanyPrefix(); !seen[pre] {
			seen[pre] = true
			n.prefixes = append(n.prefixes, pre)
		}
	}
	sort.Slice(n.prefixes, func(i, j int) bool { return len(n.prefixes[i]) > len(n.prefixes[j]) })
	return n
}

// Known reports whether a GTIN (of any packaging level) is one of the products'.
func (n *Namer) Known(gtin string) bool { _, ok := n.cpl[gtin]; return ok }

// ProductOf returns the unit GTIN of the product a GTIN of any level belongs to.
func (n *Namer) ProductOf(gtin string) (string, bool) { g, ok := n.products[gtin]; return g, ok }

// EPC returns the EPC pure identity URI of an item: an SGTIN of a known
// GTIN, or an SSCC of a known company prefix. ENOTFOUND otherwise.
func (n *Namer) EPC(it station.Item) (string, error) {
	if it.SSCC != "" {
		for _, pre := range n.prefixes {
			if len(it.SSCC) == 18 && it.SSCC[1:1+len(pre)] == pre {
				u, err := gs1.SSCCURI(it.SSCC, len(pre))
				if err != nil {
					return "", station.Errorf(station.EINVALID, "SSCC %s: %v", it.SSCC, err)
				}
				return u, nil
			}
		}
		return "", station.Errorf(station.ENOTFOUND, "SSCC %s has none of the company prefixes of our products: its EPC URI cannot be written", it.SSCC)
	}
	cpl, ok := n.cpl[it.GTIN]
	if !ok {
		return "", station.Errorf(station.ENOTFOUND, "GTIN %s is not a GTIN of any product in the master data: its EPC URI cannot be written", it.GTIN)
	}
	u, err := gs1.SGTINURI(it.GTIN, it.Serial, cpl)
	if err != nil {
		return "", station.Errorf(station.EINVALID, "%s: %v", it.Key(), err)
	}
	return u, nil
}

// ClassOf returns the EPC class (product pattern) URI of a GTIN.
func (n *Namer) ClassOf(gtin string) (string, error) {
	cpl, ok := n.cpl[gtin]
	if !ok {
		return "", station.Errorf(station.ENOTFOUND, "GTIN %s is not in the master data", gtin)
	}
	u, err := gs1.SGTINPatternURI(gtin, cpl)
	if err != nil {
		return "", station.Errorf(station.EINVALID, "GTIN %s: %v", gtin, err)
	}
	return u, nil
}

// ItemOfEPC reads an SGTIN or SSCC EPC URI (or a GS1 Digital Link URI of
// one) as an item.
func ItemOfEPC(epc string) (station.Item, error) {
	it, _, err := station.ParseItem(epc)
	if err != nil {
		return station.Item{}, err
	}
	return it, nil
}

// GTINOfClass returns the GTIN of an SGTIN pattern URI
// (urn:epc:idpat:sgtin:P.I.*) or LGTIN class URI.
func GTINOfClass(class string) (string, bool) {
	m, err := gs1.ParseEPCURI(class)
	if err != nil {
		return "", false
	}
	g, ok := m.Get("01")
	return g, ok
}

// productClass is a product's EPCIS master data for one of its GTINs.
func productClass(p station.Product, gtin, classID string) epcis.EPCClass {
	return epcis.EPCClass{ID: classID, AdditionalTradeItemIdentification: p.NDC, AdditionalTradeItemIdentificationTypeCode: ndcType(p),
		RegulatedProductName: p.Name, ManufacturerOfTradeItemPartyName: p.Manufacturer, DosageFormType: p.DosageForm,
		StrengthDescription: p.Strength, NetContentDescription: p.NetContent}
}

func ndcType(p station.Product) string {
	if p.NDC == "" {
		return ""
	}
	return epcis.TypeCodeNDC
}
