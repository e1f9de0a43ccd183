package reconcile_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// BenchmarkIdleSync measures one sync of a RUNNING project whose Kubernetes objects already
// match its desired state (a resync with nothing to do), per child kind: what every project
// costs the leader at every resync period. The runner runs (it owns the informers); the
// benchmark calls its sync directly, as a worker would.
//
//	go test -run '^$' -bench BenchmarkIdleSync -benchmem ./reconcile/
func BenchmarkIdleSync(b *testing.B) {
	cl := k8stest.Env(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "state.db"))
	require.NoError(b, err)
	defer func() { _ = st.Close() }()
	kek, err := fsa.GenerateKEK("bench")
	require.NoError(b, err)
	kr, err := fsa.NewKeyring(kek)
	require.NoError(b, err)
	c := fsa.New(st, fsa.WithKeys(kr))
	ku := cl.NewTestUser(b, "idle")
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "idle"})
	require.NoError(b, err)
	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(ku.Kubeconfig), Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(b, err)
	require.NoError(b, c.AcquireEpoch(ctx, 1))
	reg := prometheus.NewRegistry()
	r, err := reconcile.New(reconcile.Config{Client: c, Fence: 1, Domain: "sandbox.fsa.test", Workers: 2, Resync: time.Hour,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Registerer: reg})
	require.NoError(b, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()

	p, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: "idle"})
	require.NoError(b, err)
	for _, kv := range []struct{ key, value string }{{"PORT", "3000"}, {"API_KEY", "s3cret"}} {
		_, err = c.SetEnv(ctx, u.ID, p.ID, fsa.EnvSpec{Key: kv.key, Value: kv.value, Secret: kv.key == "API_KEY"})
		require.NoError(b, err)
	}
	require.Eventually(b, func() bool {
		p, err = c.ProjectByID(ctx, p.ID)
		return err == nil && p.Status == fsa.StatusRunning
	}, 2*time.Minute, 50*time.Millisecond, "project RUNNING")
	rev := p.Version
	// remembered: as a resync finds it; whole: the same sync with nothing remembered (the cost
	// before upToDate, and of a sync whose inputs changed but whose objects did not).
	for _, kind := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		for _, mode := range []string{"whole", "remembered"} {
			b.Run(string(kind)+"/"+mode, func(b *testing.B) {
				writes := counterSum(reg, "fsa_reconcile_kubernetes_writes_total")
				b.ReportAllocs()
				for b.Loop() {
					if mode == "whole" {
						r.ForgetUpToDate()
					}
					if err := r.SyncOnce(ctx, u.ID, p.ID, kind); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				require.Equal(b, writes, counterSum(reg, "fsa_reconcile_kubernetes_writes_total"), "an idle sync wrote to Kubernetes")
				q, err := c.ProjectByID(ctx, p.ID)
				require.NoError(b, err)
				require.Equal(b, rev, q.Version, "an idle sync wrote to the store")
			})
		}
	}
}
