package sim

import (
	"bytes"
	"fmt"
	"image"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Field is one field the ZPL interpreter placed on a label.
type Field struct {
	Kind string          // "datamatrix", "code128", "text"
	At   image.Rectangle // where it was drawn, in dots
	// Data is what the field carries after ^FH and barcode escapes: for a GS1
	// DataMatrix or GS1-128 the FNC1 data (GS separators, no leading FNC1),
	// for text the text.
	Data string
	GS1  bool // the symbol starts with FNC1
}

// Label is a label rendered by the ZPL interpreter.
type Label struct {
	Image    *image.Gray // 1 pixel per dot, white background
	Fields   []Field
	Quantity int // ^PQ: copies to print
}

// zplCommand is one ZPL command: its prefix (^ or ~), its two-letter code and
// its parameters (for ^FD, the field data).
type zplCommand struct {
	prefix byte
	code   string
	params string
}

// splitZPL cuts ZPL into commands. Bytes before the first command and the
// CR/LF that hosts put between commands are ignored, as a printer does.
func splitZPL(b []byte) []zplCommand {
	var cmds []zplCommand
	i := 0
	for i < len(b) {
		c := b[i]
		if c != '^' && c != '~' {
			i++
			continue
		}
		if i+3 > len(b) {
			break
		}
		code := strings.ToUpper(string(b[i+1 : i+3]))
		j := i + 3
		for j < len(b) && b[j] != '^' && b[j] != '~' {
			j++
		}
		params := strings.NewReplacer("\r", "", "\n", "").Replace(string(b[i+3 : j]))
		cmds = append(cmds, zplCommand{prefix: c, code: code, params: params})
		i = j
	}
	return cmds
}

// RenderZPL interprets one label format (^XA ... ^XZ) with the subset of ZPL
// that the label templates use: ^XA ^XZ ^CI ^PW ^LL ^LH ^FO ^A ^FH ^FD ^FS
// ^BX (quality 200, escape character parameter) ^BY ^BC (modes N and D) ^PQ.
// Any other command is an error, so that a template using something the
// simulator cannot show fails its test instead of printing a blank label.
func RenderZPL(format []byte) (*Label, error) {
	cmds := splitZPL(format)
	width, height := 812, 1218
	for _, c := range cmds { // the label size comes first
		switch c.code {
		case "PW":
			width = atoiDefault(arg(c.params, 0), width)
		case "LL":
			height = atoiDefault(arg(c.params, 0), height)
		}
	}
	img := image.NewGray(image.Rect(0, 0, width, height))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	lbl := &Label{Image: img, Quantity: 1}
	var (
		home, origin image.Point
		fontH        = 20
		byModule     = 2
		byHeight     = 10
		barcode      zplCommand // pending ^BX or ^BC
		hexInd       byte       // ^FH indicator for the next ^FD, 0 when none
		data         string
		haveData     bool
	)
	for _, c := range cmds {
		if c.prefix == '~' {
			return nil, fmt.Errorf("render zpl: control command ~%s inside a format", c.code)
		}
		switch {
		case c.code == "XA", c.code == "XZ", c.code == "CI", c.code == "PW", c.code == "LL":
		case c.code == "LH":
			home = image.Pt(atoiDefault(arg(c.params, 0), 0), atoiDefault(arg(c.params, 1), 0))
		case c.code == "FO":
			origin = home.Add(image.Pt(atoiDefault(arg(c.params, 0), 0), atoiDefault(arg(c.params, 1), 0)))
		case c.code[0] == 'A':
			fontH = atoiDefault(arg(c.params, 1), fontH)
		case c.code == "BY":
			byModule = atoiDefault(arg(c.params, 0), byModule)
			byHeight = atoiDefault(arg(c.params, 2), byHeight)
		case c.code == "BX", c.code == "BC":
			barcode = c
		case c.code == "FH":
			hexInd = '_'
			if c.params != "" {
				hexInd = c.params[0]
			}
		case c.code == "FD":
			data, haveData = c.params, true
		case c.code == "FS":
			if !haveData {
				return nil, fmt.Errorf("render zpl: ^FS without ^FD")
			}
			raw := data
			if hexInd != 0 {
				var err error
				if raw, err = unhexField(data, hexInd); err != nil {
					return nil, fmt.Errorf("render zpl: field at %v: %w", origin, err)
				}
			}
			var f Field
			var err error
			switch barcode.code {
			case "BX":
				f, err = drawBX(img, origin, barcode.params, raw)
			case "BC":
				f, err = drawBC(img, origin, barcode.params, raw, byModule, byHeight)
			default:
				f = drawText(img, origin, raw, fontH)
			}
			if err != nil {
				return nil, fmt.Errorf("render zpl: field at %v: %w", origin, err)
			}
			lbl.Fields = append(lbl.Fields, f)
			barcode, hexInd, data, haveData = zplCommand{}, 0, "", false
		case c.code == "PQ":
			lbl.Quantity = atoiDefault(arg(c.params, 0), 1)
		default:
			return nil, fmt.Errorf("render zpl: command %c%s is not supported by the simulator", c.prefix, c.code)
		}
	}
	return lbl, nil
}

func arg(params string, i int) string {
	parts := strings.Split(params, ",")
	if i < len(parts) {
		return strings.TrimSpace(parts[i])
	}
	return ""
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// unhexField applies ^FH: ind followed by two hex digits is that byte.
func unhexField(s string, ind byte) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != ind {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("^FH escape %q at offset %d is cut short", s[i:], i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("^FH escape %q at offset %d is not hex", s[i:i+3], i)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// drawBX draws a ^BXo,h,s,c,r,f,g DataMatrix. Quality 200 only; g is the
// escape character (default ~): g1 is FNC1 (GS1 when first, GS elsewhere),
// gg a literal g, gdNNN the byte NNN, g@..g_ control characters.
func drawBX(img *image.Gray, at image.Point, params, data string) (Field, error) {
	if q := arg(params, 2); q != "200" {
		return Field{}, fmt.Errorf("^BX quality %q: only 200 (ECC 200) is supported", q)
	}
	module := atoiDefault(arg(params, 1), 0)
	if module <= 0 {
		return Field{}, fmt.Errorf("^BX module height %q must be a positive number of dots", arg(params, 1))
	}
	esc := byte('~')
	if parts := strings.Split(params, ","); len(parts) > 6 && parts[6] != "" {
		esc = parts[6][0]
	}
	var b strings.Builder
	gs1 := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != esc {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(data) {
			return Field{}, fmt.Errorf("^BX data ends with the escape character %q", esc)
		}
		i++
		switch n := data[i]; {
		case n == esc:
			b.WriteByte(esc)
		case n == '1':
			if b.Len() == 0 && !gs1 {
				gs1 = true
			} else {
				b.WriteByte(gs)
			}
		case n == 'd':
			if i+3 >= len(data) {
				return Field{}, fmt.Errorf("^BX escape %cd needs three digits", esc)
			}
			v, err := strconv.Atoi(data[i+1 : i+4])
			if err != nil || v > 255 {
				return Field{}, fmt.Errorf("^BX escape %cd%s is not a byte value", esc, data[i+1:i+4])
			}
			b.WriteByte(byte(v))
			i += 3
		case n >= '@' && n <= '_':
			b.WriteByte(n - '@')
		default:
			return Field{}, fmt.Errorf("^BX escape %c%c is not supported", esc, n)
		}
	}
	text := b.String()
	m, err := EncodeGS1DataMatrix(text, gs1)
	if err != nil {
		return Field{}, err
	}
	DrawDataMatrix(img, at, m, module)
	r := image.Rectangle{Min: at, Max: at.Add(image.Pt(m.Size.X*module, m.Size.Y*module))}
	return Field{Kind: "datamatrix", At: r, Data: text, GS1: gs1}, nil
}

// drawBC draws a ^BCo,h,f,g,e,m Code 128. Mode D (GS1-128): parentheses and
// spaces are stripped from the data, FNC1 starts the symbol, and the
// interpretation line shows the data as given.
func drawBC(img *image.Gray, at image.Point, params, data string, module, defHeight int) (Field, error) {
	h := atoiDefault(arg(params, 1), defHeight)
	mode := strings.ToUpper(arg(params, 5))
	content, gs1 := data, false
	switch mode {
	case "", "N":
	case "D":
		content = strings.NewReplacer("(", "", ")", "", " ", "").Replace(data)
		gs1 = true
	default:
		return Field{}, fmt.Errorf("^BC mode %q is not supported", mode)
	}
	enc := content
	if gs1 {
		enc = "\u00f1" + content
	}
	bm, err := oned.NewCode128Writer().Encode(enc, gozxing.BarcodeFormat_CODE_128, 0, 1,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 0})
	if err != nil {
		return Field{}, fmt.Errorf("^BC %q: %w", data, err)
	}
	w := bm.GetWidth()
	for x := 0; x < w; x++ {
		if bm.Get(x, 0) {
			fillRect(img, image.Rect(at.X+x*module, at.Y, at.X+(x+1)*module, at.Y+h), 0)
		}
	}
	r := image.Rectangle{Min: at, Max: at.Add(image.Pt(w*module, h))}
	if strings.ToUpper(arg(params, 2)) != "N" { // interpretation line below, by default
		drawText(img, image.Pt(at.X, at.Y+h+4), data, 20)
	}
	return Field{Kind: "code128", At: r, Data: content, GS1: gs1}, nil
}

// drawText draws text with a fixed 7x13 font, scaled by whole pixels to
// roughly the requested height.
func drawText(img *image.Gray, at image.Point, text string, height int) Field {
	scale := max(1, height/13)
	face := basicfont.Face7x13
	w := font.MeasureString(face, text).Ceil()
	small := image.NewGray(image.Rect(0, 0, max(w, 1), 13))
	for i := range small.Pix {
		small.Pix[i] = 0xFF
	}
	d := font.Drawer{Dst: small, Src: image.Black, Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(text)
	for y := 0; y < 13; y++ {
		for x := 0; x < w; x++ {
			if small.Pix[y*small.Stride+x] < 0x80 {
				fillRect(img, image.Rect(at.X+x*scale, at.Y+y*scale, at.X+(x+1)*scale, at.Y+(y+1)*scale), 0)
			}
		}
	}
	return Field{Kind: "text", At: image.Rect(at.X, at.Y, at.X+w*scale, at.Y+13*scale), Data: text}
}

// formats splits a stream of ZPL into its label formats, each from ^XA to
// ^XZ inclusive; the rest (an unfinished format) is returned as tail.
func formats(b []byte) (out [][]byte, tail []byte) {
	for {
		start := indexCmd(b, "XA")
		if start < 0 {
			return out, nil
		}
		end := indexCmd(b[start:], "XZ")
		if end < 0 {
			return out, b[start:]
		}
		out = append(out, b[start:start+end+3])
		b = b[start+end+3:]
	}
}

func indexCmd(b []byte, code string) int {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '^' && bytes.EqualFold(b[i+1:i+3], []byte(code)) {
			return i
		}
	}
	return -1
}
