package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

func TestKiosk_SignIn(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	s := h.k.signin
	h.png("signin")
	test.AssertRendersToMarkup(t, "signin/idle.xml", h.w.Canvas())

	// ErrWrongPIN
	{
		test.Type(s.user, "op")
		s.keypad.Type("111111")
		test.Tap(s.keypad.keys["enter"])
		h.settle()
		if h.k.session != nil || !strings.Contains(s.msg.Text, "PIN/password is wrong") {
			t.Fatalf("session %v, message %q", h.k.session, s.msg.Text)
		}
		rec, err := h.db.User(h.ctx, "op")
		if err != nil || rec.Failures != 1 {
			t.Fatalf("ledger: failures %d, %v; want 1", rec.Failures, err)
		}
		if s.keypad.display.Text != "" {
			t.Fatalf("the PIN stays on the keypad: %q", s.keypad.display.Text)
		}
	}

	// ErrLocked
	{
		// Two more failures lock op (MaxFailures 3); then even the right
		// PIN is refused with what to do.
		for i := 0; i < 2; i++ {
			s.keypad.Type("111111")
			test.Tap(s.keypad.keys["enter"])
			h.settle()
		}
		if !strings.Contains(s.msg.Text, "locked") || !strings.Contains(s.msg.Text, "administrator") {
			t.Fatalf("message %q, want the lockout and what to do", s.msg.Text)
		}
		s.keypad.Type(pin)
		test.Tap(s.keypad.keys["enter"])
		h.settle()
		if h.k.session != nil || !strings.Contains(s.msg.Text, "locked") {
			t.Fatalf("locked account signed in: %v %q", h.k.session, s.msg.Text)
		}
		if rec, _ := h.db.User(h.ctx, "op"); !rec.Locked {
			t.Fatal("ledger: op is not locked")
		}
	}

	// BadgeFromSerialScanner
	{
		s.user.SetText("")
		h.k.Start()
		h.scanner.send("]C0", "B-SUP")
		h.until("the badge is read", func() bool { return s.badge == "B-SUP" })
		if !strings.Contains(s.msg.Text, "Badge read") {
			t.Fatalf("message %q", s.msg.Text)
		}
		s.keypad.Type(pin)
		test.Tap(s.keypad.keys["enter"])
		h.settle()
		if h.k.session == nil || h.k.session.User.ID != "sup" {
			t.Fatalf("sup is not signed in: %q", s.msg.Text)
		}
		evs, err := h.db.Events(h.ctx, 1, 10000)
		must(t, err)
		last := evs[len(evs)-1]
		if last.Type != station.EventUserSignedIn || !strings.Contains(string(last.Payload), `"method":"badge"`) {
			t.Fatalf("last event %s %s, want a sign-in by badge", last.Type, last.Payload)
		}
	}

	// IdleSignOut
	{
		later := testNow.Add(4 * time.Minute)
		h.now.Store(&later)
		h.k.checkIdle()
		if h.k.session == nil {
			t.Fatal("signed out before the idle timeout")
		}
		later = testNow.Add(10 * time.Minute)
		h.now.Store(&later)
		h.k.checkIdle()
		if h.k.session != nil || h.k.current != ScreenSignIn {
			t.Fatal("still signed in after 10 minutes idle (timeout 5)")
		}
		if !strings.Contains(h.k.message.Text, "signed out after 5 minutes") {
			t.Fatalf("message %q", h.k.message.Text)
		}
	}
}

// TestKiosk_Roles checks that each role is offered only what it may do.
func TestKiosk_Roles(t *testing.T) {
	h := MustKiosk(t, harnessOpts{})
	for _, tt := range []struct {
		user    string
		screens []string
		first   string
	}{
		{"op", []string{ScreenRun, ScreenOrders, ScreenPacking, ScreenWarehouse, ScreenStatus}, ScreenRun},
		{"pack", []string{ScreenPacking, ScreenWarehouse, ScreenStatus}, ScreenPacking},
		{"qa", []string{ScreenOrders, ScreenWarehouse, ScreenStatus}, ScreenWarehouse},
		{"admin", []string{ScreenWarehouse, ScreenStatus}, ScreenStatus},
	} {
		t.Run(tt.user, func(t *testing.T) {
			h.signIn(tt.user)
			if got := h.k.screenOrder; !slices.Equal(got, tt.screens) {
				t.Fatalf("screens %v, want %v", got, tt.screens)
			}
			if h.k.current != tt.first {
				t.Fatalf("first screen %s, want %s", h.k.current, tt.first)
			}
			switch tt.user {
			case "op":
				// An operator may not close orders: no close button.
				h.k.show(ScreenOrders)
				h.settle()
				if objectsContain(h.k.orders.obj, h.k.orders.closeBtn) {
					t.Fatal("the operator is offered Sign and close")
				}
			case "pack":
				// A packer moves stock but may not decommission.
				if _, ok := h.k.warehouse.modes.buttons[modeDecommission]; ok {
					t.Fatal("the packer is offered Decommission")
				}
				if _, ok := h.k.warehouse.modes.buttons[modePick]; !ok {
					t.Fatal("the packer is not offered Pick and ship")
				}
			case "admin":
				if h.k.status.exit == nil {
					t.Fatal("the administrator is not offered to leave kiosk mode")
				}
				if _, ok := h.k.warehouse.modes.buttons[modePick]; ok {
					t.Fatal("the administrator is offered warehouse moves")
				}
			}
			test.Tap(h.k.nav["signout"])
			if h.k.session != nil {
				t.Fatal("not signed out")
			}
		})
	}
}

// objectsContain reports whether o is in the tree below root.
func objectsContain(root, o fyne.CanvasObject) bool {
	for _, x := range test.LaidOutObjects(root) {
		if x == o {
			return true
		}
	}
	return false
}

// visibleObjects lists the objects shown below root: hidden ones and
// everything inside them are left out.
func visibleObjects(root fyne.CanvasObject) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			return
		}
		out = append(out, o)
		switch x := o.(type) {
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				walk(c)
			}
		}
	}
	walk(root)
	return out
}

// TestKiosk_ExitNeedsAdmin checks that the window cannot be closed
// without an administrator's id and PIN.
func TestKiosk_ExitNeedsAdmin(t *testing.T) {
	quit := 0
	h := MustKiosk(t, harnessOpts{deps: func(d *Deps) { d.Quit = func() { quit++ } }})
	// New sets askExit as the window's close intercept (the window
	// manager's close button, Alt+F4); the test window does not call it.
	h.k.askExit()
	d := h.k.dlg
	if d == nil || d.keypad == nil {
		t.Fatal("closing the window shows no admin PIN dialog")
	}
	d.fields["user"].SetText("sup")
	d.keypad.Type(pin)
	test.Tap(d.keypad.keys["enter"])
	h.settle()
	if quit != 0 || !strings.Contains(d.err.Text, "Only an administrator") {
		t.Fatalf("a supervisor closed the kiosk (quit %d, %q)", quit, d.err.Text)
	}
	d.fields["user"].SetText("admin")
	d.keypad.Type(pin)
	test.Tap(d.keypad.keys["enter"])
	h.settle()
	if quit != 1 || h.k.dlg != nil {
		t.Fatalf("the administrator did not close the kiosk (quit %d)", quit)
	}
}

// TestKiosk_German checks the station language and a user's own language.
func TestKiosk_German(t *testing.T) {
	h := MustKiosk(t, harnessOpts{language: "de"})
	if got, want := h.k.signin.hint.Text, "Scannen Sie Ihren Ausweis oder tippen Sie Ihre Benutzerkennung, dann Ihre PIN."; got != want {
		t.Fatalf("hint %q, want %q", got, want)
	}
	h.signIn("op")
	if got := h.k.nav[ScreenRun].Text; got != "Linie" {
		t.Fatalf("nav %q, want Linie", got)
	}
	// Numbers and dates in the station's locale.
	if got := h.k.num(1234567); got != "1.234.567" {
		t.Fatalf("num=%q", got)
	}
	if got := h.k.expiry("280600"); got != "30.06.2028" {
		t.Fatalf("expiry=%q", got)
	}
	test.Tap(h.k.nav["signout"])
	h.k.setLanguage("en")
	h.k.d.Language = "en"
	h.k.signOut()
	// An English station, a German user: German while signed in only.
	h.signIn("jonas")
	if got := h.k.nav[ScreenOrders].Text; got != "Aufträge" {
		t.Fatalf("nav %q, want Aufträge", got)
	}
	test.Tap(h.k.nav["signout"])
	if got := h.k.signin.keypad.keys["enter"].Text; got != "Sign in" {
		t.Fatalf("after sign-out the keypad says %q, want English", got)
	}
	if got := h.k.num(1234567); got != "1,234,567" {
		t.Fatalf("num=%q", got)
	}
}

// TestKiosk_TouchTargets checks that everything tapped on every screen is
// at least 56 units high (12 mm on a 15" 1024x768 panel), and that every
// screen fits the width of the smallest supported screen.
func TestKiosk_TouchTargets(t *testing.T) {
	for _, tt := range []struct {
		size     fyne.Size
		language string
	}{{fyne.NewSize(1024, 768), "en"}, {fyne.NewSize(1024, 768), "de"}, {fyne.NewSize(1920, 1080), "en"}} {
		size := tt.size
		h := MustKiosk(t, harnessOpts{size: size, language: tt.language})
		check := func(where string) {
			t.Helper()
			where = tt.language + " " + where
			for _, o := range visibleObjects(h.w.Canvas().Content()) {
				switch w := o.(type) {
				case *widget.Button:
					if w.MinSize().Height < sizeTapTarget || w.Size().Height < sizeTapTarget {
						t.Errorf("%v %s: button %q is %v high, want at least %d", size, where, w.Text, w.Size().Height, sizeTapTarget)
					}
				case *widget.Entry:
					if w.Size().Height < sizeTapTarget-6 {
						t.Errorf("%v %s: field %q is %v high", size, where, w.PlaceHolder, w.Size().Height)
					}
				}
			}
			// A tenth to spare: the GL driver measures text a little wider
			// than the test driver.
			if min := h.w.Canvas().Content().MinSize(); min.Width > size.Width*0.9 || min.Height > size.Height-20 {
				t.Errorf("%v %s: needs %v", size, where, min)
			}
		}
		check("sign in")
		h.signIn("sup")
		for _, name := range h.k.screenOrder {
			h.k.show(name)
			h.settle()
			check(name)
			h.png(fmt.Sprintf("%s-%.0f-%s", name, size.Width, tt.language))
		}
	}
}
