package k8s_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
)

// The control plane serves KubeBlocks' published Cluster CRDs (internal/devenv/k8stest), so the
// API server validates and prunes every Cluster fsa writes as a real KubeBlocks cluster would.
// These tests run fsa's Clusters of each generation against its real schema.

// requireRealSchema skips (fails under CI=true) unless c serves the published CRD of kb.
func requireRealSchema(t *testing.T, c *k8stest.Cluster, kb k8stest.KubeBlocks) {
	t.Helper()
	k8stest.RequireKubeBlocksCRD(t, kb)
	cp := c.ControlPlane()
	if cp == nil {
		t.Skip("the cluster of FSA_TEST_KUBECONFIG: which Cluster CRD it serves is unknown")
	}
	if cp.KubeBlocks() != kb {
		t.Skipf("the control plane serves KubeBlocks %q's Cluster CRD, this test needs %q", cp.KubeBlocks(), kb)
	}
}

// TestDatabaseRealSchemaV1Alpha1 checks fsa's KubeBlocks 0.9 Cluster against v0.9.5's CRD, on
// the shared control plane.
func TestDatabaseRealSchemaV1Alpha1(t *testing.T) {
	c := k8stest.Env(t)
	requireRealSchema(t, c, k8stest.KubeBlocks09)
	realSchema(t, newEnvOn(t, c, "schema09"), k8s.KubeBlocksV1Alpha1)
}

// TestDatabaseKubeBlocks1 checks fsa's KubeBlocks 1.x Cluster against v1.0.2's CRD and runs the
// database lifecycle there, on a control plane of its own: its API server serves v1 (storage)
// and v1alpha1 without KubeBlocks' conversion webhook, so it cannot also serve the 0.9 tests.
func TestDatabaseKubeBlocks1(t *testing.T) {
	c := k8stest.StartPrivate(t, k8stest.Options{KubeBlocks: k8stest.KubeBlocks10})
	t.Run("schema", func(t *testing.T) { realSchema(t, newEnvOn(t, c, "schema10"), k8s.KubeBlocksV1) })
	t.Run("lifecycle", func(t *testing.T) { databaseLifecycle(t, newEnvOn(t, c, "life10")) })
}

// realSchema checks, in e's cluster serving api's real schema: discovery picks api; the schema
// rejects what is invalid and prunes what it does not know (so a field fsa wrote and the server
// pruned would be drift forever); and fsa's Cluster, running and stopped, comes back exactly as
// written: up to date, nothing planned, no write.
func realSchema(t *testing.T, e *env, api k8s.KubeBlocksAPI) {
	ctx := testCtx(t)
	var m k8s.DatabaseManager
	got, err := e.client.KubeBlocksAPI(ctx)
	require.NoError(t, err)
	require.Equal(t, api, got, "discovery picks the generation the cluster serves")
	clusters := e.client.Dynamic.Resource(api.GVR()).Namespace(e.user.Namespace)

	spec := k8s.DatabaseSpec{Name: "schema-db", Namespace: e.user.Namespace, Project: "proj", API: api, Epoch: 1,
		Size: resource.MustParse("1Gi")}

	// The schema validates: a terminationPolicy outside its enum is refused by the API server
	// (fsa's own validation refuses it first, without a request).
	bad := k8s.BuildDatabase(spec)
	bad.SetName("schema-bad")
	require.NoError(t, unstructured.SetNestedField(bad.Object, "Bogus", "spec", "terminationPolicy"))
	_, err = clusters.Create(ctx, bad, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "got %v, want Invalid", err)
	badSpec := spec
	badSpec.Name, badSpec.TerminationPolicy = "schema-bad", "Bogus"
	require.ErrorIs(t, m.Apply(ctx, e.client, badSpec), k8s.ErrInvalidSpec)
	_, err = clusters.Get(ctx, "schema-bad", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "nothing stored: %v", err)

	// A field the schema does not know: a server-side apply (fsa's only write) is refused
	// outright; any other write has it pruned, and the Cluster then differs from what was
	// written, at every resync.
	pruned := k8s.BuildDatabase(spec)
	pruned.SetName("schema-pruned")
	comps, _, _ := unstructured.NestedSlice(pruned.Object, "spec", "componentSpecs")
	comps[0].(map[string]any)["notAField"] = "x"
	require.NoError(t, unstructured.SetNestedSlice(pruned.Object, comps, "spec", "componentSpecs"))
	body, err := json.Marshal(pruned.Object)
	require.NoError(t, err)
	_, err = clusters.Patch(ctx, "schema-pruned", types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: k8s.FieldManager, Force: new(true)})
	require.Error(t, err, "an apply stating an unknown field is refused")
	assert.Contains(t, err.Error(), "notAField")
	live, err := clusters.Create(ctx, pruned, metav1.CreateOptions{FieldValidation: metav1.FieldValidationIgnore})
	require.NoError(t, err)
	liveComps, _, _ := unstructured.NestedSlice(live.Object, "spec", "componentSpecs")
	require.Len(t, liveComps, 1)
	assert.NotContains(t, liveComps[0].(map[string]any), "notAField", "pruned")
	assert.Equal(t, "spec.componentSpecs[0].notAField", k8s.Differs(pruned, live), "a pruned field is drift forever")
	require.NoError(t, clusters.Delete(ctx, "schema-pruned", metav1.DeleteOptions{}))

	// fsa's own Cluster survives validation and pruning whole: once KubeBlocks (the stand-in) has
	// added its finalizer and status, it is up to date, a plan over it is empty, and applying it
	// again writes nothing; the same stopped.
	for _, stopped := range []bool{false, true} {
		spec.Stopped = stopped
		want := k8s.StateRunning
		if stopped {
			want = k8s.StateStopped
			require.NoError(t, m.Stop(ctx, e.client, spec))
		} else {
			require.NoError(t, m.Apply(ctx, e.client, spec))
		}
		waitDatabase(t, ctx, e, spec.Name, want)
		live, err := clusters.Get(ctx, spec.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, live.GetFinalizers(), "KubeBlocks has written")
		assert.Empty(t, k8s.Differs(k8s.BuildDatabase(spec), live), "stopped=%v: as written", stopped)
		plan, err := m.Plan(e.client, spec, live)
		require.NoError(t, err)
		assert.True(t, plan.Empty(), "stopped=%v: %s", stopped, plan.String())
		require.NoError(t, m.Apply(ctx, e.client, spec))
		again, err := clusters.Get(ctx, spec.Name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, live.GetResourceVersion(), again.GetResourceVersion(), "stopped=%v: no write", stopped)
	}
	require.NoError(t, m.Delete(ctx, e.client, spec.Name))
	waitDatabase(t, ctx, e, spec.Name, k8s.StateTerminated)
}
