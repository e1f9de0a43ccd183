package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuotaCommands: sizes on create and resize, the quota and size classes a user sees, and an
// admin raising a user's limit, against an fsad with size classes and a storage limit.
func TestQuotaCommands(t *testing.T) {
	skipShort(t)
	t.Setenv("FSA_SIZE_CLASS", "small=cpu:500m,memory:1Gi,home:2Gi,db:1Gi;large=cpu:2,memory:4Gi,home:20Gi,db:5Gi")
	t.Setenv("FSA_SIZE_DEFAULT", "small")
	t.Setenv("FSA_LIMIT_STORAGE", "10Gi")
	d := startFsad(t, "root")
	root, alice := newCLI(t, d), newCLI(t, d)
	root.ok("signup", "-u", "root", "-p", "password-root")
	alice.ok("signup", "-u", "alice", "-p", "password-alice")
	var who struct{ User struct{ ID string } }
	require.NoError(t, json.Unmarshal([]byte(alice.ok("whoami", "-o", "json")), &who))
	require.NotEmpty(t, who.User.ID)
	path := filepath.Join(alice.home, "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(fakeKubeconfig), 0o600))
	alice.ok("config", "set-kubeconfig", path)

	out := alice.ok("project", "create", "one", "--home", "4Gi")
	assert.Contains(t, out, "small: cpu 500m, memory 1Gi, home 4Gi, db 1Gi")
	assert.Regexp(t, `storage \(all\)\s+5Gi\s+10Gi`, alice.ok("quota"))
	assert.Regexp(t, `large\s+2\s+4Gi\s+20Gi\s+5Gi`, alice.ok("quota", "classes"))
	assert.Regexp(t, `small\s+500m\s+1Gi\s+2Gi\s+1Gi\s+yes`, alice.ok("quota", "classes"))

	alice.fails("storage limit reached: your projects hold 5Gi of your 10Gi storage", "project", "create", "two", "--size", "large")
	alice.fails("unknown size class", "project", "create", "two", "--size", "huge")
	alice.fails("not a quantity", "project", "create", "two", "--cpu", "lots")
	alice.fails("stop it before changing its size", "project", "resize", "one", "--cpu", "1")
	alice.fails("permission_denied", "admin", "limits", "get", who.User.ID)

	out = root.ok("admin", "limits", "set", who.User.ID, "--storage", "30Gi", "--projects", "5")
	assert.Regexp(t, `storage \(all\)\s+5Gi\s+30Gi`, out)
	assert.Regexp(t, `projects\s+1\s+5`, out)
	assert.Contains(t, out, "set for this user by an admin")
	root.fails("below the user's current use", "admin", "limits", "set", who.User.ID, "--storage", "1Gi")
	root.fails("usage", "admin", "limits", "set", who.User.ID, "--cpu", "lots")
	assert.Contains(t, alice.ok("project", "create", "two", "--size", "large"), "large: cpu 2, memory 4Gi, home 20Gi, db 5Gi")
	assert.Regexp(t, `projects\s+2\s+5`, root.ok("admin", "limits", "get", who.User.ID))
	root.fails("default limit storage = 10Gi is below the user's current use, 30Gi", "admin", "limits", "set", who.User.ID, "--defaults")
	assert.Regexp(t, `storage \(all\)\s+30Gi\s+30Gi`, root.ok("admin", "limits", "get", who.User.ID), "her own limits stay")
}
