package backup

import (
	"context"

	"github.com/linestation/linestation/station"
)

// GenerationInfo describes one generation at a location, for
// 'linestation backup list'.
type GenerationInfo struct {
	ID string
	// Manifest is nil when the generation is incomplete (no manifest) or
	// its manifest is not valid; Problem says which.
	Manifest *Manifest
	Problem  string
	// Progress is the generation's head.json (nil when it has none).
	Progress *Progress
	// Segments and SegmentBytes count the segment objects.
	Segments     int
	SegmentBytes int64
	// FirstSeq..LastSeq is what the snapshot and the segments hold, as
	// their names say (LastSeq 0 and FirstSeq 1: an empty journal).
	FirstSeq, LastSeq int64
	// Gap names the first missing range of seqs, when there is one.
	Gap string
}

// List describes every generation at the location, oldest first. It reads
// manifests, head.json and the segment listings; it downloads no snapshot
// or segment.
func (s *Store) List(ctx context.Context) ([]GenerationInfo, error) {
	gens, err := s.Generations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GenerationInfo, 0, len(gens))
	for _, gen := range gens {
		info := GenerationInfo{ID: gen, FirstSeq: 1}
		m, err := s.Manifest(ctx, gen)
		switch {
		case isNotFound(err):
			info.Problem = "incomplete: no manifest (a snapshot that did not finish, or one in progress)"
		case err != nil && ctx.Err() == nil && isStationError(err):
			info.Problem = err.Error()
		case err != nil:
			return nil, err
		default:
			info.Manifest = m
			info.LastSeq = m.LastSeq
		}
		if p, err := s.Progress(ctx, gen); err == nil {
			info.Progress = p
		} else if !isNotFound(err) && !isStationError(err) {
			return nil, err
		}
		segs, err := s.Segments(ctx, gen)
		if err != nil {
			if !isStationError(err) {
				return nil, err
			}
			if info.Problem == "" {
				info.Problem = err.Error()
			}
		}
		for _, seg := range segs {
			info.Segments++
			info.SegmentBytes += seg.Size
		}
		if m != nil && err == nil {
			plan, perr := planSegments(s, m, segs)
			if perr != nil {
				info.Gap = perr.Error()
			}
			if len(plan) > 0 {
				info.LastSeq = plan[len(plan)-1].Last
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// isStationError reports whether err is a finding about the objects
// (EINVALID, ENOTFOUND), not a failure to reach them.
func isStationError(err error) bool {
	switch station.ErrorCode(err) {
	case station.EINVALID, station.ENOTFOUND:
		return true
	}
	return false
}
