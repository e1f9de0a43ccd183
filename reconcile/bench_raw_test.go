package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// counting is an HTTP transport wrapper counting the requests that pass, by verb and
// resource.
type counting struct {
	n  atomic.Int64
	mu sync.Mutex
	by map[string]float64
}

func (c *counting) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		res, named := resourceOf(r.URL.Path)
		key := r.Method + " " + res
		switch {
		case r.URL.Query().Get("watch") == "true":
			key = "WATCH " + res
		case r.Method == http.MethodGet && !named:
			key = "LIST " + res
		}
		c.mu.Lock()
		if c.by == nil {
			c.by = map[string]float64{}
		}
		c.by[key]++
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// snapshot returns the counts so far by verb and resource.
func (c *counting) snapshot() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]float64, len(c.by))
	for k, v := range c.by {
		out[k] = v
	}
	return out
}

// resourceOf names the resource of an API path, /api/v1/namespaces/ns/secrets/x → secrets,
// with a subresource after a slash (statefulsets/status), and whether the path names one
// object.
func resourceOf(path string) (string, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2], true
			}
			return rest[0], len(rest) == 2
		}
	}
	return "discovery", false
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBenchProvisionRatio provisions projects on one control plane in one run, alternately
// with a raw client-go writer and with fsa, in FSA_BENCH_ROUNDS rounds (default 2) of
// FSA_BENCH_PROJECTS projects each, in the order raw, fsa, fsa, raw, raw, fsa, ... so that
// each side provisions into clusters holding, on average, as many earlier objects as the
// other. The raw writer creates the same objects per project (the sandbox's Secret,
// StatefulSet, Service and two Ingresses, and the KubeBlocks Cluster) as fast as the API server
// takes them, and puts DATABASE_URL into the sandbox's Secret when the database's credentials
// appear, as reconcile does; fsa is the store and a runner started before the first fsa round
// and kept (a leader serves many rounds of creates). Both use the same workers, client rate
// limits and users; a round is done when every StatefulSet is rolled out and ready and every
// Cluster Running (fsa: every project RUNNING in the store). It reports projects/s and the
// writer's own API requests per project (by verb and resource) for each round, the medians'
// ratios, and the fsa runner's start-up requests apart. FSA_BENCH_CPUPROFILE names a file
// prefix for a CPU profile of this process in each round.
func TestBenchProvisionRatio(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_PROJECTS", 500)
	users := envInt("FSA_BENCH_USERS", 10)
	rounds := envInt("FSA_BENCH_ROUNDS", 2)
	b := newBench(t, users)
	b.ensureNodes(2 * rounds * n)
	s := settingsFromEnv()
	t.Logf("%d projects over %d users, %d rounds each side; workers=%d qps=%g burst=%d", n, users, rounds, s.Workers, s.QPS, s.Burst)

	// The raw writer, in namespaces of its own.
	var raw counting
	clients := k8s.NewClients(k8s.WithRateLimit(s.QPS, s.Burst), k8s.WithTransportWrapper(raw.wrap))
	var rawUsers []*k8s.Client
	for i := range users {
		ku := b.cl.NewTestUser(t, fmt.Sprintf("raw%d", i))
		c, err := clients.Get(ku.Namespace, ku.Kubeconfig)
		require.NoError(t, err)
		rawUsers = append(rawUsers, c)
	}
	stopCreds := rawCredentials(t, b.ctx, rawUsers)
	defer stopCreds()

	var fsaReq counting
	var stopRunner func()
	var rawRates, fsaRates, rawReqs, fsaReqs []float64
	rawDone := 0
	for i := range 2 * rounds {
		// raw, fsa, fsa, raw, raw, fsa, ...
		isRaw := (i%4 == 0) || (i%4 == 3)
		stopProfile := profileRound(t, i+1, isRaw)
		if isRaw {
			req0, by0 := raw.n.Load(), raw.snapshot()
			self0, cp0 := selfCPU(), b.controlPlaneCPU()
			start := time.Now()
			b.provisionRaw(rawUsers, rawDone, n, s.Workers)
			took := time.Since(start)
			rawDone += n
			per := float64(raw.n.Load()-req0) / float64(n)
			rawRates, rawReqs = append(rawRates, float64(n)/took.Seconds()), append(rawReqs, per)
			stopProfile()
			t.Logf("round %d raw: %d projects ready after %v: %.2f projects/s, %.2f requests per project: %s; %s",
				i+1, n, took.Round(time.Millisecond), float64(n)/took.Seconds(), per, requestDelta(by0, raw.snapshot(), float64(n)), b.cpuPerProject(self0, cp0, n))
			continue
		}
		if stopRunner == nil {
			s.Wrap = fsaReq.wrap
			stopRunner = b.startRunner(s)
			defer stopRunner()
			b.waitInitialSync(b.reg, 5*time.Minute)
			t.Logf("fsa runner started: %d requests (informers' lists and watches): %s", fsaReq.n.Load(), requestDelta(nil, fsaReq.snapshot(), 1))
		}
		req0, by0 := fsaReq.n.Load(), fsaReq.snapshot()
		self0, cp0 := selfCPU(), b.controlPlaneCPU()
		start := time.Now()
		projects, _ := b.createProjects(fmt.Sprintf("ratio%d-", i), n)
		b.waitAllRunning(projects)
		took := time.Since(start)
		stopProfile()
		per := float64(fsaReq.n.Load()-req0) / float64(n)
		fsaRates, fsaReqs = append(fsaRates, float64(n)/took.Seconds()), append(fsaReqs, per)
		t.Logf("round %d fsa: %d projects RUNNING after %v: %.2f projects/s, %.2f requests per project: %s; %s",
			i+1, n, took.Round(time.Millisecond), float64(n)/took.Seconds(), per, requestDelta(by0, fsaReq.snapshot(), float64(n)), b.cpuPerProject(self0, cp0, n))
	}
	rawRate, fsaRate, rawReq, fsaReqM := median(rawRates), median(fsaRates), median(rawReqs), median(fsaReqs)
	t.Logf("BENCH provision projects=%d rounds=%d raw_per_s=%v fsa_per_s=%v raw_requests=%v fsa_requests=%v",
		n, rounds, rawRates, fsaRates, rawReqs, fsaReqs)
	t.Logf("BENCH provision-ratio projects=%d rounds=%d raw_per_s_median=%.2f fsa_per_s_median=%.2f throughput_ratio=%.2f raw_requests_median=%.2f fsa_requests_median=%.2f requests_ratio=%.2f",
		n, rounds, rawRate, fsaRate, fsaRate/rawRate, rawReq, fsaReqM, fsaReqM/rawReq)
}

// provisionRaw creates projects [from, from+n) with the raw writer and waits until they are
// ready.
func (b *bench) provisionRaw(users []*k8s.Client, from, n, workers int) {
	t := b.t
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createRaw(b.ctx, users[i%len(users)], i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := from; i < from+n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = rawName(from + i)
	}
	b.waitSettled(names)
	b.waitClustersRunning(users, from+n)
}

// cpuPerProject formats the CPU seconds per project used since (self0, cp0) by this process
// (the writer under test, the stand-ins and the recorder) and by each control-plane component.
func (b *bench) cpuPerProject(self0 float64, cp0 map[string]float64, n int) string {
	parts := []string{fmt.Sprintf("this process %.1f ms", 1000*(selfCPU()-self0)/float64(n))}
	cp1 := b.controlPlaneCPU()
	var names []string
	for name := range cp1 {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f ms", name, 1000*(cp1[name]-cp0[name])/float64(n)))
	}
	return "CPU per project: " + strings.Join(parts, ", ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rawName(i int) string { return fmt.Sprintf("raw%d", i) }

// createRaw creates project i's objects in c's namespace: the sandbox's Secret, StatefulSet,
// Service and Ingresses, then its Cluster, as reconcile builds them.
func createRaw(ctx context.Context, c *k8s.Client, i int) error {
	name := rawName(i)
	objs := k8s.BuildSandbox(k8s.SandboxSpec{
		Name: name, Project: name, Epoch: 1, Domain: "sandbox.fsa.test",
		AppHostLabel: name + "app", TerminalHostLabel: name + "ttyd",
		Env:       map[string]string{"FSA_PROJECT": name, fsa.EnvProjectName: name},
		SecretEnv: map[string]string{fsa.EnvTTYDAccessToken: "token-" + name},
		LiveKeys:  []string{fsa.EnvDatabaseURL},
	})
	cs, ns := c.Clientset, c.Namespace
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, objs.Secret, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, objs.StatefulSet, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, objs.Service, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, ing := range []*networkingv1.Ingress{objs.AppIngress, objs.TerminalIngress} {
		if _, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	// The Cluster last, so that its credentials find the sandbox's Secret to take them in.
	db := k8s.DatabaseSpec{Name: name + "-db", Namespace: c.Namespace, Project: name, Epoch: 1}
	_, err := c.Dynamic.Resource(k8s.GVRCluster).Namespace(c.Namespace).Create(ctx, k8s.BuildDatabase(db), metav1.CreateOptions{})
	return err
}

// rawCredentials watches the raw users' database credentials and writes each database's
// DATABASE_URL into its sandbox's Secret (one patch), as reconcile does; stop ends it.
func rawCredentials(t *testing.T, ctx context.Context, users []*k8s.Client) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range users {
		f := kinformers.NewSharedInformerFactoryWithOptions(c.Clientset, 0, kinformers.WithNamespace(c.Namespace),
			kinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = k8s.LabelManagedBy + "=kubeblocks" }))
		_, err := f.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
			sec := obj.(*corev1.Secret)
			cluster := sec.Labels["app.kubernetes.io/instance"]
			url, err := k8s.ConnectionURLOf(sec.Data)
			if err != nil || len(cluster) < 4 {
				return
			}
			patch := fmt.Sprintf(`{"stringData":{%q:%q}}`, fsa.EnvDatabaseURL, url)
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := k8s.SandboxSpec{Name: cluster[:len(cluster)-3]}
				_, err := c.Clientset.CoreV1().Secrets(c.Namespace).Patch(ctx, spec.SecretName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				if err != nil && ctx.Err() == nil {
					t.Errorf("raw: DATABASE_URL of %s: %v", cluster, err)
				}
			}()
		}})
		require.NoError(t, err)
		f.Start(done)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// waitSettled waits until the recorder has seen every named StatefulSet rolled out and ready.
func (b *bench) waitSettled(names []string) {
	next := 0
	b.rec.wait(b.t, b.ctx, 60*time.Minute, "every raw StatefulSet ready", func() bool {
		for next < len(names) && b.rec.settled[names[next]] {
			next++
		}
		return next == len(names)
	})
}

// waitClustersRunning waits until n Clusters in the users' namespaces are Running.
func (b *bench) waitClustersRunning(users []*k8s.Client, n int) {
	require.Eventually(b.t, func() bool {
		running := 0
		for _, c := range users {
			list, err := b.cl.Dynamic().Resource(k8s.GVRCluster).Namespace(c.Namespace).List(b.ctx, metav1.ListOptions{})
			if err != nil {
				return false
			}
			for i := range list.Items {
				if phase, _, _ := unstructured.NestedString(list.Items[i].Object, "status", "phase"); phase == "Running" {
					running++
				}
			}
		}
		return running == n
	}, 60*time.Minute, 500*time.Millisecond, "every raw Cluster Running")
}

// profileRound starts a CPU profile of this process for round i when FSA_BENCH_CPUPROFILE names
// a file prefix; the returned func stops it.
func profileRound(t *testing.T, i int, raw bool) (stop func()) {
	path := os.Getenv("FSA_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	side := "fsa"
	if raw {
		side = "raw"
	}
	f, err := os.Create(fmt.Sprintf("%s.round%d_%s", path, i, side))
	require.NoError(t, err)
	require.NoError(t, pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		require.NoError(t, f.Close())
	}
}
