package uplink

import (
	"context"
	"fmt"
	"time"

	"github.com/linestation/linestation/station"
)

// SSCCSource is the central service's SSCC authority as the station
// domain's station.SSCCSource: ReserveSSCC asks the central for a block of
// serial references over HTTP. A request that gets no answer is retried
// with the same request id, also by the next call for the same prefix, so
// a lost answer costs no block: the central returns the block it already
// issued.
type SSCCSource struct {
	// API is the handle on the central service with the station's token.
	API *API
	// Attempts bounds the tries of one call; default 3.
	Attempts int
	// Backoff is the first wait between tries (doubling, with jitter);
	// default 500ms.
	Backoff time.Duration

	issuer // a request that got no answer yet, by key
}

var _ station.SSCCSource = (*SSCCSource)(nil)

// ReserveSSCC implements station.SSCCSource. Errors: EUNAVAILABLE when the
// central cannot be reached, or answers that it does not issue now (a
// restored store waiting for its stations: the message says which);
// ECONFLICT when the prefix's space is used up; EUNAUTHORIZED for a bad
// credential.
func (s *SSCCSource) ReserveSSCC(ctx context.Context, prefix string, count uint64) (station.SSCCRange, error) {
	if s.API == nil {
		return station.SSCCRange{}, station.Errorf(station.EINVALID, "SSCC source: no central API configured")
	}
	req := SSCCRequest{Prefix: prefix, Count: count, RequestID: s.requestID(prefix, count)}
	var b SSCCBlock
	err := s.call(ctx, s.Attempts, s.Backoff, prefix, req.RequestID, func() (err error) {
		b, err = s.API.ReserveSSCC(ctx, req)
		return err
	})
	if err != nil {
		return station.SSCCRange{}, fmt.Errorf("reserve SSCCs of company prefix %s: %w", prefix, err)
	}
	r := station.SSCCRange{Prefix: b.Prefix, First: b.First, Last: b.Last, Block: b.ID}
	if err := r.Validate(); err != nil || b.Prefix != prefix || b.ID < 1 {
		return station.SSCCRange{}, station.Errorf(station.EINTERNAL, "the central answered SSCC block %d (%s %d..%d) for a request of company prefix %s", b.ID, b.Prefix, b.First, b.Last, prefix)
	}
	return r, nil
}
