package station_test

import (
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

func TestSerialScheme_Validate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		scheme station.SerialScheme
		err    string
	}{
		{"Default", station.SerialScheme{}, ""},
		{"SequentialDefault", station.SerialScheme{Sequential: true, Length: 10}, ""},
		{"TooLong", station.SerialScheme{Length: 21}, "serial length 21 is outside 1..20"},
		{"NotCSET82", station.SerialScheme{Alphabet: "AB#"}, `character '#' at position 3 is not in GS1 character set 82`},
		{"Repeat", station.SerialScheme{Alphabet: "ABA"}, `repeats 'A' at position 3`},
		{"OneChar", station.SerialScheme{Alphabet: "A"}, "at least 2 characters"},
		{"SequentialAlpha", station.SerialScheme{Sequential: true, Alphabet: "AB"}, "sequential serials are numeric"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.scheme.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate()=%v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || station.ErrorCode(err) != station.EINVALID {
				t.Fatalf("Validate()=%v, want EINVALID containing %q", err, tt.err)
			}
		})
	}
}

func TestSerialScheme_CheckDensity(t *testing.T) {
	six := station.SerialScheme{Alphabet: "0123456789", Length: 6} // space 1e6: at most 99 serials
	if err := six.CheckDensity(90, 9); err != nil {
		t.Fatalf("99 of 1e6: %v, want nil", err)
	}
	err := six.CheckDensity(90, 10)
	if station.ErrorCode(err) != station.ECONFLICT || !strings.Contains(err.Error(), "limit 100") {
		t.Fatalf("100 of 1e6: %v, want ECONFLICT naming the limit", err)
	}
	if err := (station.SerialScheme{}).CheckDensity(1e9, 1e6); err != nil {
		t.Fatalf("default scheme, a billion serials: %v, want nil", err)
	}
}

func TestSerialScheme_Random(t *testing.T) {
	s := station.SerialScheme{}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		v, err := s.Random()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != station.DefaultSerialLength || strings.Trim(v, station.DefaultSerialAlphabet) != "" {
			t.Fatalf("serial %q is not %d characters of the default alphabet", v, station.DefaultSerialLength)
		}
		if seen[v] {
			t.Fatalf("serial %q drawn twice in 1000 draws from 4.7e18", v)
		}
		seen[v] = true
	}

	// Every character equally likely: 20,000 one-character draws from a
	// 3-character alphabet land within 10 standard deviations of 1/3 each.
	counts := map[string]int{}
	three := station.SerialScheme{Alphabet: "XYZ", Length: 1}
	for i := 0; i < 20000; i++ {
		v, _ := three.Random()
		counts[v]++
	}
	for _, c := range []string{"X", "Y", "Z"} {
		if n := counts[c]; n < 6667-667 || n > 6667+667 {
			t.Fatalf("character %s drawn %d times of 20000, want about 6667 (counts %v)", c, n, counts)
		}
	}
}

func TestSerialScheme_Nth(t *testing.T) {
	s := station.SerialScheme{Sequential: true, Length: 4, Start: 9990}
	if got, err := s.Nth(5); err != nil || got != "9995" {
		t.Fatalf("Nth(5)=%q, %v, want 9995", got, err)
	}
	if _, err := s.Nth(10); station.ErrorCode(err) != station.ECONFLICT {
		t.Fatalf("Nth(10)=%v, want ECONFLICT: 10000 does not fit in 4 digits", err)
	}
	if got, _ := (station.SerialScheme{Sequential: true, Length: 6}).Nth(42); got != "000042" {
		t.Fatalf("Nth(42)=%q, want zero-padded 000042", got)
	}
}
