package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/linestation/linestation/devices/ntp"
	"github.com/linestation/linestation/localdb"
	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/ui"
	"github.com/linestation/linestation/uplink"
)

// appID is the reverse-DNS id of the app, as in FyneApp.toml.
const appID = "io.linestation.kiosk"

const kioskUsage = `Usage: linestation kiosk [FLAGS]

Starts the touchscreen station app. It is the default command.

It opens the station's ledger (station.db, created on first start), its
clock (the PC's clock, or NTP servers), the line's devices (a simulated
line in-process with devices.mode "sim", the default) and shows the sign-in
screen. With the simulated line and an empty ledger it first records demo
master data (two products, an order released to this line) and demo users,
whose ids and PINs it prints.

With a central service ([central] url) the station enrolls once with
central.enrollment_code and keeps its credential in central.credential_file;
it then takes products, users and this line's released orders from the
central, reserves its serials there and sends it its journal, and goes on
from its reserved serials while the central cannot be reached. With
[backup] to it backs its ledger up to object storage while it runs.

The window has no way out but an administrator's id and PIN.

--tour (simulated line only) drives the kiosk from standard input, one
command a line, and prints a line once the screen shows the result
("shown run", ...), for screenshots:
` + ui.TourCommands + `
"signin" alone signs in the demo supervisor.

Flags:
`

// runKiosk opens the kiosk window and returns when it is closed or ctx ends.
// It is the only command that creates a Fyne app.
func runKiosk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("kiosk", kioskUsage, stdout)
	fullscreen := fs.Bool("fullscreen", false, "fill the screen (kiosk mode on the line PC)")
	configPath := fs.String("config", "", "the station's config `file` (default: the built-in defaults, a simulated line)")
	initConfig := fs.Bool("init", false, "write a commented default config to station.toml in the current folder and exit")
	tour := fs.Bool("tour", false, "read tour commands from standard input (simulated line only; for screenshots)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{message: "kiosk takes no arguments", hint: "run 'linestation kiosk --help'"}
	}
	if *initConfig {
		return writeDefaultConfig("station.toml", stdout)
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *tour && cfg.Devices.Mode != "sim" {
		return &usageError{message: "kiosk --tour drives a simulated line only", hint: "set devices.mode = \"sim\" or leave --tour out"}
	}
	logger, err := kioskLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}

	st, err := openStation(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	defer st.Close()

	a := app.NewWithID(appID)
	w := a.NewWindow(station.AppName)
	k, err := ui.New(a, w, st.deps(a))
	if err != nil {
		return err
	}
	w.SetContent(k.Content())
	w.Resize(fyne.NewSize(1024, 768))
	w.SetFullScreen(*fullscreen)
	w.SetMaster()
	k.Start()

	go func() {
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	if *tour {
		go func() {
			runTour(ctx, k, os.Stdin, stdout, logger)
			fyne.Do(a.Quit)
		}()
	}
	w.ShowAndRun()
	if err := k.Close(); err != nil {
		logger.Error("close the line run", "error", err)
	}
	return st.Close()
}

// kioskLogger builds the kiosk's logger from the [log] settings.
func kioskLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if c.Level == "debug" {
		opts.Level = slog.LevelDebug
	}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// runTour reads tour commands from r until EOF and prints each answer; a
// failed command is printed as "error: ..." and ends the tour.
func runTour(ctx context.Context, k *ui.Kiosk, r io.Reader, w io.Writer, logger *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "signin" {
			sup := demoAccounts[2]
			line = "signin " + sup.ID + " " + sup.PIN
		}
		out, err := k.Tour(ctx, line)
		if err != nil {
			logger.Error("tour", "command", line, "error", err)
			fmt.Fprintf(w, "error: %s: %v\n", line, err)
			return
		}
		fmt.Fprintln(w, out)
	}
}

// kioskStation is what the kiosk runs on, opened from the config in
// order: clock, ledger, devices, domain service. Close closes it in
// reverse order.
type kioskStation struct {
	cfg    Config
	clock  station.Clock
	ntp    *ntp.Clock // nil with clock.source "system"
	db     *localdb.DB
	dev    *lineDevices
	svc    *station.Service
	logger *slog.Logger
	// uplink, when the station has a central service, gives its state to
	// the kiosk (the uplink client's Status); nil: standalone.
	uplink func() ui.UplinkStatus
	api    *uplink.API    // the central service with the station's credential; nil: standalone (kiosk_central.go)
	client *uplink.Client // the uplink client; nil: standalone
	// backups runs the scheduled backups (kiosk_backup.go); nil: none.
	backups *kioskBackup
	// stops ends background work on the ledger (uplink, backups), last
	// started first, before anything is closed.
	stops []func()

	cancel context.CancelFunc // stops the NTP clock
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// openStation opens the station's clock, ledger, devices and service;
// on error what was opened is closed. In sim mode with an empty ledger and
// no central service it seeds the demo master data and users, and prints
// the demo users. With a central service it enrolls (once), then runs the
// uplink; with backup.to it runs the scheduled backups.
func openStation(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer) (st *kioskStation, err error) {
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st = &kioskStation{cfg: cfg, logger: logger, cancel: cancel}
	opened := st // "return nil, err" clears st before this runs
	defer func() {
		if err != nil {
			opened.Close()
			st = nil
		}
	}()

	switch cfg.Clock.Source {
	case "ntp":
		c, err := ntp.New(ntp.Config{Servers: cfg.Clock.Servers, PollInterval: cfg.Clock.PollInterval.Duration, Policy: cfg.ClockPolicy()})
		if err != nil {
			return nil, fmt.Errorf("clock: %w", err)
		}
		st.ntp, st.clock = c, c
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			if err := c.Run(life); err != nil {
				logger.Error("ntp clock", "error", err)
			}
		}()
	default:
		st.clock = systemClock() // degraded, with the reason, in every reading
	}

	db, err := localdb.Open(ctx, cfg.Path(cfg.Station.DB), localdb.Options{Station: cfg.Station.ID, Clock: st.clock, Create: true,
		Logger: logger.With("component", "localdb")})
	if err != nil {
		return nil, fmt.Errorf("open the station ledger %s: %w", cfg.Path(cfg.Station.DB), err)
	}
	st.db = db
	if err := st.openBackup(); err != nil {
		return nil, err
	}
	source, err := st.enroll(ctx) // nil: standalone, serials made here
	if err != nil {
		return nil, err
	}

	dev, err := openLine(ctx, cfg.Devices, logger)
	if err != nil {
		return nil, fmt.Errorf("open the line's devices: %w", err)
	}
	st.dev = dev

	// SSCCs: blocks from the central, else (standalone) the configured range.
	var ssccs station.SSCCSource
	if st.api != nil {
		ssccs = &uplink.SSCCSource{API: st.api}
	}
	ssccFirst, ssccLast, err := cfg.Station.SSCCBounds()
	if err != nil {
		return nil, err
	}
	st.svc, err = station.NewService(station.Config{
		Ledger: db, Clock: st.clock, Line: cfg.Station.Line, Printer: dev.Printer, Source: source,
		Pool: station.PoolPolicy{LowWater: cfg.Pool.LowWater, Batch: cfg.Pool.Batch},
		Auth: station.AuthPolicy{MaxFailures: cfg.Auth.MaxFailures, IdleTimeout: cfg.Auth.IdleTimeout.Duration},
		SSCC: ssccs, SSCCBlock: cfg.Central.SSCCBlock, SSCCFirst: ssccFirst, SSCCLast: ssccLast,
		Inbound: st.inbound(),
		Logger:  logger.With("component", "station"),
	})
	if err != nil {
		return nil, err
	}

	if cfg.Devices.Mode == "sim" && cfg.Central.URL == "" {
		head, err := db.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the station ledger: %w", err)
		}
		if head.Seq == 0 {
			logger.Info("empty ledger on a simulated line: recording demo master data and users")
			if err := seedDemo(ctx, st.svc, cfg, time.Now()); err != nil {
				return nil, fmt.Errorf("record demo data: %w", err)
			}
		}
		if _, err := db.User(ctx, demoAccounts[0].ID); err == nil {
			if err := printDemoUsers(stdout); err != nil {
				return nil, err
			}
		}
	}
	if err := st.startUplink(life); err != nil {
		return nil, err
	}
	if err := st.startBackup(life); err != nil {
		return nil, err
	}
	return st, nil
}

// deps is what the kiosk's screens run on.
func (st *kioskStation) deps(a fyne.App) ui.Deps {
	d := ui.Deps{
		Service: st.svc, Station: st.cfg.Station.ID, Line: st.cfg.Station.Line, Language: st.cfg.Station.Language,
		Printer: st.dev.Printer, Coder: st.dev.Coder, Camera: st.dev.Camera, Scanner: st.dev.Scanner, PLC: st.dev.Line,
		Clock: st.clock, Uplink: st.uplink, Quit: a.Quit, Logger: st.logger.With("component", "ui"),
	}
	if st.backups != nil {
		d.Backup = st.backups.Health
	}
	if st.ntp != nil {
		c := st.ntp
		d.ClockStatus = func() ui.ClockStatus {
			s := c.Status()
			cs := ui.ClockStatus{Source: "ntp"}
			for _, srv := range s.Servers {
				cs.Servers = append(cs.Servers, ui.ClockServer{Address: srv.Address, Used: srv.Used, Offset: srv.Offset,
					RTT: srv.RTT, Stratum: srv.Stratum, Error: srv.Error})
			}
			return cs
		}
	}
	d.ShipFrom, d.Owner, d.Partners = siteOf(st.cfg)
	return d
}

// Close stops the uplink and the backups, the service, the devices, the
// ledger and the clock, and returns the first error; later calls return
// the same.
func (st *kioskStation) Close() error {
	st.once.Do(func() {
		keep := func(err error) {
			if err != nil && st.err == nil {
				st.err = err
			}
		}
		for i := len(st.stops) - 1; i >= 0; i-- {
			st.stops[i]()
		}
		if st.svc != nil {
			keep(st.svc.Close())
		}
		if st.dev != nil {
			keep(st.dev.Close())
		}
		if st.db != nil {
			keep(st.db.Close())
		}
		st.cancel()
		st.wg.Wait()
	})
	return st.err
}

// siteOf is the station's site and the partners it ships to, from the
// config; a simulated line with none configured ships from the demo site
// to the demo partner. Empty: shipments cannot be made at this station.
func siteOf(cfg Config) (shipFrom, owner string, partners []ui.Partner) {
	switch site := cfg.Site; {
	case site.GLN != "":
		for _, p := range site.Partners {
			shipTo := p.ShipTo
			if shipTo == "" {
				shipTo = p.GLN
			}
			partners = append(partners, ui.Partner{Name: p.Name, GLN: p.GLN, ShipTo: shipTo})
		}
		return site.GLN, site.OwnerGLN, partners
	case cfg.Devices.Mode == "sim":
		return demoSiteGLN, demoOwnerGLN, demoPartners
	}
	return "", "", nil
}

// Demo master data for a simulated line with an empty ledger.
const (
	demoSiteGLN  = "0300010000008" // the demo site (ship-from location)
	demoOwnerGLN = "0300010000015" // the demo company (owning party)
)

var demoPartners = []ui.Partner{{Name: "Example Wholesale", GLN: "0614141000005", ShipTo: "0614141000012"}}

// demoAccount is a demo account with its PIN, printed at start.
type demoAccount struct {
	station.User
	PIN string
}

// demoAccounts are the demo accounts, one per role. Their PINs are printed in
// the terminal and the README: demo data only.
var demoAccounts = []demoAccount{
	{station.User{ID: "olga", Name: "Olga Operator", Roles: []station.Role{station.RoleOperator}, Badge: "B-OLGA", Active: true}, "246810"},
	{station.User{ID: "pat", Name: "Pat Packer", Roles: []station.Role{station.RolePacker}, Badge: "B-PAT", Active: true}, "135791"},
	{station.User{ID: "sam", Name: "Sam Supervisor", Roles: []station.Role{station.RoleSupervisor}, Badge: "B-SAM", Active: true}, "314159"},
	{station.User{ID: "quinn", Name: "Quinn QA", Roles: []station.Role{station.RoleQA}, Badge: "B-QUINN", Active: true}, "271828"},
	{station.User{ID: "ada", Name: "Ada Admin", Roles: []station.Role{station.RoleAdmin}, Badge: "B-ADA", Active: true}, "161803"},
}

// demoProducts: a US product (its NDC in the GTIN) and an EU product, both
// with random serials and with cases and pallets identified by SSCC.
func demoProducts() []station.Product {
	return []station.Product{
		{
			GTIN: "00300010123455", NDC: "0001-0123-45", Name: "Examplamol 500 mg tablets", DosageForm: "tablet, film coated",
			Strength: "500 mg", NetContent: "30 tablets", Manufacturer: "Example Pharma Inc.",
			Markets: []station.Market{station.MarketUS}, CompanyPrefixLength: 6,
			// Numeric serials: the simulator's "wrong" marks end in a letter,
			// so they are never an issued code (as in 'sim scenario').
			Serial: station.SerialScheme{Alphabet: "0123456789", Length: 12},
			Levels: []station.PackagingLevel{
				{Level: station.LevelCase, SSCC: true, Quantity: 10, Extension: 0},
				{Level: station.LevelPallet, SSCC: true, Quantity: 4, Extension: 1},
			},
		},
		{
			GTIN: "04012345000016", Name: "Demoprofen 400 mg tablets", DosageForm: "tablet",
			Strength: "400 mg", NetContent: "20 tablets", Manufacturer: "Example Pharma GmbH",
			Markets: []station.Market{station.MarketEU}, CompanyPrefixLength: 7,
			Levels: []station.PackagingLevel{
				{Level: station.LevelCase, SSCC: true, Quantity: 12, Extension: 0},
				{Level: station.LevelPallet, SSCC: true, Quantity: 5, Extension: 1},
			},
		},
	}
}

// seedDemo records the demo products, users and an order of the first
// product released to this station's line, with its serial pool filled.
func seedDemo(ctx context.Context, svc *station.Service, cfg Config, now time.Time) error {
	for _, p := range demoProducts() {
		if err := svc.ImportProduct(ctx, p); err != nil {
			return fmt.Errorf("product %s: %w", p.GTIN, err)
		}
	}
	for _, u := range demoAccounts {
		if err := svc.ImportUser(ctx, u.User); err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
		hash, err := auth.Hash(u.PIN, auth.DefaultParams())
		if err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
		if err := svc.ImportCredential(ctx, u.ID, station.CredentialPIN, hash); err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
	}
	order := demoOrder(cfg.Station.Line, now)
	gtin := order.GTIN
	if err := svc.ImportOrder(ctx, order); err != nil {
		return fmt.Errorf("order %s: %w", order.ID, err)
	}
	if err := svc.Pools().Fill(ctx, gtin, max(cfg.Pool.Batch, order.Quantity+200)); err != nil {
		return fmt.Errorf("serials of %s: %w", gtin, err)
	}
	if err := svc.ReleaseOrder(ctx, demoAccounts[2].ID, order.ID); err != nil {
		return fmt.Errorf("release order %s: %w", order.ID, err)
	}
	return nil
}

// printDemoUsers prints the demo accounts and their PINs.
func printDemoUsers(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Demo users of the simulated line (sign in with the user id or the badge, then the PIN):")
	fmt.Fprintln(tw, "  user\tPIN\tbadge\trole\tname")
	for _, u := range demoAccounts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", u.ID, u.PIN, u.Badge, u.Roles[0], u.Name)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print the demo users: %w", err)
	}
	return nil
}
