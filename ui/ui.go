// Package ui is the kiosk: the Fyne screens an operator, a packer or a
// supervisor uses at a line or warehouse station, the touch theme and the
// glue from widgets to station calls. It talks to the station package only
// and never imports fyne.io/fyne/v2/app, so its tests run on Fyne's test
// driver without a display.
package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/assets"
	"github.com/linestation/linestation/station"
)

// Kiosk is the station app's root: it owns the window's content.
type Kiosk struct {
	app    fyne.App
	window fyne.Window

	title   *canvas.Text
	version *widget.Label
	order   *widget.Label
}

// New builds the kiosk for the given app and window.
func New(a fyne.App, w fyne.Window) *Kiosk {
	if err := lang.AddTranslationsFS(assets.Translations, "translations"); err != nil {
		fyne.LogError("load the kiosk's translations", err)
	}
	a.Settings().SetTheme(newKioskTheme())
	k := &Kiosk{app: a, window: w}
	k.title = canvas.NewText(station.AppName, theme.Color(theme.ColorNameForeground))
	k.title.TextSize = 48
	k.title.TextStyle.Bold = true
	k.title.Alignment = fyne.TextAlignCenter
	k.version = widget.NewLabelWithStyle(lang.L("Version {{.Version}}", map[string]any{"Version": station.Version}), fyne.TextAlignCenter, fyne.TextStyle{})
	k.order = widget.NewLabelWithStyle(lang.L("No order loaded"), fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	return k
}

// Content returns the object to set as the window's content.
func (k *Kiosk) Content() fyne.CanvasObject {
	return container.NewCenter(container.NewVBox(k.title, k.version, k.order))
}

// tr translates an operator-facing text through Fyne's lang package; the
// text itself is the key (assets/translations/*.json).
func tr(text string) string { return lang.L(text) }
