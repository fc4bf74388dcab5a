package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
)

// Source is the ledger a Shipper copies. *localdb.DB implements it (cmd
// passes it in; this package does not import localdb).
type Source interface {
	// Station is the id of the station whose journal this is.
	Station() string
	// Path is the ledger file, recorded in manifests and used to place
	// temporary files beside it.
	Path() string
	// Head returns the last recorded event.
	Head(ctx context.Context) (station.Head, error)
	// Events returns up to limit events from fromSeq on, in seq order.
	Events(ctx context.Context, fromSeq int64, limit int) ([]station.Event, error)
	// SnapshotFile writes a consistent copy of the ledger to a new file
	// at path and returns the head that copy holds.
	SnapshotFile(ctx context.Context, path string) (station.Head, error)
}

// DefaultMaxSegmentEvents bounds the events of one segment.
const DefaultMaxSegmentEvents = 10000

// eventsPage is how many events the Shipper reads from the ledger at a time.
const eventsPage = 1000

// Shipper copies one station's ledger to a Store: a snapshot that starts a
// generation, then the journal after it as segments. It remembers the last
// event shipped, so each Ship sends only what is new. Its methods are safe
// for concurrent use (they run one at a time).
type Shipper struct {
	store *Store
	src   Source

	// MaxSegmentEvents bounds the events of one segment (and so the memory
	// a segment takes); default 10,000.
	MaxSegmentEvents int
	// Program is the version recorded in manifests.
	Program string
	// Logger defaults to the Store's.
	Logger *slog.Logger
	// Now is the host clock for generation names and manifest times;
	// default time.Now.
	Now func() time.Time

	mu     sync.Mutex
	gen    *Manifest    // the generation being extended; nil until Resume or Snapshot
	cursor station.Head // the last event stored in gen
}

// NewShipper returns a Shipper of src to store, with no generation yet:
// call Resume or Snapshot before Ship.
func NewShipper(store *Store, src Source) *Shipper {
	return &Shipper{store: store, src: src, MaxSegmentEvents: DefaultMaxSegmentEvents, Logger: store.Logger, Now: time.Now}
}

// Position returns the generation being extended (nil when none) and the
// last event stored in it.
func (s *Shipper) Position() (*Manifest, station.Head) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.cursor
}

// ErrDiverged is returned by Ship when the ledger no longer continues the
// generation (the file was replaced or restored to an earlier point); the
// Shipper forgets the generation, and the next Snapshot starts a new one.
var ErrDiverged = station.Errorf(station.ECONFLICT, "the ledger no longer continues the backup generation: a new generation is needed")

// Resume takes up the newest complete generation at the store when the
// local ledger continues it (it holds the generation's last shipped event,
// with the same hash) and it is encrypted as the store is now; it reports
// whether it did. A location that holds another station's backups is
// refused with ECONFLICT.
func (s *Shipper) Resume(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.newestManifest(ctx)
	if err != nil || m == nil {
		return false, err
	}
	if (m.Encryption == nil) != (s.store.key == nil) || (m.Encryption != nil && m.Encryption.KeyID != s.store.key.ID()) {
		s.Logger.Info("backup starts a new generation: the encryption settings changed", logKeyGeneration, m.Generation)
		return false, nil
	}
	cursor, err := s.storedHead(ctx, m)
	if err != nil {
		s.Logger.Warn("backup starts a new generation: the last one cannot be extended", logKeyGeneration, m.Generation, "error", err)
		return false, nil
	}
	if cursor.Seq > 0 {
		evs, err := s.src.Events(ctx, cursor.Seq, 1)
		if err != nil {
			return false, fmt.Errorf("resume backup: read seq %d of the ledger: %w", cursor.Seq, err)
		}
		if len(evs) == 0 || evs[0].Hash != cursor.Hash {
			s.Logger.Info("backup starts a new generation: the ledger does not continue the last one", logKeyGeneration, m.Generation, logKeySeq, cursor.Seq)
			return false, nil
		}
	}
	s.gen, s.cursor = m, cursor
	s.Logger.Info("backup resumes generation", logKeyGeneration, m.Generation, logKeySeq, cursor.Seq)
	return true, nil
}

// newestManifest returns the manifest of the newest complete generation
// (nil when there is none) and refuses another station's location.
func (s *Shipper) newestManifest(ctx context.Context) (*Manifest, error) {
	gens, err := s.store.Generations(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(gens) - 1; i >= 0; i-- {
		m, err := s.store.Manifest(ctx, gens[i])
		if station.ErrorCode(err) == station.ENOTFOUND {
			continue // incomplete: a snapshot that never finished
		}
		if err != nil {
			return nil, err
		}
		if m.Station != s.src.Station() {
			return nil, station.Errorf(station.ECONFLICT, "%s holds the backups of station %q, not %q: give each station its own prefix", s.store.loc, m.Station, s.src.Station())
		}
		return m, nil
	}
	return nil, nil
}

// storedHead finds the last event stored in a generation: the end of its
// segments (which must run without a gap from the snapshot), else the
// snapshot's head.
func (s *Shipper) storedHead(ctx context.Context, m *Manifest) (station.Head, error) {
	head := station.Head{Seq: m.LastSeq, Hash: m.LastHash, Time: m.LastTime}
	segs, err := s.store.Segments(ctx, m.Generation)
	if err != nil {
		return head, err
	}
	plan, err := planSegments(s.store, m, segs)
	if err != nil {
		return head, err
	}
	if len(plan) == 0 {
		return head, nil
	}
	last := plan[len(plan)-1]
	if p, err := s.store.Progress(ctx, m.Generation); err == nil && p.LastSeq == last.Last {
		return station.Head{Seq: p.LastSeq, Hash: p.LastHash, Time: p.LastTime}, nil
	}
	evs, err := s.store.readSegment(ctx, m, last)
	if err != nil {
		return head, err
	}
	ev := evs[len(evs)-1]
	return station.Head{Seq: ev.Seq, Hash: ev.Hash, Time: ev.Time}, nil
}

// Snapshot starts a new generation: it takes a consistent snapshot of the
// ledger beside it, uploads it compressed (and encrypted), reads it back,
// and only then writes the manifest. Later Ship calls extend it.
func (s *Shipper) Snapshot(ctx context.Context) (*Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.newestManifest(ctx); err != nil {
		return nil, err
	}
	start := s.Now().UTC()
	gen := newGenerationID(start)
	var head station.Head
	snap, err := s.store.putSnapshot(ctx, s.src.Path(), gen, snapshotName, func(path string) (err error) {
		head, err = s.src.SnapshotFile(ctx, path)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backup snapshot: %w", err)
	}
	host, _ := os.Hostname()
	m := &Manifest{
		Format:      Format,
		Generation:  gen,
		Station:     s.src.Station(),
		Source:      host + ":" + s.src.Path(),
		Program:     s.Program,
		Created:     start,
		LastSeq:     head.Seq,
		LastHash:    head.Hash,
		LastTime:    head.Time,
		Snapshot:    snap,
		Compression: Compression,
		Encryption:  s.store.encryption(),
	}
	if head.Seq == 0 {
		m.LastHash = station.GenesisHash
	}
	m.ServerSideEncryption = s.store.sseName
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup snapshot: encode manifest: %w", err)
	}
	if err := s.store.putBytes(ctx, genKey(gen, manifestName), append(data, '\n'), "application/json"); err != nil {
		return nil, err
	}
	s.gen, s.cursor = m, station.Head{Seq: m.LastSeq, Hash: m.LastHash, Time: m.LastTime}
	if err := s.putProgress(ctx, ""); err != nil {
		s.Logger.Warn("backup head.json not written", logKeyGeneration, gen, "error", err)
	}
	s.Logger.Info("backup generation started", logKeyGeneration, gen, logKeySeq, head.Seq, logKeyBytes, snap.StoredSize)
	return m, nil
}

// putSnapshot makes a consistent snapshot of a database with take (which
// writes it to the path it is given, in a temporary folder beside the
// database file dbFile), seals it (compressed, and encrypted when the store
// has a key) and uploads it as name (with the encrypted extension when
// encrypted) in generation gen, read back by put. It returns the object as
// a manifest describes it. The temporary folder is removed.
func (s *Store) putSnapshot(ctx context.Context, dbFile, gen, name string, take func(path string) error) (Object, error) {
	dir, err := os.MkdirTemp(filepath.Dir(dbFile), ".backup-")
	if err != nil {
		return Object{}, err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "snapshot.db")
	if err := take(dbPath); err != nil {
		return Object{}, err
	}
	storedPath := filepath.Join(dir, "snapshot.stored")
	raw, stored, err := sealFile(storedPath, dbPath, s.key)
	if err != nil {
		return Object{}, err
	}
	if err := os.Remove(dbPath); err != nil {
		return Object{}, err
	}
	key := name
	if s.key != nil {
		key += encryptedExt
	}
	f, err := os.Open(storedPath)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	if err := s.put(ctx, genKey(gen, key), f, stored.Size, stored.SHA256, "application/octet-stream"); err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: raw.Size, SHA256: raw.SHA256, StoredSize: stored.Size, StoredSHA256: stored.SHA256}, nil
}

// encryption describes the store's client-side encryption for a manifest;
// nil when it has no key.
func (s *Store) encryption() *Encryption {
	if s.key == nil {
		return nil
	}
	return &Encryption{Algorithm: EncryptionAlgorithm, ChunkSize: DefaultChunkSize, KeyID: s.key.ID()}
}

// sealFile writes the file at src to a new file at dst through a sealer and
// syncs it.
func sealFile(dst, src string, key *Key) (raw, stored digest, err error) {
	in, err := os.Open(src)
	if err != nil {
		return raw, stored, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return raw, stored, err
	}
	defer out.Close()
	s, err := newSealer(out, key)
	if err != nil {
		return raw, stored, err
	}
	if _, err := in.WriteTo(s); err != nil {
		return raw, stored, fmt.Errorf("compress %s: %w", src, err)
	}
	if raw, stored, err = s.Close(); err != nil {
		return raw, stored, err
	}
	return raw, stored, out.Close()
}

// ShipStats says what one Ship did.
type ShipStats struct {
	Segments int   // segments uploaded
	Events   int64 // events in them
	Bytes    int64 // bytes stored
	LastSeq  int64 // the last event now in object storage
}

// Ship uploads the journal recorded after the last shipped event, as
// segments of at most MaxSegmentEvents, up to the ledger's head when it
// began. Each segment is read back before the next is sent, and head.json
// records the progress. It returns ErrDiverged (and forgets the
// generation) when the ledger no longer continues the generation.
func (s *Shipper) Ship(ctx context.Context) (ShipStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st ShipStats
	if s.gen == nil {
		return st, station.Errorf(station.EINVALID, "backup: no generation to ship to: take a snapshot first")
	}
	st.LastSeq = s.cursor.Seq
	target, err := s.src.Head(ctx)
	if err != nil {
		return st, fmt.Errorf("backup: read the ledger head: %w", err)
	}
	if target.Seq < s.cursor.Seq {
		s.gen = nil
		return st, fmt.Errorf("ledger head seq %d is behind the shipped seq %d: %w", target.Seq, s.cursor.Seq, ErrDiverged)
	}
	maxEvents := s.MaxSegmentEvents
	if maxEvents <= 0 {
		maxEvents = DefaultMaxSegmentEvents
	}
	for s.cursor.Seq < target.Seq {
		evs, err := s.readEvents(ctx, s.cursor.Seq+1, min(int64(maxEvents), target.Seq-s.cursor.Seq))
		if err != nil {
			return st, err
		}
		if len(evs) == 0 {
			break
		}
		if evs[0].Seq != s.cursor.Seq+1 || evs[0].PrevHash != s.cursor.Hash {
			gen := s.gen.Generation
			s.gen = nil
			return st, fmt.Errorf("seq %d of the ledger does not follow seq %d of generation %s: %w", evs[0].Seq, s.cursor.Seq, gen, ErrDiverged)
		}
		data, d, err := encodeSegment(evs, s.store.key)
		if err != nil {
			return st, fmt.Errorf("backup: segment from seq %d: %w", evs[0].Seq, err)
		}
		first, last := evs[0], evs[len(evs)-1]
		seg := segmentKey(first.Seq, last.Seq, d.SHA256, s.store.key != nil)
		if err := s.store.putBytes(ctx, genKey(s.gen.Generation, seg), data, "application/octet-stream"); err != nil {
			return st, err
		}
		s.cursor = station.Head{Seq: last.Seq, Hash: last.Hash, Time: last.Time}
		st.Segments++
		st.Events += int64(len(evs))
		st.Bytes += d.Size
		st.LastSeq = last.Seq
		if err := s.putProgress(ctx, seg); err != nil {
			return st, err
		}
	}
	if st.Segments > 0 {
		s.Logger.Debug("backup segments shipped", logKeyGeneration, s.gen.Generation, "segments", st.Segments, logKeySeq, st.LastSeq, logKeyBytes, st.Bytes)
	}
	return st, nil
}

// readEvents reads n events from seq from on (fewer at the head).
func (s *Shipper) readEvents(ctx context.Context, from, n int64) ([]station.Event, error) {
	var out []station.Event
	for int64(len(out)) < n {
		page, err := s.src.Events(ctx, from, int(min(eventsPage, n-int64(len(out)))))
		if err != nil {
			return nil, fmt.Errorf("backup: read the ledger from seq %d: %w", from, err)
		}
		out = append(out, page...)
		if len(page) == 0 {
			break
		}
		from = page[len(page)-1].Seq + 1
	}
	return out, nil
}

// putProgress writes the generation's head.json at the cursor.
func (s *Shipper) putProgress(ctx context.Context, seg string) error {
	p := Progress{Generation: s.gen.Generation, LastSeq: s.cursor.Seq, LastHash: s.cursor.Hash, LastTime: s.cursor.Time, Segment: seg, Updated: s.Now().UTC()}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: encode head.json: %w", err)
	}
	return s.store.putBytes(ctx, genKey(s.gen.Generation, headName), append(data, '\n'), "application/json")
}

// planSegments picks, from a generation's segments in seq order, those that
// extend the journal from the snapshot without a gap: a segment wholly
// covered by earlier ones is left out, one that overlaps is kept (Import
// skips the events it already has). A gap is an error that names it.
func planSegments(store *Store, m *Manifest, segs []Segment) ([]Segment, error) {
	covered := m.LastSeq
	var plan []Segment
	for _, seg := range segs {
		if seg.Encrypted != (m.Encryption != nil) {
			return nil, station.Errorf(station.EINVALID, "segment %s is %s but generation %s is %s", store.URL(genKey(m.Generation, seg.Key)),
				encryptedWord(seg.Encrypted), m.Generation, encryptedWord(m.Encryption != nil))
		}
		if seg.Last <= covered {
			continue
		}
		if seg.First > covered+1 {
			return nil, station.Errorf(station.EINVALID, "generation %s is missing events %d to %d: no segment holds them (the next one is %s)",
				m.Generation, covered+1, seg.First-1, store.URL(genKey(m.Generation, seg.Key)))
		}
		plan = append(plan, seg)
		covered = seg.Last
	}
	return plan, nil
}

func encryptedWord(enc bool) string {
	if enc {
		return "encrypted"
	}
	return "not encrypted"
}

// maxSegmentStored bounds the stored size of one segment read back.
const maxSegmentStored = 256 << 20

// readSegment downloads a segment, checks its stored checksum against its
// name, decodes it and checks that it holds exactly the seqs its name says.
// Errors name the object.
func (s *Store) readSegment(ctx context.Context, m *Manifest, seg Segment) ([]station.Event, error) {
	rel := genKey(m.Generation, seg.Key)
	data, err := s.getBytes(ctx, rel, maxSegmentStored)
	if err != nil {
		return nil, err
	}
	sum := newHashWriter()
	sum.Write(data)
	if got := sum.digest().SHA256; got != seg.StoredSHA256 {
		return nil, station.Errorf(station.EINVALID, "segment %s is corrupt: its SHA-256 is %s, its name says %s", s.URL(rel), got, seg.StoredSHA256)
	}
	key, err := s.keyFor(m)
	if err != nil {
		return nil, err
	}
	evs, err := decodeSegment(data, key)
	if err != nil {
		return nil, station.Errorf(station.EINVALID, "segment %s cannot be read: %v", s.URL(rel), err)
	}
	if int64(len(evs)) != seg.Last-seg.First+1 {
		return nil, station.Errorf(station.EINVALID, "segment %s holds %d events, its name says seqs %d to %d", s.URL(rel), len(evs), seg.First, seg.Last)
	}
	for i := range evs {
		if want := seg.First + int64(i); evs[i].Seq != want {
			return nil, station.Errorf(station.EINVALID, "segment %s: event %d has seq %d, want %d", s.URL(rel), i+1, evs[i].Seq, want)
		}
	}
	return evs, nil
}

// keyFor returns the key to read a generation's objects with, refusing a
// missing or different key with a clear message.
func (s *Store) keyFor(m *Manifest) (*Key, error) {
	if m.Encryption == nil {
		return nil, nil
	}
	if s.key == nil {
		return nil, station.Errorf(station.EUNAUTHORIZED, "generation %s is encrypted (key id %s): give its key (key file or %s)", m.Generation, m.Encryption.KeyID, EnvEncryptionKey)
	}
	if id := s.key.ID(); id != m.Encryption.KeyID {
		return nil, station.Errorf(station.EUNAUTHORIZED, "generation %s was encrypted with key id %s, but the key given has id %s", m.Generation, m.Encryption.KeyID, id)
	}
	return s.key, nil
}

// Retain deletes old generations, keeping the keep newest verified ones (a
// generation is verified once its manifest is written, which happens only
// after its snapshot was read back). Incomplete generations older than the
// newest verified one are deleted too; newer ones are left alone, since one
// may be in progress. Nothing is deleted until at least one generation is
// verified. A generation's manifest is deleted first, so that a generation
// half deleted is never taken for a complete one. It returns the ids deleted.
func (s *Store) Retain(ctx context.Context, keep int) ([]string, error) {
	return s.retain(ctx, keep, func(gen string) error {
		_, err := s.Manifest(ctx, gen)
		return err
	}, "backup generation deleted by retention")
}

// retain deletes old generations as Retain says, with check telling a
// verified generation (nil), an incomplete or invalid one (ENOTFOUND or
// EINVALID) and a reason to stop (any other error), logging each deleted.
func (s *Store) retain(ctx context.Context, keep int, check func(gen string) error, logMsg string) ([]string, error) {
	if keep < 1 {
		return nil, station.Errorf(station.EINVALID, "retention must keep at least one generation, not %d", keep)
	}
	gens, err := s.Generations(ctx)
	if err != nil {
		return nil, err
	}
	verified := 0
	var doomed []string
	for i := len(gens) - 1; i >= 0; i-- {
		err := check(gens[i])
		switch code := station.ErrorCode(err); {
		case err == nil:
			verified++
			if verified > keep {
				doomed = append(doomed, gens[i])
			}
		case code == station.ENOTFOUND || code == station.EINVALID:
			if verified > 0 {
				doomed = append(doomed, gens[i])
			}
		default:
			return nil, err
		}
	}
	var deleted []string
	for _, gen := range doomed {
		if err := s.deleteGeneration(ctx, gen); err != nil {
			return deleted, err
		}
		deleted = append(deleted, gen)
		s.Logger.Info(logMsg, logKeyGeneration, gen)
	}
	return deleted, nil
}

func (s *Store) deleteGeneration(ctx context.Context, gen string) error {
	if err := s.remove(ctx, []string{genKey(gen, manifestName)}); err != nil {
		return err
	}
	objs, err := s.list(ctx, genKey(gen, ""), true)
	if err != nil {
		return err
	}
	rels := make([]string, len(objs))
	for i, o := range objs {
		rels[i] = o.Rel
	}
	if len(rels) == 0 {
		return nil
	}
	return s.remove(ctx, rels)
}

// isNotFound reports whether err is a missing object.
func isNotFound(err error) bool {
	return err != nil && station.ErrorCode(err) == station.ENOTFOUND
}
