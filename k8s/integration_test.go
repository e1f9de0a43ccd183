package k8s_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
)

// These tests run against the real control plane of internal/devenv/k8stest (skipped
// under -short). Every manager call goes through a user's own kubeconfig via
// k8s.Clients, so RBAC is exercised; the admin client only inspects and
// plays the part of a misbehaving world (crash-looping pods).

func TestMain(m *testing.M) { k8stest.Main(m) }

const (
	waitFor = 60 * time.Second
	tick    = 100 * time.Millisecond
)

// env is one test's world: the cluster, a fresh user and that user's Client.
type env struct {
	cluster *k8stest.Cluster
	user    *k8stest.User
	client  *k8s.Client
	admin   *k8s.Client // admin credentials, the user's namespace
}

func newEnv(t testing.TB, name string) *env {
	t.Helper()
	return newEnvOn(t, k8stest.Env(t), name)
}

// newEnvOn is newEnv on cluster c.
func newEnvOn(t testing.TB, c *k8stest.Cluster, name string) *env {
	t.Helper()
	u := c.NewTestUser(t, name)
	cl, err := k8s.NewClients().Get(name, u.Kubeconfig)
	require.NoError(t, err)
	require.Equal(t, u.Namespace, cl.Namespace, "namespace comes from the kubeconfig's current context")
	admin, err := k8s.NewClient(c.RESTConfig(), u.Namespace)
	require.NoError(t, err)
	return &env{cluster: c, user: u, client: cl, admin: admin}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func sandboxSpec(name string) k8s.SandboxSpec {
	return k8s.SandboxSpec{
		Name:              name,
		Project:           "proj",
		Epoch:             1,
		Domain:            "fsa.test",
		AppHostLabel:      name[:min(len(name), 8)] + "app",
		TerminalHostLabel: name[:min(len(name), 8)] + "ttyd",
		Env:               map[string]string{"PROJECT_NAME": "proj"},
		HomeSize:          resource.MustParse("1Gi"),
	}
}

// waitSandbox waits until the sandbox reaches want and returns its status.
func waitSandbox(t *testing.T, ctx context.Context, e *env, name string, want k8s.State) k8s.SandboxStatus {
	t.Helper()
	var last k8s.SandboxStatus
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := k8s.SandboxManager{}.Status(ctx, e.client, name)
		require.NoError(c, err)
		last = st
		assert.Equal(c, want, st.State, "status %+v", st)
	}, waitFor, tick, "sandbox %s never reached %s", name, want)
	return last
}

func waitDatabase(t *testing.T, ctx context.Context, e *env, name string, want k8s.State) k8s.DatabaseStatus {
	t.Helper()
	var last k8s.DatabaseStatus
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := k8s.DatabaseManager{}.Status(ctx, e.client, name)
		require.NoError(c, err)
		last = st
		assert.Equal(c, want, st.State, "status %+v", st)
	}, waitFor, tick, "database %s never reached %s", name, want)
	return last
}

// versions returns the resourceVersions of a sandbox's four objects.
func versions(t *testing.T, ctx context.Context, e *env, spec k8s.SandboxSpec) map[string]string {
	t.Helper()
	cs := e.admin.Clientset
	ns := e.user.Namespace
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	app, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.AppIngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	term, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.TerminalIngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	return map[string]string{
		"statefulset": sts.ResourceVersion, "service": svc.ResourceVersion,
		"app ingress": app.ResourceVersion, "terminal ingress": term.ResourceVersion,
	}
}

func TestSandboxApplyIsIdempotent(t *testing.T) {
	e := newEnv(t, "idem")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("idem-sb")

	require.NoError(t, m.Apply(ctx, e.client, spec))
	first := versions(t, ctx, e, spec)
	require.NoError(t, m.Apply(ctx, e.client, spec))
	second := versions(t, ctx, e, spec)
	// The controller writes the StatefulSet's status meanwhile; the others
	// have no writer but us.
	for _, k := range []string{"service", "app ingress", "terminal ingress"} {
		assert.Equal(t, first[k], second[k], "%s rewritten by an identical apply", k)
	}

	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	settled := versions(t, ctx, e, spec)
	for range 3 {
		require.NoError(t, m.Apply(ctx, e.client, spec))
	}
	assert.Equal(t, settled, versions(t, ctx, e, spec), "identical applies must write nothing")

	sts, err := e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1", sts.Annotations[k8s.AnnotationEpoch])
	var managers []string
	for _, mf := range sts.ManagedFields {
		if mf.Operation == metav1.ManagedFieldsOperationApply {
			managers = append(managers, mf.Manager)
		}
	}
	assert.Equal(t, []string{k8s.FieldManager}, managers, "one apply field manager")

	// A new leader's epoch alone rewrites nothing: the annotation is the epoch of the last
	// write that changed the object.
	spec.Epoch = 2
	require.NoError(t, m.Apply(ctx, e.client, spec))
	assert.Equal(t, settled, versions(t, ctx, e, spec), "a new epoch alone must write nothing")

	// A real change is written with the new epoch, on the object it changes only.
	spec.Env = map[string]string{"PROJECT_NAME": "proj", "NEW": "1"}
	require.NoError(t, m.Apply(ctx, e.client, spec))
	sts, err = e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "2", sts.Annotations[k8s.AnnotationEpoch])
	ing, err := e.admin.Clientset.NetworkingV1().Ingresses(e.user.Namespace).Get(ctx, spec.TerminalIngressName(), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1", ing.Annotations[k8s.AnnotationEpoch], "unchanged, so not rewritten")
	assert.Equal(t, settled["terminal ingress"], ing.ResourceVersion)
}

func TestSandboxLifecycle(t *testing.T) {
	e := newEnv(t, "life")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("life-sb")
	cs := e.admin.Clientset
	ns := e.user.Namespace
	claim := k8s.HomeVolume + "-" + spec.Name + "-0"

	st, err := m.Status(ctx, e.client, spec.Name)
	require.NoError(t, err)
	assert.Equal(t, k8s.StateTerminated, st.State, "absent sandbox")
	require.NoError(t, m.Stop(ctx, e.client, spec), "stopping an absent sandbox is a no-op")
	_, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "Stop must not create: %v", err)

	require.NoError(t, m.Apply(ctx, e.client, spec))
	st = waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	assert.Equal(t, int32(1), st.Ready)
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	claimUID := pvc.UID

	require.NoError(t, m.Stop(ctx, e.client, spec))
	require.NoError(t, m.Stop(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err, "the home volume survives a stop")
	assert.Equal(t, claimUID, pvc.UID)

	require.NoError(t, m.Start(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)

	// Delete keeping the volume: every object goes, the claim stays.
	require.NoError(t, m.Delete(ctx, e.client, spec.Name, false))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateTerminated)
	require.NoError(t, m.Delete(ctx, e.client, spec.Name, false), "deleting twice is fine")
	_, err = cs.CoreV1().Services(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "service: %v", err)
	for _, n := range []string{spec.AppIngressName(), spec.TerminalIngressName()} {
		_, err = cs.NetworkingV1().Ingresses(ns).Get(ctx, n, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "ingress %s: %v", n, err)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(c, err)
		assert.Empty(c, pods.Items)
	}, waitFor, tick, "pods of a deleted sandbox")
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err, "Delete(deleteVolume=false) keeps the home volume")
	assert.Equal(t, claimUID, pvc.UID)

	// Recreated, the sandbox finds its old home again.
	require.NoError(t, m.Apply(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, claimUID, pvc.UID, "same claim reused")

	require.NoError(t, m.Delete(ctx, e.client, spec.Name, true))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateTerminated)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		assert.True(c, apierrors.IsNotFound(err), "claim: %v", err)
	}, waitFor, tick, "Delete(deleteVolume=true) removes the home volume")
}

func envOf(t *testing.T, ctx context.Context, e *env, name string) map[string]string {
	t.Helper()
	sts, err := e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, v := range sts.Spec.Template.Spec.Containers[0].Env {
		out[v.Name] = v.Value
	}
	return out
}

// TestSandboxResize changes a stopped sandbox's resources and grows its home volume: the
// StatefulSet's volumeClaimTemplates cannot change (the API server refuses it), so the claim is
// grown instead, which the API server allows only when the claim's StorageClass allows volume
// expansion.
func TestSandboxResize(t *testing.T) {
	e := newEnv(t, "resize")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	cs, ns := e.admin.Clientset, e.user.Namespace
	spec := sandboxSpec("resize-sb")
	spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	claim := k8s.HomeVolume + "-" + spec.Name + "-0"
	require.NoError(t, m.Apply(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	require.NoError(t, m.Stop(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)

	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "500m", sts.Spec.Template.Spec.Containers[0].Resources.Limits.Cpu().String())
	assert.Equal(t, "1Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
	assert.Equal(t, "1Gi", sts.Annotations[k8s.AnnotationHomeSize])

	// The real API server refuses a change of the volumeClaimTemplate, whoever writes it.
	vct := sts.DeepCopy()
	vct.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	_, err = cs.AppsV1().StatefulSets(ns).Update(ctx, vct, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "volumeClaimTemplates are immutable: %v", err)

	// kwok's StorageClass does not allow expansion: the grow is refused with the API server's
	// reason, and the StatefulSet is left as it was (the next write tries again).
	spec.HomeSize = resource.MustParse("2Gi")
	spec.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1")
	err = m.Stop(ctx, e.client, spec)
	require.ErrorIs(t, err, k8s.ErrForbidden)
	assert.Contains(t, err.Error(), "allow volume expansion")
	sts, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1Gi", sts.Annotations[k8s.AnnotationHomeSize], "not recorded before the claim grew")

	allowExpansion(t, ctx, e, true)
	require.NoError(t, m.Stop(ctx, e.client, spec))
	sts, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1", sts.Spec.Template.Spec.Containers[0].Resources.Limits.Cpu().String(), "new resources")
	assert.Equal(t, "1Gi", sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(), "template unchanged")
	assert.Equal(t, "2Gi", sts.Annotations[k8s.AnnotationHomeSize])
	assert.EqualValues(t, 0, *sts.Spec.Replicas, "still stopped")
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "2Gi", pvc.Spec.Resources.Requests.Storage().String(), "claim grown")

	// Settled: a further Stop writes nothing (once the controller has written its status).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		sts, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
		require.NoError(c, err)
		assert.Equal(c, sts.Generation, sts.Status.ObservedGeneration)
	}, waitFor, tick)
	rv := sts.ResourceVersion
	require.NoError(t, m.Stop(ctx, e.client, spec))
	sts, err = cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rv, sts.ResourceVersion)

	// Through a plan (the reconciler's path, objects as a cache shows them): grown again.
	spec.HomeSize = resource.MustParse("3Gi")
	plan, err := m.Plan(e.client, spec, k8s.SandboxLive{StatefulSet: sts}, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Contains(t, plan.String(), "statefulset")
	require.NoError(t, m.ApplyPlan(ctx, e.client, plan))
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "3Gi", pvc.Spec.Resources.Requests.Storage().String())

	// A smaller size never shrinks the claim (the API server would refuse it anyway).
	spec.HomeSize = resource.MustParse("1Gi")
	require.NoError(t, m.Start(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	pvc, err = cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "3Gi", pvc.Spec.Resources.Requests.Storage().String())
}

// allowExpansion sets allowVolumeExpansion on kwok's StorageClass, restored at the end of the
// test.
func allowExpansion(t *testing.T, ctx context.Context, e *env, allow bool) {
	t.Helper()
	scs := e.admin.Clientset.StorageV1().StorageClasses()
	sc, err := scs.Get(ctx, "kwok-volume", metav1.GetOptions{})
	require.NoError(t, err)
	old := sc.AllowVolumeExpansion
	sc.AllowVolumeExpansion = &allow
	_, err = scs.Update(ctx, sc, metav1.UpdateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		sc, err := scs.Get(context.Background(), "kwok-volume", metav1.GetOptions{})
		if err == nil {
			sc.AllowVolumeExpansion = old
			_, err = scs.Update(context.Background(), sc, metav1.UpdateOptions{})
		}
		assert.NoError(t, err)
	})
}

func TestSandboxUpdateEnv(t *testing.T) {
	e := newEnv(t, "env")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("env-sb")

	missing := sandboxSpec("env-missing")
	require.ErrorIs(t, m.UpdateEnv(ctx, e.client, missing), k8s.ErrNotFound)

	spec.Env = map[string]string{"KEEP": "k", "CHANGE": "old", "DROP": "gone soon"}
	require.NoError(t, m.Apply(ctx, e.client, spec))
	assert.Equal(t, spec.Env, envOf(t, ctx, e, spec.Name))

	spec.Env = map[string]string{"KEEP": "k", "CHANGE": "new", "ADD": "a"}
	require.NoError(t, m.UpdateEnv(ctx, e.client, spec))
	assert.Equal(t, spec.Env, envOf(t, ctx, e, spec.Name), "added, changed and removed")

	// The pod restarts with the new environment and the sandbox runs again.
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		p, err := e.admin.Clientset.CoreV1().Pods(e.user.Namespace).Get(ctx, spec.Name+"-0", metav1.GetOptions{})
		require.NoError(c, err)
		got := map[string]string{}
		for _, v := range p.Spec.Containers[0].Env {
			got[v.Name] = v.Value
		}
		assert.Equal(c, spec.Env, got)
	}, waitFor, tick, "pod picks up the new environment")

	// UpdateEnv leaves a stopped sandbox stopped.
	require.NoError(t, m.Stop(ctx, e.client, spec))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)
	spec.Env = map[string]string{"ONLY": "1"}
	require.NoError(t, m.UpdateEnv(ctx, e.client, spec))
	assert.Equal(t, spec.Env, envOf(t, ctx, e, spec.Name))
	st := waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)
	assert.Equal(t, int32(0), st.Desired)

	spec.Env = nil
	require.NoError(t, m.UpdateEnv(ctx, e.client, spec))
	assert.Empty(t, envOf(t, ctx, e, spec.Name), "an empty environment removes every variable")
}

// simulate sets the fsa.test/simulate annotation on the pod template, as the
// admin under a field manager of its own (fsa's applies leave it alone).
func simulate(t *testing.T, ctx context.Context, e *env, name, what string) {
	t.Helper()
	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"fsa.test/simulate":"` + what + `"}}}}}`)
	_, err := e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "fsa-test"})
	require.NoError(t, err)
}

func TestSandboxStatusErrors(t *testing.T) {
	e := newEnv(t, "errs")
	ctx := testCtx(t)
	var m k8s.SandboxManager

	for _, tt := range []struct {
		simulate, reason string
	}{
		{"crashloop", "CrashLoopBackOff"},
		{"imagepull", "ImagePullBackOff"},
	} {
		t.Run(tt.simulate, func(t *testing.T) {
			spec := sandboxSpec("errs-" + tt.simulate)
			require.NoError(t, m.Apply(ctx, e.client, spec))
			waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
			simulate(t, ctx, e, spec.Name, tt.simulate)
			st := waitSandbox(t, ctx, e, spec.Name, k8s.StateError)
			assert.Contains(t, st.Reason, tt.reason)
			assert.Contains(t, st.Reason, spec.Name+"-0")

			// fsa's next apply keeps the foreign annotation (not its field) and
			// the error stays visible.
			require.NoError(t, m.Apply(ctx, e.client, spec))
			st, err := m.Status(ctx, e.client, spec.Name)
			require.NoError(t, err)
			assert.Equal(t, k8s.StateError, st.State)

			// A stopped broken sandbox is just stopped.
			require.NoError(t, m.Stop(ctx, e.client, spec))
			waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)
			require.NoError(t, m.Delete(ctx, e.client, spec.Name, true))
		})
	}
}

func TestSandboxStartingWhileScheduling(t *testing.T) {
	e := newEnv(t, "starting")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("starting-sb")
	require.NoError(t, m.Apply(ctx, e.client, spec))
	// Right after the apply the controller has not caught up: never RUNNING
	// before STARTING has been possible, and never an error.
	st, err := m.Status(ctx, e.client, spec.Name)
	require.NoError(t, err)
	assert.Contains(t, []k8s.State{k8s.StateStarting, k8s.StateRunning}, st.State)
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
}

func TestDatabaseLifecycle(t *testing.T) {
	databaseLifecycle(t, newEnv(t, "db"))
}

// databaseLifecycle drives a database through its life in the KubeBlocks generation e's cluster
// serves (discovered by the client).
func databaseLifecycle(t *testing.T, e *env) {
	ctx := testCtx(t)
	var m k8s.DatabaseManager
	api, err := e.client.KubeBlocksAPI(ctx)
	require.NoError(t, err)
	spec := k8s.DatabaseSpec{Name: "db-pg", Project: "proj", Epoch: 1, Size: resource.MustParse("1Gi")}
	dyn := e.admin.Dynamic.Resource(api.GVR()).Namespace(e.user.Namespace)

	st, err := m.Status(ctx, e.client, spec.Name)
	require.NoError(t, err)
	assert.Equal(t, k8s.StateTerminated, st.State)
	_, err = m.ConnectionURL(ctx, e.client, spec.Name)
	require.ErrorIs(t, err, k8s.ErrNotReady)
	require.NoError(t, m.Stop(ctx, e.client, spec), "stopping an absent database is a no-op")
	_, err = dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "Stop must not create: %v", err)

	require.NoError(t, m.Apply(ctx, e.client, spec))
	waitDatabase(t, ctx, e, spec.Name, k8s.StateRunning)

	// Idempotent once settled.
	before, err := dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, api.GVR().GroupVersion().String(), before.GetAPIVersion())
	require.NoError(t, m.Apply(ctx, e.client, spec))
	require.NoError(t, m.Start(ctx, e.client, spec))
	after, err := dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.GetResourceVersion(), after.GetResourceVersion(), "identical applies must write nothing")
	assert.Equal(t, "1", after.GetAnnotations()[k8s.AnnotationEpoch])
	assert.Equal(t, k8s.ManagedByValue, after.GetLabels()[k8s.LabelManagedBy])

	var raw string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		raw, err = m.ConnectionURL(ctx, e.client, spec.Name)
		require.NoError(c, err)
	}, waitFor, tick, "connection url")
	spec.API, spec.Namespace = api, e.user.Namespace
	sec, err := e.admin.Clientset.CoreV1().Secrets(e.user.Namespace).Get(ctx, spec.CredentialSecretName(), metav1.GetOptions{})
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "postgresql", u.Scheme)
	assert.Equal(t, string(sec.Data["username"]), u.User.Username())
	pw, _ := u.User.Password()
	assert.Equal(t, string(sec.Data["password"]), pw)
	if api == k8s.KubeBlocksV1 {
		assert.Equal(t, "db-pg-postgresql-account-postgres", sec.Name)
		assert.Equal(t, "db-pg-postgresql-postgresql."+e.user.Namespace+".svc:5432", u.Host, "the component's Service")
	} else {
		assert.Equal(t, "db-pg-conn-credential", sec.Name)
		assert.Equal(t, string(sec.Data["host"])+":"+string(sec.Data["port"]), u.Host)
	}
	assert.Equal(t, "/postgres", u.Path)

	require.NoError(t, m.Stop(ctx, e.client, spec))
	waitDatabase(t, ctx, e, spec.Name, k8s.StateStopped)
	stopped, err := dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	comps, _, _ := unstructured.NestedSlice(stopped.Object, "spec", "componentSpecs")
	require.Len(t, comps, 1)
	if api == k8s.KubeBlocksV1 {
		assert.Equal(t, true, comps[0].(map[string]any)["stop"], "1.x stops a component with stop: true")
		assert.EqualValues(t, 1, comps[0].(map[string]any)["replicas"])
	} else {
		assert.EqualValues(t, 0, comps[0].(map[string]any)["replicas"])
	}

	// Resized while stopped: the component's resources and its data volume's storage request,
	// which the real schema accepts as a change (KubeBlocks expands the volume).
	spec.Size = resource.MustParse("2Gi")
	spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
	}
	require.NoError(t, m.Stop(ctx, e.client, spec))
	resized, err := dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	comps, _, _ = unstructured.NestedSlice(resized.Object, "spec", "componentSpecs")
	require.Len(t, comps, 1)
	vcts, _, _ := unstructured.NestedSlice(comps[0].(map[string]any), "volumeClaimTemplates")
	require.Len(t, vcts, 1)
	got, _, _ := unstructured.NestedString(vcts[0].(map[string]any), "spec", "resources", "requests", "storage")
	assert.Equal(t, "2Gi", got, "data volume size")
	limits, _, _ := unstructured.NestedStringMap(comps[0].(map[string]any), "resources", "limits")
	assert.Equal(t, map[string]string{"cpu": "1500m", "memory": "2Gi"}, limits)
	requests, _, _ := unstructured.NestedStringMap(comps[0].(map[string]any), "resources", "requests")
	assert.Equal(t, map[string]string{"cpu": "250m", "memory": "512Mi"}, requests)

	require.NoError(t, m.Start(ctx, e.client, spec))
	waitDatabase(t, ctx, e, spec.Name, k8s.StateRunning)
	started, err := dyn.Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	comps, _, _ = unstructured.NestedSlice(started.Object, "spec", "componentSpecs")
	require.Len(t, comps, 1)
	if api == k8s.KubeBlocksV1 {
		assert.Equal(t, false, comps[0].(map[string]any)["stop"], "started again")
	}

	require.NoError(t, m.Delete(ctx, e.client, spec.Name))
	st, err = m.Status(ctx, e.client, spec.Name)
	require.NoError(t, err)
	assert.Contains(t, []k8s.State{k8s.StateTerminating, k8s.StateTerminated}, st.State)
	waitDatabase(t, ctx, e, spec.Name, k8s.StateTerminated)
	require.NoError(t, m.Delete(ctx, e.client, spec.Name), "deleting twice is fine")
}

func TestRBACConfinesUsers(t *testing.T) {
	alice := newEnv(t, "alice")
	bob := newEnv(t, "bob")
	ctx := testCtx(t)
	var sm k8s.SandboxManager
	var dm k8s.DatabaseManager

	// Each user works in their own namespace.
	require.NoError(t, sm.Apply(ctx, alice.client, sandboxSpec("alice-sb")))
	require.NoError(t, sm.Apply(ctx, bob.client, sandboxSpec("bob-sb")))

	// A spec naming another namespace is refused before any request.
	other := sandboxSpec("x")
	other.Namespace = bob.user.Namespace
	require.ErrorIs(t, sm.Apply(ctx, alice.client, other), k8s.ErrInvalidSpec)

	// Alice's credentials aimed at Bob's namespace: Forbidden, for every call.
	cfg, _, err := k8s.ParseKubeconfig(alice.user.Kubeconfig)
	require.NoError(t, err)
	trespass, err := k8s.NewClient(cfg, bob.user.Namespace)
	require.NoError(t, err)
	_, err = sm.Status(ctx, trespass, "bob-sb")
	require.ErrorIs(t, err, k8s.ErrForbidden)
	require.ErrorIs(t, sm.Apply(ctx, trespass, sandboxSpec("alice-sb")), k8s.ErrForbidden)
	require.ErrorIs(t, sm.Delete(ctx, trespass, "bob-sb", true), k8s.ErrForbidden)
	require.ErrorIs(t, dm.Apply(ctx, trespass, k8s.DatabaseSpec{Name: "db", Project: "p"}), k8s.ErrForbidden)
	_, err = dm.Status(ctx, trespass, "db")
	require.ErrorIs(t, err, k8s.ErrForbidden)
	_, err = dm.ConnectionURL(ctx, trespass, "db")
	require.ErrorIs(t, err, k8s.ErrForbidden)

	var status *apierrors.StatusError
	require.ErrorAs(t, sm.Apply(ctx, trespass, sandboxSpec("alice-sb")), &status, "the API error stays in the chain")

	_, err = bob.admin.Clientset.AppsV1().StatefulSets(bob.user.Namespace).Get(ctx, "bob-sb", metav1.GetOptions{})
	require.NoError(t, err, "Bob's sandbox untouched")
	_, err = bob.admin.Clientset.AppsV1().StatefulSets(bob.user.Namespace).Get(ctx, "alice-sb", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))
}

func TestUnauthorizedKubeconfig(t *testing.T) {
	e := newEnv(t, "badtoken")
	ctx := testCtx(t)
	cfg, _, err := k8s.ParseKubeconfig(e.user.Kubeconfig)
	require.NoError(t, err)
	cfg.BearerToken = "not-a-token"
	cl, err := k8s.NewClient(cfg, e.user.Namespace)
	require.NoError(t, err)
	_, err = k8s.SandboxManager{}.Status(ctx, cl, "x")
	require.ErrorIs(t, err, k8s.ErrUnauthorized)
}

func TestAPIServerDownIsNotTerminated(t *testing.T) {
	e := newEnv(t, "down")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("down-sb")
	require.NoError(t, m.Apply(ctx, e.client, spec))

	if e.cluster.ControlPlane() == nil {
		t.Skip("the cluster is not a local control plane: cannot stop its API server")
	}
	require.NoError(t, e.cluster.StopAPIServer())
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = e.cluster.StartAPIServer(context.Background())
		}
	})
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := m.Status(short, e.client, spec.Name)
	cancel()
	require.Error(t, err, "an unreachable API server is an error, never TERMINATED")
	assert.NotErrorIs(t, err, k8s.ErrNotFound)

	require.NoError(t, e.cluster.StartAPIServer(ctx))
	restarted = true
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
}

func TestApplyRefusesForeignObjects(t *testing.T) {
	e := newEnv(t, "foreign")
	ctx := testCtx(t)
	spec := sandboxSpec("foreign-sb")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: map[string]string{"owner": "someone-else"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	_, err := e.admin.Clientset.CoreV1().Services(e.user.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)

	err = k8s.SandboxManager{}.Apply(ctx, e.client, spec)
	require.ErrorIs(t, err, k8s.ErrConflict)
	assert.Contains(t, err.Error(), "not managed by fsa")
	got, err := e.admin.Clientset.CoreV1().Services(e.user.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "someone-else", got.Labels["owner"])
	assert.Len(t, got.Spec.Ports, 1)
	assert.Equal(t, int32(80), got.Spec.Ports[0].Port, "foreign service untouched")

	db := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.kubeblocks.io/v1alpha1", "kind": "Cluster",
		"metadata": map[string]any{"name": "foreign-db"},
		"spec":     map[string]any{"clusterDefinitionRef": "mysql", "terminationPolicy": "Delete"},
	}}
	_, err = e.admin.Dynamic.Resource(k8s.GVRCluster).Namespace(e.user.Namespace).Create(ctx, db, metav1.CreateOptions{})
	require.NoError(t, err)
	err = k8s.DatabaseManager{}.Apply(ctx, e.client, k8s.DatabaseSpec{Name: "foreign-db", Project: "proj"})
	require.ErrorIs(t, err, k8s.ErrConflict)
}
