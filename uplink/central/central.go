// Package central is the headless central service's HTTP API: station
// enrollment and authentication, the sync API stations push their journals
// to and pull master data and serial pools from, the serial authority, the
// repository of every serial, SSCC and aggregation tree, the ERP's REST API
// (described by the OpenAPI document served at /openapi.json), health and
// readiness probes, and Prometheus metrics.
//
// The service keeps no state of its own beyond metrics: everything is in its
// Store, which cmd sets (localdb/centraldb, the embedded SQLite store, by
// default). It serves TLS with a configured certificate, or plain HTTP on a
// loopback address for development; plain HTTP on any other address is
// refused unless explicitly allowed.
package central

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

// Store is everything the service keeps. Implemented by *centraldb.DB.
// Methods return station errors: EINVALID for bad input (naming the field),
// ENOTFOUND, ECONFLICT, EUNAUTHORIZED for credentials, and an
// *uplink.RefusedError from Ingest for a gap or a chain break.
type Store interface {
	// Ping checks that the store answers.
	Ping(ctx context.Context) error

	// AddStation creates a station (or, with newCode, gives an existing one
	// a new code) with the hash of a one-time enrollment code.
	AddStation(ctx context.Context, id, line, codeHash string, expires time.Time, newCode bool) error
	// Enroll exchanges a code hash for a credential hash (EUNAUTHORIZED for
	// an unknown, used or expired code).
	Enroll(ctx context.Context, codeHash, tokenHash string) (uplink.StationInfo, error)
	// AddClient creates an ERP client with a credential hash.
	AddClient(ctx context.Context, name, role, tokenHash string, replace bool) error
	// Authenticate returns who holds a credential hash (EUNAUTHORIZED when nobody).
	Authenticate(ctx context.Context, tokenHash string) (uplink.Principal, error)
	// Stations lists the stations with their heads and reports.
	Stations(ctx context.Context) ([]uplink.StationInfo, error)

	// Ingest stores a batch of a station's journal idempotently and applies it.
	Ingest(ctx context.Context, stationID string, evs []station.Event, rep uplink.OutboxReport) (uplink.Ack, error)
	// Head returns what is held of a station's journal.
	Head(ctx context.Context, stationID string) (uplink.Ack, error)
	// MasterData returns the changes after seq after that a station of line needs.
	MasterData(ctx context.Context, line string, after int64, limit int) (uplink.MasterData, error)
	// Changed returns a channel closed when master-data changes are next
	// committed (taken before a MasterData read, it catches any change
	// after that read).
	Changed() <-chan struct{}

	// Reserve issues serials of a GTIN to a holder (idempotent on request id).
	Reserve(ctx context.Context, holder string, req uplink.ReserveRequest) (uplink.Reservation, error)
	// Reservations lists a holder's reservations after an id.
	Reservations(ctx context.Context, holder string, after int64, limit int) ([]uplink.Reservation, error)
	// Release returns or voids a holder's unused serials.
	Release(ctx context.Context, holder string, req uplink.ReleaseRequest) (uplink.ReleaseResult, error)
	// ReserveSSCC issues a block of SSCC serial references to a station
	// (idempotent on request id; EUNAVAILABLE while a restore awaits stations).
	ReserveSSCC(ctx context.Context, holder string, req uplink.SSCCRequest) (uplink.SSCCBlock, error)
	// RestoreAwaited returns the stations a restored store waits for before
	// it issues serials and SSCC blocks again; none in normal operation.
	RestoreAwaited(ctx context.Context) ([]string, error)

	// PutProduct creates or replaces a product.
	PutProduct(ctx context.Context, p station.Product) (created bool, err error)
	// ImportProducts creates or replaces products, all or none.
	ImportProducts(ctx context.Context, ps []station.Product) (uplink.ImportResult, error)
	// Product returns one product.
	Product(ctx context.Context, gtin string) (station.Product, error)
	// Products returns every product.
	Products(ctx context.Context) ([]station.Product, error)
	// PutOrder creates or changes a packaging order.
	PutOrder(ctx context.Context, o uplink.Order) (created bool, err error)
	// Orders returns the orders, optionally in one state.
	Orders(ctx context.Context, state station.OrderState) ([]uplink.Order, error)
	// OrderProgress returns an order with its progress and reconciliation.
	OrderProgress(ctx context.Context, id string) (uplink.OrderProgress, error)
	// PutUser creates or replaces a user.
	PutUser(ctx context.Context, u uplink.User) (created bool, err error)
	// Users returns every user without credential hashes.
	Users(ctx context.Context) ([]uplink.User, error)

	// Item returns the repository's record of a pack, case or pallet.
	Item(ctx context.Context, it station.Item) (uplink.ItemRecord, error)
	// Feed returns stored events after a cursor.
	Feed(ctx context.Context, after int64, limit int) (uplink.FeedPage, error)
}

// DefaultAddr is where the service listens when configured with no address:
// loopback only, for development.
const DefaultAddr = "127.0.0.1:8440"

// Config configures a Server.
type Config struct {
	// Store holds everything. Required.
	Store Store
	// Addr is the listen address; default DefaultAddr.
	Addr string
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and key. With
	// both set the service speaks only HTTPS.
	TLSCertFile, TLSKeyFile string
	// AllowInsecureHTTP permits plain HTTP on an address that is not
	// loopback (behind a TLS-terminating proxy, for instance).
	AllowInsecureHTTP bool
	// MaxBodyBytes bounds a request body as sent (compressed); default
	// uplink.DefaultBodyLimit. MaxJSONBytes bounds it once decompressed;
	// default uplink.DefaultJSONLimit.
	MaxBodyBytes, MaxJSONBytes int64
	// ShutdownTimeout bounds the wait for requests in flight at Close when
	// the caller's context has no deadline; default 30s.
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default() with component=central.
	Logger *slog.Logger
	// Now is the service's clock for enrollment codes and metrics; default time.Now.
	Now func() time.Time
	// Metrics, when set, is called on every scrape of /metrics and its
	// metrics are served after the service's own (cmd adds the backup
	// scheduler's this way).
	Metrics func() []Metric
	// Exchange is the DSCSA exchange with trading partners (EPCIS capture
	// and query, outbound documents, verification, tracing); nil answers
	// its endpoints with 503. cmd opens and closes it.
	Exchange *dscsa.Exchange
}

// Server is the central service's HTTP server.
type Server struct {
	cfg     Config
	store   Store
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics
	mux     *http.ServeMux
	routes  []route

	http     *http.Server
	ln       net.Listener
	url      string
	stopping atomic.Bool
	closing  chan struct{} // closed when Close starts: long pulls answer at once
	serveErr chan error
	closeMu  sync.Mutex
}

// New checks cfg (including the listen policy) and returns a server; Open
// starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, station.Errorf(station.EINVALID, "central: a store is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, station.Errorf(station.EINVALID, "tls: give both a certificate file and a key file, or neither")
	}
	if err := CheckListen(cfg.Addr, cfg.TLSCertFile != "", cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = uplink.DefaultBodyLimit
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = uplink.DefaultJSONLimit
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("component", "central")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, store: cfg.Store, logger: cfg.Logger, now: cfg.Now, metrics: newMetrics(), mux: http.NewServeMux(),
		closing: make(chan struct{})}
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, station.Errorf(station.ENOTFOUND, "no such endpoint: %s %s (the API is described at /openapi.json)", r.Method, r.URL.Path))
	})
	return s, nil
}

// CheckListen enforces the transport policy: TLS anywhere, plain HTTP only
// on a loopback address unless allowInsecure.
func CheckListen(addr string, tls, allowInsecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return station.Errorf(station.EINVALID, "listen address %q must be HOST:PORT (e.g. 127.0.0.1:8440 or :8440): %v", addr, err)
	}
	if tls || allowInsecure || isLoopback(host) {
		return nil
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	return station.Errorf(station.EINVALID, "plain HTTP on %s (%s) would send credentials and records unencrypted: configure a TLS certificate, listen on 127.0.0.1 for development, or set allow_insecure_http behind a TLS proxy", addr, where)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Handler returns the service's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Open binds the listen address and starts serving in the background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return station.Errorf(station.EUNAVAILABLE, "listen on %s: %v", s.cfg.Addr, err)
	}
	scheme := "http"
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return station.Errorf(station.EINVALID, "tls: load certificate %s and key %s: %v", s.cfg.TLSCertFile, s.cfg.TLSKeyFile, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	s.serveErr = make(chan error, 1)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	s.logger.Info("central service listening", "url", s.url)
	return nil
}

// URL returns the base URL the service answers on (after Open).
func (s *Server) URL() string { return s.url }

// Done returns a channel that yields the serving loop's error (nil after a
// clean Close) once it has stopped.
func (s *Server) Done() <-chan error { return s.serveErr }

// Close shuts the service down gracefully: /readyz answers 503 at once, no
// new connections are accepted, and requests in flight finish (their
// writes reach the store) until ctx ends or ShutdownTimeout passes.
func (s *Server) Close(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.stopping.Swap(true) {
		close(s.closing)
	}
	if s.http == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("shut down central service: %w", err)
		_ = s.http.Close()
	}
	if serr := <-s.serveErr; serr != nil && err == nil {
		err = fmt.Errorf("central service: %w", serr)
	}
	s.serveErr <- nil // for later readers of Done
	s.http = nil
	s.logger.Info("central service stopped")
	return err
}
