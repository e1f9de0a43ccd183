package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// runnerObserved starts a runner like fixture.runner, its metrics on reg.
func (f *fixture) runnerObserved(fence uint64, reg *prometheus.Registry) *running {
	f.t.Helper()
	r, err := reconcile.New(reconcile.Config{
		Client: f.c, Fence: fence, Domain: "sandbox.fsa.test", Workers: 4, Resync: time.Hour,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Registerer: reg,
	})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	run := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.err = r.Run(ctx)
	}()
	f.t.Cleanup(func() { _ = run.stop() })
	return run
}

// gauge reads a gauge without labels from reg (0 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// waitInitialSync waits until the runner observed on reg has synced everything it listed at
// start, and returns how long that took by its own account.
func (f *fixture) waitInitialSync(reg *prometheus.Registry) time.Duration {
	f.t.Helper()
	var v float64
	require.Eventually(f.t, func() bool {
		v = gauge(f.t, reg, "fsa_reconcile_initial_sync_seconds")
		return v > 0
	}, waitFor, 20*time.Millisecond, "fsa_reconcile_initial_sync_seconds set")
	return time.Duration(v * float64(time.Second))
}

func TestInitialSyncIsReported(t *testing.T) {
	f := newFixture(t, "initsync")
	reg := prometheus.NewRegistry()
	first := f.runnerObserved(f.acquire(1), reg)
	f.waitInitialSync(reg) // nothing to sync: done at once
	p := f.create("one")
	f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	require.NoError(t, first.stop())

	// A new runner reports once it has synced the sandbox and the database it found. Each
	// worked from the project as the runner's listing found it, not from a read of its own,
	// although its first attempt only waited for the new caches.
	reg = prometheus.NewRegistry()
	f.runnerObserved(f.acquire(2), reg)
	f.waitInitialSync(reg)
	assert.Equal(t, 2.0, counterWith(t, reg, "fsa_reconcile_project_reads_total", "source", "listing"))
}

// counterWith reads the counter name{label=value} from reg (0 when absent).
func counterWith(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A new leader's runner over RUNNING projects writes nothing to objects that are as desired,
// whatever epoch they carry, and still repairs one changed while no runner ran; what it writes
// carries its epoch.
func TestNewLeaderWritesOnlyWhatDiffers(t *testing.T) {
	f := newFixture(t, "takeover")
	first := f.runner(f.acquire(1))
	a, b := f.create("alpha"), f.create("beta")
	a = f.waitProject(a.ID, "both RUNNING", both(fsa.StatusRunning))
	b = f.waitProject(b.ID, "both RUNNING", both(fsa.StatusRunning))
	require.NoError(t, first.stop())

	// Changed by hand while no runner runs: a label of b's StatefulSet.
	cs := f.cluster.Clientset()
	ns := f.kuser.Namespace
	_, err := cs.AppsV1().StatefulSets(ns).Patch(f.ctx, b.Sandbox.Name, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+k8s.LabelDeployManager+`":"edited"}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)
	before := f.objectVersions(a, b)

	reg := prometheus.NewRegistry()
	f.runnerObserved(f.acquire(2), reg)
	f.waitInitialSync(reg)
	f.waitK8s("label repaired", func() (bool, error) {
		s, err := f.sts(b.Sandbox.Name)
		return err == nil && s.Labels[k8s.LabelDeployManager] == b.Sandbox.Name, err
	})

	after := f.objectVersions(a, b)
	for name, v := range after {
		if name == "statefulset/"+b.Sandbox.Name {
			assert.Equal(t, "2", v.epoch, "%s: the repair carries the new epoch", name)
			continue
		}
		assert.Equal(t, "1", v.epoch, "%s: unchanged, so not rewritten", name)
		// The StatefulSet controller and the KubeBlocks stand-in write status; nobody else
		// writes Services and Ingresses.
		if strings.HasPrefix(name, "service/") || strings.HasPrefix(name, "ingress/") {
			assert.Equal(t, before[name].rv, v.rv, "%s rewritten", name)
		}
	}
}

type objectVersion struct{ rv, epoch string }

// objectVersions returns the resourceVersion and epoch annotation of the projects' objects, by
// resource/name.
func (f *fixture) objectVersions(ps ...*fsa.Project) map[string]objectVersion {
	f.t.Helper()
	out := map[string]objectVersion{}
	add := func(kind string, o metav1.Object) {
		out[kind+"/"+o.GetName()] = objectVersion{o.GetResourceVersion(), o.GetAnnotations()[k8s.AnnotationEpoch]}
	}
	cs := f.cluster.Clientset()
	ns := f.kuser.Namespace
	for _, p := range ps {
		name := p.Sandbox.Name
		s, err := cs.AppsV1().StatefulSets(ns).Get(f.ctx, name, metav1.GetOptions{})
		require.NoError(f.t, err)
		add("statefulset", s)
		svc, err := cs.CoreV1().Services(ns).Get(f.ctx, name, metav1.GetOptions{})
		require.NoError(f.t, err)
		add("service", svc)
		for _, ing := range []string{name + "-app", name + "-terminal"} {
			i, err := cs.NetworkingV1().Ingresses(ns).Get(f.ctx, ing, metav1.GetOptions{})
			require.NoError(f.t, err)
			add("ingress", i)
		}
		c, err := f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
		require.NoError(f.t, err)
		add("cluster", c)
	}
	require.Len(f.t, out, 5*len(ps))
	return out
}
