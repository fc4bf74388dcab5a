package dscsa

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// Log attribute keys.
const (
	logKeyShipment = "shipment"
	logKeyPartner  = "partner"
	logKeyCapture  = "capture"
	logKeyDelivery = "delivery"
)

// Config configures an Exchange.
type Config struct {
	// Store keeps everything. Required.
	Store Store
	// GLN is our company's GLN: the responder of verification answers and
	// the sender of exception reports. Without it the exchange answers no
	// verification requests (a tool that only writes documents needs none).
	GLN string
	// Contact is the e-mail address exception reports give as ours
	// (sender_information.email); default "dscsa@" + GLN + ".invalid".
	Contact string
	// SpoolDir is where capture bodies and outbound documents wait while
	// they are processed. Required; created when missing.
	SpoolDir string
	// FilesDir is the root of file deliveries (one sub-folder per partner)
	// that an AS2 or SFTP gateway picks up; default SpoolDir/../outbound.
	FilesDir string
	// SecretsDir holds the bearer tokens sent to partners, one file each
	// (Partner.Delivery.Credential names the file); default SpoolDir/../secrets.
	SecretsDir string
	// Client makes deliveries; default a client with a 2 minute timeout.
	Client *http.Client
	// Interval is how often station journals are followed and due
	// deliveries attempted; default 2s. Notify wakes the exchange at once.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait between delivery attempts,
	// doubling from MinBackoff; defaults 5s and 30m.
	MinBackoff, MaxBackoff time.Duration
	// HoldRecheck is how often a held document is checked again; default 1m.
	HoldRecheck time.Duration
	// MaxCaptureErrors bounds the errors a capture job reports; default 100.
	MaxCaptureErrors int
	// Logger defaults to slog.Default() with component=dscsa.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Exchange is the DSCSA exchange of the central service. Open starts its
// background work (following station journals, delivering documents,
// capture jobs); Close stops it. Safe for concurrent use.
type Exchange struct {
	cfg    Config
	store  Store
	logger *slog.Logger
	now    func() time.Time

	syncMu  sync.Mutex // serializes Sync
	prodMu  sync.Mutex
	namer   *Namer // products cache for verification
	namerAt time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	jobs   chan string // capture job ids
}

// New checks cfg and returns an Exchange; Open starts it.
func New(cfg Config) (*Exchange, error) {
	if cfg.Store == nil {
		return nil, station.Errorf(station.EINVALID, "dscsa: a store is required")
	}
	if cfg.GLN != "" {
		if err := gs1.ValidateGLN(cfg.GLN); err != nil {
			return nil, station.Errorf(station.EINVALID, "dscsa: our company GLN %q: %v", cfg.GLN, err)
		}
	}
	if cfg.SpoolDir == "" {
		return nil, station.Errorf(station.EINVALID, "dscsa: a spool folder is required")
	}
	if cfg.Contact == "" {
		cfg.Contact = "dscsa@" + cfg.GLN + ".invalid"
	}
	if cfg.FilesDir == "" {
		cfg.FilesDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.SpoolDir)), "outbound")
	}
	if cfg.SecretsDir == "" {
		cfg.SecretsDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.SpoolDir)), "secrets")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 5 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Minute, cfg.MinBackoff)
	}
	if cfg.HoldRecheck <= 0 {
		cfg.HoldRecheck = time.Minute
	}
	if cfg.MaxCaptureErrors <= 0 {
		cfg.MaxCaptureErrors = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "dscsa")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("dscsa: create spool folder %s: %w", cfg.SpoolDir, err)
	}
	return &Exchange{cfg: cfg, store: cfg.Store, logger: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1), jobs: make(chan string, 1024)}, nil
}

// GLN returns our company's GLN.
func (x *Exchange) GLN() string { return x.cfg.GLN }

// Store returns the exchange's store.
func (x *Exchange) Store() Store { return x.store }

// Open starts the background work: the journal follower and deliveries
// (every Interval, or at once after Notify) and the capture workers. Jobs
// left unfinished by a stop are run again.
func (x *Exchange) Open(ctx context.Context) error {
	x.ctx, x.cancel = context.WithCancel(context.WithoutCancel(ctx))
	jobs, err := x.store.CaptureJobs(ctx, "", 10000)
	if err != nil {
		x.cancel()
		return err
	}
	for _, j := range jobs {
		if j.Running {
			select {
			case x.jobs <- j.ID:
			default:
			}
		}
	}
	x.wg.Add(2)
	go x.loop()
	go x.captureWorker()
	return nil
}

// Close stops the background work and waits for it (a capture job or a
// delivery in progress is interrupted and run again after the next Open).
func (x *Exchange) Close() error {
	if x.cancel == nil {
		return nil
	}
	x.cancel()
	x.wg.Wait()
	x.cancel = nil
	return nil
}

// Notify wakes the background loop (new journals, a partner changed).
func (x *Exchange) Notify() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *Exchange) loop() {
	defer x.wg.Done()
	t := time.NewTicker(x.cfg.Interval)
	defer t.Stop()
	for {
		if err := x.Sync(x.ctx); err != nil && x.ctx.Err() == nil {
			x.logger.Error("follow station journals", "error", err)
		}
		if _, err := x.DeliverDue(x.ctx); err != nil && x.ctx.Err() == nil {
			x.logger.Error("deliver documents", "error", err)
		}
		select {
		case <-x.ctx.Done():
			return
		case <-t.C:
		case <-x.wake:
		}
	}
}

// products returns a Namer over the central's products, cached for a
// few seconds (verification asks for it on every request).
func (x *Exchange) products(ctx context.Context, fresh bool) (*Namer, error) {
	x.prodMu.Lock()
	defer x.prodMu.Unlock()
	if x.namer != nil && !fresh && x.now().Sub(x.namerAt) < 5*time.Second {
		return x.namer, nil
	}
	ps, err := x.store.Products(ctx)
	if err != nil {
		return nil, err
	}
	x.namer, x.namerAt = NewNamer(ps), x.now()
	return x.namer, nil
}

// knownGTIN reports whether a GTIN is one of our products', asking the
// store again (at most once a second) on a miss.
func (x *Exchange) knownGTIN(ctx context.Context, gtin string) (*Namer, bool, error) {
	n, err := x.products(ctx, false)
	if err != nil {
		return nil, false, err
	}
	if n.Known(gtin) {
		return n, true, nil
	}
	x.prodMu.Lock()
	stale := x.now().Sub(x.namerAt) > time.Second
	x.prodMu.Unlock()
	if !stale {
		return n, false, nil
	}
	n, err = x.products(ctx, true)
	if err != nil {
		return nil, false, err
	}
	return n, n.Known(gtin), nil
}
