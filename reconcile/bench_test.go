package reconcile_test

// Benchmarks of the reconcile loops against the local control plane (issue 4). They are test
// functions gated by FSA_BENCH=1 because each provisions hundreds of projects and runs for
// minutes; `make bench-reconcile` runs them. Results and commands: BENCH.md.
//
// Knobs (environment):
//
//	FSA_BENCH=1               run the benchmarks (skipped otherwise)
//	FSA_BENCH_USERS=10        users the projects are spread over
//	FSA_BENCH_PROJECTS=500    projects provisioned by TestBenchColdIdle
//	FSA_BENCH_LAG_N=20        create/stop/start cycles measured by TestBenchLag
//	FSA_BENCH_WORKERS=16      runner workers
//	FSA_BENCH_QPS=200         client-go QPS per user client (burst = 2×QPS)
//	FSA_BENCH_IDLE=60s        idle measurement window
//	FSA_BENCH_RESYNC=20s      runner resync period during the idle window
//	FSA_BENCH_NO_IDLE=1       skip the idle part of TestBenchColdIdle
//	FSA_BENCH_PODS_PER_NODE   pod capacity of the fake nodes TestBenchColdIdle adds (default: the harness node's, 110)
//	FSA_BENCH_SETTLE=3m       how long the restarted runner of the idle part may take to settle
//	FSA_BENCH_DEBUG=1         runner debug logs (what differs when it applies)
//	FSA_BENCH_FAILOVERS=2     leadership changes measured by TestBenchFailover

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func benchGate(t *testing.T) {
	t.Helper()
	if os.Getenv("FSA_BENCH") == "" {
		t.Skip("benchmark: set FSA_BENCH=1 (make bench-reconcile)")
	}
}

// benchLogger logs warnings, or everything with FSA_BENCH_DEBUG set.
func benchLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("FSA_BENCH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// bench is a store, SDK and users spread over user namespaces, plus the admin view of the
// cluster watching what the runner does.
type bench struct {
	t     *testing.T
	ctx   context.Context
	cl    *k8stest.Cluster
	c     *fsa.Client
	users []*fsa.User
	rec   *recorder
	reg   *prometheus.Registry
}

func newBench(t *testing.T, users int) *bench {
	cl := k8stest.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	b := &bench{t: t, ctx: ctx, cl: cl, c: fsa.New(st), reg: prometheus.NewRegistry()}
	for i := range users {
		name := fmt.Sprintf("bench%d", i)
		ku := cl.NewTestUser(t, name)
		u, err := b.c.CreateUser(ctx, fsa.UserSpec{Name: name})
		require.NoError(t, err)
		_, err = b.c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(ku.Kubeconfig), Category: fsa.CategoryKubeconfig, Secret: true})
		require.NoError(t, err)
		b.users = append(b.users, u)
	}
	require.NoError(t, b.c.AcquireEpoch(ctx, 1))
	b.rec = newRecorder(t, ctx, cl, b.c)
	return b
}

// runnerSettings are the knobs under test.
type runnerSettings struct {
	Fence      uint64 // 1 when 0
	Workers    int
	QPS        float32
	Burst      int
	Resync     time.Duration
	Registerer prometheus.Registerer
	Wrap       func(http.RoundTripper) http.RoundTripper // of the runner's Kubernetes transport, if set
	JSON       bool                                      // typed clients in JSON, not protobuf (k8s.WithJSON)
	Reread     bool                                      // read each project again at a child's first sync (reconcile.SetListedProjects)
	Caches     *reconcile.Caches                         // warm caches to start with (their Clients: QPS, Burst, Wrap and JSON unused)
}

func settingsFromEnv() runnerSettings {
	qps := envInt("FSA_BENCH_QPS", 200)
	return runnerSettings{Workers: envInt("FSA_BENCH_WORKERS", 16), QPS: float32(qps), Burst: 2 * qps, Resync: time.Hour}
}

func (s runnerSettings) String() string {
	return fmt.Sprintf("workers=%d qps=%g burst=%d resync=%v", s.Workers, s.QPS, s.Burst, s.Resync)
}

// startRunner starts a runner; the returned func stops it and waits.
func (b *bench) startRunner(s runnerSettings) (stop func()) {
	reg := s.Registerer
	if reg == nil {
		reg = b.reg
	}
	fence := s.Fence
	if fence == 0 {
		fence = 1
	}
	clients := k8s.NewClients(k8s.WithRateLimit(s.QPS, s.Burst), k8s.WithTransportWrapper(s.Wrap), k8s.WithJSON(s.JSON))
	if s.Caches != nil {
		clients = nil
	}
	r, err := reconcile.New(reconcile.Config{
		Client: b.c, Fence: fence, Domain: "sandbox.fsa.test", Workers: s.Workers, Resync: s.Resync,
		Clients: clients, Caches: s.Caches,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second,
		Registerer: reg, Logger: benchLogger(),
	})
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.t.Errorf("runner: %v", err)
			}
		})
	}
	b.t.Cleanup(stop)
	return stop
}

// ensureNodes adds kwok-managed fake nodes (copies of the harness's node) until the cluster
// has room for pods more pods; they are removed when the test ends.
func (b *bench) ensureNodes(pods int) {
	cs := b.cl.Clientset()
	base, err := cs.CoreV1().Nodes().Get(b.ctx, k8stest.NodeName, metav1.GetOptions{})
	require.NoError(b.t, err)
	list, err := cs.CoreV1().Nodes().List(b.ctx, metav1.ListOptions{})
	require.NoError(b.t, err)
	basePods := base.Status.Allocatable.Pods().Value()
	perNode := int64(envInt("FSA_BENCH_PODS_PER_NODE", int(basePods)))
	// CPU and memory grow with the pod count, so that pods, not the sandboxes' requests, bound
	// how many fit.
	capacity := base.Status.Capacity.DeepCopy()
	capacity[corev1.ResourcePods] = *resource.NewQuantity(perNode, resource.DecimalSI)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q := base.Status.Capacity[r]
		capacity[r] = *resource.NewQuantity(q.Value()*((perNode+basePods-1)/basePods), q.Format)
	}
	need := int((int64(pods)+perNode-1)/perNode) + 1
	for i := len(list.Items); i < need; i++ {
		name := fmt.Sprintf("kwok-bench-%d", i)
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: base.Annotations, Labels: maps(base.Labels, map[string]string{"kubernetes.io/hostname": name})},
			Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		_, err := cs.CoreV1().Nodes().Create(b.ctx, n, metav1.CreateOptions{})
		require.NoError(b.t, err)
		b.t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	require.Eventually(b.t, func() bool {
		list, err := cs.CoreV1().Nodes().List(b.ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		ready := 0
		for _, n := range list.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= need
	}, time.Minute, 100*time.Millisecond, "kwok nodes Ready")
}

func maps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// createProjects creates n projects spread round-robin over the users, from one goroutine
// per user, and returns them with the times their creation was committed. Their apps are public
// (both Ingresses), as when the figures in BENCH.md were taken.
func (b *bench) createProjects(prefix string, n int) ([]*fsa.Project, []time.Time) {
	out := make([]*fsa.Project, n)
	at := make([]time.Time, n)
	var wg sync.WaitGroup
	errs := make(chan error, len(b.users))
	for ui, u := range b.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := ui; i < n; i += len(b.users) {
				p, err := b.c.CreateProject(b.ctx, u.ID, fsa.ProjectSpec{Name: fmt.Sprintf("%s%d", prefix, i), PublicApp: true})
				if err != nil {
					errs <- err
					return
				}
				out[i], at[i] = p, time.Now()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b.t, err)
	}
	return out, at
}

// recorder timestamps, as seen from outside the runner, what happens in Kubernetes (admin
// informers on every namespace, fsa's objects only) and in the store (the change feed).
type recorder struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every record
	stsAdded map[string]time.Time
	svcAdded map[string]time.Time      // Service (named as the sandbox) created
	settled  map[string]bool           // StatefulSet has DATABASE_URL and its controller reports it rolled out and ready
	replicas map[string][]stamp[int32] // StatefulSet name → spec.replicas changes
	podReady map[string][]time.Time    // sandbox name → times a pod of it was seen turning Ready
	seenPod  map[string]bool           // pod uid+"/"+ready already recorded
	pods     map[string]int            // sandbox name → pods of it seen (by uid)
	podUIDs  map[types.UID]bool
	sandbox  map[string][]stamp[fsa.Status]
	project  map[string][]stamp[fsa.Status]
}

type stamp[T any] struct {
	at time.Time
	v  T
}

func newRecorder(t *testing.T, ctx context.Context, cl *k8stest.Cluster, c *fsa.Client) *recorder {
	r := &recorder{
		changed: make(chan struct{}), stsAdded: map[string]time.Time{}, svcAdded: map[string]time.Time{}, settled: map[string]bool{}, replicas: map[string][]stamp[int32]{},
		podReady: map[string][]time.Time{}, seenPod: map[string]bool{}, pods: map[string]int{}, podUIDs: map[types.UID]bool{},
		sandbox: map[string][]stamp[fsa.Status]{}, project: map[string][]stamp[fsa.Status]{},
	}
	f := kinformers.NewSharedInformerFactoryWithOptions(cl.Clientset(), 0,
		kinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = k8s.ManagedSelector }))
	_, err := f.Apps().V1().StatefulSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.sts(obj.(*appsv1.StatefulSet), true) },
		UpdateFunc: func(_, obj any) { r.sts(obj.(*appsv1.StatefulSet), false) },
	})
	require.NoError(t, err)
	_, err = f.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			name := obj.(*corev1.Service).Name
			if _, ok := r.svcAdded[name]; !ok {
				r.svcAdded[name] = now
			}
			r.notifyLocked()
		},
	})
	require.NoError(t, err)
	_, err = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.pod(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { r.pod(obj.(*corev1.Pod)) },
	})
	require.NoError(t, err)
	stop := make(chan struct{})
	f.Start(stop)
	f.WaitForCacheSync(stop)
	ctx, cancel := context.WithCancel(ctx)
	list, err := c.ListAllProjects(ctx)
	require.NoError(t, err)
	w, err := c.Watch(ctx, "", list.Revision)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			now := time.Now()
			r.mu.Lock()
			for _, ch := range ev.Changes {
				switch {
				case ch.Sandbox != nil && !ch.Deleted:
					r.sandbox[ch.Sandbox.Name] = appendChange(r.sandbox[ch.Sandbox.Name], now, ch.Sandbox.Status)
				case ch.Project != nil && !ch.Deleted:
					r.project[ch.Project.ID] = appendChange(r.project[ch.Project.ID], now, ch.Project.Status)
				}
			}
			r.notifyLocked()
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		f.Shutdown()
		cancel()
		<-done
	})
	return r
}

func appendChange[T comparable](s []stamp[T], at time.Time, v T) []stamp[T] {
	if len(s) > 0 && s[len(s)-1].v == v {
		return s
	}
	return append(s, stamp[T]{at, v})
}

func (r *recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) sts(s *appsv1.StatefulSet, added bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stsAdded[s.Name]; !ok && added {
		r.stsAdded[s.Name] = now
	}
	if s.Spec.Replicas != nil {
		r.replicas[s.Name] = appendChange(r.replicas[s.Name], now, *s.Spec.Replicas)
	}
	hasURL := false
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			hasURL = hasURL || e.Name == fsa.EnvDatabaseURL
		}
	}
	r.settled[s.Name] = hasURL && s.Status.ObservedGeneration == s.Generation && s.Spec.Replicas != nil &&
		s.Status.ReadyReplicas == *s.Spec.Replicas && s.Status.UpdatedReplicas == *s.Spec.Replicas
	r.notifyLocked()
}

func (r *recorder) pod(p *corev1.Pod) {
	r.mu.Lock()
	if !r.podUIDs[p.UID] {
		r.podUIDs[p.UID] = true
		r.pods[p.Labels[k8s.LabelApp]]++
	}
	r.mu.Unlock()
	ready := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	key := string(p.UID)
	if r.seenPod[key] {
		return
	}
	r.seenPod[key] = true
	app := p.Labels[k8s.LabelApp]
	r.podReady[app] = append(r.podReady[app], now)
	r.notifyLocked()
}

// wait blocks until cond (called with the recorder locked) holds.
func (r *recorder) wait(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// lastIs reports whether the last recorded value of s is v, and when it was recorded.
func lastIs[T comparable](s []stamp[T], v T) (time.Time, bool) {
	if len(s) == 0 || s[len(s)-1].v != v {
		return time.Time{}, false
	}
	return s[len(s)-1].at, true
}

// samples summarises durations.
type samples []time.Duration

func (s samples) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(math.Ceil(q*float64(len(c)))) - 1
	return c[max(0, min(i, len(c)-1))]
}

func (s samples) String() string {
	if len(s) == 0 {
		return "n=0"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(s), ms(s.quantile(.5)), ms(s.quantile(.9)), ms(s.quantile(.99)), ms(s.quantile(1)))
}

// TestBenchLag measures, one project at a time on an otherwise idle runner: the lag from a
// committed intent (create, stop, start: the SDK call returned) to the first Kubernetes write
// carrying it out (the admin watch sees the sandbox's Service or StatefulSet created, or the
// StatefulSet's replicas changed), and
// the lag from a sandbox pod turning Ready (admin watch) to the store's change feed showing the
// sandbox RUNNING.
func TestBenchLag(t *testing.T) {
	benchGate(t)
	b := newBench(t, 2)
	s := settingsFromEnv()
	t.Logf("runner: %v", s)
	b.startRunner(s)
	n := envInt("FSA_BENCH_LAG_N", 20)
	var create, createSts, stop, start, status samples
	const timeout = 2 * time.Minute
	u := b.users[0]
	for i := range n {
		p, err := b.c.CreateProject(b.ctx, u.ID, fsa.ProjectSpec{Name: fmt.Sprintf("lag%d", i), PublicApp: true})
		require.NoError(t, err)
		t0, name := time.Now(), p.Sandbox.Name
		b.rec.wait(t, b.ctx, timeout, "StatefulSet created", func() bool { _, ok := b.rec.stsAdded[name]; return ok })
		b.rec.mu.Lock()
		first := b.rec.stsAdded[name]
		if svc, ok := b.rec.svcAdded[name]; ok && svc.Before(first) {
			first = svc
		}
		create = append(create, first.Sub(t0))
		createSts = append(createSts, b.rec.stsAdded[name].Sub(t0))
		b.rec.mu.Unlock()
		b.waitStatusLag(&status, p, timeout)
		// DATABASE_URL arrives once the database runs, restarting the sandbox: let that finish
		// so the stop measures the intent's own path, not a sync already in flight.
		b.rec.wait(t, b.ctx, timeout, "sandbox rolled out with DATABASE_URL", func() bool {
			_, ok := lastIs(b.rec.project[p.ID], fsa.StatusRunning)
			return ok && b.rec.settled[name]
		})

		_, err = b.c.StopProject(b.ctx, u.ID, p.ID)
		require.NoError(t, err)
		t0 = time.Now()
		var at time.Time
		b.rec.wait(t, b.ctx, timeout, "replicas 0", func() bool { var ok bool; at, ok = lastIs(b.rec.replicas[name], 0); return ok })
		stop = append(stop, at.Sub(t0))
		b.rec.wait(t, b.ctx, timeout, "project STOPPED", func() bool { _, ok := lastIs(b.rec.project[p.ID], fsa.StatusStopped); return ok })

		_, err = b.c.StartProject(b.ctx, u.ID, p.ID)
		require.NoError(t, err)
		t0 = time.Now()
		b.rec.wait(t, b.ctx, timeout, "replicas 1", func() bool { var ok bool; at, ok = lastIs(b.rec.replicas[name], 1); return ok })
		start = append(start, at.Sub(t0))
		b.waitStatusLag(&status, p, timeout)
	}
	t.Logf("intent → first Kubernetes write, create: %v", create)
	t.Logf("intent → StatefulSet created (create):   %v", createSts)
	t.Logf("intent → first Kubernetes write, stop:   %v", stop)
	t.Logf("intent → first Kubernetes write, start:  %v", start)
	all := slices.Concat(create, stop, start)
	t.Logf("intent → first Kubernetes write, all:    %v", all)
	t.Logf("pod Ready → store RUNNING:                %v", status)
	t.Logf("metric fsa_reconcile_lag_seconds (intent → write call), sandbox: %s", histSummary(b.reg, "fsa_reconcile_lag_seconds", "sandbox"))
	t.Logf("metric fsa_reconcile_lag_seconds (intent → write call), database: %s", histSummary(b.reg, "fsa_reconcile_lag_seconds", "database"))
	t.Logf("BENCH lag intent_p50_ms=%.1f intent_p99_ms=%.1f status_p50_ms=%.1f status_p99_ms=%.1f",
		ms(all.quantile(.5)), ms(all.quantile(.99)), ms(status.quantile(.5)), ms(status.quantile(.99)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// waitStatusLag waits for the project to be RUNNING and records pod Ready → sandbox RUNNING.
func (b *bench) waitStatusLag(status *samples, p *fsa.Project, timeout time.Duration) {
	name := p.Sandbox.Name
	var running time.Time
	b.rec.wait(b.t, b.ctx, timeout, "project RUNNING", func() bool {
		var ok bool
		running, ok = lastIs(b.rec.sandbox[name], fsa.StatusRunning)
		_, pok := lastIs(b.rec.project[p.ID], fsa.StatusRunning)
		return ok && pok && len(b.rec.podReady[name]) > 0
	})
	b.rec.mu.Lock()
	ready := b.rec.podReady[name][len(b.rec.podReady[name])-1]
	b.rec.mu.Unlock()
	*status = append(*status, running.Sub(ready))
}

// TestBenchColdIdle provisions FSA_BENCH_PROJECTS projects across FSA_BENCH_USERS users from
// cold and reports projects/s reaching RUNNING; then, with everything RUNNING and the resync
// period shortened to FSA_BENCH_RESYNC, measures over FSA_BENCH_IDLE the store writes, the
// Kubernetes writes and syncs of the runner, and the CPU of this process and of the control
// plane.
func TestBenchColdIdle(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_PROJECTS", 500)
	b := newBench(t, envInt("FSA_BENCH_USERS", 10))
	b.ensureNodes(n)
	s := settingsFromEnv()
	t.Logf("runner: %v; %d projects over %d users", s, n, len(b.users))
	stop := b.startRunner(s)

	req0 := b.apiRequests()
	start := time.Now()
	projects, createdAt := b.createProjects("cold", n)
	created := time.Since(start)
	var firstRunning, lastRunning time.Time
	var lags, intent, stsLag samples
	b.waitAllRunning(projects)
	t.Logf("API server requests while provisioning (all clients, per project): %s", requestDelta(req0, b.apiRequests(), float64(n)))
	b.rec.mu.Lock()
	pods := 0
	for _, p := range projects {
		pods += b.rec.pods[p.Sandbox.Name]
	}
	t.Logf("sandbox pods created: %d for %d projects (a pod replaced when DATABASE_URL arrives counts twice)", pods, n)
	for i, p := range projects {
		if added, ok := b.rec.stsAdded[p.Sandbox.Name]; ok {
			stsLag = append(stsLag, added.Sub(createdAt[i]))
			if svc, ok := b.rec.svcAdded[p.Sandbox.Name]; ok && svc.Before(added) {
				added = svc
			}
			intent = append(intent, added.Sub(createdAt[i]))
		}
		at, _ := lastIs(b.rec.project[p.ID], fsa.StatusRunning)
		if firstRunning.IsZero() || at.Before(firstRunning) {
			firstRunning = at
		}
		if at.After(lastRunning) {
			lastRunning = at
		}
		name := p.Sandbox.Name
		if sb, ok := lastIs(b.rec.sandbox[name], fsa.StatusRunning); ok && len(b.rec.podReady[name]) > 0 {
			lags = append(lags, sb.Sub(b.rec.podReady[name][len(b.rec.podReady[name])-1]))
		}
	}
	b.rec.mu.Unlock()
	total := lastRunning.Sub(start)
	t.Logf("created %d projects in %v; first RUNNING after %v, all RUNNING after %v", n, created.Round(time.Millisecond),
		firstRunning.Sub(start).Round(time.Millisecond), total.Round(time.Millisecond))
	t.Logf("intent → first Kubernetes write (Service or StatefulSet created) under load: %v", intent)
	t.Logf("intent → StatefulSet created under load: %v", stsLag)
	t.Logf("pod Ready → store RUNNING under load: %v", lags)
	t.Logf("metric fsa_reconcile_lag_seconds under load, sandbox: %s", histSummary(b.reg, "fsa_reconcile_lag_seconds", "sandbox"))
	t.Logf("BENCH cold projects=%d users=%d seconds=%.2f projects_per_s=%.1f intent_p50_ms=%.1f intent_p99_ms=%.1f status_p50_ms=%.1f status_p99_ms=%.1f",
		n, len(b.users), total.Seconds(), float64(n)/total.Seconds(), ms(intent.quantile(.5)), ms(intent.quantile(.99)),
		ms(lags.quantile(.5)), ms(lags.quantile(.99)))

	// Idle: a fresh runner (the resync shortened so the window holds several resyncs) over
	// everything RUNNING. With FSA_BENCH_BASELINE, first one as before issue 17 (no trimmed
	// caches, nothing remembered as up to date), then the current one: side by side in one run.
	stop()
	if os.Getenv("FSA_BENCH_NO_IDLE") != "" {
		return
	}
	if os.Getenv("FSA_BENCH_BASELINE") != "" {
		restore := reconcile.SetBaseline(true)
		b.idleWindow(s, n, "baseline")
		restore()
	}
	b.idleWindow(s, n, "current")
}

// heapInUse returns the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return mem.HeapInuse
}

// idleWindow starts a fresh runner over the n RUNNING projects, lets it settle, and measures a
// window of FSA_BENCH_IDLE with a resync every FSA_BENCH_RESYNC: store and Kubernetes writes,
// syncs, CPU, and the runner's heap (the heap in use with it settled, less the heap before it
// started: the stand-ins and the recorder share the process). FSA_BENCH_HEAPPROFILE names a file
// for a heap profile taken at the end of the window.
func (b *bench) idleWindow(s runnerSettings, n int, label string) {
	t := b.t
	idle := envDuration("FSA_BENCH_IDLE", 60*time.Second)
	s.Resync = envDuration("FSA_BENCH_RESYNC", 20*time.Second)
	reg := prometheus.NewRegistry()
	s.Registerer = reg
	heap0 := heapInUse()
	stop := b.startRunner(s)
	// Let the restarted runner's initial full sync settle: its queue empty and no store write
	// for 5 s.
	settle := time.Now()
	b.waitQuiet(reg, 5*time.Second, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
	t.Logf("%s: restarted runner settled in %v (k8s writes %v, syncs %v)", label, time.Since(settle).Round(time.Millisecond),
		counterSum(reg, "fsa_reconcile_kubernetes_writes_total"), histCount(reg, "fsa_reconcile_sync_duration_seconds"))
	w0, y0 := counterSum(reg, "fsa_reconcile_kubernetes_writes_total"), histCount(reg, "fsa_reconcile_sync_duration_seconds")
	m0 := counterSum(reg, "fsa_reconcile_syncs_up_to_date_total")
	req0 := b.apiRequests()
	rev0, cpu0, cp0 := b.revision(), selfCPU(), b.controlPlaneCPU()
	t0 := time.Now()
	select {
	case <-time.After(idle): // the measurement window itself
	case <-b.ctx.Done():
		t.Fatal(b.ctx.Err())
	}
	el := time.Since(t0).Seconds()
	rev1, cpu1, cp1 := b.revision(), selfCPU(), b.controlPlaneCPU()
	w1, y1 := counterSum(reg, "fsa_reconcile_kubernetes_writes_total"), histCount(reg, "fsa_reconcile_sync_duration_seconds")
	m1 := counterSum(reg, "fsa_reconcile_syncs_up_to_date_total")
	heap1 := heapInUse()
	if path := os.Getenv("FSA_BENCH_HEAPPROFILE"); path != "" {
		f, err := os.Create(path + "." + label)
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(f))
		require.NoError(t, f.Close())
	}
	t.Logf("%s: API server requests during the idle window (all clients): %s", label, requestDelta(req0, b.apiRequests(), 1))
	resyncs := math.Floor(idle.Seconds() / s.Resync.Seconds())
	t.Logf("%s: idle %v with resync every %v (%v resyncs): store writes %d (%.3f/s), kubernetes writes %v (%.1f/s), syncs %v (answered from memory %v)",
		label, idle, s.Resync, resyncs, rev1-rev0, float64(rev1-rev0)/el, w1-w0, (w1-w0)/el, y1-y0, m1-m0)
	var cps []string
	for name, v := range cp1 {
		cps = append(cps, fmt.Sprintf("%s=%.1f%%", name, 100*(v-cp0[name])/el))
	}
	slices.Sort(cps)
	runnerHeap := int64(heap1) - int64(heap0)
	perSync := 0.0
	if y1 > y0 {
		perSync = 1000 * (cpu1 - cpu0) / (y1 - y0)
	}
	t.Logf("%s: idle CPU: this process (runner + KubeBlocks stand-in + recorder) %.1f%% of a core (%.3f ms per sync); heap in use %d MiB, of which the runner's %d MiB (%.1f KiB per project); control plane %s",
		label, 100*(cpu1-cpu0)/el, perSync, heap1>>20, runnerHeap>>20, float64(runnerHeap)/1024/float64(n), strings.Join(cps, " "))
	// The same process without the runner, for the baseline.
	stop()
	req2 := b.apiRequests()
	cpu2, rev2, cp2 := selfCPU(), b.revision(), b.controlPlaneCPU()
	t2 := time.Now()
	select {
	case <-time.After(idle / 2):
	case <-b.ctx.Done():
		t.Fatal(b.ctx.Err())
	}
	el2 := time.Since(t2).Seconds()
	cp3 := b.controlPlaneCPU()
	t.Logf("%s: API server requests without the runner: %s", label, requestDelta(req2, b.apiRequests(), 1))
	cps = cps[:0]
	for name, v := range cp3 {
		cps = append(cps, fmt.Sprintf("%s=%.1f%%", name, 100*(v-cp2[name])/el2))
	}
	slices.Sort(cps)
	selfIdle := 100 * (selfCPU() - cpu2) / el2
	t.Logf("%s: without runner over %v: this process %.1f%%, store writes %d; control plane %s", label, (idle / 2),
		selfIdle, b.revision()-rev2, strings.Join(cps, " "))
	t.Logf("BENCH idle %s projects=%d window_s=%.0f resync_s=%.0f store_writes=%d k8s_writes=%v syncs=%v remembered=%v cpu_pct=%.1f cpu_pct_without_runner=%.1f ms_per_sync=%.3f runner_heap_mib=%d runner_heap_kib_per_project=%.1f apiserver_pct=%.1f",
		label, n, el, s.Resync.Seconds(), rev1-rev0, w1-w0, y1-y0, m1-m0, 100*(cpu1-cpu0)/el, selfIdle, perSync, runnerHeap>>20,
		float64(runnerHeap)/1024/float64(n), 100*(cp1[k8stest.APIServer]-cp0[k8stest.APIServer])/el)
}

// TestBenchFailover provisions FSA_BENCH_PROJECTS projects across FSA_BENCH_USERS users, lets
// them all reach RUNNING, then changes the leader FSA_BENCH_FAILOVERS times: the runner stops,
// the next epoch is acquired (the election) and a runner with that epoch starts. For each
// change it reports the time from the election until the new runner has synced every sandbox
// and database once (fsa_reconcile_initial_sync_seconds set), the Kubernetes writes meanwhile
// (the API server's server-side applies to the four resources fsa writes, and every write to
// them for context) and how many objects then carry the new epoch.
func TestBenchFailover(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_PROJECTS", 500)
	b := newBench(t, envInt("FSA_BENCH_USERS", 10))
	b.ensureNodes(n)
	s := settingsFromEnv()
	t.Logf("runner: %v; %d projects over %d users", s, n, len(b.users))
	stop := b.startRunner(s)
	start := time.Now()
	projects, _ := b.createProjects("fo", n)
	b.waitAllRunning(projects)
	t.Logf("%d projects RUNNING after %v", n, time.Since(start).Round(time.Millisecond))
	b.waitQuiet(b.reg, 5*time.Second, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
	stop()

	settle := envDuration("FSA_BENCH_SETTLE", 3*time.Minute)
	for i := range envInt("FSA_BENCH_FAILOVERS", 2) {
		fence := uint64(i + 2)
		reg := prometheus.NewRegistry()
		s.Fence, s.Registerer = fence, reg
		req0 := b.apiRequests()
		t0 := time.Now()
		require.NoError(t, b.c.AcquireEpoch(b.ctx, fence))
		stop = b.startRunner(s)
		runnerSecs := b.waitInitialSync(reg, settle)
		took := time.Since(t0)
		req1 := b.apiRequests()
		applies, writes := 0.0, map[string]float64{}
		for k, v := range req1 {
			verb, res, _ := strings.Cut(k, " ")
			d := v - req0[k]
			if d <= 0 || !slices.Contains([]string{"statefulsets", "services", "ingresses", "clusters"}, res) ||
				!slices.Contains([]string{"APPLY", "PATCH", "POST", "PUT", "DELETE"}, verb) {
				continue
			}
			writes[k] = d
			if verb == "APPLY" {
				applies += d
			}
		}
		rewritten := b.objectsAtEpoch(fence)
		t.Logf("failover %d (epoch %d): every project verified %v after the election (runner: %.2fs after its start); "+
			"server-side applies %v, writes to fsa's resources %s (all clients); objects now at epoch %d: %d; runner syncs %v, its k8s write calls %v",
			i+1, fence, took.Round(time.Millisecond), runnerSecs, applies, requestDelta(map[string]float64{}, writes, 1), fence, rewritten,
			histCount(reg, "fsa_reconcile_sync_duration_seconds"), counterSum(reg, "fsa_reconcile_kubernetes_writes_total"))
		t.Logf("BENCH failover projects=%d failover=%d seconds=%.2f runner_seconds=%.2f applies=%v objects_rewritten=%d",
			n, i+1, took.Seconds(), runnerSecs, applies, rewritten)
		// What the runner does after its initial sync (events of its own writes) belongs to this
		// change: let it finish before the next.
		b.waitQuiet(reg, 5*time.Second, settle)
		stop()
	}
}

// waitInitialSync polls the runner's fsa_reconcile_initial_sync_seconds every 20 ms until it is
// set, and returns it.
func (b *bench) waitInitialSync(reg *prometheus.Registry, timeout time.Duration) float64 {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := gaugeValue(reg, "fsa_reconcile_initial_sync_seconds"); v > 0 {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no initial sync after %v (queue depth %v)", timeout, gaugeValue(reg, "fsa_reconcile_queue_depth"))
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			b.t.Fatal(b.ctx.Err())
		}
	}
}

// objectsAtEpoch counts fsa's StatefulSets, Services, Ingresses and Clusters whose epoch
// annotation is epoch.
func (b *bench) objectsAtEpoch(epoch uint64) int {
	cs := b.cl.Clientset()
	opts := metav1.ListOptions{LabelSelector: k8s.ManagedSelector}
	var objs []metav1.Object
	sts, err := cs.AppsV1().StatefulSets("").List(b.ctx, opts)
	require.NoError(b.t, err)
	for i := range sts.Items {
		objs = append(objs, &sts.Items[i])
	}
	svcs, err := cs.CoreV1().Services("").List(b.ctx, opts)
	require.NoError(b.t, err)
	for i := range svcs.Items {
		objs = append(objs, &svcs.Items[i])
	}
	ings, err := cs.NetworkingV1().Ingresses("").List(b.ctx, opts)
	require.NoError(b.t, err)
	for i := range ings.Items {
		objs = append(objs, &ings.Items[i])
	}
	cls, err := b.cl.Dynamic().Resource(k8s.GVRCluster).List(b.ctx, opts)
	require.NoError(b.t, err)
	for i := range cls.Items {
		objs = append(objs, &cls.Items[i])
	}
	want := strconv.FormatUint(epoch, 10)
	count := 0
	for _, o := range objs {
		if o.GetAnnotations()[k8s.AnnotationEpoch] == want {
			count++
		}
	}
	return count
}

// waitAllRunning waits until the store shows every project RUNNING at once.
func (b *bench) waitAllRunning(projects []*fsa.Project) {
	next := 0 // projects[:next] were seen RUNNING: each change checks only from there
	allRunning := func() bool {
		for next < len(projects) {
			if _, ok := lastIs(b.rec.project[projects[next].ID], fsa.StatusRunning); !ok {
				return false
			}
			next++
		}
		return true
	}
	for {
		b.rec.wait(b.t, b.ctx, 60*time.Minute, "every project RUNNING", allRunning)
		next = 0 // and all of them still are
		b.rec.mu.Lock()
		ok := allRunning()
		b.rec.mu.Unlock()
		if ok {
			return
		}
	}
}

// waitQuiet waits until the runner's queue is empty and the store has not changed for quiet;
// after timeout it logs that the runner never settled and returns.
func (b *bench) waitQuiet(reg *prometheus.Registry, quiet, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	last, since := b.revision(), time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			b.t.Logf("runner not settled after %v (queue depth %v)", timeout, gaugeValue(reg, "fsa_reconcile_queue_depth"))
			return
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			b.t.Fatal(b.ctx.Err())
		}
		if rev := b.revision(); rev != last || gaugeValue(reg, "fsa_reconcile_queue_depth") > 0 {
			last, since = rev, time.Now()
		}
	}
}

func gaugeValue(reg *prometheus.Registry, name string) float64 {
	var sum float64
	for _, m := range gather(reg, name) {
		sum += m.GetGauge().GetValue()
	}
	return sum
}

func (b *bench) revision() int64 {
	list, err := b.c.ListAllProjects(b.ctx)
	require.NoError(b.t, err)
	return list.Revision
}

// selfCPU returns this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// controlPlaneCPU returns the CPU seconds of each control-plane process, when this test binary
// started the control plane.
func (b *bench) controlPlaneCPU() map[string]float64 {
	out := map[string]float64{}
	cp := b.cl.ControlPlane()
	if cp == nil {
		return out
	}
	for name, pid := range cp.PIDs() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces): state is field 3; utime, stime 14, 15.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (ut + st) / 100 // USER_HZ
	}
	return out
}

func gather(reg *prometheus.Registry, name string) []*dto.Metric {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func counterSum(reg *prometheus.Registry, name string) float64 {
	var sum float64
	for _, m := range gather(reg, name) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func histCount(reg *prometheus.Registry, name string) float64 {
	var sum float64
	for _, m := range gather(reg, name) {
		sum += float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// histSummary estimates p50 and p99 of a histogram series (by its kind label) from its
// buckets, interpolating linearly inside a bucket.
func histSummary(reg *prometheus.Registry, name, kind string) string {
	for _, m := range gather(reg, name) {
		match := false
		for _, l := range m.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == kind {
				match = true
			}
		}
		if !match {
			continue
		}
		h := m.GetHistogram()
		q := func(q float64) float64 {
			target := q * float64(h.GetSampleCount())
			lo, prev := 0.0, 0.0
			for _, bk := range h.GetBucket() {
				c := float64(bk.GetCumulativeCount())
				if c >= target {
					if c == prev {
						return bk.GetUpperBound()
					}
					return lo + (bk.GetUpperBound()-lo)*(target-prev)/(c-prev)
				}
				lo, prev = bk.GetUpperBound(), c
			}
			return math.Inf(1)
		}
		return fmt.Sprintf("n=%d mean=%.1fms p50≈%.1fms p99≈%.1fms", h.GetSampleCount(),
			1000*h.GetSampleSum()/float64(max(1, h.GetSampleCount())), 1000*q(.5), 1000*q(.99))
	}
	return "n=0"
}

// apiRequests reads the API server's apiserver_request_total, summed by verb and resource.
func (b *bench) apiRequests() map[string]float64 {
	out := map[string]float64{}
	raw, err := b.cl.Clientset().CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.ctx)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels := line[len("apiserver_request_total{"):strings.LastIndexByte(line, '}')]
		get := func(name string) string {
			i := strings.Index(labels, name+"=\"")
			if i < 0 {
				return ""
			}
			rest := labels[i+len(name)+2:]
			return rest[:strings.IndexByte(rest, '"')]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			continue
		}
		out[get("verb")+" "+get("resource")] += v
	}
	return out
}

// requestDelta formats the nonzero differences divided by per, largest first.
func requestDelta(a, b map[string]float64, per float64) string {
	type kv struct {
		k string
		v float64
	}
	var d []kv
	total := 0.0
	for k, v := range b {
		if dv := v - a[k]; dv > 0 {
			d = append(d, kv{k, dv})
			total += dv
		}
	}
	slices.SortFunc(d, func(x, y kv) int { return int(y.v - x.v) })
	var parts []string
	for i, e := range d {
		if i == 16 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%s", e.k, num(e.v/per)))
	}
	return fmt.Sprintf("total %s: %s", num(total/per), strings.Join(parts, " "))
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
