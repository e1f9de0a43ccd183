package reconcile

import (
	"log/slog"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/k8s"
)

// informers runs, for each user, informers on the user's namespace selected to fsa's objects:
// StatefulSets and Pods (sandboxes) and KubeBlocks Clusters (databases). They use the user's own
// credentials, so they see exactly what the user may see. An event queues the project whose
// resource name the object carries.
type informers struct {
	log     *slog.Logger
	onEvent func(user string, k kind, name string)

	mu    sync.Mutex
	users map[string]*userInformers
}

type userInformers struct {
	client  *k8s.Client
	stop    chan struct{}
	typed   kinformers.SharedInformerFactory
	dynamic dynamicinformer.DynamicSharedInformerFactory
}

func newInformers(log *slog.Logger, onEvent func(string, kind, string)) *informers {
	return &informers{log: log, onEvent: onEvent, users: map[string]*userInformers{}}
}

// ensure starts the user's informers, or restarts them when the user's client changed (a new
// kubeconfig).
func (in *informers) ensure(user string, c *k8s.Client) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if cur, ok := in.users[user]; ok {
		if cur.client == c {
			return
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
		dynamic: dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Dynamic, 0, c.Namespace, tweak),
	}
	handler := func(k kind, nameOf func(obj any) string) cache.ResourceEventHandler {
		fire := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if name := nameOf(obj); name != "" {
				in.onEvent(user, k, name)
			}
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    fire,
			UpdateFunc: func(_, obj any) { fire(obj) },
			DeleteFunc: fire,
		}
	}
	appLabel := func(obj any) string {
		if m, ok := obj.(metav1.Object); ok {
			return m.GetLabels()[k8s.LabelApp]
		}
		return ""
	}
	_, _ = ui.typed.Apps().V1().StatefulSets().Informer().AddEventHandler(handler(kindSandbox, func(obj any) string {
		if s, ok := obj.(*appsv1.StatefulSet); ok {
			return s.Name
		}
		return ""
	}))
	_, _ = ui.typed.Core().V1().Pods().Informer().AddEventHandler(handler(kindSandbox, func(obj any) string {
		if _, ok := obj.(*corev1.Pod); ok {
			return appLabel(obj)
		}
		return ""
	}))
	_, _ = ui.dynamic.ForResource(k8s.GVRCluster).Informer().AddEventHandler(handler(kindDatabase, func(obj any) string {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return u.GetName()
		}
		return ""
	}))
	ui.typed.Start(ui.stop)
	ui.dynamic.Start(ui.stop)
	in.users[user] = ui
	in.log.Debug("informers started", "user", user, "namespace", c.Namespace)
}

func (ui *userInformers) shutdown() {
	close(ui.stop)
	ui.typed.Shutdown()
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
