package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// kioskTheme is the touch theme of the line station: large text readable at
// a metre, tap targets of at least 12 mm on a 10-15" screen, and high
// contrast on a dark background (glare on a bright packaging hall). It keeps
// Fyne's icons and fonts and changes sizes and a few colours.
type kioskTheme struct {
	base fyne.Theme
}

// newKioskTheme returns the kiosk theme built on Fyne's default theme.
func newKioskTheme() fyne.Theme { return &kioskTheme{base: theme.DefaultTheme()} }

// Sizes in Fyne units (1 unit = 1 px at scale 1; a 15" 1024x768 panel has
// about 85 px per inch, so 12 mm is about 40 units).
const (
	sizeText        = 20 // body text
	sizeHeading     = 32
	sizeSubHeading  = 24
	sizeCaption     = 16
	sizePadding     = 6
	sizeInnerPad    = 14 // makes a one-line button 20 + 2*14 + 2 = 50 units high
	sizeIconInline  = 28
	sizeTapTarget   = 56 // minimum height and width of anything tapped
	sizeCounterText = 56 // the big production counters
)

// Color implements fyne.Theme. The kiosk is always dark with a saturated
// primary colour; error and warning colours are the lamps' red and amber.
func (t *kioskTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNameBackground:
		return color.NRGBA{R: 0x12, G: 0x14, B: 0x18, A: 0xff}
	case theme.ColorNameForeground:
		return color.NRGBA{R: 0xf4, G: 0xf6, B: 0xf8, A: 0xff}
	case theme.ColorNamePrimary:
		return color.NRGBA{R: 0x2f, G: 0x80, B: 0xed, A: 0xff}
	case theme.ColorNameSuccess:
		return lampGreen
	case theme.ColorNameWarning:
		return lampAmber
	case theme.ColorNameError:
		return lampRed
	case theme.ColorNameButton:
		return color.NRGBA{R: 0x2a, G: 0x2f, B: 0x38, A: 0xff}
	case theme.ColorNameInputBackground:
		return color.NRGBA{R: 0x22, G: 0x26, B: 0x2e, A: 0xff}
	}
	return t.base.Color(n, theme.VariantDark)
}

// Font implements fyne.Theme.
func (t *kioskTheme) Font(s fyne.TextStyle) fyne.Resource { return t.base.Font(s) }

// Icon implements fyne.Theme.
func (t *kioskTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.base.Icon(n) }

// Size implements fyne.Theme.
func (t *kioskTheme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return sizeText
	case theme.SizeNameHeadingText:
		return sizeHeading
	case theme.SizeNameSubHeadingText:
		return sizeSubHeading
	case theme.SizeNameCaptionText:
		return sizeCaption
	case theme.SizeNamePadding:
		return sizePadding
	case theme.SizeNameInnerPadding:
		return sizeInnerPad
	case theme.SizeNameInlineIcon:
		return sizeIconInline
	case theme.SizeNameScrollBar:
		return 24 // a scroll bar a gloved finger can drag
	}
	return t.base.Size(n)
}

// Lamp colours: green, amber, red, as on the line's stack lights.
var (
	lampGreen = color.NRGBA{R: 0x2e, G: 0xc2, B: 0x5a, A: 0xff}
	lampAmber = color.NRGBA{R: 0xff, G: 0xb0, B: 0x20, A: 0xff}
	lampRed   = color.NRGBA{R: 0xf0, G: 0x3e, B: 0x3e, A: 0xff}
	lampGrey  = color.NRGBA{R: 0x70, G: 0x76, B: 0x80, A: 0xff}
)

// colorPanel is the background of the top bar and the navigation rail,
// a step lighter than the screen's.
var colorPanel = color.NRGBA{R: 0x1c, G: 0x20, B: 0x27, A: 0xff}
