package daemon

import (
	"net/http"

	"github.com/fullstackagent/fsa/daemon/api"
)

// apiHandler returns the RPC API (package daemon/api: Connect, gRPC and gRPC-Web services),
// mounted at the root of the HTTP server.
func (d *daemon) apiHandler() (http.Handler, error) {
	auth, err := d.authConfig()
	if err != nil {
		return nil, err
	}
	opts := api.Options{
		Client:        d.client,
		Logger:        d.log.With("component", "api"),
		Registerer:    d.reg,
		Auth:          auth,
		AdminToken:    d.cfg.AdminToken,
		Cluster:       &api.SingleNode{ID: d.cfg.NodeID, APIAddress: d.cfg.HTTP.APIAdvertise, Reconcile: d.mon.status},
		Kube:          d.kclient,
		PurgeOnDelete: d.cfg.Reconcile.DeleteVolumes,
	}
	if d.cluster != nil {
		opts.Cluster = d.cluster
		opts.Leader = func() (string, string) {
			id, addr := d.cluster.Leader()
			if addr == "" {
				return id, ""
			}
			return id, "http://" + addr
		}
	}
	return api.NewHandler(opts)
}

// authConfig is the configured authentication with a signing key: a random one (valid on this
// process only) when none is configured.
func (d *daemon) authConfig() (api.AuthConfig, error) {
	a := d.cfg.Auth
	if a.SigningKey.ID == "" {
		k, err := api.GenerateSigningKey()
		if err != nil {
			return a, err
		}
		if d.cluster != nil {
			d.log.Warn("no --signing-key: sessions are valid on this node only and end with this process")
		}
		a.SigningKey = k
	}
	return a, nil
}
