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

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// sandboxes converges sandboxes: a Secret, a StatefulSet, a Service, two Ingresses (one while
// the app is private: fsa.Sandbox.PrivateApp) and (Config.Network) a NetworkPolicy per project (k8s.SandboxManager), with the project's
// environment and its database's DATABASE_URL.
//
// A new sandbox starts at once, without waiting for its database: DATABASE_URL is a live key
// (k8s.SandboxSpec.LiveKeys) of the sandbox's Secret, so when the database's credentials appear
// the value reaches the running pod as a file its shells read, without a restart, and its
// environment from the next start. While a user's informer caches have not synced, a sandbox is
// applied with reads first (k8s.SandboxManager.Apply).
type sandboxes struct {
	r *Runner
	m k8s.SandboxManager
}

func newSandboxes(r *Runner) *sandboxes { return &sandboxes{r: r} }

func (*sandboxes) kind() fsa.ResourceKind { return fsa.ResourceSandbox }

// podsByApp indexes sandbox pods by their LabelApp, the sandbox's name.
const podsByApp = "app"

// sandboxInformers returns the informers of a user's StatefulSets, Pods, Services and Ingresses.
func sandboxInformers(ui *userInformers) (sts, pods, svcs, ings cache.SharedIndexInformer) {
	f := ui.typed
	return f.Apps().V1().StatefulSets().Informer(), f.Core().V1().Pods().Informer(), f.Core().V1().Services().Informer(),
		f.Networking().V1().Ingresses().Informer()
}

// sandboxSecrets returns the informer of the sandboxes' own Secrets (fsa's label, not
// KubeBlocks').
func sandboxSecrets(ui *userInformers) cache.SharedIndexInformer {
	return ui.typed.Core().V1().Secrets().Informer()
}

// networkPolicies returns the informer of the sandboxes' NetworkPolicies; only asked for when
// Config.Network is set (a user who may not list them would never sync it).
func networkPolicies(ui *userInformers) cache.SharedIndexInformer {
	return ui.typed.Networking().V1().NetworkPolicies().Informer()
}

func watchSandboxes(ui *userInformers, queue func(string, lane)) {
	sts, pods, svcs, ings := sandboxInformers(ui)
	on(sandboxSecrets(ui), label(k8s.LabelApp), laneEvent, queue)
	if ui.network {
		on(networkPolicies(ui), label(k8s.LabelApp), laneEvent, queue)
	}
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
	// they complete its environment, so they carry on its intent: the intent lane.
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
		return s.r.remove(ctx, req, func(ctx context.Context) error {
			if err := s.m.Delete(ctx, kc, sb.Name, purge); err != nil || purge {
				return err
			}
			return s.m.RetainClaims(ctx, kc, sb.Name, req.p.ID)
		}, status)
	}
	// Observed before anything is read: what changes from here on makes it differ next time.
	observe := s.observer(req.ui, req.p)
	observed, observedOK := observe()
	live, synced := cachedSandbox(req.ui, sb.Name, s.r.cfg.Network != nil)
	spec, waiting, err := s.spec(ctx, req)
	if err != nil {
		return fsa.Observation{}, err
	}
	spec.Stopped = sb.Desired == fsa.StatusStopped
	appURL, terminalURL := s.r.cfg.Scheme+"://"+spec.AppHost(), s.r.cfg.Scheme+"://"+spec.TerminalHost()
	var c cached
	if synced {
		// Write only the objects the cache shows differ.
		plan, err := s.m.Plan(kc, spec, live.SandboxLive, k8s.PlanOptions{})
		if err != nil {
			return fsa.Observation{}, err
		}
		st := k8s.SandboxStatusOf(live.StatefulSet, live.pods)
		c = cached{synced: true, plan: plan, state: st.State, reason: st.Reason}
	}
	obs, _, err := converge(ctx, s.r, req, s.m, spec, c, status)
	if err != nil {
		return fsa.Observation{}, err
	}
	if synced && c.plan.Empty() && !waiting && observedOK {
		*req.note = memoNote{observe: observe, observed: observed}
	}
	if waiting {
		// The database is running but its credentials are not readable yet: look again soon.
		// The sandbox runs meanwhile; DATABASE_URL reaches it when known (a live key).
		s.r.q.AddAfter(req.p.UserID, req.item, time.Second)
	}
	obs.TerminalURL = terminalURL
	if !sb.PrivateApp {
		obs.AppURL = appURL
	}
	return obs, nil
}

// sandboxCache is what the caches hold of one sandbox; nil for an absent object.
type sandboxCache struct {
	k8s.SandboxLive
	pods []corev1.Pod // controlled by the StatefulSet
}

// cachedSandbox returns the cached objects of sandbox name; ok is false when a cache has not
// synced. withPolicy says whether the NetworkPolicy is cached (Config.Network).
func cachedSandbox(ui *userInformers, name string, withPolicy bool) (o sandboxCache, ok bool) {
	spec := k8s.SandboxSpec{Name: name}
	sts, pods, svcs, ings := sandboxInformers(ui)
	var okS, okV, okA, okT bool
	var okSec, okNP = false, true
	o.Secret, _, okSec = get[*corev1.Secret](ui, sandboxSecrets(ui), spec.SecretName())
	if withPolicy {
		o.NetworkPolicy, _, okNP = get[*networkingv1.NetworkPolicy](ui, networkPolicies(ui), spec.NetworkPolicyName())
	}
	o.StatefulSet, _, okS = get[*appsv1.StatefulSet](ui, sts, name)
	o.Service, _, okV = get[*corev1.Service](ui, svcs, name)
	o.AppIngress, _, okA = get[*networkingv1.Ingress](ui, ings, spec.AppIngressName())
	o.TerminalIngress, _, okT = get[*networkingv1.Ingress](ui, ings, spec.TerminalIngressName())
	if !okS || !okV || !okA || !okT || !okSec || !okNP || !pods.HasSynced() {
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

// observer returns how to fingerprint (upToDate) what the caches hold of p's sandbox: its
// objects, its pods and its database's credentials. ok is false while a cache has not synced.
func (s *sandboxes) observer(ui *userInformers, p *fsa.Project) func() (fp string, ok bool) {
	name, withPolicy := p.Sandbox.Name, s.r.cfg.Network != nil
	creds := ""
	if db := p.Database; db != nil && db.Desired != fsa.StatusTerminated {
		creds = k8s.DatabaseSpec{Name: db.ClusterName, Namespace: ui.client.Namespace, API: ui.kb}.CredentialSecretName()
	}
	return func() (string, bool) {
		o, ok := cachedSandbox(ui, name, withPolicy)
		if !ok {
			return "", false
		}
		var v versions
		v.add(o.Secret, o.Secret != nil)
		v.add(o.NetworkPolicy, o.NetworkPolicy != nil)
		v.add(o.StatefulSet, o.StatefulSet != nil)
		v.add(o.Service, o.Service != nil)
		v.add(o.AppIngress, o.AppIngress != nil)
		v.add(o.TerminalIngress, o.TerminalIngress != nil)
		v.pods(o.pods)
		if creds != "" {
			sec, exists, ok := get[*corev1.Secret](ui, ui.credentials.Core().V1().Secrets().Informer(), creds)
			if !ok {
				return "", false
			}
			v.add(sec, exists && sec != nil)
		}
		return v.String(), true
	}
}

// connectionURL reads the database's URL from the credentials cache or, unless cacheOnly, from
// the API server when the cache does not have it (not synced, or the Secret not seen yet).
func connectionURL(ctx context.Context, kc *k8s.Client, ui *userInformers, cluster string, cacheOnly bool) (string, error) {
	db := k8s.DatabaseSpec{Name: cluster, Namespace: kc.Namespace, API: ui.kb}
	if sec, exists, ok := get[*corev1.Secret](ui, ui.credentials.Core().V1().Secrets().Informer(), db.CredentialSecretName()); ok && exists {
		return db.ConnectionURL(sec.Data)
	}
	if cacheOnly {
		return "", fmt.Errorf("credentials of database %q not cached: %w", cluster, k8s.ErrNotReady)
	}
	return k8s.DatabaseManager{}.ConnectionURL(ctx, kc, cluster)
}

// spec builds the sandbox's desired objects, its environment included: the user's
// variables (secret ones in the Secret), then the platform's (which always win): the terminal
// token and DATABASE_URL (secret), the project for terminal tickets (FSA_PROJECT) and its
// display name (PROJECT_NAME), the Anthropic credentials (the user's, or the platform's
// default), and the user's GitHub token (secret) if they granted one.
// waiting is true when DATABASE_URL should be there but the credentials are not readable yet.
func (s *sandboxes) spec(ctx context.Context, req request) (spec k8s.SandboxSpec, waiting bool, err error) {
	p, sb := req.p, req.p.Sandbox
	vars, err := s.r.c.RuntimeEnv(ctx, p.ID)
	if err != nil {
		return spec, false, err
	}
	env, secret := map[string]string{}, map[string]string{}
	put := func(key, value string, isSecret bool) {
		delete(env, key)
		delete(secret, key)
		if isSecret {
			secret[key] = value
		} else {
			env[key] = value
		}
	}
	for _, v := range vars {
		if v.Key == fsa.EnvTTYDAccessToken || !v.Platform && !fsa.PlatformOwned(v.Key) {
			put(v.Key, v.Value, v.Secret || v.Key == fsa.EnvTTYDAccessToken)
		}
	}
	put(envProject, p.ID, false)
	put(fsa.EnvProjectName, p.Name, false)
	var live []string
	// The credentials outlive a stopped database, so DATABASE_URL stays in the environment while
	// the database stops and starts again: no needless roll-out of the sandbox. Before the
	// database is recorded as applied only the cache is asked (no request for a Secret that
	// cannot be there yet), so a new sandbox learns its URL as soon as the Secret's event. It is
	// a live key: the sandbox does not wait for it, and its arrival restarts nothing.
	if db := p.Database; db != nil && db.Desired != fsa.StatusTerminated {
		live = []string{fsa.EnvDatabaseURL}
		url, err := connectionURL(ctx, req.kc, req.ui, db.ClusterName, db.Status == fsa.StatusCreating)
		switch {
		case err == nil:
			put(fsa.EnvDatabaseURL, url, true)
		case errors.Is(err, k8s.ErrNotReady):
			waiting = db.Status == fsa.StatusRunning
		default:
			return spec, false, err
		}
	}
	cfgs, err := s.r.settings(ctx, req.p.UserID, req.tok)
	if err != nil {
		return spec, false, err
	}
	userKey := false
	for _, c := range cfgs {
		switch c.Key {
		case fsa.ConfigAnthropicAPIKey:
			put(fsa.EnvAnthropicAuthToken, c.Value, true)
			userKey = true
		case fsa.ConfigAnthropicBaseURL, fsa.ConfigAnthropicModel, fsa.ConfigAnthropicSmallModel:
			put(c.Key, c.Value, false)
		case fsa.ConfigGitHubToken:
			put(fsa.EnvGitHubToken, c.Value, true)
		}
	}
	// The platform's default Anthropic credentials, for a user without a key of their own; the
	// user's own base URL, if set, still wins.
	if !userKey && s.r.cfg.DefaultAnthropicAuthToken != "" {
		put(fsa.EnvAnthropicAuthToken, s.r.cfg.DefaultAnthropicAuthToken, true)
		if _, ok := env[fsa.ConfigAnthropicBaseURL]; !ok && s.r.cfg.DefaultAnthropicBaseURL != "" {
			put(fsa.ConfigAnthropicBaseURL, s.r.cfg.DefaultAnthropicBaseURL, false)
		}
	}
	spec = k8s.SandboxSpec{
		Name:              sb.Name,
		Project:           p.K8sName,
		Epoch:             s.r.cfg.Fence,
		Env:               env,
		SecretEnv:         secret,
		LiveKeys:          live,
		Domain:            s.r.cfg.Domain,
		AppHostLabel:      sb.AppHostLabel,
		TerminalHostLabel: sb.TerminalHostLabel,
		IngressClassName:  s.r.cfg.IngressClassName,
		TLSSecretName:     s.r.cfg.TLSSecretName,
		PrivateApp:        sb.PrivateApp,
		Image:             s.r.cfg.RuntimeImage,
	}
	if sz := p.Size; sz != nil {
		spec.Resources = resources(sz.CPURequest, sz.MemoryRequest, sz.CPU, sz.Memory)
		spec.HomeSize = k8s.ByteQuantity(sz.Home)
	}
	if n := s.r.cfg.Network; n != nil {
		net := *n
		if p.Database != nil {
			net.DatabaseName = p.Database.ClusterName
		}
		spec.Network = &net
	}
	return spec, waiting, nil
}

// envProject names the project in the sandbox, for terminal tickets (see runtime/ticket).
const envProject = "FSA_PROJECT"

// resources are a container's requests and limits of CPU (millicores) and memory (bytes).
func resources(cpuReq, memReq, cpu, mem int64) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: k8s.MilliQuantity(cpuReq), corev1.ResourceMemory: k8s.ByteQuantity(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: k8s.MilliQuantity(cpu), corev1.ResourceMemory: k8s.ByteQuantity(mem)},
	}
}
