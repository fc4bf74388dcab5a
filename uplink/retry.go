package uplink

import (
	"context"
	"sync"
	"time"
)

// issuer is what the serial and SSCC sources share: a call to the central
// that issues something (serials, an SSCC block) is retried while the
// central cannot be reached, with the same request id, and the id of a
// request that got no answer is kept for the next call for the same key
// and count, so a lost answer costs nothing: the central answers a
// repeated id with what it issued for it.
type issuer struct {
	mu      sync.Mutex
	pending map[string]pendingRequest // by key: a request that got no answer yet
}

type pendingRequest struct {
	count uint64
	id    string
}

// requestID returns the id of the request for key and count: the pending
// one's when it asked for the same count, else a new one.
func (s *issuer) requestID(key string, count uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]pendingRequest{}
	}
	p, ok := s.pending[key]
	if !ok || p.count != count {
		p = pendingRequest{count: count, id: NewRequestID()}
		s.pending[key] = p
	}
	return p.id
}

// call runs try until it succeeds, fails with anything but the central
// being unreachable, or the attempts are used up (default 3), backing off
// between tries from wait (default 500ms), doubling, with jitter. The request id is forgotten once the central answered, yes or
// no, so that the next call makes a new request; it is kept while the
// central could not be reached.
func (s *issuer) call(ctx context.Context, attempts int, wait time.Duration, key, id string, try func() error) error {
	if attempts <= 0 {
		attempts = 3
	}
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	var err error
	for n := 1; ; n++ {
		err = try()
		if err == nil || !IsUnavailable(err) || n >= attempts || !sleep(ctx, Backoff(wait, 8*wait, n, 0.5), nil) {
			break
		}
	}
	if err == nil || !IsUnavailable(err) {
		s.mu.Lock()
		if s.pending[key].id == id {
			delete(s.pending, key)
		}
		s.mu.Unlock()
	}
	return err
}
