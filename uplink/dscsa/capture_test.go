package dscsa_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/localdb/centraldb/centraltest"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/uplink/dscsa"
	"github.com/linestation/linestation/uplink/dscsa/dscsatest"
)

// wholesalerSide is the wholesaler's central: its own store (which does not
// know the manufacturer's products), the locations, and the manufacturer
// registered as a partner that may send documents.
func wholesalerSide(t *testing.T) (*centraldb.DB, *dscsa.Exchange, dscsa.Caller) {
	t.Helper()
	db := centraltest.MustStore(t)
	for _, l := range dscsatest.Locations() {
		if _, err := db.PutLocation(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	mfr := dscsa.Partner{ID: "mfr", Name: "Test Pharma Inc.", GLN: dscsatest.MfrGLN, Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone},
		Permissions: []string{dscsa.PermCapture, dscsa.PermVerify, dscsa.PermQuery}}
	if _, err := db.PutPartner(ctx, mfr); err != nil {
		t.Fatal(err)
	}
	p, err := db.Partner(ctx, "mfr")
	if err != nil {
		t.Fatal(err)
	}
	return db, MustExchange(t, db, dscsatest.WhsGLN), dscsa.Caller{Partner: &p, Name: p.ID}
}

// rewrite returns doc with event i changed by fn.
func rewrite(t *testing.T, doc []byte, f epcis.Format, fn map[int]func(*epcis.Event)) []byte {
	t.Helper()
	h, evs := readDoc(t, doc)
	var buf bytes.Buffer
	w, err := epcis.NewWriter(&buf, f, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if m := fn[i]; m != nil {
			m(e)
		}
		if err := w.WriteEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unknownEPC(t *testing.T) string {
	g, err := gs1.AppendCheckDigit("0039999000001")
	if err != nil {
		t.Fatal(err)
	}
	u, err := gs1.SGTINURI(g, "X1", 6)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCapture_Document captures the manufacturer's document at the
// wholesaler, all of it, and again (every event a duplicate), and refuses
// a document that another partner's sender wrote.
func TestCapture_Document(t *testing.T) {
	_, mx, _ := shipped(t, 30)
	doc, info := mustDoc(t, mx, "SH-1", epcis.FormatXML12)
	db, x, mfr := wholesalerSide(t)
	j, err := x.CaptureDocument(ctx, mfr, bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !j.Success || j.Running || j.Events != info.Events || j.Captured != info.Events || j.DocumentID != "DOC-SH-1" || j.Format != "xml12" {
		t.Fatalf("job %+v", j)
	}
	j2, err := x.CaptureDocument(ctx, mfr, bytes.NewReader(doc))
	if err != nil || !j2.Success || j2.Captured != 0 || j2.Duplicates != info.Events {
		t.Fatalf("second capture: %+v %v", j2, err)
	}
	stored, err := db.QueryEvents(ctx, &dscsa.Query{Limit: 1000})
	if err != nil || len(stored) != info.Events {
		t.Fatalf("%d events stored (%v), want %d", len(stored), err, info.Events)
	}
	// The same document sent by another partner is refused (403).
	other := dscsa.Partner{ID: "other", Name: "Other", GLN: dscsatest.GLN("037777000001"), Delivery: dscsa.DeliveryConfig{Method: dscsa.MethodNone},
		Permissions: []string{dscsa.PermCapture}}
	_, err = x.CaptureDocument(ctx, dscsa.Caller{Partner: &other, Name: "other"}, bytes.NewReader(doc))
	var fe *dscsa.ForbiddenError
	if !errorsAs(err, &fe) || !strings.Contains(err.Error(), "is not partner other") {
		t.Fatalf("other partner's capture: err=%v, want forbidden", err)
	}
	// A partner without the capture permission.
	other.GLN, other.Permissions = dscsatest.MfrGLN, nil
	if _, err := x.CaptureDocument(ctx, dscsa.Caller{Partner: &other, Name: "other"}, bytes.NewReader(doc)); !errorsAs(err, &fe) {
		t.Fatalf("capture without permission: err=%v", err)
	}
}

// TestCapture_ErrorBehaviour: a document with an event naming an unknown
// product (event 1) and one with a disposition outside the CBV (event 3).
// With rollback nothing is stored and the errors name the events and
// fields; with proceed every other event is stored.
func TestCapture_ErrorBehaviour(t *testing.T) {
	_, mx, _ := shipped(t, 30)
	doc, info := mustDoc(t, mx, "SH-1", epcis.FormatJSONLD20)
	bad := rewrite(t, doc, epcis.FormatJSONLD20, map[int]func(*epcis.Event){
		1: func(e *epcis.Event) { e.EPCList[1] = unknownEPC(t) },
		3: func(e *epcis.Event) { e.Disposition = "urn:epcglobal:cbv:disp:not_a_disposition" },
	})
	for _, behaviour := range []string{dscsa.Rollback, dscsa.Proceed} {
		t.Run(behaviour, func(t *testing.T) {
			db, x, mfr := wholesalerSide(t)
			j, err := x.SubmitCapture(ctx, mfr, bytes.NewReader(bad), behaviour)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Open(ctx); err != nil {
				t.Fatal(err)
			}
			var done dscsa.CaptureJob
			waitFor(t, "the capture job", func() bool {
				done, err = x.CaptureJob(ctx, mfr, j.ID)
				return err == nil && !done.Running
			})
			if done.Success || done.ErrorCount != 2 || done.Events != info.Events {
				t.Fatalf("job %+v", done)
			}
			e0, e1 := done.Errors[0], done.Errors[1]
			if e0.Event != 1 || e0.Path != "ObjectEvent/epcList[1]" || !strings.Contains(e0.Title, "neither in the document's master data nor known here") ||
				e1.Event != 3 || !strings.HasSuffix(e1.Path, "/disposition") || e1.Type != dscsa.ProblemValidation || e1.Status != 400 {
				t.Fatalf("errors %+v", done.Errors)
			}
			stored, err := db.QueryEvents(ctx, &dscsa.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if behaviour == dscsa.Proceed {
				want = info.Events - 2
			}
			if len(stored) != want || done.Captured != want {
				t.Fatalf("%d events stored (job says %d), want %d", len(stored), done.Captured, want)
			}
		})
	}
}

// TestCapture_NotEPCIS: a body that is not an EPCIS document is refused
// at once, naming why, and leaves no job.
func TestCapture_NotEPCIS(t *testing.T) {
	db, x, mfr := wholesalerSide(t)
	for _, body := range []string{"", "hello", `<html><body/></html>`, `{"type":"EPCISDocument"`} {
		_, err := x.SubmitCapture(ctx, mfr, strings.NewReader(body), "")
		var re *dscsa.RejectedError
		if !errorsAs(err, &re) || station.ErrorCode(err) != station.EINVALID {
			t.Errorf("%q: err=%v, want a rejection", body, err)
		}
	}
	if jobs, err := db.CaptureJobs(ctx, "", 10); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
}
