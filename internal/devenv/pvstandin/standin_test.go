package pvstandin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/pvstandin"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

func claim(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("1Gi"),
			}},
		},
	}
}

// runStandin runs a stand-in for a StorageClass of the test's own (so it does not compete with
// the one the control plane runs for kwok's class) until the test ends.
func runStandin(t *testing.T, cs kubernetes.Interface) (class, provisioner string) {
	t.Helper()
	ctx := t.Context()
	class, provisioner = "pvstandin-"+rand.String(5), "pvstandin.test/"+rand.String(5)
	_, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: class},
		Provisioner: provisioner,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.StorageV1().StorageClasses().Delete(context.Background(), class, metav1.DeleteOptions{})
	})
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		assert.NoError(t, pvstandin.Run(runCtx, cs, pvstandin.Options{StorageClass: class, Provisioner: provisioner, Workers: 4}))
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return class, provisioner
}

func TestProvisionsAndBinds(t *testing.T) {
	c := k8stest.Env(t)
	cs := c.Clientset()
	ctx := t.Context()
	u := c.NewTestUser(t, "pv")
	class, provisioner := runStandin(t, cs)
	claims := cs.CoreV1().PersistentVolumeClaims(u.Namespace)

	const n = 20
	for i := range n {
		_, err := claims.Create(ctx, claim(fmt.Sprintf("home-%d", i), class), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	other, err := claims.Create(ctx, claim("other", class+"-none"), metav1.CreateOptions{})
	require.NoError(t, err)

	for i := range n {
		name := fmt.Sprintf("home-%d", i)
		var got *corev1.PersistentVolumeClaim
		require.Eventually(t, func() bool {
			got, err = claims.Get(ctx, name, metav1.GetOptions{})
			return err == nil && got.Status.Phase == corev1.ClaimBound
		}, 30*time.Second, 20*time.Millisecond, "claim %s not Bound", name)
		pvName := pvstandin.VolumeName(got.UID)
		assert.Equal(t, pvName, got.Spec.VolumeName)
		assert.Equal(t, "yes", got.Annotations[pvstandin.AnnBindCompleted])
		assert.Equal(t, resource.MustParse("1Gi"), got.Status.Capacity[corev1.ResourceStorage])

		// The PersistentVolume controller accepts the pair: it marks the volume Bound.
		var pv *corev1.PersistentVolume
		require.Eventually(t, func() bool {
			pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
			return err == nil && pv.Status.Phase == corev1.VolumeBound
		}, 30*time.Second, 20*time.Millisecond, "volume %s not Bound", pvName)
		require.NotNil(t, pv.Spec.ClaimRef)
		assert.Equal(t, got.UID, pv.Spec.ClaimRef.UID)
		assert.Equal(t, class, pv.Spec.StorageClassName)
		assert.Equal(t, provisioner, pv.Annotations[pvstandin.AnnProvisionedBy])
		assert.Equal(t, resource.MustParse("1Gi"), pv.Spec.Capacity[corev1.ResourceStorage])
		t.Cleanup(func() {
			_ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
		})
	}

	// A claim of another class is left alone.
	got, err := claims.Get(ctx, other.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, got.Spec.VolumeName)
	_, err = cs.CoreV1().PersistentVolumes().Get(ctx, pvstandin.VolumeName(other.UID), metav1.GetOptions{})
	assert.Error(t, err)
}

// A pod using a claim of the control plane's default class starts: the control plane's own
// stand-in provisions kwok's StorageClass.
func TestControlPlaneProvisionsDefaultClass(t *testing.T) {
	c := k8stest.Env(t)
	cs := c.Clientset()
	ctx := t.Context()
	u := c.NewTestUser(t, "pvpod")
	pvc := claim("data", pvstandin.DefaultStorageClass)
	pvc.Spec.StorageClassName = nil // the default class
	_, err := cs.CoreV1().PersistentVolumeClaims(u.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
	require.NoError(t, err)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
			}}},
		},
	}
	_, err = cs.CoreV1().Pods(u.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := cs.CoreV1().Pods(u.Namespace).Get(ctx, "app", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	}, time.Minute, 50*time.Millisecond)
	got, err := cs.CoreV1().PersistentVolumeClaims(u.Namespace).Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pvstandin.VolumeName(got.UID), got.Spec.VolumeName)
}
