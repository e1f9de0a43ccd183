package k8s_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fullstackagent/fsa/k8s"
)

// live reads the sandbox's objects the way an informer cache holds them (nil when absent).
func live(t *testing.T, ctx context.Context, e *env, spec k8s.SandboxSpec) k8s.SandboxLive {
	t.Helper()
	cs := e.admin.Clientset
	ns := e.user.Namespace
	var l k8s.SandboxLive
	if sec, err := cs.CoreV1().Secrets(ns).Get(ctx, spec.SecretName(), metav1.GetOptions{}); err == nil {
		l.Secret = sec
	}
	if np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, spec.NetworkPolicyName(), metav1.GetOptions{}); err == nil {
		l.NetworkPolicy = np
	}
	if sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{}); err == nil {
		l.StatefulSet = sts
	}
	if svc, err := cs.CoreV1().Services(ns).Get(ctx, spec.Name, metav1.GetOptions{}); err == nil {
		l.Service = svc
	}
	if ing, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.AppIngressName(), metav1.GetOptions{}); err == nil {
		l.AppIngress = ing
	}
	if ing, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, spec.TerminalIngressName(), metav1.GetOptions{}); err == nil {
		l.TerminalIngress = ing
	}
	return l
}

func TestSandboxPlan(t *testing.T) {
	e := newEnv(t, "plan")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := sandboxSpec("plan-sb")

	// Stopping a sandbox that does not exist plans nothing.
	stopped := spec
	stopped.Stopped = true
	p, err := m.Plan(e.client, stopped, k8s.SandboxLive{}, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())

	// Deferred: everything but the StatefulSet.
	p, err = m.Plan(e.client, spec, k8s.SandboxLive{}, k8s.PlanOptions{DeferStatefulSet: true})
	require.NoError(t, err)
	assert.Equal(t, "secret (absent), service (absent), app ingress (absent), terminal ingress (absent)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))
	l := live(t, ctx, e, spec)
	assert.Nil(t, l.StatefulSet)
	require.NotNil(t, l.Service)
	p, err = m.Plan(e.client, spec, l, k8s.PlanOptions{DeferStatefulSet: true})
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())

	// Not deferred any more: the StatefulSet only.
	p, err = m.Plan(e.client, spec, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "statefulset (absent)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)

	// Now that the StatefulSet exists, the Secret is planned again to name it as its owner.
	l = live(t, ctx, e, spec)
	p, err = m.Plan(e.client, spec, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "secret (metadata.ownerReferences)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))

	// Applied through the plan, the objects are what Apply writes: nothing left to do, and an
	// Apply changes nothing.
	before := versions(t, ctx, e, spec)
	l = live(t, ctx, e, spec)
	for _, opts := range []k8s.PlanOptions{{}, {DeferStatefulSet: true}} {
		p, err = m.Plan(e.client, spec, l, opts)
		require.NoError(t, err)
		assert.True(t, p.Empty(), p.String())
	}
	require.NoError(t, m.Apply(ctx, e.client, spec))
	assert.Equal(t, before, versions(t, ctx, e, spec))

	// An environment change touches the StatefulSet only; a stop too.
	changed := spec
	changed.Env = map[string]string{"PROJECT_NAME": "proj", "NEW": "1"}
	p, err = m.Plan(e.client, changed, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Contains(t, p.String(), "statefulset (spec.template")
	assert.NotContains(t, p.String(), "ingress")
	p, err = m.Plan(e.client, stopped, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "statefulset (spec.replicas: value)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))
	waitSandbox(t, ctx, e, spec.Name, k8s.StateStopped)

	// A deleted object is planned again; the others are left alone.
	require.NoError(t, e.admin.Clientset.CoreV1().Services(e.user.Namespace).Delete(ctx, spec.Name, metav1.DeleteOptions{}))
	l = live(t, ctx, e, spec)
	p, err = m.Plan(e.client, spec, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "statefulset (spec.replicas: value), service (absent)", p.String())

	// A changed secret value writes the Secret and the pod template's checksum.
	secret := spec
	secret.SecretEnv = map[string]string{"API_KEY": "v2"}
	p, err = m.Plan(e.client, secret, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Contains(t, p.String(), "secret (")
	assert.Contains(t, p.String(), "statefulset (spec.")
}

func TestPlanRefusesForeignObjects(t *testing.T) {
	e := newEnv(t, "planforeign")
	var m k8s.SandboxManager
	spec := sandboxSpec("foreign-sb")
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: e.user.Namespace, Labels: map[string]string{"app": "mine"}}}
	_, err := m.Plan(e.client, spec, k8s.SandboxLive{Service: foreign}, k8s.PlanOptions{})
	require.ErrorIs(t, err, k8s.ErrConflict)

	var d k8s.DatabaseManager
	dspec := k8s.DatabaseSpec{Name: "foreign-db", Project: "proj", Epoch: 1}
	cluster := &unstructured.Unstructured{}
	cluster.SetName(dspec.Name)
	_, err = d.Plan(e.client, dspec, cluster)
	require.ErrorIs(t, err, k8s.ErrConflict)
}

func TestDatabasePlan(t *testing.T) {
	e := newEnv(t, "dbplan")
	ctx := testCtx(t)
	var d k8s.DatabaseManager
	// Plan makes no request: the generation comes from discovery, as reconcile does it.
	api, err := e.client.KubeBlocksAPI(ctx)
	require.NoError(t, err)
	spec := k8s.DatabaseSpec{Name: "plan-db", Project: "proj", API: api, Epoch: 1}

	stopped := spec
	stopped.Stopped = true
	p, err := d.Plan(e.client, stopped, nil)
	require.NoError(t, err)
	assert.True(t, p.Empty(), "stopping a database that does not exist plans nothing")

	p, err = d.Plan(e.client, spec, nil)
	require.NoError(t, err)
	assert.Equal(t, "cluster (absent)", p.String())
	require.NoError(t, d.ApplyPlan(ctx, e.client, p))
	waitDatabase(t, ctx, e, spec.Name, k8s.StateRunning)
	got, err := e.admin.Dynamic.Resource(api.GVR()).Namespace(e.user.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	p, err = d.Plan(e.client, spec, got)
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())
	p, err = d.Plan(e.client, stopped, got)
	require.NoError(t, err)
	assert.False(t, p.Empty())
}
