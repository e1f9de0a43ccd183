package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// A child found up to date is remembered (a resync of it reads neither the store nor builds
// its objects), and every input of its desired state, and every object of its observed state,
// still reaches Kubernetes when it changes: before each change the test makes sure the child is
// remembered, so a change its memory missed would never be applied.
func TestUpToDateSyncSeesEveryChange(t *testing.T) {
	f := newFixture(t, "memo")
	reg := prometheus.NewRegistry()
	run := f.runnerWith(f.acquire(1), func(c *reconcile.Config) {
		c.Registerer = reg
		c.Network = &k8s.NetworkSpec{}
	})
	p := f.create("memo")
	p = f.waitProject(p.ID, "RUNNING", both(fsa.StatusRunning))
	u, ns, cs := f.user.ID, f.kuser.Namespace, f.cluster.Clientset()

	// remembered waits until syncs of kind have been answered from memory for a second on end:
	// the child is remembered and nothing it rests on is moving (a roll-out, a pod starting).
	remembered := func(kind fsa.ResourceKind, what string) {
		t.Helper()
		var since time.Time
		require.Eventually(t, func() bool {
			before := counterSum(reg, "fsa_reconcile_syncs_up_to_date_total")
			if run.r.SyncOnce(f.ctx, u, p.ID, kind) != nil || counterSum(reg, "fsa_reconcile_syncs_up_to_date_total") != before+1 {
				since = time.Time{}
				return false
			}
			if since.IsZero() {
				since = time.Now()
			}
			return time.Since(since) >= time.Second
		}, waitFor, 50*time.Millisecond, "%s remembered as up to date before: %s", kind, what)
	}
	secretValue := func(key, want string) func() (bool, error) {
		return func() (bool, error) {
			env, _, err := f.sandboxEnv(p.Sandbox.Name)
			return err == nil && env[key] == want, err
		}
	}

	// The store: the project's environment, and the owner's settings.
	remembered(fsa.ResourceSandbox, "a variable is set")
	_, err := f.c.SetEnv(f.ctx, u, p.ID, fsa.EnvSpec{Key: "API_KEY", Value: "one", Secret: true})
	require.NoError(t, err)
	f.waitK8s("variable reaches the Secret", secretValue("API_KEY", "one"))
	remembered(fsa.ResourceSandbox, "a setting is set")
	_, err = f.c.SetUserConfig(f.ctx, u, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: "ghp_memo"})
	require.NoError(t, err)
	f.waitK8s("setting reaches the Secret", secretValue(fsa.EnvGitHubToken, "ghp_memo"))

	// Kubernetes: an object of the sandbox deleted or edited out of band, and new credentials
	// of its database.
	remembered(fsa.ResourceSandbox, "its Secret is deleted")
	require.NoError(t, cs.CoreV1().Secrets(ns).Delete(f.ctx, p.Sandbox.Name+"-env", metav1.DeleteOptions{}))
	f.waitK8s("Secret recreated", secretValue("API_KEY", "one"))
	remembered(fsa.ResourceSandbox, "its NetworkPolicy is edited")
	np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err)
	np.Spec.Ingress = nil
	_, err = cs.NetworkingV1().NetworkPolicies(ns).Update(f.ctx, np, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitK8s("NetworkPolicy repaired", func() (bool, error) {
		np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(f.ctx, p.Sandbox.Name, metav1.GetOptions{})
		return err == nil && len(np.Spec.Ingress) > 0, err
	})
	remembered(fsa.ResourceSandbox, "its database's password changes")
	creds := p.Database.ClusterName + kbstandin.SecretSuffix
	sec, err := cs.CoreV1().Secrets(ns).Get(f.ctx, creds, metav1.GetOptions{})
	require.NoError(t, err)
	sec.Data[k8s.CredentialPassword] = []byte("rotated-pw")
	_, err = cs.CoreV1().Secrets(ns).Update(f.ctx, sec, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitK8s("new DATABASE_URL", func() (bool, error) {
		env, _, err := f.sandboxEnv(p.Sandbox.Name)
		return err == nil && strings.Contains(env[fsa.EnvDatabaseURL], "rotated-pw"), err
	})

	// The database: its Cluster edited out of band.
	remembered(fsa.ResourceDatabase, "its Cluster is edited")
	gvr := k8s.GVRCluster
	cl, err := f.cluster.Dynamic().Resource(gvr).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err)
	cl.SetLabels(map[string]string{}) // drops fsa's labels
	_, err = f.cluster.Dynamic().Resource(gvr).Namespace(ns).Update(f.ctx, cl, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.waitK8s("Cluster's labels restored", func() (bool, error) {
		cl, err := f.cluster.Dynamic().Resource(gvr).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
		return err == nil && cl.GetLabels()[k8s.LabelProject] != "", err
	})
}

// A resync queues the children the runner knows of from its listing and the change feed; a
// removed project is forgotten with its children.
func TestResyncKnowsEveryChild(t *testing.T) {
	f := newFixture(t, "known")
	run := f.runner(f.acquire(1))
	a, b := f.create("a"), f.create("b")
	f.waitProject(a.ID, "RUNNING", both(fsa.StatusRunning))
	f.waitProject(b.ID, "RUNNING", both(fsa.StatusRunning))
	require.Equal(t, 4, run.r.Known(), "two projects, a sandbox and a database each")
	_, err := f.c.DeleteProject(f.ctx, f.user.ID, a.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	f.waitProject(a.ID, "gone", gone)
	require.Eventually(t, func() bool { return run.r.Known() == 2 }, waitFor, 50*time.Millisecond, "the removed project's children forgotten")
}
