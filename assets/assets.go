// Package assets holds the files embedded in the binary: the app icon, the
// operator-facing translations, and label templates.
package assets

import (
	"embed"
	_ "embed"
)

// Icon is the app icon (PNG), as named in FyneApp.toml.
//
//go:embed icon.png
var Icon []byte

// Translations holds one JSON file per language (translations/en.json,
// translations/de.json, ...) in the format of fyne.io/fyne/v2/lang: the key is
// the English text passed to lang.L, the value the translated text.
//
//go:embed translations/*.json
var Translations embed.FS
