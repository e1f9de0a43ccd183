package reconcile

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// databases converges databases: one KubeBlocks Cluster per project (k8s.DatabaseManager).
type databases struct {
	r *Runner
	m k8s.DatabaseManager
}

func (*databases) kind() fsa.ResourceKind { return fsa.ResourceDatabase }

// clusters is the informer of a user's KubeBlocks Clusters, in the generation the user's
// cluster serves.
func clusters(ui *userInformers) cache.SharedIndexInformer {
	return ui.dynamic.ForResource(ui.kb.GVR()).Informer()
}

func watchDatabases(ui *userInformers, queue func(string, lane)) {
	inf := clusters(ui)
	if !baseline.Load() {
		_ = inf.SetTransform(k8s.TrimForCache) // fails only once started; watch runs before
	}
	on(inf, metav1.Object.GetName, laneEvent, queue)
}

// follows nothing: a database depends on no other child.
func (*databases) follows(fsa.ResourceKind, fsa.Status) bool { return false }

func (d *databases) reconcile(ctx context.Context, req request) (fsa.Observation, error) {
	db, kc := req.p.Database, req.kc
	status := func() (k8s.State, string, error) {
		st, err := d.m.Status(ctx, kc, db.ClusterName)
		return st.State, st.Reason, err
	}
	spec := k8s.DatabaseSpec{Name: db.ClusterName, Project: req.p.K8sName, API: req.ui.kb, Epoch: d.r.cfg.Fence, Stopped: db.Desired == fsa.StatusStopped}
	if sz := req.p.Size; sz != nil {
		cpuReq, memReq := sz.DatabaseRequests()
		spec.Resources = resources(cpuReq, memReq, sz.DatabaseCPU, sz.DatabaseMemory)
		spec.Size = k8s.ByteQuantity(sz.Database)
	}
	if db.Desired == fsa.StatusTerminated {
		if db.Purge {
			return d.r.remove(ctx, req, func(ctx context.Context) error { return d.m.Purge(ctx, kc, db.ClusterName) }, status)
		}
		// Kept: the Cluster stays, stopped, with a policy that keeps it (k8s.DatabaseManager.
		// Retain); the child is gone as far as the project goes, its data recorded as retained.
		if err := d.r.write(ctx, req, "retain", func(ctx context.Context) error { return d.m.Retain(ctx, kc, spec, req.p.ID) }); err != nil {
			return fsa.Observation{}, err
		}
		return fsa.Observation{Status: fsa.StatusTerminated, Reason: "DataRetained"}, nil
	}
	// Observed before anything is read: what changes from here on makes it differ next time.
	ui, name := req.ui, db.ClusterName
	observe := func() (string, bool) {
		live, exists, ok := get[*unstructured.Unstructured](ui, clusters(ui), name)
		var v versions
		v.add(live, exists && live != nil)
		return v.String(), ok
	}
	observed, observedOK := observe()
	var c cached
	if live, _, ok := get[*unstructured.Unstructured](req.ui, clusters(req.ui), db.ClusterName); ok { // live nil: absent
		plan, err := d.m.Plan(kc, spec, live)
		if err != nil {
			return fsa.Observation{}, err
		}
		st := k8s.DatabaseStatusOf(live)
		c = cached{synced: true, plan: plan, state: st.State, reason: st.Reason}
	}
	obs, _, err := converge(ctx, d.r, req, d.m, spec, c, status)
	if err == nil && c.synced && c.plan.Empty() && observedOK {
		*req.note = memoNote{observe: observe, observed: observed}
	}
	return obs, err
}
