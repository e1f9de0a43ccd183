package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// TestSizes: a project's size reaches its StatefulSet and its Cluster; a stopped project's
// resize reaches them too (the home volume grows by volume expansion); a running project cannot
// be resized and a volume cannot shrink.
func TestSizes(t *testing.T) {
	_, small, err := fsa.ParseSizeClass("small=cpu:500m,memory:1Gi,home:2Gi,db:1Gi,db-cpu:500m,db-memory:512Mi")
	require.NoError(t, err)
	policy := fsa.SizePolicy{Classes: map[string]fsa.Size{"small": small, fsa.DefaultSizeClass: fsa.BuiltinSize}, Default: "small"}
	require.NoError(t, policy.Validate())
	f := newFixture(t, "sizes", fsa.WithSizes(policy))
	f.runner(f.acquire(1))
	p, err := f.c.CreateProject(f.ctx, f.user.ID, fsa.ProjectSpec{Name: "sized", Size: fsa.SizeSpec{Memory: "2Gi"}})
	require.NoError(t, err)
	assert.Equal(t, "small", p.Size.Class)
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))

	s, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	res := s.Spec.Template.Spec.Containers[0].Resources
	assert.Equal(t, "500m", res.Limits.Cpu().String())
	assert.Equal(t, "2Gi", res.Limits.Memory().String(), "the explicit memory")
	assert.Equal(t, "200m", res.Requests.Cpu().String(), "the class's request")
	assert.Equal(t, "2Gi", s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
	cluster := f.clusterComponent(p.Database.ClusterName)
	assert.Equal(t, "1Gi", dataSize(t, cluster))
	limits, _, _ := unstructured.NestedStringMap(cluster, "resources", "limits")
	assert.Equal(t, map[string]string{"cpu": "500m", "memory": "512Mi"}, limits)

	_, err = f.c.ResizeProject(f.ctx, f.user.ID, p.ID, fsa.SizeSpec{CPU: "1"})
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "running")

	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	allowExpansion(f)
	p, err = f.c.ResizeProject(f.ctx, f.user.ID, p.ID, fsa.SizeSpec{CPU: "1", Home: "4Gi", Database: "2Gi"})
	require.NoError(t, err)
	assert.Equal(t, "Resized", p.Sandbox.Conditions[len(p.Sandbox.Conditions)-1].Reason)
	claim := k8s.HomeVolume + "-" + p.Sandbox.Name + "-0"
	f.waitK8s("resized objects", func() (bool, error) {
		s, err := f.sts(p.Sandbox.Name)
		if err != nil {
			return false, err
		}
		pvc, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(f.kuser.Namespace).Get(f.ctx, claim, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := s.Spec.Template.Spec.Containers[0]
		return c.Resources.Limits.Cpu().String() == "1" && s.Annotations[k8s.AnnotationHomeSize] == "4Gi" &&
			pvc.Spec.Resources.Requests.Storage().String() == "4Gi" && *s.Spec.Replicas == 0 &&
			dataSize(t, f.clusterComponent(p.Database.ClusterName)) == "2Gi", nil
	})
	p = f.waitProject(p.ID, "still STOPPED", both(fsa.StatusStopped))

	// A shrink is refused, naming both sizes; nothing is stored.
	_, err = f.c.ResizeProject(f.ctx, f.user.ID, p.ID, fsa.SizeSpec{Home: "3Gi"})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "from 4Gi to 3Gi")
	again, err := f.c.ProjectByID(f.ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.Version, again.Version, "nothing stored")

	_, err = f.c.StartProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both RUNNING again", both(fsa.StatusRunning))
}

// clusterComponent returns the first componentSpec of the database's Cluster.
func (f *fixture) clusterComponent(name string) map[string]any {
	f.t.Helper()
	u, err := f.cluster.Dynamic().Resource(k8s.GVRCluster).Namespace(f.kuser.Namespace).Get(f.ctx, name, metav1.GetOptions{})
	require.NoError(f.t, err)
	comps, _, _ := unstructured.NestedSlice(u.Object, "spec", "componentSpecs")
	require.Len(f.t, comps, 1)
	return comps[0].(map[string]any)
}

func dataSize(t *testing.T, component map[string]any) string {
	vcts, _, _ := unstructured.NestedSlice(component, "volumeClaimTemplates")
	require.Len(t, vcts, 1)
	size, _, _ := unstructured.NestedString(vcts[0].(map[string]any), "spec", "resources", "requests", "storage")
	return size
}

// allowExpansion lets kwok's StorageClass expand volumes until the end of the test.
func allowExpansion(f *fixture) {
	scs := f.cluster.Clientset().StorageV1().StorageClasses()
	sc, err := scs.Get(f.ctx, "kwok-volume", metav1.GetOptions{})
	require.NoError(f.t, err)
	old := sc.AllowVolumeExpansion
	allow := true
	sc.AllowVolumeExpansion = &allow
	_, err = scs.Update(f.ctx, sc, metav1.UpdateOptions{})
	require.NoError(f.t, err)
	f.t.Cleanup(func() {
		sc, err := scs.Get(f.ctx, "kwok-volume", metav1.GetOptions{})
		if err == nil {
			sc.AllowVolumeExpansion = old
			_, err = scs.Update(f.ctx, sc, metav1.UpdateOptions{})
		}
		assert.NoError(f.t, err)
	})
}
