package reconcile

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

// LifecycleConfig configures a Lifecycle loop.
type LifecycleConfig struct {
	// Client is the SDK over the store. Required.
	Client *fsa.Client
	// Fence is the fencing token (the leader's epoch). Required.
	Fence uint64
	// Clock drives the timers (the real clock when nil). The Client's clock (fsa.WithClock)
	// must tell the same time: it judges what is due.
	Clock clock.WithTicker
	// Workers bounds concurrent enforcements (16 by default): when many deadlines fall in the
	// same second, their stops commit side by side.
	Workers int
	// RetryDelay is the wait before a failed enforcement is tried again (1 s by default).
	RetryDelay time.Duration
	// Registerer receives the loop's metrics; none when nil.
	Registerer prometheus.Registerer
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Lifecycle is the leader's loop of the projects' lifecycle policies (idle stop, expiry,
// auto-delete; see fsa.Project.NextDue). It keeps one timer per project with a policy due
// (client-go's delaying queue: one heap, one timer), built from a listing when it starts and
// kept by the change feed: nothing is read or written while nothing is due and nothing
// changes. A due project is handed to fsa.Client.EnforceLifecycle under the fence, which
// re-checks the deadline in its transaction: a timer that fires for a deadline moved since
// (activity) writes nothing and is set again, and a stop made by an earlier leader is not made
// twice. A new leader starts a new loop: deadlines passed meanwhile are due at once.
type Lifecycle struct {
	cfg LifecycleConfig
	c   *fsa.Client
	clk clock.WithTicker
	log *slog.Logger
	q   workqueue.TypedDelayingInterface[due]

	actions *prometheus.CounterVec
	checks  prometheus.Counter
	lists   prometheus.Counter
	timers  prometheus.Counter
	lag     prometheus.Histogram

	fenced chan struct{}
	once   sync.Once
}

// NewLifecycle checks cfg and returns a Lifecycle loop.
func NewLifecycle(cfg LifecycleConfig) (*Lifecycle, error) {
	if cfg.Client == nil {
		return nil, errors.New("reconcile: LifecycleConfig.Client is required")
	}
	if cfg.Fence == 0 {
		return nil, errors.New("reconcile: LifecycleConfig.Fence is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Lifecycle{
		cfg:    cfg,
		c:      cfg.Client,
		clk:    cfg.Clock,
		log:    cfg.Logger.With("component", "lifecycle", "fence", cfg.Fence),
		fenced: make(chan struct{}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fsa_lifecycle_actions_total",
			Help: "Projects stopped or deleted by a lifecycle policy, by reason."}, []string{"reason"}),
		checks: prometheus.NewCounter(prometheus.CounterOpts{Name: "fsa_lifecycle_checks_total",
			Help: "Projects looked at by the lifecycle loop (a timer fired or the project changed), acted on or not."}),
		lists: prometheus.NewCounter(prometheus.CounterOpts{Name: "fsa_lifecycle_listings_total",
			Help: "Listings of every project by the lifecycle loop (at start and after the change feed was compacted), timers set."}),
		timers: prometheus.NewCounter(prometheus.CounterOpts{Name: "fsa_lifecycle_timers_set_total",
			Help: "Timers set by the lifecycle loop for a deadline in the future (from a listing or a change)."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fsa_lifecycle_lag_seconds",
			Help:    "Time from a lifecycle deadline to the commit of its action.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{l.actions, l.checks, l.lists, l.timers, l.lag} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("reconcile: register lifecycle metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Run enforces the policies until ctx ends (nil) or the fence is found stale (an error
// wrapping fsa.ErrFenced). Every goroutine it starts has stopped when it returns.
func (l *Lifecycle) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.q = workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[due]{Clock: l.clk})
	var wg sync.WaitGroup
	defer func() {
		cancel()
		l.q.ShutDown()
		wg.Wait()
	}()
	feedErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		feedErr <- l.follow(ctx)
	}()
	// One goroutine takes the due projects off the queue and hands each to the worker of its
	// owner; a worker takes its projects in batches, so that deadlines falling together cost
	// one store write per batch, and no two workers ever charge the same owner's use (which
	// would make their transactions conflict).
	ready := make([]chan due, l.cfg.Workers)
	for i := range ready {
		ready[i] = make(chan due, maxBatch)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, ch := range ready {
				close(ch)
			}
		}()
		for {
			it, shutdown := l.q.Get()
			if shutdown {
				return
			}
			h := fnv.New32a()
			_, _ = h.Write([]byte(it.user))
			ready[h.Sum32()%uint32(len(ready))] <- it
		}
	}()
	for i := range ready {
		wg.Add(1)
		go func(ch <-chan due) {
			defer wg.Done()
			for l.work(ctx, ch) {
			}
		}(ready[i])
	}
	select {
	case <-ctx.Done():
		return nil
	case <-l.fenced:
		return fmt.Errorf("lifecycle: fencing token %d is stale: %w", l.cfg.Fence, fsa.ErrFenced)
	case err := <-feedErr:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("lifecycle: change feed: %w", err)
	}
}

// follow lists every project, sets the timers, and follows the change feed: a change of a
// project or its children is looked at again (its deadline may have moved).
func (l *Lifecycle) follow(ctx context.Context) error {
	for {
		list, err := l.c.ListAllProjects(fsa.WithLeaderLocalRead(ctx))
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if d, ok := p.NextDue(); ok {
				l.schedule(due{p.UserID, p.ID}, d.At)
			}
		}
		l.lists.Inc()
		w, err := l.c.Watch(ctx, "", list.Revision)
		if errors.Is(err, store.ErrCompacted) {
			continue
		}
		if err != nil {
			return err
		}
		for {
			ev, err := w.Next()
			if errors.Is(err, store.ErrCompacted) {
				break
			}
			if err != nil {
				return err
			}
			for _, ch := range ev.Changes {
				if ch.Deleted {
					continue
				}
				switch {
				case ch.Kind == fsa.ResourceProject:
					// The project record carries the policies and the activity: its deadline
					// is known without a read.
					l.changed(ch.Project)
				case ch.Child(ch.Kind) != nil:
					// A child's status changes what is due (stopped: auto-delete; running:
					// idle stop): look at the project.
					c := ch.Child(ch.Kind).Common()
					l.q.Add(due{c.UserID, c.ProjectID})
				}
			}
		}
	}
}

// changed sets the timer of a project whose record changed. A project without children loaded
// is judged by its policies alone: a deadline found is looked at when it comes, with the
// children (EnforceLifecycle reads them).
func (l *Lifecycle) changed(p *fsa.Project) {
	if p.Status == fsa.StatusTerminating || p.Status == fsa.StatusTerminated {
		return
	}
	var at time.Time
	consider := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	lc := &p.Lifecycle
	if t, ok := lc.IdleDeadline(p.CreatedAt); ok {
		consider(t)
	}
	if !lc.ExpireAt.IsZero() {
		consider(lc.ExpireAt)
	}
	if lc.DeleteStoppedAfter > 0 && p.Status == fsa.StatusStopped {
		l.q.Add(due{p.UserID, p.ID}) // when it stopped is in the children's timelines
		return
	}
	if !at.IsZero() {
		l.schedule(due{p.UserID, p.ID}, at)
	}
}

// due is a project with something due, by owner (see Run).
type due struct{ user, project string }

func (l *Lifecycle) schedule(it due, at time.Time) {
	if d := at.Sub(l.clk.Now()); d > 0 {
		l.q.AddAfter(it, d)
		l.timers.Inc()
		return
	}
	l.q.Add(it)
}

// maxBatch bounds the projects one worker enforces in one transaction.
const maxBatch = 64

// work enforces the policies of the next ready project and of the others ready with it (up to
// maxBatch), in one transaction; false once ready is closed.
func (l *Lifecycle) work(ctx context.Context, ready <-chan due) bool {
	it, ok := <-ready
	if !ok {
		return false
	}
	batch := []due{it}
more:
	for len(batch) < maxBatch {
		select {
		case it, ok := <-ready:
			if !ok {
				break more
			}
			batch = append(batch, it)
		default:
			break more
		}
	}
	defer func() {
		for _, it := range batch {
			l.q.Done(it)
		}
	}()
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.project
	}
	ens, err := l.c.EnforceLifecycles(ctx, l.cfg.Fence, ids)
	l.checks.Add(float64(len(batch)))
	switch {
	case err == nil:
		for i, en := range ens {
			if en.Acted {
				l.actions.WithLabelValues(en.Done.Reason).Inc()
				l.lag.Observe(l.clk.Since(en.Done.At).Seconds())
				l.log.Info("lifecycle action", "project", ids[i], "action", en.Done.Action, "reason", en.Done.Reason, "deadline", en.Done.At)
			}
			if en.HasNext {
				l.schedule(batch[i], en.Next.At)
			}
		}
	case errors.Is(err, fsa.ErrFenced):
		l.once.Do(func() { close(l.fenced) })
	case ctx.Err() != nil:
	default:
		l.log.Warn("lifecycle enforcement failed; retrying", "projects", len(batch), "err", err, "after", l.cfg.RetryDelay)
		for _, it := range batch {
			l.q.AddAfter(it, l.cfg.RetryDelay)
		}
	}
	return true
}
