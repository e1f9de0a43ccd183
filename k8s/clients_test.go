package k8s_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/fullstackagent/fsa/k8s"
)

// kubeconfig returns a token kubeconfig for namespace ns, after letting
// mutate change it.
func kubeconfig(t *testing.T, ns, token string, mutate func(*clientcmdapi.Config)) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: ns}
	cfg.CurrentContext = "ctx"
	if mutate != nil {
		mutate(cfg)
	}
	b, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return b
}

func TestParseKubeconfig(t *testing.T) {
	cfg, ns, err := k8s.ParseKubeconfig(kubeconfig(t, "ns-alice", "secret-token", nil))
	require.NoError(t, err)
	assert.Equal(t, "ns-alice", ns)
	assert.Equal(t, "https://127.0.0.1:6443", cfg.Host)
	assert.Equal(t, "secret-token", cfg.BearerToken)
}

func TestParseKubeconfigRejects(t *testing.T) {
	tests := []struct {
		name   string
		config []byte
	}{
		{"garbage", []byte("{not: [yaml")},
		{"no current context", kubeconfig(t, "ns", "tok", func(c *clientcmdapi.Config) { c.CurrentContext = "" })},
		{"undefined context", kubeconfig(t, "ns", "tok", func(c *clientcmdapi.Config) { c.CurrentContext = "other" })},
		{"no namespace", kubeconfig(t, "", "tok", nil)},
		{"undefined cluster", kubeconfig(t, "ns", "tok", func(c *clientcmdapi.Config) { delete(c.Clusters, "c") })},
		{"undefined user", kubeconfig(t, "ns", "tok", func(c *clientcmdapi.Config) { delete(c.AuthInfos, "u") })},
		{"exec plugin", kubeconfig(t, "ns", "", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"].Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1"}
		})},
		{"auth provider", kubeconfig(t, "ns", "", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"].AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc"}
		})},
		{"token file", kubeconfig(t, "ns", "", func(c *clientcmdapi.Config) { c.AuthInfos["u"].TokenFile = "/var/run/secrets/token" })},
		{"client key file", kubeconfig(t, "ns", "", func(c *clientcmdapi.Config) {
			c.AuthInfos["u"].ClientCertificate, c.AuthInfos["u"].ClientKey = "/etc/cert", "/etc/key"
		})},
		{"ca file", kubeconfig(t, "ns", "tok", func(c *clientcmdapi.Config) {
			c.Clusters["c"].CertificateAuthority, c.Clusters["c"].InsecureSkipTLSVerify = "/etc/ca.crt", false
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := k8s.ParseKubeconfig(tt.config)
			require.ErrorIs(t, err, k8s.ErrInvalidKubeconfig)
			assert.NotContains(t, err.Error(), "tok", "errors must not quote credentials")
		})
	}
}

func TestClientsCache(t *testing.T) {
	cs := k8s.NewClients(k8s.WithRateLimit(42, 84))
	kcA := kubeconfig(t, "ns-alice", "token-1", nil)

	a1, err := cs.Get("alice", kcA)
	require.NoError(t, err)
	assert.Equal(t, "ns-alice", a1.Namespace)
	a2, err := cs.Get("alice", append([]byte(nil), kcA...))
	require.NoError(t, err)
	assert.Same(t, a1, a2, "same kubeconfig: cached client")

	lim := a1.Clientset.(*kubernetes.Clientset).AppsV1().RESTClient().GetRateLimiter()
	assert.InDelta(t, 42, lim.QPS(), 0.001)

	b, err := cs.Get("bob", kubeconfig(t, "ns-bob", "token-2", nil))
	require.NoError(t, err)
	assert.NotSame(t, a1, b)
	assert.Equal(t, "ns-bob", b.Namespace)

	a3, err := cs.Get("alice", kubeconfig(t, "ns-alice2", "token-3", nil))
	require.NoError(t, err)
	assert.NotSame(t, a1, a3, "changed kubeconfig: rebuilt")
	assert.Equal(t, "ns-alice2", a3.Namespace)

	_, err = cs.Get("alice", []byte("garbage: ["))
	require.ErrorIs(t, err, k8s.ErrInvalidKubeconfig)
	a4, err := cs.Get("alice", kubeconfig(t, "ns-alice2", "token-3", nil))
	require.NoError(t, err)
	assert.NotSame(t, a3, a4, "a failed rebuild drops the stale client")

	_, err = cs.Get("alice", nil)
	require.ErrorIs(t, err, k8s.ErrNoKubeconfig)
	_, err = cs.Get("alice", []byte("  \n"))
	require.ErrorIs(t, err, k8s.ErrNoKubeconfig)

	cs.Forget("bob")
	b2, err := cs.Get("bob", kubeconfig(t, "ns-bob", "token-2", nil))
	require.NoError(t, err)
	assert.NotSame(t, b, b2, "forgotten: rebuilt")
}

func TestClientsConcurrent(t *testing.T) {
	cs := k8s.NewClients()
	kc := kubeconfig(t, "ns", "tok", nil)
	var wg sync.WaitGroup
	got := make([]*k8s.Client, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := cs.Get("u", kc)
			assert.NoError(t, err)
			got[i] = c
		}()
	}
	wg.Wait()
	for _, c := range got {
		assert.Same(t, got[0], c)
	}
}
