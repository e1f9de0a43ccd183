package kbstandin_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

const waitFor = 30 * time.Second

func newCluster(name string, replicas int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.kubeblocks.io/v1alpha1",
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"clusterDefinitionRef": "postgresql",
			"clusterVersionRef":    "postgresql-14.8.0",
			"terminationPolicy":    "Delete",
			"componentSpecs": []any{map[string]any{
				"name": "postgresql", "componentDefRef": "postgresql", "replicas": replicas,
			}},
		},
	}}
}

// phases reads the Cluster's watch until it has seen want in order (other phases may come in
// between, e.g. repeats), failing t on timeout. With deleted it then also waits for DELETED.
func phases(t *testing.T, w watch.Interface, deleted bool, want ...string) {
	t.Helper()
	timeout := time.After(waitFor)
	var seen []string
	for len(want) > 0 || deleted {
		select {
		case ev, ok := <-w.ResultChan():
			require.True(t, ok, "watch closed; phases seen %v", seen)
			if ev.Type == watch.Deleted {
				require.Empty(t, want, "deleted before phases %v; seen %v", want, seen)
				return
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			require.True(t, ok, "watch event %s: %T", ev.Type, ev.Object)
			phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
			if len(seen) == 0 || seen[len(seen)-1] != phase {
				seen = append(seen, phase)
			}
			if len(want) > 0 && phase == want[0] {
				want = want[1:]
			}
		case <-timeout:
			t.Fatalf("timed out waiting for phases %v (deleted=%v); seen %v", want, deleted, seen)
		}
	}
}

func setReplicas(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, name string, replicas int64) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/componentSpecs/0/replicas","value":%d}]`, replicas)
	_, err := clusters.Patch(ctx, name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

// TestLifecycle drives a Cluster the way fsa does, as a namespaced user.
func TestLifecycle(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "kb")
	cfg, err := u.RESTConfig()
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := t.Context()
	clusters := dyn.Resource(kbstandin.ClusterGVR).Namespace(u.Namespace)

	w, err := clusters.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=pg"})
	require.NoError(t, err)
	defer w.Stop()

	start := time.Now()
	created, err := clusters.Create(ctx, newCluster("pg", 1), metav1.CreateOptions{})
	require.NoError(t, err)
	phases(t, w, false, kbstandin.PhaseCreating, kbstandin.PhaseRunning)
	t.Logf("Cluster create -> Running %v", time.Since(start).Round(time.Millisecond))

	got, err := clusters.Get(ctx, "pg", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, got.GetFinalizers(), kbstandin.Finalizer)
	gen, _, _ := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
	assert.Equal(t, got.GetGeneration(), gen, "observedGeneration")

	secret, err := kube.CoreV1().Secrets(u.Namespace).Get(ctx, "pg"+kbstandin.SecretSuffix, metav1.GetOptions{})
	require.NoError(t, err, "connection secret")
	assert.Equal(t, "pg-postgresql."+u.Namespace+".svc", string(secret.Data[kbstandin.KeyHost]))
	assert.Equal(t, "5432", string(secret.Data[kbstandin.KeyPort]))
	assert.Equal(t, "postgres", string(secret.Data[kbstandin.KeyUsername]))
	assert.Len(t, secret.Data[kbstandin.KeyPassword], 20)
	require.Len(t, secret.OwnerReferences, 1)
	assert.Equal(t, created.GetUID(), secret.OwnerReferences[0].UID)

	setReplicas(ctx, t, clusters, "pg", 0)
	phases(t, w, false, kbstandin.PhaseStopping, kbstandin.PhaseStopped)

	setReplicas(ctx, t, clusters, "pg", 1)
	phases(t, w, false, kbstandin.PhaseUpdating, kbstandin.PhaseRunning)

	// The password survives stop/start: the secret is written once.
	again, err := kube.CoreV1().Secrets(u.Namespace).Get(ctx, "pg"+kbstandin.SecretSuffix, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, secret.Data[kbstandin.KeyPassword], again.Data[kbstandin.KeyPassword])

	// A Secret deleted out of band is written again.
	require.NoError(t, kube.CoreV1().Secrets(u.Namespace).Delete(ctx, "pg"+kbstandin.SecretSuffix, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		s, err := kube.CoreV1().Secrets(u.Namespace).Get(ctx, "pg"+kbstandin.SecretSuffix, metav1.GetOptions{})
		return err == nil && s.UID != secret.UID
	}, waitFor, 50*time.Millisecond, "connection secret not written again")

	require.NoError(t, clusters.Delete(ctx, "pg", metav1.DeleteOptions{}))
	phases(t, w, true, kbstandin.PhaseDeleting)
	_, err = clusters.Get(ctx, "pg", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "got %v, want NotFound", err)

	// The garbage collector removes the owned secret.
	require.Eventually(t, func() bool {
		_, err := kube.CoreV1().Secrets(u.Namespace).Get(ctx, "pg"+kbstandin.SecretSuffix, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, waitFor, 50*time.Millisecond, "connection secret not garbage collected")
}

// TestClusterCreatedStopped: a Cluster created with zero replicas settles in Stopped.
func TestClusterCreatedStopped(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "kbstopped")
	ctx := t.Context()
	clusters := c.Dynamic().Resource(kbstandin.ClusterGVR).Namespace(u.Namespace)
	w, err := clusters.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=idle"})
	require.NoError(t, err)
	defer w.Stop()
	_, err = clusters.Create(ctx, newCluster("idle", 0), metav1.CreateOptions{})
	require.NoError(t, err)
	phases(t, w, false, kbstandin.PhaseCreating, kbstandin.PhaseStopping, kbstandin.PhaseStopped)
	_, err = c.Clientset().CoreV1().Secrets(u.Namespace).Get(ctx, "idle"+kbstandin.SecretSuffix, metav1.GetOptions{})
	require.NoError(t, err)
}
