package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLifecycleDefaultsCommands: a user sets and shows their own default idle limit and
// auto-delete against an fsad with a default idle limit; new projects get them; bad values are
// refused with the server's message and change nothing; "default" goes back to the server's.
func TestLifecycleDefaultsCommands(t *testing.T) {
	skipShort(t)
	t.Setenv("FSA_IDLE_TIMEOUT", "1h")
	d := startFsad(t)
	alice := newCLI(t, d)
	alice.ok("signup", "-u", "alice", "-p", "password-alice")
	path := filepath.Join(alice.home, "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(fakeKubeconfig), 0o600))
	alice.ok("config", "set-kubeconfig", path)

	out := alice.ok("config", "get-lifecycle")
	assert.Regexp(t, `idle-timeout\s+1h\s+server\s+1h`, out)
	assert.Regexp(t, `delete-stopped-after\s+never\s+server\s+never`, out)

	out = alice.ok("config", "set-lifecycle", "--idle-timeout", "20m", "--delete-stopped-after", "72h")
	assert.Regexp(t, `idle-timeout\s+20m\s+you\s+1h`, out)
	assert.Regexp(t, `delete-stopped-after\s+3d\s+you\s+never`, out)
	assert.Contains(t, alice.ok("project", "create", "one"), "idle 20m, delete after stopped 3d")

	alice.fails("invalid_argument", "config", "set-lifecycle", "--idle-timeout", "soon")
	alice.fails("IDLE_TIMEOUT must be a duration", "config", "set-lifecycle", "--idle-timeout", "soon")
	alice.fails("want 0 (never) up to", "config", "set-lifecycle", "--idle-timeout", "-5m")
	alice.fails("want 0 (never) up to", "config", "set-lifecycle", "--idle-timeout", "2161h")
	alice.fails("nothing to change", "config", "set-lifecycle")
	assert.Regexp(t, `idle-timeout\s+20m\s+you`, alice.ok("config", "get-lifecycle"), "unchanged by the refused calls")

	out = alice.ok("config", "set-lifecycle", "--idle-timeout", "default")
	assert.Regexp(t, `idle-timeout\s+1h\s+server\s+1h`, out)
	assert.Regexp(t, `delete-stopped-after\s+3d\s+you`, out)
	assert.Contains(t, alice.ok("project", "create", "two"), "idle 1h, delete after stopped 3d")
}
