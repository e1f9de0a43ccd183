package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// Labels KubeBlocks puts on a cluster's connection credential Secret.
const (
	labelInstance       = "app.kubernetes.io/instance"
	credentialsSelector = k8s.LabelManagedBy + "=kubeblocks"
)

// informers runs, for each user, informers on the user's namespace, label-selected to the
// objects fsa writes and to the database credentials. They use the user's own credentials, so
// they see exactly what the user may see. Each kind of child says which of them it watches and
// how their events map to its children (watches: watchSandboxes, watchDatabases): an event queues
// the child of that kind whose resource name the object carries. Their caches also serve the syncs: a sync reads the
// observed state from them, and skips the apply when they show the objects already as desired.
type informers struct {
	log     *slog.Logger
	network bool // the sandboxes' NetworkPolicies are watched (Config.Network)
	// sink is where events and the items that waited for a user's caches go: the runner that
	// uses these caches now, if any (attach). Caches that outlive runners (Caches) keep the
	// handlers they registered once; an event while no runner is attached is dropped, since a
	// runner that attaches later syncs every child anyway.
	sink atomic.Pointer[sink]

	mu sync.Mutex
	// users holds one user's informers per namespace: the kubeconfig's, and those of the
	// namespaces the user's older children were placed in (fsa.Child.Namespace).
	users map[string]map[string]*userInformers
	// closed is set once every informer is stopped for good (stopAll): later asks get caches
	// that never sync, so their syncs read the API server.
	closed bool
}

// sink receives the informers' work: onEvent queues the child of kind k named by an event,
// requeue queues again, in its lane, an item whose sync waited for the user's caches
// (userInformers.wait).
type sink struct {
	onEvent func(user string, k fsa.ResourceKind, name string, l lane)
	requeue func(user string, it item, l lane)
}

// attach makes s the receiver of the informers' work until the returned detach.
func (in *informers) attach(s *sink) (detach func()) {
	in.sink.Store(s)
	return func() { in.sink.CompareAndSwap(s, nil) }
}

func (in *informers) event(user string, k fsa.ResourceKind, name string, l lane) {
	if s := in.sink.Load(); s != nil {
		s.onEvent(user, k, name, l)
	}
}

func (in *informers) requeue(user string, it item, l lane) {
	if s := in.sink.Load(); s != nil {
		s.requeue(user, it, l)
	}
}

// userInformers are one user's informer factories: typed and dynamic (custom resources) of the
// objects fsa writes, and of KubeBlocks' credential Secrets. A factory returns the same informer
// for every ask, so a reconciler asks again for those it watches when it reads their caches.
type userInformers struct {
	client             *k8s.Client
	network            bool              // NetworkPolicies are watched (informers.network)
	kb                 k8s.KubeBlocksAPI // the generation of the Cluster informer
	stop               chan struct{}
	typed, credentials kinformers.SharedInformerFactory
	dynamic            dynamicinformer.DynamicSharedInformerFactory

	// Until the caches have synced (or syncGrace passed), a sync waits for them instead of
	// reading every object from the API server: its item is kept in waiting and queued again
	// when they have. A leader that starts, or a user's first project, then costs the informers'
	// lists and watches, not a GET of each object of each child synced meanwhile.
	mu      sync.Mutex
	settled bool // synced, or given up waiting for: syncs go on, from the API server if need be
	waiting []laned
	done    sync.WaitGroup // the goroutine waiting for the caches
}

// syncGrace bounds how long the syncs of a user's children wait for the user's new caches.
// Informers that cannot list (a Role without list, say) never sync: after this, syncs read the
// API server as they always could.
const syncGrace = 15 * time.Second

func newInformers(log *slog.Logger, network bool) *informers {
	return &informers{log: log, network: network, users: map[string]map[string]*userInformers{}}
}

// ensure starts the user's informers on c's namespace, or restarts them when the user's
// credentials changed (a new kubeconfig) or the KubeBlocks API generation their cluster serves
// did (an upgrade), and returns them. New credentials stop the user's informers on every
// namespace: those still needed start again, with them, on the next sync of a child there.
func (in *informers) ensure(user string, c *k8s.Client, kb k8s.KubeBlocksAPI) *userInformers {
	in.mu.Lock()
	defer in.mu.Unlock()
	byNS := in.users[user]
	if byNS == nil {
		byNS = map[string]*userInformers{}
		in.users[user] = byNS
	}
	if cur, ok := byNS[c.Namespace]; ok && cur.client.Clientset == c.Clientset && cur.kb == kb {
		return cur
	}
	for ns, cur := range byNS {
		if cur.client.Clientset != c.Clientset || ns == c.Namespace {
			cur.shutdown()
			delete(byNS, ns)
		}
	}
	trim := k8s.TrimForCache
	if baseline.Load() {
		trim = nil
	}
	typed := func(selector string) kinformers.SharedInformerFactory {
		return kinformers.NewSharedInformerFactoryWithOptions(c.Clientset, 0, kinformers.WithNamespace(c.Namespace),
			kinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
			kinformers.WithTransform(trim))
	}
	ui := &userInformers{client: c, network: in.network, kb: kb, stop: make(chan struct{}), typed: typed(k8s.ManagedSelector), credentials: typed(credentialsSelector),
		dynamic: dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Dynamic, 0, c.Namespace,
			func(o *metav1.ListOptions) { o.LabelSelector = k8s.ManagedSelector })}
	if in.closed {
		// Stopped for good: caches that never sync, read past at once.
		ui.settled = true
		close(ui.stop)
		return ui
	}
	for _, w := range watches {
		k := w.kind
		w.watch(ui, func(name string, l lane) { in.event(user, k, name, l) })
	}
	ui.typed.Start(ui.stop)
	ui.credentials.Start(ui.stop)
	ui.dynamic.Start(ui.stop)
	ui.settled = baseline.Load()
	if !ui.settled {
		ui.done.Add(1)
		go func() {
			defer ui.done.Done()
			ui.awaitSync(user, in.requeue)
		}()
	}
	byNS[c.Namespace] = ui
	in.log.Debug("informers started", "user", user, "namespace", c.Namespace, "kubeblocks", kb)
	return ui
}

// awaitSync waits until the caches have synced, syncGrace has passed or the informers stop,
// then lets syncs go on and queues again the items that waited, whichever of the three came.
func (ui *userInformers) awaitSync(user string, requeue func(string, item, lane)) {
	ctx, cancel := context.WithTimeout(context.Background(), syncGrace)
	defer cancel()
	go func() {
		select {
		case <-ui.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ui.typed.WaitForCacheSync(ctx.Done())
	ui.credentials.WaitForCacheSync(ctx.Done())
	ui.dynamic.WaitForCacheSync(ctx.Done())
	ui.mu.Lock()
	ui.settled = true
	waiting := ui.waiting
	ui.waiting = nil
	ui.mu.Unlock()
	// Also when these informers were stopped (new credentials, a KubeBlocks upgrade): the items
	// then sync with the informers that replaced them. A stopped runner's queue ignores them.
	for _, w := range waiting {
		requeue(user, w.it, w.l)
	}
}

// isSettled reports whether syncs go on without waiting for these caches (synced, or given up
// waiting for).
func (ui *userInformers) isSettled() bool {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	return ui.settled
}

// laned is an item and the lane it was taken from.
type laned struct {
	it item
	l  lane
}

// wait reports whether the sync of it, taken from lane l, must wait for the caches: then it is
// queued again in l when they have synced.
func (ui *userInformers) wait(it item, l lane) bool {
	ui.mu.Lock()
	defer ui.mu.Unlock()
	if ui.settled {
		return false
	}
	ui.waiting = append(ui.waiting, laned{it, l})
	return true
}

// shutdown stops the user's informers and waits for their goroutines.
func (ui *userInformers) shutdown() {
	close(ui.stop)
	ui.typed.Shutdown()
	ui.credentials.Shutdown()
	ui.dynamic.Shutdown()
	ui.done.Wait()
}

// forget stops the user's informers on namespace ns, if any, and waits for their goroutines.
func (in *informers) forget(user, ns string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if ui, ok := in.users[user][ns]; ok {
		ui.shutdown()
		delete(in.users[user], ns)
		if len(in.users[user]) == 0 {
			delete(in.users, user)
		}
		in.log.Debug("informers stopped", "user", user, "namespace", ns)
	}
}

// stopAll stops every informer, for good, and waits for their goroutines.
func (in *informers) stopAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	for user, byNS := range in.users {
		for _, ui := range byNS {
			ui.shutdown()
		}
		delete(in.users, user)
	}
}

// kindWatch is how the informers of one kind of child are set up: watch asks for the
// informers of a user's objects of that kind, and registers handlers whose queue(name, l)
// queues, in lane l, the child whose resource name an event carries.
type kindWatch struct {
	kind  fsa.ResourceKind
	watch func(ui *userInformers, queue func(name string, l lane))
}

// watches are the kinds' informers, in the order of the runner's reconcilers.
var watches = []kindWatch{{fsa.ResourceSandbox, watchSandboxes}, {fsa.ResourceDatabase, watchDatabases}}

// on makes every object inf adds, updates or deletes queue, in lane l, the child whose resource
// name nameOf reads from it ("" for none).
func on(inf cache.SharedIndexInformer, nameOf func(metav1.Object) string, l lane, queue func(string, lane)) {
	fire := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if m, ok := obj.(metav1.Object); ok && nameOf(m) != "" {
			queue(nameOf(m), l)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: fire, UpdateFunc: func(_, obj any) { fire(obj) }, DeleteFunc: fire})
}

// label returns a reader of an object's label key.
func label(key string) func(metav1.Object) string {
	return func(m metav1.Object) string { return m.GetLabels()[key] }
}

// get returns the cached object of inf named name in the user's namespace; ok is false when
// the cache has not synced yet (the caller must ask the API server instead).
func get[T any](ui *userInformers, inf cache.SharedIndexInformer, name string) (obj T, exists, ok bool) {
	if !inf.HasSynced() {
		return obj, false, false
	}
	o, exists, err := inf.GetIndexer().GetByKey(ui.client.Namespace + "/" + name)
	if err != nil {
		return obj, false, false
	}
	if !exists {
		return obj, false, true
	}
	t, ok := o.(T)
	return t, ok, ok
}
