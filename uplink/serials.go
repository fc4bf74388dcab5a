package uplink

import (
	"context"
	"fmt"
	"strings"
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

	issuer // a request that got no answer yet, by key
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
	req := ReserveRequest{GTIN: gtin, Count: n, RequestID: s.requestID(gtin, uint64(n))}
	var res Reservation
	err := s.call(ctx, s.Attempts, s.Backoff, gtin, req.RequestID, func() (err error) {
		res, err = s.API.Reserve(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reserve %d serials of GTIN %s: %w", n, gtin, err)
	}
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
