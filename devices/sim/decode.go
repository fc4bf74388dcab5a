package sim

import (
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
)

// Decoded is what a barcode reader made of an image.
type Decoded struct {
	Symbology string // AIM symbology identifier: "]d2" GS1 DataMatrix, "]d1" plain DataMatrix, "]C1" GS1-128
	Text      string // decoded data; for GS1 symbols the FNC1 data with GS separators and no leading GS
}

// RenderDataMatrix draws m on a white image, module pixels per module, with
// a quiet zone of quiet modules on every side.
func RenderDataMatrix(m *DataMatrix, module, quiet int) *image.Gray {
	w := (m.Size.X + 2*quiet) * module
	h := (m.Size.Y + 2*quiet) * module
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	DrawDataMatrix(img, image.Pt(quiet*module, quiet*module), m, module)
	return img
}

// DrawDataMatrix draws m on img with its top-left corner at at.
func DrawDataMatrix(img *image.Gray, at image.Point, m *DataMatrix, module int) {
	for y := 0; y < m.Size.Y; y++ {
		for x := 0; x < m.Size.X; x++ {
			if m.Dark(x, y) {
				fillRect(img, image.Rect(at.X+x*module, at.Y+y*module, at.X+(x+1)*module, at.Y+(y+1)*module), 0)
			}
		}
	}
}

func fillRect(img *image.Gray, r image.Rectangle, v uint8) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[(y-img.Rect.Min.Y)*img.Stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			row[x-img.Rect.Min.X] = v
		}
	}
}

func bitmap(img *image.Gray) (*gozxing.BinaryBitmap, error) {
	b := img.Bounds()
	src, err := gozxing.NewPlanarYUVLuminanceSource(img.Pix, img.Stride, b.Dy(), 0, 0, b.Dx(), b.Dy(), false)
	if err != nil {
		return nil, fmt.Errorf("luminance source: %w", err)
	}
	return gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
}

// DecodeDataMatrix finds and decodes the DataMatrix symbol in img with
// gozxing's detector, as a camera would.
func DecodeDataMatrix(img *image.Gray) (Decoded, error) {
	bmp, err := bitmap(img)
	if err != nil {
		return Decoded{}, fmt.Errorf("decode datamatrix: %w", err)
	}
	res, err := datamatrix.NewDataMatrixReader().Decode(bmp, nil)
	if err != nil {
		return Decoded{}, fmt.Errorf("decode datamatrix: %w", err)
	}
	return decoded(res), nil
}

// DecodeCode128 decodes the Code 128 symbol in img; a GS1-128 symbol reports ]C1.
func DecodeCode128(img *image.Gray) (Decoded, error) {
	bmp, err := bitmap(img)
	if err != nil {
		return Decoded{}, fmt.Errorf("decode code 128: %w", err)
	}
	res, err := oned.NewCode128Reader().Decode(bmp, nil)
	if err != nil {
		return Decoded{}, fmt.Errorf("decode code 128: %w", err)
	}
	return decoded(res), nil
}

func decoded(res *gozxing.Result) Decoded {
	d := Decoded{Text: res.GetText()}
	if v, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string); ok {
		d.Symbology = v
	}
	if (d.Symbology == "]d2" || d.Symbology == "]C1") && len(d.Text) > 0 && d.Text[0] == gs {
		d.Text = d.Text[1:]
	}
	return d
}
