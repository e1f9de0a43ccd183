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
// creates the three kwok objects named after the pod, owned by it (so they go with it). A pod's
// directory outlives the pod, as a home volume does; its application server stops with it.
package sbstandin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	"k8s.io/client-go/tools/cache"
)

// Defaults of Options.
const (
	// DefaultSelector selects fsa's sandbox pods.
	DefaultSelector = "app.kubernetes.io/component=sandbox"
	// DefaultAppPort is the sandbox port the application stand-in answers on.
	DefaultAppPort = 3000
)

// Options tune Run.
type Options struct {
	// Root holds one directory per pod: Root/<namespace>/<pod>. Required.
	Root string
	// Selector is the label selector of the pods served. Default DefaultSelector.
	Selector string
	// AppPort is the pod port forwarded to the application stand-in. Default DefaultAppPort.
	AppPort int32
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
	uid  types.UID
	srv  *http.Server
	done chan struct{}
}

type standin struct {
	opts Options
	kube kubernetes.Interface
	dyn  dynamic.Interface

	mu   sync.Mutex
	apps map[string]*app // by namespace/name
}

// Run serves pods (see the package doc) until ctx ends, then stops the application servers and
// returns nil. It returns an error only if it cannot start.
func Run(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, opts Options) error {
	if opts.Root == "" {
		return errors.New("sbstandin: Options.Root is required")
	}
	if opts.Selector == "" {
		opts.Selector = DefaultSelector
	}
	if opts.AppPort == 0 {
		opts.AppPort = DefaultAppPort
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := &standin{opts: opts, kube: kube, dyn: dyn, apps: map[string]*app{}}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.Selector }))
	inf := factory.Core().V1().Pods().Informer()
	// Handlers run one at a time on the informer's goroutine: the stand-in needs no queue.
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { s.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.stopApp(p.Namespace + "/" + p.Name)
			}
		},
	}); err != nil {
		return fmt.Errorf("sbstandin: %w", err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	<-ctx.Done()
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

func (s *standin) sync(ctx context.Context, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := p.Namespace + "/" + p.Name
	if p.DeletionTimestamp != nil {
		s.stopApp(key)
		return
	}
	s.mu.Lock()
	a := s.apps[key]
	s.mu.Unlock()
	if a != nil && a.uid == p.UID {
		return
	}
	if a != nil {
		s.stopApp(key) // a new pod of the same name
	}
	if err := s.serve(ctx, p); err != nil {
		s.opts.Logf("sbstandin: pod %s: %v", key, err)
		// Forget the pod, so that its next update (kwok marks it running, ready) tries again.
		s.stopApp(key)
	}
}

func (s *standin) serve(ctx context.Context, p *corev1.Pod) error {
	root := s.opts.Root
	if err := os.MkdirAll(FSDir(root, p.Namespace, p.Name), 0o755); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	key := p.Namespace + "/" + p.Name
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}
	a := &app{uid: p.UID, srv: srv, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		_ = srv.Serve(l)
	}()
	s.mu.Lock()
	s.apps[key] = a
	s.mu.Unlock()
	if err := Log(root, p.Namespace, p.Name, "sandbox stand-in: container "+p.Name+" started"); err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	fs := FSDir(root, p.Namespace, p.Name)
	specs := map[string]map[string]any{
		"Exec": {"execs": []any{map[string]any{"local": map[string]any{
			"workDir": fs,
			"envs": []any{
				map[string]any{"name": "HOME", "value": fs},
				map[string]any{"name": "PATH", "value": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"},
			},
		}}}},
		"Logs": {"logs": []any{map[string]any{"logsFile": LogFile(root, p.Namespace, p.Name), "follow": true}}},
		"PortForward": {"forwards": []any{map[string]any{
			"ports": []any{int64(s.opts.AppPort)}, "target": map[string]any{"port": int64(port), "address": "127.0.0.1"},
		}}},
	}
	for kind, spec := range specs {
		if err := s.apply(ctx, p, kind, spec); err != nil {
			return err
		}
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	<-a.done
}
