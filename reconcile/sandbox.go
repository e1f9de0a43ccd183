package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// sandboxes converges sandboxes: a StatefulSet, a Service and two Ingresses per project
// (k8s.SandboxManager), with the project's environment and its database's DATABASE_URL.
//
// A new sandbox's StatefulSet is created only once its database's connection Secret is known,
// so its pod starts with DATABASE_URL instead of being replaced when it arrives; until then the
// sandbox is STARTING "WaitingForDatabase" (a database in ERROR does not hold it back). While a
// user's informer caches have not synced (their cluster unreachable), such a sandbox is looked at
// again with a doubling wait (cacheWaits), from cacheWait up to maxCacheWait: a user whose
// cluster cannot be listed must not keep the runner busy.
type sandboxes struct {
	r          *Runner
	m          k8s.SandboxManager
	cacheWaits workqueue.TypedRateLimiter[item]
}

const (
	cacheWait    = 200 * time.Millisecond
	maxCacheWait = 10 * time.Second
)

func newSandboxes(r *Runner) *sandboxes {
	return &sandboxes{r: r, cacheWaits: backoff(cacheWait, maxCacheWait, r.cfg.RetryRate)}
}

func (*sandboxes) kind() fsa.ResourceKind { return fsa.ResourceSandbox }

// podsByApp indexes sandbox pods by their LabelApp, the sandbox's name.
const podsByApp = "app"

// sandboxInformers returns the informers of a user's StatefulSets, Pods, Services and Ingresses.
func sandboxInformers(ui *userInformers) (sts, pods, svcs, ings cache.SharedIndexInformer) {
	f := ui.typed
	return f.Apps().V1().StatefulSets().Informer(), f.Core().V1().Pods().Informer(), f.Core().V1().Services().Informer(),
		f.Networking().V1().Ingresses().Informer()
}

func (*sandboxes) watch(ui *userInformers, queue func(string, lane)) {
	sts, pods, svcs, ings := sandboxInformers(ui)
	_ = pods.AddIndexers(cache.Indexers{podsByApp: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{p.Labels[k8s.LabelApp]}, nil
		}
		return nil, nil
	}})
	on(sts, metav1.Object.GetName, laneEvent, queue)
	on(pods, label(k8s.LabelApp), laneEvent, queue)
	// Services and Ingresses carry the sandbox's name in LabelApp: one deleted or edited out of
	// band is repaired at once.
	on(svcs, label(k8s.LabelApp), laneEvent, queue)
	on(ings, label(k8s.LabelApp), laneEvent, queue)
	// New or rotated database credentials change the sandbox's DATABASE_URL. For a new project
	// they are what its StatefulSet waits for, so they carry on its intent: the intent lane.
	on(ui.credentials.Core().V1().Secrets().Informer(), label(labelInstance), laneIntent, queue)
}

// follows the project's environment, and its database: for its DATABASE_URL once it runs, or
// no longer once it failed.
func (*sandboxes) follows(k fsa.ResourceKind, st fsa.Status) bool {
	return k == fsa.ResourceEnv || k == fsa.ResourceDatabase && (st == fsa.StatusRunning || st == fsa.StatusError)
}

func (s *sandboxes) reconcile(ctx context.Context, req request) (fsa.Observation, error) {
	sb, kc := req.p.Sandbox, req.kc
	status := func() (k8s.State, string, error) {
		st, err := s.m.Status(ctx, kc, sb.Name)
		return st.State, st.Reason, err
	}
	if sb.Desired == fsa.StatusTerminated {
		// The delete's choice (fsa.PurgeData): the home volume goes with the sandbox, or stays,
		// marked as kept.
		purge := sb.Purge
		return s.r.remove(ctx, req, func() error {
			if err := s.m.Delete(ctx, kc, sb.Name, purge); err != nil || purge {
				return err
			}
			return s.m.RetainClaims(ctx, kc, sb.Name, req.p.ID)
		}, status)
	}
	live, synced := cachedSandbox(req.ui, sb.Name)
	spec, waiting, err := s.spec(ctx, req)
	if err != nil {
		return fsa.Observation{}, err
	}
	stopped := sb.Desired == fsa.StatusStopped
	spec.Stopped = stopped
	deferSTS := defersForDatabase(req.p, spec)
	appURL, terminalURL := s.r.cfg.Scheme+"://"+spec.AppHost(), s.r.cfg.Scheme+"://"+spec.TerminalHost()
	var c cached
	if synced {
		s.cacheWaits.Forget(req.item)
		// Write only the objects the cache shows differ. A new sandbox whose DATABASE_URL is
		// still to come gets its StatefulSet once it is known: created earlier, its pod would
		// start only to be replaced when the variable arrives.
		plan, err := s.m.Plan(kc, spec, live.SandboxLive, k8s.PlanOptions{DeferStatefulSet: deferSTS})
		if err != nil {
			return fsa.Observation{}, err
		}
		st := k8s.SandboxStatusOf(live.StatefulSet, live.pods)
		c = cached{synced: true, plan: plan, state: st.State, reason: st.Reason}
	} else if !stopped && deferSTS {
		// No cache yet to tell whether the StatefulSet exists: look again once it has synced
		// rather than create it without DATABASE_URL.
		s.r.q.AddAfter(req.p.UserID, req.item, s.cacheWaits.When(req.item))
		return fsa.Observation{Status: fsa.StatusStarting, Reason: "WaitingForDatabase", AppURL: appURL, TerminalURL: terminalURL}, nil
	}
	obs, st, err := converge(ctx, s.r, req, s.m, spec, c, status)
	if err != nil {
		return fsa.Observation{}, err
	}
	if waiting {
		// The database is running but its credentials are not readable yet: look again soon.
		s.r.q.AddAfter(req.p.UserID, req.item, time.Second)
	}
	if !stopped && (st == k8s.StateRunning && waitsForDatabase(req.p, spec) || st == k8s.StateTerminated && deferSTS) {
		// Running, but without DATABASE_URL yet: adding it will restart the pod, so do not
		// report RUNNING only to fall back to STARTING a moment later. Or the StatefulSet waits
		// for it (see Plan above).
		obs.Status, obs.Reason = fsa.StatusStarting, "WaitingForDatabase"
	}
	obs.AppURL, obs.TerminalURL = appURL, terminalURL
	return obs, nil
}

// defersForDatabase reports whether a sandbox's StatefulSet not created yet should wait for its
// DATABASE_URL: the database is meant to run and is on its way (not in ERROR, where the sandbox
// starts without it, as before).
func defersForDatabase(p *fsa.Project, spec k8s.SandboxSpec) bool {
	return waitsForDatabase(p, spec) && p.Database.Status != fsa.StatusError
}

// waitsForDatabase reports whether the sandbox's environment still lacks the DATABASE_URL of a
// database that is meant to run.
func waitsForDatabase(p *fsa.Project, spec k8s.SandboxSpec) bool {
	if p.Database == nil || p.Database.Desired != fsa.StatusRunning {
		return false
	}
	_, ok := spec.Env[fsa.EnvDatabaseURL]
	return !ok
}

// sandboxCache is what the caches hold of one sandbox; nil for an absent object.
type sandboxCache struct {
	k8s.SandboxLive
	pods []corev1.Pod // controlled by the StatefulSet
}

// cachedSandbox returns the cached objects of sandbox name; ok is false when a cache has not
// synced.
func cachedSandbox(ui *userInformers, name string) (o sandboxCache, ok bool) {
	spec := k8s.SandboxSpec{Name: name}
	sts, pods, svcs, ings := sandboxInformers(ui)
	var okS, okV, okA, okT bool
	o.StatefulSet, _, okS = get[*appsv1.StatefulSet](ui, sts, name)
	o.Service, _, okV = get[*corev1.Service](ui, svcs, name)
	o.AppIngress, _, okA = get[*networkingv1.Ingress](ui, ings, spec.AppIngressName())
	o.TerminalIngress, _, okT = get[*networkingv1.Ingress](ui, ings, spec.TerminalIngressName())
	if !okS || !okV || !okA || !okT || !pods.HasSynced() {
		return o, false
	}
	if o.StatefulSet != nil {
		owned, err := pods.GetIndexer().ByIndex(podsByApp, name)
		if err != nil {
			return o, false
		}
		for _, obj := range owned {
			p, isPod := obj.(*corev1.Pod)
			if !isPod {
				continue
			}
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == o.StatefulSet.UID {
				o.pods = append(o.pods, *p)
			}
		}
	}
	return o, true
}

// connectionURL reads the database's URL from the credentials cache or, unless cacheOnly, from
// the API server when the cache does not have it (not synced, or the Secret not seen yet).
func connectionURL(ctx context.Context, kc *k8s.Client, ui *userInformers, cluster string, cacheOnly bool) (string, error) {
	name := k8s.DatabaseSpec{Name: cluster}.CredentialSecretName()
	if sec, exists, ok := get[*corev1.Secret](ui, ui.credentials.Core().V1().Secrets().Informer(), name); ok && exists {
		return k8s.ConnectionURLOf(sec.Data)
	}
	if cacheOnly {
		return "", fmt.Errorf("credentials of database %q not cached: %w", cluster, k8s.ErrNotReady)
	}
	return k8s.DatabaseManager{}.ConnectionURL(ctx, kc, cluster)
}

// spec builds the sandbox's desired objects, its environment included: the user's
// variables, then the platform's (which always win): the terminal token, the project for
// terminal tickets, DATABASE_URL once the database has credentials, and the user's Anthropic
// settings.
// waiting is true when DATABASE_URL should be there but the credentials are not readable yet.
func (s *sandboxes) spec(ctx context.Context, req request) (spec k8s.SandboxSpec, waiting bool, err error) {
	p, sb := req.p, req.p.Sandbox
	vars, err := s.r.c.RuntimeEnv(ctx, p.ID)
	if err != nil {
		return spec, false, err
	}
	env := map[string]string{}
	for _, v := range vars {
		if v.Key == fsa.EnvTTYDAccessToken || !v.Platform && !fsa.PlatformOwned(v.Key) {
			env[v.Key] = v.Value
		}
	}
	env[envProject] = p.ID
	// The credentials outlive a stopped database, so DATABASE_URL stays in the environment while
	// the database stops and starts again: no needless roll-out of the sandbox. Before the
	// database is recorded as applied only the cache is asked (no request for a Secret that
	// cannot be there yet), so a new sandbox learns its URL as soon as the Secret's event.
	if db := p.Database; db != nil && db.Desired != fsa.StatusTerminated {
		url, err := connectionURL(ctx, req.kc, req.ui, db.ClusterName, db.Status == fsa.StatusCreating)
		switch {
		case err == nil:
			env[fsa.EnvDatabaseURL] = url
		case errors.Is(err, k8s.ErrNotReady):
			waiting = db.Status == fsa.StatusRunning
		default:
			return spec, false, err
		}
	}
	cfgs, err := s.r.c.ListUserConfig(ctx, req.p.UserID, true)
	if err != nil {
		return spec, false, err
	}
	for _, c := range cfgs {
		switch c.Key {
		case fsa.ConfigAnthropicAPIKey:
			env[fsa.EnvAnthropicAuthToken] = c.Value
		case fsa.ConfigAnthropicBaseURL, fsa.ConfigAnthropicModel, fsa.ConfigAnthropicSmallModel:
			env[c.Key] = c.Value
		}
	}
	spec = k8s.SandboxSpec{
		Name:              sb.Name,
		Project:           p.K8sName,
		Epoch:             s.r.cfg.Fence,
		Env:               env,
		Domain:            s.r.cfg.Domain,
		AppHostLabel:      sb.AppHostLabel,
		TerminalHostLabel: sb.TerminalHostLabel,
		IngressClassName:  s.r.cfg.IngressClassName,
		TLSSecretName:     s.r.cfg.TLSSecretName,
		Image:             s.r.cfg.RuntimeImage,
	}
	return spec, waiting, nil
}

// envProject names the project in the sandbox, for terminal tickets (see runtime/ticket).
const envProject = "FSA_PROJECT"
