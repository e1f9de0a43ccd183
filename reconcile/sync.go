package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// A reconciler converges the children of one kind (sandbox.go, database.go; New lists them).
// The Runner does what all kinds share: the change feed, the work queue (lanes, fairness,
// backoff), fencing, the users' clients and informers, and recording observations and errors.
type reconciler interface {
	// kind is the kind of child it converges, and of its work items, metrics and logs.
	kind() fsa.ResourceKind
	// follows reports whether a change of a project's child of another kind k, now in status
	// st, or of its environment (k is fsa.ResourceEnv), concerns its child of this kind.
	follows(k fsa.ResourceKind, st fsa.Status) bool
	// reconcile makes Kubernetes match the child's desired state and returns the observation to
	// record (none when its Status is empty). It writes to Kubernetes only through Runner.write.
	reconcile(ctx context.Context, req request) (fsa.Observation, error)
}

// request is one sync of one child.
type request struct {
	item
	p     *fsa.Project // as read at the start of the sync
	child *fsa.Child   // p's child of kind item.kind
	kc    *k8s.Client
	ui    *userInformers
	// note is where the reconciler reports a child it found as desired (upToDate).
	note *memoNote
	// tok is the feed's counters as the sync began, before it read the store.
	tok memoToken
}

// cached is what the informer caches show of a child: what an apply would write, and the state
// Kubernetes reports (reason explains StateError). Unknown when not synced.
type cached struct {
	synced bool
	plan   k8s.Plan
	state  k8s.State
	reason string
}

// manager is what converge needs of a kind's k8s manager (k8s.SandboxManager, ...).
type manager[S any] interface {
	Apply(ctx context.Context, c *k8s.Client, spec S) error
	Stop(ctx context.Context, c *k8s.Client, spec S) error
	ApplyPlan(ctx context.Context, c *k8s.Client, p k8s.Plan) error
}

// remove deletes the child's objects and observes (status) whether they are gone. Both always
// go to the API server: the project is removed from the store after it, so a cache that has not
// yet seen a just-created object must not decide that nothing is left.
func (r *Runner) remove(ctx context.Context, req request, del func(context.Context) error, status func() (k8s.State, string, error)) (fsa.Observation, error) {
	if err := r.write(ctx, req, "delete", del); err != nil {
		return fsa.Observation{}, err
	}
	state, _, err := status()
	if err != nil {
		return fsa.Observation{}, err
	}
	if state == k8s.StateTerminated {
		return fsa.Observation{Status: fsa.StatusTerminated, Reason: "Deleted"}, nil
	}
	return fsa.Observation{Status: fsa.StatusTerminating}, nil
}

// converge makes the child's objects match spec, running or stopped as desired, and returns the
// observation and the state it is based on. With synced caches it writes only what they show
// differs, without reading first; without, it applies everything. The state comes from the
// caches too. Right after a write they may not show it yet: harmless for a state in progress
// (the write's own event syncs again), but RUNNING is then confirmed with the API server
// (status), which sees the new generation.
func converge[S any](ctx context.Context, r *Runner, req request, m manager[S], spec S, c cached, status func() (k8s.State, string, error)) (fsa.Observation, k8s.State, error) {
	stopped := req.child.Desired == fsa.StatusStopped
	op, apply := "apply", m.Apply
	if stopped {
		op, apply = "stop", m.Stop
	}
	var err error
	switch {
	case !c.synced:
		err = r.write(ctx, req, op, func(ctx context.Context) error { return apply(ctx, req.kc, spec) })
	case !c.plan.Empty():
		r.log.Debug(string(req.kind)+" differs from its desired state", "project", req.project, "where", c.plan.String())
		err = r.write(ctx, req, op, func(ctx context.Context) error { return m.ApplyPlan(ctx, req.kc, c.plan) })
	}
	if err != nil {
		return fsa.Observation{}, "", err
	}
	state, reason := c.state, c.reason
	// After a write that may have changed the workload, the cached state is not to be trusted:
	// read it. A write of the other objects (a Secret's new DATABASE_URL or owner, a repaired
	// Service) leaves it as the cache shows it.
	if !c.synced || c.plan.ChangesWorkload() && state == k8s.StateRunning {
		if state, reason, err = status(); err != nil {
			return fsa.Observation{}, "", err
		}
	}
	var obs fsa.Observation
	switch {
	case state == k8s.StateError:
		obs.Status, obs.Reason = fsa.StatusError, reason
	case stopped && (state == k8s.StateStopped || state == k8s.StateTerminated):
		obs.Status = fsa.StatusStopped
	case stopped:
		obs.Status = fsa.StatusStopping
	case state == k8s.StateRunning:
		obs.Status = fsa.StatusRunning
	default:
		obs.Status, obs.Reason = fsa.StatusStarting, "Applied"
	}
	return obs, state, nil
}

// errRequeue asks for the item to be synced again at once: the store changed under the sync.
var errRequeue = errors.New("requeue")

// errWaitCaches: the sync waits for the user's new caches (userInformers.wait), which queue the
// item again once they have synced.
var errWaitCaches = errors.New("waiting for the user's caches to sync")

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

// sync converges one child of one project through the reconciler of its kind. It returns nil
// when the observation is recorded (or nothing changed), errRequeue when the store changed under
// it, an error wrapping fsa.ErrFenced when the token is stale, and any other error to be retried
// with backoff.
func (r *Runner) sync(ctx context.Context, user string, it item) (ret error) {
	tok := r.memo.token(user, it)
	if r.memo.fresh(it, tok) {
		r.m.upToDate.WithLabelValues(string(it.kind)).Inc()
		return nil
	}
	p, err := r.listedProject(it), error(nil)
	if p != nil {
		defer func() {
			if !errors.Is(ret, errWaitCaches) {
				r.m.projectReads.WithLabelValues("listing").Inc()
				r.dropListed(it)
			}
		}()
	} else {
		r.m.projectReads.WithLabelValues("store").Inc()
		p, err = r.c.ProjectByID(ctx, it.project)
	}
	if errors.Is(err, fsa.ErrNotFound) {
		r.mu.Lock()
		delete(r.lagSeen, it)
		delete(r.known, it)
		r.mu.Unlock()
		r.memo.forget(it)
		return nil // removed: nothing left to do
	}
	if err != nil {
		return err
	}
	o, rec := p.Child(it.kind), r.byKind[it.kind]
	if o == nil || rec == nil {
		return nil
	}
	cur := o.Common()
	req := request{item: it, p: p, child: cur, note: &memoNote{}, tok: tok}
	var obs fsa.Observation
	if req.kc, err = r.client(ctx, user, tok); err == nil {
		req.kc, req.ui, err = r.place(ctx, user, it, p, cur, req.kc)
		if errors.Is(err, errRequeue) {
			return err // the placement is recorded: sync the new version
		}
		if err == nil && req.ui.wait(it, r.q.Lane(it)) {
			return errWaitCaches
		}
	}
	var left *leftBehindError
	switch {
	case errors.As(err, &left):
		// A delete of a child its owner's kubeconfig cannot reach any more: the delete completes,
		// and what is left there is recorded as kept data (fsa.RetainedData).
		obs, err = fsa.Observation{Status: fsa.StatusTerminated, Reason: fsa.ReasonClusterChanged, Message: left.Error()}, nil
	case err == nil:
		obs, err = rec.reconcile(ctx, req)
	}
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
		if _, rerr := r.record(ctx, it, cur.ID, fsa.Observation{Version: cur.Version, Status: fsa.StatusError, Reason: reason, Message: err.Error()}); rerr != nil {
			return rerr
		}
		return err
	}
	if obs.Status == "" {
		return nil
	}
	obs.Version = cur.Version
	again := false
	if cur.Status == fsa.StatusCreating && obs.Status == fsa.StatusRunning {
		// Kubernetes was quicker than this sync: record the objects as applied (STARTING) first,
		// so every resource's timeline reads CREATING → STARTING → RUNNING, and look again.
		obs.Status, obs.Reason, again = fsa.StatusStarting, "Applied", true
	}
	if obs.Status == cur.Status && cur.Status != fsa.StatusError {
		// Same state: keep its recorded reason, so an unchanged child writes nothing. Still in
		// progress, informers wake us when Kubernetes moves; the resync is the safety net.
		obs.Reason = cur.Reason
	}
	var proj *fsa.Project
	if fsa.Records(o, obs) {
		if proj, err = r.record(ctx, it, cur.ID, obs); err != nil {
			return err
		}
	}
	if req.note.observe != nil && obs.Status == cur.Status && !again {
		// Found as desired, and as recorded: until something it rests on changes, a sync has
		// nothing to do.
		r.memo.remember(it, tok, req.ui, req.note)
	} else {
		r.memo.forget(it)
	}
	if cur.Status != obs.Status && proj != nil {
		// Another child may wait for this one, as a sandbox for its database (see follows).
		r.follow(user, it.project, it.kind, obs.Status)
	}
	if again {
		return errRequeue
	}
	return nil
}

// record records obs of child id: one changed meanwhile (a new intent) is errRequeue, one removed
// meanwhile is nothing to record.
func (r *Runner) record(ctx context.Context, it item, id string, obs fsa.Observation) (*fsa.Project, error) {
	p, err := r.c.Record(ctx, r.cfg.Fence, it.kind, id, obs)
	switch {
	case errors.Is(err, fsa.ErrConflict):
		return nil, errRequeue
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

// client returns the user's Kubernetes client, built from the kubeconfig the user has now.
func (r *Runner) client(ctx context.Context, userID string, tok memoToken) (*k8s.Client, error) {
	cfg, err := r.setting(ctx, userID, fsa.ConfigKubeconfig, tok)
	if errors.Is(err, fsa.ErrNotFound) {
		return nil, &permanentError{"NoKubeconfig", fmt.Errorf("user %s has no kubeconfig: %w", userID, k8s.ErrNoKubeconfig)}
	}
	if err != nil {
		return nil, err
	}
	return r.cfg.Clients.Get(userID, []byte(cfg.Value))
}

// place returns the client and the informers (started if needed) of where the child's objects
// live: the namespace and API server recorded on the child, with the user's current
// credentials. A child not placed yet is placed first, where the user's kubeconfig points now:
// the placement is recorded before any write (errRequeue: sync again), so a kubeconfig changed
// later never moves, orphans or misdirects the deletion of its objects. A project's children
// live together: one placed after a sibling takes the sibling's placement. A child placed on
// another API server than the kubeconfig's cannot be reached (ClusterChanged) until the user
// sets a kubeconfig for that server again; deleting it completes without reaching it
// (leftBehindError), its objects recorded as kept. One to be deleted that was never placed (written, if
// ever, by an fsad that did not record placements) is looked for where the kubeconfig points.
func (r *Runner) place(ctx context.Context, userID string, it item, p *fsa.Project, ch *fsa.Child, kc *k8s.Client) (*k8s.Client, *userInformers, error) {
	if !ch.Placed() {
		if ch.Desired == fsa.StatusTerminated {
			return r.informersOf(ctx, userID, kc)
		}
		ns, server := kc.Namespace, kc.Server
		for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
			if o := p.Child(k); o != nil && o.Common().Placed() {
				ns, server = o.Common().Namespace, o.Common().Server
				break
			}
		}
		if _, err := r.record(ctx, it, ch.ID, fsa.Observation{Version: ch.Version, Status: ch.Status, Reason: ch.Reason,
			Namespace: ns, Server: server}); err != nil {
			return nil, nil, err
		}
		return nil, nil, errRequeue
	}
	if ch.Server != kc.Server && ch.Desired == fsa.StatusTerminated {
		return nil, nil, &leftBehindError{fmt.Sprintf("%s %s is left in namespace %s on the API server %s, which the owner's kubeconfig no longer points at",
			it.kind, ch.ID, ch.Namespace, ch.Server)}
	}
	if ch.Server != kc.Server {
		return nil, nil, &permanentError{fsa.ReasonClusterChanged, fmt.Errorf(
			"%s %s lives in namespace %s on the API server %s, but the owner's kubeconfig now points at %s: set a kubeconfig for %s again to manage it: %w",
			it.kind, ch.ID, ch.Namespace, ch.Server, kc.Server, ch.Server, k8s.ErrInvalidKubeconfig)}
	}
	return r.informersOf(ctx, userID, kc.InNamespace(ch.Namespace))
}

// informersOf returns c and the user's informers on c's namespace, started if needed. The
// KubeBlocks generation decides which Clusters they watch; the client keeps the discovered
// answer, so this asks the API server rarely (k8s.Client.KubeBlocksAPI).
func (r *Runner) informersOf(ctx context.Context, userID string, c *k8s.Client) (*k8s.Client, *userInformers, error) {
	kb, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c, r.informers.ensure(userID, c, kb), nil
}

// observeLag records the time from a recorded intent to the first Kubernetes write carrying it
// out: once per intent (the child's UpdatedAt), however many syncs it takes. An intent is a
// transitional status the API recorded, without a reason; reconcile's own transitional
// observations (STARTING "Applied") have one.
func (r *Runner) observeLag(it item, c *fsa.Child) {
	if !c.Status.Transitional() || c.Reason != "" || c.UpdatedAt.IsZero() {
		return
	}
	r.mu.Lock()
	seen := r.lagSeen[it].Equal(c.UpdatedAt)
	r.lagSeen[it] = c.UpdatedAt
	r.mu.Unlock()
	if !seen {
		r.m.lag.WithLabelValues(string(it.kind)).Observe(time.Since(c.UpdatedAt).Seconds())
	}
}

// write runs one Kubernetes write for the child of req, fn with ctx: it confirms the fencing
// token first, records the intent's lag and counts the call.
func (r *Runner) write(ctx context.Context, req request, op string, fn func(context.Context) error) error {
	if err := r.checkFence(ctx); err != nil {
		return err
	}
	if h := testHookAfterFenceCheck.Load(); h != nil {
		ctx = (*h)(ctx, r.cfg.Fence, req.kind, op)
	}
	r.observeLag(req.item, req.child)
	r.m.k8sWrites.WithLabelValues(string(req.kind), op).Inc()
	err := fn(ctx)
	if h := testHookAfterWrite.Load(); h != nil {
		(*h)(r.cfg.Fence, req.kind, op, err)
	}
	return err
}

// Test hooks, set only by this package's tests (export_test.go) and by the test build of fsad
// (testhook_fsadtest.go, build tag fsadtest); nil in production, where an atomic load per write
// is all they cost. testHookAfterFenceCheck runs between the fencing check and the write, where a
// test pauses a leader as a GC pause, SIGSTOP or a stalled VM would, and returns the context the
// write runs with; testHookAfterWrite sees each write's result.
var (
	testHookAfterFenceCheck atomic.Pointer[func(ctx context.Context, fence uint64, kind fsa.ResourceKind, op string) context.Context]
	testHookAfterWrite      atomic.Pointer[func(fence uint64, kind fsa.ResourceKind, op string, err error)]
)

// leftBehindError says that a child to be deleted lives on an API server its owner's kubeconfig
// no longer points at: nothing can delete it from here.
type leftBehindError struct{ msg string }

func (e *leftBehindError) Error() string { return e.msg }
