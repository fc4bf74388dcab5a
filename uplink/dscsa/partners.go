package dscsa

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/station/epcis"
	"github.com/linestation/linestation/station/gs1"
	"github.com/linestation/linestation/uplink"
)

// Location is the master data of a site, ours or a partner's: its GLN, how
// long the GS1 Company Prefix inside it is (which EPCIS needs to write it
// as an SGLN), its name and address, and for our own sites the stations
// that work there and the site's time zone.
type Location struct {
	GLN string `json:"gln"`
	// CompanyPrefixLength is the length of the GS1 Company Prefix inside the
	// GLN, 6 to 12: it splits the GLN in its SGLN URI.
	CompanyPrefixLength int    `json:"company_prefix_length"`
	Name                string `json:"name"`
	StreetAddressOne    string `json:"street_address_one,omitempty"`
	StreetAddressTwo    string `json:"street_address_two,omitempty"`
	City                string `json:"city,omitempty"`
	State               string `json:"state,omitempty"`
	PostalCode          string `json:"postal_code,omitempty"`
	CountryCode         string `json:"country_code,omitempty"` // ISO 3166-1 alpha-2
	// TimeZone is the site's IANA time zone (e.g. America/New_York): events
	// there carry its offset. Default UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Stations lists our stations at this site: their commissioning and
	// packing events happen here.
	Stations []string `json:"stations,omitempty"`
}

// Validate checks the location; the error names the field.
func (l Location) Validate() error {
	if err := gs1.ValidateGLN(l.GLN); err != nil {
		return station.Errorf(station.EINVALID, "location GLN %q: %v", l.GLN, err)
	}
	if l.CompanyPrefixLength < 6 || l.CompanyPrefixLength > 12 {
		return station.Errorf(station.EINVALID, "location %s: company_prefix_length %d must be 6 to 12", l.GLN, l.CompanyPrefixLength)
	}
	if strings.TrimSpace(l.Name) == "" || len(l.Name) > 200 {
		return station.Errorf(station.EINVALID, "location %s: name must be 1 to 200 characters", l.GLN)
	}
	for _, f := range []struct{ name, v string }{{"street_address_one", l.StreetAddressOne}, {"street_address_two", l.StreetAddressTwo},
		{"city", l.City}, {"state", l.State}, {"postal_code", l.PostalCode}} {
		if len(f.v) > 200 {
			return station.Errorf(station.EINVALID, "location %s: %s is longer than 200 characters", l.GLN, f.name)
		}
	}
	if l.CountryCode != "" && (len(l.CountryCode) != 2 || strings.ToUpper(l.CountryCode) != l.CountryCode) {
		return station.Errorf(station.EINVALID, "location %s: country_code %q must be two upper-case letters (ISO 3166-1)", l.GLN, l.CountryCode)
	}
	if l.TimeZone != "" {
		if _, err := time.LoadLocation(l.TimeZone); err != nil {
			return station.Errorf(station.EINVALID, "location %s: time_zone %q is not an IANA time zone such as America/New_York", l.GLN, l.TimeZone)
		}
	}
	for _, s := range l.Stations {
		if err := uplink.ValidateID("station", s); err != nil {
			return station.Errorf(station.EINVALID, "location %s: %s", l.GLN, station.ErrorMessage(err))
		}
	}
	return nil
}

// SGLN returns the location's SGLN URI with an extension ("" for the site
// itself, written "0").
func (l Location) SGLN(ext string) (string, error) {
	u, err := gs1.SGLNURI(l.GLN, ext, l.CompanyPrefixLength)
	if err != nil {
		return "", station.Errorf(station.EINVALID, "location %s: %v", l.GLN, err)
	}
	return u, nil
}

// Master returns the EPCIS master data of the location (id = its SGLN).
func (l Location) Master() epcis.Location {
	id, _ := l.SGLN("")
	return epcis.Location{ID: id, Name: l.Name, StreetAddressOne: l.StreetAddressOne, StreetAddressTwo: l.StreetAddressTwo,
		City: l.City, State: l.State, PostalCode: l.PostalCode, CountryCode: l.CountryCode}
}

// Offset returns the site's UTC offset at t as EPCIS writes it ("+hh:mm").
func (l Location) Offset(t time.Time) string {
	loc := time.UTC
	if l.TimeZone != "" {
		if z, err := time.LoadLocation(l.TimeZone); err == nil {
			loc = z
		}
	}
	return t.In(loc).Format("-07:00")
}

// Permissions of a partner's credentials here.
const (
	PermCapture = "capture" // send documents (capture, 1.2 XML endpoint)
	PermQuery   = "query"   // query events about products it shipped or received
	PermVerify  = "verify"  // ask the verification responder
	PermTrace   = "trace"   // ask for tracing of products it shipped or received
)

// Delivery methods of outbound documents.
const (
	MethodHTTPS = "https" // POST to the partner's endpoint
	MethodFile  = "file"  // a file for an AS2 or SFTP gateway to pick up
	MethodNone  = "none"  // documents are built and kept, not sent (the partner fetches them)
)

// Partner is a trading partner: who it is (its GLN, whose location master
// data must be registered too), how its documents reach it, and what its
// credentials may do here.
type Partner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	GLN  string `json:"gln"`
	// Delivery says how outbound documents reach the partner.
	Delivery DeliveryConfig `json:"delivery"`
	// Permissions are what the partner's credentials may do: capture,
	// query, verify, trace.
	Permissions []string `json:"permissions"`
}

// DeliveryConfig is how a partner gets its documents.
type DeliveryConfig struct {
	// Method is https, file or none.
	Method string `json:"method"`
	// URL is the partner's endpoint for https (an https:// URL; http:// only
	// on a loopback address, for tests and development).
	URL string `json:"url,omitempty"`
	// Format is xml12 (the GS1 US guideline's EPCIS 1.2 XML, the default)
	// or jsonld20.
	Format string `json:"format,omitempty"`
	// Credential names a file in the exchange's secrets folder holding the
	// bearer token sent to the partner. It is read at each delivery and
	// never stored in the database; only a bare file name is accepted, so
	// an API client cannot make the service read any other file.
	Credential string `json:"credential,omitempty"`
	// Dir is the sub-folder of the exchange's files folder the gateway
	// picks the partner's files up from (default: the partner id).
	Dir string `json:"dir,omitempty"`
}

// Validate checks the partner; the error names the field.
func (p *Partner) Validate() error {
	if err := uplink.ValidateID("partner id", p.ID); err != nil {
		return err
	}
	if strings.TrimSpace(p.Name) == "" || len(p.Name) > 200 {
		return station.Errorf(station.EINVALID, "partner %s: name must be 1 to 200 characters", p.ID)
	}
	if err := gs1.ValidateGLN(p.GLN); err != nil {
		return station.Errorf(station.EINVALID, "partner %s: GLN %q: %v", p.ID, p.GLN, err)
	}
	for _, perm := range p.Permissions {
		if !slices.Contains([]string{PermCapture, PermQuery, PermVerify, PermTrace}, perm) {
			return station.Errorf(station.EINVALID, "partner %s: permission %q is not capture, query, verify or trace", p.ID, perm)
		}
	}
	d := &p.Delivery
	if d.Format == "" {
		d.Format = epcis.FormatXML12.String()
	}
	if f, err := epcis.ParseFormat(d.Format); err != nil || f == epcis.FormatXML20 {
		return station.Errorf(station.EINVALID, "partner %s: delivery format %q must be xml12 or jsonld20", p.ID, d.Format)
	}
	if d.Credential != "" && !safeName(d.Credential) {
		return station.Errorf(station.EINVALID, "partner %s: delivery credential %q must be a file name in the secrets folder (letters, digits, '.', '-', '_'), not a path", p.ID, d.Credential)
	}
	if d.Dir != "" && !safeName(d.Dir) {
		return station.Errorf(station.EINVALID, "partner %s: delivery dir %q must be a folder name (letters, digits, '.', '-', '_'), not a path", p.ID, d.Dir)
	}
	switch d.Method {
	case MethodHTTPS:
		u, err := url.Parse(d.URL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
			return station.Errorf(station.EINVALID, "partner %s: delivery url %q must be https://HOST/... (http:// only on a loopback address)", p.ID, d.URL)
		}
	case MethodFile, MethodNone:
		if d.URL != "" {
			return station.Errorf(station.EINVALID, "partner %s: delivery url is for method https, not %s", p.ID, d.Method)
		}
	default:
		return station.Errorf(station.EINVALID, "partner %s: delivery method %q must be https, file or none", p.ID, d.Method)
	}
	return nil
}

// Can reports whether the partner has a permission.
func (p *Partner) Can(perm string) bool { return slices.Contains(p.Permissions, perm) }

// format returns the partner's document format.
func (p *Partner) format() epcis.Format {
	f, err := epcis.ParseFormat(p.Delivery.Format)
	if err != nil {
		return epcis.FormatXML12
	}
	return f
}

func safeName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}

// Caller is who asks the exchange for something: a partner (with its
// record) or one of our own ERP clients (who may see everything).
type Caller struct {
	// Partner is set when a partner asks; nil for our own clients.
	Partner *Partner
	// Name is the partner id, the ERP client name or the station id.
	Name string
	// Station is set when one of our stations asks (Name is its id).
	Station bool
}

// Internal reports whether the caller is one of our own clients.
func (c Caller) Internal() bool { return c.Partner == nil }

// String names the caller for logs and records.
func (c Caller) String() string {
	if c.Partner != nil {
		return "partner:" + c.Partner.ID
	}
	if c.Station {
		return "station:" + c.Name
	}
	return "erp:" + c.Name
}

func errNotPermitted(c Caller, what string) error {
	return station.Errorf(station.EUNAUTHORIZED, "partner %s may not %s here (ask us to grant the permission)", c.Partner.ID, what)
}

// require checks that a partner caller has a permission; internal callers
// have every permission.
func (c Caller) require(perm, what string) error {
	if c.Partner == nil || c.Partner.Can(perm) {
		return nil
	}
	return &ForbiddenError{Err: errNotPermitted(c, what)}
}

// ForbiddenError is a refusal of an authenticated caller (HTTP 403), as
// opposed to an unknown one (401).
type ForbiddenError struct{ Err error }

func (e *ForbiddenError) Error() string { return e.Err.Error() }
func (e *ForbiddenError) Unwrap() error { return e.Err }

// Forbidden wraps a message as a *ForbiddenError.
func Forbidden(format string, args ...any) error {
	return &ForbiddenError{Err: station.Errorf(station.EUNAUTHORIZED, format, args...)}
}
