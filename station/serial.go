package station

import (
	"crypto/rand"
	"fmt"
	"math"
	"strings"
)

// CSET82 is the GS1 character set of AI (21) serials and AI (10) lots:
// the invariant ISO 646 subset GS1 allows in variable-length data.
const CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// MaxSerialDensity is the largest share of a serial space that may ever be
// issued for one GTIN, so that guessing a valid serial stays below 1 in
// 10,000 (EU Delegated Regulation 2016/161 art. 4).
const MaxSerialDensity = 1e-4

// Default serial scheme: 12 random digits-and-capitals, a space of 36^12
// (4.7e18), far beyond any GTIN's lifetime volume.
const (
	DefaultSerialAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	DefaultSerialLength   = 12
)

// SerialScheme says how serials are made for one GTIN.
type SerialScheme struct {
	Alphabet   string `json:"alphabet,omitempty"`   // characters used, all in CSET82, no repeats; default DefaultSerialAlphabet
	Length     int    `json:"length,omitempty"`     // characters per serial, 1..20; default DefaultSerialLength
	Sequential bool   `json:"sequential,omitempty"` // numbers counting up from Start (only where a market allows it); default random
	Start      uint64 `json:"start,omitempty"`      // first sequential number
}

// WithDefaults returns s with empty fields set to the defaults.
func (s SerialScheme) WithDefaults() SerialScheme {
	if s.Alphabet == "" {
		s.Alphabet = DefaultSerialAlphabet
		if s.Sequential {
			s.Alphabet = "0123456789"
		}
	}
	if s.Length == 0 {
		s.Length = DefaultSerialLength
	}
	return s
}

// Validate checks the scheme against the GS1 and regulatory limits.
func (s SerialScheme) Validate() error {
	s = s.WithDefaults()
	if s.Length < 1 || s.Length > 20 {
		return Errorf(EINVALID, "serial length %d is outside 1..20 (AI 21 holds at most 20 characters)", s.Length)
	}
	seen := map[rune]bool{}
	for i, r := range s.Alphabet {
		if !strings.ContainsRune(CSET82, r) {
			return Errorf(EINVALID, "serial alphabet character %q at position %d is not in GS1 character set 82", r, i+1)
		}
		if seen[r] {
			return Errorf(EINVALID, "serial alphabet repeats %q at position %d", r, i+1)
		}
		seen[r] = true
	}
	if len(s.Alphabet) < 2 {
		return Errorf(EINVALID, "serial alphabet needs at least 2 characters, has %d", len(s.Alphabet))
	}
	if s.Sequential && s.Alphabet != "0123456789" {
		return Errorf(EINVALID, "sequential serials are numeric: leave the alphabet empty or set it to 0123456789")
	}
	return nil
}

// Space returns the number of distinct serials the scheme can make, as a
// float (it may exceed 2^64).
func (s SerialScheme) Space() float64 {
	s = s.WithDefaults()
	return math.Pow(float64(len(s.Alphabet)), float64(s.Length))
}

// CheckDensity refuses a request that would bring the serials issued for a
// GTIN to MaxSerialDensity of the space or beyond. issued counts those issued
// before, request those asked for now.
func (s SerialScheme) CheckDensity(issued, request int64) error {
	space := s.Space()
	after := float64(issued + request)
	if after/space >= MaxSerialDensity {
		limit := int64(space * MaxSerialDensity)
		return Errorf(ECONFLICT, "issuing %d more serials would bring this GTIN to %d of a space of %.3g (limit %d, 1 in 10,000): use longer serials or a larger alphabet",
			request, issued+request, space, limit)
	}
	return nil
}

// Random returns one random serial drawn uniformly from the scheme's space
// with crypto/rand. It is not checked against serials issued before: the
// caller (the serial pool) makes sure a serial is never issued twice.
func (s SerialScheme) Random() (string, error) {
	s = s.WithDefaults()
	alpha := []rune(s.Alphabet)
	// Rejection sampling on bytes: a byte is used only below the largest
	// multiple of the alphabet size, so every character is equally likely.
	limit := byte(256 - 256%len(alpha))
	out := make([]rune, 0, s.Length)
	buf := make([]byte, 2*s.Length)
	for len(out) < s.Length {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("draw random serial: %w", err)
		}
		for _, b := range buf {
			if (limit == 0 || b < limit) && len(out) < s.Length {
				out = append(out, alpha[int(b)%len(alpha)])
			}
		}
	}
	return string(out), nil
}

// Nth returns the sequential serial number n (Start + n), zero-padded to the
// scheme's length, or an error when it does not fit.
func (s SerialScheme) Nth(n uint64) (string, error) {
	s = s.WithDefaults()
	v := s.Start + n
	str := fmt.Sprintf("%0*d", s.Length, v)
	if len(str) > s.Length || v < s.Start {
		return "", Errorf(ECONFLICT, "sequential serial %d does not fit in %d digits: the serial space is exhausted", v, s.Length)
	}
	return str, nil
}
