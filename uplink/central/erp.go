package central

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/linestation/linestation/station"
	"github.com/linestation/linestation/uplink"
)

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	ps, err := s.store.Products(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	p, err := s.store.Product(r.Context(), r.PathValue("gtin"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) postProduct(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var p station.Product
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	return s.storeProduct(w, r, p)
}

func (s *Server) putProduct(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var p station.Product
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	if gtin := r.PathValue("gtin"); p.GTIN != gtin {
		return station.Errorf(station.EINVALID, "gtin %q in the body differs from %q in the path", p.GTIN, gtin)
	}
	return s.storeProduct(w, r, p)
}

func (s *Server) storeProduct(w http.ResponseWriter, r *http.Request, p station.Product) error {
	created, err := s.store.PutProduct(r.Context(), p)
	if err != nil {
		return err
	}
	stored, err := s.store.Product(r.Context(), p.GTIN)
	if err != nil {
		return err
	}
	writeJSON(w, putStatus(created), stored)
	return nil
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	os, err := s.store.Orders(r.Context(), station.OrderState(r.URL.Query().Get("state")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, os)
	return nil
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	p, err := s.store.OrderProgress(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) postOrder(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var o uplink.Order
	if err := s.decode(w, r, &o); err != nil {
		return err
	}
	return s.storeOrder(w, r, o)
}

func (s *Server) putOrder(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var o uplink.Order
	if err := s.decode(w, r, &o); err != nil {
		return err
	}
	if id := r.PathValue("id"); o.ID != id {
		return station.Errorf(station.EINVALID, "id %q in the body differs from %q in the path", o.ID, id)
	}
	return s.storeOrder(w, r, o)
}

func (s *Server) storeOrder(w http.ResponseWriter, r *http.Request, o uplink.Order) error {
	created, err := s.store.PutOrder(r.Context(), o)
	if err != nil {
		return err
	}
	p, err := s.store.OrderProgress(r.Context(), o.ID)
	if err != nil {
		return err
	}
	writeJSON(w, putStatus(created), p)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	us, err := s.store.Users(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, us)
	return nil
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	var u uplink.User
	if err := s.decode(w, r, &u); err != nil {
		return err
	}
	if id := r.PathValue("id"); u.ID != id {
		return station.Errorf(station.EINVALID, "id %q in the body differs from %q in the path", u.ID, id)
	}
	created, err := s.store.PutUser(r.Context(), u)
	if err != nil {
		return err
	}
	u.CredentialHash, u.CredentialKind = "", ""
	writeJSON(w, putStatus(created), u)
	return nil
}

// serialRange issues a range of serials to the ERP client itself (for
// contract manufacturers or printing outside linestation).
func (s *Server) serialRange(w http.ResponseWriter, r *http.Request, p uplink.Principal) error {
	var req uplink.ReserveRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.store.Reserve(r.Context(), "erp:"+p.Name, req)
	if err != nil {
		s.issuanceRefused(err, "erp:"+p.Name, "serials")
		return err
	}
	s.logger.Info("serial range issued", "client", p.Name, "gtin", res.GTIN, "count", len(res.Serials), "reservation", res.ID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	after, limit, err := cursorPage(r, 1000, 10000)
	if err != nil {
		return err
	}
	page, err := s.store.Feed(r.Context(), after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) item(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	it, err := uplink.ParseItem(r.PathValue("key"))
	if err != nil {
		return station.Errorf(station.EINVALID, "%s: give (01)GTIN(21)SERIAL, (00)SSCC or an 18-digit SSCC", station.ErrorMessage(err))
	}
	rec, err := s.store.Item(r.Context(), it)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) stations(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	sts, err := s.store.Stations(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sts)
	return nil
}

// lineErrors is a file refused with one message per bad line.
type lineErrors struct{ errs []uplink.LineError }

func (e *lineErrors) Error() string {
	if len(e.errs) == 0 {
		return "the file has errors"
	}
	first := e.errs[0]
	return fmt.Sprintf("line %d, column %s: %s (and %d more errors)", first.Line, first.Column, first.Message, len(e.errs)-1)
}

func (e *lineErrors) Unwrap() error {
	msg := fmt.Sprintf("%d lines of the file have errors; nothing was imported", countLines(e.errs))
	if countLines(e.errs) == 1 {
		msg = "1 line of the file has errors; nothing was imported"
	}
	if len(e.errs) > 0 {
		f := e.errs[0]
		msg += fmt.Sprintf(" (first: line %d", f.Line)
		if f.Column != "" {
			msg += ", column " + f.Column
		}
		msg += ": " + f.Message + ")"
	}
	return &station.Error{Code: station.EINVALID, Message: msg}
}

func countLines(errs []uplink.LineError) int {
	seen := map[int]bool{}
	for _, e := range errs {
		seen[e.Line] = true
	}
	return len(seen)
}

// CSVColumns are the columns of a product master-data import (the fields of
// station.Product), in any order; gtin, name and company_prefix_length are
// required, and the product's own rules (station.Product.Validate) decide
// what else a row needs. markets is a list separated by ';'.
// bundle_quantity, case_quantity and pallet_quantity are the children per
// bundle, case and pallet (of the next level down that exists: a case
// without bundles holds units); empty or 0 skips the level. bundle_gtin and
// case_gtin are those levels' GTIN-14s; a case without a GTIN, and every
// pallet, is identified by SSCC with extension digit sscc_extension.
var CSVColumns = []string{"gtin", "name", "ndc", "dosage_form", "strength", "net_content", "manufacturer", "markets",
	"company_prefix_length", "serial_alphabet", "serial_length", "bundle_quantity", "bundle_gtin",
	"case_quantity", "case_gtin", "pallet_quantity", "sscc_extension"}

// maxImportErrors bounds the error report of one import.
const maxImportErrors = 100

// importProducts reads product master data as CSV and stores every row or,
// when any row is wrong, none, answering with every bad line.
func (s *Server) importProducts(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	body, err := s.body(w, r, "text/csv")
	if err != nil {
		return err
	}
	ps, err := ParseProductsCSV(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(s.cfg.MaxBodyBytes, "")
		}
		return err
	}
	res, err := s.store.ImportProducts(r.Context(), ps)
	if err != nil {
		return err
	}
	s.logger.Info("products imported", "created", res.Created, "updated", res.Updated)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// ParseProductsCSV reads product master data (see CSVColumns) and checks
// every row. Problems come back as one error listing each bad line (the
// header is line 1) with its column and message, up to 100.
func ParseProductsCSV(rd io.Reader) ([]station.Product, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &lineErrors{errs: []uplink.LineError{{Line: 1, Message: "the file is empty: the first line must name the columns (" + strings.Join(CSVColumns, ",") + ")"}}}
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	var errs []uplink.LineError
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(CSVColumns, h) {
			errs = append(errs, uplink.LineError{Line: 1, Column: h, Message: fmt.Sprintf("unknown column %q (known: %s)", h, strings.Join(CSVColumns, ", "))})
			continue
		}
		if _, dup := col[h]; dup {
			errs = append(errs, uplink.LineError{Line: 1, Column: h, Message: "column named twice"})
		}
		col[h] = i
	}
	for _, req := range []string{"gtin", "name", "company_prefix_length"} {
		if _, ok := col[req]; !ok {
			errs = append(errs, uplink.LineError{Line: 1, Column: req, Message: "required column is missing"})
		}
	}
	if len(errs) > 0 {
		return nil, &lineErrors{errs: errs}
	}
	var out []station.Product
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				errs = append(errs, uplink.LineError{Line: pe.Line, Message: pe.Err.Error()})
				if len(errs) >= maxImportErrors {
					break
				}
				continue
			}
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			errs = append(errs, uplink.LineError{Line: line, Message: fmt.Sprintf("%d fields, but the header names %d columns", len(rec), len(header))})
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		p, lerr := productFromRow(get)
		if lerr == nil {
			if err := p.Validate(); err != nil {
				lerr = &uplink.LineError{Column: fieldColumn(station.ErrorMessage(err)), Message: station.ErrorMessage(err)}
			}
		}
		if lerr == nil {
			if first, dup := seen[p.GTIN]; dup {
				lerr = &uplink.LineError{Column: "gtin", Message: fmt.Sprintf("GTIN %s is already on line %d", p.GTIN, first)}
			}
		}
		if lerr != nil {
			lerr.Line = line
			errs = append(errs, *lerr)
			if len(errs) >= maxImportErrors {
				break
			}
			continue
		}
		seen[p.GTIN] = line
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, &lineErrors{errs: errs}
	}
	if len(out) == 0 {
		return nil, &lineErrors{errs: []uplink.LineError{{Line: 2, Message: "no products: the file has a header but no rows"}}}
	}
	return out, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &lineErrors{errs: []uplink.LineError{{Line: pe.Line, Message: pe.Err.Error()}}}
	}
	return station.Errorf(station.EINVALID, "read CSV: %v", err)
}

// fieldColumn names the CSV column a product validation message is about.
func fieldColumn(msg string) string {
	for _, m := range []struct{ word, column string }{
		{"unit GTIN", "gtin"}, {"bundle GTIN", "bundle_gtin"}, {"case GTIN", "case_gtin"}, {"NDC", "ndc"},
		{"company prefix", "company_prefix_length"}, {"serial length", "serial_length"}, {"serial", "serial_alphabet"},
		{"market", "markets"}, {"dosage form", "dosage_form"}, {"net content", "net_content"}, {"strength", "strength"},
		{"manufacturer", "manufacturer"}, {"name", "name"}, {"extension", "sscc_extension"},
		{"bundle", "bundle_quantity"}, {"case", "case_quantity"}, {"pallet", "pallet_quantity"},
	} {
		if strings.Contains(msg, m.word) {
			return m.column
		}
	}
	return ""
}

func productFromRow(get func(string) string) (station.Product, *uplink.LineError) {
	p := station.Product{
		GTIN: get("gtin"), NDC: get("ndc"), Name: get("name"), DosageForm: get("dosage_form"), Strength: get("strength"),
		NetContent: get("net_content"), Manufacturer: get("manufacturer"),
	}
	if m := get("markets"); m != "" {
		for _, x := range strings.Split(m, ";") {
			if x = strings.TrimSpace(x); x != "" {
				p.Markets = append(p.Markets, station.Market(x))
			}
		}
	}
	num := func(name string) (int, *uplink.LineError) {
		v := get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, &uplink.LineError{Column: name, Message: fmt.Sprintf("%q is not a whole number", v)}
		}
		return n, nil
	}
	var lerr *uplink.LineError
	if p.CompanyPrefixLength, lerr = num("company_prefix_length"); lerr != nil {
		return p, lerr
	}
	p.Serial.Alphabet = get("serial_alphabet")
	if p.Serial.Length, lerr = num("serial_length"); lerr != nil {
		return p, lerr
	}
	ext, lerr := num("sscc_extension")
	if lerr != nil {
		return p, lerr
	}
	for _, lv := range []struct {
		level     station.AggregationLevel
		qty, gtin string
	}{{station.LevelBundle, "bundle_quantity", "bundle_gtin"}, {station.LevelCase, "case_quantity", "case_gtin"}, {station.LevelPallet, "pallet_quantity", ""}} {
		q, lerr := num(lv.qty)
		if lerr != nil {
			return p, lerr
		}
		g := ""
		if lv.gtin != "" {
			g = get(lv.gtin)
		}
		if q == 0 {
			if g != "" {
				return p, &uplink.LineError{Column: lv.gtin, Message: fmt.Sprintf("a %s GTIN is given but %s is empty", lv.level, lv.qty)}
			}
			continue
		}
		l := station.PackagingLevel{Level: lv.level, GTIN: g, Quantity: q}
		if g == "" && lv.level != station.LevelBundle {
			l.SSCC, l.Extension = true, ext
		}
		p.Levels = append(p.Levels, l)
	}
	return p, nil
}
