package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// errRequeue asks for the item to be synced again at once: the store changed under the sync.
var errRequeue = errors.New("requeue")

// permanentError marks a failure that retrying alone will not fix (no kubeconfig, forbidden,
// invalid spec): it is recorded as ERROR at once, and still retried with backoff.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) (string, bool) {
	var pe *permanentError
	if errors.As(err, &pe) {
		return pe.reason, true
	}
	for _, c := range []struct {
		err    error
		reason string
	}{
		{k8s.ErrNoKubeconfig, "NoKubeconfig"},
		{k8s.ErrInvalidKubeconfig, "InvalidKubeconfig"},
		{k8s.ErrForbidden, "Forbidden"},
		{k8s.ErrUnauthorized, "Unauthorized"},
		{k8s.ErrInvalidSpec, "InvalidSpec"},
	} {
		if errors.Is(err, c.err) {
			return c.reason, true
		}
	}
	return "", false
}

// sync converges one child of one project. It returns nil when the observation is recorded (or
// nothing changed), errRequeue when the store changed under it, an error wrapping fsa.ErrFenced
// when the token is stale, and any other error to be retried with backoff.
func (r *Runner) sync(ctx context.Context, user string, it item) error {
	p, err := r.c.ProjectByID(ctx, it.project)
	if errors.Is(err, fsa.ErrNotFound) {
		r.mu.Lock()
		delete(r.lagSeen, it)
		r.mu.Unlock()
		return nil // removed: nothing left to do
	}
	if err != nil {
		return err
	}
	var version int64
	var cur fsa.Status
	var curReason string
	switch it.kind {
	case kindSandbox:
		if p.Sandbox == nil {
			return nil
		}
		version, cur, curReason = p.Sandbox.Version, p.Sandbox.Status, p.Sandbox.Reason
	case kindDatabase:
		if p.Database == nil {
			return nil
		}
		version, cur, curReason = p.Database.Version, p.Database.Status, p.Database.Reason
	}

	obs, err := r.converge(ctx, user, it, p)
	if err != nil {
		if errors.Is(err, fsa.ErrFenced) || ctx.Err() != nil {
			return err
		}
		reason, perm := permanent(err)
		if !perm && r.q.Failures(it)+1 < r.cfg.ErrorAfter {
			return err
		}
		if reason == "" {
			reason = "KubernetesError"
		}
		// Record the failure so users see it, then retry with backoff.
		if _, rerr := r.record(ctx, it, fsa.Observation{Version: version, Status: fsa.StatusError, Reason: reason, Message: err.Error()}); rerr != nil {
			return rerr
		}
		return err
	}
	if obs.Status == "" {
		return nil
	}
	obs.Version = version
	again := false
	if cur == fsa.StatusCreating && obs.Status == fsa.StatusRunning {
		// Kubernetes was quicker than this sync: record the objects as applied (STARTING) first,
		// so every resource's timeline reads CREATING → STARTING → RUNNING, and look again.
		obs.Status, obs.Reason, again = fsa.StatusStarting, "Applied", true
	}
	if obs.Status == cur && cur != fsa.StatusError {
		// Same state: keep its recorded reason, so an unchanged sandbox writes nothing. Still in
		// progress, informers wake us when Kubernetes moves; the resync is the safety net.
		obs.Reason = curReason
	}
	proj, err := r.record(ctx, it, obs)
	if err != nil {
		return err
	}
	// The sandbox may wait for the database: for its DATABASE_URL (RUNNING), or no longer (ERROR).
	if it.kind == kindDatabase && (obs.Status == fsa.StatusRunning || obs.Status == fsa.StatusError) && cur != obs.Status && proj != nil {
		r.q.Add(user, item{kindSandbox, it.project})
	}
	if again {
		return errRequeue
	}
	return nil
}

func (r *Runner) record(ctx context.Context, it item, obs fsa.Observation) (*fsa.Project, error) {
	var (
		p   *fsa.Project
		err error
	)
	p0, err := r.c.ProjectByID(ctx, it.project)
	if errors.Is(err, fsa.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch it.kind {
	case kindSandbox:
		if p0.Sandbox == nil {
			return nil, nil
		}
		p, err = r.c.RecordSandbox(ctx, r.cfg.Fence, p0.Sandbox.ID, obs)
	case kindDatabase:
		if p0.Database == nil {
			return nil, nil
		}
		p, err = r.c.RecordDatabase(ctx, r.cfg.Fence, p0.Database.ID, obs)
	}
	switch {
	case errors.Is(err, fsa.ErrConflict):
		return nil, errRequeue // the user asked for something else meanwhile
	case errors.Is(err, fsa.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return p, nil
}

// checkFence confirms, right before a Kubernetes write, that our token is still the store's
// epoch. On a replicated store the read is linearizable, so a deposed leader cannot pass it.
func (r *Runner) checkFence(ctx context.Context) error {
	epoch, err := r.c.Epoch(ctx)
	if err != nil {
		return err
	}
	if epoch != r.cfg.Fence {
		return fmt.Errorf("store epoch is %d: %w", epoch, fsa.ErrFenced)
	}
	return nil
}

// client returns the user's Kubernetes client and its informers, starting them if needed.
func (r *Runner) client(ctx context.Context, userID string) (*k8s.Client, *userInformers, error) {
	cfg, err := r.c.GetUserConfig(ctx, userID, fsa.ConfigKubeconfig, true)
	if errors.Is(err, fsa.ErrNotFound) {
		return nil, nil, &permanentError{"NoKubeconfig", fmt.Errorf("user %s has no kubeconfig: %w", userID, k8s.ErrNoKubeconfig)}
	}
	if err != nil {
		return nil, nil, err
	}
	kc, err := r.cfg.Clients.Get(userID, []byte(cfg.Value))
	if err != nil {
		return nil, nil, err
	}
	return kc, r.informers.ensure(userID, kc), nil
}

// converge makes Kubernetes match the child's desired state and returns the observation to
// record.
func (r *Runner) converge(ctx context.Context, user string, it item, p *fsa.Project) (fsa.Observation, error) {
	kc, ui, err := r.client(ctx, user)
	if err != nil {
		return fsa.Observation{}, err
	}
	if it.kind == kindSandbox {
		return r.convergeSandbox(ctx, user, kc, ui, p)
	}
	return r.convergeDatabase(ctx, kc, ui, p)
}

// observeLag records the time from a recorded intent to the first Kubernetes write carrying it
// out: once per intent (the child's UpdatedAt), however many syncs it takes. An intent is a
// transitional status the API recorded, without a reason; reconcile's own transitional
// observations (STARTING "Applied") have one.
func (r *Runner) observeLag(k kind, project string, updated time.Time, st fsa.Status, reason string) {
	if !st.Transitional() || reason != "" || updated.IsZero() {
		return
	}
	it := item{k, project}
	r.mu.Lock()
	seen := r.lagSeen[it].Equal(updated)
	r.lagSeen[it] = updated
	r.mu.Unlock()
	if !seen {
		r.m.lag.WithLabelValues(k.String()).Observe(time.Since(updated).Seconds())
	}
}

// write runs one Kubernetes write: it confirms the fencing token first, records the intent's
// lag and counts the call.
func (r *Runner) write(ctx context.Context, k kind, project string, updated time.Time, st fsa.Status, reason, op string, fn func() error) error {
	if err := r.checkFence(ctx); err != nil {
		return err
	}
	r.observeLag(k, project, updated, st, reason)
	r.m.k8sWrites.WithLabelValues(k.String(), op).Inc()
	return fn()
}

func (r *Runner) convergeSandbox(ctx context.Context, user string, kc *k8s.Client, ui *userInformers, p *fsa.Project) (fsa.Observation, error) {
	sb := p.Sandbox
	if sb.Desired == fsa.StatusTerminated {
		// Deletes and the TERMINATED check always go to the API server: the project is removed
		// from the store after it, so a cache that has not yet seen a just-created object must
		// not decide that nothing is left.
		if err := r.write(ctx, kindSandbox, p.ID, sb.UpdatedAt, sb.Status, sb.Reason, "delete", func() error {
			return r.sandboxes.Delete(ctx, kc, sb.Name, r.cfg.DeleteVolumes)
		}); err != nil {
			return fsa.Observation{}, err
		}
		st, err := r.sandboxes.Status(ctx, kc, sb.Name)
		if err != nil {
			return fsa.Observation{}, err
		}
		if st.State == k8s.StateTerminated {
			return fsa.Observation{Status: fsa.StatusTerminated, Reason: "Deleted"}, nil
		}
		return fsa.Observation{Status: fsa.StatusTerminating}, nil
	}

	cached, haveCache := ui.sandbox(sb.Name)
	needWrite := true
	spec, waiting, err := r.sandboxSpec(ctx, user, kc, ui, p)
	if err != nil {
		return fsa.Observation{}, err
	}
	stopped := sb.Desired == fsa.StatusStopped
	spec.Stopped = stopped
	if haveCache {
		r.cacheWaits.Forget(item{kindSandbox, p.ID})
		// Write only the objects the cache shows differ, without reading them first. A new
		// sandbox whose DATABASE_URL is still to come gets its StatefulSet once it is known:
		// created earlier, its pod would start only to be replaced when the variable arrives.
		plan, err := r.sandboxes.Plan(kc, spec, cached.live(), k8s.PlanOptions{DeferStatefulSet: defersForDatabase(p, spec)})
		if err != nil {
			return fsa.Observation{}, err
		}
		if !plan.Empty() {
			r.log.Debug("sandbox differs from its desired state", "project", p.ID, "where", plan.String())
			op := "apply"
			if stopped {
				op = "stop"
			}
			if err := r.write(ctx, kindSandbox, p.ID, sb.UpdatedAt, sb.Status, sb.Reason, op, func() error {
				return r.sandboxes.ApplyPlan(ctx, kc, plan)
			}); err != nil {
				return fsa.Observation{}, err
			}
		}
		needWrite = !plan.Empty()
	} else if !stopped && defersForDatabase(p, spec) {
		// No cache yet to tell whether the StatefulSet exists: look again once it has synced
		// rather than create it without DATABASE_URL.
		it := item{kindSandbox, p.ID}
		r.q.AddAfter(user, it, r.cacheWaits.When(it))
		return fsa.Observation{Status: fsa.StatusStarting, Reason: "WaitingForDatabase",
			AppURL: r.cfg.Scheme + "://" + spec.AppHost(), TerminalURL: r.cfg.Scheme + "://" + spec.TerminalHost()}, nil
	} else {
		op, fn := "apply", func() error { return r.sandboxes.Apply(ctx, kc, spec) }
		if stopped {
			op, fn = "stop", func() error { return r.sandboxes.Stop(ctx, kc, spec) }
		}
		if err := r.write(ctx, kindSandbox, p.ID, sb.UpdatedAt, sb.Status, sb.Reason, op, fn); err != nil {
			return fsa.Observation{}, err
		}
	}
	if waiting {
		// The database is running but its credentials are not readable yet: look again soon.
		r.q.AddAfter(user, item{kindSandbox, p.ID}, time.Second)
	}
	// The observed state comes from the cache. Right after a write the cache may not show the
	// write yet: that is harmless for a state still in progress (the write's own event syncs
	// again), but RUNNING is confirmed with the API server, which sees the new generation.
	var st k8s.SandboxStatus
	if haveCache {
		st = k8s.SandboxStatusOf(cached.sts, cached.pods)
	}
	if !haveCache || (needWrite && st.State == k8s.StateRunning) {
		if st, err = r.sandboxes.Status(ctx, kc, sb.Name); err != nil {
			return fsa.Observation{}, err
		}
	}
	obs := fsa.Observation{
		AppURL:      r.cfg.Scheme + "://" + spec.AppHost(),
		TerminalURL: r.cfg.Scheme + "://" + spec.TerminalHost(),
	}
	switch {
	case st.State == k8s.StateError:
		obs.Status, obs.Reason = fsa.StatusError, st.Reason
	case stopped && st.State == k8s.StateStopped, stopped && st.State == k8s.StateTerminated:
		obs.Status = fsa.StatusStopped
	case stopped:
		obs.Status = fsa.StatusStopping
	case st.State == k8s.StateRunning && waitsForDatabase(p, spec):
		// Running, but without DATABASE_URL yet: adding it will restart the pod, so do not
		// report RUNNING only to fall back to STARTING a moment later.
		obs.Status, obs.Reason = fsa.StatusStarting, "WaitingForDatabase"
	case st.State == k8s.StateRunning:
		obs.Status = fsa.StatusRunning
	case st.State == k8s.StateTerminated && defersForDatabase(p, spec):
		// The StatefulSet waits for DATABASE_URL (see Plan above).
		obs.Status, obs.Reason = fsa.StatusStarting, "WaitingForDatabase"
	default:
		obs.Status, obs.Reason = fsa.StatusStarting, "Applied"
	}
	return obs, nil
}

// cacheWait is how soon a sandbox waiting for DATABASE_URL is looked at again when its user's
// informer caches have not synced yet; each further look waits twice as long, up to
// maxCacheWait (cacheWaitLimiter).
const (
	cacheWait    = 200 * time.Millisecond
	maxCacheWait = 10 * time.Second
)

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

func (r *Runner) convergeDatabase(ctx context.Context, kc *k8s.Client, ui *userInformers, p *fsa.Project) (fsa.Observation, error) {
	db := p.Database
	if db.Desired == fsa.StatusTerminated {
		// As for sandboxes, deletes never trust the cache.
		if err := r.write(ctx, kindDatabase, p.ID, db.UpdatedAt, db.Status, db.Reason, "delete", func() error {
			return r.databases.Delete(ctx, kc, db.ClusterName)
		}); err != nil {
			return fsa.Observation{}, err
		}
		st, err := r.databases.Status(ctx, kc, db.ClusterName)
		if err != nil {
			return fsa.Observation{}, err
		}
		if st.State == k8s.StateTerminated {
			return fsa.Observation{Status: fsa.StatusTerminated, Reason: "Deleted"}, nil
		}
		return fsa.Observation{Status: fsa.StatusTerminating}, nil
	}
	cached, exists, haveCache := get[*unstructured.Unstructured](ui, ui.clusters, db.ClusterName)
	stopped := db.Desired == fsa.StatusStopped
	spec := k8s.DatabaseSpec{Name: db.ClusterName, Project: p.K8sName, Epoch: r.cfg.Fence, Stopped: stopped}
	needWrite := true
	if haveCache {
		// As for sandboxes: write only when the cache shows a difference, without reading first.
		var live *unstructured.Unstructured
		if exists {
			live = cached
		}
		plan, err := r.databases.Plan(kc, spec, live)
		if err != nil {
			return fsa.Observation{}, err
		}
		needWrite = !plan.Empty()
		if needWrite {
			r.log.Debug("database differs from its desired state", "project", p.ID, "where", plan.String())
			op := "apply"
			if stopped {
				op = "stop"
			}
			if err := r.write(ctx, kindDatabase, p.ID, db.UpdatedAt, db.Status, db.Reason, op, func() error {
				return r.databases.ApplyPlan(ctx, kc, plan)
			}); err != nil {
				return fsa.Observation{}, err
			}
		}
	} else {
		op, fn := "apply", func() error { return r.databases.Apply(ctx, kc, spec) }
		if stopped {
			op, fn = "stop", func() error { return r.databases.Stop(ctx, kc, spec) }
		}
		if err := r.write(ctx, kindDatabase, p.ID, db.UpdatedAt, db.Status, db.Reason, op, fn); err != nil {
			return fsa.Observation{}, err
		}
	}
	// As for sandboxes: the cache, but RUNNING right after a write confirmed with the API server.
	var st k8s.DatabaseStatus
	switch {
	case haveCache && exists:
		st = k8s.DatabaseStatusOf(cached)
	case haveCache:
		st = k8s.DatabaseStatusOf(nil)
	}
	if !haveCache || (needWrite && st.State == k8s.StateRunning) {
		var err error
		if st, err = r.databases.Status(ctx, kc, db.ClusterName); err != nil {
			return fsa.Observation{}, err
		}
	}
	var obs fsa.Observation
	switch {
	case st.State == k8s.StateError:
		obs.Status, obs.Reason = fsa.StatusError, st.Reason
	case stopped && (st.State == k8s.StateStopped || st.State == k8s.StateTerminated):
		obs.Status = fsa.StatusStopped
	case stopped:
		obs.Status = fsa.StatusStopping
	case st.State == k8s.StateRunning:
		obs.Status = fsa.StatusRunning
	default:
		obs.Status, obs.Reason = fsa.StatusStarting, "Applied"
	}
	return obs, nil
}

// connectionURL reads the database's URL from the credentials cache, or from the API server when
// the cache does not have it (not synced, or the Secret not seen yet).
func (r *Runner) connectionURL(ctx context.Context, kc *k8s.Client, ui *userInformers, cluster string) (string, error) {
	name := k8s.DatabaseSpec{Name: cluster}.CredentialSecretName()
	if sec, exists, ok := get[*corev1.Secret](ui, ui.credentials, name); ok && exists {
		return k8s.ConnectionURLOf(sec.Data)
	}
	return r.databases.ConnectionURL(ctx, kc, cluster)
}

// cachedConnectionURL reads the database's URL from the credentials cache only: k8s.ErrNotReady
// when the cache does not have it.
func cachedConnectionURL(ui *userInformers, cluster string) (string, error) {
	name := k8s.DatabaseSpec{Name: cluster}.CredentialSecretName()
	if sec, exists, ok := get[*corev1.Secret](ui, ui.credentials, name); ok && exists {
		return k8s.ConnectionURLOf(sec.Data)
	}
	return "", fmt.Errorf("credentials of database %q not cached: %w", cluster, k8s.ErrNotReady)
}

// sandboxSpec builds the sandbox's desired objects, its environment included: the user's
// variables, then the platform's (which always win): the terminal token, the project for
// terminal tickets, DATABASE_URL once the database has credentials, and the user's Anthropic
// settings.
// waiting is true when DATABASE_URL should be there but the credentials are not readable yet.
func (r *Runner) sandboxSpec(ctx context.Context, user string, kc *k8s.Client, ui *userInformers, p *fsa.Project) (spec k8s.SandboxSpec, waiting bool, err error) {
	sb := p.Sandbox
	vars, err := r.c.RuntimeEnv(ctx, p.ID)
	if err != nil {
		return spec, false, err
	}
	env := map[string]string{}
	for _, v := range vars {
		if !v.Platform && !fsa.PlatformOwned(v.Key) {
			env[v.Key] = v.Value
		}
	}
	for _, v := range vars {
		if v.Key == fsa.EnvTTYDAccessToken {
			env[v.Key] = v.Value
		}
	}
	env[envProject] = p.ID
	// The credentials outlive a stopped database, so DATABASE_URL stays in the environment while
	// the database stops and starts again: no needless roll-out of the sandbox. Before the
	// database is recorded as applied only the cache is asked (no request for a Secret that
	// cannot be there yet), so a new sandbox learns its URL as soon as the Secret's event.
	if db := p.Database; db != nil && db.Desired != fsa.StatusTerminated {
		var url string
		var err error
		if db.Status == fsa.StatusCreating {
			url, err = cachedConnectionURL(ui, db.ClusterName)
		} else {
			url, err = r.connectionURL(ctx, kc, ui, db.ClusterName)
		}
		switch {
		case err == nil:
			env[fsa.EnvDatabaseURL] = url
		case errors.Is(err, k8s.ErrNotReady):
			waiting = db.Status == fsa.StatusRunning
		default:
			return spec, false, err
		}
	}
	cfgs, err := r.c.ListUserConfig(ctx, user, true)
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
		Epoch:             r.cfg.Fence,
		Env:               env,
		Domain:            r.cfg.Domain,
		AppHostLabel:      sb.AppHostLabel,
		TerminalHostLabel: sb.TerminalHostLabel,
		IngressClassName:  r.cfg.IngressClassName,
		TLSSecretName:     r.cfg.TLSSecretName,
	}
	return spec, waiting, nil
}

// envProject names the project in the sandbox, for terminal tickets (see runtime/ticket).
const envProject = "FSA_PROJECT"
