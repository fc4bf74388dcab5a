package dscsa

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
)

// Capture error behaviours (GS1-Capture-Error-Behaviour).
const (
	Rollback = "rollback" // all events or none
	Proceed  = "proceed"  // every good event, the bad ones reported
)

// ProblemValidation is the RFC 7807 problem type of a refused event.
const ProblemValidation = "epcisException:ValidationException"

// CaptureJob is a capture job of the EPCIS 2.0 REST binding: a document a
// partner sent, and what became of it.
type CaptureJob struct {
	ID         string         `json:"captureID"`
	Partner    string         `json:"partner,omitempty"`
	CreatedAt  string         `json:"createdAt"`
	FinishedAt string         `json:"finishedAt,omitempty"`
	Running    bool           `json:"running"`
	Success    bool           `json:"success"`
	Behaviour  string         `json:"captureErrorBehaviour"`
	Format     string         `json:"format,omitempty"`
	DocumentID string         `json:"documentID,omitempty"` // the SBDH instance identifier
	Sender     string         `json:"sender,omitempty"`
	Events     int            `json:"events"`     // events read
	Captured   int            `json:"captured"`   // events stored now
	Duplicates int            `json:"duplicates"` // events the repository already held
	ErrorCount int            `json:"errorCount"`
	Errors     []CaptureError `json:"errors"`
	// Spool is the file holding the document while the job runs.
	Spool string `json:"-"`
}

// CaptureError is one problem of a captured document, an RFC 7807 problem
// with the event index (from 0; -1 for the document) and the field's path.
type CaptureError struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Event  int    `json:"eventIndex"`
	Path   string `json:"path,omitempty"`
}

func newCaptureError(event int, path, reason string) CaptureError {
	where := "document"
	if event >= 0 {
		where = fmt.Sprintf("event %d", event)
	}
	if path != "" {
		where += ", " + path
	}
	return CaptureError{Type: ProblemValidation, Title: where + ": " + reason, Status: 400, Event: event, Path: path, Detail: reason}
}

// RejectedError refuses a whole document before any job runs (it is not
// an EPCIS document, or it comes from someone else): HTTP 400, or 403 for
// a sender that is not the caller.
type RejectedError struct {
	Problem CaptureError
}

func (e *RejectedError) Error() string { return e.Problem.Title }
func (e *RejectedError) Unwrap() error {
	return station.Errorf(station.EINVALID, "%s", e.Problem.Title)
}

func newJobID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "cj" + hex.EncodeToString(b[:])
}

// spool copies a body into a new spool file.
func (x *Exchange) spool(body io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(x.cfg.SpoolDir, "capture-*.doc")
	if err != nil {
		return "", 0, fmt.Errorf("spool the document: %w", err)
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", n, fmt.Errorf("read the document: %w", err)
	}
	return f.Name(), n, nil
}

// SubmitCapture takes a document for the asynchronous capture interface:
// it spools the body, checks that it is an EPCIS document (1.2 XML, 2.0 XML
// or 2.0 JSON-LD) from the caller, and starts a capture job. The job
// validates every event (schema rules, CBV code lists, EPC syntax, and
// that every product it names is known here or in the document's master
// data) and stores the events: all or none with rollback, the good ones
// with proceed. A body that is not an EPCIS document is refused at once
// (*RejectedError).
func (x *Exchange) SubmitCapture(ctx context.Context, c Caller, body io.Reader, behaviour string) (CaptureJob, error) {
	j, err := x.startCapture(ctx, c, body, behaviour)
	if err != nil {
		return j, err
	}
	select {
	case x.jobs <- j.ID:
	default:
		// The queue is full: the job runs after the next restart, or when
		// a worker drains the queue and the job is listed as running.
		x.logger.Warn("capture queue full: job waits", logKeyCapture, j.ID)
	}
	return j, nil
}

// CaptureDocument captures a document synchronously, all or nothing (the
// 1.2 XML endpoint for suppliers), and returns the finished job.
func (x *Exchange) CaptureDocument(ctx context.Context, c Caller, body io.Reader) (CaptureJob, error) {
	j, err := x.startCapture(ctx, c, body, Rollback)
	if err != nil {
		return j, err
	}
	if err := x.runCapture(ctx, &j); err != nil {
		return j, err
	}
	return j, nil
}

func (x *Exchange) startCapture(ctx context.Context, c Caller, body io.Reader, behaviour string) (CaptureJob, error) {
	if err := c.require(PermCapture, "send documents"); err != nil {
		return CaptureJob{}, err
	}
	switch behaviour {
	case "":
		behaviour = Rollback
	case Rollback, Proceed:
	default:
		return CaptureJob{}, station.Errorf(station.EINVALID, "GS1-Capture-Error-Behaviour %q must be rollback or proceed", behaviour)
	}
	path, _, err := x.spool(body)
	if err != nil {
		return CaptureJob{}, err
	}
	j := CaptureJob{ID: newJobID(), Partner: partnerID(c), CreatedAt: x.stamp(), Running: true, Success: true, Behaviour: behaviour,
		Errors: []CaptureError{}, Spool: path}
	if err := x.checkHeader(c, &j); err != nil {
		os.Remove(path)
		return j, err
	}
	if err := x.store.CreateCaptureJob(ctx, &j); err != nil {
		os.Remove(path)
		return j, err
	}
	x.logger.Info("capture job started", logKeyCapture, j.ID, logKeyPartner, j.Partner, "format", j.Format, "document", j.DocumentID)
	return j, nil
}

func partnerID(c Caller) string {
	if c.Partner != nil {
		return c.Partner.ID
	}
	return ""
}

func (x *Exchange) stamp() string { return x.now().UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// checkHeader reads the document's header: it must be an EPCIS document,
// and its SBDH (when it has one) must be from the caller and to us.
func (x *Exchange) checkHeader(c Caller, j *CaptureJob) error {
	f, err := os.Open(j.Spool)
	if err != nil {
		return fmt.Errorf("read the spooled document: %w", err)
	}
	defer f.Close()
	rd, err := epcis.NewReader(f, nil)
	if err != nil {
		var de *epcis.DecodeError
		if errors.As(err, &de) {
			return &RejectedError{Problem: newCaptureError(-1, de.Path, de.Reason+where(de))}
		}
		return fmt.Errorf("read the spooled document: %w", err)
	}
	j.Format = rd.Format().String()
	h := rd.Header()
	if h.SBDH == nil {
		return nil
	}
	j.DocumentID = h.SBDH.InstanceIdentifier
	if len(h.SBDH.Sender) > 0 {
		j.Sender = h.SBDH.Sender[0].Identifier
	}
	if c.Partner != nil && j.Sender != "" {
		if g := glnOf(j.Sender); g != c.Partner.GLN {
			return Forbidden("the document's sender %s (GLN %s) is not partner %s (GLN %s): a partner may send only its own documents", j.Sender, g, c.Partner.ID, c.Partner.GLN)
		}
	}
	if len(h.SBDH.Receiver) > 0 {
		if g := glnOf(h.SBDH.Receiver[0].Identifier); g != x.cfg.GLN {
			return &RejectedError{Problem: newCaptureError(-1, "EPCISHeader/StandardBusinessDocumentHeader/Receiver",
				fmt.Sprintf("the document is addressed to %s (GLN %s), not to us (GLN %s)", h.SBDH.Receiver[0].Identifier, g, x.cfg.GLN))}
		}
	}
	return nil
}

func where(de *epcis.DecodeError) string {
	if de.Line > 0 {
		return fmt.Sprintf(" (line %d)", de.Line)
	}
	if de.Offset > 0 {
		return fmt.Sprintf(" (byte %d)", de.Offset)
	}
	return ""
}

// glnOf returns the GLN of an SGLN URI or a plain GLN.
func glnOf(id string) string {
	if strings.HasPrefix(id, "urn:epc:id:sgln:") {
		if m, err := gs1.ParseEPCURI(id); err == nil {
			if g, ok := m.Get("414"); ok {
				return g
			}
		}
	}
	return id
}

// captureWorker runs queued capture jobs one at a time.
func (x *Exchange) captureWorker() {
	defer x.wg.Done()
	for {
		select {
		case <-x.ctx.Done():
			return
		case id := <-x.jobs:
			j, err := x.store.CaptureJob(x.ctx, id)
			if err != nil {
				if x.ctx.Err() == nil {
					x.logger.Error("capture job lost", logKeyCapture, id, "error", err)
				}
				continue
			}
			if !j.Running {
				continue
			}
			if err := x.runCapture(x.ctx, &j); err != nil && x.ctx.Err() == nil {
				x.logger.Error("capture job failed", logKeyCapture, id, "error", err)
			}
		}
	}
}

// fieldOf names the field of an EPC role.
var fieldOf = map[string]string{RoleEPC: "epcList", RoleChild: "childEPCs", RoleParent: "parentID", RoleInput: "inputEPCList", RoleOutput: "outputEPCList"}

// runCapture validates and stores a job's document and records the outcome.
func (x *Exchange) runCapture(ctx context.Context, j *CaptureJob) error {
	if j.Spool == "" {
		return x.finishCapture(ctx, j, false, "the document of this job is gone (the service stopped before it was processed): send it again")
	}
	if _, err := os.Stat(j.Spool); err != nil {
		return x.finishCapture(ctx, j, false, "the document of this job is gone (the service stopped before it was processed): send it again")
	}
	namer, err := x.products(ctx, true)
	if err != nil {
		return err
	}
	bad := map[int]bool{}
	broken := -1 // index of the event where the document stops being readable
	addErr := func(e CaptureError) {
		j.ErrorCount++
		if len(j.Errors) < x.cfg.MaxCaptureErrors {
			j.Errors = append(j.Errors, e)
		}
	}
	f, err := os.Open(j.Spool)
	if err != nil {
		return fmt.Errorf("capture job %s: %w", j.ID, err)
	}
	rd, err := epcis.NewReader(f, nil)
	if err != nil {
		f.Close()
		var de *epcis.DecodeError
		if errors.As(err, &de) {
			addErr(newCaptureError(-1, de.Path, de.Reason+where(de)))
			return x.finishCapture(ctx, j, false, "")
		}
		return fmt.Errorf("capture job %s: %w", j.ID, err)
	}
	format := rd.Format()
	classes := map[string]bool{}
	for _, v := range rd.Header().MasterData {
		if v.Type != epcis.VocabularyEPCClass {
			continue
		}
		for _, el := range v.Elements {
			if g, ok := GTINOfClass(el.ID); ok {
				classes[g] = true
			}
		}
	}
	known := func(gtin string) bool { return classes[gtin] || namer.Known(gtin) }
	n := 0
	for ; ; n++ {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var de *epcis.DecodeError
			if !errors.As(err, &de) {
				f.Close()
				return fmt.Errorf("capture job %s: %w", j.ID, err)
			}
			addErr(newCaptureError(de.Event, de.Path, de.Reason+where(de)))
			broken = n
			break
		}
		for _, p := range e.Validate(format) {
			bad[n] = true
			addErr(newCaptureError(n, p.Path, p.Reason))
		}
		idx := map[string]int{}
		for _, r := range EPCs(e) {
			i := idx[r.Role]
			idx[r.Role]++
			gtin, ok := sgtinGTIN(r.EPC)
			if !ok || known(gtin) {
				continue
			}
			bad[n] = true
			path := fmt.Sprintf("%s/%s[%d]", e.Type, fieldOf[r.Role], i)
			if r.Role == RoleParent {
				path = fmt.Sprintf("%s/%s", e.Type, fieldOf[r.Role])
			}
			addErr(newCaptureError(n, path, fmt.Sprintf("%s names GTIN %s, a product that is neither in the document's master data nor known here", r.EPC, gtin)))
		}
		for i, q := range append(append([]epcis.Quantity{}, e.QuantityList...), e.ChildQuantityList...) {
			if gtin, ok := GTINOfClass(q.EPCClass); ok && !known(gtin) {
				bad[n] = true
				addErr(newCaptureError(n, fmt.Sprintf("%s/quantityList[%d]", e.Type, i), fmt.Sprintf("class %s names GTIN %s, a product that is neither in the document's master data nor known here", q.EPCClass, gtin)))
			}
		}
	}
	f.Close()
	j.Events = n
	if j.ErrorCount > 0 && j.Behaviour == Rollback {
		return x.finishCapture(ctx, j, false, "")
	}
	// Second pass: store what is good, in one transaction.
	f, err = os.Open(j.Spool)
	if err != nil {
		return fmt.Errorf("capture job %s: %w", j.ID, err)
	}
	defer f.Close()
	rd, err = epcis.NewReader(f, nil)
	if err != nil {
		return fmt.Errorf("capture job %s: read again: %w", j.ID, err)
	}
	i := -1
	next := func() (*StoredEvent, error) {
		for {
			i++
			if broken >= 0 && i >= broken {
				return nil, nil
			}
			e, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			if bad[i] {
				continue
			}
			se := NewStoredEvent(e, SourceCapture, j.ID, j.Partner, x.now())
			return &se, nil
		}
	}
	stored, dups, err := x.store.CaptureEvents(ctx, next, j.Partner)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		addErr(newCaptureError(-1, "", "the events could not be stored: "+station.ErrorMessage(err)))
		x.logger.Error("capture job could not store its events", logKeyCapture, j.ID, "error", err)
		return x.finishCapture(ctx, j, false, "")
	}
	j.Captured, j.Duplicates = stored, dups
	return x.finishCapture(ctx, j, j.ErrorCount == 0, "")
}

// finishCapture records a job's end and removes its spooled document.
func (x *Exchange) finishCapture(ctx context.Context, j *CaptureJob, success bool, reason string) error {
	if reason != "" {
		j.ErrorCount++
		j.Errors = append(j.Errors, newCaptureError(-1, "", reason))
	}
	j.Running, j.Success, j.FinishedAt = false, success, x.stamp()
	if j.Spool != "" {
		os.Remove(j.Spool)
	}
	if err := x.store.UpdateCaptureJob(context.WithoutCancel(ctx), j); err != nil {
		return err
	}
	x.logger.Info("capture job finished", logKeyCapture, j.ID, logKeyPartner, j.Partner, "success", success, "events", j.Events,
		"captured", j.Captured, "duplicates", j.Duplicates, "errors", j.ErrorCount)
	return nil
}

// sgtinGTIN returns the GTIN of an SGTIN EPC (URI or Digital Link).
func sgtinGTIN(epc string) (string, bool) {
	if !strings.HasPrefix(epc, "urn:epc:id:sgtin:") && !strings.Contains(epc, "/01/") {
		return "", false
	}
	it, err := ItemOfEPC(epc)
	if err != nil || it.GTIN == "" {
		return "", false
	}
	return it.GTIN, true
}

// CaptureJob returns a capture job; a partner sees only its own.
func (x *Exchange) CaptureJob(ctx context.Context, c Caller, id string) (CaptureJob, error) {
	j, err := x.store.CaptureJob(ctx, id)
	if err != nil {
		return j, err
	}
	if c.Partner != nil && j.Partner != c.Partner.ID {
		return CaptureJob{}, station.Errorf(station.ENOTFOUND, "capture job %s does not exist", id)
	}
	return j, nil
}
