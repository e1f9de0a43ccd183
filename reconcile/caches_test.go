package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/memstore"
)

// A follower's warm caches serve the runner it starts once elected. Caches, with no runner,
// start the caches of the namespace the user's children were placed in, from the store alone; a
// runner given them syncs every child it takes over without waiting for a cache (one with its
// own caches waits for them), and they outlive it: the next runner given them receives their
// events, so an object deleted out of band is repaired at once. A namespace's caches stop with
// its last project.
func TestWarmCachesServeANewLeader(t *testing.T) {
	f := newFixture(t, "warmcaches")
	r1 := f.runner(f.acquire(1))
	p := f.create("Warm")
	f.waitProject(p.ID, "RUNNING", both(fsa.StatusRunning))
	require.NoError(t, r1.stop())

	// A follower: caches, no runner.
	creg := prometheus.NewRegistry()
	caches, err := reconcile.NewCaches(reconcile.CachesConfig{Client: f.c, Registerer: creg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- caches.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool { return gauge(t, creg, "fsa_reconcile_cache_namespaces_synced") == 1 },
		waitFor, 20*time.Millisecond, "the user's namespace cached and synced, no runner running")
	assert.Equal(t, 1.0, gauge(t, creg, "fsa_reconcile_cache_namespaces"))

	// Elected: a runner with the warm caches.
	withCaches := func(reg *prometheus.Registry) func(*reconcile.Config) {
		return func(c *reconcile.Config) { c.Caches, c.Registerer = caches, reg }
	}
	reg2 := prometheus.NewRegistry()
	r2 := f.runnerWith(f.acquire(2), withCaches(reg2))
	f.waitInitialSync(reg2)
	assert.Zero(t, counterSum(reg2, "fsa_reconcile_cache_waits_total"), "no sync waited for a cache")
	require.NoError(t, r2.stop())

	// Control: a runner with caches of its own waits for them.
	reg3 := prometheus.NewRegistry()
	r3 := f.runnerWith(f.acquire(3), func(c *reconcile.Config) { c.Registerer = reg3 })
	f.waitInitialSync(reg3)
	assert.Positive(t, counterSum(reg3, "fsa_reconcile_cache_waits_total"), "the first syncs waited for the new caches")
	require.NoError(t, r3.stop())

	// The caches outlived r2 and r3: a runner attached to them now gets their events. Its
	// resync is an hour away, so only an event can repair the Service.
	reg4 := prometheus.NewRegistry()
	f.runnerWith(f.acquire(4), withCaches(reg4))
	f.waitInitialSync(reg4)
	svcs := f.cluster.Clientset().CoreV1().Services(f.kuser.Namespace)
	old, err := svcs.Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, svcs.Delete(f.ctx, p.Sandbox.Name, metav1.DeleteOptions{}))
	f.waitK8s("Service recreated", func() (bool, error) {
		s, err := svcs.Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && s.UID != old.UID, err
	})
	assert.Equal(t, 1.0, gauge(t, creg, "fsa_reconcile_cache_namespaces"), "still the one namespace's caches")

	// The namespace's last project deleted: its caches stop.
	_, err = f.c.DeleteProject(f.ctx, f.user.ID, p.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	f.waitProject(p.ID, "deleted", gone)
	require.Eventually(t, func() bool { return gauge(t, creg, "fsa_reconcile_cache_namespaces") == 0 },
		waitFor, 20*time.Millisecond, "no caches for a namespace nothing lives in")
}

// A runner and the caches it is given must agree on the Kubernetes clients and on whether
// NetworkPolicies are watched; Caches need a client and run once.
func TestCachesConfig(t *testing.T) {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	c := fsa.New(st)
	_, err := reconcile.NewCaches(reconcile.CachesConfig{})
	require.Error(t, err)

	caches, err := reconcile.NewCaches(reconcile.CachesConfig{Client: c})
	require.NoError(t, err)
	cfg := reconcile.Config{Client: c, Fence: 1, Domain: "sandbox.fsa.test", Caches: caches}
	_, err = reconcile.New(cfg)
	require.NoError(t, err)

	other := cfg
	other.Clients = k8s.NewClients()
	_, err = reconcile.New(other)
	require.ErrorContains(t, err, "Clients")

	other = cfg
	other.Network = &k8s.NetworkSpec{}
	_, err = reconcile.New(other)
	require.ErrorContains(t, err, "Network")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, caches.Run(ctx), "ends with its context")
	require.Error(t, caches.Run(context.Background()), "runs once")
}
