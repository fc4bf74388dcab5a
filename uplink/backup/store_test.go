package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/linestation/linestation/station"
)

// objectNames lists every object under the store's prefix.
func objectNames(tb testing.TB, s *Store) []string {
	tb.Helper()
	objs, err := s.list(context.Background(), "", true)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Rel
	}
	return out
}

// getObject reads an object under the prefix with the raw client.
func getObject(tb testing.TB, s *Store, rel string) []byte {
	tb.Helper()
	obj, err := s.client.GetObject(context.Background(), s.loc.Bucket, s.fullKey(rel), minio.GetObjectOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		tb.Fatalf("read %s: %v", rel, err)
	}
	return data
}

// replaceObject overwrites an object with data, keeping its user metadata
// (as bit rot on the storage would).
func replaceObject(tb testing.TB, s *Store, rel string, data []byte) {
	tb.Helper()
	ctx := context.Background()
	info, err := s.client.StatObject(ctx, s.loc.Bucket, s.fullKey(rel), minio.StatObjectOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.client.PutObject(ctx, s.loc.Bucket, s.fullKey(rel), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{UserMetadata: map[string]string{metaSHA256: metaValue(info.UserMetadata, metaSHA256)}}); err != nil {
		tb.Fatal(err)
	}
}

func TestStore_EnsureBucket(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	s := MustStore(t, testConfig(srv, bucketName(t)))
	if err := s.CheckBucket(ctx); station.ErrorCode(err) != station.ENOTFOUND {
		t.Fatalf("check of a missing bucket: %v, want ENOTFOUND", err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.client.BucketExists(ctx, s.loc.Bucket); err != nil || !ok {
		t.Fatalf("bucket exists = %v, %v after EnsureBucket", ok, err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatalf("second EnsureBucket: %v", err)
	}
	if err := s.CheckBucket(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStore_WrongCredentials(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	good := MustStore(t, testConfig(srv, bucketName(t)))
	if err := good.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	db := MustLedger(t, newTestClock())
	MustAppendN(t, db, &workload{}, 20)
	if _, err := NewShipper(good, db).Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"WrongSecret": func(c *Config) { c.SecretAccessKey = "not-the-secret" },
		"UnknownKey":  func(c *Config) { c.AccessKeyID = "nobody" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(srv, good.loc.Bucket)
			mutate(&cfg)
			s := MustStore(t, cfg)
			checks := map[string]error{"EnsureBucket": s.EnsureBucket(ctx)}
			_, checks["Snapshot"] = NewShipper(s, db).Snapshot(ctx)
			_, checks["List"] = s.List(ctx)
			_, checks["Restore"] = Restore(ctx, s, RestoreOptions{Path: filepath.Join(t.TempDir(), "r.db"), Open: openRestored})
			for op, err := range checks {
				if station.ErrorCode(err) != station.EUNAUTHORIZED {
					t.Fatalf("%s with wrong credentials: %v, want EUNAUTHORIZED", op, err)
				}
				msg := station.ErrorMessage(err)
				if !strings.Contains(msg, "refused the credentials") || !strings.Contains(msg, srv.Endpoint) || strings.Contains(err.Error(), cfg.SecretAccessKey) {
					t.Fatalf("%s: message %q should say the credentials were refused at %s, without the secret", op, msg, srv.Endpoint)
				}
			}
		})
	}
	// Nothing was written by the refused attempts: one generation still.
	if gens, err := good.Generations(ctx); err != nil || len(gens) != 1 {
		t.Fatalf("generations = %v, %v; want the one good one", gens, err)
	}
}

// TestShipper_BackupRestore: a snapshot, segments after it, list, and a
// restore that gives back exactly the journal, in the clear and encrypted.
func TestShipper_BackupRestore(t *testing.T) {
	srv := SharedMinIO(t)
	for _, encrypted := range []bool{false, true} {
		name := "Plain"
		if encrypted {
			name = "Encrypted"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(srv, bucketName(t))
			if encrypted {
				cfg.Key = NewKey()
			}
			s := MustStore(t, cfg)
			if err := s.EnsureBucket(ctx); err != nil {
				t.Fatal(err)
			}
			db := MustLedger(t, newTestClock())
			w := &workload{}
			MustAppendN(t, db, w, 1200)
			sh := NewShipper(s, db)
			sh.MaxSegmentEvents = 700
			m, err := sh.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.LastSeq != 1200 || m.Station != testStation || m.Snapshot.Size <= 0 || (m.Encryption != nil) != encrypted {
				t.Fatalf("manifest = %+v, want station %s at seq 1200", m, testStation)
			}
			MustAppendN(t, db, w, 2000)
			st, err := sh.Ship(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Segments != 3 || st.Events != 2000 || st.LastSeq != 3200 {
				t.Fatalf("ship = %+v, want 3 segments of 2000 events up to seq 3200", st)
			}
			if st, err := sh.Ship(ctx); err != nil || st.Segments != 0 {
				t.Fatalf("ship with nothing new = %+v, %v; want nothing", st, err)
			}

			// List shows the generation with its manifest.
			infos, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 1 || infos[0].Manifest == nil || infos[0].Segments != 3 || infos[0].LastSeq != 3200 || infos[0].Gap != "" ||
				infos[0].Progress == nil || infos[0].Progress.LastSeq != 3200 {
				t.Fatalf("list = %+v, want one complete generation to seq 3200 in 3 segments", infos)
			}

			// What is stored does not show the data when encrypted.
			for _, rel := range objectNames(t, s) {
				if !strings.HasSuffix(rel, ".aes") {
					continue
				}
				data := getObject(t, s, rel)
				if bytes.Contains(data, []byte("SQLite format 3")) || bytes.Contains(data, []byte(testGTIN)) {
					t.Fatalf("%s shows plain data", rel)
				}
			}

			path := filepath.Join(t.TempDir(), "restored.db")
			res, err := Restore(ctx, s, RestoreOptions{Path: path, Open: openRestored})
			if err != nil {
				t.Fatal(err)
			}
			if res.Head.Seq != 3200 || res.Segments != 3 || res.Events != 2000 || res.Generation != m.Generation {
				t.Fatalf("restore = %+v, want seq 3200 from 3 segments", res)
			}
			restored := MustLedgerAt(t, path, newTestClock())
			assertSameJournal(t, db, restored, 3200)
			if rep, err := restored.Verify(ctx); err != nil || !rep.OK() {
				t.Fatalf("restored ledger verify = %+v, %v", rep, err)
			}
			// Without the key, an encrypted generation is refused clearly.
			if encrypted {
				cfg.Key = nil
				_, err := Restore(ctx, MustStore(t, cfg), RestoreOptions{Path: filepath.Join(t.TempDir(), "nokey.db"), Open: openRestored})
				if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "is encrypted (key id "+m.Encryption.KeyID) {
					t.Fatalf("restore without the key: %v", err)
				}
				cfg.Key = NewKey()
				_, err = Restore(ctx, MustStore(t, cfg), RestoreOptions{Path: filepath.Join(t.TempDir(), "otherkey.db"), Open: openRestored})
				if station.ErrorCode(err) != station.EUNAUTHORIZED || !strings.Contains(err.Error(), "was encrypted with key id "+m.Encryption.KeyID) {
					t.Fatalf("restore with another key: %v", err)
				}
			}
		})
	}
}

func TestStore_Retain(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	s := MustStore(t, testConfig(srv, bucketName(t)))
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	// An incomplete generation older than all (a snapshot that never
	// finished): deleted once a newer one is verified.
	stale := "20200101T000000.000Z-00000000"
	if err := s.putBytes(ctx, genKey(stale, snapshotName), []byte("partial"), ""); err != nil {
		t.Fatal(err)
	}
	if deleted, err := s.Retain(ctx, 1); err != nil || len(deleted) != 0 {
		t.Fatalf("retain with no verified generation deleted %v, %v; want nothing", deleted, err)
	}
	db := MustLedger(t, newTestClock())
	w := &workload{}
	sh := NewShipper(s, db)
	var gens []string
	for i := 0; i < 4; i++ {
		MustAppendN(t, db, w, 50)
		m, err := sh.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, m.Generation)
		MustAppendN(t, db, w, 10)
		if _, err := sh.Ship(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// An incomplete generation newer than all: may be in progress, kept.
	inProgress := "29990101T000000.000Z-ffffffff"
	if err := s.putBytes(ctx, genKey(inProgress, snapshotName), []byte("uploading"), ""); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.Retain(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{gens[1], gens[0], stale}; !cmp.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	left, err := s.Generations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{gens[2], gens[3], inProgress}; !cmp.Equal(left, want) {
		t.Fatalf("generations left %v, want %v", left, want)
	}
	for _, rel := range objectNames(t, s) {
		if strings.Contains(rel, gens[0]) || strings.Contains(rel, gens[1]) || strings.Contains(rel, stale) {
			t.Fatalf("object %s of a deleted generation is left", rel)
		}
	}
	// The newest complete generation still restores in full.
	res, err := Restore(ctx, s, RestoreOptions{Path: filepath.Join(t.TempDir(), "r.db"), Open: openRestored})
	if err != nil || res.Generation != gens[3] || res.Head.Seq != 240 {
		t.Fatalf("restore after retention = %+v, %v; want generation %s to seq 240", res, err, gens[3])
	}
	if _, err := s.Retain(ctx, 0); station.ErrorCode(err) != station.EINVALID {
		t.Fatalf("retain 0: %v, want EINVALID", err)
	}
}

// TestStore_Multipart: an object larger than a part goes up in parts; a
// part that fails is sent again alone (the upload resumes, it does not
// start over); the object is verified by reading it back.
func TestStore_Multipart(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	target, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	var partPuts, failed atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
			partPuts.Add(1)
			if r.URL.Query().Get("partNumber") == "2" && failed.Add(1) == 1 {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by the test</Message></Error>`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	cfg := testConfig(srv, bucketName(t))
	cfg.Endpoint = proxy.URL
	s := MustStore(t, cfg)
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big")
	data := make([]byte, 2*MinPartSize+12345)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := sha256.Sum256(data)
	if err := s.put(ctx, "big.bin", f, int64(len(data)), hex.EncodeToString(sum[:]), ""); err != nil {
		t.Fatal(err)
	}
	if got := partPuts.Load(); got != 4 {
		t.Fatalf("%d part uploads, want 4: three parts and the failed one again", got)
	}
	info, err := s.client.StatObject(ctx, s.loc.Bucket, s.fullKey("big.bin"), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, "-3") || info.Size != int64(len(data)) {
		t.Fatalf("etag %q size %d, want a 3-part upload of %d bytes", info.ETag, info.Size, len(data))
	}
	if got := getObject(t, s, "big.bin"); !bytes.Equal(got, data) {
		t.Fatal("the multipart object differs from the file")
	}
	if st := s.Stats(); st.Bytes != int64(len(data)) || st.Objects != 1 || st.Retries != 0 {
		t.Fatalf("stats = %+v: the part was retried inside the upload, not the whole object", st)
	}
}

// faultProxy is an HTTP proxy in front of MinIO that fails the first PUT of
// a segment with 503 and flips a byte in the body of the second, on the
// wire, after the client signed it.
type faultProxy struct {
	srv      *httptest.Server
	puts     atomic.Int32
	failed   atomic.Int32
	corrupts atomic.Int32
}

func newFaultProxy(tb testing.TB, target string) *faultProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	p := &faultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/segments/") {
			switch p.puts.Add(1) {
			case 1:
				p.failed.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by the test</Message></Error>`)
				return
			case 2:
				body, _ := io.ReadAll(r.Body)
				if len(body) > 0 {
					body[len(body)/2] ^= 0x40
					p.corrupts.Add(1)
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(p.srv.Close)
	return p
}

func TestStore_Retry(t *testing.T) {
	srv := SharedMinIO(t)
	ctx := context.Background()
	proxy := newFaultProxy(t, srv.Endpoint)
	cfg := testConfig(srv, bucketName(t))
	cfg.Endpoint = proxy.srv.URL
	s := MustStore(t, cfg)
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	db := MustLedger(t, newTestClock())
	w := &workload{}
	sh := NewShipper(s, db)
	if _, err := sh.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	MustAppendN(t, db, w, 300)
	st, err := sh.Ship(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments != 1 || proxy.failed.Load() != 1 || proxy.corrupts.Load() != 1 {
		t.Fatalf("ship = %+v; the proxy failed %d and corrupted %d PUTs, want 1 and 1", st, proxy.failed.Load(), proxy.corrupts.Load())
	}
	if s.Stats().Retries < 1 {
		t.Fatalf("stats = %+v, want at least one retry", s.Stats())
	}
	res, err := Restore(ctx, s, RestoreOptions{Path: filepath.Join(t.TempDir(), "r.db"), Open: openRestored})
	if err != nil || res.Head.Seq != 300 {
		t.Fatalf("restore = %+v, %v; want seq 300", res, err)
	}
}

// TestStore_ServerSideEncryption: SSE-S3 is asked for, applied by the
// server (MinIO with a KMS key) and checked on every upload.
func TestStore_ServerSideEncryption(t *testing.T) {
	kmsKey := make([]byte, 32)
	_, _ = rand.Read(kmsKey)
	srv := MustMinIO(t, "MINIO_KMS_SECRET_KEY=linestation-test-key:"+base64.StdEncoding.EncodeToString(kmsKey))
	ctx := context.Background()
	cfg := testConfig(srv, bucketName(t))
	cfg.SSE = SSES3
	s := MustStore(t, cfg)
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	db := MustLedger(t, newTestClock())
	MustAppendN(t, db, &workload{}, 100)
	sh := NewShipper(s, db)
	m, err := sh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.ServerSideEncryption != SSES3 {
		t.Fatalf("manifest sse = %q", m.ServerSideEncryption)
	}
	info, err := s.client.StatObject(ctx, s.loc.Bucket, s.fullKey(genKey(m.Generation, snapshotName)), minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != SSES3 {
		t.Fatalf("stored snapshot sse = %q, want %s", got, SSES3)
	}
	if res, err := Restore(ctx, s, RestoreOptions{Path: filepath.Join(t.TempDir(), "r.db"), Open: openRestored}); err != nil || res.Head.Seq != 100 {
		t.Fatalf("restore = %+v, %v", res, err)
	}
}
