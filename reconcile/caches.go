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
	// places are the placements the caches know of, per user: where their children live.
	places map[string]map[placement]struct{}
	ran    bool
}

// placement is a namespace on an API server, as recorded on a child (fsa.Child.Namespace).
type placement struct{ namespace, server string }

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
	c := &Caches{cfg: cfg, log: log, in: newInformers(log, cfg.Network), places: map[string]map[placement]struct{}{}}
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
// somewhere new starts that namespace's caches, a user's new kubeconfig restarts theirs with it.
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
		var todo []userPlacement
		for _, p := range list.Items {
			for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
				if o := p.Child(k); o != nil {
					if up, ok := c.learn(o.Common()); ok {
						todo = append(todo, up)
					}
				}
			}
		}
		c.warmAll(ctx, todo)
		c.log.Info("caches warm", "namespaces", len(todo), "projects", len(list.Items), "took", time.Since(start).Round(time.Millisecond))
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

// userPlacement is one user's placement to warm.
type userPlacement struct {
	user string
	placement
}

// learn records the placement of child ch, and reports it when it is new: placed, not gone.
func (c *Caches) learn(ch *fsa.Child) (userPlacement, bool) {
	if !ch.Placed() || ch.Status == fsa.StatusTerminated {
		return userPlacement{}, false
	}
	pl := placement{ch.Namespace, ch.Server}
	c.mu.Lock()
	defer c.mu.Unlock()
	byUser := c.places[ch.UserID]
	if byUser == nil {
		byUser = map[placement]struct{}{}
		c.places[ch.UserID] = byUser
	}
	if _, ok := byUser[pl]; ok {
		return userPlacement{}, false
	}
	byUser[pl] = struct{}{}
	return userPlacement{ch.UserID, pl}, true
}

func (c *Caches) onChange(ctx context.Context, ch fsa.ResourceChange) {
	if o := ch.Child(ch.Kind); o != nil && !ch.Deleted {
		if up, ok := c.learn(o.Common()); ok {
			c.warm(ctx, up)
		}
		return
	}
	if ch.Kind == fsa.ResourceConfig && ch.Config != nil && ch.Config.Key == fsa.ConfigKubeconfig {
		// New credentials: the user's caches start again with them (informers.ensure).
		c.mu.Lock()
		var todo []userPlacement
		for pl := range c.places[ch.Config.UserID] {
			todo = append(todo, userPlacement{ch.Config.UserID, pl})
		}
		c.mu.Unlock()
		c.warmAll(ctx, todo)
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
