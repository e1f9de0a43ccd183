package daemon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/internal/devenv/aiproxystandin"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// sandboxEnv returns the value of the variable name in the sandbox container, literal or read
// from the Secret it references.
func sandboxEnv(ctx context.Context, t *testing.T, kc *k8stest.Cluster, ns string, sts *appsv1.StatefulSet, name string) string {
	t.Helper()
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name != name {
				continue
			}
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
				sec, err := kc.Clientset().CoreV1().Secrets(ns).Get(ctx, ref.SecretKeyRef.Name, metav1.GetOptions{})
				require.NoError(t, err)
				return string(sec.Data[ref.SecretKeyRef.Key])
			}
			return e.Value
		}
	}
	return ""
}

// TestSealosSignInGivesSandboxAiproxyKey: a Sealos sign-in followed by a project gives the
// project's sandbox a key from Aiproxy and the base URL of the proxy that issued it; a key
// revoked in Aiproxy is replaced at the next sign-in and reaches the sandbox.
func TestSealosSignInGivesSandboxAiproxyKey(t *testing.T) {
	kc := k8stest.Env(t)
	kuser := kc.NewTestUser(t, "sealer")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	hub := aiproxystandin.New()
	aiproxy := httptest.NewServer(hub)
	defer aiproxy.Close()
	const (
		jwtSecret = "sealos-jwt-secret-of-the-test"
		baseURL   = "https://aiproxy.sealos.test/anthropic"
		sealosID  = "seal-uid-42"
	)
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Nodes: 1,
		Args: []string{"--domain", "sandbox.fsa.test", "--aiproxy-endpoint", aiproxy.URL, "--aiproxy-base-url", baseURL},
		Env:  []string{"FSA_SEALOS_JWT_SECRET=" + jwtSecret}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	n := c.Nodes[0]
	hc := &http.Client{Timeout: 10 * time.Second}

	signIn := func() string {
		t.Helper()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"userUid": sealosID, "userCrName": "sealer",
			"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(jwtSecret))
		require.NoError(t, err)
		res, err := fsav1connect.NewAuthServiceClient(hc, n.URL()).SealosLogin(ctx, connect.NewRequest(&fsav1.SealosLoginRequest{
			SealosToken: tok, Kubeconfig: string(kuser.Kubeconfig)}))
		require.NoError(t, err)
		return res.Msg.GetSession().GetToken()
	}
	session := signIn()
	bearer := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+session)
			return next(ctx, req)
		}
	}))
	projects := fsav1connect.NewProjectServiceClient(hc, n.URL(), bearer)
	created, err := projects.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "sealed"}))
	require.NoError(t, err)
	sandbox := created.Msg.GetProject().GetSandbox().GetName()

	issued, ok := hub.Lookup(kuser.Namespace, api.AiproxyTokenPrefix+sealosID)
	require.True(t, ok, "the sign-in asked Aiproxy for the user's token in the user's workspace")
	waitEnv := func(wantKey string) {
		t.Helper()
		var key, base string
		require.NoError(t, fsadtest.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
			sts, err := kc.Clientset().AppsV1().StatefulSets(kuser.Namespace).Get(ctx, sandbox, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // not created yet
			}
			key = sandboxEnv(ctx, t, kc, kuser.Namespace, sts, api.SandboxAnthropicKeyEnv)
			base = sandboxEnv(ctx, t, kc, kuser.Namespace, sts, "ANTHROPIC_BASE_URL")
			return key == wantKey && base == baseURL, nil
		}), "sandbox env: key matches %v, base URL %q", key == wantKey, base)
	}
	waitEnv(issued.Key)

	// Revoked in Aiproxy: the next sign-in replaces it, and the sandbox gets the new key.
	require.True(t, hub.Revoke(kuser.Namespace, api.AiproxyTokenPrefix+sealosID))
	session = signIn()
	renewed, _ := hub.Lookup(kuser.Namespace, api.AiproxyTokenPrefix+sealosID)
	require.NotEqual(t, issued.Key, renewed.Key)
	waitEnv(renewed.Key)
	got, err := projects.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: created.Msg.GetProject().GetId()}))
	require.NoError(t, err)
	assert.Equal(t, kuser.Namespace, got.Msg.GetProject().GetSandbox().GetNamespace())
}
