package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/linestation/linestation/localdb/centraldb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/uplink/dscsa"
)

// serveDSCSAConfig is the [dscsa] section of the central's config: the
// DSCSA exchange with trading partners.
type serveDSCSAConfig struct {
	// GLN is our company's GLN; empty leaves the exchange off.
	GLN string `toml:"gln"`
	// Contact is the e-mail address our exception reports give.
	Contact string `toml:"contact"`
	// Files is the folder AS2/SFTP gateways pick outbound files up from.
	Files string `toml:"files"`
	// Secrets is the folder of the tokens sent to partners.
	Secrets string `toml:"secrets"`
	// Interval is how often journals are followed and deliveries attempted.
	Interval duration `toml:"interval"`
}

// defaultServeDSCSA returns the section's defaults.
func defaultServeDSCSA() serveDSCSAConfig {
	return serveDSCSAConfig{Files: "dscsa-outbound", Secrets: "dscsa-secrets", Interval: duration{2 * time.Second}}
}

// defaultServeDSCSAText is the section as 'serve --init' writes it.
const defaultServeDSCSAText = `
[dscsa]
# The DSCSA exchange with trading partners: outbound EPCIS documents for
# shipped shipments, capture of partners' documents (/epcis/capture,
# /dscsa/documents), the event query interface (/epcis/events),
# verification (/dscsa/verify/...) and tracing (/dscsa/trace/...).
# Partners and location master data are managed through /v1/dscsa/...
# Our company's GLN (13 digits). Empty: the exchange is off.
gln = ""
# E-mail address our exception reports give as the sender's.
contact = ""
# Folder (relative to this file) where documents for partners delivered
# by file wait for an AS2 or SFTP gateway, one sub-folder per partner.
files = "dscsa-outbound"
# Folder (relative to this file) of the bearer tokens sent to partners,
# one file per partner (a partner's delivery.credential names its file).
secrets = "dscsa-secrets"
# How often station journals are followed and due deliveries attempted.
interval = "2s"
`

func (c *serveDSCSAConfig) validate() error {
	if c.GLN != "" {
		if err := gs1.ValidateGLN(c.GLN); err != nil {
			return station.Errorf(station.EINVALID, "dscsa.gln %q: %v", c.GLN, err)
		}
	}
	if c.Interval.Duration <= 0 {
		return station.Errorf(station.EINVALID, "dscsa.interval must be positive")
	}
	if c.Files == "" || c.Secrets == "" {
		return station.Errorf(station.EINVALID, "dscsa.files and dscsa.secrets must name folders")
	}
	return nil
}

// newExchange opens the DSCSA exchange of a serve config, nil when it is
// off (no GLN). Close it after the server.
func newExchange(ctx context.Context, cfg *serveConfig, store *centraldb.DB, logger *slog.Logger) (*dscsa.Exchange, error) {
	d := cfg.DSCSA
	if d.GLN == "" {
		return nil, nil
	}
	x, err := dscsa.New(dscsa.Config{Store: store, GLN: d.GLN, Contact: d.Contact,
		SpoolDir: filepath.Join(cfg.resolve(cfg.Data), "dscsa-spool"), FilesDir: cfg.resolve(d.Files), SecretsDir: cfg.resolve(d.Secrets),
		Interval: d.Interval.Duration, Logger: logger.With("component", "dscsa")})
	if err != nil {
		return nil, err
	}
	if err := x.Open(ctx); err != nil {
		return nil, err
	}
	return x, nil
}
