package uplink

import (
	"context"
	"fmt"
	"sync"
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

	mu      sync.Mutex
	pending map[string]SSCCRequest // by prefix: a request that got no answer yet
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
	attempts, wait := s.Attempts, s.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[string]SSCCRequest{}
	}
	req, ok := s.pending[prefix]
	if !ok || req.Count != count {
		req = SSCCRequest{Prefix: prefix, Count: count, RequestID: NewRequestID()}
		s.pending[prefix] = req
	}
	s.mu.Unlock()
	var b SSCCBlock
	var err error
	for try := 1; ; try++ {
		b, err = s.API.ReserveSSCC(ctx, req)
		if err == nil || !IsUnavailable(err) || try >= attempts {
			break
		}
		if !sleep(ctx, Backoff(wait, 8*wait, try, 0.5), nil) {
			break
		}
	}
	if err != nil {
		if !IsUnavailable(err) {
			s.forget(prefix, req.RequestID) // the central answered no: a new request next time
		}
		return station.SSCCRange{}, fmt.Errorf("reserve SSCCs of company prefix %s: %w", prefix, err)
	}
	s.forget(prefix, req.RequestID)
	r := station.SSCCRange{Prefix: b.Prefix, First: b.First, Last: b.Last, Block: b.ID}
	if err := r.Validate(); err != nil || b.Prefix != prefix || b.ID < 1 {
		return station.SSCCRange{}, station.Errorf(station.EINTERNAL, "the central answered SSCC block %d (%s %d..%d) for a request of company prefix %s", b.ID, b.Prefix, b.First, b.Last, prefix)
	}
	return r, nil
}

func (s *SSCCSource) forget(prefix, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[prefix].RequestID == id {
		delete(s.pending, prefix)
	}
}
