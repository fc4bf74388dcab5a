package station

import (
	"context"
	"fmt"
	"strconv"

	"github.com/linestation/linestation/station/gs1"
)

// DefaultSSCCBlock is how many SSCC serial references a station asks the
// central for at a time unless configured otherwise.
const DefaultSSCCBlock = 10000

// MaxSSCCBlock bounds one block of SSCC serial references.
const MaxSSCCBlock = 1_000_000

// SSCCRange is a block of SSCC serial references of a GS1 company prefix:
// the SSCCs extension digit + Prefix + reference (zero-padded to 16 digits
// with the prefix) + check digit, for every reference from First to Last
// inclusive and any extension digit.
type SSCCRange struct {
	Prefix      string
	First, Last uint64
	Block       int64 // the authority's id of the block; 0 for a configured range
}

// SSCCSpace returns the number of serial references of a company prefix:
// 10^(16 - its length).
func SSCCSpace(prefix string) uint64 {
	space := uint64(1)
	for i := len(prefix); i < 16; i++ {
		space *= 10
	}
	return space
}

// Validate checks the prefix (6 to 12 digits) and that First..Last is a
// non-empty range inside the prefix's space.
func (r SSCCRange) Validate() error {
	if len(r.Prefix) < 6 || len(r.Prefix) > 12 || !isDigits(r.Prefix) {
		return Errorf(EINVALID, "company prefix %q must be 6 to 12 digits", r.Prefix)
	}
	if r.First > r.Last {
		return Errorf(EINVALID, "SSCC range %d..%d of company prefix %s is empty", r.First, r.Last, r.Prefix)
	}
	if space := SSCCSpace(r.Prefix); r.Last >= space {
		return Errorf(EINVALID, "SSCC range %d..%d goes beyond the %d-digit serial references of company prefix %s (at most %d)",
			r.First, r.Last, 16-len(r.Prefix), r.Prefix, space-1)
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// SSCCSource is the authority that gives a station blocks of SSCC serial
// references, so that stations sharing a company prefix never make the
// same SSCC. Implemented by uplink.SSCCSource (the central service).
type SSCCSource interface {
	// ReserveSSCC asks for a new block of about count serial references
	// of a company prefix, never given to anyone before. Errors:
	// EUNAVAILABLE when the authority cannot be reached or does not issue
	// now (the message says why), ECONFLICT when the prefix's space is
	// used up, EUNAUTHORIZED for a bad credential.
	ReserveSSCC(ctx context.Context, prefix string, count uint64) (SSCCRange, error)
}

// allocateSSCC takes the next SSCC of the product's company prefix and the
// level's extension digit within the ranges this station holds and records
// it with the events then(sscc) in one transaction. SSCCs count up and are
// never reused: the ledger refuses one allocated before. With an SSCC
// source, the ranges are the blocks the ledger recorded; with none left it
// asks for one now, and with few left it asks for the next in the
// background. A standalone station uses its configured range.
func (s *Service) allocateSSCC(ctx context.Context, p Product, pl PackagingLevel, order, user string, then func(Item) NewEvent) (Item, error) {
	s.ssccMu.Lock()
	defer s.ssccMu.Unlock()
	prefix := p.CompanyPrefix()
	ext := strconv.Itoa(pl.Extension)
	ranges, err := s.ssccRanges(ctx, prefix)
	if err != nil {
		return Item{}, err
	}
	next, left, ok, err := s.nextSSCC(ctx, ext, prefix, ranges)
	if err != nil {
		return Item{}, err
	}
	if !ok && s.sscc == nil {
		last := s.ssccLast
		if last == 0 || last >= SSCCSpace(prefix) {
			last = SSCCSpace(prefix) - 1
		}
		return Item{}, Errorf(ECONFLICT, "the SSCC range of this station for company prefix %s and extension %s is used up (last %d): configure a new station.sscc_range", prefix, ext, last)
	}
	if !ok {
		r, err := s.fetchSSCC(ctx, prefix)
		if err != nil {
			if ErrorCode(err) == EUNAVAILABLE {
				return Item{}, Errorf(EUNAVAILABLE, "no SSCC range for company prefix %s: connect to the central service so that it gives this station a block of SSCCs, then try again (%s)",
					prefix, ErrorMessage(err))
			}
			return Item{}, fmt.Errorf("no SSCC range for company prefix %s: %w", prefix, err)
		}
		if ranges, err = s.ssccRanges(ctx, prefix); err != nil {
			return Item{}, err
		}
		next, left, ok, err = s.nextSSCC(ctx, ext, prefix, ranges)
		if err != nil {
			return Item{}, err
		}
		if !ok {
			return Item{}, Errorf(EINTERNAL, "the new SSCC block %d..%d of company prefix %s has no free reference", r.First, r.Last, prefix)
		}
	}
	digits := 16 - len(prefix)
	sscc, err := gs1.BuildSSCC(ext, prefix, fmt.Sprintf("%0*d", digits, next))
	if err != nil {
		return Item{}, Errorf(EINVALID, "build SSCC: %v", err)
	}
	item := SSCCItem(sscc)
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: SSCCAllocated{SSCC: sscc, Level: pl.Level, Order: order}, User: user}, then(item)); err != nil {
		return Item{}, fmt.Errorf("allocate SSCC %s: %w", sscc, err)
	}
	if s.sscc != nil && left < max(s.ssccBlock/10, 1) {
		s.fetchSSCCAhead(prefix)
	}
	return item, nil
}

// ssccRanges returns the ranges this station may use for a company prefix:
// the blocks it received, or (standalone) the configured range.
func (s *Service) ssccRanges(ctx context.Context, prefix string) ([]SSCCRange, error) {
	if s.sscc != nil {
		rs, err := s.ledger.SSCCRanges(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("read the SSCC ranges of company prefix %s: %w", prefix, err)
		}
		return rs, nil
	}
	space := SSCCSpace(prefix)
	first, last := s.ssccFirst, s.ssccLast
	if last == 0 || last > space-1 {
		last = space - 1
	}
	if first > last {
		return nil, Errorf(ECONFLICT, "this station's SSCC range starts at %d, beyond the %d-digit serial references of company prefix %s: configure a station.sscc_range within 0-%d",
			first, 16-len(prefix), prefix, space-1)
	}
	return []SSCCRange{{Prefix: prefix, First: first, Last: last}}, nil
}

// nextSSCC finds the next free serial reference for extension ext in
// ranges (ascending): after the highest one allocated in the last range
// that has one, else the first of the next range. left is how many
// references remain after next; ok is false when none is free.
func (s *Service) nextSSCC(ctx context.Context, ext, prefix string, ranges []SSCCRange) (next, left uint64, ok bool, err error) {
	head := ext + prefix
	digits := 16 - len(prefix)
	pad := func(n uint64) string { return fmt.Sprintf("%0*d", digits, n) }
	start := 0 // the range to take from
	for i := len(ranges) - 1; i >= 0; i-- {
		r := ranges[i]
		top, err := s.ledger.MaxSSCC(ctx, head+pad(r.First)+"0", head+pad(r.Last)+"9")
		if err != nil {
			return 0, 0, false, fmt.Errorf("allocate SSCC: %w", err)
		}
		if top == "" {
			continue
		}
		n, err := strconv.ParseUint(top[len(head):17], 10, 64)
		if err != nil {
			return 0, 0, false, fmt.Errorf("allocate SSCC: read %s: %w", top, err)
		}
		if n < r.Last {
			next, start = n+1, i
		} else {
			start = i + 1
			if start < len(ranges) {
				next = ranges[start].First
			}
		}
		break
	}
	if start >= len(ranges) {
		return 0, 0, false, nil
	}
	if next < ranges[start].First {
		next = ranges[start].First
	}
	left = ranges[start].Last - next
	for _, r := range ranges[start+1:] {
		left += r.Last - r.First + 1
	}
	return next, left, true, nil
}

// fetchSSCC asks the SSCC source for a block of the company prefix and
// records it in the ledger.
func (s *Service) fetchSSCC(ctx context.Context, prefix string) (SSCCRange, error) {
	// One request at a time: a retried request reuses its id, so two at
	// once could both be answered the same block.
	s.ssccReqMu.Lock()
	defer s.ssccReqMu.Unlock()
	r, err := s.sscc.ReserveSSCC(ctx, prefix, s.ssccBlock)
	if err != nil {
		return r, err
	}
	if r.Prefix != prefix {
		return r, Errorf(EINTERNAL, "asked for SSCCs of company prefix %s, the central answered a block of %s", prefix, r.Prefix)
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: SSCCRangeReceived{Prefix: r.Prefix, First: r.First, Last: r.Last, Block: r.Block}, User: SystemUser}); err != nil {
		return r, fmt.Errorf("record SSCC block %d (%d..%d) of company prefix %s: %w", r.Block, r.First, r.Last, prefix, err)
	}
	s.logger.Info("SSCC block received", "prefix", prefix, "block", r.Block, "first", r.First, "last", r.Last)
	return r, nil
}

// fetchSSCCAhead asks for the next block of a company prefix in the
// background, once at a time per prefix; a failure (offline) is logged and
// the next allocation tries again.
func (s *Service) fetchSSCCAhead(prefix string) {
	s.ssccFetchMu.Lock()
	defer s.ssccFetchMu.Unlock()
	if s.ssccFetching[prefix] || s.life.Err() != nil {
		return
	}
	s.ssccFetching[prefix] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.ssccFetchMu.Lock()
			delete(s.ssccFetching, prefix)
			s.ssccFetchMu.Unlock()
		}()
		// Not under ssccMu: the line packs on while the central answers.
		if _, err := s.fetchSSCC(s.life, prefix); err != nil && s.life.Err() == nil {
			s.logger.Warn("could not get the next SSCC block ahead; the station goes on with the SSCCs it holds", "prefix", prefix, "error", err)
		}
	}()
}
