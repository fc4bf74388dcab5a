package epcis

import (
	"time"
)

// Namespaces and other fixed URIs used by the codecs.
const (
	NamespaceEPCIS12 = "urn:epcglobal:epcis:xsd:1"
	NamespaceEPCIS20 = "urn:epcglobal:epcis:xsd:2"
	NamespaceSBDH    = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
	NamespaceCBVMDA  = "urn:epcglobal:cbv:mda"
	NamespaceXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	// NamespaceGS1USHC is the GS1 US healthcare extension namespace of the
	// DSCSA implementation guideline (prefix gs1ushc).
	NamespaceGS1USHC = "http://epcis.gs1us.org/hc/ns"
	// ContextEPCIS20 is the standard JSON-LD context of EPCIS 2.0 documents.
	ContextEPCIS20 = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
)

// DSCSALegalNotice is the legal notice of the transaction statement in the
// GS1 US guideline's example.
const DSCSALegalNotice = "Seller has complied with each applicable subsection of FDCA Sec. 581(27)(A)-(G)."

// Header is everything in an EPCIS document except its events: the root's
// version and creation date, the standard business document header, the
// master data and the header's user extensions (for DSCSA the gs1ushc
// guideline version and transaction statement).
//
// Where each part goes differs by format: EPCIS 1.2 XML keeps master data in
// EPCISHeader/extension/EPCISMasterData and user extensions after it; the
// EPCIS 2.0 XML schema has no place for user elements in its header, so the
// 2.0 XML writer puts them after EPCISBody (the one place the schema allows
// them) and the 2.0 XML reader takes them back from there; JSON-LD keeps them
// in epcisHeader.
type Header struct {
	// SchemaVersion is the version the document declared, "1.2" or "2.0".
	// Writers always write the version of their format.
	SchemaVersion string
	CreationDate  time.Time
	// ID is the JSON-LD document's "id", if it had one.
	ID         string
	SBDH       *SBDH
	MasterData []Vocabulary
	// Extensions are the header's user extension elements.
	Extensions []Element
	// Namespaces are the prefixes the document declared for user
	// extensions, in order; writers declare them again so that prefixes
	// survive a conversion.
	Namespaces []Namespace
}

// Namespace binds a prefix to a namespace URI.
type Namespace struct {
	Prefix string
	URI    string
}

// SBDH is the UN/CEFACT Standard Business Document Header that EPCIS 1.2
// documents carry for DSCSA exchange: who sends to whom, and the document's
// identity.
type SBDH struct {
	HeaderVersion       string
	Sender              []Partner
	Receiver            []Partner
	Standard            string
	TypeVersion         string
	InstanceIdentifier  string
	Type                string
	MultipleType        *bool
	CreationDateAndTime time.Time
	// Manifest and BusinessScope are kept as read (rare in EPCIS documents).
	Manifest      *Element
	BusinessScope *Element
}

// Partner is a sender or receiver: an identifier (for DSCSA an SGLN URI or
// a GLN) with the authority that issued it, and contacts.
type Partner struct {
	Identifier string
	Authority  string
	Contacts   []Contact
}

// Contact is a partner's contact information.
type Contact struct {
	Contact               string
	EmailAddress          string
	FaxNumber             string
	TelephoneNumber       string
	ContactTypeIdentifier string
}

// NewSBDH returns a header for an EPCIS events document from sender to
// receiver (identifiers issued by GS1, e.g. SGLN URIs).
func NewSBDH(sender, receiver, instanceID string, created time.Time) *SBDH {
	return &SBDH{
		HeaderVersion:       "1.0",
		Sender:              []Partner{{Identifier: sender, Authority: "GS1"}},
		Receiver:            []Partner{{Identifier: receiver, Authority: "GS1"}},
		Standard:            "EPCglobal",
		TypeVersion:         "1.0",
		InstanceIdentifier:  instanceID,
		Type:                "Events",
		CreationDateAndTime: created,
	}
}

// TransactionStatement is the DSCSA transaction statement (TS) of the GS1 US
// guideline: the seller affirms the statement, with its legal notice.
type TransactionStatement struct {
	Affirm      bool
	LegalNotice string
}

// TransactionStatement returns the gs1ushc:dscsaTransactionStatement of the
// header, and whether there is one.
func (h *Header) TransactionStatement() (TransactionStatement, bool) {
	el := findElement(h.Extensions, NamespaceGS1USHC, "dscsaTransactionStatement")
	if el == nil {
		return TransactionStatement{}, false
	}
	var ts TransactionStatement
	if c := findElement(el.Children, NamespaceGS1USHC, "affirmTransactionStatement"); c != nil {
		ts.Affirm = c.Text == "true" || c.Text == "1"
	}
	if c := findElement(el.Children, NamespaceGS1USHC, "legalNotice"); c != nil {
		ts.LegalNotice = c.Text
	}
	return ts, true
}

// SetTransactionStatement adds or replaces the header's
// gs1ushc:dscsaTransactionStatement.
func (h *Header) SetTransactionStatement(ts TransactionStatement) {
	affirm := "false"
	if ts.Affirm {
		affirm = "true"
	}
	el := Element{Space: NamespaceGS1USHC, Local: "dscsaTransactionStatement", Prefix: "gs1ushc", Children: []Element{
		{Space: NamespaceGS1USHC, Local: "affirmTransactionStatement", Prefix: "gs1ushc", Text: affirm},
	}}
	if ts.LegalNotice != "" {
		el.Children = append(el.Children, Element{Space: NamespaceGS1USHC, Local: "legalNotice", Prefix: "gs1ushc", Text: ts.LegalNotice})
	}
	h.setExtension(el)
}

// GuidelineVersion returns the gs1ushc:guidelineVersion of the header, "" if
// there is none.
func (h *Header) GuidelineVersion() string {
	if el := findElement(h.Extensions, NamespaceGS1USHC, "guidelineVersion"); el != nil {
		return el.Text
	}
	return ""
}

// SetGuidelineVersion adds or replaces the header's gs1ushc:guidelineVersion,
// e.g. "GS1 US DSCSA R1.3".
func (h *Header) SetGuidelineVersion(v string) {
	h.setExtension(Element{Space: NamespaceGS1USHC, Local: "guidelineVersion", Prefix: "gs1ushc", Text: v})
}

func (h *Header) setExtension(el Element) {
	for i := range h.Extensions {
		if h.Extensions[i].Space == el.Space && h.Extensions[i].Local == el.Local {
			h.Extensions[i] = el
			return
		}
	}
	h.Extensions = append(h.Extensions, el)
}

func findElement(list []Element, space, local string) *Element {
	for i := range list {
		if list[i].Space == space && list[i].Local == local {
			return &list[i]
		}
	}
	return nil
}
