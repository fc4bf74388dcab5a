// Package gs1 reads, checks and writes GS1 identifiers and barcode data: check
// digits, GTIN, SSCC, GLN and NDC conversions, the Application Identifier
// table generated from the GS1 Barcode Syntax Dictionary with every linter it
// names, and the forms GS1 data travels in: bracketed element strings
// ("(01)...(21)..."), FNC1 element strings ("^01...", or GS bytes), scanner
// output with AIM symbology identifiers ("]d2..."), GS1 Digital Link URIs and
// EPC URIs.
//
// Parsing follows the GS1 Barcode Syntax Engine and passes its conformance
// vectors. Every failure is an *Error that names the AI, the byte position
// and the rule. The package uses only the standard library and holds no
// mutable state.
package gs1
