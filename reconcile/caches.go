package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// CachesConfig configures Caches.
type CachesConfig struct {
	// Client is the SDK over the store whose children's objects are cached. Required.
	Client *fsa.Client
	// Clients caches per-user Kubernetes clients; a new cache when nil. The runners that use
	// these caches must use the same (Config.Clients).
	Clients *k8s.Clients
	// Network is whether the runners write NetworkPolicies (Config.Network set): then they are
	// watched too.
	Network bool
	// Registerer receives the caches' metrics; none when nil.
	Registerer prometheus.Registerer
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Caches are the informer caches of the users' Kubernetes objects, apart from any Runner so
// that they outlive it. A runner that is given them (Config.Caches) reads and watches them as it
// would its own; Run keeps them warm meanwhile, on any node: it follows the store and starts the
// caches of every namespace a child was placed in, with its owner's credentials, before a
// runner needs them. A daemon runs them on every node, followers too (they only read, from the
// node's own state and the users' API servers, so they need no fencing token), and a newly
// elected leader's runner then starts with its caches synced: its first pass is the syncs, not
// the API servers' lists of every object. The cost is the caches' memory and watches on every
// node instead of on the leader alone.
type Caches struct {
	cfg CachesConfig
	log *slog.Logger
	in  *informers

	mu sync.Mutex
	// children holds where each child that is placed and not gone lives, and counts how many
	// live in each placement: a placement's caches start with its first child and stop with
	// its last, so a long-running node keeps no watches on namespaces nothing lives in.
	children map[childKey]userPlacement
	counts   map[userPlacement]int
	ran      bool
}

// placement is a namespace on an API server, as recorded on a child (fsa.Child.Namespace).
type placement struct{ namespace, server string }

// userPlacement is one user's placement.
type userPlacement struct {
	user string
	placement
}

// childKey names a child.
type childKey struct {
	kind fsa.ResourceKind
	id   string
}

// NewCaches checks cfg and returns Caches; call Run to keep them warm.
func NewCaches(cfg CachesConfig) (*Caches, error) {
	if cfg.Client == nil {
		return nil, errors.New("reconcile: CachesConfig.Client is required")
	}
	if cfg.Clients == nil {
		cfg.Clients = k8s.NewClients()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "caches")
	c := &Caches{cfg: cfg, log: log, in: newInformers(log, cfg.Network), children: map[childKey]userPlacement{}, counts: map[userPlacement]int{}}
	if cfg.Registerer != nil {
		count := func(synced bool) float64 {
			c.in.mu.Lock()
			defer c.in.mu.Unlock()
			n := 0
			for _, byNS := range c.in.users {
				for _, ui := range byNS {
					if !synced || ui.isSettled() {
						n++
					}
				}
			}
			return float64(n)
		}
		for _, g := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fsa", Subsystem: "reconcile", Name: "cache_namespaces",
				Help: "Users' namespaces whose objects the shared informer caches watch."}, func() float64 { return count(false) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fsa", Subsystem: "reconcile", Name: "cache_namespaces_synced",
				Help: "Users' namespaces whose shared informer caches have synced (or stopped waiting to)."}, func() float64 { return count(true) }),
		} {
			if err := cfg.Registerer.Register(g); err != nil {
				return nil, fmt.Errorf("reconcile: register cache metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Run keeps the caches warm until ctx ends, then stops them for good (a runner still using them
// reads the API server from then on) and returns nil. Call it once.
//
// It reads this node's local state (fsa.WithNodeLocalRead): a follower's may lag, and then its
// caches start a little later. It lists every project once, starts the caches of every
// placement of a child that is not gone, and then follows the change feed: a child placed
// somewhere new starts that namespace's caches, the last child gone from a namespace stops
// them, and a user's new kubeconfig restarts theirs with it.
// A placement whose caches cannot start (no kubeconfig, an API server away) is logged and tried
// again on the user's next kubeconfig; the leader's runner reports such children's errors.
func (c *Caches) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return errors.New("reconcile: Caches.Run called twice")
	}
	c.ran = true
	c.mu.Unlock()
	defer c.in.stopAll()
	ctx = fsa.WithNodeLocalRead(ctx)
	for {
		err := c.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("keeping the caches warm failed; starting over", "err", err, "after", cachesRetry)
		t := time.NewTimer(cachesRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// cachesRetry is the pause before Run lists the store again after a failure.
const cachesRetry = 5 * time.Second

// warmTimeout bounds the start of one placement's caches (discovery of the KubeBlocks API).
const warmTimeout = 10 * time.Second

// follow lists the store, warms every placement and follows the feed, listing again when it is
// compacted; it returns on any other error.
func (c *Caches) follow(ctx context.Context) error {
	for {
		start := time.Now()
		list, err := c.cfg.Client.ListAllProjects(ctx)
		if err != nil {
			return fmt.Errorf("list projects: %w", err)
		}
		children := map[childKey]userPlacement{}
		for _, p := range list.Items {
			for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
				if o := p.Child(k); o != nil && live(o.Common()) {
					children[childKey{k, o.Common().ID}] = placeOf(o.Common())
				}
			}
		}
		started, stopped := c.reset(children)
		c.stop(stopped)
		c.warmAll(ctx, started)
		c.log.Info("caches warm", "namespaces", len(c.placements()), "started", len(started), "stopped", len(stopped),
			"projects", len(list.Items), "took", time.Since(start).Round(time.Millisecond))
		w, err := c.cfg.Client.Watch(ctx, "", list.Revision)
		if errors.Is(err, store.ErrCompacted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("watch the store: %w", err)
		}
		for {
			ev, err := w.Next()
			if errors.Is(err, store.ErrCompacted) {
				break
			}
			if err != nil {
				return fmt.Errorf("change feed: %w", err)
			}
			for _, ch := range ev.Changes {
				c.onChange(ctx, ch)
			}
		}
	}
}

// live reports whether a child's objects need watching: placed, and not gone.
func live(ch *fsa.Child) bool { return ch.Placed() && ch.Status != fsa.StatusTerminated }

func placeOf(ch *fsa.Child) userPlacement {
	return userPlacement{ch.UserID, placement{ch.Namespace, ch.Server}}
}

// reset makes children (from a listing) what the caches know of, and returns the placements
// that gained their first child and those that lost their last.
func (c *Caches) reset(children map[childKey]userPlacement) (started, stopped []userPlacement) {
	counts := map[userPlacement]int{}
	for _, up := range children {
		counts[up]++
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for up := range counts {
		if c.counts[up] == 0 {
			started = append(started, up)
		}
	}
	for up := range c.counts {
		if counts[up] == 0 {
			stopped = append(stopped, up)
		}
	}
	c.children, c.counts = children, counts
	return started, stopped
}

// update records child k as now (nil: deleted), and returns the placement that gained its first
// child and the one that lost its last, if any.
func (c *Caches) update(k childKey, now *fsa.Child) (started, stopped *userPlacement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.children[k]
	var up userPlacement
	isLive := now != nil && live(now)
	if isLive {
		up = placeOf(now)
		if had && old == up {
			return nil, nil
		}
	}
	if had {
		delete(c.children, k)
		if c.counts[old]--; c.counts[old] == 0 {
			delete(c.counts, old)
			stopped = &old
		}
	}
	if isLive {
		c.children[k] = up
		if c.counts[up]++; c.counts[up] == 1 {
			started = &up
		}
	}
	return started, stopped
}

// placements returns every placement with a child.
func (c *Caches) placements() []userPlacement {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]userPlacement, 0, len(c.counts))
	for up := range c.counts {
		out = append(out, up)
	}
	return out
}

func (c *Caches) onChange(ctx context.Context, ch fsa.ResourceChange) {
	if o := ch.Child(ch.Kind); o != nil {
		now := o.Common()
		if ch.Deleted {
			now = nil
		}
		started, stopped := c.update(childKey{ch.Kind, o.Common().ID}, now)
		if stopped != nil {
			c.stop([]userPlacement{*stopped})
		}
		if started != nil {
			c.warm(ctx, *started)
		}
		return
	}
	if ch.Kind == fsa.ResourceConfig && ch.Config != nil && ch.Config.Key == fsa.ConfigKubeconfig {
		// New credentials: the user's caches start again with them (informers.ensure).
		var todo []userPlacement
		for _, up := range c.placements() {
			if up.user == ch.Config.UserID {
				todo = append(todo, up)
			}
		}
		c.warmAll(ctx, todo)
	}
}

// stop stops the caches of placements nothing lives in any more. A runner that syncs a child
// there again (one being deleted) starts them again.
func (c *Caches) stop(ups []userPlacement) {
	for _, up := range ups {
		c.in.forget(up.user, up.namespace)
	}
}

// warmAll warms the placements, a few at a time: one API server that does not answer holds up
// one of them for warmTimeout, not the others.
func (c *Caches) warmAll(ctx context.Context, todo []userPlacement) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, up := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.warm(ctx, up)
		}()
	}
	wg.Wait()
}

// warm starts the caches of one placement, with the user's credentials as this node's state
// has them, as a runner's sync of a child there would (Runner.place).
func (c *Caches) warm(ctx context.Context, up userPlacement) {
	err := func() error {
		ctx, cancel := context.WithTimeout(ctx, warmTimeout)
		defer cancel()
		cfgs, err := c.cfg.Client.ListUserConfig(ctx, up.user, true)
		if err != nil {
			return err
		}
		var kubeconfig []byte
		for _, cf := range cfgs {
			if cf.Key == fsa.ConfigKubeconfig {
				kubeconfig = []byte(cf.Value)
			}
		}
		kc, err := c.cfg.Clients.Get(up.user, kubeconfig)
		if err != nil {
			return err
		}
		if kc.Server != up.server {
			return fmt.Errorf("the kubeconfig points at another API server than the children's")
		}
		kc = kc.InNamespace(up.namespace)
		kb, err := kc.KubeBlocksAPI(ctx)
		if err != nil {
			return err
		}
		c.in.ensure(up.user, kc, kb)
		return nil
	}()
	if err != nil && ctx.Err() == nil {
		c.log.Info("caches not started; the leader's syncs will start them", "user", up.user, "namespace", up.namespace, "err", err)
	}
}
