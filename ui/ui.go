// Package ui is the kiosk: the Fyne screens an operator, a packer or a
// supervisor uses at a line or warehouse station, the touch theme and the
// glue from widgets to station calls. It talks to the station package only
// and never imports fyne.io/fyne/v2/app, so its tests run on Fyne's test
// driver without a display.
//
// Threading: widgets are touched on the Fyne goroutine only. Every station
// call (ledger, devices) runs in a goroutine of its own (see async) and
// reports back through Kiosk.do, which is fyne.Do in the app; a device that
// hangs never blocks the screen, and its lamp turns amber while it does.
// The line run's counters arrive batched from RunConfig.Notify (a few times
// a second), never one redraw per pack.
package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/assets"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// Deps is what the kiosk runs on. cmd fills it in: the domain service, the
// line's devices, the clock and, when the station has one, the uplink.
type Deps struct {
	// Service is the station's domain; required.
	Service *station.Service
	// Station and Line name this station and its line (shown in the top bar;
	// the orders screen lists the orders of Line).
	Station, Line string
	// Language is the station's language, "en" or "de" (default "en"); a
	// user's own language wins while they are signed in.
	Language string

	// The line's devices. Coder, Camera and PLC are needed to run the
	// line, Printer to close cases and pallets; Scanner is the serial
	// scanner, nil when scans come from a keyboard-wedge scanner typing
	// into the kiosk.
	Printer station.Printer
	Coder   station.Coder
	Camera  station.Camera
	Scanner station.Scanner
	PLC     station.Line

	// Clock is the station clock; its lamp uses Health when it implements
	// station.HealthReporter, else the state of its readings.
	Clock station.Clock
	// ClockStatus, when set, gives the time servers' detail for the
	// status screen (the NTP clock).
	ClockStatus func() ClockStatus
	// Uplink, when set, gives the uplink's state; nil means the station
	// runs standalone.
	Uplink func() UplinkStatus
	// Backup, when set, gives the state of the station's scheduled backups
	// to object storage: a lamp of its own, red while backups fail (the
	// station's alarm). It must not block. nil: no backups, no lamp.
	Backup func() station.Health

	// Partners are the trading partners shipments go to; ShipFrom and Owner
	// the GLNs of this site and of the company, for shipments.
	Partners        []Partner
	ShipFrom, Owner string

	// Quit leaves kiosk mode once an administrator has signed for it;
	// default: quit the app.
	Quit func()
	// Now is the time source of the screen (idle sign-out, the top bar's
	// clock); default time.Now. Records are stamped by the station clock.
	Now func() time.Time
	// Location is the zone dates and times are shown in; default time.Local.
	Location *time.Location
	// PollEvery is how often device lamps are refreshed; default 1s.
	PollEvery time.Duration
	// HangAfter is how long a device call may run before its lamp turns
	// amber; default 5s.
	HangAfter time.Duration
	// NotifyEvery is how often the line run sends its counters; default 250ms.
	NotifyEvery time.Duration
	// Logger defaults to slog.Default() with component=ui.
	Logger *slog.Logger
	// Do runs f on the Fyne goroutine; default fyne.Do. Fyne's test
	// driver runs fyne.Do on the caller's goroutine, so tests that drive
	// the kiosk from several goroutines give one that serializes.
	Do func(f func())
}

// ClockStatus is the clock's detail for the status screen.
type ClockStatus struct {
	Source  string        // "ntp" or "system"
	Servers []ClockServer // the time servers, in configured order
}

// ClockServer is one time server as the NTP clock last saw it.
type ClockServer struct {
	Address string
	Used    bool          // one of the agreeing majority
	Offset  time.Duration // reference minus system clock
	RTT     time.Duration
	Stratum uint8
	Error   string // why it was not used
}

// UplinkStatus is the uplink's state for the lamps and the status screen.
type UplinkStatus struct {
	Connected bool
	LastSync  time.Time     // zero: not since start
	Waiting   int64         // events the central does not hold yet
	OldestAge time.Duration // how long the oldest waiting event has waited
	LastError string
}

// Partner is a trading partner shipments go to.
type Partner struct {
	Name   string
	GLN    string // the partner (destination owning party)
	ShipTo string // the receiving location
}

// Screen names, as the navigation and the tour use them.
const (
	ScreenSignIn    = "signin"
	ScreenRun       = "run"
	ScreenOrders    = "orders"
	ScreenPacking   = "packing"
	ScreenWarehouse = "warehouse"
	ScreenStatus    = "status"
)

// screen is one of the kiosk's screens.
type screen interface {
	// content returns the screen's object tree (built once).
	content() fyne.CanvasObject
	// shown is called each time the screen is switched to.
	shown()
	// scanned gets a scan (serial scanner or keyboard wedge) while shown.
	scanned(in scanInput)
}

// Kiosk is the station app's root: it owns the window's content, the
// signed-in session and the line run.
type Kiosk struct {
	app    fyne.App
	window fyne.Window
	d      Deps
	svc    *station.Service
	logger *slog.Logger
	// do runs f on the Fyne goroutine: fyne.Do in the app, a queue the
	// test drains in tests.
	do func(f func())

	ctx    context.Context // cancelled by Close: background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ops    *deviceOps

	// Fields below belong to the Fyne goroutine.
	lang        string
	root        *fyne.Container
	session     *station.Session
	screens     map[string]screen
	screenOrder []string // screen names in navigation order
	nav         map[string]*widget.Button
	stack       *fyne.Container
	current     string
	message     *widget.Label
	busyBar     *widget.ProgressBarInfinite
	userBox     *widget.Label
	clockBox    *widget.Label
	busy        int
	popup       *widget.PopUp // the dialog shown, if any
	dlg         *dialog       // its widgets, when it is a dialog
	health      map[string]station.Health

	// The line run: the order loaded at the line and its run.
	loaded string
	run    *station.Run
	snap   station.RunSnapshot

	wedge []rune // keyboard-wedge input typed while nothing had the focus

	signin    *signInScreen
	runScr    *runScreen
	orders    *ordersScreen
	packing   *packScreen
	warehouse *warehouseScreen
	status    *statusScreen
}

// New builds the kiosk for the given app and window: translations, the
// touch theme, and the sign-in screen. Start its background work with
// Start and set Content as the window's content.
func New(a fyne.App, w fyne.Window, d Deps) (*Kiosk, error) {
	if d.Service == nil {
		return nil, fmt.Errorf("new kiosk: a station service is required")
	}
	if d.Language == "" {
		d.Language = "en"
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Location == nil {
		d.Location = time.Local
	}
	if d.PollEvery <= 0 {
		d.PollEvery = time.Second
	}
	if d.HangAfter <= 0 {
		d.HangAfter = 5 * time.Second
	}
	if d.NotifyEvery <= 0 {
		d.NotifyEvery = 250 * time.Millisecond
	}
	if d.Logger == nil {
		d.Logger = slog.Default().With("component", "ui")
	}
	if d.Quit == nil {
		d.Quit = a.Quit
	}
	a.Settings().SetTheme(newKioskTheme())
	ctx, cancel := context.WithCancel(context.Background())
	if d.Do == nil {
		d.Do = fyne.Do
	}
	k := &Kiosk{app: a, window: w, d: d, svc: d.Service, logger: d.Logger, do: d.Do, ctx: ctx, cancel: cancel,
		ops: newDeviceOps(), health: map[string]station.Health{}}
	k.setLanguage(d.Language)
	k.root = container.NewStack()
	k.showSignIn("")
	w.SetCloseIntercept(k.askExit)
	w.Canvas().SetOnTypedRune(k.wedgeRune)
	w.Canvas().SetOnTypedKey(k.wedgeKey)
	return k, nil
}

// Content returns the object to set as the window's content.
func (k *Kiosk) Content() fyne.CanvasObject { return k.root }

// Start starts the background work: device lamps, the serial scanner and
// the idle sign-out. It returns at once; Close stops it.
func (k *Kiosk) Start() {
	k.startPoller()
	k.startHoldWatch()
	if k.d.Scanner != nil {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.readScanner()
		}()
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-k.ctx.Done():
				return
			case <-tick.C:
				k.do(k.tick)
			}
		}
	}()
}

// Close stops the background work and the line run (the order stays as it
// is: the next start resumes it). Call it after the app's Run returned.
func (k *Kiosk) Close() error {
	k.cancel()
	k.wg.Wait()
	if k.run != nil {
		return k.run.Close()
	}
	return nil
}

// tick runs every second on the Fyne goroutine: the clock in the top bar
// and the idle sign-out.
func (k *Kiosk) tick() {
	if k.clockBox != nil {
		k.clockBox.SetText(k.timeOfDay(k.d.Now()))
	}
	k.checkIdle()
}

// checkIdle signs the user out once the session was idle for longer than
// the station's policy allows.
func (k *Kiosk) checkIdle() {
	if k.session == nil {
		return
	}
	timeout := k.svc.AuthPolicy().IdleTimeout
	if k.session.Idle(k.d.Now().UTC(), timeout) {
		name := k.session.User.Name
		k.logger.Info("signed out for inactivity", "user", k.session.User.ID)
		k.signOut()
		k.say(levelWarn, trf("{{.Name}} was signed out after {{.Minutes}} minutes without activity. Sign in again to go on.",
			map[string]any{"Name": name, "Minutes": int(timeout.Minutes())}))
	}
}

// touch records activity of the signed-in user.
func (k *Kiosk) touch() {
	if k.session != nil {
		k.session.Touch(k.d.Now().UTC())
	}
}

// user is the signed-in user's id, "" when nobody is signed in.
func (k *Kiosk) user() string {
	if k.session == nil {
		return ""
	}
	return k.session.User.ID
}

// can reports whether the signed-in user may do a.
func (k *Kiosk) can(a station.Action) bool {
	return k.session != nil && station.Can(k.session.User.Roles, a)
}

// has reports whether the signed-in user has role r.
func (k *Kiosk) has(r station.Role) bool {
	return k.session != nil && k.session.User.Has(r)
}

// setLanguage switches the operator-facing texts to l ("en" or "de").
// Widgets built before keep their texts: callers rebuild the screens.
func (k *Kiosk) setLanguage(l string) {
	if l != "en" && l != "de" {
		l = k.d.Language
	}
	k.lang = l
	// Fyne's lang package follows the process's locale; LANGUAGE is the
	// first place it looks.
	os.Setenv("LANGUAGE", l)
	if err := lang.AddTranslationsFS(assets.Translations, "translations"); err != nil {
		k.logger.Error("load the kiosk's translations", "error", err)
	}
}

// startSession builds the screens a signed-in user may use, in their
// language, and shows the first.
func (k *Kiosk) startSession(s station.Session) {
	k.closePopup()
	k.session = &s
	k.setLanguage(s.User.Language)
	k.buildShell()
	first := ScreenStatus
	switch {
	case k.can(station.ActRunLine):
		first = ScreenRun
	case k.can(station.ActPack):
		first = ScreenPacking
	case k.can(station.ActMoveStock):
		first = ScreenWarehouse
	}
	k.show(first)
	k.say(levelOK, trf("Signed in as {{.Name}}.", map[string]any{"Name": s.User.Name}))
}

// signOut ends the session and shows the sign-in screen in the station's
// language. The line run goes on.
func (k *Kiosk) signOut() {
	k.closePopup()
	k.session = nil
	k.setLanguage(k.d.Language)
	k.showSignIn("")
}

// showSignIn replaces the window's content with the sign-in screen.
func (k *Kiosk) showSignIn(msg string) {
	k.screens = map[string]screen{}
	k.nav = map[string]*widget.Button{}
	k.runScr, k.orders, k.packing, k.warehouse, k.status = nil, nil, nil, nil, nil
	k.stack, k.screenOrder = nil, nil
	k.signin = newSignInScreen(k)
	k.screens[ScreenSignIn] = k.signin
	k.current = ScreenSignIn
	top := k.topBar()
	k.message = widget.NewLabel(msg)
	k.message.Wrapping = fyne.TextWrapWord
	k.busyBar = widget.NewProgressBarInfinite()
	k.busyBar.Hide()
	k.busyBar.Stop()
	body := container.NewBorder(top, container.NewStack(k.busyBar, k.message), nil, nil, k.signin.content())
	k.root.Objects = []fyne.CanvasObject{body}
	k.root.Refresh()
	k.signin.shown()
}

// buildShell builds the signed-in layout: top bar, navigation, the screen
// area and the message bar. Only screens the user may use are built.
func (k *Kiosk) buildShell() {
	k.screens = map[string]screen{}
	k.nav = map[string]*widget.Button{}
	k.screenOrder = nil
	k.runScr, k.orders, k.packing, k.warehouse, k.status = nil, nil, nil, nil, nil
	add := func(name string, s screen) {
		k.screens[name] = s
		k.screenOrder = append(k.screenOrder, name)
	}
	if k.can(station.ActRunLine) {
		k.runScr = newRunScreen(k)
		add(ScreenRun, k.runScr)
		k.orders = newOrdersScreen(k)
		add(ScreenOrders, k.orders)
	} else if k.has(station.RoleQA) {
		k.orders = newOrdersScreen(k)
		add(ScreenOrders, k.orders)
	}
	if k.can(station.ActPack) {
		k.packing = newPackScreen(k)
		add(ScreenPacking, k.packing)
	}
	k.warehouse = newWarehouseScreen(k)
	add(ScreenWarehouse, k.warehouse)
	k.status = newStatusScreen(k)
	add(ScreenStatus, k.status)

	navBox := container.NewVBox()
	for _, name := range k.screenOrder {
		n := name
		b := widget.NewButtonWithIcon(screenTitle(n), screenIcon(n), func() { k.touch(); k.show(n) })
		b.Alignment = widget.ButtonAlignLeading
		k.nav[n] = b
		navBox.Add(b)
	}
	out := widget.NewButtonWithIcon(tr("Sign out"), theme.LogoutIcon(), func() {
		k.signOut()
		k.say(levelInfo, tr("Signed out."))
	})
	out.Alignment = widget.ButtonAlignLeading
	k.nav["signout"] = out
	navBg := canvas.NewRectangle(colorPanel)
	nav := container.NewStack(navBg, container.NewPadded(container.NewBorder(nil, out, nil, nil, navBox)))

	k.message = widget.NewLabel("")
	k.message.Wrapping = fyne.TextWrapWord
	k.busyBar = widget.NewProgressBarInfinite()
	k.busyBar.Hide()
	k.busyBar.Stop()
	if k.busy > 0 {
		k.busyBar.Show()
		k.busyBar.Start()
	}
	k.stack = container.NewStack()
	body := container.NewBorder(k.topBar(), container.NewStack(k.busyBar, k.message), nav, nil, k.stack)
	k.root.Objects = []fyne.CanvasObject{body}
	k.root.Refresh()
	for _, s := range k.screens {
		if r, ok := s.(interface{ healthChanged() }); ok {
			r.healthChanged()
		}
	}
}

// topBar shows the station, the user and the time.
func (k *Kiosk) topBar() fyne.CanvasObject {
	title := canvas.NewText(station.AppName, theme.Color(theme.ColorNameForeground))
	title.TextSize = sizeSubHeading
	title.TextStyle.Bold = true
	where := widget.NewLabel(trf("Station {{.Station}} · line {{.Line}}", map[string]any{"Station": k.d.Station, "Line": k.d.Line}))
	where.Truncation = fyne.TextTruncateEllipsis
	k.userBox = widget.NewLabelWithStyle(tr("Nobody signed in"), fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	if k.session != nil {
		k.userBox.SetText(trf("{{.Name}} ({{.Roles}})", map[string]any{"Name": k.session.User.Name, "Roles": k.roleNames(k.session.User.Roles)}))
	}
	k.clockBox = widget.NewLabelWithStyle(k.timeOfDay(k.d.Now()), fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
	bg := canvas.NewRectangle(colorPanel)
	row := container.NewBorder(nil, nil, container.NewCenter(title), container.NewHBox(k.userBox, k.clockBox), where)
	return container.NewStack(bg, container.NewPadded(row))
}

// show switches to the named screen; it reports whether the user has it.
func (k *Kiosk) show(name string) bool {
	s, ok := k.screens[name]
	if !ok || k.stack == nil {
		return false
	}
	k.closePopup()
	k.current = name
	for n, b := range k.nav {
		if n == name {
			b.Importance = widget.HighImportance
		} else {
			b.Importance = widget.MediumImportance
		}
		b.Refresh()
	}
	k.stack.Objects = []fyne.CanvasObject{s.content()}
	k.stack.Refresh()
	s.shown()
	return true
}

// Message levels of the message bar.
type level int

const (
	levelInfo level = iota
	levelOK
	levelWarn
	levelError
)

// say shows a message to the operator in the message bar.
func (k *Kiosk) say(l level, text string) {
	if k.message == nil {
		return
	}
	switch l {
	case levelOK:
		k.message.Importance = widget.SuccessImportance
	case levelWarn:
		k.message.Importance = widget.WarningImportance
	case levelError:
		k.message.Importance = widget.DangerImportance
	default:
		k.message.Importance = widget.MediumImportance
	}
	k.message.SetText(capital(text))
	// The message may wrap onto more lines: lay the frame out again so
	// that the message bar gets their height.
	if len(k.root.Objects) == 1 {
		if c, ok := k.root.Objects[0].(*fyne.Container); ok && c.Layout != nil {
			c.Layout.Layout(c.Objects, c.Size())
		}
	}
}

// fail shows what went wrong and what to do next. The station's message
// says it in the operator's words; internal details go to the log only.
func (k *Kiosk) fail(what string, err error) {
	if station.ErrorCode(err) == station.EINTERNAL {
		k.logger.Error(what, "error", err)
	}
	k.say(levelError, what+": "+explain(err))
}

// explain turns an error into text for the operator: the station's
// message, or for a scan that cannot be read what to do about it.
func explain(err error) string {
	var amb *gs1.AmbiguousError
	var gerr *gs1.Error
	switch {
	case errors.As(err, &amb):
		ways := make([]string, len(amb.Readings))
		for i, m := range amb.Readings {
			ways[i] = m.HRI()
		}
		return trf("the scanner lost the separators (GS), and the code can be read in more than one way ({{.Ways}}). Scan it with the serial scanner, or set the keyboard scanner to send GS.",
			map[string]any{"Ways": joinOr(ways)})
	case errors.As(err, &gerr):
		return trf("this is not a code the station can read: {{.Detail}}. Scan the pack's 2D code or the case label again.",
			map[string]any{"Detail": gerr.Error()})
	}
	return station.ErrorMessage(err)
}

func joinOr(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " " + tr("or") + " "
		}
		out += s
	}
	return out
}

// async runs work off the Fyne goroutine and done on it with the result.
// devs names the lamps of the devices the work drives: while it runs
// longer than HangAfter, their lamps turn amber. The busy bar shows while
// any work is under way.
func async[T any](k *Kiosk, devs []string, what string, work func(ctx context.Context) (T, error), done func(T, error)) {
	k.busy++
	k.showBusy()
	id := k.ops.begin(devs, what, k.d.Now())
	go func() {
		v, err := work(k.ctx)
		k.ops.end(id)
		k.do(func() {
			k.busy--
			k.showBusy()
			done(v, err)
		})
	}()
}

func (k *Kiosk) showBusy() {
	if k.busyBar == nil {
		return
	}
	if k.busy > 0 {
		k.busyBar.Show()
		k.busyBar.Start()
	} else {
		k.busyBar.Stop()
		k.busyBar.Hide()
	}
}

// showPopup shows a modal dialog; only one at a time.
func (k *Kiosk) showPopup(content fyne.CanvasObject) *widget.PopUp {
	k.closePopup()
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameOverlayBackground))
	p := widget.NewModalPopUp(container.NewStack(bg, container.NewPadded(content)), k.window.Canvas())
	k.popup, k.dlg = p, nil
	p.Show()
	return p
}

// closePopup hides the dialog shown, if any.
func (k *Kiosk) closePopup() {
	if k.popup != nil {
		k.popup.Hide()
		k.popup = nil
	}
	k.dlg = nil
}

// focus gives the keyboard focus to f (the screen's scan field), so that a
// keyboard-wedge scanner types into it.
func (k *Kiosk) focus(f fyne.Focusable) {
	if f != nil && k.popup == nil {
		k.window.Canvas().Focus(f)
	}
}

// roleNames lists roles in the operator's language.
func (k *Kiosk) roleNames(rs []station.Role) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += ", "
		}
		out += roleName(r)
	}
	return out
}

// screenTitle is a screen's name in the navigation.
func screenTitle(name string) string {
	switch name {
	case ScreenRun:
		return tr("Line")
	case ScreenOrders:
		return tr("Orders")
	case ScreenPacking:
		return tr("Packing")
	case ScreenWarehouse:
		return tr("Warehouse")
	case ScreenStatus:
		return tr("Status")
	}
	return tr("Sign in")
}

func screenIcon(name string) fyne.Resource {
	switch name {
	case ScreenRun:
		return theme.MediaPlayIcon()
	case ScreenOrders:
		return theme.ListIcon()
	case ScreenPacking:
		return theme.ContentAddIcon()
	case ScreenWarehouse:
		return theme.StorageIcon()
	case ScreenStatus:
		return theme.InfoIcon()
	}
	return theme.AccountIcon()
}

// relayout lays the screen shown out again after texts changed, so that
// labels that wrap onto more lines get the height they need (a container
// only asks its children for their size when it lays them out).
func (k *Kiosk) relayout() {
	if k.stack == nil {
		return
	}
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
			x.Refresh()
		case *container.Scroll:
			if x.Content == nil {
				return
			}
			walk(x.Content)
			min, size := x.Content.MinSize(), x.Size()
			x.Content.Resize(fyne.NewSize(max(min.Width, size.Width), max(min.Height, size.Height)))
			x.Refresh()
		case *container.Split:
			walk(x.Leading)
			walk(x.Trailing)
			x.Refresh()
		}
	}
	walk(k.stack)
}
