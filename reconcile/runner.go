package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// Config configures a Runner.
type Config struct {
	// Client is the SDK over the store to reconcile. Required.
	Client *fsa.Client
	// Fence is the fencing token (the leader's epoch). Required.
	Fence uint64
	// Domain is the parent domain of every sandbox's ingress hosts. Required.
	Domain string
	// Scheme of the recorded app and terminal URLs; "https" by default.
	Scheme string
	// TLSSecretName and IngressClassName are passed to the sandbox Ingresses.
	TLSSecretName, IngressClassName string
	// RuntimeImage is the sandboxes' image (k8s.RuntimeImage when empty).
	RuntimeImage string
	// Network, when set, is the NetworkPolicy written with every sandbox (its DatabaseName is
	// filled in per project). The users' Kubernetes permissions must then include
	// networking.k8s.io networkpolicies.
	Network *k8s.NetworkSpec
	// DefaultAnthropicAuthToken and DefaultAnthropicBaseURL are the platform's Anthropic
	// credentials, given to the sandboxes of users who have no key of their own (a user's key,
	// and a user's base URL, win). Secret: the token goes into the sandbox's Secret only.
	DefaultAnthropicAuthToken, DefaultAnthropicBaseURL string
	// Clients caches per-user Kubernetes clients; a new cache when nil (Caches' when set).
	Clients *k8s.Clients
	// Caches, when set, are the informer caches the runner reads and watches, which outlive
	// it: kept warm on every node of a daemon, they are synced when the node is elected, and
	// the runner's first pass does not wait for the API server to list every object again.
	// They must have been made with the same Clients and Network (NewCaches), and be running
	// (Caches.Run) while the runner is. When nil the runner starts its own and stops them when
	// Run returns.
	Caches *Caches
	// Workers bounds concurrent syncs (16 by default). A sync mostly waits on the API server
	// and the store, so more workers than cores pay off: see BENCH.md.
	Workers int
	// Resync is the period of the safety-net full resync (5 minutes by default).
	Resync time.Duration
	// MaxBackoff caps the retry delay of a failing item (30 s by default); BaseBackoff is the
	// first delay (100 ms by default).
	BaseBackoff, MaxBackoff time.Duration
	// RetryRate bounds the retries of failing items across the whole runner, per second (50 by
	// default, with bursts of ten times that): when many projects fail at once (a user's
	// cluster down, a mass of bad kubeconfigs) their retries queue behind each other instead
	// of spending the leader's CPU and store reads on syncs that fail again. Each item still
	// waits at least its own exponential backoff.
	RetryRate float64
	// ErrorAfter is how many consecutive failures of a transient kind it takes to record ERROR
	// (3 by default). Permanent failures (no kubeconfig, forbidden, invalid spec) record ERROR at
	// once.
	ErrorAfter int
	// Registerer receives the runner's metrics; none when nil.
	Registerer prometheus.Registerer
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Runner runs the reconcile loops. Create it with New and call Run once.
type Runner struct {
	cfg Config
	c   *fsa.Client
	log *slog.Logger
	q   *fairQueue
	m   *metrics
	// recs are the reconcilers, one per kind of child, in the order children are queued.
	recs      []reconciler
	byKind    map[fsa.ResourceKind]reconciler
	informers *informers
	// ownInformers: the runner started its informers (no Config.Caches) and stops them.
	ownInformers bool
	// memo remembers the children found up to date (memo.go).
	memo *upToDate
	// userSettings keeps the users' settings between syncs (settingsCache).
	userSettings *settingsCache

	mu    sync.Mutex
	names map[string]map[string]string // user → resource name → project id
	// known is every child the runner knows of (from listings and the change feed), with its
	// owner: what a resync queues, without reading the store.
	known map[item]string
	// lagSeen is, per item, the intent (its UpdatedAt) whose lag was last observed.
	lagSeen map[item]time.Time
	// fenced is set once the store says our token is stale.
	fenced chan struct{}
	once   sync.Once
	// started is when Run began; unsynced holds the items of the first listing that have not
	// synced successfully yet (nil before that listing and once all have: see initialSync).
	started  time.Time
	listed   bool
	unsynced map[item]struct{}
	// listedProjects holds, per item of the first listing, its project as listed: the item's
	// first sync starts from it instead of reading the project again, unless the feed has
	// changed the project since (see listedProject). A new leader syncs every child at once;
	// this took its first pass from 1 to 0.64–0.85 of the CPU in reconcile/BENCH.md.
	listedProjects map[item]*fsa.Project
	keepListed     bool // false in benchmarks' baselines only (noListedProjects)
}

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Client == nil {
		return nil, errors.New("reconcile: Config.Client is required")
	}
	if cfg.Fence == 0 {
		return nil, errors.New("reconcile: Config.Fence is required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("reconcile: Config.Domain is required")
	}
	if cfg.RuntimeImage == "" {
		cfg.RuntimeImage = k8s.RuntimeImage
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "https"
	}
	if c := cfg.Caches; c != nil {
		if cfg.Clients != nil && cfg.Clients != c.cfg.Clients {
			return nil, errors.New("reconcile: Config.Clients must be the Clients of Config.Caches")
		}
		if (cfg.Network != nil) != c.cfg.Network {
			return nil, errors.New("reconcile: Config.Network and Config.Caches' Network must agree")
		}
		cfg.Clients = c.cfg.Clients
	}
	if cfg.Clients == nil {
		cfg.Clients = k8s.NewClients()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Minute
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.RetryRate <= 0 {
		cfg.RetryRate = 50
	}
	if cfg.ErrorAfter <= 0 {
		cfg.ErrorAfter = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{
		cfg:     cfg,
		c:       cfg.Client,
		log:     cfg.Logger.With("component", "reconcile", "fence", cfg.Fence),
		q:       newFairQueue(backoff(cfg.BaseBackoff, cfg.MaxBackoff, cfg.RetryRate)),
		names:   map[string]map[string]string{},
		known:   map[item]string{},
		lagSeen: map[item]time.Time{},
		fenced:  make(chan struct{}),
		// An entry lives ten resyncs at most: what the versions it rests on could miss is
		// checked again that often.
		memo:         newUpToDate(10*cfg.Resync, time.Now),
		userSettings: newSettingsCache(10*cfg.Resync, time.Now),
		keepListed:   !baseline.Load() && !noListedProjects.Load(),
	}
	m, err := newMetrics(cfg.Registerer, func() float64 { return float64(r.q.Len()) })
	if err != nil {
		return nil, fmt.Errorf("reconcile: register metrics: %w", err)
	}
	r.m = m
	r.recs, r.byKind = []reconciler{newSandboxes(r), &databases{r: r}}, map[fsa.ResourceKind]reconciler{}
	for _, rec := range r.recs {
		r.byKind[rec.kind()] = rec
	}
	if cfg.Caches != nil {
		r.informers = cfg.Caches.in
	} else {
		r.informers, r.ownInformers = newInformers(r.log, cfg.Network != nil), true
	}
	return r, nil
}

// Run reconciles until ctx ends (returning nil) or the fencing token is found stale (returning
// an error wrapping fsa.ErrFenced). Every goroutine it starts has stopped when it returns.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	r.started = time.Now()
	r.mu.Unlock()
	r.log.Info("reconcile starting", "workers", r.cfg.Workers, "resync", r.cfg.Resync)

	detach := r.informers.attach(&sink{onEvent: r.onKubeEvent, requeue: func(user string, it item, l lane) { r.q.AddIn(l, user, it) }})
	var wg sync.WaitGroup
	defer func() {
		cancel()
		detach()
		r.q.ShutDown()
		if r.ownInformers {
			r.informers.stopAll()
		}
		wg.Wait()
		r.log.Info("reconcile stopped")
	}()

	feedErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		feedErr <- r.followFeed(ctx)
	}()
	for i := 0; i < r.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.work(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.Resync)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Every child the runner knows of, from memory; every tenth time from a listing
				// of the store, in case the feed ever missed one.
				if n%listEvery != 0 && !baseline.Load() {
					r.enqueueKnown()
				} else if err := r.enqueueAll(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("resync failed", "err", err)
				}
			}
		}
	}()

	select {
	case <-ctx.Done():
		return nil
	case <-r.fenced:
		return fmt.Errorf("reconcile: fencing token %d is stale: %w", r.cfg.Fence, fsa.ErrFenced)
	case err := <-feedErr:
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, fsa.ErrFenced) {
			return fmt.Errorf("reconcile: fencing token %d is stale: %w", r.cfg.Fence, err)
		}
		return fmt.Errorf("reconcile: change feed: %w", err)
	}
}

// listEvery is how many resyncs it takes for one to list the store instead of queueing the
// children the runner knows of.
const listEvery = 10

// enqueueKnown queues every child the runner knows of in the resync lane.
func (r *Runner) enqueueKnown() {
	r.mu.Lock()
	items := make(map[item]string, len(r.known))
	for it, user := range r.known {
		items[it] = user
	}
	r.mu.Unlock()
	for it, user := range items {
		r.q.AddIn(laneResync, user, it)
	}
}

// markFenced stops the runner: another leader took over.
func (r *Runner) markFenced() { r.once.Do(func() { close(r.fenced) }) }

// followFeed lists every project, queues it, and follows the change feed from the listed
// revision; when the feed says the revision was compacted it lists again.
func (r *Runner) followFeed(ctx context.Context) error {
	for {
		rev, err := r.enqueueAllAt(ctx)
		if err != nil {
			return err
		}
		w, err := r.c.Watch(ctx, "", rev)
		if err != nil {
			if errors.Is(err, store.ErrCompacted) {
				continue
			}
			return err
		}
		for {
			ev, err := w.Next()
			if errors.Is(err, store.ErrCompacted) {
				r.log.Info("change feed compacted; listing again", "after", w.Revision())
				r.forgetListed()
				break
			}
			if err != nil {
				return err
			}
			for _, ch := range ev.Changes {
				r.onStoreChange(ctx, ch)
			}
		}
	}
}

func (r *Runner) onStoreChange(ctx context.Context, ch fsa.ResourceChange) {
	r.countChange(ch)
	if o := ch.Child(ch.Kind); o != nil {
		c := o.Common()
		if ch.Deleted {
			r.forgetName(c.UserID, o.ResourceName())
			r.forgetItem(item{ch.Kind, c.ProjectID})
			return
		}
		r.remember(c.UserID, o.ResourceName(), c.ProjectID)
		r.rememberItem(c.UserID, item{ch.Kind, c.ProjectID})
		r.q.Add(c.UserID, item{ch.Kind, c.ProjectID})
		r.follow(c.UserID, c.ProjectID, ch.Kind, c.Status)
		return
	}
	switch ch.Kind {
	case fsa.ResourceProject:
		if ch.Deleted && ch.Project != nil {
			for _, rec := range r.recs {
				r.forgetItem(item{rec.kind(), ch.Project.ID})
			}
		}
	case fsa.ResourceEnv:
		if !ch.Deleted || ch.Env.ProjectID != "" {
			r.follow(ch.Env.UserID, ch.Env.ProjectID, fsa.ResourceEnv, "")
		}
	case fsa.ResourceConfig:
		// A new kubeconfig or Anthropic key touches every project of the user.
		list, err := r.c.ListProjects(ctx, ch.Config.UserID)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("list projects after config change", "user", ch.Config.UserID, "err", err)
			}
			return
		}
		for _, p := range list.Items {
			r.enqueueProject(laneIntent, p)
		}
	}
}

// countChange counts ch for the children it may concern (upToDate): a change of a project, a
// child or a variable concerns the project's children, one of a user's settings all of theirs.
// What this cannot attribute concerns every child.
func (r *Runner) countChange(ch fsa.ResourceChange) {
	switch {
	case ch.Child(ch.Kind) != nil:
		c := ch.Child(ch.Kind).Common()
		r.memo.projectChanged(c.ProjectID, false)
		r.projectMoved(c.ProjectID)
	case ch.Kind == fsa.ResourceProject && ch.Project != nil:
		var kinds []item
		if ch.Deleted {
			for _, rec := range r.recs {
				kinds = append(kinds, item{rec.kind(), ch.Project.ID})
			}
		}
		r.memo.projectChanged(ch.Project.ID, ch.Deleted, kinds...)
		r.projectMoved(ch.Project.ID)
	case ch.Kind == fsa.ResourceEnv && ch.Env != nil && ch.Env.ProjectID != "":
		r.memo.projectChanged(ch.Env.ProjectID, false)
		r.projectMoved(ch.Env.ProjectID)
	case ch.Kind == fsa.ResourceEnv && ch.Env != nil:
		r.memo.userChanged(ch.Env.UserID)
	case ch.Kind == fsa.ResourceConfig && ch.Config != nil:
		r.memo.userChanged(ch.Config.UserID)
	default:
		r.forgetListed()
	}
}

// forgetListed forgets what rests on the feed's completeness: the children remembered as up to
// date and the projects kept from the first listing.
func (r *Runner) forgetListed() {
	r.memo.listed()
	r.mu.Lock()
	r.listedProjects = nil
	r.mu.Unlock()
}

// projectMoved drops the listed copy of a project the feed has changed since the listing.
func (r *Runner) projectMoved(project string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.listedProjects) == 0 {
		return
	}
	for _, rec := range r.recs {
		delete(r.listedProjects, item{rec.kind(), project})
	}
}

// listedProject returns the project of it as the first listing found it, if the feed has not
// changed the project since. The item's first sync then works from the listing's revision, as a
// sync that read the store just before a later change would: that change's event, when it
// arrives, counts against what the sync remembers and queues what it concerns, as then. The
// copy is kept until a sync has used it (dropListed): a first attempt that only waits for the
// user's caches leaves it to the attempt after the wait.
func (r *Runner) listedProject(it item) *fsa.Project {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listedProjects[it]
}

// dropListed forgets the listed copy of it's project once a sync has used it.
func (r *Runner) dropListed(it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.listedProjects, it)
}

func (r *Runner) enqueueAll(ctx context.Context) error {
	_, err := r.enqueueAllAt(ctx)
	return err
}

func (r *Runner) enqueueAllAt(ctx context.Context) (int64, error) {
	list, err := r.c.ListAllProjects(ctx)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	if !r.listed {
		// The first listing: what this runner took over. Tracked before anything is queued, so
		// no sync can finish before its item is tracked.
		r.listed = true
		r.unsynced = map[item]struct{}{}
		keep := r.keepListed
		if keep {
			r.listedProjects = map[item]*fsa.Project{}
		}
		for _, p := range list.Items {
			for _, rec := range r.recs {
				if p.Child(rec.kind()) != nil {
					it := item{rec.kind(), p.ID}
					r.unsynced[it] = struct{}{}
					if keep {
						r.listedProjects[it] = p
					}
				}
			}
		}
		r.checkInitialSyncLocked()
	}
	r.mu.Unlock()
	for _, p := range list.Items {
		r.enqueueProject(laneResync, p)
	}
	return list.Revision, nil
}

// synced notes that it synced successfully, for the initial sync.
func (r *Runner) synced(it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unsynced != nil {
		delete(r.unsynced, it)
		r.checkInitialSyncLocked()
	}
}

// checkInitialSyncLocked records the initial sync's duration once every item of the first
// listing has synced.
func (r *Runner) checkInitialSyncLocked() {
	if len(r.unsynced) > 0 {
		return
	}
	r.unsynced = nil
	d := time.Since(r.started)
	r.m.initialSync.Set(d.Seconds())
	r.log.Info("initial sync done: every listed sandbox and database synced", "after", d)
}

func (r *Runner) enqueueProject(l lane, p *fsa.Project) {
	for _, rec := range r.recs {
		if o := p.Child(rec.kind()); o != nil {
			r.remember(p.UserID, o.ResourceName(), p.ID)
			r.rememberItem(p.UserID, item{rec.kind(), p.ID})
			r.q.AddIn(l, p.UserID, item{rec.kind(), p.ID})
		}
	}
}

// follow queues the children of a project that follow a change of its child of kind k (now in
// status st) or of its environment (see reconciler.follows).
func (r *Runner) follow(user, project string, k fsa.ResourceKind, st fsa.Status) {
	for _, rec := range r.recs {
		if rec.kind() != k && rec.follows(k, st) {
			r.q.Add(user, item{rec.kind(), project})
		}
	}
}

func (r *Runner) remember(user, name, project string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.names[user]
	if m == nil {
		m = map[string]string{}
		r.names[user] = m
	}
	m[name] = project
}

func (r *Runner) rememberItem(user string, it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[it] = user
}

func (r *Runner) forgetItem(it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.known, it)
}

func (r *Runner) forgetName(user, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.names[user], name)
}

// onKubeEvent maps an object event from a user's informer to the work item it concerns, queued
// in lane l.
func (r *Runner) onKubeEvent(user string, k fsa.ResourceKind, name string, l lane) {
	r.mu.Lock()
	project, ok := r.names[user][name]
	r.mu.Unlock()
	if ok {
		r.q.AddIn(l, user, item{k, project})
	}
}

// work processes one item; false when the queue shut down.
func (r *Runner) work(ctx context.Context) bool {
	user, it, ok := r.q.Get()
	if !ok {
		return false
	}
	defer r.q.Done(it)
	start := time.Now()
	err := r.sync(ctx, user, it)
	r.m.duration.WithLabelValues(string(it.kind)).Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		r.q.Forget(it)
		r.synced(it)
	case errors.Is(err, fsa.ErrFenced):
		r.markFenced()
	case ctx.Err() != nil:
	case errors.Is(err, errRequeue):
		r.q.Add(user, it)
	case errors.Is(err, errWaitCaches):
		// Queued again by the user's informers once their caches have synced.
		r.m.cacheWaits.WithLabelValues(string(it.kind)).Inc()
	default:
		r.m.errors.WithLabelValues(string(it.kind)).Inc()
		r.log.Warn("sync failed; retrying with backoff", "kind", it.kind, "project", it.project, "err", err, "failures", r.q.Failures(it)+1)
		r.q.AddRateLimited(user, it)
	}
	return true
}

// backoff spaces the looks at items: exponentially per item from base up to max, and no more
// than perSecond a second over all items (with bursts of ten times that).
func backoff(base, max time.Duration, perSecond float64) workqueue.TypedRateLimiter[item] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[item](base, max),
		&workqueue.TypedBucketRateLimiter[item]{Limiter: rate.NewLimiter(rate.Limit(perSecond), int(perSecond*10))},
	)
}
