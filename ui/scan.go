package ui

import (
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// Scans reach the kiosk two ways: from the serial scanner (station.Scanner,
// read in a goroutine of its own, GS separators kept), and from a
// keyboard-wedge scanner that types into the focused scan field and presses
// Enter (GS usually lost, and repaired where the AI table allows it; see
// gs1.RepairWedge). Either way the scan goes to the screen shown.

// itemNeed is what the kiosk's scans identify: a pack or case by GTIN and
// serial, or a case or pallet by SSCC. It lets a wedge repair prefer the
// reading that names an item.
var itemNeed = [][]string{{"01", "21"}, {"00"}}

// scanInput is one scan as the screens get it.
type scanInput struct {
	raw      string // what was read, control characters shown as "|"
	text     string // the data without symbology identifier (a badge id)
	code     string // the GS1 data in bracketed form for the station; "" when none
	repaired bool   // GS separators were put back
	err      error  // why the data is no GS1 data the station can use
	serial   bool   // from the serial scanner
}

// wedgeInput reads what a keyboard-wedge scanner typed.
func wedgeInput(typed string) scanInput {
	typed = strings.TrimSpace(typed)
	in := scanInput{raw: printable(typed), text: typed}
	r, err := gs1.RepairWedge(typed, itemNeed...)
	if err != nil {
		in.err = err
		return in
	}
	in.code, in.repaired = r.Message.HRI(), r.Repaired
	return in
}

// serialInput reads a frame of the serial scanner.
func serialInput(sc station.Scan) scanInput {
	in := scanInput{raw: printable(sc.Symbology + sc.Data), text: sc.Data, serial: true}
	r, err := gs1.RepairWedge(sc.Symbology+sc.Data, itemNeed...)
	if err != nil {
		in.err = err
		return in
	}
	in.code, in.repaired = r.Message.HRI(), r.Repaired
	return in
}

// printable shows control characters (GS) as "|".
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '|'
		}
		return r
	}, s)
}

// scanned hands a scan to the screen shown.
func (k *Kiosk) scanned(in scanInput) {
	k.touch()
	if k.dlg != nil && k.dlg.scanned(in) {
		return
	}
	if s, ok := k.screens[k.current]; ok {
		s.scanned(in)
	}
}

// newScanField returns the field a keyboard-wedge scanner types into; Enter
// hands the scan to the screen.
func (k *Kiosk) newScanField(placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.OnChanged = func(string) { k.touch() }
	e.OnSubmitted = func(text string) {
		e.SetText("")
		if strings.TrimSpace(text) == "" {
			return
		}
		k.scanned(wedgeInput(text))
	}
	return e
}

// wedgeRune collects characters typed while no field has the focus, so
// that a keyboard-wedge scan is never lost.
func (k *Kiosk) wedgeRune(r rune) {
	if len(k.wedge) < 512 {
		k.wedge = append(k.wedge, r)
	}
}

// wedgeKey ends such a scan on Enter.
func (k *Kiosk) wedgeKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		text := string(k.wedge)
		k.wedge = nil
		if strings.TrimSpace(text) != "" {
			k.scanned(wedgeInput(text))
		}
	case fyne.KeyEscape:
		k.wedge = nil
	}
}

// readScanner reads the serial scanner until Close. A garbled frame asks
// for another scan; a scanner that is gone is retried with backoff (its
// lamp says so).
func (k *Kiosk) readScanner() {
	backoff := 100 * time.Millisecond
	for {
		sc, err := k.d.Scanner.Scan(k.ctx)
		if k.ctx.Err() != nil {
			return
		}
		if err != nil {
			if station.ErrorCode(err) == station.EINVALID {
				problem := sc.Problem
				if problem == "" {
					problem = station.ErrorMessage(err)
				}
				k.do(func() {
					k.say(levelWarn, trf("The scanner sent an incomplete code ({{.Problem}}). Scan it again.", map[string]any{"Problem": problem}))
				})
				continue
			}
			k.logger.Warn("scanner", "error", err)
			select {
			case <-k.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		in := serialInput(sc)
		k.do(func() { k.scanned(in) })
	}
}
