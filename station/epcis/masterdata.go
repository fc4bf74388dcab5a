package epcis

// Vocabulary types of the master data that DSCSA documents carry.
const (
	VocabularyEPCClass         = "urn:epcglobal:epcis:vtype:EPCClass"
	VocabularyLocation         = "urn:epcglobal:epcis:vtype:Location"
	VocabularyReadPoint        = "urn:epcglobal:epcis:vtype:ReadPoint"
	VocabularyBusinessLocation = "urn:epcglobal:epcis:vtype:BusinessLocation"
)

// Master data attribute ids (CBV master data attributes, urn:epcglobal:cbv:mda#...).
const (
	AttrAdditionalTradeItemIdentification         = "urn:epcglobal:cbv:mda#additionalTradeItemIdentification"
	AttrAdditionalTradeItemIdentificationTypeCode = "urn:epcglobal:cbv:mda#additionalTradeItemIdentificationTypeCode"
	AttrRegulatedProductName                      = "urn:epcglobal:cbv:mda#regulatedProductName"
	AttrManufacturerOfTradeItemPartyName          = "urn:epcglobal:cbv:mda#manufacturerOfTradeItemPartyName"
	AttrDosageFormType                            = "urn:epcglobal:cbv:mda#dosageFormType"
	AttrStrengthDescription                       = "urn:epcglobal:cbv:mda#strengthDescription"
	AttrNetContentDescription                     = "urn:epcglobal:cbv:mda#netContentDescription"
	AttrName                                      = "urn:epcglobal:cbv:mda#name"
	AttrStreetAddressOne                          = "urn:epcglobal:cbv:mda#streetAddressOne"
	AttrStreetAddressTwo                          = "urn:epcglobal:cbv:mda#streetAddressTwo"
	AttrCity                                      = "urn:epcglobal:cbv:mda#city"
	AttrState                                     = "urn:epcglobal:cbv:mda#state"
	AttrPostalCode                                = "urn:epcglobal:cbv:mda#postalCode"
	AttrCountryCode                               = "urn:epcglobal:cbv:mda#countryCode"
)

// TypeCodeNDC is the additionalTradeItemIdentificationTypeCode of a US NDC.
const TypeCodeNDC = "US_FDA_NDC"

// Vocabulary is one vocabulary of master data: its type and elements.
type Vocabulary struct {
	Type       string
	Elements   []VocabularyElement
	Extensions []Element
}

// VocabularyElement is the master data of one id (a product class, a
// location): attributes, the ids of its children, and user extensions.
type VocabularyElement struct {
	ID         string
	Attributes []Attribute
	Children   []string
	Extensions []Element
}

// Attribute is one master data attribute. Its value is text, or child
// elements for a structured value.
type Attribute struct {
	ID       string
	Value    string
	Kind     ValueKind
	Children []Element
}

// Attr returns the text value of the attribute with the given id and
// whether it is there.
func (v *VocabularyElement) Attr(id string) (string, bool) {
	for _, a := range v.Attributes {
		if a.ID == id {
			return a.Value, true
		}
	}
	return "", false
}

// EPCClass is the master data of a product for DSCSA (GS1 US guideline):
// the product class id (an SGTIN pattern URI, urn:epc:idpat:sgtin:P.I.*)
// with its NDC and description. Empty fields are left out.
type EPCClass struct {
	ID                                        string
	AdditionalTradeItemIdentification         string // e.g. the NDC "0001-0123-45"
	AdditionalTradeItemIdentificationTypeCode string // e.g. TypeCodeNDC
	RegulatedProductName                      string
	ManufacturerOfTradeItemPartyName          string
	DosageFormType                            string
	StrengthDescription                       string
	NetContentDescription                     string
}

func (c EPCClass) pairs() [][2]string {
	return [][2]string{
		{AttrAdditionalTradeItemIdentification, c.AdditionalTradeItemIdentification},
		{AttrAdditionalTradeItemIdentificationTypeCode, c.AdditionalTradeItemIdentificationTypeCode},
		{AttrRegulatedProductName, c.RegulatedProductName},
		{AttrManufacturerOfTradeItemPartyName, c.ManufacturerOfTradeItemPartyName},
		{AttrDosageFormType, c.DosageFormType},
		{AttrStrengthDescription, c.StrengthDescription},
		{AttrNetContentDescription, c.NetContentDescription},
	}
}

// VocabularyElement returns the class as a master data element, attributes
// in the guideline's order.
func (c EPCClass) VocabularyElement() VocabularyElement {
	return VocabularyElement{ID: c.ID, Attributes: attributes(c.pairs())}
}

// EPCClassOf reads the product attributes of a master data element.
func EPCClassOf(v VocabularyElement) EPCClass {
	get := func(id string) string { s, _ := v.Attr(id); return s }
	return EPCClass{
		ID:                                v.ID,
		AdditionalTradeItemIdentification: get(AttrAdditionalTradeItemIdentification),
		AdditionalTradeItemIdentificationTypeCode: get(AttrAdditionalTradeItemIdentificationTypeCode),
		RegulatedProductName:                      get(AttrRegulatedProductName),
		ManufacturerOfTradeItemPartyName:          get(AttrManufacturerOfTradeItemPartyName),
		DosageFormType:                            get(AttrDosageFormType),
		StrengthDescription:                       get(AttrStrengthDescription),
		NetContentDescription:                     get(AttrNetContentDescription),
	}
}

// Location is the master data of a party's site or a place in it: the id
// (an SGLN URI) with name and address. Empty fields are left out.
type Location struct {
	ID               string
	Name             string
	StreetAddressOne string
	StreetAddressTwo string
	City             string
	State            string
	PostalCode       string
	CountryCode      string // ISO 3166-1 alpha-2
}

func (l Location) pairs() [][2]string {
	return [][2]string{
		{AttrName, l.Name}, {AttrStreetAddressOne, l.StreetAddressOne}, {AttrStreetAddressTwo, l.StreetAddressTwo},
		{AttrCity, l.City}, {AttrState, l.State}, {AttrPostalCode, l.PostalCode}, {AttrCountryCode, l.CountryCode},
	}
}

// VocabularyElement returns the location as a master data element.
func (l Location) VocabularyElement() VocabularyElement {
	return VocabularyElement{ID: l.ID, Attributes: attributes(l.pairs())}
}

// LocationOf reads the location attributes of a master data element.
func LocationOf(v VocabularyElement) Location {
	get := func(id string) string { s, _ := v.Attr(id); return s }
	return Location{
		ID: v.ID, Name: get(AttrName), StreetAddressOne: get(AttrStreetAddressOne), StreetAddressTwo: get(AttrStreetAddressTwo),
		City: get(AttrCity), State: get(AttrState), PostalCode: get(AttrPostalCode), CountryCode: get(AttrCountryCode),
	}
}

func attributes(pairs [][2]string) []Attribute {
	var out []Attribute
	for _, p := range pairs {
		if p[1] != "" {
			out = append(out, Attribute{ID: p[0], Value: p[1]})
		}
	}
	return out
}
