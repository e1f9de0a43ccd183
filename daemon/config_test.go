package daemon_test

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

func TestParseConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c daemon.Config)
		wantErr string
	}{
		{
			name: "single node defaults",
			args: []string{"--data-dir", "/d"},
			check: func(t *testing.T, c daemon.Config) {
				assert.True(t, c.Single())
				assert.Equal(t, daemon.DefaultListen, c.HTTP.Listen)
				assert.Equal(t, daemon.DefaultListen, c.HTTP.APIAdvertise)
				assert.Equal(t, daemon.DefaultDomain, c.Reconcile.Domain)
				assert.Equal(t, slog.LevelInfo, c.Log.Level)
				assert.Equal(t, 300*time.Millisecond, c.Raft.HeartbeatTimeout)
				assert.Equal(t, 300*time.Millisecond, c.Raft.ElectionTimeout)
				assert.Equal(t, 150*time.Millisecond, c.Raft.LeaderLeaseTimeout)
			},
		},
		{
			name: "environment",
			env: map[string]string{"FSA_DATA_DIR": "/e", "FSA_RAFT_ADDR": "127.0.0.1:7000", "FSA_NODE_ID": "n1",
				"FSA_BOOTSTRAP": "true", "FSA_LOG_LEVEL": "debug", "FSA_LISTEN": "127.0.0.1:9000", "FSA_DOMAIN": "x.test"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, "/e", c.DataDir)
				assert.False(t, c.Single())
				assert.True(t, c.Raft.Bootstrap)
				assert.Equal(t, "127.0.0.1:7000", c.Raft.Advertise)
				assert.Equal(t, slog.LevelDebug, c.Log.Level)
				assert.Equal(t, "127.0.0.1:9000", c.HTTP.APIAdvertise)
				assert.Equal(t, "x.test", c.Reconcile.Domain)
			},
		},
		{
			name: "flag beats environment",
			args: []string{"--data-dir", "/flag", "--raft-heartbeat-timeout", "1s"},
			env:  map[string]string{"FSA_DATA_DIR": "/env", "FSA_RAFT_HEARTBEAT_TIMEOUT": "2s"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, "/flag", c.DataDir)
				assert.Equal(t, time.Second, c.Raft.HeartbeatTimeout)
			},
		},
		{
			name: "join list",
			args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7001", "--node-id", "n2",
				"--join", "http://127.0.0.1:8080, http://127.0.0.1:8081", "--admin-token", "t"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"}, c.Raft.Join)
			},
		},
		{
			name: "sections",
			args: []string{"--data-dir", "/d", "--sandbox-image", "example.io/runtime:dev", "--rate-limit", "7", "--rate-burst", "9",
				"--github-client-id", "gh", "--admins", "root, ada", "--shutdown-timeout", "3s", "--reconcile-workers", "2"},
			env: map[string]string{"FSA_SIGNING_KEY": "k2:" + strings.Repeat("A", 43), "FSA_VERIFICATION_KEYS": "k1:" + strings.Repeat("B", 43)},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, "example.io/runtime:dev", c.Reconcile.RuntimeImage)
				assert.Equal(t, 2, c.Reconcile.Workers)
				assert.Equal(t, api.RateLimit{PerSecond: 7, Burst: 9}, c.Auth.RateLimit)
				assert.Equal(t, "gh", c.Auth.GitHub.ClientID)
				assert.Equal(t, []string{"root", "ada"}, c.Auth.Admins)
				assert.Equal(t, "k2", c.Auth.SigningKey.ID)
				require.Len(t, c.Auth.VerificationKeys, 1)
				assert.Equal(t, "k1", c.Auth.VerificationKeys[0].ID)
				assert.Equal(t, 3*time.Second, c.HTTP.ShutdownTimeout)
			},
		},
		{
			name: "default sandbox image",
			args: []string{"--data-dir", "/d"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, k8s.RuntimeImage, c.Reconcile.RuntimeImage)
				assert.Empty(t, c.Auth.SigningKey.ID, "no key: Run makes a random one")
			},
		},
		{
			name: "sandbox network and platform Anthropic defaults",
			args: []string{"--data-dir", "/d", "--sandbox-ingress-namespaces", "sealos-system, ingress-nginx", "--sandbox-restrict-egress",
				"--sandbox-cluster-cidrs", "10.96.0.0/12,10.244.0.0/16", "--anthropic-default-base-url", "https://ai.example.io"},
			env: map[string]string{"FSA_ANTHROPIC_DEFAULT_TOKEN": "platform-tok"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, &k8s.NetworkSpec{IngressNamespaces: []string{"sealos-system", "ingress-nginx"}, RestrictEgress: true,
					ClusterCIDRs: []string{"10.96.0.0/12", "10.244.0.0/16"}}, c.Reconcile.Network())
				assert.Equal(t, "platform-tok", c.Reconcile.DefaultAnthropicToken)
				assert.Equal(t, "https://ai.example.io", c.Reconcile.DefaultAnthropicBaseURL)
			},
		},
		{
			name: "default sandbox network policy",
			args: []string{"--data-dir", "/d"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, &k8s.NetworkSpec{IngressNamespaces: []string{k8s.DefaultIngressNamespace}}, c.Reconcile.Network())
			},
		},
		{
			name: "no sandbox network policy", args: []string{"--data-dir", "/d", "--sandbox-network-policy=false"},
			check: func(t *testing.T, c daemon.Config) { assert.Nil(t, c.Reconcile.Network()) },
		},
		{name: "bad cluster CIDR", args: []string{"--data-dir", "/d", "--sandbox-cluster-cidrs", "10.0.0.0/33"}, wantErr: "cluster CIDR"},
		{name: "bad ingress namespace", args: []string{"--data-dir", "/d", "--sandbox-ingress-namespaces", "Bad_NS"}, wantErr: "ingress namespace"},
		{name: "bad anthropic base URL", args: []string{"--data-dir", "/d", "--anthropic-default-base-url", "ftp://x"}, wantErr: "anthropic default base URL"},
		{name: "bad signing key", args: []string{"--data-dir", "/d", "--signing-key", "k:not*base64"}, wantErr: "--signing-key"},
		{name: "bad verification key", args: []string{"--data-dir", "/d", "--verification-keys", "nocolon"}, wantErr: "--verification-keys"},
		{name: "no data dir", args: nil, wantErr: "data dir is required"},
		{name: "bad listen", args: []string{"--data-dir", "/d", "--listen", "nope"}, wantErr: "listen"},
		{name: "bad level", args: []string{"--data-dir", "/d", "--log-level", "loud"}, wantErr: "log level"},
		{name: "negative limit", args: []string{"--data-dir", "/d", "--limit-projects", "-1"}, wantErr: "limit projects = -1"},
		{name: "absurd limit", args: []string{"--data-dir", "/d", "--limit-running", "99999999"}, wantErr: "limit running = 99999999"},
		{
			name: "sizes and size limits",
			args: []string{"--data-dir", "/d", "--size-class", "small=cpu:500m,memory:1Gi,home:5Gi,db:1Gi", "--size-class", "large=cpu:4,memory:8Gi,home:50Gi,db:10Gi",
				"--size-default", "small", "--size-max", "cpu:8,home:100Gi", "--limit-cpu", "8500m", "--limit-memory", "64Gi", "--limit-storage", "1Ti"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, fsa.Limits{CPU: 8500, Memory: 64 << 30, Storage: 1 << 40}, c.Limits)
				assert.Equal(t, "small", c.Sizes.Default)
				assert.Len(t, c.Sizes.Classes, 2)
				assert.Equal(t, int64(50<<30), c.Sizes.Classes["large"].Home)
				assert.Equal(t, fsa.Size{CPU: 8000, Home: 100 << 30}, c.Sizes.Max)
			},
		},
		{
			name: "size classes from the environment", env: map[string]string{"FSA_DATA_DIR": "/d", "FSA_SIZE_CLASS": "s=cpu:1;m=cpu:2", "FSA_SIZE_DEFAULT": "m"},
			check: func(t *testing.T, c daemon.Config) { assert.Len(t, c.Sizes.Classes, 2) },
		},
		{name: "bad size class", args: []string{"--data-dir", "/d", "--size-class", "small=cpu:lots"}, wantErr: "size class small"},
		{name: "size class twice", args: []string{"--data-dir", "/d", "--size-class", "s=cpu:1", "--size-class", "s=cpu:2"}, wantErr: "defined twice"},
		{name: "unknown default class", args: []string{"--data-dir", "/d", "--size-class", "s=cpu:1", "--size-class", "m=cpu:2"}, wantErr: "default size class"},
		{name: "class above the bound", args: []string{"--data-dir", "/d", "--size-class", "s=cpu:4", "--size-max", "cpu:2"}, wantErr: "size class s: invalid argument: cpu 4 is outside"},
		{name: "bad cpu limit", args: []string{"--data-dir", "/d", "--limit-cpu", "-2"}, wantErr: "negative"},
		{name: "absurd storage limit", args: []string{"--data-dir", "/d", "--limit-storage", "5Ei"}, wantErr: "limit storage"},
		{name: "bad env value", env: map[string]string{"FSA_BOOTSTRAP": "maybe"}, wantErr: "FSA_BOOTSTRAP"},
		{name: "cluster needs node id", args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7000"}, wantErr: "node id is required"},
		{name: "bootstrap needs raft", args: []string{"--data-dir", "/d", "--bootstrap"}, wantErr: "need --raft-addr"},
		{name: "bootstrap and join", args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7000", "--node-id", "a",
			"--bootstrap", "--join", "http://127.0.0.1:1", "--admin-token", "t"}, wantErr: "exclusive"},
		{name: "join needs token", args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7000", "--node-id", "a",
			"--join", "http://127.0.0.1:1"}, wantErr: "needs --admin-token"},
		{name: "join must be a URL", args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7000", "--node-id", "a",
			"--join", "127.0.0.1:1", "--admin-token", "t"}, wantErr: "want an http(s) URL"},
		{name: "lease above heartbeat", args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7000", "--node-id", "a",
			"--raft-lease-timeout", "2s"}, wantErr: "must not exceed"},
		{name: "stray argument", args: []string{"--data-dir", "/d", "extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			c, err := daemon.ParseConfig(tt.args, env(tt.env), &out)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				for _, secret := range []string{"not*base64", "nocolon"} {
					assert.NotContains(t, err.Error()+out.String(), secret, "a secret is never echoed")
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	_, err := daemon.ParseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard)
	require.ErrorIs(t, err, flag.ErrHelp)
}

func TestEnvName(t *testing.T) {
	assert.Equal(t, "FSA_DATA_DIR", daemon.EnvName("data-dir"))
	assert.Equal(t, "FSA_RAFT_LEASE_TIMEOUT", daemon.EnvName("raft-lease-timeout"))
}
