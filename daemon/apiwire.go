package daemon

import "net/http"

// apiHandler returns the RPC API (Connect, gRPC and gRPC-Web services of package daemon/api)
// mounted at the root of the HTTP server, or nil while there is none.
func (d *daemon) apiHandler() (http.Handler, error) {
	return nil, nil
}
