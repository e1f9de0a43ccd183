package daemon

import (
	"fmt"
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
		Client:     d.client,
		Logger:     d.log.With("component", "api"),
		Registerer: d.reg,
		Auth:       auth,
		AdminToken: d.cfg.AdminToken,
		Cluster:    &api.SingleNode{ID: d.cfg.NodeID, APIAddress: d.cfg.APIAdvertise, Reconcile: d.mon.status},
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

func (d *daemon) authConfig() (api.AuthConfig, error) {
	cfg := d.cfg
	a := api.AuthConfig{
		SessionTTL:      cfg.SessionTTL,
		Admins:          cfg.Admins,
		DisableSignUp:   cfg.DisableSignUp,
		GitHub:          api.GitHubConfig{ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubSecret},
		SealosJWTSecret: cfg.SealosJWTSecret,
		AiproxyEndpoint: cfg.AiproxyEndpoint,
		RateLimit:       api.RateLimit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst},
	}
	if cfg.SigningKey == "" {
		k, err := api.GenerateSigningKey()
		if err != nil {
			return a, err
		}
		if d.cluster != nil {
			d.log.Warn("no --signing-key: sessions are valid on this node only and end with this process")
		}
		a.SigningKey = k
	} else {
		k, err := api.ParseSigningKey(cfg.SigningKey)
		if err != nil {
			return a, fmt.Errorf("--signing-key: %w", err)
		}
		a.SigningKey = k
	}
	for _, s := range cfg.VerificationKeys {
		k, err := api.ParseSigningKey(s)
		if err != nil {
			return a, fmt.Errorf("--verification-keys: %w", err)
		}
		a.VerificationKeys = append(a.VerificationKeys, k)
	}
	return a, nil
}
