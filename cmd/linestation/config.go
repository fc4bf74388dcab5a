package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
)

// defaultKioskConfig is the commented default configuration of a station.
// It is the single source of the defaults: DefaultConfig parses it, and
// `linestation kiosk --init` writes it out for the user to edit.
//
//go:embed kiosk.toml
var defaultKioskConfig string

// Config is a station's configuration, read from one TOML file on top of
// the defaults.
type Config struct {
	Station StationConfig `toml:"station"`
	Clock   ClockConfig   `toml:"clock"`
	Devices DevicesConfig `toml:"devices"`
	Pool    PoolConfig    `toml:"pool"`
	Auth    AuthConfig    `toml:"auth"`
	Site    SiteConfig    `toml:"site"`
	Central CentralConfig `toml:"central"`
	Backup  BackupConfig  `toml:"backup"`
	Log     LogConfig     `toml:"log"`

	// dir is the folder of the file the config was read from; relative
	// paths are resolved against it.
	dir string
}

// StationConfig names the station and its ledger.
type StationConfig struct {
	ID       string `toml:"id"`
	Line     string `toml:"line"`
	DB       string `toml:"db"`
	Language string `toml:"language"`
	// SSCCRange is "all" or "FIRST-LAST": the SSCC serial references of a
	// standalone station (SSCCBounds parses it).
	SSCCRange string `toml:"sscc_range"`
}

// SSCCBounds parses station.sscc_range: first and last reference, last 0
// for "all" (the whole space of each company prefix).
func (s StationConfig) SSCCBounds() (first, last uint64, err error) {
	r := strings.TrimSpace(s.SSCCRange)
	if r == "all" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(r, "-")
	if ok {
		first, err = strconv.ParseUint(strings.TrimSpace(a), 10, 64)
		if err == nil {
			last, err = strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		}
	}
	const max = 9_999_999_999 // the references of the shortest (6-digit) company prefix
	switch {
	case !ok || err != nil:
		return 0, 0, fmt.Errorf("station.sscc_range %q: write \"all\" or FIRST-LAST with two whole numbers, e.g. \"0-4999999\"", s.SSCCRange)
	case first > last:
		return 0, 0, fmt.Errorf("station.sscc_range %q is empty: FIRST must not be above LAST", s.SSCCRange)
	case last > max:
		return 0, 0, fmt.Errorf("station.sscc_range %q: LAST is above %d, the largest serial reference of any company prefix", s.SSCCRange, uint64(max))
	}
	return first, last, nil
}

// ClockConfig chooses the time source and its policy.
type ClockConfig struct {
	Source        string   `toml:"source"` // "ntp" or "system"
	Servers       []string `toml:"servers"`
	PollInterval  Duration `toml:"poll_interval"`
	WarnOffset    Duration `toml:"warn_offset"`
	MaxOffset     Duration `toml:"max_offset"`
	DegradedAfter Duration `toml:"degraded_after"`
	UnsyncedAfter Duration `toml:"unsynced_after"`
}

// DevicesConfig says where the line's devices are, or that they are simulated.
type DevicesConfig struct {
	Mode          string    `toml:"mode"` // "sim" or "real"
	Printer       string    `toml:"printer"`
	Coder         string    `toml:"coder"`
	CameraCommand string    `toml:"camera_command"`
	CameraResults string    `toml:"camera_results"`
	Scanner       string    `toml:"scanner"`
	ScannerSuffix string    `toml:"scanner_suffix"`
	PLC           string    `toml:"plc"`
	Sim           SimConfig `toml:"sim"`
}

// SimConfig tunes the simulated line.
type SimConfig struct {
	UnitsPerMin int    `toml:"units_per_min"`
	Faults      string `toml:"faults"`
	Seed        int64  `toml:"seed"`
}

// PoolConfig says how far ahead serials are reserved.
type PoolConfig struct {
	LowWater int `toml:"low_water"`
	Batch    int `toml:"batch"`
}

// AuthConfig is the sign-in policy.
type AuthConfig struct {
	MaxFailures int      `toml:"max_failures"`
	IdleTimeout Duration `toml:"idle_timeout"`
}

// SiteConfig is where the station is and whom it ships to.
type SiteConfig struct {
	GLN      string          `toml:"gln"`
	OwnerGLN string          `toml:"owner_gln"`
	Partners []PartnerConfig `toml:"partners"`
}

// PartnerConfig is a trading partner the station ships to.
type PartnerConfig struct {
	Name   string `toml:"name"`
	GLN    string `toml:"gln"`
	ShipTo string `toml:"ship_to"`
}

// CentralConfig connects the station to the central service.
type CentralConfig struct {
	URL            string `toml:"url"`
	EnrollmentCode string `toml:"enrollment_code"`
	CredentialFile string `toml:"credential_file"`
	SSCCBlock      uint64 `toml:"sscc_block"`
}

// BackupConfig schedules backups to object storage.
type BackupConfig struct {
	To               string   `toml:"to"`
	Endpoint         string   `toml:"endpoint"`
	SnapshotInterval Duration `toml:"snapshot_interval"`
	SegmentInterval  Duration `toml:"segment_interval"`
	Keep             int      `toml:"keep"`
	// EncryptionKeyFile holds the client-side encryption key (64 hex
	// digits); empty: LINESTATION_BACKUP_KEY, else unencrypted.
	EncryptionKeyFile string `toml:"encryption_key_file"`
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Duration is a time.Duration written in TOML as a string such as "90s".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"90s\", \"5m\" or \"1h30m\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// DefaultConfig returns the defaults of kiosk.toml.
func DefaultConfig() Config {
	var c Config
	if _, err := toml.Decode(defaultKioskConfig, &c); err != nil {
		panic(fmt.Sprintf("the embedded default config is broken: %v", err)) // a build mistake, caught by the tests
	}
	return c
}

// LoadConfig reads path over the defaults and validates the result. An
// empty path gives the defaults. Errors name the file, the line where the
// TOML parser knows it, and the setting.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		wd, _ := os.Getwd()
		c.dir = wd
		return c, c.Validate()
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("config file %s does not exist: write a commented default one with 'linestation kiosk --init'", path)
	} else if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return c, fmt.Errorf("config %s line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown setting %s (a typo? see 'linestation kiosk --init' for every setting)", path, strings.Join(keys, ", "))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(abs)
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

var stationIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks every setting and names the first bad one.
func (c Config) Validate() error {
	switch {
	case !stationIDPattern.MatchString(c.Station.ID):
		return fmt.Errorf("station.id %q: use 1 to 64 letters, digits, '-', '_' or '.'", c.Station.ID)
	case c.Station.DB == "":
		return fmt.Errorf("station.db is empty: name the ledger file")
	case c.Station.Language != "en" && c.Station.Language != "de":
		return fmt.Errorf("station.language %q: use \"en\" or \"de\"", c.Station.Language)
	}
	switch c.Clock.Source {
	case "system":
	case "ntp":
		if len(c.Clock.Servers) == 0 {
			return fmt.Errorf("clock.source is \"ntp\" but clock.servers is empty: list at least one NTP server")
		}
	default:
		return fmt.Errorf("clock.source %q: use \"ntp\" or \"system\"", c.Clock.Source)
	}
	if c.Clock.WarnOffset.Duration <= 0 || c.Clock.MaxOffset.Duration <= c.Clock.WarnOffset.Duration {
		return fmt.Errorf("clock.warn_offset (%s) must be positive and below clock.max_offset (%s)", c.Clock.WarnOffset, c.Clock.MaxOffset)
	}
	if c.Clock.DegradedAfter.Duration <= 0 || c.Clock.UnsyncedAfter.Duration <= c.Clock.DegradedAfter.Duration {
		return fmt.Errorf("clock.degraded_after (%s) must be positive and below clock.unsynced_after (%s)", c.Clock.DegradedAfter, c.Clock.UnsyncedAfter)
	}
	switch c.Devices.Mode {
	case "sim":
		if n := c.Devices.Sim.UnitsPerMin; n < 1 || n > 60000 {
			return fmt.Errorf("devices.sim.units_per_min %d: use 1 to 60000", n)
		}
	case "real":
		for _, d := range []struct{ key, val string }{
			{"devices.printer", c.Devices.Printer}, {"devices.coder", c.Devices.Coder},
			{"devices.camera_command", c.Devices.CameraCommand}, {"devices.camera_results", c.Devices.CameraResults},
		} {
			if err := checkDeviceAddress(d.key, d.val, true); err != nil {
				return err
			}
		}
		if err := checkDeviceAddress("devices.scanner", c.Devices.Scanner, false); err != nil {
			return err
		}
		if c.Devices.PLC != "" && !strings.HasPrefix(c.Devices.PLC, "opc.tcp://") {
			return fmt.Errorf("devices.plc %q: write it as opc.tcp://host:port", c.Devices.PLC)
		}
	default:
		return fmt.Errorf("devices.mode %q: use \"sim\" or \"real\"", c.Devices.Mode)
	}
	switch c.Devices.ScannerSuffix {
	case "cr", "lf", "crlf":
	default:
		return fmt.Errorf("devices.scanner_suffix %q: use \"cr\", \"lf\" or \"crlf\"", c.Devices.ScannerSuffix)
	}
	if _, _, err := c.Station.SSCCBounds(); err != nil {
		return err
	}
	if c.Central.SSCCBlock < 10 || c.Central.SSCCBlock > station.MaxSSCCBlock {
		return fmt.Errorf("central.sscc_block %d: use 10 to %d", c.Central.SSCCBlock, station.MaxSSCCBlock)
	}
	if c.Pool.LowWater < 1 || c.Pool.Batch < 1 {
		return fmt.Errorf("pool.low_water (%d) and pool.batch (%d) must be at least 1", c.Pool.LowWater, c.Pool.Batch)
	}
	if c.Auth.MaxFailures < 1 || c.Auth.IdleTimeout.Duration < 10*time.Second {
		return fmt.Errorf("auth.max_failures (%d) must be at least 1 and auth.idle_timeout (%s) at least 10s", c.Auth.MaxFailures, c.Auth.IdleTimeout)
	}
	if err := c.Site.validate(); err != nil {
		return err
	}
	if c.Central.URL != "" {
		u, err := url.Parse(c.Central.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("central.url %q: write it as https://host[:port]", c.Central.URL)
		}
	}
	if c.Backup.To != "" {
		if !strings.HasPrefix(c.Backup.To, "s3://") {
			return fmt.Errorf("backup.to %q: write it as s3://bucket/prefix", c.Backup.To)
		}
		if c.Backup.SegmentInterval.Duration < time.Second || c.Backup.SnapshotInterval.Duration < c.Backup.SegmentInterval.Duration {
			return fmt.Errorf("backup.segment_interval (%s) must be at least 1s and backup.snapshot_interval (%s) at least as long", c.Backup.SegmentInterval, c.Backup.SnapshotInterval)
		}
		if c.Backup.Keep < 1 {
			return fmt.Errorf("backup.keep %d: keep at least 1 generation", c.Backup.Keep)
		}
	}
	switch c.Log.Level {
	case "info", "debug":
	default:
		return fmt.Errorf("log.level %q: use \"info\" or \"debug\"", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: use \"text\" or \"json\"", c.Log.Format)
	}
	return nil
}

// validate checks the site's GLNs and its partners.
func (s SiteConfig) validate() error {
	if (s.GLN == "") != (s.OwnerGLN == "") {
		return fmt.Errorf("site.gln %q and site.owner_gln %q: give both, or neither", s.GLN, s.OwnerGLN)
	}
	for _, g := range []struct{ key, val string }{{"site.gln", s.GLN}, {"site.owner_gln", s.OwnerGLN}} {
		if g.val == "" {
			continue
		}
		if err := gs1.ValidateGLN(g.val); err != nil {
			return fmt.Errorf("%s %q: %w", g.key, g.val, err)
		}
	}
	if len(s.Partners) > 0 && s.GLN == "" {
		return fmt.Errorf("site.partners are configured but site.gln is empty: give the site's GLN and owner_gln to ship")
	}
	seen := map[string]bool{}
	for i, p := range s.Partners {
		key := fmt.Sprintf("site.partners[%d]", i+1)
		if strings.TrimSpace(p.Name) == "" {
			return fmt.Errorf("%s: name is empty: give the name packers will see", key)
		}
		if err := gs1.ValidateGLN(p.GLN); err != nil {
			return fmt.Errorf("%s (%s) gln %q: %w", key, p.Name, p.GLN, err)
		}
		if p.ShipTo != "" {
			if err := gs1.ValidateGLN(p.ShipTo); err != nil {
				return fmt.Errorf("%s (%s) ship_to %q: %w", key, p.Name, p.ShipTo, err)
			}
		}
		if seen[p.GLN] {
			return fmt.Errorf("%s (%s): GLN %s is listed twice", key, p.Name, p.GLN)
		}
		seen[p.GLN] = true
	}
	return nil
}

// checkDeviceAddress accepts tcp://host:port and serial:///dev/...; an
// empty address is an error only when the device is required.
func checkDeviceAddress(key, addr string, required bool) error {
	if addr == "" {
		if required {
			return fmt.Errorf("%s is empty: devices.mode is \"real\", so give the device's address (tcp://host:port or serial:///dev/ttyX)", key)
		}
		return nil
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return fmt.Errorf("%s %q: %v", key, addr, err)
	case u.Scheme == "tcp" && u.Host != "" && u.Port() != "":
		return nil
	case u.Scheme == "serial" && strings.HasPrefix(u.Path, "/dev/"):
		return nil
	}
	return fmt.Errorf("%s %q: write it as tcp://host:port or serial:///dev/ttyX?baud=9600", key, addr)
}

// Path resolves p (a file named in the config) against the config's folder.
func (c Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// ClockPolicy returns the clock settings as the station's policy.
func (c Config) ClockPolicy() station.ClockPolicy {
	return station.ClockPolicy{WarnOffset: c.Clock.WarnOffset.Duration, MaxOffset: c.Clock.MaxOffset.Duration,
		DegradedAfter: c.Clock.DegradedAfter.Duration, UnsyncedAfter: c.Clock.UnsyncedAfter.Duration}
}

// writeDefaultConfig writes the commented default config to path, refusing
// to replace a file that exists.
func writeDefaultConfig(path string, stdout io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return &usageError{message: fmt.Sprintf("%s exists already: not replaced", path), hint: "move it away first, or edit it"}
	} else if err != nil {
		return fmt.Errorf("write default config: %w", err)
	}
	if _, err := f.WriteString(defaultKioskConfig); err != nil {
		f.Close()
		return fmt.Errorf("write default config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write default config %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "wrote %s: edit it, then start the station with 'linestation kiosk --config %s'\n", path, path)
	return nil
}
