package uplink

import (
	"context"
	"net/http"
	"net/url"

	"github.com/linestation/linestation/station"
)

// The ERP's side of the central service's REST API, for tools acting as an
// ERP client (an API token from 'linestation serve erp add NAME'): master
// data and packaging orders. Errors are *APIError for the central's
// answers (ENOTFOUND for an unknown product or order, EINVALID naming the
// bad field, ECONFLICT for a change the central refuses) and EUNAVAILABLE
// when it cannot be reached.

// Paths of the ERP API (version 1).
const (
	PathProducts = "/v1/products" // GET -> []station.Product; /{gtin}: GET, PUT station.Product
	PathOrders   = "/v1/orders"   // GET -> []Order; POST Order; /{id}: GET -> OrderProgress, PUT Order
	PathUsers    = "/v1/users"    // GET -> []User (without credential hashes); /{id}: PUT User

	PathDSCSALocations = "/v1/dscsa/locations" // GET; /{gln}: PUT, location master data (see uplink/dscsa)
	PathDSCSAPartners  = "/v1/dscsa/partners"  // GET; /{id}: PUT, trading partners (see uplink/dscsa)
)

// Product returns one product.
func (a *API) Product(ctx context.Context, gtin string) (station.Product, error) {
	var p station.Product
	err := a.do(ctx, http.MethodGet, PathProducts+"/"+url.PathEscape(gtin), nil, nil, "", &p)
	return p, err
}

// PutProduct creates or replaces a product and returns it as stored.
func (a *API) PutProduct(ctx context.Context, p station.Product) (station.Product, error) {
	var out station.Product
	err := a.doJSON(ctx, http.MethodPut, PathProducts+"/"+url.PathEscape(p.GTIN), nil, p, &out)
	return out, err
}

// Order returns an order with its progress at the stations.
func (a *API) Order(ctx context.Context, id string) (OrderProgress, error) {
	var p OrderProgress
	err := a.do(ctx, http.MethodGet, PathOrders+"/"+url.PathEscape(id), nil, nil, "", &p)
	return p, err
}

// PutOrder creates a packaging order (planned or released) or moves an
// existing one along the order state machine, and returns its progress.
func (a *API) PutOrder(ctx context.Context, o Order) (OrderProgress, error) {
	var p OrderProgress
	err := a.doJSON(ctx, http.MethodPut, PathOrders+"/"+url.PathEscape(o.ID), nil, o, &p)
	return p, err
}

// Users returns every user, without credential hashes.
func (a *API) Users(ctx context.Context) ([]User, error) {
	var us []User
	err := a.do(ctx, http.MethodGet, PathUsers, nil, nil, "", &us)
	return us, err
}

// PutUser creates or replaces a user (with the argon2id hash of their PIN
// or password, never the secret) and returns it without the hash.
func (a *API) PutUser(ctx context.Context, u User) (User, error) {
	var out User
	err := a.doJSON(ctx, http.MethodPut, PathUsers+"/"+url.PathEscape(u.ID), nil, u, &out)
	return out, err
}

// Get reads path of the ERP API into out, for the routes this client has
// no typed method for (their types live with the packages that serve them).
func (a *API) Get(ctx context.Context, path string, out any) error {
	return a.do(ctx, http.MethodGet, path, nil, nil, "", out)
}

// Put sends in to path of the ERP API with PUT and reads the answer into
// out (nil: the answer is not read).
func (a *API) Put(ctx context.Context, path string, in, out any) error {
	return a.doJSON(ctx, http.MethodPut, path, nil, in, out)
}
