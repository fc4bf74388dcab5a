// Package epcis owns the EPCIS event model and its documents: the five event
// types of EPCIS 2.0 (Object, Aggregation, Transaction, Transformation and
// Association events) with every standard field and the user extensions that
// trading partners add, the CBV vocabularies, master data (products and
// locations with the GS1 US healthcare attributes), the document header (SBDH
// and the GS1 US DSCSA transaction statement), and three codecs:
//
//   - EPCIS 1.2 XML (urn:epcglobal:epcis:xsd:1), the DSCSA exchange format of
//     the GS1 US guideline, with the 1.2 extension wrappers and the element
//     order of the 1.2 XSD;
//   - EPCIS 2.0 XML (urn:epcglobal:epcis:xsd:2);
//   - EPCIS 2.0 JSON-LD, with the standard @context and short CBV names.
//
// Encoding and decoding stream: a Writer writes the header, then each event
// as it is given, and a Reader yields one event at a time, so a document with
// a million events is written and read in bounded memory. The decoders refuse
// DOCTYPEs (and with them entity expansion), bound nesting depth and token
// size, and report what is wrong with the event index and the path.
//
// Events carry the CBV 2.0 canonical event hash (EventHash) for
// deduplication, and Validate checks a whole document the way the XSD and
// JSON schema do, plus the CBV code lists and EPC URI syntax, without any
// external tool.
//
// The model keeps standard CBV values in their URN form
// (urn:epcglobal:cbv:bizstep:shipping); the JSON-LD codec writes and reads
// them as short names ("shipping"), as EPCIS 2.0 requires.
package epcis

//go:generate go run ./internal/cbvgen/gen -context ../../../shared/standards/epcis-2.0/context -o cbv_gen.go
