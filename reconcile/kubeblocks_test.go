package reconcile_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestResyncOfUpToDateProjectWritesNothing: with KubeBlocks' real Cluster schema served (which
// validates and prunes, so a field fsa writes that the server drops would be a difference at
// every resync), a RUNNING project whose objects are as desired is synced again and again by the
// resync, and nothing is written to Kubernetes.
func TestResyncOfUpToDateProjectWritesNothing(t *testing.T) {
	f := newFixture(t, "resync")
	if cp := f.cluster.ControlPlane(); cp == nil || cp.KubeBlocks() == "" {
		k8stest.RequireKubeBlocksCRD(t, k8stest.KubeBlocks09)
		t.Skip("the cluster does not serve a published KubeBlocks CRD")
	}
	reg := prometheus.NewRegistry()
	r, err := reconcile.New(reconcile.Config{
		Client: f.c, Fence: f.acquire(1), Domain: "sandbox.fsa.test", Workers: 4, Resync: 200 * time.Millisecond,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Registerer: reg,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	p := f.create("idle")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	// The writes carrying the intent are done; let the events they caused settle into syncs
	// that write nothing: wait for a stretch of syncs (two resync rounds) without a write.
	const writesMetric, syncsMetric = "fsa_reconcile_kubernetes_writes_total", "fsa_reconcile_sync_duration_seconds"
	writes, since := counterSum(reg, writesMetric), histCount(reg, syncsMetric)
	require.Eventually(t, func() bool {
		if w := counterSum(reg, writesMetric); w != writes {
			writes, since = w, histCount(reg, syncsMetric)
			return false
		}
		return histCount(reg, syncsMetric) >= since+4
	}, waitFor, 10*time.Millisecond, "a resync round without writes")
	before := f.objectVersions(p)

	// Several more resync rounds (each syncs the sandbox and the database): no write.
	syncs := histCount(reg, syncsMetric)
	require.Eventually(t, func() bool { return histCount(reg, syncsMetric) >= syncs+10 }, waitFor, 10*time.Millisecond, "resyncs")
	assert.Equal(t, writes, counterSum(reg, writesMetric), "kubernetes writes during five resync rounds")
	after := f.objectVersions(p)
	for _, name := range []string{"service/" + p.Sandbox.Name, "ingress/" + p.Sandbox.Name + "-app", "ingress/" + p.Sandbox.Name + "-terminal"} {
		assert.Equal(t, before[name], after[name], name)
	}
	assert.Equal(t, before["cluster/"+p.Database.ClusterName].epoch, after["cluster/"+p.Database.ClusterName].epoch)
}

// TestKubeBlocks1 runs a project against KubeBlocks 1.x's real Cluster schema, on a control
// plane of its own (see k8stest.KubeBlocks10): the runner discovers apps.kubeblocks.io/v1, writes
// a v1 Cluster, and the sandbox's DATABASE_URL comes from 1.x's account Secret and Service.
func TestKubeBlocks1(t *testing.T) {
	c := k8stest.StartPrivate(t, k8stest.Options{KubeBlocks: k8stest.KubeBlocks10})
	f := newFixtureOn(t, c, "kb1")
	f.runner(f.acquire(1))
	p := f.create("one")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))

	ns := f.kuser.Namespace
	cl, err := c.Dynamic().Resource(k8s.KubeBlocksV1.GVR()).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "apps.kubeblocks.io/v1", cl.GetAPIVersion())
	var raw string
	f.waitK8s("DATABASE_URL in the sandbox", func() (bool, error) {
		env, _, err := f.sandboxEnv(p.Sandbox.Name)
		if err != nil {
			return false, err
		}
		raw = env[fsa.EnvDatabaseURL]
		return raw != "", nil
	})
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, p.Database.ClusterName+"-postgresql-postgresql."+ns+".svc:5432", u.Host)
	sec, err := c.Clientset().CoreV1().Secrets(ns).Get(f.ctx, p.Database.ClusterName+"-postgresql-account-postgres", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(sec.Data["username"]), u.User.Username())
	pw, _ := u.User.Password()
	assert.Equal(t, string(sec.Data["password"]), pw)

	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	_, err = f.c.DeleteProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "gone", gone)
}
