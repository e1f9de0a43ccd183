package daemon_test

import (
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
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
				assert.Equal(t, daemon.DefaultListen, c.Listen)
				assert.Equal(t, daemon.DefaultListen, c.APIAdvertise)
				assert.Equal(t, daemon.DefaultDomain, c.Domain)
				assert.Equal(t, slog.LevelInfo, c.LogLevel)
				assert.Equal(t, 300*time.Millisecond, c.HeartbeatTimeout)
				assert.Equal(t, 300*time.Millisecond, c.ElectionTimeout)
				assert.Equal(t, 150*time.Millisecond, c.LeaderLeaseTimeout)
			},
		},
		{
			name: "environment",
			env: map[string]string{"FSA_DATA_DIR": "/e", "FSA_RAFT_ADDR": "127.0.0.1:7000", "FSA_NODE_ID": "n1",
				"FSA_BOOTSTRAP": "true", "FSA_LOG_LEVEL": "debug", "FSA_LISTEN": "127.0.0.1:9000", "FSA_DOMAIN": "x.test"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, "/e", c.DataDir)
				assert.False(t, c.Single())
				assert.True(t, c.Bootstrap)
				assert.Equal(t, "127.0.0.1:7000", c.RaftAdvertise)
				assert.Equal(t, slog.LevelDebug, c.LogLevel)
				assert.Equal(t, "127.0.0.1:9000", c.APIAdvertise)
				assert.Equal(t, "x.test", c.Domain)
			},
		},
		{
			name: "flag beats environment",
			args: []string{"--data-dir", "/flag", "--raft-heartbeat-timeout", "1s"},
			env:  map[string]string{"FSA_DATA_DIR": "/env", "FSA_RAFT_HEARTBEAT_TIMEOUT": "2s"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, "/flag", c.DataDir)
				assert.Equal(t, time.Second, c.HeartbeatTimeout)
			},
		},
		{
			name: "join list",
			args: []string{"--data-dir", "/d", "--raft-addr", "127.0.0.1:7001", "--node-id", "n2",
				"--join", "http://127.0.0.1:8080, http://127.0.0.1:8081", "--admin-token", "t"},
			check: func(t *testing.T, c daemon.Config) {
				assert.Equal(t, []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"}, c.Join)
			},
		},
		{name: "no data dir", args: nil, wantErr: "data dir is required"},
		{name: "bad listen", args: []string{"--data-dir", "/d", "--listen", "nope"}, wantErr: "listen"},
		{name: "bad level", args: []string{"--data-dir", "/d", "--log-level", "loud"}, wantErr: "log level"},
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
			c, err := daemon.ParseConfig(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
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
