package fsadtest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

func TestArgs(t *testing.T) {
	c, err := fsadtest.New(fsadtest.Options{Bin: "fsad", Dir: t.TempDir(), Hosts: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"},
		APIPort: 8080, RaftPort: 9080, Token: "secret-token", Env: []string{"FSA_SIGNING_KEY=k:secret-key"}, Args: []string{"--domain", "x.test"}})
	require.NoError(t, err)
	a1, a2 := strings.Join(c.Nodes[0].Args(), " "), strings.Join(c.Nodes[1].Args(), " ")
	assert.Contains(t, a1, "--listen 127.0.0.1:8080")
	assert.Contains(t, a1, "--node-id n1")
	assert.Contains(t, a1, "--raft-addr 127.0.0.1:9080 --bootstrap")
	assert.NotContains(t, a1, "--join")
	assert.Contains(t, a2, "--listen 127.0.0.2:8080")
	assert.Contains(t, a2, "--node-id n2")
	assert.Contains(t, a2, "--raft-addr 127.0.0.2:9080")
	assert.Contains(t, a2, "--join http://127.0.0.1:8080,http://127.0.0.3:8080", "one comma-separated flag: any member lets it (re)join")
	assert.NotContains(t, a2, "--bootstrap")
	for _, a := range []string{a1, a2} {
		assert.True(t, strings.HasSuffix(a, "--domain x.test"), "extra flags come last, so they win: %s", a)
		assert.NotContains(t, a, "secret", "secrets travel in the environment, never on the command line")
	}

	one, err := fsadtest.New(fsadtest.Options{Bin: "fsad", Dir: t.TempDir(), Nodes: 1})
	require.NoError(t, err)
	a := strings.Join(one.Nodes[0].Args(), " ")
	assert.NotContains(t, a, "--raft-addr", "one node runs without Raft")
	assert.NotContains(t, a, "--join")

	named, err := fsadtest.New(fsadtest.Options{Bin: "fsad", Dir: t.TempDir(), IDs: []string{"r1", "r2"}, Host: "127.0.0.2"})
	require.NoError(t, err)
	require.Len(t, named.Nodes, 2)
	assert.Equal(t, "r2", named.Nodes[1].ID)
	assert.True(t, strings.HasPrefix(named.Nodes[1].API, "127.0.0.2:"))

	for _, bad := range []fsadtest.Options{{Dir: t.TempDir()}, {Bin: "fsad"}, {Bin: "fsad", Dir: t.TempDir(), Nodes: 2, Hosts: []string{"127.0.0.1"}, APIPort: 1, RaftPort: 2}} {
		_, err := fsadtest.New(bad)
		assert.Error(t, err, "%+v", bad)
	}
}
