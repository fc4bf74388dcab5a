package locale

import (
	"os"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		name              string
		lcAll, lang, want string
	}{
		{"C", "", "C", Fallback},
		{"CUTF8", "", "C.UTF-8", Fallback},
		{"Empty", "", "", Fallback},
		{"LCAllPOSIX", "POSIX", "de_DE.UTF-8", "de_DE.UTF-8"},
		{"German", "", "de_DE.UTF-8", "de_DE.UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LC_ALL", tt.lcAll)
			t.Setenv("LANG", tt.lang)
			Normalize()
			if got := os.Getenv("LANG"); got != tt.want {
				t.Fatalf("LANG=%q, want %q", got, tt.want)
			}
			if v, ok := os.LookupEnv("LC_ALL"); ok && posix(v) {
				t.Fatalf("LC_ALL=%q is still set to a POSIX locale", v)
			}
		})
	}
}
