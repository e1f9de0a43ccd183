package reconcile

import (
	"log/slog"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/k8s"
)

// Labels KubeBlocks puts on a cluster's connection credential Secret.
const (
	labelInstance       = "app.kubernetes.io/instance"
	credentialsSelector = k8s.LabelManagedBy + "=kubeblocks"
)

// podsByApp indexes sandbox pods by their LabelApp, the sandbox's name.
const podsByApp = "app"

// informers runs, for each user, informers on the user's namespace selected to fsa's objects:
// StatefulSets, Pods, Services and Ingresses (sandboxes), KubeBlocks Clusters (databases) and
// the Clusters' connection credential Secrets. They use the user's own credentials, so they see
// exactly what the user may see. An event queues the project whose resource name the object
// carries. Their caches also serve the syncs: a sync reads the observed state from them, and
// skips the apply when they show the objects already as desired (see cachedState).
type informers struct {
	log     *slog.Logger
	onEvent func(user string, k kind, name string, l lane)

	mu    sync.Mutex
	users map[string]*userInformers
}

type userInformers struct {
	client  *k8s.Client
	stop    chan struct{}
	typed   kinformers.SharedInformerFactory
	secrets kinformers.SharedInformerFactory
	dynamic dynamicinformer.DynamicSharedInformerFactory

	sts, pods, services, ingresses, credentials, clusters cache.SharedIndexInformer
}

func newInformers(log *slog.Logger, onEvent func(string, kind, string, lane)) *informers {
	return &informers{log: log, onEvent: onEvent, users: map[string]*userInformers{}}
}

// ensure starts the user's informers, or restarts them when the user's client changed (a new
// kubeconfig), and returns them.
func (in *informers) ensure(user string, c *k8s.Client) *userInformers {
	in.mu.Lock()
	defer in.mu.Unlock()
	if cur, ok := in.users[user]; ok {
		if cur.client == c {
			return cur
		}
		cur.shutdown()
		delete(in.users, user)
	}
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = k8s.ManagedSelector }
	ui := &userInformers{
		client: c,
		stop:   make(chan struct{}),
		typed: kinformers.NewSharedInformerFactoryWithOptions(c.Clientset, 0,
			kinformers.WithNamespace(c.Namespace), kinformers.WithTweakListOptions(tweak)),
		secrets: kinformers.NewSharedInformerFactoryWithOptions(c.Clientset, 0,
			kinformers.WithNamespace(c.Namespace), kinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.LabelSelector = credentialsSelector
			})),
		dynamic: dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Dynamic, 0, c.Namespace, tweak),
	}
	handler := func(k kind, nameOf func(obj any) string, l lane) cache.ResourceEventHandler {
		fire := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if name := nameOf(obj); name != "" {
				in.onEvent(user, k, name, l)
			}
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    fire,
			UpdateFunc: func(_, obj any) { fire(obj) },
			DeleteFunc: fire,
		}
	}
	label := func(key string) func(obj any) string {
		return func(obj any) string {
			if m, ok := obj.(metav1.Object); ok {
				return m.GetLabels()[key]
			}
			return ""
		}
	}
	ui.sts = ui.typed.Apps().V1().StatefulSets().Informer()
	ui.pods = ui.typed.Core().V1().Pods().Informer()
	ui.services = ui.typed.Core().V1().Services().Informer()
	ui.ingresses = ui.typed.Networking().V1().Ingresses().Informer()
	ui.credentials = ui.secrets.Core().V1().Secrets().Informer()
	ui.clusters = ui.dynamic.ForResource(k8s.GVRCluster).Informer()
	_ = ui.pods.AddIndexers(cache.Indexers{podsByApp: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return []string{p.Labels[k8s.LabelApp]}, nil
		}
		return nil, nil
	}})
	_, _ = ui.sts.AddEventHandler(handler(kindSandbox, func(obj any) string {
		if s, ok := obj.(*appsv1.StatefulSet); ok {
			return s.Name
		}
		return ""
	}, laneEvent))
	_, _ = ui.pods.AddEventHandler(handler(kindSandbox, func(obj any) string {
		if _, ok := obj.(*corev1.Pod); ok {
			return label(k8s.LabelApp)(obj)
		}
		return ""
	}, laneEvent))
	// Services and Ingresses carry the sandbox's name in LabelApp: one deleted or edited out of
	// band is repaired at once.
	_, _ = ui.services.AddEventHandler(handler(kindSandbox, label(k8s.LabelApp), laneEvent))
	_, _ = ui.ingresses.AddEventHandler(handler(kindSandbox, label(k8s.LabelApp), laneEvent))
	// New or rotated database credentials change the sandbox's DATABASE_URL. For a new project
	// they are what its StatefulSet waits for, so they carry on its intent: the intent lane.
	_, _ = ui.credentials.AddEventHandler(handler(kindSandbox, label(labelInstance), laneIntent))
	_, _ = ui.clusters.AddEventHandler(handler(kindDatabase, func(obj any) string {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return u.GetName()
		}
		return ""
	}, laneEvent))
	ui.typed.Start(ui.stop)
	ui.secrets.Start(ui.stop)
	ui.dynamic.Start(ui.stop)
	in.users[user] = ui
	in.log.Debug("informers started", "user", user, "namespace", c.Namespace)
	return ui
}

func (ui *userInformers) shutdown() {
	close(ui.stop)
	ui.typed.Shutdown()
	ui.secrets.Shutdown()
	ui.dynamic.Shutdown()
}

// stopAll stops every informer and waits for their goroutines.
func (in *informers) stopAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for user, ui := range in.users {
		ui.shutdown()
		delete(in.users, user)
	}
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

// sandboxObjects are the cached objects of one sandbox; nil when absent.
type sandboxObjects struct {
	sts           *appsv1.StatefulSet
	service       *corev1.Service
	app, terminal *networkingv1.Ingress
	pods          []corev1.Pod // controlled by sts
}

// sandbox returns the cached objects of sandbox name; ok is false when a cache has not synced.
func (ui *userInformers) sandbox(name string) (o sandboxObjects, ok bool) {
	spec := k8s.SandboxSpec{Name: name}
	var okS, okV, okA, okT bool
	o.sts, _, okS = get[*appsv1.StatefulSet](ui, ui.sts, name)
	o.service, _, okV = get[*corev1.Service](ui, ui.services, name)
	o.app, _, okA = get[*networkingv1.Ingress](ui, ui.ingresses, spec.AppIngressName())
	o.terminal, _, okT = get[*networkingv1.Ingress](ui, ui.ingresses, spec.TerminalIngressName())
	if !okS || !okV || !okA || !okT || !ui.pods.HasSynced() {
		return o, false
	}
	if o.sts != nil {
		pods, err := ui.pods.GetIndexer().ByIndex(podsByApp, name)
		if err != nil {
			return o, false
		}
		for _, obj := range pods {
			p, isPod := obj.(*corev1.Pod)
			if !isPod {
				continue
			}
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == o.sts.UID {
				o.pods = append(o.pods, *p)
			}
		}
	}
	return o, true
}

// live returns the cached objects as k8s.Plan takes them.
func (o sandboxObjects) live() k8s.SandboxLive {
	return k8s.SandboxLive{StatefulSet: o.sts, Service: o.service, AppIngress: o.app, TerminalIngress: o.terminal}
}
