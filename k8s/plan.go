package k8s

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A caller that keeps an informer cache of the namespace already knows each object: whether it
// exists, whether fsa manages it, and whether an apply would change it (UpToDate). Plan and
// ApplyPlan use that knowledge: a plan holds only the objects that differ, and applying it
// skips the GET that Apply makes before each write, sending the plan's objects concurrently.
// An unchanged sandbox makes no request at all; a new one makes four concurrent PATCHes
// instead of four GET+PATCH pairs one after another.
//
// The cache may lag the API server by a moment. Objects that differ are simply applied again
// (server-side apply is idempotent); an object the cache does not show yet is applied as
// absent, so the check that refuses to adopt objects fsa did not create relies on the cache
// for those: an object of the sandbox's name created by someone else in the last moment before
// the sandbox's own creation would be taken over.

// SandboxLive is what an informer cache of the sandbox's namespace shows of its objects: nil
// for an object the cache does not have.
type SandboxLive struct {
	Secret          *corev1.Secret
	StatefulSet     *appsv1.StatefulSet
	Service         *corev1.Service
	AppIngress      *networkingv1.Ingress
	TerminalIngress *networkingv1.Ingress
	NetworkPolicy   *networkingv1.NetworkPolicy
}

// PlanOptions tune SandboxManager.Plan.
type PlanOptions struct {
	// DeferStatefulSet leaves the StatefulSet out of the plan while it does not exist (the
	// Service and Ingresses are still applied): for a caller that knows the pod's environment is
	// not complete yet (DATABASE_URL not known) and would otherwise start a pod only to restart
	// it when the environment changes. An existing StatefulSet is planned as usual.
	DeferStatefulSet bool
}

// planned is one object of a plan: what to apply, over which live object (nil when absent), and
// why. An obj of nil deletes live (an object fsa no longer wants).
type planned struct {
	what string
	gvr  schema.GroupVersionResource
	obj  runtime.Object
	live runtime.Object
	why  string
	// before, if set, runs before the object is applied; its error stops the apply.
	before func(context.Context, *Client) error
}

// Plan is the set of objects an apply must write, from Plan. The zero value writes nothing.
type Plan struct {
	name   string
	writes []planned
}

// Empty reports whether the plan writes nothing.
func (p Plan) Empty() bool { return len(p.writes) == 0 }

// ChangesWorkload reports whether the plan writes the object whose state is the child's: the
// sandbox's StatefulSet or the database's Cluster. Writing the others (the Secret, the Service,
// the Ingresses, the NetworkPolicy) leaves a running child running, so a caller that knew the
// state before the write still knows it after.
func (p Plan) ChangesWorkload() bool {
	for _, w := range p.writes {
		if w.gvr == gvrStatefulSet || w.gvr.Resource == GVRCluster.Resource && w.gvr.Group == GVRCluster.Group {
			return true
		}
	}
	return false
}

// String names the planned objects with where each differs, e.g.
// "statefulset (spec.template.spec.containers[0].env: list length), service (absent)"; "" when
// empty. Meant for debug logs.
func (p Plan) String() string {
	parts := make([]string, len(p.writes))
	for i, w := range p.writes {
		parts[i] = w.what + " (" + w.why + ")"
	}
	return strings.Join(parts, ", ")
}

// Plan returns what applying spec over live would write: each of the sandbox's objects that
// differs from live (UpToDate), and the deletion of the application Ingress of a private
// application (spec.PrivateApp) if live has one. With spec.Stopped only the StatefulSet is
// planned, and only if it exists, and that deletion, as Stop does. An object in live without fsa's LabelManagedBy is an ErrConflict, as
// for Apply. The Secret and NetworkPolicy name live.StatefulSet as their owner when it exists
// (spec.StatefulSetUID); a plan that creates the StatefulSet creates them without, and the next
// plan, once the cache shows the StatefulSet, adds the owner. Plan makes no request.
func (m SandboxManager) Plan(c *Client, spec SandboxSpec, live SandboxLive, opts PlanOptions) (Plan, error) {
	spec, err := m.prepare(c, spec)
	if err != nil {
		return Plan{}, err
	}
	if live.StatefulSet != nil {
		spec = spec.over(live.StatefulSet)
	}
	objs := BuildSandbox(spec)
	sts := planned{what: "statefulset", gvr: gvrStatefulSet, obj: objs.StatefulSet, live: obj(live.StatefulSet)}
	if live.StatefulSet != nil && spec.mustGrow(live.StatefulSet) {
		// The claims grow first; the StatefulSet then records their size.
		sts.before = func(ctx context.Context, c *Client) error { return expandClaims(ctx, c, spec.Name, spec.homeSize()) }
	}
	app := planned{what: "app ingress", gvr: gvrIngress, live: obj(live.AppIngress)}
	if objs.AppIngress != nil {
		app.obj = objs.AppIngress
	}
	if spec.Stopped {
		var stopped []planned
		if live.StatefulSet != nil {
			stopped = append(stopped, sts)
		}
		if app.obj == nil {
			stopped = append(stopped, app)
		}
		return planOf("sandbox", spec.Name, stopped...)
	}
	candidates := []planned{{what: "secret", gvr: gvrSecret, obj: objs.Secret, live: obj(live.Secret)}}
	if !opts.DeferStatefulSet || live.StatefulSet != nil {
		candidates = append(candidates, sts)
	}
	candidates = append(candidates,
		planned{what: "service", gvr: gvrService, obj: objs.Service, live: obj(live.Service)},
		app,
		planned{what: "terminal ingress", gvr: gvrIngress, obj: objs.TerminalIngress, live: obj(live.TerminalIngress)})
	if objs.NetworkPolicy != nil {
		candidates = append(candidates, planned{what: "network policy", gvr: gvrNetPol, obj: objs.NetworkPolicy, live: obj(live.NetworkPolicy)})
	}
	return planOf("sandbox", spec.Name, candidates...)
}

// planOf returns the plan of the candidates that differ from their live objects (UpToDate). A
// live object without fsa's LabelManagedBy is an ErrConflict, as for Apply. A candidate without
// an object deletes its live object if fsa manages it (one made by someone else is left alone).
func planOf(kind, name string, candidates ...planned) (Plan, error) {
	plan := Plan{name: name}
	for _, c := range candidates {
		if c.obj == nil {
			if c.live != nil && managedByFSA(c.live.(metav1.Object)) {
				c.why = "no longer wanted"
				plan.writes = append(plan.writes, c)
			}
			continue
		}
		if c.live != nil && !managedByFSA(c.live.(metav1.Object)) {
			return Plan{}, fmt.Errorf("%s %q: apply %s %q: %w: exists and is not managed by %s",
				kind, name, c.gvr.Resource, c.live.(metav1.Object).GetName(), ErrConflict, ManagedByValue)
		}
		if c.why = Differs(c.obj, c.live); c.why != "" {
			plan.writes = append(plan.writes, c)
		}
	}
	return plan, nil
}

// write applies the planned object, or deletes the live one when there is no object.
func (w planned) write(ctx context.Context, c *Client) error {
	if w.obj == nil {
		return deleteLive(ctx, c, w.gvr, w.live.(metav1.Object))
	}
	if w.before != nil {
		if err := w.before(ctx, c); err != nil {
			return err
		}
	}
	_, err := applyChecked(ctx, c, w.gvr, w.obj, false)
	return err
}

// obj turns a typed pointer into a runtime.Object that is nil when the pointer is.
func obj[T any, P interface {
	*T
	runtime.Object
}](p P) runtime.Object {
	if p == nil {
		return nil
	}
	return p
}

// ApplyPlan server-side applies the plan's objects without reading them first (Plan checked them
// against live objects): the Secret first, then the others concurrently. An empty plan makes no
// request.
func (SandboxManager) ApplyPlan(ctx context.Context, c *Client, p Plan) error {
	return applyPlan(ctx, c, "sandbox", p)
}

// Plan returns what applying spec over live (the Cluster as an informer cache shows it; nil
// when absent) would write: the Cluster if it differs. With spec.Stopped a Cluster that does
// not exist is not planned, as Stop does. A live Cluster without fsa's LabelManagedBy is an
// ErrConflict. Plan makes no request: an empty spec.API is live's generation, else the client's
// discovered one (Client.KubeBlocksAPI), else KubeBlocksV1Alpha1.
func (m DatabaseManager) Plan(c *Client, spec DatabaseSpec, live *unstructured.Unstructured) (Plan, error) {
	if spec.API == "" && live != nil {
		if gv, err := schema.ParseGroupVersion(live.GetAPIVersion()); err == nil && gv.Group == GVRCluster.Group {
			spec.API = KubeBlocksAPI(gv.Version)
		}
	}
	spec, err := m.prepare(c, spec)
	if err != nil {
		return Plan{}, err
	}
	if spec.Stopped && live == nil {
		return Plan{name: spec.Name}, nil
	}
	return planOf("database", spec.Name, planned{what: "cluster", gvr: spec.API.GVR(), obj: BuildDatabase(spec), live: obj(live)})
}

// ApplyPlan server-side applies the plan's Cluster without reading it first (Plan checked it
// against the live object). An empty plan makes no request.
func (DatabaseManager) ApplyPlan(ctx context.Context, c *Client, p Plan) error {
	return applyPlan(ctx, c, "database", p)
}

func applyPlan(ctx context.Context, c *Client, kind string, p Plan) error {
	if len(p.writes) > 1 && p.writes[0].gvr == gvrSecret {
		// The Secret first: a pod the StatefulSet starts reads it.
		if _, err := applyChecked(ctx, c, gvrSecret, p.writes[0].obj, false); err != nil {
			return fmt.Errorf("%s %q: %w", kind, p.name, err)
		}
		p.writes = p.writes[1:]
	}
	if len(p.writes) == 1 {
		if err := p.writes[0].write(ctx, c); err != nil {
			return fmt.Errorf("%s %q: %w", kind, p.name, err)
		}
		return nil
	}
	errs := make([]error, len(p.writes))
	var wg sync.WaitGroup
	for i, w := range p.writes {
		wg.Go(func() { errs[i] = w.write(ctx, c) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", kind, p.name, err)
	}
	return nil
}
