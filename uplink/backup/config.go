// Package backup copies station ledgers to S3-compatible object storage and
// restores them, proven: it is the only importer of minio-go.
//
// A backup location (s3://bucket/prefix) holds one station's ledger as a
// series of generations. A generation is a consistent online snapshot of
// the ledger (SQLite's VACUUM INTO, gzip-compressed) with a manifest
// (station, last seq and hash, time, sizes, SHA-256), followed by the
// journal past the snapshot, shipped incrementally as segments of events
// (JSON lines, gzip, named by seq range and checksum), so that at most one
// shipping interval of events is at risk. Objects can be encrypted on the
// client (AES-256-GCM in chunks, see crypt.go) and server-side encryption is
// passed through. Every upload is retried, multipart when large, and read
// back before it counts; retention deletes old generations only after a
// newer one is verified.
//
// Restore downloads a generation's snapshot and the segments after it,
// checks every checksum and the hash chain, imports the segments, verifies
// the whole ledger and only then moves the file into place.
//
// The ledger itself is reached through the Source and Ledger interfaces
// (implemented over localdb by cmd), never imported.
package backup

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/linestation/linestation/station"
)

// Environment variables read by ApplyEnv.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvRegion          = "AWS_REGION"
	EnvDefaultRegion   = "AWS_DEFAULT_REGION"
	EnvEndpointS3      = "AWS_ENDPOINT_URL_S3"
	EnvEndpoint        = "AWS_ENDPOINT_URL"
	// EnvEncryptionKey holds the client-side encryption key (64 hex digits).
	EnvEncryptionKey = "LINESTATION_BACKUP_KEY"
)

// Server-side encryption modes passed through to the storage.
const (
	SSENone = ""
	SSES3   = "AES256"  // keys managed by the storage (SSE-S3)
	SSEKMS  = "aws:kms" // keys in the storage's KMS (SSE-KMS), with SSEKMSKeyID
)

// Defaults.
const (
	DefaultRegion   = "us-east-1"
	DefaultPartSize = 16 << 20 // bytes per part of a multipart upload
	MinPartSize     = 5 << 20  // the S3 minimum
	DefaultAttempts = 4        // tries of one object upload (each verified)
)

// Config says where backups go and how to reach the storage. cmd fills it
// from the config file, then the flags, then ApplyEnv for what is still
// empty. Secrets are never logged: see LogValue.
type Config struct {
	// URL is the backup location, s3://BUCKET[/PREFIX].
	URL string `toml:"url"`
	// Endpoint is the storage's base URL (http://127.0.0.1:9000 for a
	// local MinIO). Empty: AWS S3 for the region.
	Endpoint string `toml:"endpoint"`
	// Region of the bucket; default us-east-1.
	Region          string `toml:"region"`
	AccessKeyID     string `toml:"access_key_id"`
	SecretAccessKey string `toml:"secret_access_key"`
	SessionToken    string `toml:"session_token"`
	// SSE asks the storage to encrypt objects: "" (none), "AES256" or
	// "aws:kms" (with SSEKMSKeyID).
	SSE         string `toml:"sse"`
	SSEKMSKeyID string `toml:"sse_kms_key_id"`
	// EncryptionKeyFile holds the client-side encryption key (64 hex
	// digits). The key may also come from LINESTATION_BACKUP_KEY. No key:
	// objects are stored unencrypted (unless SSE).
	EncryptionKeyFile string `toml:"encryption_key_file"`
	// PartSize is the part size of multipart uploads, in bytes; objects
	// larger than one part are uploaded in parts, each retried on its own.
	// Default 16 MiB, minimum 5 MiB.
	PartSize int64 `toml:"part_size"`
	// Attempts is how many times one object is uploaded and verified
	// before giving up; default 4. (Each request is also retried by the
	// S3 client itself.)
	Attempts int `toml:"attempts"`

	// Key is the parsed client-side key (from EncryptionKeyFile or the
	// environment), set by ApplyEnv or by the caller.
	Key *Key `toml:"-"`
}

// ApplyEnv fills what is still empty in c from the usual AWS environment
// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL), reads the encryption key from EncryptionKeyFile or
// LINESTATION_BACKUP_KEY, and applies defaults. getenv is os.Getenv in
// production.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	fill := func(dst *string, names ...string) {
		for _, n := range names {
			if *dst == "" {
				*dst = strings.TrimSpace(getenv(n))
			}
		}
	}
	fill(&c.AccessKeyID, EnvAccessKeyID)
	fill(&c.SecretAccessKey, EnvSecretAccessKey)
	fill(&c.SessionToken, EnvSessionToken)
	fill(&c.Region, EnvRegion, EnvDefaultRegion)
	fill(&c.Endpoint, EnvEndpointS3, EnvEndpoint)
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Key == nil {
		switch {
		case c.EncryptionKeyFile != "":
			data, err := os.ReadFile(c.EncryptionKeyFile)
			if err != nil {
				return station.Errorf(station.EINVALID, "read the backup encryption key file %s: %v", c.EncryptionKeyFile, err)
			}
			k, err := ParseKey(string(data))
			if err != nil {
				return fmt.Errorf("key file %s: %w", c.EncryptionKeyFile, err)
			}
			c.Key = k
		case getenv(EnvEncryptionKey) != "":
			k, err := ParseKey(getenv(EnvEncryptionKey))
			if err != nil {
				return fmt.Errorf("%s: %w", EnvEncryptionKey, err)
			}
			c.Key = k
		}
	}
	return nil
}

// Location is a parsed backup URL.
type Location struct {
	Bucket string
	Prefix string // without leading or trailing slash; may be empty
}

// String returns the location as s3://bucket/prefix.
func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseLocation parses s3://BUCKET[/PREFIX].
func ParseLocation(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Location{}, station.Errorf(station.EINVALID, "backup location %q must start with s3:// (s3://BUCKET/PREFIX)", s)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") || net.ParseIP(bucket) != nil {
		return Location{}, station.Errorf(station.EINVALID, "backup location %q: bucket %q is not a valid S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", s, bucket)
	}
	prefix = strings.Trim(prefix, "/")
	for _, part := range strings.Split(prefix, "/") {
		if prefix != "" && (part == "" || part == "." || part == "..") {
			return Location{}, station.Errorf(station.EINVALID, "backup location %q: prefix %q has an empty, '.' or '..' part", s, prefix)
		}
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return Location{}, station.Errorf(station.EINVALID, "backup location %q: the prefix has a control character or backslash", s)
		}
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

// endpoint parses Config.Endpoint into host[:port] and whether to use TLS.
// Empty means AWS S3.
func (c *Config) endpoint() (host string, secure bool, err error) {
	if c.Endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, station.Errorf(station.EINVALID, "endpoint %q must be http(s)://HOST[:PORT] with no path, query or credentials", c.Endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// validate checks what Open needs.
func (c *Config) validate() error {
	switch c.SSE {
	case SSENone, SSES3:
		if c.SSEKMSKeyID != "" {
			return station.Errorf(station.EINVALID, "a KMS key id is set but server-side encryption is %q, not %s", c.SSE, SSEKMS)
		}
	case SSEKMS:
		if c.SSEKMSKeyID == "" {
			return station.Errorf(station.EINVALID, "server-side encryption %s needs a KMS key id", SSEKMS)
		}
	default:
		return station.Errorf(station.EINVALID, "server-side encryption %q is not one of AES256, aws:kms", c.SSE)
	}
	if c.PartSize < MinPartSize || c.PartSize > 5<<30 {
		return station.Errorf(station.EINVALID, "part size %d bytes is outside 5 MiB to 5 GiB", c.PartSize)
	}
	if c.Attempts < 1 || c.Attempts > 100 {
		return station.Errorf(station.EINVALID, "attempts %d is outside 1 to 100", c.Attempts)
	}
	if _, _, err := c.endpoint(); err != nil {
		return err
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return station.Errorf(station.EUNAUTHORIZED, "no storage credentials: give an access key id and secret (config, flags, or %s and %s)", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return nil
}

// LogValue implements slog.LogValuer: the location and endpoint, never a
// secret.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("url", c.URL), slog.String("endpoint", c.Endpoint), slog.String("region", c.Region)}
	if c.SSE != "" {
		attrs = append(attrs, slog.String("sse", c.SSE))
	}
	if c.Key != nil {
		attrs = append(attrs, slog.String("key_id", c.Key.ID()))
	}
	return slog.GroupValue(attrs...)
}

// String describes c without secrets.
func (c Config) String() string {
	return fmt.Sprintf("backup to %s at %s", c.URL, c.Endpoint)
}
