package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// Warehouse modes: what a scan does on the warehouse screen.
const (
	modeLookUp       = "lookup"
	modePick         = "pick"
	modeReceive      = "receive"
	modeQuarantine   = "quarantine"
	modeDecommission = "decommission"
	modeRelease      = "release"
	modeSample       = "sample"
)

// samplePurposes are the reasons a pack is taken as a sample offered on
// the screen (the ledger takes any short purpose).
var samplePurposes = []string{"qa", "retention", "stability"}

// maxTreeLines bounds the lines of an aggregation tree shown at once.
const maxTreeLines = 400

// warehouseScreen is the warehouse: scan a pallet, case or pack to see its
// full tree and status; pick into a shipment and ship it to a partner,
// receive, quarantine and (QA, signed) release from quarantine, take a
// pack as a sample or decommission it with a reason (signed). Only the
// moves the user's role allows are offered.
type warehouseScreen struct {
	k *Kiosk

	modes *choice
	scan  *widget.Entry

	header *widget.Label
	tree   *fyne.Container
	item   *station.ItemStatus // the item looked up last

	panel *fyne.Container // the current mode's settings

	// pick: the shipment being picked
	shipment  *station.ShipmentState
	shipLabel *widget.Label
	newShip   *widget.Button
	packShip  *widget.Button
	ship      *widget.Button
	pickPanel fyne.CanvasObject

	// receive: our own shipment coming back (from which partner), or a
	// partner's shipment against its document
	recvKind     *choice
	recvBox      *fyne.Container // the kind's panel
	from         *choice
	document     *widget.Entry
	ownPanel     fyne.CanvasObject
	inbound      *inboundPanel
	receivePanel fyne.CanvasObject

	// quarantine: why
	reason          *widget.Entry
	quarantinePanel fyne.CanvasObject

	// decommission: why
	decReason         *choice
	decDetail         *widget.Entry
	decommissionPanel fyne.CanvasObject

	// release from quarantine and sample: signed; the sample's purpose
	releasePanel fyne.CanvasObject
	purpose      *choice
	samplePanel  fyne.CanvasObject

	obj fyne.CanvasObject
}

func newWarehouseScreen(k *Kiosk) *warehouseScreen {
	s := &warehouseScreen{k: k}
	modes, names := []string{modeLookUp}, []string{tr("Look up")}
	if k.can(station.ActMoveStock) {
		modes = append(modes, modePick, modeReceive, modeQuarantine)
		names = append(names, tr("Pick and ship"), tr("Receive"), tr("Quarantine"))
		if k.has(station.RoleSupervisor) || k.has(station.RoleQA) {
			modes = append(modes, modeRelease, modeSample, modeDecommission)
			names = append(names, tr("Release"), tr("Take a sample"), tr("Decommission"))
		}
	}
	s.scan = k.newScanField(tr("Scan a pallet, case or pack here"))
	s.header = widget.NewLabel(tr("Scan a pallet, case or pack to see what it holds."))
	s.header.Wrapping = fyne.TextWrapWord
	s.tree = container.New(layout.NewCustomPaddedVBoxLayout(4))
	s.panel = container.NewStack()

	s.shipLabel = widget.NewLabel(tr("No shipment: start one, then scan what goes into it."))
	s.shipLabel.Wrapping = fyne.TextWrapWord
	s.newShip = widget.NewButtonWithIcon(tr("New shipment"), theme.ContentAddIcon(), s.newShipment)
	s.packShip = widget.NewButtonWithIcon(tr("Packing done"), theme.ConfirmIcon(), s.packShipment)
	s.ship = widget.NewButtonWithIcon(tr("Ship"), theme.MailSendIcon(), s.shipShipment)
	s.ship.Importance = widget.HighImportance
	s.pickPanel = container.NewVBox(s.shipLabel, container.NewGridWithColumns(3, s.newShip, s.packShip, s.ship))

	var partners, partnerNames []string
	for _, p := range k.d.Partners {
		partners, partnerNames = append(partners, p.GLN), append(partnerNames, p.Name)
	}
	first := ""
	if len(partners) > 0 {
		first = partners[0]
	}
	s.from = newChoice(partners, partnerNames, first, func(string) { k.touch() })
	s.document = widget.NewEntry()
	s.document.SetPlaceHolder(tr("Despatch advice number (optional)"))
	s.ownPanel = container.NewVBox(widget.NewLabel(tr("Received from:")), s.from.box, s.document)
	s.inbound = newInboundPanel(s)
	s.recvBox = container.NewStack(s.ownPanel)
	s.recvKind = newChoice([]string{receiveOwn, receivePartner}, []string{tr("Our own shipment coming back"), tr("A partner's shipment (document)")},
		receiveOwn, s.setReceiveKind)
	s.receivePanel = container.NewVBox(s.recvKind.box, s.recvBox)

	s.reason = widget.NewEntry()
	s.reason.SetPlaceHolder(tr("Why (required), e.g. suspect damage"))
	s.quarantinePanel = container.NewVBox(widget.NewLabel(tr("Quarantine reason:")), s.reason)

	var reasons, reasonNames []string
	for _, r := range station.DecommissionReasons() {
		if r != station.DecommissionReplaced {
			reasons, reasonNames = append(reasons, string(r)), append(reasonNames, decommissionName(r))
		}
	}
	s.decReason = newChoice(reasons, reasonNames, string(station.DecommissionDamaged), func(string) { k.touch() })
	s.decDetail = widget.NewEntry()
	s.decDetail.SetPlaceHolder(tr("Details (optional)"))
	s.decommissionPanel = container.NewVBox(widget.NewLabel(tr("Decommission reason:")), s.decReason.box, s.decDetail)

	release := widget.NewLabel(tr("Scan what QA releases from quarantine back into stock: a QA signature is asked for."))
	release.Wrapping = fyne.TextWrapWord
	s.releasePanel = release
	var purposeNames []string
	for _, p := range samplePurposes {
		purposeNames = append(purposeNames, samplePurposeName(p))
	}
	s.purpose = newChoice(samplePurposes, purposeNames, samplePurposes[0], func(string) { k.touch() })
	s.samplePanel = container.NewVBox(widget.NewLabel(tr("Sample for:")), s.purpose.box)

	s.modes = newChoice(modes, names, modeLookUp, s.setMode)
	top := container.NewVBox(s.modes.box, s.panel, s.scan, s.header)
	s.obj = container.NewBorder(top, nil, nil, nil, container.NewScroll(container.NewPadded(s.tree)))
	s.renderShipment()
	return s
}

func (s *warehouseScreen) content() fyne.CanvasObject { return s.obj }

func (s *warehouseScreen) shown() { s.k.focus(s.scan) }

// setReceiveKind shows the panel of a kind of receipt.
func (s *warehouseScreen) setReceiveKind(kind string) {
	s.k.touch()
	if s.recvBox == nil {
		return
	}
	p := s.ownPanel
	if kind == receivePartner {
		p = s.inbound.obj
	}
	s.recvBox.Objects = []fyne.CanvasObject{p}
	s.recvBox.Refresh()
	s.k.relayout()
	if s.scan != nil {
		s.k.focus(s.scan)
	}
}

// setMode shows the settings of a mode.
func (s *warehouseScreen) setMode(mode string) {
	s.k.touch()
	var p fyne.CanvasObject
	switch mode {
	case modePick:
		p = s.pickPanel
	case modeReceive:
		p = s.receivePanel
	case modeQuarantine:
		p = s.quarantinePanel
	case modeDecommission:
		p = s.decommissionPanel
	case modeRelease:
		p = s.releasePanel
	case modeSample:
		p = s.samplePanel
	}
	if s.panel == nil {
		return
	}
	s.panel.Objects = nil
	if p != nil {
		s.panel.Objects = []fyne.CanvasObject{p}
	}
	s.panel.Refresh()
	s.k.relayout() // the panel's height changed: lay out what is around it again
	if s.scan != nil {
		s.k.focus(s.scan)
	}
}

func (s *warehouseScreen) scanned(in scanInput) {
	k := s.k
	if s.modes.value == modeReceive && s.recvKind.value == receivePartner {
		s.inbound.scanned(in) // a document number may be typed here too
		return
	}
	if in.err != nil {
		k.fail(tr("Scan not accepted"), in.err)
		return
	}
	user, code := k.user(), in.code
	switch s.modes.value {
	case modePick:
		if s.shipment == nil || s.shipment.Status != station.ShipmentStatusOpen {
			k.say(levelWarn, tr("Start a new shipment first, then scan what goes into it."))
			return
		}
		id := s.shipment.ID
		s.move(code, tr("Not picked"), func(ctx context.Context) (string, error) {
			it, err := k.svc.Pick(ctx, user, id, code)
			if err != nil {
				return "", err
			}
			return trf("{{.Item}} is picked into shipment {{.Shipment}}.", map[string]any{"Item": it.Key(), "Shipment": id}), nil
		})
	case modeReceive:
		from, doc := s.from.value, strings.TrimSpace(s.document.Text)
		if from == "" {
			k.say(levelWarn, tr("Choose whom the goods come from first."))
			return
		}
		s.move(code, tr("Not received"), func(ctx context.Context) (string, error) {
			it, err := k.svc.Receive(ctx, user, code, from, doc)
			if err != nil {
				return "", err
			}
			return trf("{{.Item}} is received into stock.", map[string]any{"Item": it.Key()}), nil
		})
	case modeQuarantine:
		reason := strings.TrimSpace(s.reason.Text)
		if reason == "" {
			k.say(levelWarn, tr("Write the quarantine reason first, then scan."))
			k.focus(s.reason)
			return
		}
		s.move(code, tr("Not quarantined"), func(ctx context.Context) (string, error) {
			it, err := k.svc.Quarantine(ctx, user, code, reason)
			if err != nil {
				return "", err
			}
			return trf("{{.Item}} is in quarantine: it cannot be packed, picked or shipped.", map[string]any{"Item": it.Key()}), nil
		})
	case modeDecommission:
		s.decommission(code)
	case modeRelease:
		s.release(code)
	case modeSample:
		s.sample(code)
	default:
		s.lookUp(code)
	}
}

// move runs a warehouse move and then shows the item's new status.
func (s *warehouseScreen) move(code, failed string, do func(ctx context.Context) (string, error)) {
	k := s.k
	async(k, nil, "warehouse move", func(ctx context.Context) (string, error) {
		return do(ctx)
	}, func(msg string, err error) {
		if err != nil {
			k.fail(failed, err)
			return
		}
		k.say(levelOK, msg)
		s.lookUpThen(code, true)
		s.refreshShipment()
	})
}

// lookUp shows what the station knows of a scanned item: its status and
// everything packed in it.
func (s *warehouseScreen) lookUp(code string) { s.lookUpThen(code, false) }

func (s *warehouseScreen) lookUpThen(code string, quiet bool) {
	k := s.k
	async(k, nil, "look up", func(ctx context.Context) (station.ItemStatus, error) {
		return k.svc.Status(ctx, code)
	}, func(st station.ItemStatus, err error) {
		if err != nil {
			if !quiet {
				k.fail(tr("Not found"), err)
			}
			return
		}
		s.item = &st
		s.renderItem()
		if !quiet {
			k.say(levelInfo, trf("{{.Level}} {{.Item}}: {{.State}}, {{.Stock}}.", map[string]any{
				"Level": levelName(st.Level), "Item": st.Item.Key(), "State": itemStateName(st.State), "Stock": stockName(st.Stock.Status)}))
		}
		k.focus(s.scan)
	})
}

func (s *warehouseScreen) renderItem() {
	k := s.k
	st := s.item
	lines := []string{capital(trf("{{.Level}} {{.Item}}", map[string]any{"Level": levelName(st.Level), "Item": st.Item.Key()}))}
	state := trf("State: {{.State}} · stock: {{.Stock}}", map[string]any{"State": itemStateName(st.State), "Stock": stockName(st.Stock.Status)})
	if st.Stock.Shipment != "" {
		state += " · " + trf("shipment {{.Shipment}}", map[string]any{"Shipment": st.Stock.Shipment})
	}
	if st.Stock.Reason != "" {
		state += " · " + st.Stock.Reason
	}
	lines = append(lines, state)
	if len(st.Holds) > 0 && !strings.Contains(st.Stock.Reason, st.Holds[0].Hold.Describe()) {
		// held by the central while picked, or on top of a quarantine here
		lines = append(lines, capital(st.Holds[0].Hold.Describe()))
	}
	if st.Order != "" {
		lines = append(lines, trf("Order {{.Order}} · lot {{.Lot}} · expiry {{.Expiry}}", map[string]any{
			"Order": st.Order, "Lot": st.Lot, "Expiry": k.expiry(st.Expiry)}))
	}
	if st.Parent != nil {
		lines = append(lines, trf("Packed in {{.Parent}}", map[string]any{"Parent": st.Parent.Parent.Key()}))
	}
	if st.Container != nil {
		lines = append(lines, trf("Holds {{.Count}} of {{.Capacity}}", map[string]any{"Count": st.Container.Count, "Capacity": st.Container.Capacity}))
	}
	if st.Tree != nil {
		var counts []string
		for _, l := range []station.AggregationLevel{station.LevelPallet, station.LevelCase, station.LevelBundle, station.LevelUnit} {
			if n := st.Tree.Count(l); n > 0 && l != st.Level {
				counts = append(counts, fmt.Sprintf("%s %s", k.num(int64(n)), levelCount(l, n)))
			}
		}
		if len(counts) > 0 {
			lines = append(lines, trf("In it: {{.Counts}}", map[string]any{"Counts": strings.Join(counts, " · ")}))
		}
	}
	s.header.SetText(strings.Join(lines, "\n"))

	s.tree.Objects = nil
	n := 0
	var walk func(node *station.TreeNode, depth int)
	walk = func(node *station.TreeNode, depth int) {
		if n >= maxTreeLines {
			return
		}
		n++
		text := strings.Repeat("    ", depth) + capital(trf("{{.Level}} {{.Item}} · {{.State}} · {{.Stock}}", map[string]any{
			"Level": levelName(node.Level), "Item": node.Item.Key(), "State": itemStateName(node.State), "Stock": stockName(node.Stock)}))
		l := canvas.NewText(text, theme.Color(theme.ColorNameForeground))
		l.TextSize = sizeText
		if depth == 0 {
			l.TextStyle.Bold = true
		}
		if node.Stock == station.StockInQuarantine || node.State == string(station.UnitStateDecommissioned) {
			l.Color = lampAmber
		}
		s.tree.Add(l)
		for _, ch := range node.Children {
			walk(ch, depth+1)
		}
	}
	if st.Tree != nil {
		walk(st.Tree, 0)
	}
	if n >= maxTreeLines {
		s.tree.Add(canvas.NewText(trf("… only the first {{.Count}} lines are shown", map[string]any{"Count": maxTreeLines}), theme.Color(theme.ColorNameForeground)))
	}
	s.tree.Refresh()
	k.relayout()
}

// newShipment starts a shipment to a partner.
func (s *warehouseScreen) newShipment() {
	k := s.k
	if len(k.d.Partners) == 0 || k.d.ShipFrom == "" || k.d.Owner == "" {
		k.say(levelError, tr("No trading partner or site GLN is configured at this station: shipments cannot be made here. Ask the administrator."))
		return
	}
	var partners, names []string
	for _, p := range k.d.Partners {
		partners, names = append(partners, p.GLN), append(names, p.Name)
	}
	user := k.user()
	id := "SH-" + k.d.Now().In(k.d.Location).Format("20060102-150405")
	k.openDialog(dialogSpec{
		title:   tr("New shipment"),
		fields:  []fieldSpec{{key: "id", label: tr("Shipment number"), value: id}, {key: "po", label: tr("Purchase order"), placeholder: tr("the partner's order number")}},
		choices: []choiceSpec{{key: "partner", label: tr("Ship to"), options: partners, names: names, value: partners[0]}},
		okText:  tr("Start shipment"), cancel: true,
		onOK: func(d *dialog) {
			var p Partner
			for _, x := range k.d.Partners {
				if x.GLN == d.value("partner") {
					p = x
				}
			}
			sh := station.Shipment{ID: strings.TrimSpace(d.value("id")), ShipFrom: k.d.ShipFrom, Owner: k.d.Owner,
				ShipTo: p.ShipTo, Partner: p.GLN, PO: strings.TrimSpace(d.value("po")), Name: p.Name}
			d.setWaiting(true)
			async(k, nil, "create shipment", func(ctx context.Context) (station.ShipmentState, error) {
				if err := k.svc.CreateShipment(ctx, user, sh); err != nil {
					return station.ShipmentState{}, err
				}
				return k.svc.Ledger().Shipment(ctx, sh.ID)
			}, func(st station.ShipmentState, err error) {
				if err != nil {
					d.showError(explain(err))
					return
				}
				d.close()
				s.shipment = &st
				s.renderShipment()
				k.say(levelOK, trf("Shipment {{.ID}} to {{.Partner}} is open: scan the pallets, cases or packs that go into it.", map[string]any{"ID": st.ID, "Partner": p.Name}))
				k.focus(s.scan)
			})
		},
	})
}

// refreshShipment reads the shipment being picked again.
func (s *warehouseScreen) refreshShipment() {
	if s.shipment == nil {
		return
	}
	k, id := s.k, s.shipment.ID
	async(k, nil, "read shipment", func(ctx context.Context) (station.ShipmentState, error) {
		return k.svc.Ledger().Shipment(ctx, id)
	}, func(st station.ShipmentState, err error) {
		if err != nil {
			k.fail(tr("The shipment could not be read"), err)
			return
		}
		if s.shipment != nil && s.shipment.ID == id {
			s.shipment = &st
			s.renderShipment()
		}
	})
}

func (s *warehouseScreen) renderShipment() {
	sh := s.shipment
	if sh == nil {
		s.shipLabel.SetText(tr("No shipment: start one, then scan what goes into it."))
		s.packShip.Disable()
		s.ship.Disable()
		return
	}
	status := map[station.ShipmentStatus]string{
		station.ShipmentStatusOpen: tr("open for picking"), station.ShipmentStatusPacked: tr("packed, ready to ship"), station.ShipmentStatusShipped: tr("shipped"),
	}[sh.Status]
	items := make([]string, len(sh.Items))
	for i, it := range sh.Items {
		items[i] = it.Key()
	}
	text := trf("Shipment {{.ID}} to {{.Partner}} (PO {{.PO}}): {{.Status}}, {{.Count}} items", map[string]any{
		"ID": sh.ID, "Partner": sh.Name, "PO": sh.PO, "Status": status, "Count": len(sh.Items)})
	if len(items) > 0 {
		text += "\n" + strings.Join(items, "\n")
	}
	s.shipLabel.SetText(text)
	enable(s.packShip, sh.Status == station.ShipmentStatusOpen && len(sh.Items) > 0)
	enable(s.ship, sh.Status == station.ShipmentStatusPacked)
	s.k.relayout()
}

// packShipment ends picking.
func (s *warehouseScreen) packShipment() {
	k := s.k
	k.touch()
	if s.shipment == nil {
		return
	}
	id, user := s.shipment.ID, k.user()
	async(k, nil, "pack shipment", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, k.svc.PackShipment(ctx, user, id)
	}, func(_ struct{}, err error) {
		if err != nil {
			k.fail(tr("The shipment was not packed"), err)
			return
		}
		k.say(levelOK, trf("Shipment {{.ID}} is packed: press Ship when the truck leaves.", map[string]any{"ID": id}))
		s.refreshShipment()
	})
}

// shipShipment ships a packed shipment after a confirmation.
func (s *warehouseScreen) shipShipment() {
	k := s.k
	if s.shipment == nil {
		return
	}
	id, name, n, user := s.shipment.ID, s.shipment.Name, len(s.shipment.Items), k.user()
	k.confirm(trf("Ship {{.ID}} to {{.Partner}}?", map[string]any{"ID": id, "Partner": name}),
		[]string{trf("{{.Count}} items leave the warehouse and are recorded as shipped.", map[string]any{"Count": n})},
		tr("Ship"), false, func() {
			async(k, nil, "ship", func(ctx context.Context) (struct{}, error) {
				return struct{}{}, k.svc.Ship(ctx, user, id)
			}, func(_ struct{}, err error) {
				if err != nil {
					k.fail(tr("The shipment did not ship"), err)
					return
				}
				k.logger.Info("shipment shipped", "shipment", id, "user", user)
				k.say(levelOK, trf("Shipment {{.ID}} is shipped to {{.Partner}}.", map[string]any{"ID": id, "Partner": name}))
				s.refreshShipment()
				if s.item != nil {
					s.lookUpThen(s.item.Item.Key(), true)
				}
			})
		})
}

// decommission takes a scanned pack out of the supply chain, signed.
func (s *warehouseScreen) decommission(code string) {
	k := s.k
	user := k.user()
	reason := station.DecommissionReason(s.decReason.value)
	detail := strings.TrimSpace(s.decDetail.Text)
	s.removePack(code, trf("Decommission {{.Item}} ({{.Reason}})", map[string]any{"Item": code, "Reason": decommissionName(reason)}),
		decommissionName(reason), "decommission", func(ctx context.Context, req *station.SignRequest) (station.Item, error) {
			return k.svc.Decommission(ctx, user, code, reason, detail, req)
		}, func(it station.Item) string {
			return trf("{{.Item}} is decommissioned ({{.Reason}}).", map[string]any{"Item": it.Key(), "Reason": decommissionName(reason)})
		})
}

// removePack asks for a supervisor's or QA's signature (the user's own
// proposed when they may give it) to take a scanned pack out of the supply
// chain (decommission, sample), does it, and says what was done.
func (s *warehouseScreen) removePack(code, subject, reason, what string,
	do func(ctx context.Context, req *station.SignRequest) (station.Item, error), done func(station.Item) string) {
	k := s.k
	signer := ""
	if k.has(station.RoleSupervisor) || k.has(station.RoleQA) {
		signer = k.user()
	}
	k.signDialog(signSpec{
		subject: subject,
		meaning: station.MeaningDestroyed,
		signer:  signer,
		reason:  reason,
		sign: func(req *station.SignRequest, finish func(error)) {
			async(k, nil, what, func(ctx context.Context) (station.Item, error) {
				return do(ctx, req)
			}, func(it station.Item, err error) {
				finish(err)
				if err == nil {
					k.say(levelOK, done(it))
					s.lookUpThen(code, true)
				}
			})
		},
	})
}

// release returns a quarantined item to stock, signed by QA: the dialog
// shows why it was quarantined.
func (s *warehouseScreen) release(code string) {
	k := s.k
	user := k.user()
	async(k, nil, "look up", func(ctx context.Context) (station.ItemStatus, error) {
		return k.svc.Status(ctx, code)
	}, func(st station.ItemStatus, err error) {
		if err != nil {
			k.fail(tr("Not released"), err)
			return
		}
		if st.Stock.Status != station.StockInQuarantine {
			k.say(levelWarn, trf("{{.Item}} is {{.Stock}}, not in quarantine: there is nothing to release.", map[string]any{
				"Item": st.Item.Key(), "Stock": stockName(st.Stock.Status)}))
			return
		}
		signer := ""
		if k.has(station.RoleQA) {
			signer = user
		}
		var lines []string
		if st.Stock.Reason != "" {
			lines = append(lines, trf("Quarantined because: {{.Reason}}", map[string]any{"Reason": st.Stock.Reason}))
		}
		item := st.Item.Key()
		k.signDialog(signSpec{
			subject: trf("Release {{.Item}} from quarantine into stock", map[string]any{"Item": item}),
			meaning: station.MeaningReleased,
			signer:  signer,
			lines:   lines,
			sign: func(req *station.SignRequest, done func(error)) {
				async(k, nil, "release from quarantine", func(ctx context.Context) (station.Item, error) {
					return k.svc.ReleaseQuarantine(ctx, user, code, req)
				}, func(it station.Item, err error) {
					done(err)
					if err == nil {
						k.say(levelOK, trf("{{.Item}} is released from quarantine: it is in stock again.", map[string]any{"Item": it.Key()}))
						s.lookUpThen(code, true)
					}
				})
			},
		})
	})
}

// sample takes a scanned pack out of the supply chain as a sample, signed.
func (s *warehouseScreen) sample(code string) {
	k := s.k
	user := k.user()
	purpose := s.purpose.value
	name := samplePurposeName(purpose)
	s.removePack(code, trf("Take {{.Item}} as a sample ({{.Purpose}})", map[string]any{"Item": code, "Purpose": name}),
		name, "sample", func(ctx context.Context, req *station.SignRequest) (station.Item, error) {
			return k.svc.Sample(ctx, user, code, purpose, req)
		}, func(it station.Item) string {
			return trf("{{.Item}} is taken as a sample ({{.Purpose}}).", map[string]any{"Item": it.Key(), "Purpose": name})
		})
}
