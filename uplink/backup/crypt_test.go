package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// seal encrypts plain with chunk-size chunks.
func mustSeal(tb testing.TB, k *Key, plain []byte, chunk int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := newEncrypter(&buf, k, chunk)
	if err != nil {
		tb.Fatal(err)
	}
	// Odd write sizes, so chunk boundaries fall inside writes.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7+len(p)%13)
		if _, err := w.Write(p[:n]); err != nil {
			tb.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func open(k *Key, sealed []byte) ([]byte, error) {
	r, err := newDecrypter(bytes.NewReader(sealed), k)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestCrypt_RoundTrip(t *testing.T) {
	k := NewKey()
	const chunk = 64
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 5, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plain := make([]byte, n)
			_, _ = rand.Read(plain)
			sealed := mustSeal(t, k, plain, chunk)
			chunks := max(1, (n+chunk-1)/chunk) // a full last chunk is sealed as the last; no data: one empty chunk
			if got, want := len(sealed), cryptHeaderSize+n+16*chunks; got != want {
				t.Fatalf("sealed size = %d, want %d", got, want)
			}
			got, err := open(k, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("round trip changed the data (%d bytes in, %d out)", n, len(got))
			}
			// The same data sealed twice differs (random nonce prefix).
			if n > 0 && bytes.Equal(sealed, mustSeal(t, k, plain, chunk)) {
				t.Fatal("two encryptions of the same data are identical")
			}
		})
	}
}

func TestCrypt_Refusals(t *testing.T) {
	k := NewKey()
	const chunk = 32
	plain := bytes.Repeat([]byte("serialization data is irreplaceable. "), 10) // 370 bytes: 12 chunks
	sealed := mustSeal(t, k, plain, chunk)
	sealedChunk := chunk + 16
	body := sealed[cryptHeaderSize:]
	hdr := sealed[:cryptHeaderSize]
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, data := range map[string][]byte{
		"FlippedByte":      func() []byte { b := bytes.Clone(sealed); b[len(b)/2] ^= 1; return b }(),
		"FlippedHeader":    func() []byte { b := bytes.Clone(sealed); b[15] ^= 1; return b }(),
		"TruncatedAtChunk": sealed[:cryptHeaderSize+4*sealedChunk],
		"TruncatedInside":  sealed[:len(sealed)-3],
		"LastChunkDropped": sealed[:len(sealed)-(len(body)%sealedChunk)],
		"ChunksSwapped":    join(hdr, body[sealedChunk:2*sealedChunk], body[:sealedChunk], body[2*sealedChunk:]),
		"ChunkRepeated":    join(hdr, body[:sealedChunk], body),
		"Appended":         join(sealed, []byte("x")),
		"AppendedChunk":    join(sealed, body[:sealedChunk]),
		"OtherKey":         mustSeal(t, NewKey(), plain, chunk),
		"NotEncrypted":     []byte("SQLite format 3\x00 and more bytes after it"),
		"Empty":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := open(k, data)
			if !errors.Is(err, errDecrypt) {
				t.Fatalf("open = %d bytes, %v; want %v", len(got), err, errDecrypt)
			}
		})
	}
}

func TestKey(t *testing.T) {
	k := NewKey()
	for _, text := range []string{k.Hex(), "  " + strings.ToUpper(k.Hex()) + "\n"} {
		p, err := ParseKey(text)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID() != k.ID() {
			t.Fatalf("parsed key id %s, want %s", p.ID(), k.ID())
		}
	}
	for _, bad := range []string{"", "00", k.Hex()[:62], k.Hex() + "00", "not a key at all"} {
		if _, err := ParseKey(bad); err == nil {
			t.Fatalf("ParseKey(%q) accepted", bad)
		} else if len(bad) > 8 && strings.Contains(err.Error(), bad) {
			t.Fatalf("the error repeats the key text: %v", err)
		}
	}
	// The key never prints.
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), k.LogValue().String()} {
		if strings.Contains(s, k.Hex()) || !strings.Contains(s, k.ID()) {
			t.Fatalf("%q shows the key or not its id", s)
		}
	}
}

// FuzzDecrypt: the decrypter never panics and never returns data for
// input it did not authenticate.
func FuzzDecrypt(f *testing.F) {
	k := &Key{}
	copy(k.b[:], "0123456789abcdef0123456789abcdef")
	f.Add(mustSeal(f, k, []byte("hello, line 1"), 8))
	f.Add(mustSeal(f, k, nil, 8))
	f.Add([]byte(cryptMagic + "\x00\x00\x00\x08abcdefgh"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := open(k, data)
		if err == nil && len(data) < cryptHeaderSize+16 {
			t.Fatalf("opened %d bytes from %d bytes of input", len(got), len(data))
		}
	})
}
