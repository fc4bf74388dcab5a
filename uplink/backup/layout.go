package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
)

// Object layout under s3://BUCKET/PREFIX (one station's ledger per prefix):
//
//	generations/GEN/manifest.json      the generation's manifest, written last, once the snapshot is verified
//	generations/GEN/snapshot.db.gz     the snapshot (SQLite file), gzip; ".aes" appended when encrypted
//	generations/GEN/segments/FIRST-LAST-SHA256.jsonl.gz
//	                                   the journal after the snapshot: events FIRST..LAST (19-digit seqs)
//	                                   as JSON lines, gzip (".aes" appended when encrypted); SHA256 is the
//	                                   hex SHA-256 of the object as stored
//	generations/GEN/head.json          the last event shipped in this generation (updated after each segment)
//
// GEN is the UTC time the generation began, to the millisecond, and a random
// suffix (20260301T060000.000Z-1a2b3c4d), so that names sort in time order.

// Format is the manifest format this package writes and reads.
const Format = "linestation.backup.v1"

const (
	generationsDir = "generations/"
	manifestName   = "manifest.json"
	headName       = "head.json"
	snapshotName   = "snapshot.db.gz"
	segmentsDir    = "segments/"
	encryptedExt   = ".aes"
	// Compression names the only compression this package writes.
	Compression = "gzip"
)

var (
	generationRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{8}$`)
	segmentRE    = regexp.MustCompile(`^([0-9]{19})-([0-9]{19})-([0-9a-f]{64})\.jsonl\.gz(\.aes)?$`)
)

// newGenerationID names a generation begun at t.
func newGenerationID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// ValidGenerationID reports whether id has the form of a generation name.
func ValidGenerationID(id string) bool { return generationRE.MatchString(id) }

// Manifest describes one generation: its snapshot and where the journal
// stood in it. It is written once, after the snapshot was uploaded and read
// back; a generation without one is incomplete and never restored.
type Manifest struct {
	Format      string    `json:"format"`     // Format
	Generation  string    `json:"generation"` // the generation's id
	Station     string    `json:"station"`    // the station whose ledger this is
	Source      string    `json:"source"`     // host and path of the ledger file
	Program     string    `json:"program"`    // the linestation version that wrote it
	Created     time.Time `json:"created"`    // when the snapshot was taken (the host's clock, UTC)
	LastSeq     int64     `json:"last_seq"`   // the snapshot's last event (0: empty journal)
	LastHash    string    `json:"last_hash"`  // its hash (GenesisHash for an empty journal)
	LastTime    time.Time `json:"last_time"`  // its time (zero for an empty journal)
	Snapshot    Object    `json:"snapshot"`
	Compression string    `json:"compression"` // Compression
	// Encryption is set when the objects were encrypted on the client.
	Encryption *Encryption `json:"encryption,omitempty"`
	// ServerSideEncryption is what the storage was asked for ("AES256",
	// "aws:kms"), empty for none.
	ServerSideEncryption string `json:"server_side_encryption,omitempty"`
}

// Object describes a stored object and the data inside it.
type Object struct {
	Key          string `json:"key"`           // the object's name, relative to its generation
	Size         int64  `json:"size"`          // bytes of the data (the SQLite file)
	SHA256       string `json:"sha256"`        // hex SHA-256 of the data
	StoredSize   int64  `json:"stored_size"`   // bytes of the object as stored (compressed, maybe encrypted)
	StoredSHA256 string `json:"stored_sha256"` // hex SHA-256 of the object as stored
}

// Encryption says how the generation's objects were encrypted.
type Encryption struct {
	Algorithm string `json:"algorithm"`  // EncryptionAlgorithm
	ChunkSize int    `json:"chunk_size"` // plaintext bytes per chunk
	KeyID     string `json:"key_id"`     // Key.ID of the key used
}

// Progress is a generation's head.json: the last event shipped to it.
type Progress struct {
	Generation string    `json:"generation"`
	LastSeq    int64     `json:"last_seq"`
	LastHash   string    `json:"last_hash"`
	LastTime   time.Time `json:"last_time"`
	Segment    string    `json:"segment,omitempty"` // the segment holding LastSeq; empty when it is the snapshot's
	Updated    time.Time `json:"updated"`
}

// Segment is one stored piece of the journal, as its name describes it.
type Segment struct {
	Key          string // the object's name, relative to its generation
	First, Last  int64  // the seqs of its first and last events
	StoredSHA256 string // hex SHA-256 of the object as stored
	Encrypted    bool
	Size         int64 // bytes stored (from the listing)
}

func segmentKey(first, last int64, sha string, encrypted bool) string {
	k := fmt.Sprintf("%s%019d-%019d-%s.jsonl.gz", segmentsDir, first, last, sha)
	if encrypted {
		k += encryptedExt
	}
	return k
}

// parseSegment reads a segment's name (relative to its generation).
func parseSegment(key string, size int64) (Segment, error) {
	name, ok := strings.CutPrefix(key, segmentsDir)
	m := segmentRE.FindStringSubmatch(name)
	if !ok || m == nil {
		return Segment{}, fmt.Errorf("%q is not a segment name (segments/FIRST-LAST-SHA256.jsonl.gz[.aes])", key)
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return Segment{}, fmt.Errorf("segment %q: seq range %s-%s is not valid", key, m[1], m[2])
	}
	return Segment{Key: key, First: first, Last: last, StoredSHA256: m[3], Encrypted: m[4] != "", Size: size}, nil
}

// decodeManifest parses a manifest strictly and checks that it is
// complete and consistent in itself; what it says about the objects is
// checked against them by Restore.
func decodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, err
	}
	switch {
	case m.Format != Format:
		return nil, fmt.Errorf("format %q is not %s", m.Format, Format)
	case !ValidGenerationID(m.Generation):
		return nil, fmt.Errorf("generation %q is not a generation id", m.Generation)
	case m.Station == "":
		return nil, fmt.Errorf("no station")
	case m.LastSeq < 0:
		return nil, fmt.Errorf("last_seq %d is negative", m.LastSeq)
	case !isHexHash(m.LastHash):
		return nil, fmt.Errorf("last_hash %q is not a SHA-256", m.LastHash)
	case m.LastSeq == 0 && m.LastHash != station.GenesisHash:
		return nil, fmt.Errorf("last_seq 0 with last_hash %s: an empty journal's hash is the genesis hash", m.LastHash)
	case m.Compression != Compression:
		return nil, fmt.Errorf("compression %q is not %s", m.Compression, Compression)
	case m.Snapshot.Key != snapshotName && m.Snapshot.Key != snapshotName+encryptedExt:
		return nil, fmt.Errorf("snapshot key %q is not %s", m.Snapshot.Key, snapshotName)
	case (m.Snapshot.Key == snapshotName+encryptedExt) != (m.Encryption != nil):
		return nil, fmt.Errorf("snapshot key %q does not match the encryption %v", m.Snapshot.Key, m.Encryption != nil)
	case m.Snapshot.Size <= 0 || m.Snapshot.StoredSize <= 0:
		return nil, fmt.Errorf("snapshot sizes %d/%d must be positive", m.Snapshot.Size, m.Snapshot.StoredSize)
	case !isHexHash(m.Snapshot.SHA256) || !isHexHash(m.Snapshot.StoredSHA256):
		return nil, fmt.Errorf("snapshot checksums are not SHA-256")
	}
	if e := m.Encryption; e != nil && (e.Algorithm != EncryptionAlgorithm || e.ChunkSize <= 0 || e.ChunkSize > maxChunkSize || len(e.KeyID) != 16) {
		return nil, fmt.Errorf("encryption %+v is not %s with a chunk size and key id", *e, EncryptionAlgorithm)
	}
	return &m, nil
}

func decodeProgress(data []byte) (*Progress, error) {
	var p Progress
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if p.LastSeq < 0 || !isHexHash(p.LastHash) {
		return nil, fmt.Errorf("last_seq %d / last_hash %q are not a journal head", p.LastSeq, p.LastHash)
	}
	return &p, nil
}

// decodeStrict decodes one JSON object into v: no unknown fields, nothing
// after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON object")
	}
	return nil
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
