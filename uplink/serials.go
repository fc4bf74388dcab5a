package uplink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// SerialSource is the central service's serial authority as the station
// domain's station.SerialSource: Reserve asks the central for serials over
// HTTP. A request that gets no answer is retried with the same request id,
// also by the next Reserve for the same GTIN and count, so a lost answer
// costs no serials: the central returns the reservation it already made.
// Returns and voids need no call: they reach the central as pool.returned
// and pool.voided events of the journal.
type SerialSource struct {
	// API is the handle on the central service with the station's token.
	API *API
	// Attempts bounds the tries of one Reserve call; default 3.
	Attempts int
	// Backoff is the first wait between tries (doubling, with jitter);
	// default 500ms.
	Backoff time.Duration

	mu      sync.Mutex
	pending map[string]ReserveRequest // by GTIN: a request that got no answer yet
}

var _ station.SerialSource = (*SerialSource)(nil)

// Name implements station.SerialSource.
func (*SerialSource) Name() string { return "central" }

// Reserve implements station.SerialSource. The central makes the serials
// with the product's scheme from its master data; serials that do not fit
// scheme (this station's copy of it) are refused with ECONFLICT, since the
// station's master data is then out of date. Errors: EUNAVAILABLE when the
// central cannot be reached, ECONFLICT from the density rule, ENOTFOUND
// for a GTIN the central does not know, EUNAUTHORIZED for a bad credential.
func (s *SerialSource) Reserve(ctx context.Context, gtin string, scheme station.SerialScheme, n int) ([]string, error) {
	if s.API == nil {
		return nil, station.Errorf(station.EINVALID, "serial source: no central API configured")
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
		s.pending = map[string]ReserveRequest{}
	}
	req, ok := s.pending[gtin]
	if !ok || req.Count != n {
		req = ReserveRequest{GTIN: gtin, Count: n, RequestID: NewRequestID()}
		s.pending[gtin] = req
	}
	s.mu.Unlock()
	var res Reservation
	var err error
	for try := 1; ; try++ {
		res, err = s.API.Reserve(ctx, req)
		if err == nil || !IsUnavailable(err) || try >= attempts {
			break
		}
		if !sleep(ctx, Backoff(wait, 8*wait, try, 0.5), nil) {
			break
		}
	}
	if err != nil {
		if IsUnavailable(err) {
			return nil, fmt.Errorf("reserve %d serials of GTIN %s: %w", n, gtin, err)
		}
		s.forget(gtin, req.RequestID) // the central answered no: a new request next time
		return nil, fmt.Errorf("reserve %d serials of GTIN %s: %w", n, gtin, err)
	}
	s.forget(gtin, req.RequestID)
	if len(res.Serials) != n || res.GTIN != gtin {
		return nil, station.Errorf(station.EINTERNAL, "the central answered %d serials of GTIN %s for a request of %d of GTIN %s", len(res.Serials), res.GTIN, n, gtin)
	}
	sc := scheme.WithDefaults()
	for _, ser := range res.Serials {
		if len(ser) != sc.Length || strings.Trim(ser, sc.Alphabet) != "" {
			return nil, station.Errorf(station.ECONFLICT, "serial %q from the central does not fit this station's serial scheme for GTIN %s (%d characters of %q): the station's product master data is out of date; pull it again",
				ser, gtin, sc.Length, sc.Alphabet)
		}
	}
	return res.Serials, nil
}

func (s *SerialSource) forget(gtin, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[gtin].RequestID == id {
		delete(s.pending, gtin)
	}
}
