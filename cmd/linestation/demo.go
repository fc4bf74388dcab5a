package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/auth"
	"github.com/linestation/linestation/uplink"
	"github.com/linestation/linestation/uplink/dscsa"
)

const demoUsage = `Usage: linestation demo seed --central URL [--token TOKEN] [--line LINE] [--wait DURATION]

FOR DEMOS AND DEVELOPMENT ONLY. 'make run' uses it.

Records the simulated line's demo master data in a central service through
its ERP API, as an ERP would: the two demo products, the demo users with
their PINs (only their argon2id hashes are sent), and one packaging order
released to LINE. When the central runs the DSCSA exchange ([dscsa] gln), also
the demo site with the station LINE at it, the demo company and the demo
trading partner (documents delivered as files), so that a shipment made at
the kiosk becomes an EPCIS document. What the central already holds is left as it is, so a
second run changes nothing. Then it prints the demo users and their PINs.

Never run it against a central that real stations use: the demo PINs are
printed here and in the README.

The token is an ERP API token from 'linestation serve erp add NAME'; give it
with --token or in LINESTATION_ERP_TOKEN (which keeps it out of the process
list). --wait gives a central that is still starting time to answer.

Flags:
`

// demoTokenEnv holds the ERP token when --token is not given.
const demoTokenEnv = "LINESTATION_ERP_TOKEN"

// demoOrderID is the demo packaging order.
const demoOrderID = "PO-DEMO-1"

// demoOrder is the demo packaging order of the first demo product for line:
// 1,000 packs, lot DEMOyymm, expiring at the end of the month two years on.
func demoOrder(line string, now time.Time) station.Order {
	return station.Order{ID: demoOrderID, GTIN: demoProducts()[0].GTIN, Lot: "DEMO" + now.Format("0601"),
		Expiry: now.AddDate(2, 0, 0).Format("0601") + "00", Quantity: 1000, Line: line, ExpectedYield: 0.97}
}

// runDemo runs 'linestation demo seed'.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	hint := "run 'linestation demo seed --help'"
	if len(args) == 0 || (args[0] != "seed" && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		return &usageError{message: "demo: the only command is 'seed'", hint: hint}
	}
	if args[0] == "seed" {
		args = args[1:]
	}
	const name = "demo seed"
	fs := newFlagSet(name, demoUsage, stdout)
	centralURL := fs.String("central", "", "the central service's `URL`, e.g. http://127.0.0.1:8440 (required)")
	token := fs.String("token", "", "an ERP API `TOKEN` from 'linestation serve erp add NAME' (default $"+demoTokenEnv+")")
	line := fs.String("line", "line-1", "the `LINE` the demo order is released to")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the central service to answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv(demoTokenEnv)
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{message: fmt.Sprintf("demo seed: unexpected argument %q", fs.Arg(0)), hint: hint}
	case *centralURL == "":
		return &usageError{message: "demo seed: --central URL is required", hint: hint}
	case *token == "":
		return &usageError{message: "demo seed: give an ERP token with --token or " + demoTokenEnv, hint: "make one with 'linestation serve erp add NAME'"}
	case uplink.ValidateID("line", *line) != nil:
		return &usageError{message: "demo seed: " + station.ErrorMessage(uplink.ValidateID("line", *line)), hint: hint}
	}
	api, err := uplink.NewAPI(*centralURL, *token, nil)
	if err != nil {
		return &usageError{message: "demo seed: " + station.ErrorMessage(err), hint: hint}
	}
	if err := waitCentral(ctx, api, *wait); err != nil {
		return fail(stderr, name, err)
	}
	res, err := seedCentral(ctx, api, *line, time.Now())
	if err != nil {
		return fail(stderr, name, err)
	}
	fmt.Fprintf(stdout, "Demo master data in the central service at %s: the products %s and %s, order %s (%s for line %s), and the demo users (%s).\n",
		api.URL(), demoProducts()[0].Name, demoProducts()[1].Name, demoOrderID, res.order.State, res.order.Line, res)
	if res.dscsa {
		fmt.Fprintf(stdout, "DSCSA: the demo site %s (station %s) ships to %s (GLN %s); their documents are written as files by the central service.\n",
			demoSiteGLN, *line, demoPartners[0].Name, demoPartners[0].GLN)
	} else {
		fmt.Fprintln(stdout, "DSCSA: the exchange is off at this central service ([dscsa] gln is not set): shipments made at the kiosk get no EPCIS document.")
	}
	return printDemoUsers(stdout)
}

// waitCentral asks the central until it answers, for at most wait.
func waitCentral(ctx context.Context, api *uplink.API, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(wait, time.Second))
	defer cancel()
	for {
		_, err := api.Users(ctx)
		if err == nil || !uplink.IsUnavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the central service at %s did not answer within %s: %w", api.URL(), wait, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seedResult says what seedCentral added.
type seedResult struct {
	products, users, orders int          // created now
	order                   uplink.Order // the demo order as the central holds it (its line may be another's)
	dscsa                   bool         // the central runs the DSCSA exchange: the demo site and partner are there
}

func (r seedResult) String() string {
	if r.products == 0 && r.users == 0 && r.orders == 0 {
		return "all there already"
	}
	return fmt.Sprintf("added now: %d of %d products, %d of %d users, %d of 1 order", r.products, len(demoProducts()), r.users, len(demoAccounts), r.orders)
}

// seedCentral records in the central, through its ERP API, what it does
// not hold yet of the demo products, the demo users (their PIN hashes) and
// the demo order, released to line.
func seedCentral(ctx context.Context, api *uplink.API, line string, now time.Time) (seedResult, error) {
	var res seedResult
	for _, p := range demoProducts() {
		_, err := api.Product(ctx, p.GTIN)
		if station.ErrorCode(err) == station.ENOTFOUND {
			_, err = api.PutProduct(ctx, p)
			res.products++
		}
		if err != nil {
			return res, fmt.Errorf("product %s: %w", p.GTIN, err)
		}
	}
	users, err := api.Users(ctx)
	if err != nil {
		return res, fmt.Errorf("read users: %w", err)
	}
	have := map[string]bool{}
	for _, u := range users {
		have[u.ID] = true
	}
	for _, u := range demoAccounts {
		if have[u.ID] {
			continue
		}
		hash, err := auth.Hash(u.PIN, auth.DefaultParams())
		if err != nil {
			return res, fmt.Errorf("user %s: %w", u.ID, err)
		}
		if _, err := api.PutUser(ctx, uplink.User{User: u.User, CredentialKind: station.CredentialPIN, CredentialHash: hash}); err != nil {
			return res, fmt.Errorf("user %s: %w", u.ID, err)
		}
		res.users++
	}
	o := demoOrder(line, now)
	p, err := api.Order(ctx, o.ID)
	if station.ErrorCode(err) == station.ENOTFOUND {
		p, err = api.PutOrder(ctx, uplink.Order{ID: o.ID, GTIN: o.GTIN, Lot: o.Lot, Expiry: o.Expiry, Quantity: int64(o.Quantity),
			Line: o.Line, ExpectedYield: o.ExpectedYield, State: station.OrderReleased})
		res.orders++
	}
	if err != nil {
		return res, fmt.Errorf("order %s: %w", o.ID, err)
	}
	res.order = p.Order
	res.dscsa, err = seedDSCSA(ctx, api, line)
	return res, err
}

// demoLocations are the demo company, its plant (where the station is)
// and the demo partner with its receiving location.
func demoLocations(line string) []dscsa.Location {
	return []dscsa.Location{
		{GLN: demoOwnerGLN, CompanyPrefixLength: 7, Name: "Demo Pharma Inc.", City: "Springfield", State: "NJ", CountryCode: "US"},
		{GLN: demoSiteGLN, CompanyPrefixLength: 7, Name: "Demo Pharma packaging plant", City: "Springfield", State: "NJ", CountryCode: "US",
			Stations: []string{line}},
		{GLN: demoPartners[0].GLN, CompanyPrefixLength: 7, Name: demoPartners[0].Name, City: "Riverside", State: "PA", CountryCode: "US"},
		{GLN: demoPartners[0].ShipTo, CompanyPrefixLength: 7, Name: demoPartners[0].Name + " distribution centre", City: "Riverside", State: "PA", CountryCode: "US"},
	}
}

// demoPartnerID is the demo partner's id at the central.
const demoPartnerID = "example-wholesale"

// seedDSCSA records the demo locations and partner when the central runs
// the DSCSA exchange; it reports whether it does. A location the central
// holds already is left as it is, but the station is added to the site's.
func seedDSCSA(ctx context.Context, api *uplink.API, line string) (bool, error) {
	var have []dscsa.Location
	err := api.Get(ctx, uplink.PathDSCSALocations, &have)
	if station.ErrorCode(err) == station.EUNAVAILABLE {
		return false, nil // the exchange is off at this central
	} else if err != nil {
		return false, fmt.Errorf("read DSCSA locations: %w", err)
	}
	held := map[string]dscsa.Location{}
	for _, l := range have {
		held[l.GLN] = l
	}
	for _, l := range demoLocations(line) {
		if h, ok := held[l.GLN]; ok {
			if len(l.Stations) == 0 || slices.Contains(h.Stations, line) {
				continue
			}
			l = h
			l.Stations = append(l.Stations, line)
		}
		if err := api.Put(ctx, uplink.PathDSCSALocations+"/"+l.GLN, l, nil); err != nil {
			return true, fmt.Errorf("DSCSA location %s: %w", l.GLN, err)
		}
	}
	var partners []dscsa.Partner
	if err := api.Get(ctx, uplink.PathDSCSAPartners, &partners); err != nil {
		return true, fmt.Errorf("read DSCSA partners: %w", err)
	}
	for _, p := range partners {
		if p.ID == demoPartnerID {
			return true, nil
		}
	}
	p := dscsa.Partner{ID: demoPartnerID, Name: demoPartners[0].Name, GLN: demoPartners[0].GLN,
		Delivery: dscsa.DeliveryConfig{Method: "file"}, Permissions: []string{"capture", "query", "verify", "trace"}}
	if err := api.Put(ctx, uplink.PathDSCSAPartners+"/"+p.ID, p, nil); err != nil {
		return true, fmt.Errorf("DSCSA partner %s: %w", p.ID, err)
	}
	return true, nil
}
