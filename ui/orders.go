package ui

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// ordersScreen lists the orders released to this line and lets the
// operator load and complete them, and a supervisor close them: the
// reconciliation is shown, and closing takes the supervisor's electronic
// signature (and QA's when it does not balance).
type ordersScreen struct {
	k *Kiosk

	list     *fyne.Container
	rows     map[string]*widget.Button
	orders   []station.OrderStatus
	selected string

	detail    *widget.Label
	load      *widget.Button
	complete  *widget.Button
	reconcile *widget.Button
	closeBtn  *widget.Button

	recTitle *widget.Label
	recBox   *fyne.Container
	rec      *station.Reconciliation // of the selected order, once computed

	obj fyne.CanvasObject
}

func newOrdersScreen(k *Kiosk) *ordersScreen {
	s := &ordersScreen{k: k, rows: map[string]*widget.Button{}}
	s.list = container.NewVBox()
	s.detail = widget.NewLabel(tr("Choose an order."))
	s.detail.Wrapping = fyne.TextWrapWord
	s.load = widget.NewButtonWithIcon(tr("Load on the line"), theme.MediaPlayIcon(), s.loadSelected)
	s.load.Importance = widget.HighImportance
	s.complete = widget.NewButtonWithIcon(tr("Complete order"), theme.ConfirmIcon(), func() { k.touch(); k.completeOrder(s.selected) })
	s.reconcile = widget.NewButtonWithIcon(tr("Reconcile"), theme.ListIcon(), s.showReconciliation)
	s.closeBtn = widget.NewButtonWithIcon(tr("Sign and close"), theme.DocumentSaveIcon(), s.closeOrder)
	s.closeBtn.Importance = widget.HighImportance
	var buttons []fyne.CanvasObject
	if k.can(station.ActRunLine) {
		buttons = append(buttons, s.load, s.complete)
	}
	buttons = append(buttons, s.reconcile)
	if k.can(station.ActManageOrders) {
		buttons = append(buttons, s.closeBtn)
	}
	s.recTitle = heading("")
	s.recBox = container.NewVBox()
	refresh := widget.NewButtonWithIcon(tr("Refresh"), theme.ViewRefreshIcon(), func() { k.touch(); s.refresh() })
	left := container.NewBorder(container.NewBorder(nil, nil, nil, refresh, heading(trf("Orders for line {{.Line}}", map[string]any{"Line": k.d.Line}))),
		nil, nil, nil, container.NewVScroll(s.list))
	right := container.NewBorder(container.NewVBox(s.detail, container.NewGridWithColumns(2, buttons...)), nil, nil, nil,
		container.NewVScroll(container.NewVBox(s.recTitle, s.recBox)))
	split := container.NewVSplit(left, right)
	split.Offset = 0.22
	s.obj = split
	s.renderDetail()
	return s
}

func (s *ordersScreen) content() fyne.CanvasObject { return s.obj }

func (s *ordersScreen) shown() { s.refresh() }

func (s *ordersScreen) scanned(scanInput) {
	s.k.say(levelInfo, tr("Scans are used on the Packing and Warehouse screens."))
}

// refresh reads the orders of this line that are not closed.
func (s *ordersScreen) refresh() {
	k := s.k
	async(k, nil, "read orders", func(ctx context.Context) ([]station.OrderStatus, error) {
		return k.svc.Orders(ctx, station.OrderReleased, station.OrderRunning, station.OrderHeld, station.OrderCompleted)
	}, func(os []station.OrderStatus, err error) {
		if err != nil {
			k.fail(tr("The orders could not be read"), err)
			return
		}
		s.orders = s.orders[:0]
		for _, o := range os {
			if k.d.Line == "" || o.Line == "" || o.Line == k.d.Line {
				s.orders = append(s.orders, o)
			}
		}
		s.renderList()
	})
}

func (s *ordersScreen) renderList() {
	k := s.k
	s.list.Objects = nil
	s.rows = map[string]*widget.Button{}
	found := false
	for _, o := range s.orders {
		id := o.Order
		text := trf("{{.Order}} · lot {{.Lot}} · {{.Done}} of {{.Quantity}} · {{.State}}", map[string]any{
			"Order": o.Order, "Lot": o.Lot, "Done": k.num(o.Commissioned), "Quantity": k.num(o.Quantity), "State": orderStateName(o.State)})
		b := widget.NewButton(text, func() { k.touch(); s.selectOrder(id) })
		b.Alignment = widget.ButtonAlignLeading
		s.rows[id] = b
		s.list.Add(b)
		if id == s.selected {
			found = true
		}
	}
	if len(s.orders) == 0 {
		s.list.Add(widget.NewLabel(tr("No order is released to this line.")))
	}
	if !found {
		s.selected = ""
		s.rec = nil
		if len(s.orders) > 0 {
			s.selected = s.orders[0].Order
		}
	}
	s.list.Refresh()
	s.renderDetail()
}

func (s *ordersScreen) selectOrder(id string) {
	if id != s.selected {
		s.rec = nil
	}
	s.selected = id
	s.renderDetail()
}

func (s *ordersScreen) selectedOrder() (station.OrderStatus, bool) {
	for _, o := range s.orders {
		if o.Order == s.selected {
			return o, true
		}
	}
	return station.OrderStatus{}, false
}

func (s *ordersScreen) renderDetail() {
	k := s.k
	for id, b := range s.rows {
		if id == s.selected {
			b.Importance = widget.HighImportance
		} else {
			b.Importance = widget.MediumImportance
		}
		b.Refresh()
	}
	o, ok := s.selectedOrder()
	if !ok {
		s.detail.SetText(tr("Choose an order."))
		for _, b := range []*widget.Button{s.load, s.complete, s.reconcile, s.closeBtn} {
			b.Disable()
		}
		s.renderReconciliation()
		return
	}
	lines := []string{
		trf("Order {{.Order}}: {{.State}}", map[string]any{"Order": o.Order, "State": orderStateName(o.State)}),
		trf("GTIN {{.GTIN}} · lot {{.Lot}} · expiry {{.Expiry}}", map[string]any{"GTIN": o.GTIN, "Lot": o.Lot, "Expiry": k.expiry(o.Expiry)}),
		trf("Quantity {{.Quantity}} · printed {{.Printed}} · commissioned {{.Commissioned}} · rejected {{.Rejected}}", map[string]any{
			"Quantity": k.num(o.Quantity), "Printed": k.num(o.Printed), "Commissioned": k.num(o.Commissioned), "Rejected": k.num(o.Rejected)}),
	}
	if k.loaded == o.Order {
		lines = append(lines, tr("This order is loaded on the line."))
	}
	s.detail.SetText(strings.Join(lines, "\n"))
	s.k.relayout()
	enable(s.load, o.State == station.OrderReleased || o.State == station.OrderRunning || o.State == station.OrderHeld)
	enable(s.complete, o.State == station.OrderRunning || o.State == station.OrderHeld)
	enable(s.reconcile, true)
	enable(s.closeBtn, o.State == station.OrderCompleted)
	s.renderReconciliation()
	if o.State == station.OrderCompleted && (s.rec == nil || s.rec.Order != o.Order) && k.busy == 0 {
		s.showReconciliation() // what a supervisor looks at before closing
	}
}

// loadSelected makes the selected order the line's and shows the line.
func (s *ordersScreen) loadSelected() {
	k := s.k
	k.touch()
	id := s.selected
	if id == "" {
		return
	}
	if k.run != nil && k.snap.Order != id {
		k.say(levelWarn, trf("Order {{.Order}} is running on the line: stop or complete it before loading another.", map[string]any{"Order": k.snap.Order}))
		return
	}
	k.loadOrder(id)
	k.show(ScreenRun)
	k.say(levelOK, trf("Order {{.Order}} is loaded. Press Start to run it.", map[string]any{"Order": id}))
}

// showReconciliation computes and shows the selected order's balance.
func (s *ordersScreen) showReconciliation() {
	k := s.k
	k.touch()
	id := s.selected
	async(k, nil, "reconcile", func(ctx context.Context) (station.Reconciliation, error) {
		return station.Reconcile(ctx, k.svc.Ledger(), id)
	}, func(rec station.Reconciliation, err error) {
		if err != nil {
			k.fail(trf("Order {{.Order}} could not be reconciled", map[string]any{"Order": id}), err)
			return
		}
		if s.selected == id {
			s.rec = &rec
			s.renderReconciliation()
		}
	})
}

// reconciliationLines is the balance of an order in the operator's words.
func (k *Kiosk) reconciliationLines(rec station.Reconciliation) []string {
	var lines []string
	for _, e := range rec.Equations {
		line := trf("{{.Name}}: {{.Left}} = {{.Right}}", map[string]any{"Name": equationName(e.Name), "Left": k.num(e.Left), "Right": k.num(e.Right)})
		if e.Difference != 0 {
			line = trf("{{.Name}}: {{.Left}} ≠ {{.Right}} (difference {{.Difference}}): {{.Explanation}}", map[string]any{
				"Name": equationName(e.Name), "Left": k.num(e.Left), "Right": k.num(e.Right), "Difference": k.num(e.Difference), "Explanation": e.Explanation})
		}
		lines = append(lines, line)
	}
	var rejects []string
	for _, rc := range rec.Rejects {
		if rc.Count > 0 {
			rejects = append(rejects, rejectName(station.RejectReason(rc.Reason))+" "+k.num(rc.Count))
		}
	}
	if len(rejects) > 0 {
		lines = append(lines, tr("Rejected by reason:")+" "+strings.Join(rejects, " · "))
	}
	lines = append(lines, trf("Yield {{.Yield}} · cases {{.Cases}} · pallets {{.Pallets}}", map[string]any{
		"Yield": k.percent(rec.Yield), "Cases": rec.Cases, "Pallets": rec.Pallets}))
	if rec.Balanced {
		lines = append(lines, tr("The order balances."))
	} else {
		lines = append(lines, tr("The order does not balance: QA must approve the deviation to close it."))
	}
	return lines
}

func (s *ordersScreen) renderReconciliation() {
	s.recBox.Objects = nil
	if s.rec == nil || s.rec.Order != s.selected {
		s.recTitle.SetText("")
		s.recBox.Refresh()
		return
	}
	s.recTitle.SetText(trf("Reconciliation of order {{.Order}}", map[string]any{"Order": s.rec.Order}))
	lines := s.k.reconciliationLines(*s.rec)
	body := widget.NewLabel(strings.Join(lines[:len(lines)-1], "\n"))
	body.Wrapping = fyne.TextWrapWord
	verdict := widget.NewLabelWithStyle(lines[len(lines)-1], fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	verdict.Wrapping = fyne.TextWrapWord
	if s.rec.Balanced {
		verdict.Importance = widget.SuccessImportance
	} else {
		verdict.Importance = widget.DangerImportance
	}
	s.recBox.Objects = []fyne.CanvasObject{body, verdict}
	s.recBox.Refresh()
	s.k.relayout()
}

// equationName is a reconciliation equation in the operator's words.
func equationName(name string) string {
	switch name {
	case "allocated = printed + unused":
		return tr("allocated = printed + unused")
	case "printed = commissioned + rejected":
		return tr("printed = commissioned + rejected")
	case "commissioned = aggregated + loose + sampled + decommissioned":
		return tr("commissioned = aggregated + loose + sampled + decommissioned")
	case "rejected = sum of rejects by reason":
		return tr("rejected = sum of rejects by reason")
	}
	return name
}

// closeOrder closes the selected completed order: the reconciliation is
// computed again, QA signs a deviation when it does not balance, and the
// supervisor signs the close.
func (s *ordersScreen) closeOrder() {
	k := s.k
	k.touch()
	id, user := s.selected, k.user()
	async(k, nil, "reconcile", func(ctx context.Context) (station.Reconciliation, error) {
		return station.Reconcile(ctx, k.svc.Ledger(), id)
	}, func(rec station.Reconciliation, err error) {
		if err != nil {
			k.fail(trf("Order {{.Order}} could not be reconciled", map[string]any{"Order": id}), err)
			return
		}
		s.rec = &rec
		s.renderReconciliation()
		closeWith := func(dev *station.SignRequest) {
			k.signDialog(signSpec{
				subject: trf("Close order {{.Order}}", map[string]any{"Order": id}),
				meaning: station.MeaningClosed,
				signer:  user,
				reason:  tr("reconciliation reviewed"),
				lines:   k.reconciliationLines(rec),
				sign: func(req *station.SignRequest, done func(error)) {
					async(k, nil, "close order", func(ctx context.Context) (station.Reconciliation, error) {
						return k.svc.CloseOrder(ctx, id, station.CloseRequest{User: user, Signature: req, Deviation: dev})
					}, func(final station.Reconciliation, err error) {
						done(err)
						if err != nil {
							return
						}
						s.rec = &final
						k.logger.Info("order closed", "order", id, "user", user, "signer", req.User)
						k.say(levelOK, trf("Order {{.Order}} is closed and signed.", map[string]any{"Order": id}))
						if k.loaded == id {
							k.loaded = ""
						}
						s.refresh()
					})
				},
			})
		}
		if rec.Balanced {
			closeWith(nil)
			return
		}
		// QA approves the deviation first; the signature is checked when
		// the order closes, in the same transaction.
		k.signDialog(signSpec{
			subject: trf("Deviation of order {{.Order}}: QA approves the difference", map[string]any{"Order": id}),
			meaning: station.MeaningDeviation,
			lines:   k.reconciliationLines(rec),
			sign: func(req *station.SignRequest, done func(error)) {
				done(nil)
				closeWith(req)
			},
		})
	})
}
