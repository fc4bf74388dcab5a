package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// signInScreen signs a person in: a badge scan or a user id, then the PIN
// on the large keypad. Wrong PINs count towards the lockout, and the
// station's message says what to do once an account is locked.
type signInScreen struct {
	k      *Kiosk
	title  *canvas.Text
	hint   *widget.Label
	user   *widget.Entry // user id, or a badge typed by a keyboard-wedge scanner
	keypad *keypad
	msg    *widget.Label
	badge  string // badge read by the serial scanner; "" when an id was typed
	obj    fyne.CanvasObject
}

func newSignInScreen(k *Kiosk) *signInScreen {
	s := &signInScreen{k: k}
	s.title = canvas.NewText(tr("Sign in"), theme.Color(theme.ColorNameForeground))
	s.title.TextSize = sizeHeading
	s.title.TextStyle.Bold = true
	s.title.Alignment = fyne.TextAlignCenter
	s.hint = widget.NewLabelWithStyle(tr("Scan your badge or type your user id, then enter your PIN."), fyne.TextAlignCenter, fyne.TextStyle{})
	s.hint.Wrapping = fyne.TextWrapWord
	s.user = widget.NewEntry()
	s.user.SetPlaceHolder(tr("User id or badge"))
	s.user.OnChanged = func(text string) {
		if text != s.badge {
			s.badge = ""
		}
	}
	s.user.OnSubmitted = func(string) { s.msg.SetText(tr("Now enter your PIN.")); s.msg.Importance = widget.MediumImportance }
	s.keypad = newKeypad(true, 12)
	s.keypad.keys["enter"].SetText(tr("Sign in"))
	s.keypad.OnEnter = s.signIn
	s.msg = widget.NewLabelWithStyle("", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	s.msg.Wrapping = fyne.TextWrapWord
	userBox := container.NewGridWrap(fyne.NewSize(420, sizeTapTarget), s.user)
	box := container.NewVBox(s.title, s.hint, container.NewCenter(userBox), container.NewCenter(s.keypad), s.msg)
	s.obj = container.NewCenter(container.NewGridWrap(fyne.NewSize(620, box.MinSize().Height+20), box))
	return s
}

func (s *signInScreen) content() fyne.CanvasObject { return s.obj }

func (s *signInScreen) shown() { s.k.focus(s.user) }

// scanned takes a badge from the serial scanner (or a keyboard scanner
// typing while the field had no focus).
func (s *signInScreen) scanned(in scanInput) {
	badge := strings.TrimSpace(in.text)
	if badge == "" {
		return
	}
	s.badge = badge
	s.user.SetText(badge)
	s.msg.Importance = widget.MediumImportance
	s.msg.SetText(tr("Badge read. Now enter your PIN."))
}

// signIn checks the user (or badge) and PIN with the station.
func (s *signInScreen) signIn(pin string) {
	who := strings.TrimSpace(s.user.Text)
	if who == "" {
		s.fail(tr("Scan your badge or type your user id first."))
		return
	}
	if pin == "" {
		s.fail(tr("Enter your PIN on the keypad, then press Sign in."))
		return
	}
	badge := s.badge
	k := s.k
	async(k, nil, "sign in", func(ctx context.Context) (station.Session, error) {
		if badge != "" {
			return k.svc.SignIn(ctx, "", badge, pin)
		}
		// A typed text is a user id when such a user exists, else a badge
		// typed by a keyboard-wedge scanner.
		if _, err := k.svc.Ledger().User(ctx, who); station.ErrorCode(err) == station.ENOTFOUND {
			return k.svc.SignIn(ctx, "", who, pin)
		}
		return k.svc.SignIn(ctx, who, "", pin)
	}, func(sess station.Session, err error) {
		if err != nil {
			if station.ErrorCode(err) == station.EINTERNAL {
				k.logger.Error("sign in", "error", err)
			}
			s.fail(explain(err))
			return
		}
		k.logger.Info("signed in", "user", sess.User.ID)
		s.user.SetText("")
		s.badge = ""
		k.startSession(sess)
	})
}

func (s *signInScreen) fail(text string) {
	s.msg.Importance = widget.DangerImportance
	s.msg.SetText(text)
}
