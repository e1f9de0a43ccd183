package daemon

import (
	"context"
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
	}
	if d.cluster != nil {
		opts.Cluster = apiCluster{d.cluster}
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

// apiCluster adapts Cluster to api.Cluster.
type apiCluster struct{ c *Cluster }

var (
	_ api.Cluster        = apiCluster{}
	_ api.NodeIdentifier = apiCluster{}
)

func (a apiCluster) Status(ctx context.Context) (api.ClusterStatus, error) {
	st, err := a.c.Status(ctx)
	if err != nil {
		return api.ClusterStatus{}, err
	}
	out := api.ClusterStatus{
		LeaderID: st.LeaderID, LeaderAPIAddress: st.LeaderAPIAddress,
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, api.Member{ID: m.ID, RaftAddress: m.RaftAddress, APIAddress: m.APIAddress, Voter: m.Voter, Leader: m.Leader})
	}
	return out, nil
}

func (a apiCluster) Join(ctx context.Context, id, raftAddress, apiAddress string) error {
	return a.c.Join(ctx, id, raftAddress, apiAddress)
}

func (a apiCluster) Remove(ctx context.Context, id string) error { return a.c.Remove(ctx, id) }

func (a apiCluster) TransferLeadership(ctx context.Context) error { return a.c.TransferLeadership(ctx) }

func (a apiCluster) NodeID() string { return a.c.self.ID }
