package sim

import (
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing/datamatrix/encoder"
)

// ECC 200 codewords used by the ASCII encodation of GS1 data (ISO/IEC 16022).
const (
	cwPad        = 129 // first padding codeword
	cwDigitPair  = 130 // 130 + nn encodes the digit pair nn
	cwFNC1       = 232 // FNC1: first codeword of a GS1 symbol, and the separator after a variable-length field
	cwUpperShift = 235 // the next codeword is an extended ASCII character (value-128)
)

// gs is the ASCII group separator that stands for FNC1 inside GS1 data.
const gs = 0x1D

// gs1Codewords encodes GS1 data in FNC1 form (element strings joined by GS
// where a variable-length field is followed by another, no leading FNC1) as
// ECC 200 ASCII-encodation data codewords: FNC1 first, every GS as FNC1,
// digit pairs packed into one codeword. ASCII encodation is what GS1 data
// (mostly digits) needs; the text, C40 and base-256 modes are not used.
func gs1Codewords(data string, fnc1 bool) []byte {
	cw := make([]byte, 0, len(data)/2+4)
	if fnc1 {
		cw = append(cw, cwFNC1)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case isDigit(c) && i+1 < len(data) && isDigit(data[i+1]):
			cw = append(cw, byte(cwDigitPair+int(c-'0')*10+int(data[i+1]-'0')))
			i++
		case c == gs && fnc1:
			cw = append(cw, cwFNC1)
		case c < 128:
			cw = append(cw, c+1)
		default:
			cw = append(cw, cwUpperShift, c-128+1)
		}
	}
	return cw
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pad fills cw up to capacity with the ECC 200 padding: 129, then the
// 253-state randomised pad for every further position (1-based).
func pad(cw []byte, capacity int) []byte {
	if len(cw) < capacity {
		cw = append(cw, cwPad)
	}
	for len(cw) < capacity {
		pos := len(cw) + 1
		v := cwPad + (149*pos)%253 + 1
		if v > 254 {
			v -= 254
		}
		cw = append(cw, byte(v))
	}
	return cw
}

// DataMatrix is an encoded ECC 200 symbol: its modules, dark = true.
type DataMatrix struct {
	Size    image.Point // modules across and down, finder pattern included
	modules []bool
}

// Dark reports whether the module at column x, row y is dark.
func (m *DataMatrix) Dark(x, y int) bool { return m.modules[y*m.Size.X+x] }

// EncodeGS1DataMatrix encodes data (GS1 element strings in FNC1 form: GS
// after a variable-length field that is followed by another, no leading
// FNC1) as a square GS1 DataMatrix: FNC1 first, each GS as FNC1. With gs1
// false the data is encoded as a plain ECC 200 symbol (no FNC1), which is how
// a misconfigured printer or coder marks it: readers then report ]d1.
//
// gozxing's DataMatrix writer has no GS1 mode, so the codewords are built
// here (ASCII encodation) and gozxing's exported symbol table, Reed-Solomon
// and module placement do the rest.
func EncodeGS1DataMatrix(data string, gs1 bool) (*DataMatrix, error) {
	if data == "" {
		return nil, fmt.Errorf("encode datamatrix: empty data")
	}
	cw := gs1Codewords(data, gs1)
	info, err := encoder.SymbolInfo_Lookup(len(cw), encoder.SymbolShapeHint_FORCE_SQUARE, nil, nil, true)
	if err != nil {
		return nil, fmt.Errorf("encode datamatrix: %d codewords: %w", len(cw), err)
	}
	cw = pad(cw, info.GetDataCapacity())
	full, err := encoder.ErrorCorrection_EncodeECC200(cw, info)
	if err != nil {
		return nil, fmt.Errorf("encode datamatrix: error correction: %w", err)
	}
	dw, dh := info.GetSymbolDataWidth(), info.GetSymbolDataHeight()
	pl := encoder.NewDefaultPlacement(full, dw, dh)
	pl.Place()

	// Lay the data regions out inside their finder and timing patterns: each
	// region of rw x rh data modules gets a solid left and bottom edge and an
	// alternating top and right edge.
	rw, rh := info.GetMatrixWidth(), info.GetMatrixHeight()
	w, h := info.GetSymbolWidth(), info.GetSymbolHeight()
	m := &DataMatrix{Size: image.Pt(w, h), modules: make([]bool, w*h)}
	set := func(x, y int, v bool) { m.modules[y*w+x] = v }
	for ry := 0; ry < dh/rh; ry++ {
		for rx := 0; rx < dw/rw; rx++ {
			x0, y0 := rx*(rw+2), ry*(rh+2) // top-left module of the region with its border
			for i := 0; i < rw+2; i++ {
				set(x0+i, y0, i%2 == 0)  // top: alternating, starting dark
				set(x0+i, y0+rh+1, true) // bottom: solid
			}
			for j := 0; j < rh+2; j++ {
				set(x0, y0+j, true) // left: solid
				if j > 0 {
					set(x0+rw+1, y0+j, j%2 == 1) // right: alternating
				}
			}
			set(x0+rw+1, y0+rh+1, true)
			for y := 0; y < rh; y++ {
				for x := 0; x < rw; x++ {
					set(x0+1+x, y0+1+y, pl.GetBit(rx*rw+x, ry*rh+y))
				}
			}
		}
	}
	return m, nil
}
