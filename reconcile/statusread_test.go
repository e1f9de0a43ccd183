package reconcile_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestRepairKeepsCachedState: a running sandbox whose Service is repaired (edited out of band)
// keeps the state its caches show. Only a write of the StatefulSet (or a database's Cluster)
// can change that state, so the repair reads neither the StatefulSet nor the pods from the API
// server; during provisioning the same holds for the Secret's second write (its owner, its
// DATABASE_URL), which made 1.4 extra requests per project against a raw client.
func TestRepairKeepsCachedState(t *testing.T) {
	f := newFixture(t, "statusread")
	var req counting
	reg := prometheus.NewRegistry()
	f.runnerWith(f.acquire(1), func(c *reconcile.Config) {
		c.Clients = k8s.NewClients(k8s.WithTransportWrapper(req.wrap))
		c.Registerer = reg
	})
	p := f.create("repair")
	f.waitProject(p.ID, "RUNNING", both(fsa.StatusRunning))

	quiet := func() { // no sync finished and nothing queued for a second
		t.Helper()
		last, since := histCount(reg, "fsa_reconcile_sync_duration_seconds"), time.Now()
		require.Eventually(t, func() bool {
			if n := histCount(reg, "fsa_reconcile_sync_duration_seconds"); n != last || gaugeValue(reg, "fsa_reconcile_queue_depth") > 0 {
				last, since = n, time.Now()
			}
			return time.Since(since) >= time.Second
		}, waitFor, 50*time.Millisecond, "the runner settles")
	}
	quiet()
	svcs := f.cluster.Clientset().CoreV1().Services(f.kuser.Namespace)
	before := req.snapshot()
	w0 := counterSum(reg, "fsa_reconcile_kubernetes_writes_total")
	svc, err := svcs.Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err)
	want := svc.Spec.Selector
	svc.Spec.Selector = map[string]string{"edited": "out-of-band"}
	_, err = svcs.Update(f.ctx, svc, metav1.UpdateOptions{})
	require.NoError(t, err)

	f.waitK8s("the Service repaired", func() (bool, error) {
		s, err := svcs.Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
		return err == nil && assert.ObjectsAreEqual(want, s.Spec.Selector) &&
			counterSum(reg, "fsa_reconcile_kubernetes_writes_total") > w0, err
	})
	quiet()
	after := req.snapshot()
	delta := func(k string) float64 { return after[k] - before[k] }
	require.GreaterOrEqual(t, delta("PATCH services"), 1.0, "the repair went through the counted client (all: %v)", after)
	assert.Zero(t, delta("GET statefulsets"), "a repair of the Service read the StatefulSet")
	assert.Zero(t, delta("LIST pods"), "a repair of the Service listed the pods")
	got, err := f.c.ProjectByID(f.ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusRunning, got.Sandbox.Status)
}
