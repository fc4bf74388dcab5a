package ui

import (
	"context"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// packScreen is aggregation: a packer opens a case (or bundle, or pallet)
// for an order and scans packs into it, and closed cases onto a pallet,
// with a live fill gauge. Closing prints the label; a partial close needs
// a supervisor's signature; unpacking and replacing a damaged pack ask
// for confirmation (replacing for a supervisor's signature).
type packScreen struct {
	k *Kiosk

	orderBox *fyne.Container
	orderBtn map[string]*widget.Button
	orders   []station.OrderStatus
	order    string
	product  *station.Product

	openBox  *fyne.Container
	openBtns map[station.AggregationLevel]*widget.Button

	cards   map[station.AggregationLevel]*packCard
	cardBox *fyne.Container
	current station.AggregationLevel // the container Close, Unpack and Replace act on

	closeBtn *widget.Button
	unpack   *widget.Button
	replace  *widget.Button
	scan     *widget.Entry
	hint     *widget.Label

	obj fyne.CanvasObject
}

// packCard shows one container being packed: its identity, a fill gauge
// and the last children scanned.
type packCard struct {
	state    station.ContainerState
	title    *widget.Button // tap to make it the current container
	gauge    *widget.ProgressBar
	children *widget.Label
	last     []string // keys of the last children packed, newest first
	obj      fyne.CanvasObject
}

func newPackScreen(k *Kiosk) *packScreen {
	s := &packScreen{k: k, orderBtn: map[string]*widget.Button{}, openBtns: map[station.AggregationLevel]*widget.Button{},
		cards: map[station.AggregationLevel]*packCard{}}
	s.orderBox = container.NewGridWrap(fyne.NewSize(320, sizeTapTarget))
	s.openBox = container.NewGridWrap(fyne.NewSize(220, sizeTapTarget))
	s.cardBox = container.NewVBox()
	s.closeBtn = widget.NewButtonWithIcon(tr("Close and print label"), theme.DocumentPrintIcon(), s.closeCurrent)
	s.closeBtn.Importance = widget.HighImportance
	s.unpack = widget.NewButtonWithIcon(tr("Unpack…"), theme.ContentUndoIcon(), s.unpackCurrent)
	s.replace = widget.NewButtonWithIcon(tr("Replace a pack…"), theme.ViewRefreshIcon(), s.replacePack)
	s.scan = k.newScanField(tr("Scan a pack or case here"))
	s.hint = widget.NewLabel(tr("Choose the order, open a case, then scan its packs."))
	s.hint.Wrapping = fyne.TextWrapWord
	top := container.NewVBox(container.NewBorder(nil, nil, heading(tr("Order")), nil, s.orderBox),
		container.NewBorder(nil, nil, heading(tr("Open")), nil, s.openBox), s.scan, s.hint)
	actions := container.NewVBox(s.closeBtn, container.NewGridWithColumns(2, s.unpack, s.replace))
	s.obj = container.NewBorder(top, actions, nil, nil, container.NewVScroll(s.cardBox))
	s.render()
	return s
}

func (s *packScreen) content() fyne.CanvasObject { return s.obj }

func (s *packScreen) shown() {
	s.refresh()
	s.k.focus(s.scan)
}

// refresh reads the orders that can be packed, the product of the chosen
// one and its containers still open (so that a packer finds an open case
// again after signing in).
func (s *packScreen) refresh() {
	k := s.k
	want := s.order
	if want == "" {
		want = k.loaded
	}
	type result struct {
		orders  []station.OrderStatus
		order   string
		product *station.Product
		open    []station.ContainerState
	}
	async(k, nil, "read orders", func(ctx context.Context) (result, error) {
		var r result
		os, err := k.svc.Orders(ctx, station.OrderRunning, station.OrderHeld, station.OrderCompleted)
		if err != nil {
			return r, err
		}
		for _, o := range os {
			if k.d.Line == "" || o.Line == "" || o.Line == k.d.Line {
				r.orders = append(r.orders, o)
			}
		}
		for _, o := range r.orders {
			if o.Order == want || r.order == "" {
				r.order = o.Order
			}
		}
		if r.order == "" {
			return r, nil
		}
		o, _ := findOrder(r.orders, r.order)
		p, err := k.svc.Product(ctx, o.GTIN)
		if err != nil {
			return r, err
		}
		r.product = &p
		cs, err := k.svc.Ledger().Containers(ctx, r.order)
		if err != nil {
			return r, err
		}
		for _, c := range cs {
			if c.Status == station.ContainerOpen {
				r.open = append(r.open, c)
			}
		}
		return r, nil
	}, func(r result, err error) {
		if err != nil {
			k.fail(tr("The orders could not be read"), err)
			return
		}
		s.orders = r.orders
		if r.order != s.order {
			s.cards = map[station.AggregationLevel]*packCard{}
		}
		s.order, s.product = r.order, r.product
		for _, c := range r.open {
			if card := s.cards[c.Level]; card == nil || card.state.Status != station.ContainerOpen {
				s.setCard(c)
			}
		}
		s.render()
	})
}

func findOrder(os []station.OrderStatus, id string) (station.OrderStatus, bool) {
	for _, o := range os {
		if o.Order == id {
			return o, true
		}
	}
	return station.OrderStatus{}, false
}

// levels are the product's packaging levels above the unit, smallest first.
func (s *packScreen) levels() []station.AggregationLevel {
	if s.product == nil {
		return nil
	}
	var out []station.AggregationLevel
	for _, l := range s.product.Levels {
		out = append(out, l.Level)
	}
	return out
}

func (s *packScreen) render() {
	k := s.k
	s.orderBox.Objects = nil
	s.orderBtn = map[string]*widget.Button{}
	for _, o := range s.orders {
		id := o.Order
		b := widget.NewButton(trf("{{.Order}} · lot {{.Lot}}", map[string]any{"Order": o.Order, "Lot": o.Lot}), func() {
			k.touch()
			if id != s.order {
				s.order, s.product, s.cards = id, nil, map[station.AggregationLevel]*packCard{}
				s.refresh()
			}
		})
		if id == s.order {
			b.Importance = widget.HighImportance
		}
		s.orderBtn[id] = b
		s.orderBox.Add(b)
	}
	if len(s.orders) == 0 {
		s.orderBox.Add(widget.NewLabel(tr("No order to pack")))
	}
	s.orderBox.Refresh()

	s.openBox.Objects = nil
	s.openBtns = map[station.AggregationLevel]*widget.Button{}
	for _, l := range s.levels() {
		lvl := l
		b := widget.NewButtonWithIcon(trf("Open {{.Level}}", map[string]any{"Level": levelName(l)}), theme.ContentAddIcon(), func() { s.open(lvl) })
		if c := s.cards[l]; c != nil && c.state.Status == station.ContainerOpen {
			b.Disable()
		}
		s.openBtns[l] = b
		s.openBox.Add(b)
	}
	s.openBox.Refresh()

	s.cardBox.Objects = nil
	levels := s.levels()
	slices.Reverse(levels) // pallet above case, as they stack
	for _, l := range levels {
		if c := s.cards[l]; c != nil {
			s.renderCard(c)
			s.cardBox.Add(c.obj)
		}
	}
	s.cardBox.Refresh()
	s.hint.Hidden = len(s.cards) > 0
	cur := s.cards[s.current]
	enable(s.closeBtn, cur != nil && cur.state.Status == station.ContainerOpen && cur.state.Count > 0)
	enable(s.unpack, cur != nil && cur.state.Count > 0)
	enable(s.replace, cur != nil && cur.state.Count > 0)
	if cur != nil && cur.state.Count > 0 && cur.state.Count == cur.state.Capacity && cur.state.Status == station.ContainerOpen {
		s.closeBtn.SetText(trf("Close full {{.Level}}", map[string]any{"Level": levelName(cur.state.Level)}))
	} else {
		s.closeBtn.SetText(tr("Close and print label"))
	}
	k.relayout()
}

func (s *packScreen) setCard(c station.ContainerState) *packCard {
	card := s.cards[c.Level]
	if card == nil || card.state.Parent != c.Parent {
		card = &packCard{}
		lvl := c.Level
		card.title = widget.NewButton("", func() { s.k.touch(); s.current = lvl; s.render() })
		card.title.Alignment = widget.ButtonAlignLeading
		card.gauge = widget.NewProgressBar()
		card.children = widget.NewLabel("")
		card.children.TextStyle.Monospace = true
		card.obj = container.NewVBox(card.title, card.gauge, card.children)
		s.cards[c.Level] = card
	}
	card.state = c
	s.current = c.Level
	return card
}

func (s *packScreen) renderCard(c *packCard) {
	st := c.state
	what := trf("{{.Level}} {{.ID}} · {{.State}}", map[string]any{"Level": levelName(st.Level), "ID": st.Parent.Key(), "State": itemStateName(string(st.Status))})
	if st.Partial {
		what += " · " + tr("partial")
	}
	c.title.SetText(capital(what))
	if st.Level == s.current {
		c.title.Importance = widget.HighImportance
	} else {
		c.title.Importance = widget.MediumImportance
	}
	c.title.Refresh()
	c.gauge.Max = float64(max(st.Capacity, 1))
	c.gauge.SetValue(float64(st.Count))
	count, capacity := s.k.num(int64(st.Count)), s.k.num(int64(st.Capacity))
	c.gauge.TextFormatter = func() string { return count + " / " + capacity }
	c.gauge.Refresh()
	c.children.SetText(strings.Join(c.last, "\n"))
}

func (s *packScreen) scanned(in scanInput) {
	k := s.k
	if in.err != nil {
		k.fail(tr("Scan not accepted"), in.err)
		return
	}
	if s.order == "" {
		k.say(levelWarn, tr("Choose the order first."))
		return
	}
	user, code := k.user(), in.code
	open := map[station.AggregationLevel]station.Item{}
	for l, c := range s.cards {
		if c.state.Status == station.ContainerOpen {
			open[l] = c.state.Parent
		}
	}
	levels := s.levels()
	product := s.product
	type result struct {
		packed  *station.PackResult
		into    station.AggregationLevel
		found   *station.ContainerState // a container scanned to work on it
		repairs bool
	}
	async(k, nil, "pack", func(ctx context.Context) (result, error) {
		var r result
		it, _, err := station.ParseItem(code)
		if err != nil {
			return r, err
		}
		// A container scanned: onto the open container above it, or
		// shown to work on (unpack, or go on packing it).
		lvl := station.LevelUnit
		c, err := k.svc.Ledger().Container(ctx, it)
		switch {
		case err == nil:
			lvl = c.Level
			if c.Status == station.ContainerOpen || product == nil {
				r.found = &c
				return r, nil
			}
		case station.ErrorCode(err) != station.ENOTFOUND:
			return r, err
		case it.SSCC != "":
			return r, station.Errorf(station.ENOTFOUND, "%s was not packed at this station", it)
		}
		if product != nil && lvl == station.LevelUnit {
			if l, ok := product.LevelOfGTIN(it.GTIN); ok {
				lvl = l
			}
		}
		// The open container that holds this level.
		for _, l := range levels {
			if product.ChildLevel(l) == lvl {
				if p, ok := open[l]; ok {
					res, err := k.svc.Pack(ctx, user, p, code)
					if err != nil {
						return r, err
					}
					r.packed, r.into = &res, l
					return r, nil
				}
				if lvl != station.LevelUnit && c.Parent == it {
					r.found = &c // a closed case and no pallet open: show it
					return r, nil
				}
				return r, station.Errorf(station.ECONFLICT, "no %s is open for %s: open one first", l, it)
			}
		}
		if lvl != station.LevelUnit && c.Parent == it {
			r.found = &c
			return r, nil
		}
		return r, station.Errorf(station.ECONFLICT, "%s is a %s, which no level of this product holds", it, lvl)
	}, func(r result, err error) {
		if err != nil {
			k.fail(tr("Not packed"), err)
			return
		}
		switch {
		case r.found != nil:
			s.setCard(*r.found)
			k.say(levelInfo, trf("{{.Level}} {{.ID}} is {{.State}} with {{.Count}} of {{.Capacity}}.", map[string]any{
				"Level": levelName(r.found.Level), "ID": r.found.Parent.Key(), "State": itemStateName(string(r.found.Status)),
				"Count": r.found.Count, "Capacity": r.found.Capacity}))
		case r.packed != nil:
			card := s.cards[r.into]
			if card != nil {
				card.state.Count = r.packed.Count
				card.last = append([]string{r.packed.Child.Key()}, card.last...)
				if len(card.last) > 5 {
					card.last = card.last[:5]
				}
				s.current = r.into
			}
			if r.packed.Full {
				k.say(levelOK, trf("{{.Level}} is full ({{.Count}} of {{.Capacity}}): close it to print its label.", map[string]any{
					"Level": levelName(r.into), "Count": r.packed.Count, "Capacity": r.packed.Capacity}))
			} else {
				k.say(levelOK, trf("Packed {{.Child}} ({{.Count}} of {{.Capacity}}).", map[string]any{
					"Child": r.packed.Child.Key(), "Count": r.packed.Count, "Capacity": r.packed.Capacity}))
			}
		}
		s.render()
		k.focus(s.scan)
	})
}

// open starts a container of level for the order.
func (s *packScreen) open(level station.AggregationLevel) {
	k := s.k
	k.touch()
	user, order := k.user(), s.order
	async(k, nil, "open container", func(ctx context.Context) (station.ContainerState, error) {
		return k.svc.OpenParent(ctx, user, order, level)
	}, func(c station.ContainerState, err error) {
		if err != nil {
			k.fail(trf("No {{.Level}} was opened", map[string]any{"Level": levelName(level)}), err)
			return
		}
		s.setCard(c)
		s.render()
		k.say(levelOK, trf("{{.Level}} {{.ID}} is open for {{.Capacity}}: scan into it.", map[string]any{
			"Level": levelName(level), "ID": c.Parent.Key(), "Capacity": c.Capacity}))
		k.focus(s.scan)
	})
}

// closeCurrent closes the current container and prints its label; a
// partial one needs a supervisor's signature first.
func (s *packScreen) closeCurrent() {
	k := s.k
	k.touch()
	card := s.cards[s.current]
	if card == nil {
		return
	}
	st, user := card.state, k.user()
	doClose := func(sig *station.SignRequest, done func(error)) {
		async(k, []string{lampPrinter}, "print the label", func(ctx context.Context) (station.ContainerState, error) {
			return k.svc.CloseParent(ctx, user, st.Parent, sig)
		}, func(c station.ContainerState, err error) {
			if done != nil {
				done(err)
			}
			if err != nil {
				if done == nil {
					k.fail(trf("{{.Level}} {{.ID}} was not closed", map[string]any{"Level": levelName(st.Level), "ID": st.Parent.Key()}), err)
				}
				return
			}
			s.closed(c)
		})
	}
	if st.Count >= st.Capacity {
		doClose(nil, nil)
		return
	}
	signer := ""
	if k.has(station.RoleSupervisor) {
		signer = user
	}
	k.signDialog(signSpec{
		subject: trf("Close partial {{.Level}} {{.ID}} with {{.Count}} of {{.Capacity}}", map[string]any{
			"Level": levelName(st.Level), "ID": st.Parent.Key(), "Count": st.Count, "Capacity": st.Capacity}),
		meaning: station.MeaningPartial,
		signer:  signer,
		lines:   []string{tr("A supervisor signs a partial case or pallet.")},
		sign:    doClose,
	})
}

// closed shows a closed container; a case closed while a pallet is open
// goes onto the pallet.
func (s *packScreen) closed(c station.ContainerState) {
	k := s.k
	s.setCard(c)
	msg := trf("{{.Level}} {{.ID}} is closed and its label printed.", map[string]any{"Level": levelName(c.Level), "ID": c.Parent.Key()})
	for _, l := range s.levels() {
		pc := s.cards[l]
		if s.product.ChildLevel(l) != c.Level || pc == nil || pc.state.Status != station.ContainerOpen {
			continue
		}
		user, parent := k.user(), pc.state.Parent
		async(k, nil, "pack", func(ctx context.Context) (station.PackResult, error) {
			return k.svc.Pack(ctx, user, parent, c.Parent.Key())
		}, func(r station.PackResult, err error) {
			if err != nil {
				k.fail(trf("{{.ID}} was closed but not put on {{.Parent}}", map[string]any{"ID": c.Parent.Key(), "Parent": parent.Key()}), err)
				return
			}
			pc.state.Count = r.Count
			pc.last = append([]string{c.Parent.Key()}, pc.last...)
			if len(pc.last) > 5 {
				pc.last = pc.last[:5]
			}
			s.current = l
			s.render()
			k.say(levelOK, msg+" "+trf("It is on {{.Level}} {{.Parent}} ({{.Count}} of {{.Capacity}}).", map[string]any{
				"Level": levelName(l), "Parent": parent.Key(), "Count": r.Count, "Capacity": r.Capacity}))
		})
		s.render()
		return
	}
	s.render()
	k.say(levelOK, msg)
}

// unpackCurrent takes children out of the current container after a
// confirmation: one scanned child, or all.
func (s *packScreen) unpackCurrent() {
	k := s.k
	card := s.cards[s.current]
	if card == nil {
		return
	}
	st, user := card.state, k.user()
	k.openDialog(dialogSpec{
		title: trf("Unpack {{.Level}} {{.ID}}?", map[string]any{"Level": levelName(st.Level), "ID": st.Parent.Key()}),
		lines: []string{trf("Scan one child to take it out, or leave the field empty to take out all {{.Count}}. A closed one is opened again.", map[string]any{"Count": st.Count})},
		fields: []fieldSpec{
			{key: "child", label: tr("Child (scan)"), placeholder: tr("empty: all"), scan: true},
			{key: "reason", label: tr("Reason"), value: tr("repack")},
		},
		okText: tr("Unpack"), danger: true, cancel: true,
		onOK: func(d *dialog) {
			reason := strings.TrimSpace(d.value("reason"))
			var children []station.Item
			if code := strings.TrimSpace(d.value("child")); code != "" {
				it, _, err := station.ParseItem(code)
				if err != nil {
					d.showError(explain(err))
					return
				}
				children = []station.Item{it}
			}
			d.setWaiting(true)
			async(k, nil, "unpack", func(ctx context.Context) (station.ContainerState, error) {
				if _, err := k.svc.Unpack(ctx, user, st.Parent, children, reason); err != nil {
					return station.ContainerState{}, err
				}
				return k.svc.Ledger().Container(ctx, st.Parent)
			}, func(c station.ContainerState, err error) {
				if err != nil {
					d.showError(explain(err))
					return
				}
				d.close()
				card := s.setCard(c)
				card.last = nil
				s.render()
				k.say(levelOK, trf("{{.Level}} {{.ID}} now holds {{.Count}} of {{.Capacity}}.", map[string]any{
					"Level": levelName(c.Level), "ID": c.Parent.Key(), "Count": c.Count, "Capacity": c.Capacity}))
			})
		},
	})
}

// replacePack is rework: a damaged pack in a container is replaced by a
// good one, signed by a supervisor.
func (s *packScreen) replacePack() {
	k := s.k
	user := k.user()
	k.openDialog(dialogSpec{
		title: tr("Replace a damaged pack"),
		lines: []string{tr("Scan the damaged pack, then the pack that takes its place. The damaged pack is decommissioned; a supervisor signs.")},
		fields: []fieldSpec{
			{key: "old", label: tr("Damaged pack"), scan: true},
			{key: "new", label: tr("New pack"), scan: true},
			{key: "reason", label: tr("Reason"), value: tr("damaged pack")},
		},
		okText: tr("Continue"), cancel: true,
		onOK: func(d *dialog) {
			old, repl, reason := d.value("old"), d.value("new"), strings.TrimSpace(d.value("reason"))
			if old == "" || repl == "" {
				d.showError(tr("Scan both packs first."))
				return
			}
			d.close()
			signer := ""
			if k.has(station.RoleSupervisor) {
				signer = user
			}
			k.signDialog(signSpec{
				subject: trf("Replace {{.Old}} by {{.New}}", map[string]any{"Old": old, "New": repl}),
				meaning: station.MeaningRework,
				signer:  signer,
				reason:  reason,
				sign: func(req *station.SignRequest, done func(error)) {
					async(k, nil, "replace", func(ctx context.Context) (struct{}, error) {
						return struct{}{}, k.svc.Replace(ctx, user, old, repl, reason, req)
					}, func(_ struct{}, err error) {
						done(err)
						if err == nil {
							k.say(levelOK, trf("{{.Old}} was replaced by {{.New}} and decommissioned.", map[string]any{"Old": old, "New": repl}))
							s.refresh()
						}
					})
				},
			})
		},
	})
}
