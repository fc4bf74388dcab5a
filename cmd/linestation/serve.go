package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/backup"
	"github.com/linestation/linestation/uplink/central"
)

// serveConfigName is the config file 'serve --init' writes and 'serve'
// reads from the current folder when no --config is given.
const serveConfigName = "linestation-central.toml"

// centralStoreName is the store's file in the data folder.
const centralStoreName = "central.db"

const serveUsage = `Usage: linestation serve [--config FILE] [--listen ADDR] [--data DIR]
       linestation serve --init
       linestation serve station add NAME [--line LINE] [--new-code]
       linestation serve station list [--json]
       linestation serve station revoke NAME
       linestation serve erp add NAME [--replace]
       linestation serve restore-accept [STATION... | --all]

Runs the central sync service, headless: stations push their journals to
it, pull master data and serial pools from it; the ERP creates products and
orders and reads progress, the events feed and the repository. It keeps
everything in DATA/` + centralStoreName + ` (SQLite) and stops gracefully on
SIGINT or SIGTERM. One serve runs on a data folder at a time: it holds
DATA/` + dataLockName + ` locked, and a second one, or a restore into the
folder, is refused while it runs.

Plain HTTP is served only on a loopback address (development); anywhere
else configure a TLS certificate (or allow_insecure_http behind a TLS proxy).

  --init              write a commented default config (` + serveConfigName + `)
                      into the current folder and exit
  station add NAME    create a station and print its one-time enrollment
                      code; --new-code gives an existing station a new code
  station list        the stations: line, credential (active, revoked or
                      none), journal head, last sync and outbox
  station revoke NAME revoke a station's access (a stolen or retired PC):
                      its requests are refused until it is enrolled again
                      with a new code (station add NAME --new-code)
  erp add NAME        create an ERP client and print its API token;
                      --replace issues a new token and revokes the old one
  restore-accept      after 'linestation restore --central', the service
                      issues no serials or SSCC blocks until every station
                      enrolled at the snapshot has synced with it again;
                      without STATION it lists the stations awaited, with
                      STATION (or --all) it stops waiting for a station that
                      is gone for good: what that station held after the
                      snapshot stays unknown to the authority

Flags:
`

// duration is a time.Duration written in TOML as a string ("30s", "24h").
type duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s, 5m or 24h", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// serveConfig is the central service's configuration: DefaultConfig, then
// the TOML file, then flags.
type serveConfig struct {
	Listen            string   `toml:"listen"`
	Data              string   `toml:"data"`
	AllowInsecureHTTP bool     `toml:"allow_insecure_http"`
	ShutdownTimeout   duration `toml:"shutdown_timeout"`
	TLS               struct {
		CertFile string `toml:"cert_file"`
		KeyFile  string `toml:"key_file"`
	} `toml:"tls"`
	Log struct {
		Format string `toml:"format"`
		Level  string `toml:"level"`
	} `toml:"log"`
	Limits struct {
		MaxBodyBytes int64 `toml:"max_body_bytes"`
		MaxJSONBytes int64 `toml:"max_json_bytes"`
	} `toml:"limits"`
	Enrollment struct {
		CodeTTL duration `toml:"code_ttl"`
	} `toml:"enrollment"`
	Backup serveBackupConfig `toml:"backup"`
	DSCSA  serveDSCSAConfig  `toml:"dscsa"`

	path string // the file it was read from; "" for defaults only
}

// defaultServeConfig returns the configuration without a file.
func defaultServeConfig() serveConfig {
	var c serveConfig
	c.Listen = central.DefaultAddr
	c.Data = "central-data"
	c.ShutdownTimeout = duration{30 * time.Second}
	c.Log.Format = "text"
	c.Log.Level = "info"
	c.Limits.MaxBodyBytes = uplink.DefaultBodyLimit
	c.Limits.MaxJSONBytes = uplink.DefaultJSONLimit
	c.Enrollment.CodeTTL = duration{central.DefaultCodeTTL}
	c.Backup.Interval = duration{backup.DefaultCentralInterval}
	c.Backup.Keep = defaultCentralBackupKeep
	c.DSCSA = defaultServeDSCSA()
	return c
}

// defaultServeConfigText is what 'serve --init' writes; a test checks that
// it decodes to defaultServeConfig.
const defaultServeConfigText = `# linestation central service configuration (linestation serve).
# Every key is optional; the values below are the defaults. Command-line
# flags (--listen, --data) override this file.

# Where the service listens, HOST:PORT. Plain HTTP is allowed only on a
# loopback address (127.0.0.1, ::1, localhost); anywhere else configure
# [tls], or set allow_insecure_http behind a TLS-terminating proxy.
listen = "127.0.0.1:8440"

# Folder of the central store (central.db, SQLite), relative to this file.
# Back it up (linestation backup) or put it on redundant storage.
data = "central-data"

# Serve plain HTTP on a non-loopback address. Only behind a proxy that
# terminates TLS: stations send credentials and records.
allow_insecure_http = false

# How long a shutdown (SIGINT/SIGTERM) waits for requests in flight.
shutdown_timeout = "30s"

[tls]
# PEM certificate (chain) and private key. With both set the service
# speaks HTTPS only. Paths relative to this file.
cert_file = ""
key_file = ""

[log]
# text for people, json for log collectors.
format = "text"
# debug, info, warn or error.
level = "info"

[limits]
# Largest request body as sent (bytes, gzip-compressed for pushes) and once
# decompressed. Larger requests are refused with 413.
max_body_bytes = 33554432
max_json_bytes = 268435456

[enrollment]
# How long a one-time station enrollment code stays valid.
code_ttl = "24h0m0s"

[backup]
# Scheduled backups of the central store to S3-compatible object storage:
# a consistent snapshot taken while the service runs, gzip-compressed,
# read back after upload and described by a manifest (station heads, time,
# sizes, SHA-256). Get it back with
#   linestation restore --central --from URL --data DIR
# Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
# AWS_SESSION_TOKEN). Failures are logged and counted in /metrics
# (linestation_backup_failures_total, _last_success_timestamp_seconds).

# Where: "s3://bucket/prefix", a prefix of its own (not a station's).
# Empty: no scheduled backups.
to = ""
# The storage's URL, e.g. "https://minio.example.com:9000". Empty:
# AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS S3.
endpoint = ""
# The bucket's region. Empty: AWS_REGION, else us-east-1.
region = ""
# Time between two snapshots. What stations pushed after the last one is
# not lost with the central: they send it again once it is restored. What
# only the central holds (master data, serial reservations, enrollments)
# since the last snapshot is at risk.
interval = "1h0m0s"
# How many verified snapshots to keep; older ones are deleted only after a
# newer one was uploaded and read back.
keep = 24
# File holding the client-side encryption key, 64 hex digits (AES-256-GCM),
# relative to this file. Empty: LINESTATION_BACKUP_KEY, else unencrypted.
# Keep the key apart from the backups: without it nothing can be restored.
encryption_key_file = ""
` + defaultServeDSCSAText

// loadServeConfig reads the config: explicit path, else serveConfigName
// in the current folder when it exists, else the defaults.
func loadServeConfig(path string) (serveConfig, error) {
	c := defaultServeConfig()
	explicit := path != ""
	if !explicit {
		path = serveConfigName
	}
	md, err := toml.DecodeFile(path, &c)
	switch {
	case !explicit && errors.Is(err, fs.ErrNotExist):
		return defaultServeConfig(), nil
	case errors.Is(err, fs.ErrNotExist):
		return c, station.Errorf(station.ENOTFOUND, "config file %s does not exist (write one with 'linestation serve --init')", path)
	case err != nil:
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return c, station.Errorf(station.EINVALID, "config file %s, line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return c, station.Errorf(station.EINVALID, "config file %s: %v", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return c, station.Errorf(station.EINVALID, "config file %s: unknown key %s (see 'linestation serve --init' for the keys)", path, strings.Join(keys, ", "))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	c.path = abs
	return c, nil
}

// resolve makes a path from the config relative to the config file's folder.
func (c *serveConfig) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// validate checks the values that New would otherwise refuse later.
func (c *serveConfig) validate() error {
	switch c.Log.Format {
	case "text", "json":
	default:
		return station.Errorf(station.EINVALID, "log.format %q must be text or json", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Data == "" {
		return station.Errorf(station.EINVALID, "data must name the folder of the central store")
	}
	if c.Limits.MaxBodyBytes < 1024 || c.Limits.MaxJSONBytes < c.Limits.MaxBodyBytes {
		return station.Errorf(station.EINVALID, "limits: max_body_bytes (%d) must be at least 1024 and max_json_bytes (%d) at least max_body_bytes", c.Limits.MaxBodyBytes, c.Limits.MaxJSONBytes)
	}
	if c.ShutdownTimeout.Duration <= 0 || c.Enrollment.CodeTTL.Duration <= 0 {
		return station.Errorf(station.EINVALID, "shutdown_timeout and enrollment.code_ttl must be positive")
	}
	if err := c.Backup.validate(); err != nil {
		return err
	}
	if err := c.DSCSA.validate(); err != nil {
		return err
	}
	return central.CheckListen(c.Listen, c.TLS.CertFile != "", c.AllowInsecureHTTP)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, station.Errorf(station.EINVALID, "log.level %q must be debug, info, warn or error", s)
	}
	return l, nil
}

// serveFlags are the flags every serve form takes.
type serveFlags struct {
	config, listen, data string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the config `FILE` (default ./"+serveConfigName+" when it exists)")
	fs.StringVar(&f.listen, "listen", "", "listen `ADDR` (HOST:PORT), overriding the config")
	fs.StringVar(&f.data, "data", "", "data `DIR` of the central store, overriding the config")
}

// config loads the file and applies the flags.
func (f *serveFlags) load() (serveConfig, error) {
	c, err := loadServeConfig(f.config)
	if err != nil {
		return c, err
	}
	if f.listen != "" {
		c.Listen = f.listen
	}
	if f.data != "" {
		abs, err := filepath.Abs(f.data)
		if err != nil {
			return c, fmt.Errorf("--data %s: %w", f.data, err)
		}
		c.Data = abs
	}
	return c, c.validate()
}

// runServe runs 'linestation serve ...'.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[0] == "station" && (args[1] == "list" || args[1] == "revoke") {
		return runServeStation(ctx, args[1], args[2:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "station" || args[0] == "erp") {
		return runServeAdmin(ctx, args, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "restore-accept" {
		return runRestoreAccept(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("serve", serveUsage, stdout)
	var f serveFlags
	f.register(fs)
	initConfig := fs.Bool("init", false, "write a commented default config into the current folder and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{message: fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0)), hint: "run 'linestation serve --help'"}
	}
	if *initConfig {
		return writeServeConfig(stdout, stderr)
	}
	cfg, err := f.load()
	if err != nil {
		return fail(stderr, "serve", err)
	}
	level, _ := parseLevel(cfg.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	logger := slog.New(h)

	dir := cfg.resolve(cfg.Data)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(stderr, "serve", fmt.Errorf("create data folder %s: %w", dir, err))
	}
	lock, err := lockData(dir, "linestation serve")
	if err != nil {
		return fail(stderr, "serve", err)
	}
	defer lock.release()
	store, err := openCentralStore(ctx, &cfg, true, logger)
	if err != nil {
		return fail(stderr, "serve", err)
	}
	bk, err := newCentralBackup(&cfg, store, logger)
	if err != nil {
		store.Close()
		return fail(stderr, "serve", err)
	}
	exchange, err := newExchange(ctx, &cfg, store, logger)
	if err != nil {
		store.Close()
		return fail(stderr, "serve", err)
	}
	srv, err := central.New(central.Config{
		Store: store, Addr: cfg.Listen, TLSCertFile: cfg.resolve(cfg.TLS.CertFile), TLSKeyFile: cfg.resolve(cfg.TLS.KeyFile),
		AllowInsecureHTTP: cfg.AllowInsecureHTTP, MaxBodyBytes: cfg.Limits.MaxBodyBytes, MaxJSONBytes: cfg.Limits.MaxJSONBytes,
		ShutdownTimeout: cfg.ShutdownTimeout.Duration, Logger: logger.With("component", "central"), Metrics: bk.metricsFunc(),
		Exchange: exchange,
	})
	if err == nil {
		err = srv.Open()
	}
	if err != nil {
		if exchange != nil {
			exchange.Close()
		}
		store.Close()
		return fail(stderr, "serve", err)
	}
	fmt.Fprintf(stdout, "linestation central service %s on %s (store %s)\n", versionString(), srv.URL(), store.Path())
	logger.Info("central service started", "version", versionString(), "url", srv.URL(), "store", store.Path(), "config", cfg.path)
	if awaited, err := store.RestoreAwaited(ctx); err != nil {
		logger.Error("read the restore wait", "error", err)
	} else if len(awaited) > 0 {
		logger.Warn("the store was restored from a backup: no serials or SSCC blocks are issued until these stations have synced",
			"awaited", strings.Join(awaited, ","), "override", "linestation serve restore-accept STATION")
	}
	bk.start(ctx)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-srv.Done():
	}
	// Close in reverse start order; keep the first error.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout.Duration+5*time.Second)
	defer cancel()
	first := serveErr
	bk.stop()
	if err := srv.Close(closeCtx); err != nil && first == nil {
		first = err
	}
	if exchange != nil {
		if err := exchange.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := store.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fail(stderr, "serve", first)
	}
	logger.Info("central service stopped")
	return nil
}

// openAdminStore loads the config and opens the central store for an
// admin command (name, in messages), with a logger of warnings only: the
// command prints its own answer. Errors are already reported (fail).
func (f *serveFlags) openAdminStore(ctx context.Context, name string, create bool, stderr io.Writer) (*centraldb.DB, serveConfig, *slog.Logger, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, cfg, nil, fail(stderr, name, err)
	}
	if err := checkNoRestore(cfg.resolve(cfg.Data)); err != nil {
		return nil, cfg, nil, fail(stderr, name, err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := openCentralStore(ctx, &cfg, create, logger)
	if err != nil {
		return nil, cfg, nil, fail(stderr, name, err)
	}
	return store, cfg, logger, nil
}

// openCentralStore opens DATA/central.db, creating the folder and the file
// when create is set.
func openCentralStore(ctx context.Context, cfg *serveConfig, create bool, logger *slog.Logger) (*centraldb.DB, error) {
	dir := cfg.resolve(cfg.Data)
	if create {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data folder %s: %w", dir, err)
		}
	}
	return centraldb.Open(ctx, filepath.Join(dir, centralStoreName), centraldb.Options{Create: create, Logger: logger.With("component", "centraldb")})
}

// writeServeConfig writes the default config into the current folder,
// never over an existing file.
func writeServeConfig(stdout, stderr io.Writer) error {
	f, err := os.OpenFile(serveConfigName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return fail(stderr, "serve --init", station.Errorf(station.ECONFLICT, "%s already exists here: edit it, or move it away to write a fresh one", serveConfigName))
	}
	if err != nil {
		return fail(stderr, "serve --init", fmt.Errorf("write %s: %w", serveConfigName, err))
	}
	_, werr := io.WriteString(f, defaultServeConfigText)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(serveConfigName)
		return fail(stderr, "serve --init", fmt.Errorf("write %s: %w", serveConfigName, werr))
	}
	fmt.Fprintf(stdout, "wrote %s: edit it, then run 'linestation serve'\n", serveConfigName)
	return nil
}

// runRestoreAccept runs 'serve restore-accept': it lists the stations a
// restored store awaits, or stops waiting for the ones named.
func runRestoreAccept(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const name = "serve restore-accept"
	fs := newFlagSet(name, serveUsage, stdout)
	var f serveFlags
	f.register(fs)
	all := fs.Bool("all", false, "stop waiting for every station still awaited")
	// Flags may come before or after the stations.
	var ids []string
	rest := args
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		ids, rest = append(ids, rest[0]), rest[1:]
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	ids = append(ids, fs.Args()...)
	if *all && len(ids) > 0 {
		return &usageError{message: name + ": give STATION names or --all, not both", hint: "run 'linestation serve --help'"}
	}
	store, _, _, err := f.openAdminStore(ctx, name, false, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	awaited, err := store.RestoreAwaited(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	if *all {
		ids = awaited
	}
	if len(ids) == 0 {
		if len(awaited) == 0 {
			fmt.Fprintln(stdout, "no station is awaited: serials and SSCC blocks are issued")
			return nil
		}
		fmt.Fprintf(stdout, "awaited after the restore (no serials or SSCC blocks are issued until they sync): %s\n", strings.Join(awaited, ", "))
		fmt.Fprintln(stdout, "start them, or for a station gone for good run 'linestation serve restore-accept STATION'")
		return nil
	}
	left, err := store.AcceptRestore(ctx, ids)
	if err != nil {
		if station.ErrorCode(err) == station.ENOTFOUND {
			return &usageError{message: fmt.Sprintf("%s: %s (awaited: %s)", name, station.ErrorMessage(err), strings.Join(awaited, ", ")),
				hint: "run 'linestation serve restore-accept' to list the stations awaited"}
		}
		return fail(stderr, name, err)
	}
	fmt.Fprintf(stdout, "no longer awaited: %s\n", strings.Join(ids, ", "))
	if len(left) > 0 {
		fmt.Fprintf(stdout, "still awaited: %s\n", strings.Join(left, ", "))
	} else {
		fmt.Fprintln(stdout, "no station is awaited: serials and SSCC blocks are issued again")
	}
	return nil
}

// runServeAdmin runs 'serve station add' and 'serve erp add'.
func runServeAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	kind := args[0]
	name := "serve " + kind + " add"
	if len(args) < 2 || args[1] != "add" {
		if kind == "station" {
			return &usageError{message: "serve station: the commands are 'add NAME', 'list' and 'revoke NAME'", hint: "run 'linestation serve --help'"}
		}
		return &usageError{message: fmt.Sprintf("serve %s: the only command is 'add NAME'", kind), hint: "run 'linestation serve --help'"}
	}
	fs := newFlagSet(name, serveUsage, stdout)
	var f serveFlags
	f.register(fs)
	line := fs.String("line", "", "the `LINE` the station works on (default: its name); it receives that line's orders")
	newCode := fs.Bool("new-code", false, "give an existing station a new enrollment code (a replacement PC)")
	replace := fs.Bool("replace", false, "issue a new token for an existing ERP client and revoke the old one")
	id, err := parseNamed(fs, name, args[2:])
	if err != nil {
		return err
	}
	if id == "" {
		return &usageError{message: name + ": give the NAME", hint: "for example: linestation serve " + kind + " add line-1"}
	}
	if err := uplink.ValidateID("name", id); err != nil {
		return &usageError{message: fmt.Sprintf("%s: %s", name, station.ErrorMessage(err))}
	}
	if kind == "station" && *replace || kind == "erp" && (*newCode || *line != "") {
		return &usageError{message: name + ": --line and --new-code are for stations, --replace for ERP clients", hint: "run 'linestation serve --help'"}
	}
	store, cfg, _, err := f.openAdminStore(ctx, name, true, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if kind == "erp" {
		token, err := central.AddClient(ctx, store, id, *replace)
		if err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "ERP client %s: API token (shown once; the service keeps only its hash):\n%s\n", id, token)
		return nil
	}
	ttl := cfg.Enrollment.CodeTTL.Duration
	code, err := central.AddStation(ctx, store, id, *line, ttl, time.Now(), *newCode)
	if err != nil {
		return fail(stderr, name, err)
	}
	shownLine := *line
	if shownLine == "" {
		shownLine = id
	}
	fmt.Fprintf(stdout, "station %s (line %s): one-time enrollment code, valid until %s:\n%s\n",
		id, shownLine, time.Now().Add(ttl).UTC().Format(time.RFC3339), code)
	return nil
}

// parseNamed parses the flags of a command that takes one NAME, which may
// come before or after them; "" when none is given.
func parseNamed(fs *flag.FlagSet, name string, args []string) (string, error) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return "", &usageError{message: fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0)), hint: "run 'linestation serve --help'"}
	}
	return id, nil
}

// runServeStation is 'serve station list' and 'serve station revoke NAME'.
func runServeStation(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	name := "serve station " + cmd
	fs := newFlagSet(name, serveUsage, stdout)
	var f serveFlags
	f.register(fs)
	var asJSON *bool
	if cmd == "list" {
		asJSON = fs.Bool("json", false, "print one JSON object per station (as the ERP API's station list)")
	}
	id, err := parseNamed(fs, name, args)
	if err != nil {
		return err
	}
	switch {
	case cmd == "revoke" && id == "":
		return &usageError{message: name + ": give the NAME of the station", hint: "for example: linestation serve station revoke line-1"}
	case cmd == "list" && id != "":
		return &usageError{message: fmt.Sprintf("%s: unexpected argument %q (list shows every station)", name, id), hint: "run 'linestation serve --help'"}
	}
	store, _, _, err := f.openAdminStore(ctx, name, false, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if cmd == "revoke" {
		n, err := store.RevokeStation(ctx, id)
		if err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "station %s: %d credential(s) revoked and its unused enrollment codes voided; its requests are refused now\n", id, n)
		fmt.Fprintf(stdout, "to let it (or its replacement PC) in again: linestation serve station add %s --new-code\n", id)
		return nil
	}
	sts, err := store.Stations(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, s := range sts {
			if err := enc.Encode(s); err != nil {
				return fail(stderr, name, fmt.Errorf("write: %w", err))
			}
		}
		return nil
	}
	if len(sts) == 0 {
		fmt.Fprintln(stdout, "no stations: add one with 'linestation serve station add NAME'")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATION\tLINE\tCREDENTIAL\tHEAD SEQ\tLAST SYNC\tWAITING")
	for _, s := range sts {
		sync := "never"
		if !s.LastSync.IsZero() {
			sync = s.LastSync.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\n", s.ID, s.Line, s.Credential, s.HeadSeq, sync, s.Reported.Waiting)
	}
	return tw.Flush()
}
