package epcis

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// standards is the shared folder of official files, from this package.
const standards = "../../../shared/standards"

// MustReadAll reads every event of a document, failing the test on error.
func MustReadAll(tb testing.TB, r io.Reader) []*Event {
	tb.Helper()
	_, events := MustReadDoc(tb, r)
	return events
}

// MustReadDoc reads a document's header and events.
func MustReadDoc(tb testing.TB, r io.Reader) (*Header, []*Event) {
	tb.Helper()
	rd, err := NewReader(r, nil)
	if err != nil {
		tb.Fatalf("NewReader: %v", err)
	}
	var out []*Event
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Header(), out
		}
		if err != nil {
			tb.Fatalf("Next (after %d events): %v", len(out), err)
		}
		out = append(out, e)
	}
}

// MustOpenStandard opens a file of the shared standards folder.
func MustOpenStandard(tb testing.TB, rel string) *os.File {
	tb.Helper()
	f, err := os.Open(filepath.Join(standards, rel))
	if err != nil {
		tb.Fatalf("open standard file: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
