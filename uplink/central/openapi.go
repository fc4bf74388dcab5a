package central

import (
	_ "embed"
	"net/http"

	"github.com/linestation/linestation/uplink"
)

// openAPIDoc describes every route of the service; a test checks that it
// and the route table agree.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 description of the service.
func OpenAPI() []byte { return openAPIDoc }

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ uplink.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
	return nil
}
