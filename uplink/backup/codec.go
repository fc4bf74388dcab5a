package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/linestation/linestation/station"
)

// digest is the size and SHA-256 of a stream.
type digest struct {
	Size   int64
	SHA256 string
}

// hashWriter counts and hashes what goes through it.
type hashWriter struct {
	h hash.Hash
	n int64
}

func newHashWriter() *hashWriter { return &hashWriter{h: sha256.New()} }

func (w *hashWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func (w *hashWriter) digest() digest {
	return digest{Size: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil))}
}

// sealer is the writing end of the object pipeline: what is written to it
// is hashed (raw), gzip-compressed, encrypted when a key is set, hashed
// again (stored) and written to dst.
type sealer struct {
	raw, stored *hashWriter
	gz          *gzip.Writer
	enc         io.WriteCloser
	in          io.Writer
}

func newSealer(dst io.Writer, key *Key) (*sealer, error) {
	s := &sealer{raw: newHashWriter(), stored: newHashWriter()}
	out := io.MultiWriter(dst, s.stored)
	if key != nil {
		enc, err := newEncrypter(out, key, DefaultChunkSize)
		if err != nil {
			return nil, err
		}
		s.enc, out = enc, enc
	}
	// The fastest level: segments leave every minute from a line PC that
	// has other work, and JSON lines and SQLite pages still shrink several
	// times (segments about eightfold in BenchmarkShip).
	s.gz, _ = gzip.NewWriterLevel(out, gzip.BestSpeed)
	s.in = io.MultiWriter(s.gz, s.raw)
	return s, nil
}

func (s *sealer) Write(p []byte) (int, error) { return s.in.Write(p) }

// Close flushes the compressor and the last encrypted chunk and returns the
// digests of the raw data and of the stored object.
func (s *sealer) Close() (raw, stored digest, err error) {
	if err := s.gz.Close(); err != nil {
		return raw, stored, fmt.Errorf("compress: %w", err)
	}
	if s.enc != nil {
		if err := s.enc.Close(); err != nil {
			return raw, stored, err
		}
	}
	return s.raw.digest(), s.stored.digest(), nil
}

// unsealer reads the raw data out of a stored object: it decrypts (when
// a key is set) and decompresses, refusing more than max bytes; finish
// then checks that nothing follows the compressed stream, which also makes
// the decrypter authenticate its last chunk.
type unsealer struct {
	br  *bufio.Reader
	gz  *gzip.Reader
	raw *hashWriter
	max int64
	err error
}

func newUnsealer(src io.Reader, key *Key, max int64) (*unsealer, error) {
	r := src
	if key != nil {
		d, err := newDecrypter(src, key)
		if err != nil {
			return nil, err
		}
		r = d
	}
	// A byte reader keeps gzip from reading past its stream, so that what
	// follows it is seen.
	u := &unsealer{br: bufio.NewReader(r), raw: newHashWriter(), max: max}
	gz, err := gzip.NewReader(u.br)
	if err != nil {
		return nil, fmt.Errorf("not gzip data: %w", err)
	}
	gz.Multistream(false)
	u.gz = gz
	return u, nil
}

func (u *unsealer) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n, err := u.gz.Read(p)
	u.raw.Write(p[:n])
	if u.raw.n > u.max {
		u.err = fmt.Errorf("the data is larger than %d bytes", u.max)
		return 0, u.err
	}
	if err != nil && err != io.EOF {
		u.err = fmt.Errorf("decompress: %w", err)
		return n, u.err
	}
	return n, err
}

// finish checks the end of the object (call it after Read returned
// io.EOF) and returns the digest of the raw data.
func (u *unsealer) finish() (digest, error) {
	if u.err != nil {
		return digest{}, u.err
	}
	extra, err := io.Copy(io.Discard, u.br)
	if err != nil {
		return digest{}, err
	}
	if extra > 0 {
		return digest{}, fmt.Errorf("%d unexpected bytes after the compressed data", extra)
	}
	return u.raw.digest(), nil
}

// unseal reads a stored object from src (whose stored checksum the caller
// checks) and writes the raw data to dst, at most max bytes, returning its
// digest. A wrong key, a corrupt or truncated object fail with an error
// that says which layer refused it.
func unseal(dst io.Writer, src io.Reader, key *Key, max int64) (digest, error) {
	u, err := newUnsealer(src, key, max)
	if err != nil {
		return digest{}, err
	}
	if _, err := io.Copy(dst, u); err != nil {
		return digest{}, err
	}
	return u.finish()
}

// maxSegmentRaw bounds the uncompressed size of one segment read back.
const maxSegmentRaw = 512 << 20

// encodeSegment writes evs as JSON lines, one event per line with every
// field its hash covers (the form of station.Event's JSON, which
// 'linestation ledger export' also writes), compressed and encrypted when
// key is set, and returns the stored bytes and their digest.
func encodeSegment(evs []station.Event, key *Key) ([]byte, digest, error) {
	var buf bytes.Buffer
	s, err := newSealer(&buf, key)
	if err != nil {
		return nil, digest{}, err
	}
	line := make([]byte, 0, 1024)
	for i := range evs {
		line, err = appendEventJSON(line[:0], &evs[i])
		if err != nil {
			return nil, digest{}, err
		}
		if _, err := s.Write(line); err != nil {
			return nil, digest{}, fmt.Errorf("compress: %w", err)
		}
	}
	_, stored, err := s.Close()
	if err != nil {
		return nil, digest{}, err
	}
	return buf.Bytes(), stored, nil
}

// appendEventJSON appends ev as one line of JSON with the field names of
// station.Event's tags. It writes the payload bytes exactly as stored (they
// are what the hash covers) after checking that they are JSON, so that
// nothing is re-encoded. It does what encoding/json would, without
// reflection: shipping runs every minute on the line PC. A text field that
// is not UTF-8 cannot travel in JSON unchanged (encoding/json would replace
// the bad bytes, and the event would no longer match its hash): it is an
// error here, so that the backup stops with an alarm instead of storing a
// segment that cannot be restored.
func appendEventJSON(b []byte, ev *station.Event) ([]byte, error) {
	if !json.Valid(ev.Payload) {
		return nil, fmt.Errorf("seq %d: the payload is not JSON", ev.Seq)
	}
	for _, f := range [...]struct{ name, value string }{{"id", ev.ID}, {"station", ev.Station}, {"type", string(ev.Type)},
		{"clock_state", string(ev.ClockState)}, {"user", ev.User}, {"prev_hash", ev.PrevHash}, {"hash", ev.Hash}} {
		if !utf8.ValidString(f.value) {
			return nil, fmt.Errorf("seq %d: %s %q is not UTF-8 and cannot be written as JSON unchanged", ev.Seq, f.name, f.value)
		}
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, ev.Seq, 10)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"station":`...)
	b = appendJSONString(b, ev.Station)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(ev.Type))
	b = append(b, `,"payload":`...)
	b = append(b, ev.Payload...)
	b = append(b, `,"time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","clock_offset_ns":`...)
	b = strconv.AppendInt(b, int64(ev.ClockOffset), 10)
	b = append(b, `,"clock_state":`...)
	b = appendJSONString(b, string(ev.ClockState))
	b = append(b, `,"user":`...)
	b = appendJSONString(b, ev.User)
	b = append(b, `,"prev_hash":`...)
	b = appendJSONString(b, ev.PrevHash)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, ev.Hash)
	return append(b, "}\n"...), nil
}

// appendJSONString appends s, valid UTF-8, as a JSON string: quotes,
// backslashes and control characters escaped, everything else as it is.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// decodeSegment reads the events of a stored segment whose stored checksum
// was checked. Every line must be one event exactly as encodeSegment writes
// it: the fields in their order, nothing else.
func decodeSegment(data []byte, key *Key) ([]station.Event, error) {
	u, err := newUnsealer(bytes.NewReader(data), key, maxSegmentRaw)
	if err != nil {
		return nil, err
	}
	// Line by line: memory holds the events and the longest line, not the
	// whole uncompressed segment.
	br := bufio.NewReaderSize(u, 64<<10)
	var out []station.Event
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			ev, rest, perr := parseEventLine(line)
			if perr == nil && len(rest) > 0 {
				perr = fmt.Errorf("unexpected data after the event")
			}
			if perr != nil {
				return nil, fmt.Errorf("line %d: %w", len(out)+1, perr)
			}
			out = append(out, ev)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := u.finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseEventLine reads one line written by appendEventJSON and returns the
// bytes after it. It is a strict reader of that one form (about ten times
// faster than encoding/json, which matters when a restore reads a day of
// journal): fields in their order, JSON strings and numbers, the payload a
// JSON value kept byte for byte, the line ended by "}\n".
func parseEventLine(b []byte) (station.Event, []byte, error) {
	var ev station.Event
	p := &lineParser{b: b}
	p.lit(`{"seq":`)
	ev.Seq = p.int()
	p.lit(`,"id":`)
	ev.ID = p.str()
	p.lit(`,"station":`)
	ev.Station = p.str()
	p.lit(`,"type":`)
	ev.Type = station.EventType(p.str())
	p.lit(`,"payload":`)
	ev.Payload = p.value()
	p.lit(`,"time":`)
	if ts := p.str(); p.err == nil {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			p.fail("time %q is not RFC 3339", ts)
		}
		ev.Time = t.UTC()
	}
	p.lit(`,"clock_offset_ns":`)
	ev.ClockOffset = time.Duration(p.int())
	p.lit(`,"clock_state":`)
	ev.ClockState = station.ClockState(p.str())
	p.lit(`,"user":`)
	ev.User = p.str()
	p.lit(`,"prev_hash":`)
	ev.PrevHash = p.str()
	p.lit(`,"hash":`)
	ev.Hash = p.str()
	p.lit("}\n")
	if p.err != nil {
		return ev, nil, p.err
	}
	return ev, p.b[p.i:], nil
}

// lineParser reads a line; the first error sticks and stops it.
type lineParser struct {
	b   []byte
	i   int
	err error
}

func (p *lineParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
	}
}

func (p *lineParser) lit(s string) {
	if p.err != nil {
		return
	}
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.fail("want %q", s)
		return
	}
	p.i += len(s)
}

func (p *lineParser) int() int64 {
	if p.err != nil {
		return 0
	}
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		p.fail("not an integer")
		return 0
	}
	p.i = j
	return n
}

// str reads a JSON string. Strings without escapes (nearly all) are
// checked and copied; the rare escaped one goes through encoding/json.
func (p *lineParser) str() string {
	if p.err != nil {
		return ""
	}
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		p.fail("want a string")
		return ""
	}
	escaped := false
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			p.fail("control character in a string")
			return ""
		case c == '"':
			q := p.b[p.i : j+1]
			p.i = j + 1
			if !escaped {
				if !utf8.Valid(q) {
					p.fail("a string is not UTF-8")
					return ""
				}
				return string(q[1 : len(q)-1])
			}
			var s string
			if err := json.Unmarshal(q, &s); err != nil {
				p.fail("bad string: %v", err)
			}
			return s
		}
	}
	p.fail("unterminated string")
	return ""
}

// skipString moves past a JSON string without decoding it: payload bytes
// are kept as they are, and json.Valid judges them.
func (p *lineParser) skipString() {
	for j := p.i + 1; j < len(p.b); j++ {
		switch p.b[j] {
		case '\\':
			j++
		case '"':
			p.i = j + 1
			return
		case '\n':
			p.fail("the line ends inside a string")
			return
		}
	}
	p.fail("unterminated string")
}

// value reads one JSON value (the payload) and returns a copy of its bytes
// exactly as written.
func (p *lineParser) value() json.RawMessage {
	if p.err != nil {
		return nil
	}
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			if p.skipString(); p.err != nil {
				return nil
			}
			if depth == 0 {
				return p.valid(start)
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				p.fail("unbalanced %q", c)
				return nil
			}
			if depth == 0 {
				p.i++
				return p.valid(start)
			}
		case ',':
			if depth == 0 {
				return p.valid(start)
			}
		case '\n':
			p.fail("the line ends inside the payload")
			return nil
		}
		p.i++
	}
	p.fail("the payload is cut short")
	return nil
}

func (p *lineParser) valid(start int) json.RawMessage {
	v := p.b[start:p.i]
	if !json.Valid(v) {
		p.fail("the payload is not valid JSON")
		return nil
	}
	return bytes.Clone(v)
}
