package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// Backups of the central store (the central service's SQLite file) are
// snapshot-only generations at a location of their own:
//
//	generations/GEN/manifest.json   the manifest (CentralManifest), written last, once the snapshot is verified
//	generations/GEN/central.db.gz   the snapshot (SQLite file), gzip; ".aes" appended when encrypted
//
// There are no segments: what stations pushed after a snapshot is in their
// journals, and each station's uplink sends it again when the central,
// restored, holds less than it acknowledged. A central location and a
// station location refuse each other's generations.

// CentralFormat is the manifest format of central store backups.
const CentralFormat = "linestation.central-backup.v1"

// CentralSourceName is the source every central manifest names.
const CentralSourceName = "central"

const centralSnapshotName = "central.db.gz"

// DefaultCentralInterval is the time between two snapshots of the central
// store.
const DefaultCentralInterval = time.Hour

// CentralState is what a snapshot of the central store holds: every
// station's head and the store-wide high-water marks.
type CentralState struct {
	// Stations are the heads of every station's journal, by station id.
	Stations []StationHead `json:"stations"`
	// Feed is the events feed cursor of the last event stored: the
	// store-wide high-water mark.
	Feed int64 `json:"feed"`
	// Changes is the seq of the last master-data change.
	Changes int64 `json:"changes"`
	// Reservations is the id of the last serial reservation.
	Reservations int64 `json:"reservations"`
}

// StationHead is the last event of one station's journal held centrally.
type StationHead struct {
	Station string    `json:"station"`
	Seq     int64     `json:"seq"`
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time,omitzero"` // zero for an empty journal
}

// Events returns how many events the state holds.
func (st CentralState) Events() int64 {
	var n int64
	for _, h := range st.Stations {
		n += h.Seq
	}
	return n
}

// diff describes the first difference between two states, "" when equal.
func (st CentralState) diff(o CentralState) string {
	if st.Feed != o.Feed || st.Changes != o.Changes || st.Reservations != o.Reservations {
		return fmt.Sprintf("feed %d, changes %d, reservations %d against feed %d, changes %d, reservations %d",
			st.Feed, st.Changes, st.Reservations, o.Feed, o.Changes, o.Reservations)
	}
	for i := 0; i < max(len(st.Stations), len(o.Stations)); i++ {
		if i >= len(st.Stations) || i >= len(o.Stations) {
			return fmt.Sprintf("%d stations against %d", len(st.Stations), len(o.Stations))
		}
		a, b := st.Stations[i], o.Stations[i]
		if a.Station != b.Station || a.Seq != b.Seq || a.Hash != b.Hash || !a.Time.Equal(b.Time) {
			return fmt.Sprintf("station %s at seq %d (hash %s) against station %s at seq %d (hash %s)", a.Station, a.Seq, short(a.Hash), b.Station, b.Seq, short(b.Hash))
		}
	}
	return ""
}

// CentralManifest describes one generation of the central store: its
// snapshot and what the snapshot holds. It is written once, after the
// snapshot was uploaded and read back.
type CentralManifest struct {
	Format     string    `json:"format"`     // CentralFormat
	Generation string    `json:"generation"` // the generation's id
	Source     string    `json:"source"`     // CentralSourceName
	Host       string    `json:"host"`       // host and path of the store file
	Program    string    `json:"program"`    // the linestation version that wrote it
	Created    time.Time `json:"created"`    // when the snapshot was taken (the host's clock, UTC)
	CentralState
	Snapshot    Object `json:"snapshot"`
	Compression string `json:"compression"` // Compression
	// Encryption is set when the snapshot was encrypted on the client.
	Encryption *Encryption `json:"encryption,omitempty"`
	// ServerSideEncryption is what the storage was asked for.
	ServerSideEncryption string `json:"server_side_encryption,omitempty"`
}

// errStationLocation refuses a location that holds station ledger backups.
func errStationLocation(s *Store, gen string) error {
	return station.Errorf(station.ECONFLICT, "%s holds station ledger backups (generation %s), not the central store's: give the central a prefix of its own",
		s.Location(), gen)
}

// decodeCentralManifest parses a central manifest strictly and checks that
// it is complete and consistent in itself. A station manifest is told apart
// by its format.
func decodeCentralManifest(data []byte) (*CentralManifest, error) {
	var peek struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(data, &peek); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if peek.Format != CentralFormat {
		return nil, fmt.Errorf("format %q is not %s", peek.Format, CentralFormat)
	}
	var m CentralManifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, err
	}
	switch {
	case !ValidGenerationID(m.Generation):
		return nil, fmt.Errorf("generation %q is not a generation id", m.Generation)
	case m.Source != CentralSourceName:
		return nil, fmt.Errorf("source %q is not %s", m.Source, CentralSourceName)
	case m.Compression != Compression:
		return nil, fmt.Errorf("compression %q is not %s", m.Compression, Compression)
	case m.Snapshot.Key != centralSnapshotName && m.Snapshot.Key != centralSnapshotName+encryptedExt:
		return nil, fmt.Errorf("snapshot key %q is not %s", m.Snapshot.Key, centralSnapshotName)
	case (m.Snapshot.Key == centralSnapshotName+encryptedExt) != (m.Encryption != nil):
		return nil, fmt.Errorf("snapshot key %q does not match the encryption %v", m.Snapshot.Key, m.Encryption != nil)
	case m.Snapshot.Size <= 0 || m.Snapshot.StoredSize <= 0:
		return nil, fmt.Errorf("snapshot sizes %d/%d must be positive", m.Snapshot.Size, m.Snapshot.StoredSize)
	case !isHexHash(m.Snapshot.SHA256) || !isHexHash(m.Snapshot.StoredSHA256):
		return nil, fmt.Errorf("snapshot checksums are not SHA-256")
	case m.Feed < 0 || m.Changes < 0 || m.Reservations < 0:
		return nil, fmt.Errorf("high-water marks feed %d, changes %d, reservations %d must not be negative", m.Feed, m.Changes, m.Reservations)
	}
	if e := m.Encryption; e != nil && (e.Algorithm != EncryptionAlgorithm || e.ChunkSize <= 0 || e.ChunkSize > maxChunkSize || len(e.KeyID) != 16) {
		return nil, fmt.Errorf("encryption %+v is not %s with a chunk size and key id", *e, EncryptionAlgorithm)
	}
	for i, h := range m.Stations {
		switch {
		case h.Station == "":
			return nil, fmt.Errorf("station %d has no id", i+1)
		case i > 0 && h.Station <= m.Stations[i-1].Station:
			return nil, fmt.Errorf("stations are not in id order without repeats (%s after %s)", h.Station, m.Stations[i-1].Station)
		case h.Seq < 0 || !isHexHash(h.Hash):
			return nil, fmt.Errorf("station %s: seq %d / hash %q are not a journal head", h.Station, h.Seq, h.Hash)
		case h.Seq == 0 && h.Hash != station.GenesisHash:
			return nil, fmt.Errorf("station %s: seq 0 with hash %s: an empty journal's hash is the genesis hash", h.Station, h.Hash)
		}
	}
	if m.Feed < m.Events() {
		return nil, fmt.Errorf("feed %d is below the %d events the station heads account for", m.Feed, m.Events())
	}
	return &m, nil
}

// CentralManifest reads and checks a central generation's manifest. A
// generation without one is incomplete: ENOTFOUND. A station ledger's
// manifest is ECONFLICT.
func (s *Store) CentralManifest(ctx context.Context, gen string) (*CentralManifest, error) {
	rel := genKey(gen, manifestName)
	data, err := s.getBytes(ctx, rel, maxManifestSize)
	if err != nil {
		return nil, err
	}
	if isStationManifest(data) {
		return nil, errStationLocation(s, gen)
	}
	m, err := decodeCentralManifest(data)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "manifest %s is not valid: %v", s.URL(rel), err)
	}
	if m.Generation != gen {
		return nil, station.Errorf(station.EINVALID, "manifest %s names generation %s, not the one it is in", s.URL(rel), m.Generation)
	}
	return m, nil
}

func isStationManifest(data []byte) bool {
	var peek struct {
		Format string `json:"format"`
	}
	return json.Unmarshal(data, &peek) == nil && peek.Format == Format
}

// NewestCentral returns the manifest of the newest complete central
// generation, nil when there is none. Incomplete generations (no manifest)
// and invalid manifests are passed over (retention deletes them once a
// newer generation is verified); a station ledger's generation is
// ECONFLICT.
func (s *Store) NewestCentral(ctx context.Context) (*CentralManifest, error) {
	gens, err := s.Generations(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(gens) - 1; i >= 0; i-- {
		m, err := s.CentralManifest(ctx, gens[i])
		switch {
		case isNotFound(err):
			continue
		case station.ErrorCode(err) == station.EINVALID:
			s.Logger.Warn("central backup passes over a generation whose manifest is not valid", logKeyGeneration, gens[i], "error", err)
			continue
		}
		return m, err
	}
	return nil, nil
}

// CentralSource is the central store a CentralShipper copies. cmd adapts
// localdb/centraldb to it (this package imports neither).
type CentralSource interface {
	// Path is the store file, recorded in manifests and used to place
	// temporary files beside it.
	Path() string
	// SnapshotFile writes a consistent copy of the store to a new file at
	// path while the service goes on writing, and returns what the copy
	// holds, read from the copy itself.
	SnapshotFile(ctx context.Context, path string) (CentralState, error)
}

// CentralShipper takes snapshots of the central store to a Store. Its
// methods are safe for concurrent use (they run one at a time).
type CentralShipper struct {
	store *Store
	src   CentralSource

	// Program is the version recorded in manifests.
	Program string
	// Logger defaults to the Store's.
	Logger *slog.Logger
	// Now is the host clock for generation names and manifest times;
	// default time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// NewCentralShipper returns a CentralShipper of src to store.
func NewCentralShipper(store *Store, src CentralSource) *CentralShipper {
	return &CentralShipper{store: store, src: src, Logger: store.Logger, Now: time.Now}
}

// Snapshot makes a new generation: it takes a consistent snapshot of the
// store beside it while the service goes on writing, uploads it compressed
// (and encrypted), reads it back, and only then writes the manifest (read
// back too). A location holding station ledger backups is refused with
// ECONFLICT before anything is uploaded.
func (s *CentralShipper) Snapshot(ctx context.Context) (*CentralManifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocation(ctx); err != nil {
		return nil, err
	}
	start := s.Now().UTC()
	gen := newGenerationID(start)
	var state CentralState
	snap, err := s.store.putSnapshot(ctx, s.src.Path(), gen, centralSnapshotName, func(path string) (err error) {
		state, err = s.src.SnapshotFile(ctx, path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("central backup: %w", err)
	}
	host, _ := os.Hostname()
	m := &CentralManifest{
		Format:       CentralFormat,
		Generation:   gen,
		Source:       CentralSourceName,
		Host:         host + ":" + s.src.Path(),
		Program:      s.Program,
		Created:      start,
		CentralState: state,
		Snapshot:     snap,
		Compression:  Compression,
		Encryption:   s.store.encryption(),
	}
	if m.Stations == nil {
		m.Stations = []StationHead{}
	}
	m.ServerSideEncryption = s.store.sseName
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("central backup: encode manifest: %w", err)
	}
	// A manifest this package would refuse must never be written: check it
	// as a restore will.
	if _, err := decodeCentralManifest(data); err != nil {
		return nil, fmt.Errorf("central backup: the manifest of generation %s is not valid: %w", gen, err)
	}
	if err := s.store.putBytes(ctx, genKey(gen, manifestName), append(data, '\n'), "application/json"); err != nil {
		return nil, err
	}
	s.Logger.Info("central backup generation written", logKeyGeneration, gen, "stations", len(m.Stations), "feed", m.Feed, logKeyBytes, snap.StoredSize)
	return m, nil
}

// checkLocation refuses a location whose newest complete generation is a
// station ledger's.
func (s *CentralShipper) checkLocation(ctx context.Context) error {
	_, err := s.store.NewestCentral(ctx)
	return err
}

// RetainCentral deletes old central generations, keeping the keep newest
// verified ones (a generation is verified once its manifest is written,
// which happens only after its snapshot was read back). Incomplete or
// invalid generations older than the newest verified one are deleted too;
// newer ones are left alone, since one may be in progress. Nothing is
// deleted until at least one generation is verified, and nothing at all at
// a location that holds station ledger backups (ECONFLICT). It returns the
// ids deleted.
func (s *Store) RetainCentral(ctx context.Context, keep int) ([]string, error) {
	return s.retain(ctx, keep, func(gen string) error {
		_, err := s.CentralManifest(ctx, gen)
		return err
	}, "central backup generation deleted by retention")
}

// CentralGeneration describes one generation at a central location, for
// 'linestation backup list --central'.
type CentralGeneration struct {
	ID string
	// Manifest is nil when the generation is incomplete or its manifest
	// is not valid; Problem says which.
	Manifest *CentralManifest
	Problem  string
}

// ListCentral describes every generation at a central location, oldest
// first, from the manifests alone. A station ledger's generation is an
// ECONFLICT error.
func (s *Store) ListCentral(ctx context.Context) ([]CentralGeneration, error) {
	gens, err := s.Generations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CentralGeneration, 0, len(gens))
	for _, gen := range gens {
		g := CentralGeneration{ID: gen}
		m, err := s.CentralManifest(ctx, gen)
		switch {
		case err == nil:
			g.Manifest = m
		case isNotFound(err):
			g.Problem = "incomplete: no manifest (a snapshot that did not finish, or one in progress)"
		case station.ErrorCode(err) == station.EINVALID:
			g.Problem = err.Error()
		default:
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// CentralScheduler runs a CentralShipper in the background of 'serve': a
// new generation every Interval, retention after each one. It takes no
// snapshot at shutdown: the stations hold everything pushed since the last
// one. Status reports how it goes, for the service's metrics.
type CentralScheduler struct {
	// Shipper does the work. Required.
	Shipper *CentralShipper
	// Interval between two snapshots; default 1 hour.
	Interval time.Duration
	// Retry is the wait after a failed snapshot; default the smaller of
	// Interval and 5 minutes.
	Retry time.Duration
	// Keep is how many verified generations retention keeps; default 7.
	Keep int
	// Logger defaults to the Shipper's.
	Logger *slog.Logger

	mu     sync.Mutex
	status CentralStatus
}

// CentralStatus is how the central store's backups are going.
type CentralStatus struct {
	Location string // s3://bucket/prefix
	// Generation is the newest verified generation (written by this
	// process or found at the location at start); Created is when its
	// snapshot was taken, Feed its high-water mark.
	Generation string
	Created    time.Time
	Feed       int64
	// LastSuccess is when the newest verified generation was made: this
	// process's last success, or at start the newest found at the
	// location. Zero when there is none.
	LastSuccess time.Time
	// LastError is the error of the last failed attempt (nil once one
	// succeeds again); LastErrorAt is when it happened.
	LastError   error
	LastErrorAt time.Time
	// Failures counts failed attempts since the last success;
	// FailuresTotal since the start.
	Failures      int
	FailuresTotal int64
	// Bytes, Objects and Retries count uploads since the start.
	Bytes   int64
	Objects int64
	Retries int64
}

// OK reports whether the last attempt succeeded.
func (st CentralStatus) OK() bool { return st.Failures == 0 && !st.LastSuccess.IsZero() }

// Status returns a copy of the current status.
func (s *CentralScheduler) Status() CentralStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if s.Shipper != nil {
		u := s.Shipper.store.Stats()
		st.Bytes, st.Objects, st.Retries = u.Bytes, u.Objects, u.Retries
		st.Location = s.Shipper.store.loc.String()
	}
	return st
}

// Run takes snapshots until ctx ends, then returns nil. At start it looks
// for the newest verified generation at the location: when it is younger
// than Interval the first snapshot waits until it is due, so that restarts
// do not upload the store each time. Each failure is logged and kept in
// Status, and tried again after Retry.
func (s *CentralScheduler) Run(ctx context.Context) error {
	if s.Shipper == nil {
		return errors.New("central backup scheduler: no shipper")
	}
	interval := orDefault(s.Interval, DefaultCentralInterval)
	retry := orDefault(s.Retry, min(interval, 5*time.Minute))
	log := s.Logger
	if log == nil {
		log = s.Shipper.Logger
	}
	wait := time.Duration(0)
	// Unreachable storage or a station's location: the first attempt,
	// at once, reports it.
	if m, err := s.Shipper.store.NewestCentral(ctx); err == nil && m != nil {
		s.record(m, nil, log)
		wait = max(m.Created.Add(interval).Sub(s.Shipper.Now()), 0)
		log.Info("central backup found its last generation", logKeyGeneration, m.Generation, "next_in", wait.Round(time.Second))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		m, err := s.round(ctx, log)
		if ctx.Err() != nil {
			if m != nil {
				s.record(m, nil, log) // finished just as the service stopped
			}
			return nil // an error now is the stop's
		}
		s.record(m, err, log)
		if err != nil {
			t.Reset(retry)
		} else {
			t.Reset(interval)
		}
	}
}

// round makes one generation and applies retention.
func (s *CentralScheduler) round(ctx context.Context, log *slog.Logger) (*CentralManifest, error) {
	if err := s.Shipper.store.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	m, err := s.Shipper.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	keep := s.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	// Once begun, retention finishes even when the service stops: a
	// generation half deleted is harmless (its manifest goes first) but
	// would wait for the next round to go.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if deleted, err := s.Shipper.store.RetainCentral(rctx, keep); err != nil {
		log.Warn("central backup retention failed", "error", err)
	} else if len(deleted) > 0 {
		log.Info("central backup retention deleted old generations", "generations", len(deleted))
	}
	return m, nil
}

// record updates the status after an attempt (m set on success).
func (s *CentralScheduler) record(m *CentralManifest, err error, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if m != nil {
			s.status.Generation, s.status.Created, s.status.Feed = m.Generation, m.Created, m.Feed
			s.status.LastSuccess = m.Created
		}
		s.status.LastError = nil
		s.status.Failures = 0
		return
	}
	s.status.LastError, s.status.LastErrorAt = err, s.Shipper.Now()
	s.status.Failures++
	s.status.FailuresTotal++
	log.Error("central backup failed", "error", err, "failures", s.status.Failures)
}
