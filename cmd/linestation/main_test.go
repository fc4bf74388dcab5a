package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/linestation/linestation/station"
)

// run runs the program in-process and returns its exit status and output.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRun_Version(t *testing.T) {
	code, out, _ := run(t, "", "version")
	if code != exitOK {
		t.Fatalf("exit=%d, want %d", code, exitOK)
	}
	if got, want := out, station.AppName+" "+station.Version+"\n"; got != want {
		t.Fatalf("stdout=%q, want %q", got, want)
	}
}

func TestRun_Help(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, _ := run(t, "", args...)
		if code != exitOK {
			t.Fatalf("%v: exit=%d, want 0", args, code)
		}
		for _, cmd := range []string{"kiosk", "gs1", "epcis", "ledger", "sim", "version"} {
			if !strings.Contains(out, "\n  "+cmd+" ") {
				t.Fatalf("%v: usage does not list %q:\n%s", args, cmd, out)
			}
		}
	}
}

func TestRun_Usage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownCommand", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"VersionArgs", []string{"version", "extra"}, "version takes no arguments"},
		{"UnknownFlag", []string{"version", "--nope"}, "flag provided but not defined: -nope"},
		{"KioskArgs", []string{"kiosk", "extra"}, "kiosk takes no arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tt.args...)
			if code != exitUsage {
				t.Fatalf("exit=%d, want %d (stderr %q)", code, exitUsage, errOut)
			}
			if out != "" {
				t.Fatalf("stdout=%q, want nothing", out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Fatalf("stderr=%q, want it to contain %q", errOut, tt.want)
			}
		})
	}
}

func TestRun_CommandHelp(t *testing.T) {
	code, out, errOut := run(t, "", "version", "--help")
	if code != exitOK {
		t.Fatalf("exit=%d, want 0", code)
	}
	if !strings.HasPrefix(out, "Usage: linestation version") || errOut != "" {
		t.Fatalf("stdout=%q stderr=%q, want the usage on stdout only", out, errOut)
	}
}
