package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
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

// counting is an HTTP transport wrapper counting the requests that pass.
type counting struct{ n atomic.Int64 }

func (c *counting) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBenchProvisionRatio provisions FSA_BENCH_PROJECTS projects twice on one control plane in
// one run: first with a raw client-go writer that creates the same objects per project (the
// sandbox's Secret, StatefulSet, Service and two Ingresses, and the KubeBlocks Cluster) as fast
// as the API server takes them, and puts DATABASE_URL into the sandbox's Secret when the
// database's credentials appear, as reconcile does; then with fsa (store, runner). Both use the
// same workers, client rate limits and users; each is done when every StatefulSet is rolled out
// and ready and every Cluster Running. It reports projects/s and the writer's own API requests
// per project for both, and their ratios. The raw run goes first, so fsa provisions into a
// cluster that already holds the raw run's objects: the comparison is not in fsa's favour.
func TestBenchProvisionRatio(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_PROJECTS", 500)
	users := envInt("FSA_BENCH_USERS", 10)
	b := newBench(t, users)
	b.ensureNodes(2 * n)
	s := settingsFromEnv()
	t.Logf("%d projects over %d users, twice; workers=%d qps=%g burst=%d", n, users, s.Workers, s.QPS, s.Burst)

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
	start := time.Now()
	stopCreds := rawCredentials(t, b.ctx, rawUsers)
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, s.Workers)
	for range s.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createRaw(b.ctx, rawUsers[i%users], i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	created := time.Since(start)
	names := make([]string, n)
	for i := range names {
		names[i] = rawName(i)
	}
	b.waitSettled(names)
	b.waitClustersRunning(rawUsers, n)
	rawTime := time.Since(start)
	stopCreds()
	rawReqs := float64(raw.n.Load()) / float64(n)
	t.Logf("raw: %d projects created in %v, all ready after %v: %.2f projects/s, %.1f requests per project (%d in all)",
		n, created.Round(time.Millisecond), rawTime.Round(time.Millisecond), float64(n)/rawTime.Seconds(), rawReqs, raw.n.Load())

	// fsa.
	var fsaReq counting
	s.Wrap = fsaReq.wrap
	stop := b.startRunner(s)
	defer stop()
	start = time.Now()
	projects, _ := b.createProjects("ratio", n)
	b.waitAllRunning(projects)
	fsaTime := time.Since(start)
	fsaReqs := float64(fsaReq.n.Load()) / float64(n)
	t.Logf("fsa: %d projects all RUNNING after %v: %.2f projects/s, %.1f requests per project (%d in all)",
		n, fsaTime.Round(time.Millisecond), float64(n)/fsaTime.Seconds(), fsaReqs, fsaReq.n.Load())
	t.Logf("BENCH provision projects=%d raw_per_s=%.2f fsa_per_s=%.2f throughput_ratio=%.2f raw_requests=%.1f fsa_requests=%.1f requests_ratio=%.2f",
		n, float64(n)/rawTime.Seconds(), float64(n)/fsaTime.Seconds(), rawTime.Seconds()/fsaTime.Seconds(), rawReqs, fsaReqs, fsaReqs/rawReqs)
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
