package k8s_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/k8s"
)

func TestBuildSandboxPrivateApp(t *testing.T) {
	spec := sandboxSpec("priv-sb")
	spec.Namespace = "ns"
	public := k8s.BuildSandbox(spec)
	require.NotNil(t, public.AppIngress)
	spec.PrivateApp = true
	private := k8s.BuildSandbox(spec)
	assert.Nil(t, private.AppIngress, "a private app has no Ingress")
	assert.Equal(t, public.TerminalIngress, private.TerminalIngress, "the terminal's Ingress is the same")
	assert.Equal(t, public.Service, private.Service)
	y, err := private.YAML()
	require.NoError(t, err)
	assert.NotContains(t, string(y), spec.AppIngressName())
	assert.Contains(t, string(y), spec.TerminalIngressName())
}

// appIngress reads the sandbox's application Ingress; nil when it does not exist.
func appIngress(t *testing.T, ctx context.Context, e *env, spec k8s.SandboxSpec) *networkingv1.Ingress {
	t.Helper()
	ing, err := e.admin.Clientset.NetworkingV1().Ingresses(e.user.Namespace).Get(ctx, spec.AppIngressName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return ing
}

// TestSandboxPrivateApp switches a sandbox's application between public and private, through
// Apply, Plan/ApplyPlan and Stop, against the API server: the application Ingress is created and
// deleted, the rest stays.
func TestSandboxPrivateApp(t *testing.T) {
	e := newEnv(t, "privapp")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	public := sandboxSpec("privapp-sb")
	private := public
	private.PrivateApp = true

	require.NoError(t, m.Apply(ctx, e.client, public))
	require.NotNil(t, appIngress(t, ctx, e, public))
	waitSandbox(t, ctx, e, public.Name, k8s.StateRunning)
	before := versions(t, ctx, e, public)

	// Apply: private deletes the application Ingress and touches nothing else.
	require.NoError(t, m.Apply(ctx, e.client, private))
	assert.Nil(t, appIngress(t, ctx, e, public), "private: no application Ingress")
	require.NoError(t, m.Apply(ctx, e.client, private), "a private app applied again")
	l := live(t, ctx, e, public)
	assert.Nil(t, l.AppIngress)
	require.NotNil(t, l.TerminalIngress)
	assert.Equal(t, before["terminal ingress"], l.TerminalIngress.ResourceVersion, "the terminal's Ingress is untouched")
	assert.Equal(t, before["service"], l.Service.ResourceVersion)
	p, err := m.Plan(e.client, private, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.True(t, p.Empty(), "private and converged: %s", p)
	waitSandbox(t, ctx, e, public.Name, k8s.StateRunning)

	// Plan: public again creates it, private deletes it.
	p, err = m.Plan(e.client, public, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "app ingress (absent)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))
	require.NotNil(t, appIngress(t, ctx, e, public))
	l = live(t, ctx, e, public)
	p, err = m.Plan(e.client, private, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "app ingress (no longer wanted)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))
	assert.Nil(t, appIngress(t, ctx, e, public))
	// A plan made from a cache that still shows the deleted Ingress: deleting again is fine.
	require.NoError(t, m.ApplyPlan(ctx, e.client, p))

	// Stopped: withdrawing does not wait for a start, through Plan and through Stop.
	require.NoError(t, m.Apply(ctx, e.client, public))
	require.NotNil(t, appIngress(t, ctx, e, public))
	stopped := private
	stopped.Stopped = true
	l = live(t, ctx, e, public)
	p, err = m.Plan(e.client, stopped, l, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "statefulset (spec.replicas: value), app ingress (no longer wanted)", p.String())
	require.NoError(t, m.Stop(ctx, e.client, stopped))
	assert.Nil(t, appIngress(t, ctx, e, public), "Stop of a private app deletes its Ingress")
	waitSandbox(t, ctx, e, public.Name, k8s.StateStopped)
	publicStopped := public
	publicStopped.Stopped = true
	p, err = m.Plan(e.client, publicStopped, live(t, ctx, e, public), k8s.PlanOptions{})
	require.NoError(t, err)
	assert.True(t, p.Empty(), "publishing a stopped app waits for its start: %s", p)
	require.NoError(t, m.Start(ctx, e.client, public))
	require.NotNil(t, appIngress(t, ctx, e, public), "published at start")

	// An Ingress of that name that fsa did not make is left alone.
	require.NoError(t, e.admin.Clientset.NetworkingV1().Ingresses(e.user.Namespace).Delete(ctx, public.AppIngressName(), metav1.DeleteOptions{}))
	foreign := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: public.AppIngressName(), Namespace: e.user.Namespace, Labels: map[string]string{"app": "mine"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "mine", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	_, err = e.admin.Clientset.NetworkingV1().Ingresses(e.user.Namespace).Create(ctx, foreign, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Apply(ctx, e.client, private))
	p, err = m.Plan(e.client, private, live(t, ctx, e, public), k8s.PlanOptions{})
	require.NoError(t, err)
	assert.True(t, p.Empty(), p.String())
	got := appIngress(t, ctx, e, public)
	require.NotNil(t, got, "not fsa's: not deleted")
	assert.Equal(t, "mine", got.Labels["app"])
}
