package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/linestation/linestation/station"
)

func TestKiosk_Idle(t *testing.T) {
	a := test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	k := New(a, w)
	w.SetContent(k.Content())
	w.Resize(fyne.NewSize(1024, 768))

	if got, want := k.title.Text, station.AppName; got != want {
		t.Fatalf("title=%q, want %q", got, want)
	}
	if got, want := k.order.Text, "No order loaded"; got != want {
		t.Fatalf("order=%q, want %q", got, want)
	}
	test.AssertRendersToMarkup(t, "kiosk/idle.xml", w.Canvas())
}

func TestKiosk_German(t *testing.T) {
	t.Setenv("LANGUAGE", "de")
	a := test.NewTempApp(t)
	w := test.NewTempWindow(t, nil)
	k := New(a, w)
	t.Cleanup(func() {
		// Put the process back to English for the other tests.
		t.Setenv("LANGUAGE", "en")
		New(a, w)
	})
	if got, want := k.order.Text, "Kein Auftrag geladen"; got != want {
		t.Fatalf("order=%q, want %q", got, want)
	}
}
