package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/linestation/linestation/station"
)

// Kinds of receipt in the warehouse screen's receive mode.
const (
	receiveOwn     = "own"     // our own shipment coming back
	receivePartner = "partner" // a partner's shipment, against its document
)

// maxDocLines bounds the documents described in the list dialog.
const maxDocLines = 8

// inboundPanel receives a partner's shipment by scan against its DSCSA
// document: choose the document (from the list, by its number, or by
// scanning the shipment's label), scan what arrived while the count runs
// against the document, then finish; the central compares and the packer
// is told what to do with what did not match.
type inboundPanel struct {
	s *warehouseScreen

	receiving *station.Receiving // nil until a document is chosen

	docLabel *widget.Label // which document, or how to choose one
	progress *widget.Label // the running count
	result   *widget.Label // the last receipt and what to do next
	docRef   *widget.Entry // a document number typed
	open     *widget.Button
	list     *widget.Button
	finish   *widget.Button
	part     *widget.Button
	cancel   *widget.Button

	obj fyne.CanvasObject
}

func newInboundPanel(s *warehouseScreen) *inboundPanel {
	p := &inboundPanel{s: s}
	p.docLabel = widget.NewLabel("")
	p.docLabel.Wrapping = fyne.TextWrapWord
	p.progress = widget.NewLabel("")
	p.progress.Wrapping = fyne.TextWrapWord
	p.progress.TextStyle.Bold = true
	p.result = widget.NewLabel("")
	p.result.Wrapping = fyne.TextWrapWord
	p.docRef = widget.NewEntry()
	p.docRef.SetPlaceHolder(tr("Document number"))
	p.docRef.OnSubmitted = func(string) { p.openTyped() }
	p.open = widget.NewButtonWithIcon(tr("Open document"), theme.FolderOpenIcon(), p.openTyped)
	p.list = widget.NewButtonWithIcon(tr("Documents waiting"), theme.ListIcon(), p.showList)
	p.finish = widget.NewButtonWithIcon(tr("Finish receipt"), theme.ConfirmIcon(), p.confirmFinish)
	p.finish.Importance = widget.HighImportance
	p.part = widget.NewButtonWithIcon(tr("Part received"), theme.ContentAddIcon(), p.confirmPart)
	p.cancel = widget.NewButtonWithIcon(tr("Cancel receipt"), theme.CancelIcon(), p.confirmCancel)
	p.obj = container.NewVBox(
		p.docLabel,
		container.NewBorder(nil, nil, nil, p.open, p.docRef),
		container.NewGridWithColumns(2, p.list, p.finish, p.part, p.cancel),
		p.progress, p.result)
	p.render()
	return p
}

// render shows the receipt in progress.
func (p *inboundPanel) render() {
	r := p.receiving
	if r == nil {
		p.docLabel.SetText(tr("No document chosen: pick one of the documents waiting, type its number, or scan the shipment's pallet or case label."))
		p.progress.SetText("")
		p.progress.Hide()
		enable(p.list, true)
		enable(p.open, true)
		enable(p.finish, false)
		enable(p.part, false)
		enable(p.cancel, false)
		p.s.k.relayout()
		return
	}
	d := r.Document
	p.docLabel.SetText(trf("Receiving document {{.Document}} from {{.Partner}} (PO {{.PO}}): scan every pallet, case or pack that arrived, then press Finish receipt (or Part received, when more of the shipment is to come).",
		map[string]any{"Document": d.DocumentID, "Partner": d.Name(), "PO": d.PO}))
	pr := r.Progress()
	text := trf("{{.Received}} of {{.Units}} packs of the document received · {{.Scans}} scans", map[string]any{
		"Received": p.s.k.num(int64(pr.Received)), "Units": p.s.k.num(int64(pr.Units)), "Scans": p.s.k.num(int64(pr.Scans))})
	if pr.Unexpected > 0 {
		text += " · " + trf("{{.Count}} not in the document", map[string]any{"Count": p.s.k.num(int64(pr.Unexpected))})
	}
	p.progress.SetText(text)
	p.progress.Show()
	enable(p.list, false)
	enable(p.open, false)
	enable(p.finish, pr.Scans > 0 || d.Received > 0) // a document received in parts may be closed without scans
	enable(p.part, pr.Scans > 0)
	enable(p.cancel, true)
	p.s.k.relayout()
}

// openTyped opens the document whose number was typed.
func (p *inboundPanel) openTyped() {
	ref := strings.TrimSpace(p.docRef.Text)
	if ref == "" {
		p.s.k.say(levelWarn, tr("Type the document number first, or scan the shipment's pallet or case label."))
		p.s.k.focus(p.docRef)
		return
	}
	p.start(ref)
}

// start finds the document ref names (a number, or a scan of something it
// ships) and starts counting against it.
func (p *inboundPanel) start(ref string) {
	k := p.s.k
	user := k.user()
	async(k, nil, "find inbound document", func(ctx context.Context) (*station.Receiving, error) {
		return k.svc.StartReceiving(ctx, user, ref)
	}, func(r *station.Receiving, err error) {
		if err != nil {
			k.fail(tr("No document"), err)
			return
		}
		p.begin(r)
	})
}

// begin starts counting against a document.
func (p *inboundPanel) begin(r *station.Receiving) {
	k := p.s.k
	p.receiving = r
	p.docRef.SetText("")
	p.result.SetText("")
	p.render()
	k.say(levelOK, trf("Document {{.Document}} from {{.Partner}} is open: {{.Units}} packs. Scan what arrived.", map[string]any{
		"Document": r.Document.DocumentID, "Partner": r.Document.Name(), "Units": k.num(int64(r.Document.Units))}))
	k.focus(p.s.scan)
}

// showList asks the central for the documents waiting here and offers them.
func (p *inboundPanel) showList() {
	k := p.s.k
	k.touch()
	user := k.user()
	async(k, nil, "list inbound documents", func(ctx context.Context) ([]station.InboundDocument, error) {
		return k.svc.InboundDocuments(ctx, user)
	}, func(docs []station.InboundDocument, err error) {
		if err != nil {
			k.fail(tr("The documents could not be listed"), err)
			return
		}
		if len(docs) == 0 {
			k.say(levelInfo, tr("No partner's document is waiting to be received here. Ask the office whether the partner sent it."))
			return
		}
		var ids, names, lines []string
		for i, d := range docs {
			ids, names = append(ids, d.Capture), append(names, d.DocumentID)
			if i < maxDocLines {
				lines = append(lines, trf("{{.Document}}: {{.Partner}}, PO {{.PO}}, {{.Units}} packs", map[string]any{
					"Document": d.DocumentID, "Partner": d.Name(), "PO": d.PO, "Units": k.num(int64(d.Units))}))
			}
		}
		if len(docs) > maxDocLines {
			lines = append(lines, trf("(and {{.Count}} more)", map[string]any{"Count": len(docs) - maxDocLines}))
		}
		k.openDialog(dialogSpec{
			title:   tr("Documents waiting"),
			lines:   lines,
			choices: []choiceSpec{{key: "doc", label: tr("Document"), options: ids, names: names, value: ids[0]}},
			okText:  tr("Receive against it"), cancel: true,
			onOK: func(d *dialog) {
				for _, doc := range docs {
					if doc.Capture == d.value("doc") {
						d.close()
						p.begin(station.NewReceiving(doc))
						return
					}
				}
			},
		})
	})
}

// scanned counts a scan against the document, or opens the document the
// scan names when none is open yet.
func (p *inboundPanel) scanned(in scanInput) {
	k := p.s.k
	if p.receiving == nil {
		ref := in.code
		if in.err != nil {
			ref = in.text // a document number typed into the scan field
		}
		p.start(ref)
		return
	}
	if in.err != nil {
		k.fail(tr("Scan not counted"), in.err)
		return
	}
	sc, err := p.receiving.Add(in.code)
	if err != nil {
		k.fail(tr("Scan not counted"), err)
		return
	}
	p.render()
	if !sc.InDocument {
		k.say(levelWarn, trf("{{.Item}} is not in the document: put it aside for quarantine.", map[string]any{"Item": sc.Item.Key()}))
		return
	}
	k.say(levelOK, trf("{{.Item}} counted: {{.Count}} packs of the document.", map[string]any{"Item": sc.Item.Key(), "Count": k.num(int64(sc.Units))}))
}

// confirmFinish sends the receipt after a confirmation.
func (p *inboundPanel) confirmFinish() { p.confirmSend(false) }

// confirmPart sends what was scanned as a part of the shipment, with more
// to come, after a confirmation.
func (p *inboundPanel) confirmPart() { p.confirmSend(true) }

// confirmSend asks to send the receipt, or a part of it, saying what
// follows, and sends it.
func (p *inboundPanel) confirmSend(partial bool) {
	k := p.s.k
	r := p.receiving
	if r == nil {
		return
	}
	pr := r.Progress()
	count := trf("{{.Received}} of {{.Units}} packs of the document received · {{.Scans}} scans", map[string]any{
		"Received": k.num(int64(pr.Received)), "Units": k.num(int64(pr.Units)), "Scans": k.num(int64(pr.Scans))})
	doc := map[string]any{"Document": r.Document.DocumentID}
	title, next, ok := trf("Finish the receipt of {{.Document}}?", doc),
		tr("The central service compares the scans with the document and records the receipt; it cannot be received again."), tr("Finish receipt")
	if partial {
		title, next, ok = trf("Receive this part of {{.Document}}?", doc),
			tr("The rest arrives later: the document stays waiting, and what is missing is reported when its last part is received."), tr("Part received")
	}
	k.confirm(title, []string{count, next}, ok, false, func() { p.send(r, partial) })
}

// send records the receipt (or a part of it) at the central and shows it.
func (p *inboundPanel) send(r *station.Receiving, partial bool) {
	k := p.s.k
	user := k.user()
	async(k, nil, "receive against document", func(ctx context.Context) (station.InboundReceipt, error) {
		return k.svc.FinishReceiving(ctx, user, r, partial)
	}, func(rec station.InboundReceipt, err error) {
		if err != nil {
			k.fail(tr("Not received"), err)
			return
		}
		k.logger.Info("goods received against a partner's document", "receipt", rec.ID, "document", rec.DocumentID, "partial", rec.Partial, "user", user)
		p.receiving = nil
		p.render()
		p.showReceipt(rec)
	})
}

// showReceipt tells the packer what the central found and what to do.
func (p *inboundPanel) showReceipt(rec station.InboundReceipt) {
	k := p.s.k
	lines := []string{trf("Receipt {{.ID}} of document {{.Document}}: {{.Received}} of {{.Units}} packs received.", map[string]any{
		"ID": rec.ID, "Document": rec.DocumentID, "Received": k.num(int64(rec.Received)), "Units": k.num(int64(rec.Units))})}
	if rec.Partial {
		lines[0] = trf("Part received of document {{.Document}} (receipt {{.ID}}): {{.Received}} of {{.Units}} packs so far.", map[string]any{
			"ID": rec.ID, "Document": rec.DocumentID, "Received": k.num(int64(rec.Received)), "Units": k.num(int64(rec.Units))})
	}
	if rec.Clean() {
		if rec.Partial {
			lines = append(lines, tr("Put these goods away; receive the rest against the same document when it arrives."))
		} else {
			lines = append(lines, tr("Everything matches the document: put the goods away."))
		}
		p.result.SetText(strings.Join(lines, "\n"))
		k.say(levelOK, lines[0]+" "+lines[1])
		k.relayout()
		return
	}
	if rec.Unexpected > 0 {
		lines = append(lines, trf("{{.Count}} scanned items are not in the document: put them in quarantine and tell QA.", map[string]any{"Count": k.num(int64(rec.Unexpected))}))
	}
	if rec.Misaligned > 0 {
		lines = append(lines, trf("{{.Count}} packs have another lot or expiry than the document says: put them in quarantine and tell QA.", map[string]any{"Count": k.num(int64(rec.Misaligned))}))
	}
	if rec.Missing > 0 {
		lines = append(lines, trf("{{.Count}} packs of the document did not arrive: look for them once more, then tell the office; the partner is asked to send them.", map[string]any{"Count": k.num(int64(rec.Missing))}))
	}
	lines = append(lines, tr("The exceptions are recorded and reported to the partner."))
	var items []string
	for i, e := range rec.Exceptions {
		if i == maxDocLines {
			items = append(items, trf("(and {{.Count}} more)", map[string]any{"Count": len(rec.Exceptions) - maxDocLines}))
			break
		}
		items = append(items, fmt.Sprintf("%s: %s", exceptionName(e.Kind), e.Item.Key()))
	}
	p.result.SetText(strings.Join(append(lines, items...), "\n"))
	k.say(levelWarn, strings.Join(lines[1:], " "))
	k.relayout()
}

// exceptionName names a kind of receipt exception.
func exceptionName(kind string) string {
	switch kind {
	case station.ExceptionMissing:
		return tr("missing")
	case station.ExceptionUnexpected:
		return tr("not in the document")
	case station.ExceptionMisaligned:
		return tr("other lot or expiry")
	}
	return kind
}

// confirmCancel forgets the scans after a confirmation.
func (p *inboundPanel) confirmCancel() {
	k := p.s.k
	if p.receiving == nil {
		return
	}
	k.confirm(tr("Cancel this receipt?"), []string{tr("The scans are forgotten; nothing was recorded.")}, tr("Cancel receipt"), true, func() {
		p.receiving = nil
		p.render()
		k.say(levelInfo, tr("The receipt was cancelled: nothing was recorded."))
	})
}
