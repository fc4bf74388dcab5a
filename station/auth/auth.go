// Package auth hashes and checks the PINs and passwords of station users
// with argon2id (RFC 9106), in the PHC string format
// "$argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH" (salt and hash in
// unpadded standard base64). A hash carries its own parameters, so hashes
// made with other costs (older, or the light ones of tests) still verify.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id costs of new hashes.
type Params struct {
	Memory  uint32 // KiB; default 19456 (19 MiB, the OWASP minimum for argon2id)
	Time    uint32 // passes; default 2
	Threads uint8  // lanes; default 1
}

// DefaultParams returns the default costs: about 40 ms per hash on one core
// of a line PC, paid at each sign-in and signature.
func DefaultParams() Params { return Params{Memory: 19456, Time: 2, Threads: 1} }

// withDefaults fills zero fields.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	return p
}

const (
	saltLen = 16
	keyLen  = 32
	// Limits a stored hash may ask for, so that a forged hash cannot make
	// verification exhaust the station's memory or time.
	maxMemory = 1 << 20 // KiB (1 GiB)
	maxTime   = 16
)

// ErrMalformed is returned (wrapped) for a stored hash that is not an
// argon2id PHC string this package can check.
var ErrMalformed = errors.New("malformed argon2id hash")

// Hash returns the PHC string of secret with a fresh random salt.
func Hash(secret string, p Params) (string, error) {
	p = p.withDefaults()
	if p.Memory > maxMemory || p.Time > maxTime {
		return "", fmt.Errorf("hash secret: parameters m=%d t=%d exceed the limits m=%d t=%d", p.Memory, p.Time, maxMemory, maxTime)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash secret: draw salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether secret matches the PHC string hash, comparing in
// constant time. An error means the hash itself is unusable (ErrMalformed).
func Verify(hash, secret string) (bool, error) {
	p, salt, key, err := parse(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// Check returns nil when hash is a well-formed argon2id PHC string within
// the limits, and an error wrapping ErrMalformed saying what is wrong.
func Check(hash string) error {
	_, _, _, err := parse(hash)
	return err
}

func parse(hash string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=..,t=..,p=..$salt$hash", ErrMalformed)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q, want v=%d", ErrMalformed, parts[2], argon2.Version)
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %q", ErrMalformed, kv)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, fmt.Errorf("%w: threads %d", ErrMalformed, n)
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformed, k)
		}
	}
	if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) {
		return p, nil, nil, fmt.Errorf("%w: parameters m=%d t=%d p=%d out of range", ErrMalformed, p.Memory, p.Time, p.Threads)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", ErrMalformed)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: hash", ErrMalformed)
	}
	return p, salt, key, nil
}
