package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// TestEpochFencingPolicy runs the shipped ValidatingAdmissionPolicy (deploy/fencing) in the real
// API server: an update of an fsa-managed object that lowers its epoch annotation is refused;
// every other update passes.
func TestEpochFencingPolicy(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "fencing")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	policy, binding, err := k8stest.LoadEpochFencing()
	require.NoError(t, err)
	assert.Equal(t, policy.GetName(), binding.Object["spec"].(map[string]any)["policyName"], "the binding binds the policy")
	remove, err := c.InstallEpochFencing(ctx, u.Namespace)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, remove(context.Background())) })

	const key = "fsa.fullstackagent.io/epoch"
	managed := map[string]string{"app.kubernetes.io/managed-by": "fsa"}
	cms := c.Clientset().CoreV1().ConfigMaps(u.Namespace)
	for i, tc := range []struct {
		name          string
		labels        map[string]string
		stored        map[string]string // annotations of the stored object
		written       map[string]string // annotations of the update
		wantForbidden bool
	}{
		{"lower epoch", managed, map[string]string{key: "7"}, map[string]string{key: "6"}, true},
		{"much lower epoch", managed, map[string]string{key: "10"}, map[string]string{key: "9"}, true},
		{"same epoch", managed, map[string]string{key: "7"}, map[string]string{key: "7"}, false},
		{"higher epoch", managed, map[string]string{key: "7"}, map[string]string{key: "8"}, false},
		{"annotation removed", managed, map[string]string{key: "7"}, nil, false},
		{"stored value not an epoch", managed, map[string]string{key: "x"}, map[string]string{key: "1"}, false},
		{"written value not an epoch", managed, map[string]string{key: "7"}, map[string]string{key: "x"}, false},
		{"no annotation stored", managed, nil, map[string]string{key: "1"}, false},
		{"not managed by fsa", map[string]string{"app.kubernetes.io/managed-by": "someone"}, map[string]string{key: "7"}, map[string]string{key: "6"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
				Name: "cm-" + string(rune('a'+i)), Labels: tc.labels, Annotations: tc.stored,
			}}, metav1.CreateOptions{})
			require.NoError(t, err, "creations are not checked")
			cm.Annotations = tc.written
			cm.Data = map[string]string{"changed": "yes"}
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
			if !tc.wantForbidden {
				require.NoError(t, err)
				return
			}
			require.True(t, apierrors.IsForbidden(err), "got %v, want Forbidden", err)
			assert.Contains(t, err.Error(), "stale fsa write: epoch "+tc.written[key]+" is below the stored object's epoch "+tc.stored[key])
			got, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.stored[key], got.Annotations[key], "nothing written")
			assert.Empty(t, got.Data)
		})
	}
}
