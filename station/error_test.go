package station_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

func TestErrorCode(t *testing.T) {
	wrapped := fmt.Errorf("print label: %w", station.Errorf(station.EDEVICE, "printer %s is out of ribbon", "P1"))
	for _, tt := range []struct {
		name     string
		err      error
		code     string
		contains string
	}{
		{"Nil", nil, "", ""},
		{"Domain", wrapped, station.EDEVICE, "printer P1 is out of ribbon"},
		{"Other", errors.New("disk on fire"), station.EINTERNAL, "Internal error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := station.ErrorCode(tt.err), tt.code; got != want {
				t.Fatalf("ErrorCode=%q, want %q", got, want)
			}
			if got := station.ErrorMessage(tt.err); tt.contains != "" && !strings.Contains(got, tt.contains) {
				t.Fatalf("ErrorMessage=%q, want it to contain %q", got, tt.contains)
			}
		})
	}
}
