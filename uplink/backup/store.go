package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/linestation/linestation/station"
)

// Log attribute keys.
const (
	logKeyObject     = "object"
	logKeyGeneration = "generation"
	logKeySeq        = "seq"
	logKeyBytes      = "bytes"
	logKeyAttempt    = "attempt"
)

// metaSHA256 is the user metadata entry holding an object's SHA-256.
const metaSHA256 = "Sha256"

// Store is one backup location in S3-compatible object storage: a bucket
// and a prefix, with the encryption settings of its objects. Its methods
// are safe for concurrent use.
type Store struct {
	loc      Location
	endpoint string
	region   string
	client   *minio.Client
	key      *Key
	sse      encrypt.ServerSide
	sseName  string
	partSize uint64
	attempts int
	backoff  time.Duration // first pause between attempts; doubles each time

	// Logger defaults to slog.Default() with component=backup.
	Logger *slog.Logger

	uploaded atomic.Int64 // bytes uploaded and verified
	objects  atomic.Int64 // objects uploaded and verified
	retries  atomic.Int64 // object uploads tried again
}

// Open returns the Store of cfg.URL. It validates the configuration but
// does not contact the storage: EnsureBucket or the first operation does.
// Call cfg.ApplyEnv first for defaults and the environment.
func Open(cfg Config) (*Store, error) {
	loc, err := ParseLocation(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = DefaultAttempts
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	host, secure, _ := cfg.endpoint()
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://" + host
	}
	s := &Store{
		loc:      loc,
		endpoint: endpoint,
		region:   cfg.Region,
		key:      cfg.Key,
		sseName:  cfg.SSE,
		partSize: uint64(cfg.PartSize),
		attempts: cfg.Attempts,
		backoff:  250 * time.Millisecond,
		Logger:   slog.Default().With("component", "backup"),
	}
	switch cfg.SSE {
	case SSES3:
		s.sse = encrypt.NewSSE()
	case SSEKMS:
		if s.sse, err = encrypt.NewSSEKMS(cfg.SSEKMSKeyID, nil); err != nil {
			return nil, station.Errorf(station.EINVALID, "server-side encryption key %q: %v", cfg.SSEKMSKeyID, err)
		}
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("backup to %s: http transport: %w", loc, err)
	}
	s.client, err = minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken),
		Secure:       secure,
		Region:       cfg.Region,
		Transport:    transport,
		BucketLookup: minio.BucketLookupAuto,
		// Each request is retried a few times (backoff up to 1 s) inside
		// every one of our Attempts, which then pause longer.
		MaxRetries: 5,
	})
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "backup endpoint %s: %v", endpoint, err)
	}
	if !secure && !isLoopback(host) {
		s.Logger.Warn("backup endpoint is plain http: data and metadata travel unencrypted (use https, or a client-side key)", "endpoint", endpoint)
	}
	return s, nil
}

func isLoopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Location returns where the Store keeps its objects.
func (s *Store) Location() Location { return s.loc }

// Encrypted reports whether new objects are encrypted on the client.
func (s *Store) Encrypted() bool { return s.key != nil }

// StoreStats counts what a Store uploaded since it was opened.
type StoreStats struct {
	Bytes   int64 // bytes uploaded and verified
	Objects int64 // objects uploaded and verified
	Retries int64 // uploads tried again after a failure
}

// Stats returns the counters of uploads.
func (s *Store) Stats() StoreStats {
	return StoreStats{Bytes: s.uploaded.Load(), Objects: s.objects.Load(), Retries: s.retries.Load()}
}

// EnsureBucket checks that the bucket exists and the credentials work,
// and creates the bucket when it is missing.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.loc.Bucket)
	if err != nil {
		return s.storageError(ctx, "check bucket "+s.loc.Bucket, err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.loc.Bucket, minio.MakeBucketOptions{Region: s.region})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	if err != nil {
		return s.storageError(ctx, "create bucket "+s.loc.Bucket, err)
	}
	s.Logger.Info("backup bucket created", "bucket", s.loc.Bucket, "endpoint", s.endpoint)
	return nil
}

// CheckBucket checks that the bucket exists (ENOTFOUND otherwise) and that
// the credentials work.
func (s *Store) CheckBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.loc.Bucket)
	if err != nil {
		return s.storageError(ctx, "check bucket "+s.loc.Bucket, err)
	}
	if !ok {
		return station.Errorf(station.ENOTFOUND, "bucket %s does not exist at %s", s.loc.Bucket, s.endpoint)
	}
	return nil
}

// fullKey returns the object name of rel under the prefix.
func (s *Store) fullKey(rel string) string {
	if s.loc.Prefix == "" {
		return rel
	}
	return s.loc.Prefix + "/" + rel
}

// URL returns the s3:// address of rel, for messages.
func (s *Store) URL(rel string) string {
	return "s3://" + s.loc.Bucket + "/" + s.fullKey(rel)
}

func genKey(gen, rel string) string { return generationsDir + gen + "/" + rel }

// storageError gives a storage failure a station code and a message that
// says what was being done and what to do.
func (s *Store) storageError(ctx context.Context, doing string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", doing, ctx.Err())
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId":
		return fmt.Errorf("%w: %w", station.Errorf(station.EUNAUTHORIZED, "%s: the storage at %s refused the credentials (%s): check the access key id and secret", doing, s.endpoint, resp.Code), err)
	case "NoSuchBucket":
		return fmt.Errorf("%w: %w", station.Errorf(station.ENOTFOUND, "%s: bucket %s does not exist at %s", doing, s.loc.Bucket, s.endpoint), err)
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", station.Errorf(station.ENOTFOUND, "%s: no such object", doing), err)
	case "":
		var nerr net.Error
		var oerr *net.OpError
		if errors.As(err, &nerr) || errors.As(err, &oerr) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %w", station.Errorf(station.EUNAVAILABLE, "%s: the storage at %s cannot be reached", doing, s.endpoint), err)
		}
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: %w", station.Errorf(station.EUNAVAILABLE, "%s: the storage at %s failed (%d %s)", doing, s.endpoint, resp.StatusCode, resp.Code), err)
	}
	return fmt.Errorf("%s at %s: %w", doing, s.endpoint, err)
}

// retryable reports whether an upload that failed with err may succeed if
// tried again.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	// A body damaged on the way fails its chunk signatures: the same
	// answer as a wrong secret, but worth another try (the attempts are
	// bounded, so a wrong secret only costs a few).
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code == "SignatureDoesNotMatch" {
		return true
	}
	switch station.ErrorCode(err) {
	case station.EUNAUTHORIZED, station.EINVALID, station.ENOTFOUND:
		return false
	}
	return true
}

// pause waits before attempt n+1 (exponential backoff with full jitter).
func (s *Store) pause(ctx context.Context, n int) error {
	d := s.backoff << min(n, 6)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// put uploads src (size bytes, SHA-256 sha) to rel and reads it back to
// verify it, trying again on failure. src is read from its start on each
// attempt. Objects larger than the part size go up in parts, each retried
// on its own by the S3 client.
func (s *Store) put(ctx context.Context, rel string, src io.ReadSeeker, size int64, sha, contentType string) error {
	key := s.fullKey(rel)
	var err error
	for attempt := 0; attempt < s.attempts; attempt++ {
		if attempt > 0 {
			s.retries.Add(1)
			s.Logger.Warn("backup upload failed, trying again", logKeyObject, s.URL(rel), logKeyAttempt, attempt+1, "error", err)
			if perr := s.pause(ctx, attempt-1); perr != nil {
				return fmt.Errorf("upload %s: %w (after: %w)", s.URL(rel), perr, err)
			}
		}
		if _, serr := src.Seek(0, io.SeekStart); serr != nil {
			return fmt.Errorf("upload %s: rewind: %w", s.URL(rel), serr)
		}
		_, err = s.client.PutObject(ctx, s.loc.Bucket, key, src, size, minio.PutObjectOptions{
			ContentType:          contentType,
			UserMetadata:         map[string]string{metaSHA256: sha},
			ServerSideEncryption: s.sse,
			PartSize:             s.partSize,
			NumThreads:           2,
			SendContentMd5:       true,
		})
		if err != nil {
			err = s.storageError(ctx, "upload "+s.URL(rel), err)
		} else {
			err = s.verify(ctx, rel, size, sha)
		}
		if err == nil {
			s.uploaded.Add(size)
			s.objects.Add(1)
			return nil
		}
		if !retryable(ctx, err) {
			break
		}
	}
	if size > int64(s.partSize) {
		// An abandoned multipart upload keeps its parts until removed.
		if rerr := s.client.RemoveIncompleteUpload(context.WithoutCancel(ctx), s.loc.Bucket, key); rerr != nil {
			s.Logger.Warn("backup could not remove an incomplete upload", logKeyObject, s.URL(rel), "error", rerr)
		}
	}
	return err
}

// putBytes uploads data to rel (see put).
func (s *Store) putBytes(ctx context.Context, rel string, data []byte, contentType string) error {
	sum := sha256.Sum256(data)
	return s.put(ctx, rel, bytes.NewReader(data), int64(len(data)), hex.EncodeToString(sum[:]), contentType)
}

// verify reads an uploaded object back: its size, its recorded checksum,
// the server-side encryption asked for, and the SHA-256 of every byte.
func (s *Store) verify(ctx context.Context, rel string, size int64, sha string) error {
	key := s.fullKey(rel)
	info, err := s.client.StatObject(ctx, s.loc.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return s.storageError(ctx, "verify "+s.URL(rel), err)
	}
	if info.Size != size {
		return station.Errorf(station.EUNAVAILABLE, "verify %s: the storage holds %d bytes, %d were uploaded", s.URL(rel), info.Size, size)
	}
	if got := metaValue(info.UserMetadata, metaSHA256); got != sha {
		return station.Errorf(station.EUNAVAILABLE, "verify %s: the stored checksum is %q, want %s", s.URL(rel), got, sha)
	}
	if s.sseName != "" {
		if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != s.sseName {
			return station.Errorf(station.EINVALID, "verify %s: the storage applied server-side encryption %q, not %s", s.URL(rel), got, s.sseName)
		}
	}
	h := sha256.New()
	n, err := s.download(ctx, rel, h, size)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha {
		return station.Errorf(station.EUNAVAILABLE, "verify %s: read back %d bytes with SHA-256 %s, uploaded %d bytes with %s", s.URL(rel), n, got, size, sha)
	}
	return nil
}

func metaValue(m map[string]string, name string) string {
	for k, v := range m {
		if strings.EqualFold(k, name) || strings.EqualFold(k, "X-Amz-Meta-"+name) {
			return v
		}
	}
	return ""
}

// download copies the object rel to w, refusing more than max bytes.
func (s *Store) download(ctx context.Context, rel string, w io.Writer, max int64) (int64, error) {
	obj, err := s.client.GetObject(ctx, s.loc.Bucket, s.fullKey(rel), minio.GetObjectOptions{})
	if err != nil {
		return 0, s.storageError(ctx, "download "+s.URL(rel), err)
	}
	defer obj.Close()
	n, err := io.Copy(w, io.LimitReader(obj, max+1))
	if err != nil {
		return n, s.storageError(ctx, "download "+s.URL(rel), err)
	}
	if n > max {
		return n, station.Errorf(station.EINVALID, "download %s: the object is larger than the %d bytes expected", s.URL(rel), max)
	}
	return n, nil
}

// getBytes downloads a small object whole (at most max bytes).
func (s *Store) getBytes(ctx context.Context, rel string, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := s.download(ctx, rel, &buf, max); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// listed is one object of a listing, its name relative to the prefix.
type listed struct {
	Rel  string
	Size int64
}

// list returns the objects (or, when not recursive, the "folders") whose
// names start with rel, in name order.
func (s *Store) list(ctx context.Context, rel string, recursive bool) ([]listed, error) {
	var out []listed
	prefixLen := 0
	if s.loc.Prefix != "" {
		prefixLen = len(s.loc.Prefix) + 1
	}
	for obj := range s.client.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: s.fullKey(rel), Recursive: recursive}) {
		if obj.Err != nil {
			return nil, s.storageError(ctx, "list "+s.URL(rel), obj.Err)
		}
		if len(obj.Key) < prefixLen {
			continue
		}
		out = append(out, listed{Rel: obj.Key[prefixLen:], Size: obj.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, nil
}

// remove deletes the objects named (relative to the prefix).
func (s *Store) remove(ctx context.Context, rels []string) error {
	ch := make(chan minio.ObjectInfo, len(rels))
	for _, r := range rels {
		ch <- minio.ObjectInfo{Key: s.fullKey(r)}
	}
	close(ch)
	for rerr := range s.client.RemoveObjects(ctx, s.loc.Bucket, ch, minio.RemoveObjectsOptions{}) {
		if rerr.Err != nil {
			return s.storageError(ctx, "delete "+s.URL(strings.TrimPrefix(rerr.ObjectName, s.fullKey(""))), rerr.Err)
		}
	}
	return nil
}

// Generations returns the ids of the generations at this location, oldest
// first (whatever their state).
func (s *Store) Generations(ctx context.Context) ([]string, error) {
	objs, err := s.list(ctx, generationsDir, false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		id := strings.TrimSuffix(path.Base(strings.TrimSuffix(o.Rel, "/")), "/")
		if strings.HasSuffix(o.Rel, "/") && ValidGenerationID(id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// maxManifestSize bounds what is read as a manifest or head.json.
const maxManifestSize = 1 << 20

// Manifest reads and checks a generation's manifest. A generation without
// one is incomplete: ENOTFOUND.
func (s *Store) Manifest(ctx context.Context, gen string) (*Manifest, error) {
	rel := genKey(gen, manifestName)
	data, err := s.getBytes(ctx, rel, maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "manifest %s is not valid: %v", s.URL(rel), err)
	}
	if m.Generation != gen {
		return nil, station.Errorf(station.EINVALID, "manifest %s names generation %s, not the one it is in", s.URL(rel), m.Generation)
	}
	return m, nil
}

// Progress reads a generation's head.json; ENOTFOUND when there is none.
func (s *Store) Progress(ctx context.Context, gen string) (*Progress, error) {
	rel := genKey(gen, headName)
	data, err := s.getBytes(ctx, rel, maxManifestSize)
	if err != nil {
		return nil, err
	}
	p, err := decodeProgress(data)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "%s is not valid: %v", s.URL(rel), err)
	}
	if p.Generation != gen {
		return nil, station.Errorf(station.EINVALID, "%s names generation %s, not the one it is in", s.URL(rel), p.Generation)
	}
	return p, nil
}

// Segments lists a generation's segments in seq order. An object in the
// segments folder that is not a segment is an error that names it.
func (s *Store) Segments(ctx context.Context, gen string) ([]Segment, error) {
	objs, err := s.list(ctx, genKey(gen, segmentsDir), true)
	if err != nil {
		return nil, err
	}
	base := genKey(gen, "")
	out := make([]Segment, 0, len(objs))
	for _, o := range objs {
		seg, err := parseSegment(strings.TrimPrefix(o.Rel, base), o.Size)
		if err != nil {
			return nil, station.Errorf(station.EINVALID, "generation %s: %s: %v", gen, s.URL(o.Rel), err)
		}
		out = append(out, seg)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].First != out[j].First {
			return out[i].First < out[j].First
		}
		return out[i].Last > out[j].Last
	})
	return out, nil
}
