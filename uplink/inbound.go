package uplink

import (
	"context"
	"net/http"

	"github.com/linestation/linestation/station"
)

// Inbound is the central service's DSCSA exchange as the station domain's
// station.Inbound: a warehouse station lists the partners' documents
// waiting at its site and receives against one, with its own credential.
// Nothing is retried: a receipt the central did not answer is for the
// packer to send again (the central refuses a second receipt of a
// document, so a resend after a lost answer says it was received).
type Inbound struct {
	// API is the handle on the central service with the station's token.
	API *API
}

var _ station.Inbound = (*Inbound)(nil)

// InboundDocuments implements station.Inbound.
func (in *Inbound) InboundDocuments(ctx context.Context) ([]station.InboundDocument, error) {
	var docs []station.InboundDocument
	if err := in.API.do(ctx, http.MethodGet, PathInbound, nil, nil, "", &docs); err != nil {
		return nil, err
	}
	return docs, nil
}

// ReceiveInbound implements station.Inbound.
func (in *Inbound) ReceiveInbound(ctx context.Context, capture string, scans []string, partial bool) (station.InboundReceipt, error) {
	var r station.InboundReceipt
	err := in.API.doJSON(ctx, http.MethodPost, PathReceipts, nil, InboundReceiveRequest{Capture: capture, Scans: scans, Partial: partial}, &r)
	return r, err
}
