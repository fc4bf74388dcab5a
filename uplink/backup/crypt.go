package backup

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/linestation/linestation/station"
)

// Client-side encryption: AES-256-GCM over fixed-size chunks, so that memory
// stays bounded by one chunk whatever the size of the object.
//
// An encrypted object is a 20-byte header followed by sealed chunks:
//
//	header  = magic "LSBKAES1" (8 bytes) | chunk size, uint32 big-endian (4) | nonce prefix, random (8)
//	chunk i = AES-256-GCM seal of up to chunk-size plaintext bytes (+16 bytes tag),
//	          nonce = nonce prefix | i as uint32 big-endian,
//	          additional data = header | 1 if this is the last chunk, else 0
//
// Every chunk but the last holds exactly chunk-size bytes; the last may hold
// fewer, or none. The last-chunk flag in the additional data makes a
// truncated object fail to decrypt (its new last chunk was sealed as "not
// last"), the counter in the nonce makes reordered or repeated chunks fail,
// and the random prefix makes every object's nonces distinct under one key.

const (
	cryptMagic      = "LSBKAES1"
	cryptHeaderSize = 8 + 4 + 8
	// DefaultChunkSize is the plaintext size of one encrypted chunk.
	DefaultChunkSize = 64 << 10
	maxChunkSize     = 16 << 20
	// EncryptionAlgorithm names the scheme in manifests.
	EncryptionAlgorithm = "AES-256-GCM-CHUNKED"
)

// Key is a 256-bit client-side encryption key. It never prints: String,
// GoString and LogValue show only its id.
type Key struct {
	b [32]byte
}

// ParseKey reads a key written as 64 hexadecimal digits or as the standard
// base64 of 32 bytes (surrounding white space is ignored). The error never
// repeats the text it was given.
func ParseKey(text string) (*Key, error) {
	s := strings.TrimSpace(text)
	var raw []byte
	if b, err := hex.DecodeString(s); err == nil {
		raw = b
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		raw = b
	} else {
		return nil, station.Errorf(station.EINVALID, "the backup encryption key is neither hexadecimal nor base64 (expected 32 bytes: 64 hex digits)")
	}
	if len(raw) != 32 {
		return nil, station.Errorf(station.EINVALID, "the backup encryption key has %d bytes, want 32 (64 hex digits)", len(raw))
	}
	k := &Key{}
	copy(k.b[:], raw)
	return k, nil
}

// NewKey returns a random key.
func NewKey() *Key {
	k := &Key{}
	_, _ = rand.Read(k.b[:]) // never fails
	return k
}

// Hex returns the key as 64 hexadecimal digits, for writing it to a key
// file once. Nothing in this package logs or stores it.
func (k *Key) Hex() string { return hex.EncodeToString(k.b[:]) }

// ID is a fingerprint of the key (16 hex digits of a SHA-256 over a fixed
// tag and the key), recorded in manifests so that a restore with the wrong
// key is refused with a clear message before anything is decrypted.
func (k *Key) ID() string {
	h := sha256.New()
	h.Write([]byte("linestation backup key id v1\n"))
	h.Write(k.b[:])
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// String implements fmt.Stringer without revealing the key.
func (k *Key) String() string { return "backup-key:" + k.ID() }

// GoString implements fmt.GoStringer without revealing the key.
func (k *Key) GoString() string { return k.String() }

// LogValue implements slog.LogValuer without revealing the key.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k *Key) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: AES has a 16-byte block
	}
	return g
}

// encrypter seals what is written to it into w, one chunk at a time.
type encrypter struct {
	w      io.Writer
	aead   cipher.AEAD
	header []byte
	chunk  int
	buf    []byte // plaintext waiting: at most chunk bytes
	out    []byte
	n      uint32
	closed bool
}

// newEncrypter writes the header to w and returns a writer whose Close
// seals the last chunk. Close does not close w.
func newEncrypter(w io.Writer, k *Key, chunk int) (io.WriteCloser, error) {
	if chunk <= 0 || chunk > maxChunkSize {
		return nil, fmt.Errorf("encrypt: chunk size %d out of range", chunk)
	}
	hdr := make([]byte, cryptHeaderSize)
	copy(hdr, cryptMagic)
	binary.BigEndian.PutUint32(hdr[8:], uint32(chunk))
	_, _ = rand.Read(hdr[12:])
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("encrypt: write header: %w", err)
	}
	a := k.aead()
	return &encrypter{w: w, aead: a, header: hdr, chunk: chunk, buf: make([]byte, 0, chunk), out: make([]byte, 0, chunk+a.Overhead())}, nil
}

func (e *encrypter) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errors.New("encrypt: write after close")
	}
	n := 0
	for len(p) > 0 {
		// A full buffer is sealed only once more data proves it is not
		// the last chunk.
		if len(e.buf) == e.chunk {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		k := min(e.chunk-len(e.buf), len(p))
		e.buf = append(e.buf, p[:k]...)
		p = p[k:]
		n += k
	}
	return n, nil
}

func (e *encrypter) seal(last bool) error {
	if e.n == ^uint32(0) {
		return errors.New("encrypt: too many chunks")
	}
	nonce := make([]byte, 12)
	copy(nonce, e.header[12:20])
	binary.BigEndian.PutUint32(nonce[8:], e.n)
	ad := append(e.header[:cryptHeaderSize:cryptHeaderSize], 0)
	if last {
		ad[cryptHeaderSize] = 1
	}
	e.out = e.aead.Seal(e.out[:0], nonce, e.buf, ad)
	if _, err := e.w.Write(e.out); err != nil {
		return fmt.Errorf("encrypt: write chunk %d: %w", e.n, err)
	}
	e.n++
	e.buf = e.buf[:0]
	return nil
}

// Close seals the last chunk (possibly empty).
func (e *encrypter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.seal(true)
}

// errDecrypt is what a decrypter returns for anything wrong with the
// ciphertext; callers add the object's name.
var errDecrypt = errors.New("the encrypted data is corrupt, truncated or was encrypted with another key")

// decrypter opens an object written by an encrypter.
type decrypter struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	header []byte
	chunk  int
	in     []byte
	plain  []byte // opened, not yet read
	n      uint32
	done   bool
	err    error
}

// newDecrypter reads and checks the header of r.
func newDecrypter(r io.Reader, k *Key) (io.Reader, error) {
	hdr := make([]byte, cryptHeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: no header: %w", errDecrypt, err)
	}
	if !bytes.Equal(hdr[:8], []byte(cryptMagic)) {
		return nil, fmt.Errorf("%w: not an encrypted backup object (magic %q)", errDecrypt, hdr[:8])
	}
	chunk := int(binary.BigEndian.Uint32(hdr[8:12]))
	if chunk <= 0 || chunk > maxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d out of range", errDecrypt, chunk)
	}
	a := k.aead()
	return &decrypter{r: bufio.NewReaderSize(r, 64<<10), aead: a, header: hdr, chunk: chunk, in: make([]byte, chunk+a.Overhead())}, nil
}

func (d *decrypter) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next opens the next chunk. A chunk is the last one when nothing follows it.
func (d *decrypter) next() error {
	n, err := io.ReadFull(d.r, d.in)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// A short (or empty) read: this must be the last chunk.
	case err != nil:
		return fmt.Errorf("decrypt: read chunk %d: %w", d.n, err)
	}
	last := n < len(d.in)
	if !last {
		if _, perr := d.r.Peek(1); errors.Is(perr, io.EOF) {
			last = true
		} else if perr != nil {
			return fmt.Errorf("decrypt: read chunk %d: %w", d.n+1, perr)
		}
	}
	if n < d.aead.Overhead() {
		return fmt.Errorf("%w: chunk %d is cut short", errDecrypt, d.n)
	}
	nonce := make([]byte, 12)
	copy(nonce, d.header[12:20])
	binary.BigEndian.PutUint32(nonce[8:], d.n)
	ad := append(d.header[:cryptHeaderSize:cryptHeaderSize], 0)
	if last {
		ad[cryptHeaderSize] = 1
	}
	plain, oerr := d.aead.Open(d.in[:0], nonce, d.in[:n], ad)
	if oerr != nil {
		return fmt.Errorf("%w: chunk %d does not authenticate", errDecrypt, d.n)
	}
	d.plain = plain
	d.n++
	d.done = last
	return nil
}
