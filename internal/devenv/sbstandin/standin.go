// Package sbstandin is a STAND-IN for what runs inside a sandbox container, for tests and local
// development only. On the local control plane (internal/devenv/k8stest) pods are not run by a
// kubelet but by kwok, which also answers the kubelet API the API server calls for pods/exec,
// pods/log and pods/portforward, following kwok.x-k8s.io/v1alpha1 Exec, Logs and PortForward
// objects. This package writes those objects, one of each per sandbox pod, so that:
//
//   - an exec runs the command as a local process on the host, in the pod's own directory
//     (FSDir), which stands in for the container's filesystem (HOME points there too);
//   - the pod's log is a local file in the CRI log format (LogFile), where the stand-in writes a
//     start line and Log appends lines;
//   - a port forward to port AppPort reaches a small local HTTP server standing in for the user's
//     application: it answers a request with a line naming the pod and the path, /cookies with
//     the names of the cookies it was sent, and /ws with a WebSocket echo (a dev server's
//     hot-reload channel).
//
// What is real: the API server, its authentication and RBAC, the exec/log/portforward protocols
// (WebSocket and SPDY, through the API server to a TLS kubelet endpoint), streaming, exit codes,
// TTYs. What is a stand-in: the container's processes run on the host as the test's user, and
// absolute paths outside FSDir reach the host's files.
//
// # Contract
//
// Run watches pods matching Options.Selector in every namespace until ctx ends. For each pod
// that is not being deleted it makes FSDir and LogFile, starts the application server, and
// creates the three kwok objects named after the pod, owned by it (so they go with it). kwok
// learns of those objects through its own watches, a moment later: the stand-in probes the
// pod's exec, log and port forward through the API server until all three answer, and then
// writes ReadyFile. Tests wait for that file (k8stest.Cluster.WaitSandboxServed) where a kubelet
// would have answered as soon as the pod ran. A failed step is retried with backoff. A pod's
// directory outlives the pod, as a home volume does; its application server and ReadyFile go
// with it.
package sbstandin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/workqueue"
)

// Defaults of Options.
const (
	// DefaultSelector selects fsa's sandbox pods.
	DefaultSelector = "app.kubernetes.io/component=sandbox"
	// DefaultAppPort is the sandbox port the application stand-in answers on.
	DefaultAppPort = 3000
	// DefaultWorkers is how many pods are served at once.
	DefaultWorkers = 4
	// DefaultProbeTimeout bounds one wait for kwok to answer a pod's exec, log and port
	// forward; a pod that still does not is tried again with backoff.
	DefaultProbeTimeout = 30 * time.Second
)

// Options tune Run.
type Options struct {
	// Root holds one directory per pod: Root/<namespace>/<pod>. Required.
	Root string
	// Selector is the label selector of the pods served. Default DefaultSelector.
	Selector string
	// AppPort is the pod port forwarded to the application stand-in. Default DefaultAppPort.
	AppPort int32
	// Workers is how many pods are served at once. Default DefaultWorkers.
	Workers int
	// ProbeTimeout bounds one wait for kwok to answer. Default DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Logf, if set, receives one line per sync error.
	Logf func(format string, args ...any)
}

var gvrs = map[string]schema.GroupVersionResource{
	"Exec":        {Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"},
	"Logs":        {Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"},
	"PortForward": {Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"},
}

// PodDir is the directory of one pod under root.
func PodDir(root, namespace, pod string) string { return filepath.Join(root, namespace, pod) }

// FSDir is the directory standing in for the pod's container filesystem: execs start there.
func FSDir(root, namespace, pod string) string {
	return filepath.Join(PodDir(root, namespace, pod), "fs")
}

// LogFile is the pod's container log (CRI log format).
func LogFile(root, namespace, pod string) string {
	return filepath.Join(PodDir(root, namespace, pod), "container.log")
}

// ReadyFile exists, holding the pod's UID, once the pod's exec, log and port forward answer
// through the API server; it goes when the pod does.
func ReadyFile(root, namespace, pod string) string {
	return filepath.Join(PodDir(root, namespace, pod), "ready")
}

var logMu sync.Mutex

// Log appends one line to the pod's container log, as the container's stdout would.
func Log(root, namespace, pod, line string) error {
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(LogFile(root, namespace, pod), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sbstandin: log: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sbstandin: log: %w", err)
	}
	return nil
}

type app struct {
	uid    types.UID
	srv    *http.Server
	port   int // the application server's local port
	done   chan struct{}
	served bool // the kwok objects are applied and answer through the API server
}

type standin struct {
	opts   Options
	cfg    *rest.Config
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	queue  workqueue.TypedRateLimitingInterface[string]
	lister corelisters.PodLister

	mu   sync.Mutex
	apps map[string]*app // by namespace/name
}

// Run serves pods (see the package doc) as the identity of cfg until ctx ends, then stops the
// application servers and returns nil. It returns an error only if it cannot start.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.Root == "" {
		return errors.New("sbstandin: Options.Root is required")
	}
	if opts.Selector == "" {
		opts.Selector = DefaultSelector
	}
	if opts.AppPort == 0 {
		opts.AppPort = DefaultAppPort
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("sbstandin: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("sbstandin: %w", err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.Selector }))
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sbstandin"})
	s := &standin{opts: opts, cfg: cfg, kube: kube, dyn: dyn, queue: queue, lister: pods.Lister(), apps: map[string]*app{}}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		queue.ShutDown()
		return fmt.Errorf("sbstandin: %w", err)
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	if cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		for range opts.Workers {
			wg.Go(func() { s.work(ctx) })
		}
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	factory.Shutdown()
	s.mu.Lock()
	keys := make([]string, 0, len(s.apps))
	for k := range s.apps {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.stopApp(k)
	}
	return nil
}

// work syncs pods until the queue shuts down; a failed sync is retried with backoff, so a pod
// is served even when no further update of it comes.
func (s *standin) work(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		if err := s.sync(ctx, key); err != nil {
			if ctx.Err() == nil {
				s.opts.Logf("sbstandin: pod %s: %v", key, err)
			}
			s.queue.AddRateLimited(key)
		} else {
			s.queue.Forget(key)
		}
		s.queue.Done(key)
	}
}

func (s *standin) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil //nolint:nilerr // a malformed key never becomes valid
	}
	p, err := s.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil) {
		s.stopApp(key)
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	a := s.apps[key]
	s.mu.Unlock()
	if a != nil && a.uid == p.UID && a.served {
		return nil
	}
	if a != nil && a.uid != p.UID {
		s.stopApp(key) // a new pod of the same name
		a = nil
	}
	if a == nil {
		if a, err = s.start(p); err != nil {
			return err
		}
	}
	if err := s.serve(ctx, p, a); err != nil {
		return err
	}
	s.mu.Lock()
	a.served = true
	s.mu.Unlock()
	return nil
}

// probePath answers the stand-in's own port-forward probe; it is not logged.
const probePath = "/.sbstandin/probe"

// start makes the pod's directories, starts its application server and logs the start line.
func (s *standin) start(p *corev1.Pod) (*app, error) {
	root := s.opts.Root
	if err := os.MkdirAll(FSDir(root, p.Namespace, p.Name), 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key := p.Namespace + "/" + p.Name
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == probePath {
				fmt.Fprint(w, "ok")
				return
			}
			_ = Log(root, p.Namespace, p.Name, fmt.Sprintf("app: %s %s", r.Method, r.URL.Path))
			switch r.URL.Path {
			case "/ws": // a WebSocket echo, as a dev server's hot-reload channel
				echoWebSocket(w, r)
			case "/cookies": // the cookies the app was sent
				for _, c := range r.Cookies() {
					fmt.Fprintf(w, "%s\n", c.Name)
				}
			default:
				fmt.Fprintf(w, "sandbox app of %s: %s %s\n", key, r.Method, r.URL.Path)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// A connection kwok keeps open after its port forward ended would hold a descriptor of
		// this process for every pod ever probed: idle ones are closed.
		IdleTimeout: 30 * time.Second,
	}
	a := &app{uid: p.UID, srv: srv, port: l.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		_ = srv.Serve(l)
	}()
	s.mu.Lock()
	s.apps[key] = a
	s.mu.Unlock()
	if err := Log(root, p.Namespace, p.Name, "sandbox stand-in: container "+p.Name+" started"); err != nil {
		return a, err
	}
	return a, nil
}

// serve applies the pod's kwok objects, waits until kwok answers each through the API server,
// and then writes ReadyFile.
func (s *standin) serve(ctx context.Context, p *corev1.Pod, a *app) error {
	root := s.opts.Root
	fs := FSDir(root, p.Namespace, p.Name)
	objects := []struct {
		kind string
		spec map[string]any
	}{
		{"Exec", map[string]any{"execs": []any{map[string]any{"local": map[string]any{
			"workDir": fs,
			"envs": []any{
				map[string]any{"name": "HOME", "value": fs},
				map[string]any{"name": "PATH", "value": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"},
			},
		}}}}},
		{"Logs", map[string]any{"logs": []any{map[string]any{"logsFile": LogFile(root, p.Namespace, p.Name), "follow": true}}}},
		{"PortForward", map[string]any{"forwards": []any{map[string]any{
			"ports": []any{int64(s.opts.AppPort)}, "target": map[string]any{"port": int64(a.port), "address": "127.0.0.1"},
		}}}},
	}
	for _, o := range objects {
		if err := s.apply(ctx, p, o.kind, o.spec); err != nil {
			return err
		}
	}
	// kwok learns of its objects through its own watches: until it has, the pod's exec, log or
	// port forward fails. A pod counts as served once all three answer.
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProbeTimeout)
	defer cancel()
	for _, pr := range []struct {
		what  string
		probe func(context.Context, *corev1.Pod) error
	}{{"exec", s.probeExec}, {"logs", s.probeLogs}, {"port forward", s.probePortForward}} {
		if err := poll(pctx, func() error { return pr.probe(pctx, p) }); err != nil {
			return fmt.Errorf("%s does not answer: %w", pr.what, err)
		}
	}
	ready := fmt.Sprintf("%s\n", p.UID)
	if err := os.WriteFile(ReadyFile(root, p.Namespace, p.Name), []byte(ready), 0o644); err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	return nil
}

// poll calls f until it succeeds or ctx ends; then it returns f's last error.
func poll(ctx context.Context, f func() error) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

func (s *standin) probeExec(ctx context.Context, p *corev1.Pod) error {
	req := s.kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: p.Spec.Containers[0].Name, Command: []string{"true"}, Stdout: true,
	}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(s.cfg, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
}

func (s *standin) probeLogs(ctx context.Context, p *corev1.Pod) error {
	one := int64(1)
	_, err := s.kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
		Container: p.Spec.Containers[0].Name, TailLines: &one,
	}).DoRaw(ctx)
	return err
}

func (s *standin) probePortForward(ctx context.Context, p *corev1.Pod) error {
	u, err := url.Parse(s.cfg.Host)
	if err != nil {
		return err
	}
	u.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", p.Namespace, p.Name)
	rt, upgrader, err := spdy.RoundTripperFor(s.cfg)
	if err != nil {
		return err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("0:%d", s.opts.AppPort)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	defer func() { close(stop); <-errc }()
	select {
	case <-ready:
	case err := <-errc:
		errc <- err // for the deferred receive
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", ports[0].Local, probePath), nil)
	if err != nil {
		return err
	}
	// One connection, closed with the answer: the forward's local port is gone afterwards, and a
	// kept-alive connection would hold a descriptor here and at the application server.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if string(body) != "ok" {
		return fmt.Errorf("probe answered %d %q", resp.StatusCode, body)
	}
	return nil
}

// apply creates (or replaces, when it belongs to an earlier pod of that name) the kwok object.
func (s *standin) apply(ctx context.Context, p *corev1.Pod, kind string, spec map[string]any) error {
	res := s.dyn.Resource(gvrs[kind]).Namespace(p.Namespace)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       kind,
		"metadata": map[string]any{
			"name": p.Name, "namespace": p.Namespace,
			"ownerReferences": []any{map[string]any{
				"apiVersion": "v1", "kind": "Pod", "name": p.Name, "uid": string(p.UID),
			}},
		},
		"spec": spec,
	}}
	for range 3 {
		old, err := res.Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("create %s: %w", kind, err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("get %s: %w", kind, err)
		}
		obj.SetResourceVersion(old.GetResourceVersion())
		_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Changed, or collected with the earlier pod it belonged to, meanwhile: again.
			continue
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", kind, err)
		}
		return nil
	}
	return fmt.Errorf("apply %s: conflicts", kind)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// echoWebSocket sends every message back, prefixed with "echo: ".
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, append([]byte("echo: "), msg...)); err != nil {
			return
		}
	}
}

func (s *standin) stopApp(key string) {
	s.mu.Lock()
	a := s.apps[key]
	delete(s.apps, key)
	s.mu.Unlock()
	if a == nil {
		return
	}
	if ns, name, err := cache.SplitMetaNamespaceKey(key); err == nil {
		_ = os.Remove(ReadyFile(s.opts.Root, ns, name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	<-a.done
}
