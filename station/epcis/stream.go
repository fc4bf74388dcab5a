package epcis

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is an EPCIS document format.
type Format int

// The formats the codecs read and write.
const (
	FormatXML12    Format = iota + 1 // EPCIS 1.2 XML (DSCSA, GS1 US guideline)
	FormatXML20                      // EPCIS 2.0 XML
	FormatJSONLD20                   // EPCIS 2.0 JSON-LD
)

// String returns the format's short name: xml12, xml20 or jsonld20.
func (f Format) String() string {
	switch f {
	case FormatXML12:
		return "xml12"
	case FormatXML20:
		return "xml20"
	case FormatJSONLD20:
		return "jsonld20"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Title returns the format's name for people, e.g. "EPCIS 1.2 XML".
func (f Format) Title() string {
	switch f {
	case FormatXML12:
		return "EPCIS 1.2 XML"
	case FormatXML20:
		return "EPCIS 2.0 XML"
	case FormatJSONLD20:
		return "EPCIS 2.0 JSON-LD"
	}
	return f.String()
}

// ParseFormat reads a format's short name (xml12, xml20, jsonld20).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "xml12":
		return FormatXML12, nil
	case "xml20":
		return FormatXML20, nil
	case "jsonld20", "json", "jsonld":
		return FormatJSONLD20, nil
	}
	return 0, fmt.Errorf("unknown EPCIS format %q: want xml12, xml20 or jsonld20", s)
}

// Limits a Reader applies unless told otherwise.
const (
	DefaultMaxDepth      = 64
	DefaultMaxEventBytes = 16 << 20 // one event (or the header), and so any token in it
	detectWindow         = 64 << 10
)

// ReaderOptions tune a Reader. The zero value detects the format and uses
// the default limits.
type ReaderOptions struct {
	// Format is the expected format; 0 detects it from the content.
	Format Format
	// MaxDepth bounds the nesting of elements (XML) or values (JSON).
	// Default DefaultMaxDepth.
	MaxDepth int
	// MaxEventBytes bounds the bytes of one event, and of the header, and so
	// of any token in them (a text run, a tag, a JSON string). Default
	// DefaultMaxEventBytes.
	MaxEventBytes int64
}

// decoder is one format's streaming reader.
type decoder interface {
	header() (*Header, error)
	next() (*Event, error)
	// trailer returns header parts that only come after the events (2.0 XML
	// extensions, JSON-LD keys after epcisBody), valid after io.EOF.
	trailer(h *Header)
}

// Reader reads an EPCIS document one event at a time, in bounded memory.
type Reader struct {
	format Format
	dec    decoder
	head   *Header
	n      int
	err    error
}

// NewReader reads the document's header and returns a Reader positioned at
// its first event. It detects the format (1.2 XML, 2.0 XML or 2.0 JSON-LD)
// unless opts names one. A JSON-LD object that is a single event (as in the
// standard's examples) reads as a document with that one event.
func NewReader(r io.Reader, opts *ReaderOptions) (*Reader, error) {
	var o ReaderOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if o.Format == 0 {
		f, err := detect(br)
		if err != nil {
			return nil, err
		}
		o.Format = f
	}
	rd := &Reader{format: o.Format}
	switch o.Format {
	case FormatXML12, FormatXML20:
		rd.dec = newXMLDecoder(br, o)
	case FormatJSONLD20:
		rd.dec = newJSONDecoder(br, o)
	default:
		return nil, fmt.Errorf("new reader: %w", ErrFormat)
	}
	h, err := rd.dec.header()
	if err != nil {
		return nil, err
	}
	rd.head = h
	return rd, nil
}

// Format returns the document's format.
func (r *Reader) Format() Format { return r.format }

// Header returns the document's header. Parts that a document puts after
// its events (extensions after EPCISBody in 2.0 XML, JSON-LD keys after
// epcisBody) are added once Next has returned io.EOF.
func (r *Reader) Header() *Header { return r.head }

// Count returns how many events Next has returned.
func (r *Reader) Count() int { return r.n }

// Next returns the next event, or io.EOF after the last one. Any other error
// is a *DecodeError naming the event and path, and is returned again by
// every later call.
func (r *Reader) Next() (*Event, error) {
	if r.err != nil {
		return nil, r.err
	}
	e, err := r.dec.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.dec.trailer(r.head)
		}
		r.err = err
		return nil, err
	}
	r.n++
	return e, nil
}

// detect sniffs the format from the start of the document.
func detect(br *bufio.Reader) (Format, error) {
	peek, err := br.Peek(detectWindow)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, fmt.Errorf("detect format: %w", err)
	}
	s := bytes.TrimLeft(bytes.TrimPrefix(peek, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(s) == 0 {
		return 0, &DecodeError{Event: -1, Offset: 0, Reason: "the document is empty", Err: ErrFormat}
	}
	switch s[0] {
	case '{':
		return FormatJSONLD20, nil
	case '<':
		d := xml.NewDecoder(bytes.NewReader(s))
		for {
			tok, err := d.RawToken()
			if err != nil {
				if len(peek) >= detectWindow {
					return 0, &DecodeError{Event: -1, Offset: -1, Reason: "no root element in the first 64 KiB", Err: ErrFormat}
				}
				return 0, &DecodeError{Event: -1, Offset: d.InputOffset(), Reason: fmt.Sprintf("not well-formed XML before the root element: %v", err), Err: ErrFormat}
			}
			switch t := tok.(type) {
			case xml.Directive:
				return 0, &DecodeError{Event: -1, Offset: d.InputOffset(), Reason: ErrDoctype.Error(), Err: ErrDoctype}
			case xml.StartElement:
				ns := ""
				for _, a := range t.Attr {
					if a.Name.Space == "xmlns" && a.Name.Local == t.Name.Space || a.Name.Space == "" && a.Name.Local == "xmlns" && t.Name.Space == "" {
						ns = a.Value
					}
				}
				if t.Name.Local != "EPCISDocument" {
					return 0, &DecodeError{Event: -1, Offset: 0, Reason: fmt.Sprintf("root element is %s, want EPCISDocument", t.Name.Local), Err: ErrFormat}
				}
				switch ns {
				case NamespaceEPCIS12:
					return FormatXML12, nil
				case NamespaceEPCIS20:
					return FormatXML20, nil
				}
				return 0, &DecodeError{Event: -1, Offset: 0, Reason: fmt.Sprintf("EPCISDocument namespace %q is neither %s (1.2) nor %s (2.0)", ns, NamespaceEPCIS12, NamespaceEPCIS20), Err: ErrFormat}
			}
		}
	}
	return 0, &DecodeError{Event: -1, Offset: 0, Reason: "the document starts with neither '<' (XML) nor '{' (JSON-LD)", Err: ErrFormat}
}

// encoder is one format's streaming writer.
type encoder interface {
	header(h *Header) error
	event(e *Event) error
	close() error
}

// Writer writes an EPCIS document: the header when created, then each event
// as it is given, then the end of the document on Close. Events are checked
// before any byte of them is written: one that the format cannot carry
// (e.g. an AssociationEvent in EPCIS 1.2) is refused with an
// *UnrepresentableError, and the document so far stays well-formed.
type Writer struct {
	format Format
	enc    encoder
	n      int
	closed bool
}

// NewWriter writes the header h in format f to w and returns a Writer for
// the events. It refuses a header the format cannot carry. Output is
// buffered: call Close to flush it.
func NewWriter(w io.Writer, f Format, h *Header) (*Writer, error) {
	if h == nil {
		h = &Header{}
	}
	if err := Representable(f, h); err != nil {
		return nil, err
	}
	wr := &Writer{format: f}
	switch f {
	case FormatXML12, FormatXML20:
		wr.enc = newXMLEncoder(w, f)
	case FormatJSONLD20:
		wr.enc = newJSONEncoder(w)
	default:
		return nil, fmt.Errorf("new writer: %w", ErrFormat)
	}
	if err := wr.enc.header(h); err != nil {
		return nil, fmt.Errorf("write %s header: %w", f.Title(), err)
	}
	return wr, nil
}

// WriteEvent writes one event. It returns an *UnrepresentableError, and
// writes nothing, when the format cannot carry the event.
func (w *Writer) WriteEvent(e *Event) error {
	if w.closed {
		return errors.New("write event: writer is closed")
	}
	if err := e.representable(w.format, w.n); err != nil {
		return err
	}
	if err := w.enc.event(e); err != nil {
		return fmt.Errorf("write event %d: %w", w.n, err)
	}
	w.n++
	return nil
}

// Count returns how many events have been written.
func (w *Writer) Count() int { return w.n }

// Close ends the document and flushes it. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.enc.close(); err != nil {
		return fmt.Errorf("close %s document: %w", w.format.Title(), err)
	}
	return nil
}
