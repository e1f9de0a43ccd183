package k8s_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/k8s"
)

// TestTypedClientSpeaksProtobuf: the API server answers the typed client's lists in protobuf
// (and, with WithJSON, in JSON), while the dynamic client of custom resources stays on JSON.
func TestTypedClientSpeaksProtobuf(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "proto")
	ctx := testCtx(t)
	for _, json := range []bool{false, true} {
		var mu sync.Mutex
		got := map[string]string{} // path → response content type
		wrap := func(rt http.RoundTripper) http.RoundTripper {
			return roundTrip(func(r *http.Request) (*http.Response, error) {
				resp, err := rt.RoundTrip(r)
				if err == nil {
					mu.Lock()
					got[r.URL.Path] = resp.Header.Get("Content-Type")
					mu.Unlock()
				}
				return resp, err
			})
		}
		cl, err := k8s.NewClients(k8s.WithTransportWrapper(wrap), k8s.WithJSON(json)).Get("proto", u.Kubeconfig)
		require.NoError(t, err)
		_, err = cl.Clientset.CoreV1().Secrets(cl.Namespace).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		_, err = cl.Dynamic.Resource(k8s.GVRCluster).Namespace(cl.Namespace).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		mu.Lock()
		secrets := got["/api/v1/namespaces/"+cl.Namespace+"/secrets"]
		clusters := got["/apis/"+k8s.GVRCluster.Group+"/"+k8s.GVRCluster.Version+"/namespaces/"+cl.Namespace+"/"+k8s.GVRCluster.Resource]
		mu.Unlock()
		if json {
			assert.Equal(t, "application/json", secrets, "WithJSON")
		} else {
			assert.Equal(t, k8s.ContentTypeProtobuf, secrets, "typed lists in protobuf")
		}
		assert.Equal(t, "application/json", clusters, "custom resources in JSON")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
