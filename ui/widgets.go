package ui

import (
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// lamp is one device's status light: a coloured disc and the device's name.
// Tapping it explains the state (OnTapped shows the reason).
type lamp struct {
	widget.BaseWidget

	disc  *canvas.Circle
	name  *canvas.Text
	state *canvas.Text

	health   station.Health
	OnTapped func(station.Health)
}

// newLamp returns a grey lamp (state unknown) for the named device.
func newLamp(name string) *lamp {
	l := &lamp{
		disc:  canvas.NewCircle(lampGrey),
		name:  canvas.NewText(name, theme.Color(theme.ColorNameForeground)),
		state: canvas.NewText(stateText(""), theme.Color(theme.ColorNameForeground)),
	}
	l.name.TextStyle.Bold = true
	l.name.TextSize = sizeText - 2
	l.state.TextSize = sizeCaption
	l.health.Device = name
	l.ExtendBaseWidget(l)
	return l
}

// SetHealth shows h: green when connected, amber when degraded, red when
// faulted or disconnected. Call it on the Fyne goroutine.
func (l *lamp) SetHealth(h station.Health) {
	l.health = h
	l.disc.FillColor = lampColor(h.State)
	l.disc.Refresh()
	l.state.Text = stateText(h.State)
	l.state.Refresh()
}

// Health returns what the lamp shows.
func (l *lamp) Health() station.Health { return l.health }

// Tapped implements fyne.Tappable.
func (l *lamp) Tapped(*fyne.PointEvent) {
	if l.OnTapped != nil {
		l.OnTapped(l.health)
	}
}

// CreateRenderer implements fyne.Widget.
func (l *lamp) CreateRenderer() fyne.WidgetRenderer {
	disc := container.New(layout.NewGridWrapLayout(fyne.NewSquareSize(32)), l.disc)
	text := container.New(layout.NewCustomPaddedVBoxLayout(2), l.name, l.state)
	row := container.NewHBox(container.NewCenter(disc), container.NewCenter(text))
	bg := canvas.NewRectangle(color.Transparent)
	bg.SetMinSize(fyne.NewSize(sizeTapTarget*2.5, sizeTapTarget))
	return widget.NewSimpleRenderer(container.NewStack(bg, row))
}

// lampColor maps a device state to its lamp colour.
func lampColor(s station.DeviceState) color.Color {
	switch s {
	case station.DeviceConnected:
		return lampGreen
	case station.DeviceDegraded:
		return lampAmber
	case station.DeviceFaulted, station.DeviceDisconnected:
		return lampRed
	}
	return lampGrey
}

// stateText is a device state in the operator's words (translated).
func stateText(s station.DeviceState) string {
	switch s {
	case station.DeviceConnected:
		return tr("OK")
	case station.DeviceDegraded:
		return tr("Attention")
	case station.DeviceFaulted:
		return tr("Fault")
	case station.DeviceDisconnected:
		return tr("Not connected")
	case stateNotUsed:
		return tr("Not used")
	case stateKeyboard:
		return tr("Keyboard")
	case stateStandalone:
		return tr("Standalone")
	}
	return tr("Unknown")
}

// tile is a big production counter: a number readable from across the line
// and its caption.
type tile struct {
	widget.BaseWidget

	value   *canvas.Text
	caption *canvas.Text
}

// newTile returns a counter tile showing 0.
func newTile(caption string, c color.Color) *tile {
	t := &tile{value: canvas.NewText("0", c), caption: canvas.NewText(caption, theme.Color(theme.ColorNameForeground))}
	t.caption.Alignment = fyne.TextAlignCenter
	t.caption.TextSize = sizeText
	t.value.TextSize = sizeCounterText
	t.value.TextStyle.Bold = true
	t.value.Alignment = fyne.TextAlignCenter
	t.ExtendBaseWidget(t)
	return t
}

// SetValue shows text as the counter's value (already formatted for the
// station's locale). Call it on the Fyne goroutine.
func (t *tile) SetValue(text string) {
	if t.value.Text == text {
		return
	}
	t.value.Text = text
	t.value.Refresh()
}

// Value returns the text shown.
func (t *tile) Value() string { return t.value.Text }

// CreateRenderer implements fyne.Widget.
func (t *tile) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewPadded(container.New(layout.NewCustomPaddedVBoxLayout(0), t.value, t.caption)))
}

// keypad is a large numeric keypad for PINs and quantities: 12 mm keys,
// digits shown masked or plain, a clear and an enter key.
type keypad struct {
	widget.BaseWidget

	display *widget.Label
	keys    map[string]*widget.Button
	digits  strings.Builder
	masked  bool
	max     int

	// OnEnter is called with the digits typed when enter is pressed; the
	// keypad is cleared first.
	OnEnter func(digits string)
}

// newKeypad returns a keypad accepting up to max digits; masked keypads show
// a dot per digit (PINs).
func newKeypad(masked bool, max int) *keypad {
	k := &keypad{display: widget.NewLabelWithStyle("", fyne.TextAlignCenter, fyne.TextStyle{Bold: true, Monospace: true}),
		keys: map[string]*widget.Button{}, masked: masked, max: max}
	for _, d := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "0"} {
		k.keys[d] = widget.NewButton(d, func() { k.Type(d) })
	}
	k.keys["clear"] = widget.NewButton(tr("Clear"), k.Clear)
	k.keys["enter"] = widget.NewButton(tr("Enter"), k.enter)
	k.keys["enter"].Importance = widget.HighImportance
	k.ExtendBaseWidget(k)
	return k
}

// Type adds digits as if their keys were pressed.
func (k *keypad) Type(digits string) {
	for _, r := range digits {
		if r < '0' || r > '9' || k.digits.Len() >= k.max {
			continue
		}
		k.digits.WriteRune(r)
	}
	k.show()
}

// Clear empties the keypad.
func (k *keypad) Clear() {
	k.digits.Reset()
	k.show()
}

func (k *keypad) enter() {
	d := k.digits.String()
	k.Clear()
	if k.OnEnter != nil {
		k.OnEnter(d)
	}
}

func (k *keypad) show() {
	if k.masked {
		k.display.SetText(strings.Repeat("●", k.digits.Len()))
	} else {
		k.display.SetText(k.digits.String())
	}
}

// CreateRenderer implements fyne.Widget.
func (k *keypad) CreateRenderer() fyne.WidgetRenderer {
	grid := container.NewGridWithColumns(3)
	for _, d := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "enter"} {
		cell := canvas.NewRectangle(color.Transparent)
		cell.SetMinSize(fyne.NewSize(sizeTapTarget*1.4, sizeTapTarget*1.2))
		grid.Add(container.NewStack(cell, k.keys[d]))
	}
	return widget.NewSimpleRenderer(container.NewVBox(k.display, grid))
}
