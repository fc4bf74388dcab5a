package ui

import (
	"context"
	"fmt"
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// orderInfo is the loaded order with its product and pool, as read from
// the ledger.
type orderInfo struct {
	order   station.OrderStatus
	product station.Product
	pool    station.PoolStatus
}

// runScreen is the line run: the loaded order, big counters, the PackML
// state with Start, Hold and Stop, a lamp per device, the last codes read
// and the alarms to acknowledge. It redraws from the run's batched
// snapshots (RunConfig.Notify), never once per pack.
type runScreen struct {
	k *Kiosk

	product  *widget.Label
	details  *widget.Label
	state    *widget.Label
	reason   *widget.Label
	start    *widget.Button
	hold     *widget.Button
	stop     *widget.Button
	complete *widget.Button

	counted *widget.Label // "This run" or "Order so far"
	tiles   map[string]*tile
	rejects *widget.Label
	lamps   map[string]*lamp

	alarmBox   *fyne.Container
	alarmText  *widget.Label
	alarmAck   *widget.Button
	alarmShown int64 // id of the alarm in the banner
	reads      []*widget.Label

	info    *orderInfo // the loaded order as last read; nil before
	renders int        // how many times render ran (the tests count redraws)
	obj     fyne.CanvasObject
}

// Counter tiles of the run screen.
const (
	tilePrinted      = "printed"
	tileVerified     = "verified"
	tileCommissioned = "commissioned"
	tileRejected     = "rejected"
	tileRemaining    = "remaining"
	tilePool         = "pool"
)

func newRunScreen(k *Kiosk) *runScreen {
	s := &runScreen{k: k, tiles: map[string]*tile{}, lamps: map[string]*lamp{}}
	s.product = widget.NewLabelWithStyle(tr("No order loaded"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.product.Truncation = fyne.TextTruncateEllipsis
	s.details = widget.NewLabel(tr("Load an order on the Orders screen."))
	s.details.Truncation = fyne.TextTruncateEllipsis
	s.state = widget.NewLabel("")
	s.state.Truncation = fyne.TextTruncateEllipsis
	s.reason = widget.NewLabel("")
	s.reason.Wrapping = fyne.TextWrapWord
	s.reason.Hide()
	s.reason.Importance = widget.WarningImportance
	s.start = widget.NewButtonWithIcon(tr("Start"), theme.MediaPlayIcon(), s.startOrResume)
	s.start.Importance = widget.SuccessImportance
	s.hold = widget.NewButtonWithIcon(tr("Hold"), theme.MediaPauseIcon(), s.holdLine)
	s.hold.Importance = widget.WarningImportance
	s.stop = widget.NewButtonWithIcon(tr("Stop"), theme.MediaStopIcon(), s.stopLine)
	s.stop.Importance = widget.DangerImportance
	s.complete = widget.NewButtonWithIcon(tr("Complete order"), theme.ConfirmIcon(), s.completeOrder)

	for _, t := range []struct {
		key, caption string
		c            color.Color
	}{
		{tilePrinted, tr("Printed"), theme.Color(theme.ColorNameForeground)},
		{tileVerified, tr("Verified"), theme.Color(theme.ColorNameForeground)},
		{tileCommissioned, tr("Commissioned"), lampGreen},
		{tileRejected, tr("Rejected"), lampRed},
		{tileRemaining, tr("Remaining"), theme.Color(theme.ColorNameForeground)},
		{tilePool, tr("Serials in pool"), theme.Color(theme.ColorNameForeground)},
	} {
		s.tiles[t.key] = newTile(t.caption, t.c)
	}
	s.counted = widget.NewLabelWithStyle(tr("Order so far"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.rejects = widget.NewLabel(tr("No rejects"))
	s.rejects.Wrapping = fyne.TextWrapWord
	lampGrid := container.NewVBox()
	for _, kind := range k.lamps() {
		l := newLamp(deviceName(kind))
		kd := kind
		l.OnTapped = func(h station.Health) { k.explainHealth(kd, h) }
		s.lamps[kind] = l
		lampGrid.Add(l)
	}
	s.alarmText = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.alarmText.Wrapping = fyne.TextWrapWord
	s.alarmAck = widget.NewButtonWithIcon(tr("Acknowledge"), theme.ConfirmIcon(), s.ackAlarm)
	s.alarmAck.Importance = widget.HighImportance
	alarmBg := canvas.NewRectangle(color.NRGBA{R: 0x6a, G: 0x12, B: 0x12, A: 0xff})
	s.alarmBox = container.NewStack(alarmBg, container.NewPadded(container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), s.alarmAck, s.alarmText)))
	s.alarmBox.Hide()
	readBox := container.NewVBox()
	for i := 0; i < 8; i++ {
		l := widget.NewLabel("")
		l.TextStyle.Monospace = true
		s.reads = append(s.reads, l)
		readBox.Add(l)
	}

	tileGrid := container.NewGridWithColumns(3)
	for _, key := range []string{tilePrinted, tileVerified, tileCommissioned, tileRejected, tileRemaining, tilePool} {
		tileGrid.Add(s.tiles[key])
	}
	buttons := container.NewGridWithColumns(3, s.start, s.hold, s.stop)
	header := container.NewVBox(container.NewBorder(nil, nil, nil, s.complete, s.product), s.details, s.state, s.reason, buttons, s.alarmBox)
	body := container.NewVBox(s.counted, tileGrid, s.rejects, heading(tr("Last codes read")), readBox)
	lampBg := canvas.NewRectangle(colorPanel)
	lampCol := container.NewStack(lampBg, container.NewPadded(lampGrid))
	s.obj = container.NewBorder(nil, nil, nil, lampCol, container.NewBorder(header, nil, nil, nil, container.NewVScroll(body)))
	s.render()
	s.healthChanged()
	return s
}

// heading is a section title.
func heading(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func (s *runScreen) content() fyne.CanvasObject { return s.obj }

func (s *runScreen) shown() {
	if s.k.loaded == "" && s.k.run == nil {
		s.autoLoad()
		return
	}
	s.refresh()
}

// scanned: the run screen takes no scans; it says where they go.
func (s *runScreen) scanned(in scanInput) {
	s.k.say(levelInfo, tr("Scans are used on the Packing and Warehouse screens."))
}

// autoLoad loads the order this line was running (after a restart), or the
// only order released to it, so that a new operator can start at once.
func (s *runScreen) autoLoad() {
	k := s.k
	async(k, nil, "read orders", func(ctx context.Context) ([]station.OrderStatus, error) {
		return k.svc.Orders(ctx, station.OrderRunning, station.OrderHeld, station.OrderReleased)
	}, func(os []station.OrderStatus, err error) {
		if err != nil {
			k.fail(tr("The orders could not be read"), err)
			return
		}
		var mine []station.OrderStatus
		for _, o := range os {
			if k.d.Line == "" || o.Line == "" || o.Line == k.d.Line {
				mine = append(mine, o)
			}
		}
		for _, o := range mine {
			if o.State == station.OrderRunning || o.State == station.OrderHeld {
				k.loadOrder(o.Order)
				return
			}
		}
		if len(mine) == 1 {
			k.loadOrder(mine[0].Order)
		}
	})
}

// loadOrder makes id the order of the line screen.
func (k *Kiosk) loadOrder(id string) {
	if k.run != nil && k.snap.Order != id {
		k.say(levelWarn, trf("Order {{.Order}} is running on the line: stop or complete it before loading another.", map[string]any{"Order": k.snap.Order}))
		return
	}
	k.loaded = id
	if k.runScr != nil {
		k.runScr.info = nil
		k.runScr.refresh()
	}
}

// refresh reads the loaded order, its product and its pool.
func (s *runScreen) refresh() {
	k := s.k
	id := k.loaded
	if id == "" {
		s.render()
		return
	}
	async(k, nil, "read order", func(ctx context.Context) (*orderInfo, error) {
		o, err := k.svc.Order(ctx, id)
		if err != nil {
			return nil, err
		}
		p, err := k.svc.Product(ctx, o.GTIN)
		if err != nil {
			return nil, err
		}
		pool, err := k.svc.Pools().Status(ctx, o.GTIN)
		if err != nil {
			return nil, err
		}
		return &orderInfo{order: o, product: p, pool: pool}, nil
	}, func(info *orderInfo, err error) {
		if err != nil {
			k.fail(trf("Order {{.Order}} could not be read", map[string]any{"Order": id}), err)
			return
		}
		if k.loaded == id {
			s.info = info
			s.render()
		}
	})
}

// render shows the loaded order, the run's snapshot and the buttons the
// run's state allows.
func (s *runScreen) render() {
	k := s.k
	s.renders++
	run, snap := k.run, k.snap
	if k.loaded == "" && run == nil {
		s.product.SetText(tr("No order loaded"))
		s.details.SetText(tr("Load an order on the Orders screen."))
		s.state.SetText("")
		s.reason.SetText("")
		s.reason.Hide()
		for _, b := range []*widget.Button{s.start, s.hold, s.stop, s.complete} {
			b.Disable()
		}
		return
	}
	var o station.OrderStatus
	name := ""
	if s.info != nil {
		o, name = s.info.order, s.info.product.Name
	}
	if run != nil {
		name = snap.Product
		o.Order, o.Lot, o.Expiry, o.Quantity = snap.Order, snap.Lot, snap.Expiry, snap.Quantity
	}
	if o.Order == "" {
		s.product.SetText(trf("Order {{.Order}}", map[string]any{"Order": k.loaded}))
		s.details.SetText(tr("Reading the order…"))
	} else {
		s.product.SetText(name + " · " + o.Order)
		s.details.SetText(trf("Lot {{.Lot}} · expiry {{.Expiry}} · quantity {{.Quantity}}",
			map[string]any{"Lot": o.Lot, "Expiry": k.expiry(o.Expiry), "Quantity": k.num(o.Quantity)}))
	}

	// Counters: the run's while one runs, else the order's totals.
	if run != nil {
		s.counted.SetText(tr("This run"))
		s.tiles[tilePrinted].SetValue(k.num(snap.Printed))
		s.tiles[tileVerified].SetValue(k.num(snap.Reads))
		s.tiles[tileCommissioned].SetValue(k.num(snap.Commissioned))
		s.tiles[tileRejected].SetValue(k.num(snap.Rejected))
		s.tiles[tileRemaining].SetValue(k.num(snap.Remaining))
		s.tiles[tilePool].SetValue(k.num(snap.Pool.Available))
		s.rejects.SetText(s.rejectText(snap.Rejects))
	} else if s.info != nil {
		s.counted.SetText(tr("Order so far"))
		s.tiles[tilePrinted].SetValue(k.num(o.Printed))
		s.tiles[tileVerified].SetValue(k.num(o.Verified))
		s.tiles[tileCommissioned].SetValue(k.num(o.Commissioned))
		s.tiles[tileRejected].SetValue(k.num(o.Rejected))
		s.tiles[tileRemaining].SetValue(k.num(max(0, o.Quantity-o.Commissioned)))
		s.tiles[tilePool].SetValue(k.num(s.info.pool.Available))
		s.rejects.SetText(s.rejectText(o.Rejects))
	}

	// State and buttons.
	runState := station.RunState("")
	if run != nil {
		runState = snap.State
	}
	plc := tr("not connected")
	if k.d.PLC != nil {
		if st := snap.Line; run != nil && st.State != station.LineStateUndefined {
			plc = st.State.String()
		} else {
			plc = tr("see lamp")
		}
	}
	orderState := o.State
	if run != nil {
		orderState = station.OrderRunning
		if runState == station.RunHeld || runState == station.RunStopped {
			orderState = station.OrderHeld
		}
	}
	s.state.SetText(trf("Line {{.Run}} · PackML {{.PLC}} · order {{.Order}}",
		map[string]any{"Run": runStateName(runState), "PLC": plc, "Order": orderStateName(orderState)}))
	reason := snap.Reason
	if run == nil {
		reason = ""
	}
	relayout := reason != s.reason.Text || (run != nil && len(snap.Alarms) > 0) != s.alarmBox.Visible()
	s.reason.SetText(reason)
	s.reason.Hidden = reason == ""

	canStart := false
	switch {
	case run == nil:
		canStart = o.State == station.OrderReleased || o.State == station.OrderRunning || o.State == station.OrderHeld
		s.start.SetText(tr("Start"))
	case runState == station.RunHeld || runState == station.RunStopped:
		canStart = true
		s.start.SetText(tr("Resume"))
	default:
		s.start.SetText(tr("Start"))
	}
	enable(s.start, canStart)
	enable(s.hold, run != nil && (runState == station.RunRunning || runState == station.RunDone))
	enable(s.stop, run != nil && runState != station.RunCompleting && runState != station.RunCompleted && runState != station.RunEnded)
	enable(s.complete, (run != nil && runState != station.RunCompleting && runState != station.RunCompleted && runState != station.RunEnded) ||
		(run == nil && (o.State == station.OrderRunning || o.State == station.OrderHeld)))

	// Alarms: the oldest not acknowledged, and how many more.
	if run != nil && len(snap.Alarms) > 0 {
		a := snap.Alarms[0]
		s.alarmShown = a.ID
		text := trf("{{.Time}} {{.Source}}: {{.Message}}", map[string]any{"Time": k.timeOfDay(a.At), "Source": a.Source, "Message": a.Message})
		if n := len(snap.Alarms) - 1; n > 0 {
			text += " " + trf("(and {{.Count}} more)", map[string]any{"Count": n})
		}
		s.alarmText.SetText(text)
		s.alarmBox.Show()
	} else {
		s.alarmShown = 0
		s.alarmBox.Hide()
	}

	for i, l := range s.reads {
		if run == nil || i >= len(snap.LastReads) {
			l.SetText("")
			continue
		}
		r := snap.LastReads[i]
		what := tr("commissioned")
		l.Importance = widget.SuccessImportance
		if r.Outcome != "commissioned" {
			what = tr("rejected") + ": " + rejectName(r.Reason)
			l.Importance = widget.DangerImportance
		}
		serial := r.Serial
		if serial == "" {
			serial = "—"
		}
		l.SetText(fmt.Sprintf("%s  %-20s  %s", k.timeOfDay(r.At), serial, what))
	}
	if relayout {
		k.relayout()
	}
}

// rejectText lists the rejects by reason that are not zero.
func (s *runScreen) rejectText(m map[station.RejectReason]int64) string {
	var parts []string
	for _, r := range station.RejectReasons() {
		if n := m[r]; n > 0 {
			parts = append(parts, rejectName(r)+" "+s.k.num(n))
		}
	}
	if len(parts) == 0 {
		return tr("No rejects")
	}
	return tr("Rejected by reason:") + " " + strings.Join(parts, " · ")
}

func enable(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

// healthChanged shows the lamps.
func (s *runScreen) healthChanged() {
	for kind, l := range s.lamps {
		h, ok := s.k.health[kind]
		if !ok {
			h = station.Health{Device: kind, Kind: kind}
		}
		l.SetHealth(h)
	}
}

// notify is the run's Notify: it hands the snapshot to the Fyne goroutine.
// It is called a few times a second at most (RunConfig.NotifyEvery).
func (k *Kiosk) notify(snap station.RunSnapshot) {
	k.do(func() { k.applySnapshot(snap) })
}

// applySnapshot shows a run snapshot.
func (k *Kiosk) applySnapshot(snap station.RunSnapshot) {
	if k.run == nil {
		return // a late snapshot of a run that is over
	}
	if snap.Order == k.snap.Order && snap.Version < k.snap.Version {
		return // older than what is shown
	}
	k.snap = snap
	if k.runScr != nil {
		k.runScr.render()
	}
}

// startOrResume starts the loaded order on the line, or resumes a held
// run once its cause is gone.
func (s *runScreen) startOrResume() {
	k := s.k
	k.touch()
	user := k.user()
	if r := k.run; r != nil {
		async(k, []string{lampCoder, lampCamera, lampPLC}, "resume the line", func(ctx context.Context) (struct{}, error) {
			return struct{}{}, r.Resume(ctx, user)
		}, func(_ struct{}, err error) {
			if err != nil {
				k.fail(tr("The line did not resume"), err)
				return
			}
			k.say(levelOK, tr("The line runs again."))
		})
		return
	}
	if k.d.Coder == nil || k.d.Camera == nil || k.d.PLC == nil {
		k.say(levelError, tr("This station has no coder, camera or line PLC configured: it cannot run a line. Use it for packing and the warehouse."))
		return
	}
	id := k.loaded
	cfg := station.RunConfig{Order: id, User: user, Coder: k.d.Coder, Camera: k.d.Camera, Line: k.d.PLC,
		Notify: k.notify, NotifyEvery: k.d.NotifyEvery, Logger: k.logger}
	s.start.Disable()
	async(k, []string{lampCoder, lampCamera, lampPLC}, "start the line", func(ctx context.Context) (*station.Run, error) {
		return k.svc.StartRun(ctx, cfg)
	}, func(r *station.Run, err error) {
		if err != nil {
			s.render()
			k.fail(trf("Order {{.Order}} did not start", map[string]any{"Order": id}), err)
			return
		}
		k.run = r
		k.snap = r.Snapshot()
		k.logger.Info("line started", "order", id, "user", user)
		go func() {
			<-r.Done()
			k.do(func() { k.runEnded(r) })
		}()
		s.render()
		k.say(levelOK, trf("Order {{.Order}} is running.", map[string]any{"Order": id}))
	})
}

// runEnded forgets a run that is over and shows the order's totals.
func (k *Kiosk) runEnded(r *station.Run) {
	if k.run != r {
		return
	}
	k.run = nil
	if k.runScr != nil {
		k.runScr.refresh()
	}
}

// holdLine holds the line at the operator's request.
func (s *runScreen) holdLine() {
	k := s.k
	k.touch()
	r, user := k.run, k.user()
	if r == nil {
		return
	}
	async(k, []string{lampPLC}, "hold the line", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.Hold(ctx, user, "")
	}, func(_ struct{}, err error) {
		if err != nil {
			k.fail(tr("The line was not held"), err)
			return
		}
		k.say(levelWarn, tr("The line is held. Resume it with Start."))
	})
}

// stopLine holds the line, stops the PLC and ends the run; the order stays
// held and can be started again.
func (s *runScreen) stopLine() {
	k := s.k
	r, user := k.run, k.user()
	if r == nil {
		return
	}
	k.confirm(tr("Stop the line?"), []string{tr("The line stops and the run ends. The order stays held: start it again later, or complete it.")},
		tr("Stop"), true, func() {
			async(k, []string{lampPLC, lampCoder}, "stop the line", func(ctx context.Context) (struct{}, error) {
				if err := r.Hold(ctx, user, "stopped by "+user); err != nil && station.ErrorCode(err) != station.ECONFLICT {
					return struct{}{}, err
				}
				if err := k.d.PLC.Command(ctx, station.LineCmdStop); err != nil && station.ErrorCode(err) != station.ECONFLICT {
					k.logger.Warn("stop the line PLC", "error", err)
				}
				return struct{}{}, r.Close()
			}, func(_ struct{}, err error) {
				if err != nil {
					k.fail(tr("The line did not stop"), err)
					return
				}
				k.runEnded(r)
				k.say(levelWarn, tr("The line is stopped and the order is held."))
			})
		})
}

// completeOrder ends the order's production after a confirmation.
func (s *runScreen) completeOrder() {
	k := s.k
	id := k.loaded
	if k.run != nil {
		id = k.snap.Order
	}
	k.completeOrder(id)
}

// completeOrder asks, then completes an order: through its run when it is
// on the line (draining the packs in flight), else directly.
func (k *Kiosk) completeOrder(id string) {
	user := k.user()
	r := k.run
	if r != nil && k.snap.Order != id {
		r = nil
	}
	k.confirm(trf("Complete order {{.Order}}?", map[string]any{"Order": id}),
		[]string{tr("Production of this order ends: packs on the line are checked, serials not printed are voided. Then a supervisor can close it.")},
		tr("Complete order"), false, func() {
			async(k, []string{lampCoder, lampPLC}, "complete the order", func(ctx context.Context) (struct{}, error) {
				if r != nil {
					return struct{}{}, r.Complete(ctx, user)
				}
				return struct{}{}, k.svc.CompleteOrder(ctx, user, id, "completed at the kiosk")
			}, func(_ struct{}, err error) {
				if err != nil {
					k.fail(trf("Order {{.Order}} was not completed", map[string]any{"Order": id}), err)
					return
				}
				if r != nil {
					k.runEnded(r)
				}
				if k.orders != nil {
					k.orders.refresh()
				}
				if k.runScr != nil {
					k.runScr.refresh()
				}
				k.say(levelOK, trf("Order {{.Order}} is completed. A supervisor can now close it on the Orders screen.", map[string]any{"Order": id}))
			})
		})
}

// ackAlarm acknowledges the alarm in the banner.
func (s *runScreen) ackAlarm() {
	k := s.k
	k.touch()
	r, id, user := k.run, s.alarmShown, k.user()
	if r == nil || id == 0 {
		return
	}
	async(k, nil, "acknowledge alarm", func(ctx context.Context) (station.RunSnapshot, error) {
		if err := r.AckAlarm(id, user); err != nil {
			return station.RunSnapshot{}, err
		}
		return r.Snapshot(), nil
	}, func(snap station.RunSnapshot, err error) {
		if err != nil {
			k.fail(tr("The alarm was not acknowledged"), err)
			return
		}
		if k.run == r {
			k.applySnapshot(snap)
		}
	})
}
