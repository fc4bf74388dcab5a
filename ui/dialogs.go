package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// fieldSpec is one text field of a dialog.
type fieldSpec struct {
	key, label, placeholder, value string
	// scan fills the field from the scanner: a scan while the dialog is
	// open goes to the first empty scan field.
	scan bool
}

// dialogSpec describes a modal dialog: a title, lines of text, fields,
// choices, and optionally the PIN keypad (whose Enter key is then the OK
// button).
type dialogSpec struct {
	title   string
	lines   []string
	fields  []fieldSpec
	choices []choiceSpec
	pin     bool
	okText  string
	danger  bool // the action destroys or removes something
	cancel  bool // offer Cancel
	onOK    func(d *dialog)
}

// choiceSpec is a set of big buttons of which one is chosen.
type choiceSpec struct {
	key, label string
	options    []string // values
	names      []string // what the buttons say, one per option
	value      string   // chosen at first
}

// dialog is a modal dialog shown by the kiosk; its widgets are fields so
// that tests can reach them.
type dialog struct {
	k       *Kiosk
	title   *widget.Label
	lines   []*widget.Label
	fields  map[string]*widget.Entry
	choices map[string]*choice
	keypad  *keypad
	ok      *widget.Button
	cancel  *widget.Button
	err     *widget.Label
	popup   *widget.PopUp
	pin     string   // the PIN typed when the keypad's Enter was pressed
	scans   []string // keys of the fields a scan fills, in order
}

// scanned puts a scan into the first empty scan field; it reports whether
// the dialog took it.
func (d *dialog) scanned(in scanInput) bool {
	for _, key := range d.scans {
		e := d.fields[key]
		if e.Text != "" {
			continue
		}
		if in.err != nil {
			d.showError(explain(in.err))
			return true
		}
		e.SetText(in.code)
		return true
	}
	return false
}

// value returns a field's text or a choice's value.
func (d *dialog) value(key string) string {
	if e, ok := d.fields[key]; ok {
		return e.Text
	}
	if c, ok := d.choices[key]; ok {
		return c.value
	}
	return ""
}

// showError shows why the dialog's action failed and lets the user retry.
func (d *dialog) showError(text string) {
	d.err.SetText(text)
	d.err.Show()
	d.setWaiting(false)
}

// setWaiting disables the dialog's buttons while its action runs.
func (d *dialog) setWaiting(w bool) {
	for _, b := range []*widget.Button{d.ok, d.cancel} {
		if b == nil {
			continue
		}
		if w {
			b.Disable()
		} else {
			b.Enable()
		}
	}
	if d.keypad != nil {
		if w {
			d.keypad.keys["enter"].Disable()
		} else {
			d.keypad.keys["enter"].Enable()
		}
	}
}

// close hides the dialog if it is still the one shown.
func (d *dialog) close() {
	if d.k.dlg == d {
		d.k.dlg = nil
		d.k.closePopup()
	}
}

// openDialog shows a modal dialog.
func (k *Kiosk) openDialog(s dialogSpec) *dialog {
	k.touch()
	d := &dialog{k: k, fields: map[string]*widget.Entry{}, choices: map[string]*choice{}}
	d.title = widget.NewLabelWithStyle(s.title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	d.title.Wrapping = fyne.TextWrapWord
	box := container.NewVBox(d.title)
	for _, l := range s.lines {
		lbl := widget.NewLabel(l)
		lbl.Wrapping = fyne.TextWrapWord
		d.lines = append(d.lines, lbl)
		box.Add(lbl)
	}
	form := container.New(layout.NewFormLayout())
	for _, f := range s.fields {
		e := widget.NewEntry()
		e.SetPlaceHolder(f.placeholder)
		e.SetText(f.value)
		e.OnChanged = func(string) { k.touch() }
		d.fields[f.key] = e
		if f.scan {
			d.scans = append(d.scans, f.key)
			e.OnSubmitted = func(text string) {
				if in := wedgeInput(text); in.err == nil {
					e.SetText(in.code)
				} else {
					d.showError(explain(in.err))
				}
			}
		}
		form.Add(widget.NewLabel(f.label))
		form.Add(e)
	}
	for _, c := range s.choices {
		ch := newChoice(c.options, c.names, c.value, func(string) { k.touch() })
		d.choices[c.key] = ch
		form.Add(widget.NewLabel(c.label))
		form.Add(ch.box)
	}
	if len(form.Objects) > 0 {
		box.Add(form)
	}
	d.err = widget.NewLabel("")
	d.err.Importance = widget.DangerImportance
	d.err.Wrapping = fyne.TextWrapWord
	d.err.Hide()
	box.Add(d.err)
	ok := s.okText
	if ok == "" {
		ok = tr("OK")
	}
	run := func() {
		k.touch()
		d.err.Hide()
		if s.onOK != nil {
			s.onOK(d)
		} else {
			d.close()
		}
	}
	var buttons []fyne.CanvasObject
	if s.cancel {
		d.cancel = widget.NewButtonWithIcon(tr("Cancel"), theme.CancelIcon(), func() { k.touch(); d.close() })
		buttons = append(buttons, d.cancel)
	}
	if s.pin {
		d.keypad = newKeypad(true, 12)
		d.keypad.keys["enter"].SetText(ok)
		d.keypad.OnEnter = func(digits string) {
			d.pin = digits
			run()
		}
		box.Add(widget.NewLabel(tr("PIN")))
		box.Add(container.NewCenter(d.keypad))
	} else {
		d.ok = widget.NewButtonWithIcon(ok, theme.ConfirmIcon(), run)
		d.ok.Importance = widget.HighImportance
		if s.danger {
			d.ok.Importance = widget.DangerImportance
		}
		buttons = append(buttons, d.ok)
	}
	if len(buttons) > 0 {
		box.Add(container.NewGridWithColumns(len(buttons), buttons...))
	}
	size := k.window.Canvas().Size()
	w := min(max(size.Width*0.6, 560), size.Width-40)
	scroll := container.NewVScroll(box)
	scroll.SetMinSize(fyne.NewSize(w, min(box.MinSize().Height, size.Height-80)))
	d.popup = k.showPopup(scroll)
	k.dlg = d
	if len(s.fields) > 0 {
		k.window.Canvas().Focus(d.fields[s.fields[0].key])
	}
	return d
}

// info shows a message with a Close button.
func (k *Kiosk) info(title string, lines ...string) *dialog {
	return k.openDialog(dialogSpec{title: title, lines: lines, okText: tr("Close")})
}

// confirm asks before an action; yes runs when the user confirms.
func (k *Kiosk) confirm(title string, lines []string, okText string, danger bool, yes func()) *dialog {
	return k.openDialog(dialogSpec{title: title, lines: lines, okText: okText, danger: danger, cancel: true,
		onOK: func(d *dialog) { d.close(); yes() }})
}

// signSpec is what an electronic signature dialog asks for.
type signSpec struct {
	subject string          // what is signed, in words
	meaning station.Meaning // what the signature means
	signer  string          // proposed signer (may be changed)
	reason  string          // proposed reason
	lines   []string        // what the signer reviews
	// sign runs the signed action with the request; it reports the error
	// to show in the dialog (wrong PIN, ...), or nil when done.
	sign func(req *station.SignRequest, done func(error))
}

// signDialog asks for an electronic signature (21 CFR Part 11): the
// signer identifies again with user id and PIN, sees what the signature
// means, and gives a reason. The action runs with the signature; a wrong
// PIN keeps the dialog open with the station's message.
func (k *Kiosk) signDialog(s signSpec) *dialog {
	lines := append([]string{
		s.subject,
		trf("Meaning of this signature: {{.Meaning}}", map[string]any{"Meaning": meaningName(s.meaning)}),
	}, s.lines...)
	return k.openDialog(dialogSpec{
		title:  tr("Electronic signature"),
		lines:  lines,
		fields: []fieldSpec{{key: "user", label: tr("Signed by (user id)"), value: s.signer}, {key: "reason", label: tr("Reason"), value: s.reason, placeholder: tr("Why you sign")}},
		pin:    true,
		cancel: true,
		okText: tr("Sign"),
		onOK: func(d *dialog) {
			req := &station.SignRequest{User: d.value("user"), Secret: d.pin, Meaning: s.meaning, Reason: d.value("reason")}
			if req.User == "" || req.Reason == "" {
				d.showError(tr("Give the signer's user id, a reason and the PIN."))
				return
			}
			d.setWaiting(true)
			s.sign(req, func(err error) {
				if err != nil {
					d.showError(explain(err))
					return
				}
				d.close()
			})
		},
	})
}

// askExit asks for an administrator's id and PIN before the kiosk closes:
// there is no way out of kiosk mode without them.
func (k *Kiosk) askExit() {
	k.openDialog(dialogSpec{
		title:  tr("Leave kiosk mode"),
		lines:  []string{tr("Only an administrator can close the station app. Enter your user id and PIN.")},
		fields: []fieldSpec{{key: "user", label: tr("Administrator (user id)")}},
		pin:    true,
		cancel: true,
		okText: tr("Exit"),
		onOK: func(d *dialog) {
			id, pin := d.value("user"), d.pin
			d.setWaiting(true)
			async(k, nil, "sign in", func(ctx context.Context) (station.Session, error) {
				return k.svc.SignIn(ctx, id, "", pin)
			}, func(s station.Session, err error) {
				switch {
				case err != nil:
					d.showError(explain(err))
				case !s.User.Has(station.RoleAdmin):
					d.showError(tr("Only an administrator may close the station app."))
				default:
					k.logger.Info("kiosk closed by administrator", "user", s.User.ID)
					d.close()
					k.d.Quit()
				}
			})
		},
	})
}

// choice is a row of big buttons of which one is chosen (a touch-friendly
// radio group).
type choice struct {
	box     *fyne.Container
	buttons map[string]*widget.Button
	value   string
	changed func(string)
}

func newChoice(options, names []string, value string, changed func(string)) *choice {
	c := &choice{buttons: map[string]*widget.Button{}, changed: changed}
	// All buttons as wide as the widest name needs (170 at least), so that
	// no name is cut off, in any language.
	width := float32(170)
	var buttons []fyne.CanvasObject
	for i, o := range options {
		v := o
		name := o
		if i < len(names) {
			name = names[i]
		}
		b := widget.NewButton(name, func() { c.set(v) })
		c.buttons[o] = b
		buttons = append(buttons, b)
		width = max(width, b.MinSize().Width)
	}
	c.box = container.NewGridWrap(fyne.NewSize(width, sizeTapTarget), buttons...)
	c.set(value)
	return c
}

// set chooses v.
func (c *choice) set(v string) {
	c.value = v
	for o, b := range c.buttons {
		if o == v {
			b.Importance = widget.HighImportance
		} else {
			b.Importance = widget.MediumImportance
		}
		b.Refresh()
	}
	if c.changed != nil {
		c.changed(v)
	}
}
