package dscsa

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/uplink"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // to be sent (again) at NextAttempt
	DeliveryHeld      = "held"      // not sent: the shipment holds quarantined product
	DeliveryDelivered = "delivered" // the partner's endpoint accepted it, or its file was written
	DeliveryKept      = "kept"      // built and kept (partner delivery method none)
	DeliveryFailed    = "failed"    // the partner refused it (4xx): a person must look
)

// Delivery is the outbound document of one shipped shipment and its way
// to the partner.
type Delivery struct {
	ID          int64     `json:"id"`
	Shipment    string    `json:"shipment"`
	PartnerGLN  string    `json:"partner_gln"`
	Partner     string    `json:"partner,omitempty"` // the partner's id, once known
	DocumentID  string    `json:"document_id"`
	Format      string    `json:"format,omitempty"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	// EventsRecorded is set once the document's events are in the
	// repository (visible to the partner's queries).
	EventsRecorded bool             `json:"events_recorded"`
	Receipt        *DeliveryReceipt `json:"receipt,omitempty"`
}

// DeliveryReceipt is the proof of a delivery.
type DeliveryReceipt struct {
	At      time.Time `json:"at"`
	Method  string    `json:"method"`
	URL     string    `json:"url,omitempty"`
	Status  int       `json:"status,omitempty"` // the partner's HTTP status
	Answer  string    `json:"answer,omitempty"` // the start of the partner's answer
	File    string    `json:"file,omitempty"`   // the file written, for method file
	SHA256  string    `json:"sha256"`           // of the document sent
	Bytes   int64     `json:"bytes"`
	Events  int       `json:"events"`
	Partner string    `json:"partner"`
}

// maxAnswer is how much of a partner's answer a receipt keeps.
const maxAnswer = 4 << 10

// DeliverDue attempts every delivery that is due and returns how many
// were delivered. Failures are recorded on the delivery (with the next
// attempt, backing off) and logged, not returned.
func (x *Exchange) DeliverDue(ctx context.Context) (int, error) {
	due, err := x.store.DueDeliveries(ctx, x.now(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range due {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		d := &due[i]
		x.deliver(ctx, d)
		if err := x.store.UpdateDelivery(context.WithoutCancel(ctx), *d); err != nil {
			return n, err
		}
		if d.Status == DeliveryDelivered || d.Status == DeliveryKept {
			n++
		}
	}
	return n, nil
}

// retry schedules the next attempt after a failure.
func (x *Exchange) retry(d *Delivery, status string, err error) {
	d.Status = status
	d.LastError = station.ErrorMessage(err)
	if station.ErrorCode(err) == station.EINTERNAL {
		d.LastError = err.Error()
	}
	wait := uplink.Backoff(x.cfg.MinBackoff, x.cfg.MaxBackoff, d.Attempts, rand.Float64())
	if status == DeliveryHeld {
		wait = x.cfg.HoldRecheck
	}
	d.NextAttempt = x.now().Add(wait)
	x.logger.Warn("document not delivered", logKeyDelivery, d.ID, logKeyShipment, d.Shipment, "status", status, "next", d.NextAttempt, "error", d.LastError)
}

// deliver makes one attempt and updates d.
func (x *Exchange) deliver(ctx context.Context, d *Delivery) {
	d.Attempts++
	p, err := x.store.PartnerByGLN(ctx, d.PartnerGLN)
	if err != nil {
		if station.ErrorCode(err) == station.ENOTFOUND {
			err = station.Errorf(station.ENOTFOUND, "no partner is registered for GLN %s: register it (PUT /v1/dscsa/partners/{id}) and its location", d.PartnerGLN)
		}
		x.retry(d, DeliveryPending, err)
		return
	}
	d.Partner = p.ID
	f := p.format()
	d.Format = f.String()
	snap, err := x.store.OpenShipment(ctx, d.Shipment)
	if err != nil {
		x.retry(d, DeliveryPending, err)
		return
	}
	defer snap.Close()
	holds, err := snap.Holds(ctx)
	if err != nil {
		x.retry(d, DeliveryPending, err)
		return
	}
	if len(holds) > 0 {
		x.retry(d, DeliveryHeld, station.Errorf(station.ECONFLICT, "shipment %s holds quarantined product (%s): no transaction information is sent until the hold is released",
			d.Shipment, describeHolds(holds)))
		return
	}
	tmp, err := os.CreateTemp(x.cfg.SpoolDir, "outbound-*.tmp")
	if err != nil {
		x.retry(d, DeliveryPending, fmt.Errorf("spool the document of shipment %s: %w", d.Shipment, err))
		return
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	sum := sha256.New()
	var rec *recorder
	if !d.EventsRecorded {
		rec = &recorder{x: x, ctx: ctx, origin: d.DocumentID, partner: p.ID}
	}
	b, err := x.newDocBuilder(ctx, snap)
	if err != nil {
		x.retry(d, DeliveryPending, err)
		return
	}
	opts := DocOptions{DocumentID: d.DocumentID}
	if rec != nil {
		opts.Record = rec.add
	}
	info, err := b.write(ctx, io.MultiWriter(tmp, sum), f, opts)
	if err == nil && rec != nil {
		err = rec.flush()
	}
	if err != nil {
		x.retry(d, DeliveryPending, err)
		return
	}
	d.EventsRecorded = true
	size, _ := tmp.Seek(0, io.SeekCurrent)
	receipt := &DeliveryReceipt{Method: p.Delivery.Method, SHA256: hex.EncodeToString(sum.Sum(nil)), Bytes: size, Events: info.Events, Partner: p.ID}
	switch p.Delivery.Method {
	case MethodNone:
		receipt.At = x.now().UTC()
		d.Status, d.Receipt, d.LastError, d.DeliveredAt, d.NextAttempt = DeliveryKept, receipt, "", receipt.At, time.Time{}
		return
	case MethodFile:
		err = x.deliverFile(tmp, &p, d, f, receipt)
	default:
		err = x.deliverHTTPS(ctx, tmp, &p, d, f, receipt)
	}
	if err != nil {
		var perm *permanentError
		if errors.As(err, &perm) {
			d.Status, d.LastError, d.Receipt, d.NextAttempt = DeliveryFailed, perm.Error(), receipt, time.Time{}
			x.logger.Error("partner refused the document", logKeyDelivery, d.ID, logKeyShipment, d.Shipment, logKeyPartner, p.ID, "error", perm.Error())
			return
		}
		x.retry(d, DeliveryPending, err)
		return
	}
	receipt.At = x.now().UTC()
	d.Status, d.Receipt, d.LastError, d.DeliveredAt, d.NextAttempt = DeliveryDelivered, receipt, "", receipt.At, time.Time{}
	x.logger.Info("document delivered", logKeyDelivery, d.ID, logKeyShipment, d.Shipment, logKeyPartner, p.ID, "events", info.Events, "bytes", size)
}

// permanentError is a refusal that retrying will not change.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func contentType(f epcis.Format) string {
	if f == epcis.FormatJSONLD20 {
		return "application/ld+json"
	}
	return "application/xml"
}

func extension(f epcis.Format) string {
	if f == epcis.FormatJSONLD20 {
		return ".jsonld"
	}
	return ".xml"
}

// readSecret reads a partner's outbound credential from the secrets folder.
func (x *Exchange) readSecret(name string) (string, error) {
	if !safeName(name) {
		return "", station.Errorf(station.EINVALID, "credential %q is not a file name", name)
	}
	b, err := os.ReadFile(filepath.Join(x.cfg.SecretsDir, name))
	if err != nil {
		return "", station.Errorf(station.EINVALID, "read the partner credential %s from the secrets folder %s: %v", name, x.cfg.SecretsDir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (x *Exchange) deliverHTTPS(ctx context.Context, doc *os.File, p *Partner, d *Delivery, f epcis.Format, receipt *DeliveryReceipt) error {
	receipt.URL = p.Delivery.URL
	var token string
	if p.Delivery.Credential != "" {
		var err error
		if token, err = x.readSecret(p.Delivery.Credential); err != nil {
			return err
		}
	}
	if _, err := doc.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind the document of shipment %s: %w", d.Shipment, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Delivery.URL, doc)
	if err != nil {
		return &permanentError{msg: fmt.Sprintf("partner %s endpoint %q: %v", p.ID, p.Delivery.URL, err)}
	}
	req.ContentLength = receipt.Bytes
	req.Header.Set("Content-Type", contentType(f))
	req.Header.Set("GS1-EPCIS-Version", epcisVersion(f))
	req.Header.Set("GS1-CBV-Version", "2.0.0")
	req.Header.Set("User-Agent", station.AppName+"/"+station.Version)
	req.Header.Set("X-Document-Id", d.DocumentID)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := x.cfg.Client.Do(req)
	if err != nil {
		return station.Errorf(station.EUNAVAILABLE, "POST the document of shipment %s to partner %s (%s): %v", d.Shipment, p.ID, p.Delivery.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	receipt.Status, receipt.Answer = resp.StatusCode, string(bytes.ToValidUTF8(answer, []byte("?")))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return station.Errorf(station.EUNAVAILABLE, "partner %s answered %d: %s", p.ID, resp.StatusCode, clip(receipt.Answer, 300))
	}
	return &permanentError{msg: fmt.Sprintf("partner %s refused the document of shipment %s with %d: %s", p.ID, d.Shipment, resp.StatusCode, clip(receipt.Answer, 300))}
}

func epcisVersion(f epcis.Format) string {
	if f == epcis.FormatXML12 {
		return "1.2.0"
	}
	return "2.0.0"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// deliverFile writes the document where the partner's gateway picks it
// up: written under a temporary name, synced, then renamed, so the gateway
// never sees half a file.
func (x *Exchange) deliverFile(doc *os.File, p *Partner, d *Delivery, f epcis.Format, receipt *DeliveryReceipt) error {
	sub := p.Delivery.Dir
	if sub == "" {
		sub = p.ID
	}
	dir := filepath.Join(x.cfg.FilesDir, sub)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create the delivery folder %s: %w", dir, err)
	}
	name := safeFileName(d.DocumentID) + extension(f)
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := doc.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return fmt.Errorf("rewind the document of shipment %s: %w", d.Shipment, err)
	}
	_, err = io.Copy(tmp, doc)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	receipt.File = final
	return nil
}

// safeFileName keeps letters, digits, '.', '-' and '_' of s.
func safeFileName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 100; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "document"
	}
	return b.String()
}

func describeHolds(hs []Hold) string {
	var parts []string
	for i, h := range hs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(hs)-3))
			break
		}
		parts = append(parts, h.Describe())
	}
	return strings.Join(parts, ", ")
}

// recorder stores a document's events in the repository in batches as
// the document is written.
type recorder struct {
	x       *Exchange
	ctx     context.Context
	origin  string
	partner string
	batch   []StoredEvent
}

const recordBatch = 500

func (r *recorder) add(e *epcis.Event) error {
	r.batch = append(r.batch, NewStoredEvent(e, SourceOutbound, r.origin, "", r.x.now()))
	if len(r.batch) >= recordBatch {
		return r.flush()
	}
	return nil
}

func (r *recorder) flush() error {
	if len(r.batch) == 0 {
		return nil
	}
	_, err := r.x.store.RecordEvents(r.ctx, r.batch, r.partner)
	r.batch = r.batch[:0]
	return err
}

// RetryDelivery makes a failed or held delivery due now.
func (x *Exchange) RetryDelivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := x.store.Delivery(ctx, id)
	if err != nil {
		return d, err
	}
	switch d.Status {
	case DeliveryDelivered, DeliveryKept:
		return d, station.Errorf(station.ECONFLICT, "delivery %d of shipment %s is already %s", d.ID, d.Shipment, d.Status)
	}
	d.Status, d.NextAttempt = DeliveryPending, x.now()
	if err := x.store.UpdateDelivery(ctx, d); err != nil {
		return d, err
	}
	x.Notify()
	return d, nil
}
