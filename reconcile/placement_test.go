package reconcile_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
)

// secondNamespace gives the fixture's user a second namespace (as a Sealos user with two
// workspaces has) and returns it with a kubeconfig naming it: the same credentials.
func (f *fixture) secondNamespace() (string, string) {
	f.t.Helper()
	ns := f.kuser.Namespace + "-b"
	cs := f.cluster.Clientset()
	_, err := cs.CoreV1().Namespaces().Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(f.ctx, ns, metav1.DeleteOptions{}) })
	meta := metav1.ObjectMeta{Name: f.kuser.Name, Namespace: ns}
	_, err = cs.RbacV1().Roles(ns).Create(f.ctx, &rbacv1.Role{ObjectMeta: meta, Rules: k8stest.UserRules}, metav1.CreateOptions{})
	require.NoError(f.t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(f.ctx, &rbacv1.RoleBinding{ObjectMeta: meta,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: f.kuser.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: f.kuser.Name, Namespace: f.kuser.Namespace}},
	}, metav1.CreateOptions{})
	require.NoError(f.t, err)
	kc := strings.ReplaceAll(string(f.kuser.Kubeconfig), f.kuser.Namespace, ns)
	_, nsOf, err := k8s.ParseKubeconfig([]byte(kc))
	require.NoError(f.t, err)
	require.Equal(f.t, ns, nsOf)
	return ns, kc
}

// TestKubeconfigChangeKeepsPlacement: a project created before the user's kubeconfig named
// another namespace is still converged, stopped and deleted in the namespace it was created
// in; a project created after lives in the new one.
func TestKubeconfigChangeKeepsPlacement(t *testing.T) {
	f := newFixture(t, "nsmove")
	f.runner(f.acquire(1))
	oldNS := f.kuser.Namespace
	server := f.cluster.RESTConfig().Host

	p1 := f.create("before")
	p1 = f.waitProject(p1.ID, "both RUNNING", both(fsa.StatusRunning))
	assert.Equal(t, oldNS, p1.Sandbox.Namespace)
	assert.Equal(t, oldNS, p1.Database.Namespace)
	assert.Equal(t, server, p1.Sandbox.Server)

	newNS, kc := f.secondNamespace()
	_, err := f.c.SetUserConfig(f.ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kc, Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)

	p2 := f.create("after")
	p2 = f.waitProject(p2.ID, "both RUNNING", both(fsa.StatusRunning))
	assert.Equal(t, newNS, p2.Sandbox.Namespace)
	assert.Equal(t, newNS, p2.Database.Namespace)
	_, err = f.cluster.Clientset().AppsV1().StatefulSets(newNS).Get(f.ctx, p2.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err, "the new project lives in the new namespace")
	_, err = f.cluster.Clientset().AppsV1().StatefulSets(oldNS).Get(f.ctx, p2.Sandbox.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "and not in the old one: %v", err)

	// The old project is still managed where it is: stopped there...
	_, err = f.c.StopProject(f.ctx, f.user.ID, p1.ID)
	require.NoError(t, err)
	f.waitProject(p1.ID, "both STOPPED", both(fsa.StatusStopped))
	s, err := f.cluster.Clientset().AppsV1().StatefulSets(oldNS).Get(f.ctx, p1.Sandbox.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(0), *s.Spec.Replicas)
	_, err = f.cluster.Clientset().AppsV1().StatefulSets(newNS).Get(f.ctx, p1.Sandbox.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "nothing of it was recreated in the new namespace: %v", err)

	// ...and deleted there.
	_, err = f.c.DeleteProject(f.ctx, f.user.ID, p1.ID)
	require.NoError(t, err)
	f.waitProject(p1.ID, "project removed", gone)
	_, err = f.cluster.Clientset().AppsV1().StatefulSets(oldNS).Get(f.ctx, p1.Sandbox.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "StatefulSet deleted in the old namespace: %v", err)
	// Its database is kept (the default) in the old namespace, and recorded there.
	cl, err := f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(oldNS).Get(f.ctx, p1.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "true", cl.GetLabels()[k8s.LabelRetained], "kept in the old namespace")
	kept, err := f.c.ListRetained(f.ctx, f.user.ID)
	require.NoError(t, err)
	require.Len(t, kept, 2)
	for _, rd := range kept {
		assert.Equal(t, oldNS, rd.Namespace)
	}

	// The new project was not touched.
	p2 = f.waitProject(p2.ID, "still RUNNING", both(fsa.StatusRunning))
	assert.Equal(t, fsa.StatusRunning, p2.Status)
}

// TestKubeconfigOnAnotherServer: a child whose API server the user's kubeconfig no longer
// points at is reported (ClusterChanged), not recreated on the new server.
func TestKubeconfigOnAnotherServer(t *testing.T) {
	f := newFixture(t, "srvmove")
	f.runner(f.acquire(1))
	p := f.create("here")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))

	// The same cluster under another address is another server as far as the record goes.
	host := f.cluster.RESTConfig().Host
	other := strings.Replace(host, "127.0.0.1", "localhost", 1)
	require.NotEqual(t, host, other, "the test needs the API server at 127.0.0.1")
	kc := strings.ReplaceAll(string(f.kuser.Kubeconfig), host, other)
	_, err := f.c.SetUserConfig(f.ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kc, Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	p = f.waitProject(p.ID, "ERROR ClusterChanged", func(p *fsa.Project) bool {
		return p != nil && p.Sandbox.Status == fsa.StatusError && p.Sandbox.Reason == "ClusterChanged"
	})
	assert.Contains(t, p.Sandbox.Conditions[len(p.Sandbox.Conditions)-1].Message, host)
	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	assert.Equal(t, int32(1), *s.Spec.Replicas, "nothing was written through the other server")

	// Setting a kubeconfig for the recorded server again lets it converge.
	_, err = f.c.SetUserConfig(f.ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(f.kuser.Kubeconfig), Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))

	// Deleted while the kubeconfig points elsewhere, even with a purge: the delete completes
	// without touching the objects, which are recorded as left behind, on the recorded server.
	_, err = f.c.SetUserConfig(f.ctx, f.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kc, Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	_, err = f.c.DeleteProject(f.ctx, f.user.ID, p.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	f.waitProject(p.ID, "project removed", gone)
	_, err = f.sts(p.Sandbox.Name)
	require.NoError(t, err, "nothing was deleted through the other server")
	left, err := f.c.ListRetained(f.ctx, f.user.ID)
	require.NoError(t, err)
	require.Len(t, left, 2)
	for _, rd := range left {
		assert.Equal(t, host, rd.Server)
		assert.Equal(t, f.kuser.Namespace, rd.Namespace)
	}
}
