package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
)

func TestLamp_SetHealth(t *testing.T) {
	test.NewTempApp(t)
	l := newLamp("printer")
	var tapped station.Health
	l.OnTapped = func(h station.Health) { tapped = h }
	for _, tt := range []struct {
		state station.DeviceState
		want  any
		text  string
	}{
		{station.DeviceConnected, lampGreen, "OK"},
		{station.DeviceDegraded, lampAmber, "Attention"},
		{station.DeviceFaulted, lampRed, "Fault"},
		{station.DeviceDisconnected, lampRed, "Not connected"},
	} {
		h := station.Health{Device: "printer", State: tt.state, Reason: "reason " + string(tt.state)}
		l.SetHealth(h)
		if got := l.disc.FillColor; got != tt.want {
			t.Errorf("%s: colour %v, want %v", tt.state, got, tt.want)
		}
		if got := l.state.Text; got != tt.text {
			t.Errorf("%s: text %q, want %q", tt.state, got, tt.text)
		}
		test.Tap(l)
		if tapped.Reason != h.Reason {
			t.Errorf("%s: tap gave %q, want the reason %q", tt.state, tapped.Reason, h.Reason)
		}
	}
}

func TestKeypad(t *testing.T) {
	test.NewTempApp(t)
	k := newKeypad(true, 6)
	var got []string
	k.OnEnter = func(d string) { got = append(got, d) }
	for _, key := range []string{"1", "2", "3", "4"} {
		test.Tap(k.keys[key])
	}
	if k.display.Text != "●●●●" {
		t.Fatalf("display %q, want 4 dots (masked)", k.display.Text)
	}
	test.Tap(k.keys["enter"])
	k.Type("98765432") // only 6 digits fit
	test.Tap(k.keys["enter"])
	k.Type("55")
	test.Tap(k.keys["clear"])
	test.Tap(k.keys["enter"])
	if len(got) != 3 || got[0] != "1234" || got[1] != "987654" || got[2] != "" {
		t.Fatalf("entered %q, want [1234 987654 \"\"]", got)
	}
	if k.display.Text != "" {
		t.Fatalf("display %q after enter, want empty", k.display.Text)
	}
}

// TestTranslations_Complete checks that every operator-facing text the ui
// package passes to tr or lang.L has an English and a German translation.
func TestTranslations_Complete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\b(?:tr|trf|lang\.L)\("((?:[^"\\]|\\.)*)"`)
	keys := map[string]string{}
	for _, f := range files {
		if filepath.Ext(f) == ".go" && !regexp.MustCompile(`_test\.go$`).MatchString(f) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(b), -1) {
				keys[m[1]] = f
			}
		}
	}
	if len(keys) < 5 {
		t.Fatalf("found only %d texts: the pattern is broken", len(keys))
	}
	for _, lang := range []string{"en", "de"} {
		b, err := os.ReadFile(filepath.Join("..", "assets", "translations", lang+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var tr map[string]string
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("%s.json: %v", lang, err)
		}
		for k, f := range keys {
			if v, ok := tr[k]; !ok || v == "" {
				t.Errorf("%s.json has no translation of %q (used in %s)", lang, k, f)
			}
		}
	}
}
