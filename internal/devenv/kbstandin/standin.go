package kbstandin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/dynamic/dynamiclister"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ClusterGVR is KubeBlocks 0.9's Cluster resource (API V1Alpha1).
var ClusterGVR = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: V1Alpha1, Resource: "clusters"}

// API generations of the Cluster the stand-in plays (Options.API).
const (
	// V1Alpha1 is KubeBlocks 0.9's apps.kubeblocks.io/v1alpha1: one connection Secret
	// "<cluster>-conn-credential" with host, port, username and password.
	V1Alpha1 = "v1alpha1"
	// V1 is KubeBlocks 1.x's apps.kubeblocks.io/v1: one Secret per component and system account,
	// "<cluster>-<component>-account-<account>", with username and password only; the host is the
	// component's Service "<cluster>-<component>-<service>".
	V1 = "v1"
)

// GVR returns the Cluster resource of API generation api.
func GVR(api string) schema.GroupVersionResource {
	gvr := ClusterGVR
	gvr.Version = api
	return gvr
}

// Discover returns the API generation a cluster's KubeBlocks serves: V1 when apps.kubeblocks.io/v1
// serves clusters (KubeBlocks 1.x, which also serves v1alpha1 through its conversion webhook),
// else V1Alpha1.
func Discover(kube kubernetes.Interface) (string, error) {
	list, err := kube.Discovery().ServerResourcesForGroupVersion(ClusterGVR.Group + "/" + V1)
	if err == nil {
		for _, r := range list.APIResources {
			if r.Name == ClusterGVR.Resource {
				return V1, nil
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("kbstandin: discover KubeBlocks API: %w", err)
	}
	return V1Alpha1, nil
}

// Finalizer is the finalizer the stand-in puts on every Cluster, so deletion passes through
// phase Deleting.
const Finalizer = "kbstandin.fullstackagent.io/finalizer"

// Connection Secrets: name suffixes, keys and fixed values.
const (
	// SecretSuffix ends the name of V1Alpha1's connection Secret, "<cluster>-conn-credential".
	SecretSuffix = "-conn-credential"
	// AccountSecretInfix is in the name of V1's account Secrets,
	// "<cluster>-<component>-account-<account>"; the stand-in writes account Username's.
	AccountSecretInfix = "-account-"
	KeyHost            = "host"
	KeyPort            = "port"
	KeyUsername        = "username"
	KeyPassword        = "password"
	Port               = "5432"
	Username           = "postgres"
)

// DefaultDelay is how long each transitional phase lasts when Options.Delay is zero.
const DefaultDelay = 200 * time.Millisecond

// Options tune Run. The zero value is ready to use.
type Options struct {
	// Delay is how long Creating, Updating, Stopping and Deleting last. Default DefaultDelay.
	Delay time.Duration
	// Workers is the number of Clusters synced in parallel. Default 2.
	Workers int
	// API is the Cluster API generation to play, V1Alpha1 or V1. Default: Discover's answer.
	API string
	// Logf, if set, receives one line per phase change and per sync error.
	Logf func(format string, args ...any)
}

// Run plays KubeBlocks' Cluster controller (see the package doc) until ctx ends, then stops its
// workers and informer, waits for them and returns nil. It returns an error only if it cannot
// start.
func Run(ctx context.Context, dyn dynamic.Interface, kube kubernetes.Interface, opts Options) error {
	if opts.Delay <= 0 {
		opts.Delay = DefaultDelay
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.API == "" {
		var err error
		if opts.API, err = Discover(kube); err != nil {
			return err
		}
	}
	if opts.API != V1Alpha1 && opts.API != V1 {
		return fmt.Errorf("kbstandin: unknown API %q", opts.API)
	}
	gvr := GVR(opts.API)
	factory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	informer := factory.ForResource(gvr)
	// The connection Secrets it wrote, so a sync finds them without a GET.
	secretFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = secretSelector }))
	secrets := secretFactory.Core().V1().Secrets()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "kbstandin"})
	c := &controller{
		opts: opts, gvr: gvr, dyn: dyn, kube: kube, queue: queue,
		lister:  dynamiclister.New(informer.Informer().GetIndexer(), gvr),
		secrets: secrets.Lister(),
		since:   map[string]phaseSince{},
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		queue.ShutDown()
		return fmt.Errorf("kbstandin: watch clusters: %w", err)
	}
	// A Secret deleted out of band is written again.
	if _, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if sec, ok := obj.(*corev1.Secret); ok && sec.Labels[labelInstance] != "" {
				queue.Add(sec.Namespace + "/" + sec.Labels[labelInstance])
			}
		},
	}); err != nil {
		queue.ShutDown()
		return fmt.Errorf("kbstandin: watch secrets: %w", err)
	}
	factory.Start(ctx.Done())
	secretFactory.Start(ctx.Done())

	var wg sync.WaitGroup
	if cache.WaitForCacheSync(ctx.Done(), informer.Informer().HasSynced, secrets.Informer().HasSynced) {
		for range opts.Workers {
			wg.Go(func() { c.work(ctx) })
		}
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	factory.Shutdown()
	secretFactory.Shutdown()
	return nil
}

// Labels of the connection Secret.
const (
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	secretSelector = labelManagedBy + "=kubeblocks"
)

type phaseSince struct {
	phase string
	at    time.Time
}

type controller struct {
	opts    Options
	gvr     schema.GroupVersionResource
	dyn     dynamic.Interface
	kube    kubernetes.Interface
	queue   workqueue.TypedRateLimitingInterface[string]
	lister  dynamiclister.Lister
	secrets corelisters.SecretLister

	mu    sync.Mutex
	since map[string]phaseSince // key -> transitional phase and when it was first seen
}

func (c *controller) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		after, err := c.sync(ctx, key)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				c.opts.Logf("kbstandin: sync %s: %v", key, err)
			}
			c.queue.AddRateLimited(key)
		case after > 0:
			c.queue.Forget(key)
			c.queue.AddAfter(key, after)
		default:
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync brings one Cluster one step closer to its next phase. It returns how long to wait before
// looking again when a transitional phase has not lasted the delay yet.
func (c *controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil //nolint:nilerr // a malformed key never becomes valid
	}
	obj, err := c.lister.Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	clusters := c.dyn.Resource(c.gvr).Namespace(ns)

	if obj.GetDeletionTimestamp() != nil {
		if !slices.Contains(obj.GetFinalizers(), Finalizer) {
			return 0, nil
		}
		if phase != PhaseDeleting {
			return c.setPhase(ctx, key, obj, PhaseDeleting)
		}
		if wait := c.remaining(key, phase); wait > 0 {
			return wait, nil
		}
		cp := obj.DeepCopy()
		cp.SetFinalizers(slices.DeleteFunc(cp.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		if _, err := clusters.Update(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("remove finalizer: %w", err)
		}
		c.opts.Logf("kbstandin: %s deleted", key)
		c.forget(key)
		return 0, nil
	}

	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		cp := obj.DeepCopy()
		cp.SetFinalizers(append(cp.GetFinalizers(), Finalizer))
		if _, err := clusters.Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
			return 0, fmt.Errorf("add finalizer: %w", err)
		}
		return 0, nil // the update comes back as an event
	}
	if err := c.ensureSecret(ctx, obj); err != nil {
		return 0, err
	}
	settled := true
	if transitional(phase) {
		settled = c.remaining(key, phase) == 0
	}
	next := nextPhase(phase, wantRunning(obj), settled)
	if next == phase {
		if transitional(phase) {
			return c.remaining(key, phase), nil
		}
		return 0, nil
	}
	return c.setPhase(ctx, key, obj, next)
}

// setPhase writes status.phase through the status subresource.
func (c *controller) setPhase(ctx context.Context, key string, obj *unstructured.Unstructured, phase string) (time.Duration, error) {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase": phase, "observedGeneration": obj.GetGeneration(),
	}})
	if err != nil {
		return 0, fmt.Errorf("status patch: %w", err)
	}
	_, err = c.dyn.Resource(c.gvr).Namespace(obj.GetNamespace()).
		Patch(ctx, obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return 0, fmt.Errorf("set phase %s: %w", phase, err)
	}
	c.opts.Logf("kbstandin: %s phase %s", key, phase)
	if transitional(phase) {
		c.mark(key, phase)
		return c.opts.Delay, nil
	}
	return 0, nil
}

// remaining is how much longer a transitional phase must last; the clock starts when this
// stand-in first sees (or writes) the phase.
func (c *controller) remaining(key, phase string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.since[key]
	if !ok || s.phase != phase {
		s = phaseSince{phase: phase, at: time.Now()}
		c.since[key] = s
	}
	return max(0, c.opts.Delay-time.Since(s.at))
}

func (c *controller) mark(key, phase string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.since[key]; !ok || s.phase != phase {
		c.since[key] = phaseSince{phase: phase, at: time.Now()}
	}
}

func (c *controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.since, key)
}

// wantRunning reports whether the spec asks for running replicas: false only when every
// spec.componentSpecs[*] is stopped: replicas explicitly 0, or (KubeBlocks 1.x's way) stop true.
func wantRunning(obj *unstructured.Unstructured) bool {
	comps, found, err := unstructured.NestedSlice(obj.Object, "spec", "componentSpecs")
	if !found || err != nil || len(comps) == 0 {
		return true
	}
	for _, comp := range comps {
		m, _ := comp.(map[string]any)
		if stop, _ := m["stop"].(bool); stop {
			continue
		}
		switch r := m["replicas"].(type) {
		case int64:
			if r > 0 {
				return true
			}
		case float64:
			if r > 0 {
				return true
			}
		default: // absent: KubeBlocks defaults to one replica
			return true
		}
	}
	return false
}

// ensureSecret creates the connection Secrets of the API generation played if they are missing (from the Secret cache: a Secret
// created a moment ago and not seen yet is created again, which fails harmlessly).
func (c *controller) ensureSecret(ctx context.Context, obj *unstructured.Unstructured) error {
	if c.opts.API == V1 {
		comps, _, _ := unstructured.NestedSlice(obj.Object, "spec", "componentSpecs")
		for _, comp := range comps {
			m, _ := comp.(map[string]any)
			name, _ := m["name"].(string)
			if name == "" {
				continue
			}
			if err := c.writeSecret(ctx, obj, obj.GetName()+"-"+name+AccountSecretInfix+Username, map[string]string{
				KeyUsername: Username,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	return c.writeSecret(ctx, obj, obj.GetName()+SecretSuffix, map[string]string{
		KeyHost:     fmt.Sprintf("%s-postgresql.%s.svc", obj.GetName(), obj.GetNamespace()),
		KeyPort:     Port,
		KeyUsername: Username,
	})
}

// writeSecret creates the Secret name, owned by the Cluster, with data and a random KeyPassword,
// unless it exists.
func (c *controller) writeSecret(ctx context.Context, obj *unstructured.Unstructured, name string, data map[string]string) error {
	if _, err := c.secrets.Secrets(obj.GetNamespace()).Get(name); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret: %w", err)
	}
	password, err := randomPassword()
	if err != nil {
		return err
	}
	data[KeyPassword] = password
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: obj.GetNamespace(),
			Labels: map[string]string{
				labelInstance:  obj.GetName(),
				labelManagedBy: "kubeblocks",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: c.gvr.GroupVersion().String(),
				Kind:       "Cluster",
				Name:       obj.GetName(),
				UID:        obj.GetUID(),
				Controller: new(true),
			}},
		},
		Type:       corev1.SecretTypeOpaque,
		StringData: data,
	}
	if _, err := c.kube.CoreV1().Secrets(obj.GetNamespace()).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create secret: %w", err)
	}
	return nil
}

// randomPassword returns 20 random letters and digits.
func randomPassword() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", errors.Join(errors.New("kbstandin: random password"), err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
