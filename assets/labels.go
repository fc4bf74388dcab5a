package assets

import "embed"

// Labels holds the ZPL label templates as labels/<name>.zpl: Go text/template
// files that devices/zpl fills with a station.Label. Dimensions are in dots
// at 203 dpi (8 dots/mm).
//
//go:embed labels/*.zpl
var Labels embed.FS
