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
// again in every format, read back, and hashed. Nothing may panic, the
// format it was read in must write it again, and what any format writes
// must read back with all its events. Other formats may refuse an event
// they have no form for.
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
			if f == rd.Format() {
				t.Fatalf("the %s writer refuses the header the %s reader accepted: %v", f, f, err)
			}
			continue
		}
		ok := true
		for _, e := range events {
			if err := w.WriteEvent(e); err != nil {
				if f == rd.Format() {
					t.Fatalf("the %s writer refuses what the %s reader accepted: %v", f, f, err)
				}
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
		n := 0
		for {
			_, err := back.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s output does not read back: %v\n%s", f, err, buf.Bytes())
			}
			n++
		}
		if n != len(events) {
			t.Fatalf("%s output reads back %d events, %d were written\n%s", f, n, len(events), buf.Bytes())
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

// What a reader accepts, every writer can write and every reader read back:
// the readers refuse, naming the event, field and place, what the fuzzers
// found the writers could not carry.
func TestReader_RefusesWhatNoWriterCarries(t *testing.T) {
	const xmlEvent = `<AssociationEvent><eventTime>2020-03-03T13:07:51Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
<parentID>urn:epc:id:grai:4012345.55555.987</parentID><action>ADD</action>
<readPoint>
<id> </id>
</readPoint></AssociationEvent>`
	const jsonCtx = `{"@context":["https://ref.gs1.org/standards/epcis/epcis-context.jsonld",{"ex":"https://ns.example.com/epcis/","nil":""}],"type":"ObjectEvent","eventTime":"2020-03-03T13:07:51Z","eventTimeZoneOffset":"+00:00","epcList":[],"action":"OBSERVE",`
	for _, c := range []struct {
		name, doc    string
		event        int
		path, reason string
		line         int
	}{
		{"XMLBlankReadPointID", xml20Doc(xmlEvent), 0, "AssociationEvent/readPoint/id", "readPoint needs an id", 6},
		{"XMLNaNSensorValue", xml20Doc(`<ObjectEvent><eventTime>2020-03-03T13:07:51Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList/><action>OBSERVE</action>
<sensorElementList><sensorElement><sensorReport type="gs1:Temperature" value="NaN"/></sensorElement></sensorElementList></ObjectEvent>`),
			0, "ObjectEvent/sensorElementList[0]/sensorReport[0]/value", "finite", 4},
		{"XMLLocalPlaceExtension", xml20Doc(`<ObjectEvent><eventTime>2020-03-03T13:07:51Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList/><action>OBSERVE</action>
<readPoint><id>urn:epc:id:sgln:0614141.00777.0</id><extension><colour>red</colour></extension></readPoint></ObjectEvent>`),
			0, "ObjectEvent/readPoint/colour", "needs a namespace", 4},
		{"XMLNameWithColon", xml20Doc(`<ObjectEvent><eventTime>2020-03-03T13:07:51Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList/><action>OBSERVE</action>
<example:a><:b/></example:a></ObjectEvent>`), 0, "ObjectEvent/example:a/:b", "not a valid XML element name", 4},
		{"JSONReadPointWithoutID", `{"type":"AssociationEvent","parentID":"urn:epc:id:grai:4012345.55555.987","childEPCs":["urn:epc:id:sgtin:0614141.107346.2018"],"readPoint":{}}`,
			0, "AssociationEvent/readPoint/id", "readPoint needs an id", 0},
		{"JSONEmptyExtensionName", jsonCtx + `"ex:":"x"}`, 0, "ObjectEvent/ex:", `"" is not a valid XML element name`, 0},
		{"JSONEmptyChildName", jsonCtx + `"ex:a":{"":"x"}}`, 0, "ObjectEvent/ex:a/", `"" is not a valid XML element name`, 0},
		{"JSONBadName", jsonCtx + `"ex:1 a":"x"}`, 0, "ObjectEvent/ex:1 a", `"1 a" is not a valid XML element name`, 0},
		{"JSONBadILMDName", jsonCtx + `"ilmd":{"ex:a<b":"x"}}`, 0, "ObjectEvent/ilmd/ex:a<b", "not a valid XML element name", 0},
		{"JSONILMDWithoutNamespace", jsonCtx + `"ilmd":{"lotNumber":"x"}}`, 0, "ObjectEvent/ilmd/lotNumber", "needs a namespace", 0},
		{"JSONPrefixOfEmptyIRI", jsonCtx + `"nil:a":"x"}`, 0, "ObjectEvent/nil:a", "bound to an empty IRI", 0},
		{"JSONBadSensorAttribute", jsonCtx + `"sensorElementList":[{"sensorReport":[{"type":"gs1:Temperature","ex:a b":"1"}]}]}`,
			0, "ObjectEvent/sensorElementList[0]/sensorReport[0]/a b", "not a valid XML attribute name", 0},
		{"JSONBadHeaderExtension", `{"@context":[{"ex":"https://ns.example.com/epcis/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2020-03-03T13:07:51Z","ex:a/b":1,"epcisBody":{"eventList":[]}}`,
			-1, "EPCISHeader/ex:a/b", "not a valid XML element name", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rd, err := NewReader(strings.NewReader(c.doc), nil)
			if err == nil {
				_, err = rd.Next()
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err=%v, want a DecodeError", err)
			}
			if de.Event != c.event || de.Path != c.path || !strings.Contains(de.Reason, c.reason) || de.Line != c.line {
				t.Fatalf("err=%q (event %d, path %q, line %d), want event %d, path %q, line %d, reason ~%q",
					err, de.Event, de.Path, de.Line, c.event, c.path, c.line, c.reason)
			}
			if c.line == 0 && de.Offset <= 0 {
				t.Errorf("err=%q: a JSON error needs its byte offset", err)
			}
		})
	}
}

// A prefix is only a hint for the XML writer: one that is no XML name is
// replaced, and the element keeps its namespace.
func TestWriter_XMLPrefixNotAName(t *testing.T) {
	doc := `{"@context":["https://ref.gs1.org/standards/epcis/epcis-context.jsonld",{"1x":"https://ns.example.com/epcis/"}],"type":"ObjectEvent","eventTime":"2020-03-03T13:07:51Z","eventTimeZoneOffset":"+00:00","epcList":[],"action":"OBSERVE","1x:colour":"red"}`
	h, events := MustReadDoc(t, strings.NewReader(doc))
	for _, f := range []Format{FormatXML12, FormatXML20} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, f, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEvent(events[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back := MustReadAll(t, bytes.NewReader(buf.Bytes()))
		if got := back[0].Extensions; len(got) != 1 || got[0].Space != "https://ns.example.com/epcis/" || got[0].Local != "colour" || got[0].Text != "red" {
			t.Errorf("%s: extensions read back %+v\n%s", f, got, buf.Bytes())
		}
	}
}
