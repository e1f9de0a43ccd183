package k8s_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/fullstackagent/fsa/k8s"
)

// trimmed returns TrimForCache of a deep copy of o.
func trimmed[T runtime.Object](t *testing.T, o T) T {
	t.Helper()
	out, err := k8s.TrimForCache(o.DeepCopyObject())
	require.NoError(t, err)
	return out.(T)
}

// written names the objects plan p writes (Plan.String without where they differ: the first
// difference found may be another).
func written(p k8s.Plan) []string {
	var out []string
	for _, part := range strings.Split(p.String(), "), ") {
		if what, _, ok := strings.Cut(part, " ("); ok {
			out = append(out, what)
		}
	}
	return out
}

func jsonSize(t *testing.T, o any) int {
	b, err := json.Marshal(o)
	require.NoError(t, err)
	return len(b)
}

// The informers keep objects trimmed by TrimForCache: every plan and status computed from a
// trimmed object must be the one computed from the object as the API server returns it — for
// objects that are as desired and for desired states that differ from them in each of the
// ways reconcile changes them. Live objects come from the real API server, with a second field
// manager and kubectl's last-applied annotation on them.
func TestTrimForCacheKeepsWhatReadersRead(t *testing.T) {
	e := newEnv(t, "trim")
	ctx := testCtx(t)
	spec := sandboxSpec("trim")
	spec.SecretEnv = map[string]string{"API_KEY": "one"}
	spec.Network = &k8s.NetworkSpec{}
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	db := k8s.DatabaseSpec{Name: "trimdb", Namespace: e.client.Namespace, Project: "proj", Epoch: 1}
	require.NoError(t, k8s.DatabaseManager{}.Apply(ctx, e.client, db))

	// Another writer: a label by an Update under its own field manager, and a last-applied copy.
	sts, err := e.admin.Clientset.AppsV1().StatefulSets(e.client.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	sts.Labels["team"] = "blue"
	sts.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"big":"copy"}`
	_, err = e.admin.Clientset.AppsV1().StatefulSets(e.client.Namespace).Update(ctx, sts, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	live := k8s.SandboxLive{}
	cs, ns := e.admin.Clientset, e.client.Namespace
	live.StatefulSet, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Greater(t, len(live.StatefulSet.ManagedFields), 1, "fsa's and another manager's entries")
	live.Secret, err = cs.CoreV1().Secrets(ns).Get(ctx, spec.SecretName(), metav1.GetOptions{})
	require.NoError(t, err)
	live.Service, err = cs.CoreV1().Services(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	live.AppIngress, err = cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.AppIngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	live.TerminalIngress, err = cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.TerminalIngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	live.NetworkPolicy, err = cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, spec.NetworkPolicyName(), metav1.GetOptions{})
	require.NoError(t, err)
	trim := k8s.SandboxLive{
		StatefulSet: trimmed(t, live.StatefulSet), Secret: trimmed(t, live.Secret), Service: trimmed(t, live.Service),
		AppIngress: trimmed(t, live.AppIngress), TerminalIngress: trimmed(t, live.TerminalIngress), NetworkPolicy: trimmed(t, live.NetworkPolicy),
	}
	assert.NotContains(t, trim.StatefulSet.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
	assert.Len(t, trim.StatefulSet.ManagedFields, 1, "fsa's entry only")

	// The sandbox: as desired, and desired otherwise in each way reconcile changes it.
	variants := map[string]func(s *k8s.SandboxSpec){
		"as desired": func(*k8s.SandboxSpec) {},
		"stopped":    func(s *k8s.SandboxSpec) { s.Stopped = true },
		"image":      func(s *k8s.SandboxSpec) { s.Image = "example.com/other:1" },
		"variable":   func(s *k8s.SandboxSpec) { s.Env = map[string]string{"PROJECT_NAME": "renamed"} },
		"secret":     func(s *k8s.SandboxSpec) { s.SecretEnv = map[string]string{"API_KEY": "two"} },
		"no secret":  func(s *k8s.SandboxSpec) { s.SecretEnv = nil },
		"host":       func(s *k8s.SandboxSpec) { s.AppHostLabel = "elsewhere" },
		"policy":     func(s *k8s.SandboxSpec) { s.Network = &k8s.NetworkSpec{RestrictEgress: true} },
	}
	for name, change := range variants {
		want := spec
		change(&want)
		full, err := k8s.SandboxManager{}.Plan(e.client, want, live, k8s.PlanOptions{})
		require.NoError(t, err, name)
		got, err := k8s.SandboxManager{}.Plan(e.client, want, trim, k8s.PlanOptions{})
		require.NoError(t, err, name)
		assert.Equal(t, written(full), written(got), "sandbox %s: the plan from the trimmed cache", name)
		assert.Equal(t, name == "as desired", got.Empty(), "sandbox %s: plan %s", name, got)
	}

	// Its status, from the StatefulSet and its pods, one of them stuck.
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: k8s.LabelApp + "=" + spec.Name})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	stuck := pods.Items[0].DeepCopy()
	stuck.Name += "-stuck"
	stuck.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "sandbox", Image: "x", ImageID: "y",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}}}}
	for name, ps := range map[string][]corev1.Pod{"running": pods.Items, "stuck": append(pods.Items, *stuck)} {
		var tps []corev1.Pod
		for i := range ps {
			tps = append(tps, *trimmed(t, &ps[i]))
		}
		want := k8s.SandboxStatusOf(live.StatefulSet, ps)
		assert.Equal(t, want, k8s.SandboxStatusOf(trim.StatefulSet, tps), "status of a %s sandbox from the trimmed cache", name)
		assert.Less(t, jsonSize(t, tps[0]), jsonSize(t, ps[0])/2, "a trimmed pod is a fraction of the pod")
	}

	// The database: as desired and stopped, and its status.
	var cluster *unstructured.Unstructured
	require.Eventually(t, func() bool {
		cluster, err = e.admin.Dynamic.Resource(k8s.GVRCluster).Namespace(ns).Get(ctx, db.Name, metav1.GetOptions{})
		return err == nil
	}, waitFor, tick)
	tc := trimmed(t, cluster)
	for name, stopped := range map[string]bool{"as desired": false, "stopped": true} {
		want := db
		want.Stopped = stopped
		full, err := k8s.DatabaseManager{}.Plan(e.client, want, cluster)
		require.NoError(t, err)
		got, err := k8s.DatabaseManager{}.Plan(e.client, want, tc)
		require.NoError(t, err)
		assert.Equal(t, written(full), written(got), "database %s: the plan from the trimmed cache", name)
		assert.Equal(t, !stopped, got.Empty(), "database %s: plan %s", name, got)
	}
	assert.Equal(t, k8s.DatabaseStatusOf(cluster), k8s.DatabaseStatusOf(tc))
}
