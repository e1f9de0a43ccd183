package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

func (f *fixture) homeClaim(sandbox string) string { return k8s.HomeVolume + "-" + sandbox + "-0" }

// TestDeleteKeepsDataThenPurge: a default delete removes the project but keeps its data — the
// home volume claim, and the database's Cluster stopped with a termination policy that keeps
// it — and records it; an operator's purge deletes both and forgets them.
func TestDeleteKeepsDataThenPurge(t *testing.T) {
	f := newFixture(t, "keep")
	f.runner(f.acquire(1))
	ns := f.kuser.Namespace
	p := f.create("kept")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	claim := f.homeClaim(p.Sandbox.Name)
	f.waitK8s("home volume claim exists", func() (bool, error) {
		_, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
		return err == nil, err
	})

	_, err := f.c.DeleteProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "project removed", gone)

	// The sandbox's objects are gone, its home volume is kept and marked.
	_, err = f.sts(p.Sandbox.Name)
	require.True(t, apierrors.IsNotFound(err), "StatefulSet gone: %v", err)
	pvc, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
	require.NoError(t, err, "the home volume is kept")
	assert.Equal(t, "true", pvc.Labels[k8s.LabelRetained])
	assert.Equal(t, p.ID, pvc.Annotations[k8s.AnnotationDeletedProject])

	// The database's Cluster is kept, stopped, with a policy that keeps it.
	cl, err := f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err, "the database is kept")
	policy, _, _ := unstructured.NestedString(cl.Object, "spec", "terminationPolicy")
	assert.Equal(t, k8s.TerminationPolicyKeep, policy)
	assert.Equal(t, "true", cl.GetLabels()[k8s.LabelRetained])
	assert.Nil(t, cl.GetDeletionTimestamp())
	comps, _, _ := unstructured.NestedSlice(cl.Object, "spec", "componentSpecs")
	require.NotEmpty(t, comps)
	assert.EqualValues(t, 0, comps[0].(map[string]any)["replicas"], "stopped")
	_, err = f.cluster.Clientset().CoreV1().Secrets(ns).Get(f.ctx, p.Database.ClusterName+"-conn-credential", metav1.GetOptions{})
	require.NoError(t, err, "its credentials are kept")

	// Recorded for operators, where it lives.
	kept, err := f.c.ListRetained(f.ctx, "")
	require.NoError(t, err)
	require.Len(t, kept, 2)
	for _, rd := range kept {
		assert.Equal(t, ns, rd.Namespace)
		assert.Equal(t, "kept", rd.ProjectName)
	}

	// Purge: both go from Kubernetes and from the record; purging again is NotFound.
	clients := k8s.NewClients()
	for _, rd := range kept {
		require.NoError(t, reconcile.Purge(f.ctx, f.c, clients, rd.ID))
	}
	require.ErrorIs(t, reconcile.Purge(f.ctx, f.c, clients, kept[0].ID), fsa.ErrNotFound)
	f.waitK8s("Cluster purged", func() (bool, error) {
		_, err := f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	_, err = f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err) || err == nil && pvcDeleting(f, ns, claim), "home volume purged: %v", err)
	left, err := f.c.ListRetained(f.ctx, "")
	require.NoError(t, err)
	assert.Empty(t, left)
}

// pvcDeleting reports whether the claim is being deleted (its protection finalizer may hold it
// while nothing uses it any more only for a moment).
func pvcDeleting(f *fixture, ns, name string) bool {
	pvc, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, name, metav1.GetOptions{})
	return err == nil && pvc.DeletionTimestamp != nil
}

// TestDeletePurgeData: a delete that asks for it removes the data with the project, and
// records nothing.
func TestDeletePurgeData(t *testing.T) {
	f := newFixture(t, "purge")
	f.runner(f.acquire(1))
	ns := f.kuser.Namespace
	p := f.create("purged")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	claim := f.homeClaim(p.Sandbox.Name)
	f.waitK8s("home volume claim exists", func() (bool, error) {
		_, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
		return err == nil, err
	})

	_, err := f.c.DeleteProject(f.ctx, f.user.ID, p.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	f.waitProject(p.ID, "project removed", gone)
	_, err = f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "database cluster gone: %v", err)
	_, err = f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err) || err == nil && pvcDeleting(f, ns, claim), "home volume gone: %v", err)
	kept, err := f.c.ListRetained(f.ctx, "")
	require.NoError(t, err)
	assert.Empty(t, kept)
}
