package epcis

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2023-04-01T08:45:16Z">
<EPCISBody><EventList><ObjectEvent><eventTime>&lol9;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`

const externalEntity = `<?xml version="1.0"?>
<!DOCTYPE epcis [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2023-04-01T08:45:16Z">
<EPCISBody><EventList><ObjectEvent><eventTime>&xxe;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`

func TestReader_RefusesDoctype(t *testing.T) {
	for name, doc := range map[string]string{"BillionLaughs": billionLaughs, "ExternalEntity": externalEntity} {
		for _, f := range []Format{0, FormatXML12, FormatXML20} {
			_, err := NewReader(strings.NewReader(doc), &ReaderOptions{Format: f})
			if !errors.Is(err, ErrDoctype) {
				t.Errorf("%s (format %v): err=%v, want ErrDoctype", name, f, err)
			}
		}
	}
	// An entity reference without a DOCTYPE is not well-formed.
	doc := strings.Replace(strings.SplitN(externalEntity, "]>\n", 2)[1], "", "", 1)
	rd, err := NewReader(strings.NewReader(doc), nil)
	if err == nil {
		_, err = rd.Next()
	}
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(de.Reason, "not well-formed") {
		t.Errorf("undeclared entity: err=%v, want a not well-formed DecodeError", err)
	}
}

func TestReader_DepthLimit(t *testing.T) {
	deepXML := `<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:x="urn:x" schemaVersion="2.0" creationDate="2023-04-01T08:45:16Z">
<EPCISBody><EventList><ObjectEvent><eventTime>2023-04-01T08:45:16Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>ADD</action>` +
		strings.Repeat("<x:a>", 100000) + strings.Repeat("</x:a>", 100000) + `</ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>`
	deepJSON := `{"@context":"https://ref.gs1.org/standards/epcis/epcis-context.jsonld","type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2023-04-01T08:45:16Z","epcisBody":{"eventList":[{"type":"ObjectEvent","x:a":` +
		strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}]}}`
	for name, doc := range map[string]string{"XML": deepXML, "JSON": deepJSON} {
		rd, err := NewReader(strings.NewReader(doc), nil)
		if err == nil {
			_, err = rd.Next()
		}
		if !errors.Is(err, ErrTooDeep) {
			t.Errorf("%s: err=%v, want ErrTooDeep", name, err)
		}
	}
}

// endless is an io.Reader of a prefix and then the same byte for ever: a
// document as large as an attacker likes, without memory in the test.
type endless struct {
	prefix []byte
	fill   byte
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	return len(p), nil
}

func TestReader_SizeLimit(t *testing.T) {
	const limit = 1 << 20
	for name, prefix := range map[string]string{
		"XMLText":    `<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2023-04-01T08:45:16Z"><EPCISBody><EventList><ObjectEvent><eventTime>`,
		"XMLHeader":  `<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2023-04-01T08:45:16Z"><EPCISHeader>`,
		"JSONString": `{"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2023-04-01T08:45:16Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"`,
	} {
		rd, err := NewReader(&endless{prefix: []byte(prefix), fill: 'a'}, &ReaderOptions{MaxEventBytes: limit})
		if err == nil {
			_, err = rd.Next()
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err=%v, want ErrTooLarge", name, err)
		}
	}
}

func TestReader_NotEPCIS(t *testing.T) {
	for name, doc := range map[string]string{
		"Empty":     "",
		"Text":      "hello",
		"OtherRoot": `<html xmlns="urn:epcglobal:epcis:xsd:1"></html>`,
		"OtherNS":   `<EPCISDocument xmlns="urn:example"/>`,
	} {
		if _, err := NewReader(strings.NewReader(doc), nil); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err=%v, want ErrFormat", name, err)
		}
	}
}

func fuzzSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join(standards, pattern))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

// fuzzDocument decodes whatever it is given; a decoded document is written
// again in every format, read back, and hashed. Nothing may panic, and what
// was written must read back.
func fuzzDocument(t *testing.T, data []byte, format Format) {
	rd, err := NewReader(bytes.NewReader(data), &ReaderOptions{Format: format, MaxEventBytes: 1 << 20})
	if err != nil {
		return
	}
	var events []*Event
	for len(events) < 100 {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return
		}
		_ = e.Hash()
		_ = e.Validate(rd.Format())
		events = append(events, e)
	}
	for _, f := range []Format{FormatXML12, FormatXML20, FormatJSONLD20} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, f, rd.Header())
		if err != nil {
			continue
		}
		ok := true
		for _, e := range events {
			if err := w.WriteEvent(e); err != nil {
				ok = false
				break
			}
		}
		if err := w.Close(); err != nil || !ok {
			continue
		}
		back, err := NewReader(bytes.NewReader(buf.Bytes()), nil)
		if err != nil {
			t.Fatalf("%s output does not read back: %v\n%s", f, err, buf.Bytes())
		}
		for {
			_, err := back.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s output does not read back: %v\n%s", f, err, buf.Bytes())
			}
		}
	}
}

func FuzzXMLReader(f *testing.F) {
	fuzzSeeds(f, "dscsa/*.xml")
	f.Add([]byte(billionLaughs))
	f.Add([]byte(xml20Doc(hashVectors[0].events)))
	f.Add([]byte(xml20Doc(hashVectors[3].events)))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDocument(t, data, 0) })
}

func FuzzJSONReader(f *testing.F) {
	fuzzSeeds(f, "epcis-2.0/json-schema/test/*.json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDocument(t, data, FormatJSONLD20) })
}
