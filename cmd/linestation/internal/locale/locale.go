// Package locale gives the process a usable locale before Fyne reads it.
//
// Fyne's lang package reads the locale from the environment when it is
// initialised and logs an error for the POSIX "C" locale that servers and
// containers often run with. Go initialises packages that do not depend on
// each other in import-path order, and this package (which imports only the
// standard library) sorts and initialises before fyne.io/fyne/v2/lang's own
// dependencies are ready, so its init runs first. It is the program's only
// init function, and it only fills in a locale where there is none.
package locale

import (
	"os"
	"strings"
)

// Fallback is the locale used when the environment names none or "C".
const Fallback = "en_US.UTF-8"

func init() { Normalize() }

// Normalize replaces a missing or POSIX locale in the environment with
// Fallback, and leaves a real one (de_DE.UTF-8, ...) alone.
func Normalize() {
	for _, key := range []string{"LC_ALL", "LC_MESSAGES"} {
		if v, ok := os.LookupEnv(key); ok && posix(v) {
			os.Unsetenv(key)
		}
	}
	if posix(os.Getenv("LANG")) {
		os.Setenv("LANG", Fallback)
	}
}

// posix reports whether v names no locale or the POSIX one ("C", "POSIX",
// "C.UTF-8", ...).
func posix(v string) bool {
	base, _, _ := strings.Cut(v, ".")
	return base == "" || base == "C" || base == "POSIX"
}
