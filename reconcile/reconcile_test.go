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
	corev1 "k8s.io/api/core/v1"
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

func newFixture(t *testing.T, name string, opts ...fsa.Option) *fixture {
	return newFixtureOn(t, k8stest.Env(t), name, opts...)
}

// newFixtureOn is newFixture on cluster cl.
func newFixtureOn(t *testing.T, cl *k8stest.Cluster, name string, opts ...fsa.Option) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, ctx: ctx, cluster: cl, kuser: cl.NewTestUser(t, name), c: fsa.New(st, opts...)}
	f.user, err = f.c.CreateUser(ctx, fsa.UserSpec{Name: name})
	require.NoError(t, err)
	_, err = f.c.SetUserConfig(ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(f.kuser.Kubeconfig), Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	return f
}

// running is a reconcile runner started by a test.
type running struct {
	r      *reconcile.Runner
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
func (f *fixture) runner(fence uint64) *running { return f.runnerWith(fence, nil) }

// runnerWith is runner with a configuration changed by change.
func (f *fixture) runnerWith(fence uint64, change func(*reconcile.Config)) *running {
	f.t.Helper()
	cfg := reconcile.Config{
		Client: f.c, Fence: fence, Domain: "sandbox.fsa.test", Workers: 4,
		Resync:      time.Hour, // prove the loops are event-driven: no resync during a test
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		Registerer: prometheus.NewRegistry(),
	}
	if change != nil {
		change(&cfg)
	}
	r, err := reconcile.New(cfg)
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	run := &running{r: r, cancel: cancel, done: make(chan struct{})}
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

// create creates a project whose app is public (both Ingresses), as every project had before the
// choice existed; TestPublicAppSwitch covers private ones.
func (f *fixture) create(name string) *fsa.Project {
	p, err := f.c.CreateProject(f.ctx, f.user.ID, fsa.ProjectSpec{Name: name, PublicApp: true})
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

// sandboxEnv returns the environment sandbox name's pod starts with: literal values, and those
// its secretKeyRefs name in its Secret (absent when the Secret has no such key). secret lists the
// variables read from the Secret.
// envOf returns the literal (not secret) variables of a StatefulSet's containers.
func envOf(s *appsv1.StatefulSet) map[string]string {
	out := map[string]string{}
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				out[e.Name] = e.Value
			}
		}
	}
	return out
}

func (f *fixture) sandboxEnv(name string) (env map[string]string, secret map[string]bool, err error) {
	s, err := f.sts(name)
	if err != nil {
		return nil, nil, err
	}
	sec, err := f.cluster.Clientset().CoreV1().Secrets(f.kuser.Namespace).Get(f.ctx, name+"-env", metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	env, secret = map[string]string{}, map[string]bool{}
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				env[e.Name] = e.Value
			case e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == sec.Name:
				secret[e.Name] = true
				if v, ok := sec.Data[e.ValueFrom.SecretKeyRef.Key]; ok {
					env[e.Name] = string(v)
				}
			}
		}
	}
	return env, secret, nil
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
	// DATABASE_URL arrives once the database runs. The secret values are in the Secret only.
	f.waitK8s("DATABASE_URL injected", func() (bool, error) {
		env, secret, err := f.sandboxEnv(p.Sandbox.Name)
		if err != nil {
			return false, err
		}
		return env[fsa.EnvDatabaseURL] != "" && env[fsa.EnvTTYDAccessToken] == token[0].Value && env["FSA_PROJECT"] == p.ID &&
			env[fsa.EnvProjectName] == "My Blog!" && secret[fsa.EnvDatabaseURL] && secret[fsa.EnvTTYDAccessToken] && !secret["FSA_PROJECT"], nil
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

// Issue 19.3: a new sandbox does not wait for its database. While the database has no
// credentials yet the sandbox runs (its terminal usable); when they appear, DATABASE_URL reaches
// the sandbox's Secret (a live key, mounted as a file the shells read) without changing the
// StatefulSet: the pod is not restarted.
func TestSandboxDoesNotWaitForDatabase(t *testing.T) {
	f := newFixture(t, "dburl")
	// The project exists before the runner starts, so its database's connection Secret can be
	// put in place first, without credentials: the stand-in leaves an existing Secret alone, as
	// a slow real database would leave the sandbox without DATABASE_URL for minutes.
	p := f.create("second")
	conn := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: p.Database.ClusterName + "-conn-credential", Namespace: f.kuser.Namespace,
		Labels: map[string]string{k8s.LabelManagedBy: "kubeblocks", "app.kubernetes.io/instance": p.Database.ClusterName},
	}}
	secrets := f.cluster.Clientset().CoreV1().Secrets(f.kuser.Namespace)
	_, err := secrets.Create(f.ctx, conn, metav1.CreateOptions{})
	require.NoError(t, err)
	f.runner(f.acquire(1))

	p = f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	env, secret, err := f.sandboxEnv(p.Sandbox.Name)
	require.NoError(t, err)
	assert.True(t, secret[fsa.EnvDatabaseURL], "the pod reads DATABASE_URL from the Secret (optional, for the next start)")
	assert.NotContains(t, env, fsa.EnvDatabaseURL, "no credentials yet")
	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	pods, err := f.cluster.Clientset().CoreV1().Pods(f.kuser.Namespace).List(f.ctx, metav1.ListOptions{
		LabelSelector: k8s.LabelApp + "=" + p.Sandbox.Name})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	pod := pods.Items[0].UID

	// The credentials appear: DATABASE_URL reaches the Secret, the StatefulSet is unchanged.
	conn.Data = map[string][]byte{k8s.CredentialHost: []byte("db.example"), k8s.CredentialPort: []byte("5432"),
		k8s.CredentialUsername: []byte("postgres"), k8s.CredentialPassword: []byte("pw-late")}
	_, err = secrets.Update(f.ctx, conn, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitK8s("DATABASE_URL delivered", func() (bool, error) {
		env, _, err := f.sandboxEnv(p.Sandbox.Name)
		return env[fsa.EnvDatabaseURL] == "postgresql://postgres:pw-late@db.example:5432/postgres", err
	})
	after, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	assert.Equal(t, s.Generation, after.Generation, "the pod template did not change: no restart")
	pods, err = f.cluster.Clientset().CoreV1().Pods(f.kuser.Namespace).List(f.ctx, metav1.ListOptions{
		LabelSelector: k8s.LabelApp + "=" + p.Sandbox.Name})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	assert.Equal(t, pod, pods.Items[0].UID, "the same pod runs on")
}

func TestEnvReachesStatefulSet(t *testing.T) {
	f := newFixture(t, "env")
	f.runnerWith(f.acquire(1), func(c *reconcile.Config) {
		c.DefaultAnthropicAuthToken, c.DefaultAnthropicBaseURL = "platform-token-9f2c", "https://ai.platform.example"
		c.Network = &k8s.NetworkSpec{IngressNamespaces: []string{"sealos-system"}, RestrictEgress: true}
	})
	p := f.create("envs")
	f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	u := f.user.ID
	// envIs checks the value the pod starts with (literal or from the Secret) and whether it is
	// kept in the Secret.
	envIsSecret := func(key, want string, present, secret bool) func() (bool, error) {
		return func() (bool, error) {
			env, sec, err := f.sandboxEnv(p.Sandbox.Name)
			if err != nil {
				return false, err
			}
			v, ok := env[key]
			return ok == present && v == want && (!present || sec[key] == secret), nil
		}
	}
	envIs := func(key, want string, present bool) func() (bool, error) {
		return envIsSecret(key, want, present, false)
	}

	// The platform's default Anthropic credentials, until the user has a key of their own.
	f.waitK8s("platform token", envIsSecret(fsa.EnvAnthropicAuthToken, "platform-token-9f2c", true, true))
	f.waitK8s("platform base URL", envIs(fsa.ConfigAnthropicBaseURL, "https://ai.platform.example", true))
	// The NetworkPolicy, with the project's database.
	np, err := f.cluster.Clientset().NetworkingV1().NetworkPolicies(f.kuser.Namespace).Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, np.Spec.Egress, 4, "DNS, project, database, outside the cluster")
	assert.Equal(t, p.Database.ClusterName, np.Spec.Egress[2].To[0].PodSelector.MatchLabels["app.kubernetes.io/instance"])

	// A secret variable is kept in the Secret; the terminal start setting is a plain variable.
	_, err = f.c.SetEnv(f.ctx, u, p.ID, fsa.EnvSpec{Key: "STRIPE_KEY", Value: "sk_live_x1", Secret: true})
	require.NoError(t, err)
	f.waitK8s("secret variable", envIsSecret("STRIPE_KEY", "sk_live_x1", true, true))
	_, err = f.c.SetEnv(f.ctx, u, p.ID, fsa.EnvSpec{Key: fsa.EnvTerminalStart, Value: fsa.TerminalStartClaude})
	require.NoError(t, err)
	f.waitK8s("terminal start", envIs(fsa.EnvTerminalStart, "claude", true))
	// A GitHub token the user grants reaches the sandbox as a secret GITHUB_TOKEN.
	_, err = f.c.SetUserConfig(f.ctx, u, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: "ghp_test123"})
	require.NoError(t, err)
	f.waitK8s("github token", envIsSecret(fsa.EnvGitHubToken, "ghp_test123", true, true))

	_, err = f.c.SetEnv(f.ctx, u, p.ID, fsa.EnvSpec{Key: "GREETING", Value: "hello"})
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
	f.waitK8s("anthropic key injected as ANTHROPIC_AUTH_TOKEN", envIsSecret(fsa.EnvAnthropicAuthToken, "sk-ant-test", true, true))
	f.waitK8s("the platform's base URL goes with the platform's token only", envIs(fsa.ConfigAnthropicBaseURL, "", false))
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
