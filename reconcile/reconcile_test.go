package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

const waitFor = 90 * time.Second

// fixture is one user with a namespace-scoped kubeconfig, an SDK over a bbolt store, and the
// admin view of the cluster for checking and for injecting faults.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	cluster *k8stest.Cluster
	kuser   *k8stest.User
	c       *fsa.Client
	user    *fsa.User
}

func newFixture(t *testing.T, name string) *fixture {
	cl := k8stest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, ctx: ctx, cluster: cl, kuser: cl.NewTestUser(t, name), c: fsa.New(st)}
	f.user, err = f.c.CreateUser(ctx, fsa.UserSpec{Name: name})
	require.NoError(t, err)
	_, err = f.c.SetUserConfig(ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(f.kuser.Kubeconfig), Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	return f
}

// running is a reconcile runner started by a test.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, valid after done
}

// stop cancels the runner and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// runner starts a reconcile runner with the given fence; it is stopped at the end of the test.
func (f *fixture) runner(fence uint64) *running {
	f.t.Helper()
	r, err := reconcile.New(reconcile.Config{
		Client: f.c, Fence: fence, Domain: "sandbox.fsa.test", Workers: 4,
		Resync:      time.Hour, // prove the loops are event-driven: no resync during a test
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		Registerer: prometheus.NewRegistry(),
	})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	run := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.err = r.Run(ctx)
	}()
	f.t.Cleanup(func() { _ = run.stop() })
	return run
}

func (f *fixture) acquire(epoch uint64) uint64 {
	require.NoError(f.t, f.c.AcquireEpoch(f.ctx, epoch))
	return epoch
}

func (f *fixture) create(name string) *fsa.Project {
	p, err := f.c.CreateProject(f.ctx, f.user.ID, fsa.ProjectSpec{Name: name})
	require.NoError(f.t, err)
	return p
}

// waitProject polls the store until cond holds, failing after waitFor.
func (f *fixture) waitProject(id string, what string, cond func(p *fsa.Project) bool) *fsa.Project {
	f.t.Helper()
	deadline := time.Now().Add(waitFor)
	var last *fsa.Project
	for {
		p, err := f.c.ProjectByID(f.ctx, id)
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		} else if !errors.Is(err, fsa.ErrNotFound) {
			require.NoError(f.t, err)
		} else if cond(nil) {
			return nil
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for project %s: %s; last seen: %s", id, what, describe(last))
		}
		select {
		case <-f.ctx.Done():
			f.t.Fatal(f.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func describe(p *fsa.Project) string {
	if p == nil {
		return "gone"
	}
	return fmt.Sprintf("project %s, sandbox %s (%s), database %s (%s)", p.Status, p.Sandbox.Status, p.Sandbox.Reason, p.Database.Status, p.Database.Reason)
}

func both(st fsa.Status) func(*fsa.Project) bool {
	return func(p *fsa.Project) bool {
		return p != nil && p.Sandbox.Status == st && p.Database.Status == st
	}
}

func gone(p *fsa.Project) bool { return p == nil }

func (f *fixture) sts(name string) (*appsv1.StatefulSet, error) {
	return f.cluster.Clientset().AppsV1().StatefulSets(f.kuser.Namespace).Get(f.ctx, name, metav1.GetOptions{})
}

// waitK8s polls the cluster until cond holds.
func (f *fixture) waitK8s(what string, cond func() (bool, error)) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		ok, err := cond()
		return err == nil && ok
	}, waitFor, 50*time.Millisecond, what)
}

func envOf(s *appsv1.StatefulSet) map[string]string {
	out := map[string]string{}
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			out[e.Name] = e.Value
		}
	}
	return out
}

func TestLifecycle(t *testing.T) {
	f := newFixture(t, "life")
	fence := f.acquire(1)
	f.runner(fence)
	p := f.create("My Blog!")

	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	require.Equal(t, fsa.StatusRunning, p.Status)
	assert.Equal(t, "https://"+p.Sandbox.AppHostLabel+".sandbox.fsa.test", p.Sandbox.AppURL)
	assert.Equal(t, "https://"+p.Sandbox.TerminalHostLabel+".sandbox.fsa.test", p.Sandbox.TerminalURL)
	var tl []fsa.Status
	for _, c := range p.Sandbox.Conditions {
		tl = append(tl, c.To)
	}
	assert.Equal(t, []fsa.Status{fsa.StatusCreating, fsa.StatusStarting, fsa.StatusRunning}, tl, "the sandbox timeline")

	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	assert.Equal(t, "1", s.Annotations[k8s.AnnotationEpoch], "writes carry the fencing token")
	token, err := f.c.RuntimeEnv(f.ctx, p.ID)
	require.NoError(t, err)
	// DATABASE_URL arrives once the database runs.
	f.waitK8s("DATABASE_URL injected", func() (bool, error) {
		s, err := f.sts(p.Sandbox.Name)
		if err != nil {
			return false, err
		}
		env := envOf(s)
		return env[fsa.EnvDatabaseURL] != "" && env[fsa.EnvTTYDAccessToken] == token[0].Value && env["FSA_PROJECT"] == p.ID, nil
	})
	for _, name := range []string{p.Sandbox.Name + "-app", p.Sandbox.Name + "-terminal"} {
		_, err := f.cluster.Clientset().NetworkingV1().Ingresses(f.kuser.Namespace).Get(f.ctx, name, metav1.GetOptions{})
		require.NoError(t, err, "ingress %s", name)
	}

	// Stop: replicas 0, the home volume kept.
	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	s, err = f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	require.Equal(t, int32(0), *s.Spec.Replicas)
	pvcs, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(f.kuser.Namespace).List(f.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pvcs.Items, "the home volume is kept while stopped")

	_, err = f.c.StartProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both RUNNING again", both(fsa.StatusRunning))

	// A delete that purges the data leaves nothing (the default keeps it: retention_test.go).
	_, err = f.c.DeleteProject(f.ctx, f.user.ID, p.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	f.waitProject(p.ID, "project removed", gone)
	_, err = f.sts(p.Sandbox.Name)
	require.True(t, apierrors.IsNotFound(err), "StatefulSet gone, got %v", err)
	_, err = f.cluster.Clientset().CoreV1().Services(f.kuser.Namespace).Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "Service gone, got %v", err)
	ings, err := f.cluster.Clientset().NetworkingV1().Ingresses(f.kuser.Namespace).List(f.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, ings.Items)
	_, err = f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(f.kuser.Namespace).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "database cluster gone, got %v", err)
}

// A new sandbox's StatefulSet waits for its DATABASE_URL, so its pod is not started without it
// only to be replaced when it arrives.
func TestSandboxStartsWithDatabaseURL(t *testing.T) {
	f := newFixture(t, "dburl")
	f.runner(f.acquire(1))
	// The first project lets the user's caches sync (without them the runner applies everything
	// at once, as before); the second one is the one checked.
	first := f.create("first")
	f.waitProject(first.ID, "both RUNNING", both(fsa.StatusRunning))
	p := f.create("second")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))

	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	assert.NotEmpty(t, envOf(s)[fsa.EnvDatabaseURL])
	assert.Equal(t, int64(1), s.Generation, "the StatefulSet was created with DATABASE_URL and never changed")
	pods, err := f.cluster.Clientset().CoreV1().Pods(f.kuser.Namespace).List(f.ctx, metav1.ListOptions{
		LabelSelector: k8s.LabelApp + "=" + p.Sandbox.Name})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	for _, e := range pods.Items[0].Spec.Containers[0].Env {
		if e.Name == fsa.EnvDatabaseURL {
			return
		}
	}
	t.Fatalf("pod %s runs without %s", pods.Items[0].Name, fsa.EnvDatabaseURL)
}

func TestEnvReachesStatefulSet(t *testing.T) {
	f := newFixture(t, "env")
	f.runner(f.acquire(1))
	p := f.create("envs")
	f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	u := f.user.ID
	envIs := func(key, want string, present bool) func() (bool, error) {
		return func() (bool, error) {
			s, err := f.sts(p.Sandbox.Name)
			if err != nil {
				return false, err
			}
			v, ok := envOf(s)[key]
			return ok == present && v == want, nil
		}
	}
	_, err := f.c.SetEnv(f.ctx, u, p.ID, fsa.EnvSpec{Key: "GREETING", Value: "hello"})
	require.NoError(t, err)
	f.waitK8s("added", envIs("GREETING", "hello", true))
	bonjour := "bonjour"
	_, err = f.c.UpdateEnv(f.ctx, u, p.ID, fsa.EnvUpdate{Key: "GREETING", Value: &bonjour})
	require.NoError(t, err)
	f.waitK8s("changed", envIs("GREETING", "bonjour", true))
	require.NoError(t, f.c.DeleteEnv(f.ctx, u, p.ID, "GREETING"))
	f.waitK8s("removed", envIs("GREETING", "", false))

	_, err = f.c.SetUserConfig(f.ctx, u, fsa.UserConfig{Key: fsa.ConfigAnthropicAPIKey, Value: "sk-ant-test", Category: fsa.CategoryAnthropic, Secret: true})
	require.NoError(t, err)
	f.waitK8s("anthropic key injected as ANTHROPIC_AUTH_TOKEN", envIs(fsa.EnvAnthropicAuthToken, "sk-ant-test", true))
}

func TestDriftRepair(t *testing.T) {
	f := newFixture(t, "drift")
	f.runner(f.acquire(1))
	p := f.create("drift")
	p = f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	apps := f.cluster.Clientset().AppsV1().StatefulSets(f.kuser.Namespace)

	// Scaled out of band: restored.
	_, err := apps.UpdateScale(f.ctx, p.Sandbox.Name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: p.Sandbox.Name, Namespace: f.kuser.Namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: 0},
	}, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitK8s("replicas restored to 1", func() (bool, error) {
		s, err := f.sts(p.Sandbox.Name)
		return err == nil && *s.Spec.Replicas == 1, err
	})

	// Deleted out of band: recreated.
	old, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	require.NoError(t, apps.Delete(f.ctx, p.Sandbox.Name, metav1.DeleteOptions{}))
	f.waitK8s("StatefulSet recreated", func() (bool, error) {
		s, err := f.sts(p.Sandbox.Name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && s.UID != old.UID, err
	})
	f.waitProject(p.ID, "RUNNING after repair", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
}

func TestCrashLoopIsErrorAndRecovers(t *testing.T) {
	f := newFixture(t, "crash")
	f.runner(f.acquire(1))
	p := f.create("crash")
	p = f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	apps := f.cluster.Clientset().AppsV1().StatefulSets(f.kuser.Namespace)

	patch := func(value string) {
		body := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"fsa.test/simulate":%s}}}}}`, value)
		_, err := apps.Patch(f.ctx, p.Sandbox.Name, types.MergePatchType, []byte(body), metav1.PatchOptions{FieldManager: "chaos"})
		require.NoError(t, err)
		// The StatefulSet controller replaces pods one at a time only when the old one is
		// ready; delete it so the new template takes effect at once.
		_ = f.cluster.Clientset().CoreV1().Pods(f.kuser.Namespace).Delete(f.ctx, p.Sandbox.Name+"-0", metav1.DeleteOptions{})
	}
	patch(`"crashloop"`)
	e := f.waitProject(p.ID, "sandbox ERROR", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusError })
	assert.Contains(t, e.Sandbox.Reason, "CrashLoopBackOff")
	ex := fsa.Explain(e)
	assert.Contains(t, ex.Children[0].LastError, "CrashLoopBackOff")

	patch(`null`)
	f.waitProject(p.ID, "sandbox RUNNING after recovery", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
}

func TestStaleFenceCannotWrite(t *testing.T) {
	f := newFixture(t, "fence")
	a := f.runner(f.acquire(1))
	p := f.create("fenced")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))

	// A new leader takes the epoch; the old runner must not act on the next intent.
	f.acquire(2)
	_, err := f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	select {
	case <-a.done:
		require.ErrorIs(t, a.err, fsa.ErrFenced, "the stale runner stops itself")
	case <-time.After(waitFor):
		t.Fatal("stale runner did not stop")
	}
	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	require.Equal(t, int32(1), *s.Spec.Replicas, "the stale runner scaled nothing")
	require.Equal(t, "1", s.Annotations[k8s.AnnotationEpoch])
	cur, err := f.c.ProjectByID(f.ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, fsa.StatusStopping, cur.Sandbox.Status, "no stale observation was recorded")

	// The new leader carries the intent out, and its writes carry its epoch.
	f.runner(2)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	s, err = f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	require.Equal(t, "2", s.Annotations[k8s.AnnotationEpoch])
}

func TestRestartMidTransition(t *testing.T) {
	f := newFixture(t, "restart")
	first := f.runner(f.acquire(1))
	p := f.create("restart")
	f.waitProject(p.ID, "sandbox past CREATING", func(p *fsa.Project) bool { return p.Sandbox.Status != fsa.StatusCreating })
	require.NoError(t, first.stop())
	_, err := f.c.DeleteProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err, "delete is allowed in every state but TERMINATING")
	f.runner(f.acquire(2))
	f.waitProject(p.ID, "project removed by the restarted runner", gone)
}

func TestAPIServerOutage(t *testing.T) {
	f := newFixture(t, "outage")
	f.runner(f.acquire(1))
	a := f.create("before")
	f.waitProject(a.ID, "first project RUNNING", both(fsa.StatusRunning))

	require.NoError(t, f.cluster.StopAPIServer())
	// Intents recorded while Kubernetes is unreachable.
	_, err := f.c.StopProject(f.ctx, f.user.ID, a.ID)
	require.NoError(t, err)
	b := f.create("during")
	// The outage itself lasts 10 s: this wait is the fault, not synchronisation.
	select {
	case <-time.After(10 * time.Second):
	case <-f.ctx.Done():
		t.Fatal(f.ctx.Err())
	}
	require.NoError(t, f.cluster.StartAPIServer(f.ctx))

	f.waitProject(a.ID, "stopped after the outage", both(fsa.StatusStopped))
	f.waitProject(b.ID, "created after the outage", both(fsa.StatusRunning))
}
