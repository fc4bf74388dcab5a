package zpl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"text/template"

	"github.com/linestation/linestation/assets"
	"github.com/linestation/linestation/station"
)

// Templates renders station.Labels to ZPL from Go text/template files named
// <name>.zpl. Templates get the label as their data (.Data, .Serial,
// .Fields.name) and three functions that escape values for ZPL:
//
//	text   human-readable field data for a field preceded by ^FH (hex
//	       indicator _): _ ^ ~ and control bytes become _XX hex escapes, so
//	       that no value can end the field or start a command.
//	dm     GS1 data for a ^BX ... ,_ DataMatrix field preceded by ^FH\ and
//	       ^FD_1 (FNC1 first): each GS becomes _1 (FNC1), _ becomes __ (the
//	       ^BX escape for a literal underscore), and ^ ~ \ and other control
//	       bytes become \XX hex escapes.
//	digits the value unchanged, after checking that it is all digits (for
//	       ^BC ...,D GS1-128 fields, where the printer adds FNC1 and the
//	       parenthesised human-readable text).
//
// A missing field or an invalid value is an EINVALID error.
type Templates struct {
	fsys fs.FS
	mu   sync.Mutex
	tmpl map[string]*template.Template
}

// NewTemplates reads templates from fsys (files <name>.zpl at its root, or
// under labels/ as in assets.Labels).
func NewTemplates(fsys fs.FS) *Templates {
	return &Templates{fsys: fsys, tmpl: map[string]*template.Template{}}
}

// DefaultTemplates are the templates embedded from assets/labels.
func DefaultTemplates() *Templates { return NewTemplates(assets.Labels) }

var funcs = template.FuncMap{"text": escapeText, "dm": escapeDataMatrix, "digits": checkDigits}

func (t *Templates) lookup(name string) (*template.Template, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, station.Errorf(station.EINVALID, "label template name %q is not valid", name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tt, ok := t.tmpl[name]; ok {
		return tt, nil
	}
	var src []byte
	var err error
	for _, p := range []string{name + ".zpl", path.Join("labels", name+".zpl")} {
		if src, err = fs.ReadFile(t.fsys, p); err == nil {
			break
		}
	}
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "label template %q not found", name)
	}
	tt, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parse label template %s: %w", name, err)
	}
	t.tmpl[name] = tt
	return tt, nil
}

// Render returns the ZPL of l. Line breaks of the template are removed: ZPL
// ignores them, and a format on one line is easier to compare in transcripts.
func (t *Templates) Render(l station.Label) ([]byte, error) {
	tt, err := t.lookup(l.Template)
	if err != nil {
		return nil, err
	}
	if l.Fields == nil {
		l.Fields = map[string]string{}
	}
	var buf bytes.Buffer
	if err := tt.Execute(&buf, l); err != nil {
		var e *station.Error
		if !errors.As(err, &e) {
			e = station.Errorf(station.EINVALID, "label %s (template %s): %s", l.Serial, l.Template, templateMessage(err))
		}
		return nil, fmt.Errorf("render label %s: %w", l.Serial, e)
	}
	out := bytes.ReplaceAll(buf.Bytes(), []byte("\r"), nil)
	out = bytes.ReplaceAll(out, []byte("\n"), nil)
	return out, nil
}

// templateMessage shortens text/template's error to what an operator can use.
func templateMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "map has no entry for key "); i >= 0 {
		return "missing field " + msg[i+len("map has no entry for key "):]
	}
	return msg
}

const hexDigits = "0123456789ABCDEF"

// escapeText escapes a human-readable value for a ^FH field (indicator _).
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == '^' || c == '~' || c < 0x20 || c == 0x7F {
			b.WriteByte('_')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// escapeDataMatrix escapes GS1 FNC1 data for a ^BX field with escape
// character _ preceded by ^FH\ (see Templates).
func escapeDataMatrix(s string) (string, error) {
	if s == "" {
		return "", station.Errorf(station.EINVALID, "the label has no barcode data")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x1D:
			if i == 0 || i == len(s)-1 || s[i-1] == 0x1D {
				return "", station.Errorf(station.EINVALID, "barcode data has a misplaced GS separator at offset %d", i)
			}
			b.WriteString("_1")
		case c == '_':
			b.WriteString("__")
		case c == '^' || c == '~' || c == '\\' || c < 0x20 || c >= 0x7F:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xF])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func checkDigits(s string) (string, error) {
	if s == "" {
		return "", station.Errorf(station.EINVALID, "an empty value where digits are required")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", station.Errorf(station.EINVALID, "%q must be all digits", s)
		}
	}
	return s, nil
}
