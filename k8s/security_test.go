package k8s_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
)

// secretSandbox is sandboxSpec with secret values, one of them live.
func secretSandbox(name string) k8s.SandboxSpec {
	s := sandboxSpec(name)
	s.SecretEnv = map[string]string{
		"TTYD_ACCESS_TOKEN": "tok-3f9c1e7a5b2d4c6e8f0a1b3c5d7e9f1a",
		"DATABASE_URL":      "postgresql://postgres:pw-6d1f0b9a3c@db:5432/postgres",
		"USER_SECRET":       "user-secret-value-42c9",
	}
	s.LiveKeys = []string{"DATABASE_URL"}
	return s
}

// viewer returns a client of a ServiceAccount in the user's namespace that may read
// StatefulSets, Pods, Services, Ingresses, events and NetworkPolicies, but not Secrets: a
// read-only dashboard's rights.
func viewer(t *testing.T, ctx context.Context, e *env) kubernetes.Interface {
	t.Helper()
	cs, ns := e.admin.Clientset, e.user.Namespace
	meta := metav1.ObjectMeta{Name: "viewer", Namespace: ns}
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{})
	require.NoError(t, err)
	read := []string{"get", "list", "watch"}
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services", "events"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets", "controllerrevisions"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: read},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "viewer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "viewer", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "viewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(e.cluster.RESTConfig())
	cfg.BearerToken = tr.Status.Token
	v, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return v
}

// Issue 16.1: whoever may read StatefulSets and Pods but not Secrets sees no secret value.
func TestSandboxSecretValuesNotInPodSpec(t *testing.T) {
	e := newEnv(t, "secrets")
	ctx := testCtx(t)
	spec := secretSandbox("sec-sb")
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, spec))
	st := waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	require.Equal(t, int32(1), st.Ready, "a pod exists to inspect")

	v := viewer(t, ctx, e)
	ns := e.user.Namespace
	var seen []any
	stss, err := v.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, stss.Items, 1)
	pods, err := v.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items)
	revs, err := v.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	seen = append(seen, stss, pods, revs)
	dump, err := json.Marshal(seen)
	require.NoError(t, err)
	for k, val := range spec.SecretEnv {
		assert.NotContains(t, string(dump), val, "the value of %s is readable without access to Secrets", k)
		assert.Contains(t, string(dump), `"name":"`+k+`"`, "the variable %s is still in the pod's environment", k)
	}
	_, err = v.CoreV1().Secrets(ns).Get(ctx, spec.SecretName(), metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "the viewer may not read Secrets: %v", err)

	// The values are in the Secret, which the StatefulSet owns.
	sec, err := e.admin.Clientset.CoreV1().Secrets(ns).Get(ctx, spec.SecretName(), metav1.GetOptions{})
	require.NoError(t, err)
	for k, val := range spec.SecretEnv {
		assert.Equal(t, val, string(sec.Data[k]))
	}
	require.Len(t, sec.OwnerReferences, 1)
	assert.Equal(t, "StatefulSet", sec.OwnerReferences[0].Kind)
	assert.Equal(t, stss.Items[0].UID, sec.OwnerReferences[0].UID)

	// The pod reads each value by reference; the live key optionally, and mounted as a file.
	pod := pods.Items[0]
	c := pod.Spec.Containers[0]
	for _, ev := range c.Env {
		if _, secret := spec.SecretEnv[ev.Name]; !secret {
			continue
		}
		require.NotNil(t, ev.ValueFrom, ev.Name)
		require.NotNil(t, ev.ValueFrom.SecretKeyRef, ev.Name)
		assert.Equal(t, spec.SecretName(), ev.ValueFrom.SecretKeyRef.Name)
		assert.Equal(t, ev.Name == "DATABASE_URL", ev.ValueFrom.SecretKeyRef.Optional != nil && *ev.ValueFrom.SecretKeyRef.Optional, ev.Name)
	}
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "fsa-live-env", MountPath: k8s.LiveEnvPath, ReadOnly: true})
}

// A changed secret value rolls the pod (the template's checksum changes); an unchanged one, or a
// change of a live key, leaves the StatefulSet alone.
func TestSandboxSecretChecksum(t *testing.T) {
	e := newEnv(t, "checksum")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	spec := secretSandbox("sum-sb")
	require.NoError(t, m.Apply(ctx, e.client, spec))
	sts := func() (string, string, int64) {
		s, err := e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
		require.NoError(t, err)
		return s.ResourceVersion, s.Spec.Template.Annotations[k8s.AnnotationSecretChecksum], s.Generation
	}
	secretRV := func() string {
		s, err := e.admin.Clientset.CoreV1().Secrets(e.user.Namespace).Get(ctx, spec.SecretName(), metav1.GetOptions{})
		require.NoError(t, err)
		return s.ResourceVersion
	}
	// The controller updates the StatefulSet's status, so its spec is followed by generation.
	_, sum0, gen0 := sts()
	require.Len(t, sum0, 64)
	srv0 := secretRV()

	// Unchanged: nothing is written.
	require.NoError(t, m.Apply(ctx, e.client, spec))
	_, sum, gen := sts()
	assert.Equal(t, gen0, gen)
	assert.Equal(t, sum0, sum)
	assert.Equal(t, srv0, secretRV())

	// A live key's value arrives or changes: the Secret changes, the pod template does not.
	live := secretSandbox("sum-sb")
	live.SecretEnv["DATABASE_URL"] = "postgresql://postgres:rotated-7a@db:5432/postgres"
	require.NoError(t, m.Apply(ctx, e.client, live))
	_, sum, gen = sts()
	assert.Equal(t, gen0, gen, "a live key restarts nothing")
	assert.Equal(t, sum0, sum)
	assert.NotEqual(t, srv0, secretRV())

	// Another secret value changes: the checksum, and so the pod template, changes.
	changed := live
	changed.SecretEnv = map[string]string{}
	for k, v := range live.SecretEnv {
		changed.SecretEnv[k] = v
	}
	changed.SecretEnv["USER_SECRET"] = "another-value"
	require.NoError(t, m.UpdateEnv(ctx, e.client, changed))
	_, sum, gen = sts()
	assert.NotEqual(t, sum0, sum)
	assert.Greater(t, gen, gen0, "the template changed: the pod rolls")
}

// Garbage collection removes the Secret with its StatefulSet.
func TestSandboxSecretGarbageCollected(t *testing.T) {
	e := newEnv(t, "secretgc")
	ctx := testCtx(t)
	spec := secretSandbox("gc-sb")
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, spec))
	bg := metav1.DeletePropagationBackground
	require.NoError(t, e.admin.Clientset.AppsV1().StatefulSets(e.user.Namespace).Delete(ctx, spec.Name, metav1.DeleteOptions{PropagationPolicy: &bg}))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.admin.Clientset.CoreV1().Secrets(e.user.Namespace).Get(ctx, spec.SecretName(), metav1.GetOptions{})
		assert.True(c, apierrors.IsNotFound(err), "secret still there: %v", err)
	}, waitFor, tick)
}

// Issue 16.2: in a namespace enforcing the "restricted" Pod Security Standard, the kube-apiserver's
// PodSecurity admission admits the sandbox's pod and rejects a privileged one.
func TestSandboxPassesRestrictedPodSecurity(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "pss", k8stest.WithNamespaceLabels(map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}))
	cl, err := k8s.NewClients().Get("pss", u.Kubeconfig)
	require.NoError(t, err)
	admin, err := k8s.NewClient(c.RESTConfig(), u.Namespace)
	require.NoError(t, err)
	e := &env{cluster: c, user: u, client: cl, admin: admin}
	ctx := testCtx(t)

	spec := secretSandbox("pss-sb")
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, spec))
	st := waitSandbox(t, ctx, e, spec.Name, k8s.StateRunning)
	require.Equal(t, int32(1), st.Ready, "the pod was admitted")

	// The pod template as a bare pod, admitted too (a dry run is admitted like the real thing).
	sts, err := e.client.Clientset.AppsV1().StatefulSets(u.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Spec: sts.Spec.Template.Spec}
	bare.Spec.Volumes = nil
	bare.Spec.Containers[0].VolumeMounts = nil
	_, err = e.client.Clientset.CoreV1().Pods(u.Namespace).Create(ctx, bare, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err)

	// A deliberately privileged pod in the same namespace is rejected by PodSecurity admission.
	priv := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: ptrTo(true)},
		}}},
	}
	_, err = e.client.Clientset.CoreV1().Pods(u.Namespace).Create(ctx, priv, metav1.CreateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Contains(t, err.Error(), "violates PodSecurity \"restricted:latest\"")

	// So is a pod that merely leaves out what "restricted" asks for (the sandbox before issue 16).
	loose := bare.DeepCopy()
	loose.Name = "loose"
	loose.Spec.SecurityContext.SeccompProfile = nil
	loose.Spec.Containers[0].SecurityContext = nil
	_, err = e.client.Clientset.CoreV1().Pods(u.Namespace).Create(ctx, loose, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.Error(t, err)
	for _, want := range []string{"allowPrivilegeEscalation != false", "unrestricted capabilities", "seccompProfile"} {
		assert.Contains(t, err.Error(), want)
	}
}

// Issue 16.2: the NetworkPolicy is accepted by the real API server as built (validation, no
// defaulting drift: a second apply writes nothing), and removed with the sandbox. kwok does not
// enforce NetworkPolicy, so what the policy lets through is checked on the object, not on
// traffic.
func TestSandboxNetworkPolicy(t *testing.T) {
	e := newEnv(t, "netpol")
	ctx := testCtx(t)
	var m k8s.SandboxManager
	for _, tc := range []struct {
		name string
		net  k8s.NetworkSpec
	}{
		{"np-open", k8s.NetworkSpec{}},
		{"np-closed", k8s.NetworkSpec{IngressNamespaces: []string{"sealos-system", "ingress-nginx"}, RestrictEgress: true, DatabaseName: "np-closed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := sandboxSpec(tc.name)
			spec.Network = &tc.net
			require.NoError(t, m.Apply(ctx, e.client, spec))
			np, err := e.admin.Clientset.NetworkingV1().NetworkPolicies(e.user.Namespace).Get(ctx, spec.NetworkPolicyName(), metav1.GetOptions{})
			require.NoError(t, err)
			built := k8s.BuildSandbox(spec).NetworkPolicy
			assert.Equal(t, built.Spec, np.Spec, "the API server keeps the policy as built")
			require.Len(t, np.OwnerReferences, 1, "owned by the StatefulSet")
			rv := np.ResourceVersion
			require.NoError(t, m.Apply(ctx, e.client, spec))
			np, err = e.admin.Clientset.NetworkingV1().NetworkPolicies(e.user.Namespace).Get(ctx, spec.NetworkPolicyName(), metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, rv, np.ResourceVersion, "a second apply writes nothing")

			assert.Equal(t, map[string]string{k8s.LabelApp: spec.Name, k8s.LabelComponent: k8s.ComponentSandbox}, np.Spec.PodSelector.MatchLabels)
			var froms []string
			for _, p := range np.Spec.Ingress[0].From {
				b, _ := json.Marshal(p)
				froms = append(froms, string(b))
			}
			assert.Contains(t, strings.Join(froms, " "), `"project.fullstackagent.io/name":"proj"`)
			if tc.net.RestrictEgress {
				assert.Contains(t, strings.Join(froms, " "), `"kubernetes.io/metadata.name":"sealos-system"`)
				assert.Len(t, np.Spec.PolicyTypes, 2)
				require.Len(t, np.Spec.Egress, 4)
				assert.Equal(t, "0.0.0.0/0", np.Spec.Egress[3].To[0].IPBlock.CIDR)
				assert.Contains(t, np.Spec.Egress[3].To[0].IPBlock.Except, "10.0.0.0/8")
			} else {
				assert.Contains(t, strings.Join(froms, " "), `"kubernetes.io/metadata.name":"ingress-nginx"`)
				assert.Equal(t, []string{"Ingress"}, policyTypes(np.Spec.PolicyTypes), "egress stays open")
				assert.Empty(t, np.Spec.Egress)
			}

			// Delete removes the NetworkPolicy (in the foreground: it may outlive the call briefly).
			require.NoError(t, m.Delete(ctx, e.client, spec.Name, true))
			require.Eventually(t, func() bool {
				_, err := e.admin.Clientset.NetworkingV1().NetworkPolicies(e.user.Namespace).Get(ctx, spec.NetworkPolicyName(), metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			}, waitFor, tick, "NetworkPolicy deleted")
		})
	}

	// The API server's validation refuses what the builder's own validation refuses too.
	bad := sandboxSpec("np-bad")
	bad.Network = &k8s.NetworkSpec{RestrictEgress: true, ClusterCIDRs: []string{"10.0.0.0/33"}}
	require.ErrorIs(t, bad.Validate(), k8s.ErrInvalidSpec)
}

func policyTypes[T ~string](ts []T) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }
