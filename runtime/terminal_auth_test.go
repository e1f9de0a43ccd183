package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/runtime/ticket"
)

// mint is ticket.Mint that fails the test on error.
func mint(t *testing.T, token, project string, expiry time.Time) string {
	t.Helper()
	tk, err := ticket.Mint(token, project, expiry)
	require.NoError(t, err)
	return tk
}

func TestTerminalAuthValidTicketStartsShell(t *testing.T) {
	r := newRoot(t)
	record := filepath.Join(r.dir, "shell.record")
	env := baseEnv(r.home)
	env["TTYD_ACCESS_TOKEN"] = testToken
	env["FSA_PROJECT"] = testProject
	env["FSA_TERMINAL_SHELL"] = stubShell(t, r, record)

	for _, ttl := range []time.Duration{ticket.DefaultTTL, 15 * time.Second, ticket.MaxLifetime - 10*time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			require.NoError(t, os.RemoveAll(record))
			tk := mint(t, testToken, testProject, time.Now().Add(ttl))
			res := run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), tk)
			require.Equal(t, 0, res.code, "stderr: %s", res.stderr)

			rec, err := os.ReadFile(record)
			require.NoError(t, err, "the shell did not start")
			lines := strings.Split(string(rec), "\n")
			assert.Contains(t, lines, "args=-l", "login shell")
			assert.Contains(t, lines, "pwd="+r.home, "starts in the home directory")
			assert.Contains(t, lines, "FSA_PROJECT="+testProject)
			assert.NotContains(t, string(rec), testToken, "the token must not reach the shell's environment")
			assert.NotContains(t, res.stdout+res.stderr, testToken)
		})
	}
}

func TestTerminalAuthRefuses(t *testing.T) {
	now := time.Now()
	valid := mint(t, testToken, testProject, now.Add(ticket.DefaultTTL))
	exp, mac := strings.Split(valid, ".")[1], strings.Split(valid, ".")[2]
	other := "Zr8Qm2Lx5Vb1Nc9Kd4Jf7Hg3Sa6Pw0Te2Yu5Io8Er1"

	tests := []struct {
		name     string
		args     []string
		env      map[string]string // overrides; "" deletes
		wantCode int
		wantMsg  string
	}{
		{name: "missing ticket", args: nil, wantCode: 2, wantMsg: "expected one ticket, got 0"},
		{name: "two tickets", args: []string{valid, valid}, wantCode: 2, wantMsg: "got 2"},
		{name: "empty ticket", args: []string{""}, wantCode: 2, wantMsg: "malformed"},
		{name: "the token itself", args: []string{testToken}, wantCode: 2, wantMsg: "malformed"},
		{name: "garbage", args: []string{"v1.x.y"}, wantCode: 2, wantMsg: "malformed"},
		{name: "shell injection", args: []string{"$(touch pwned)"}, wantCode: 2, wantMsg: "malformed"},
		{name: "option-like", args: []string{"--help"}, wantCode: 2, wantMsg: "malformed"},
		{name: "expired", args: []string{mint(t, testToken, testProject, now.Add(-time.Second))}, wantCode: 4, wantMsg: "expired"},
		{name: "long expired", args: []string{mint(t, testToken, testProject, now.Add(-24*time.Hour))}, wantCode: 4, wantMsg: "expired"},
		{name: "too far ahead", args: []string{mint(t, testToken, testProject, now.Add(time.Hour))}, wantCode: 5, wantMsg: "too far ahead"},
		{name: "forged", args: []string{"v1." + exp + "." + strings.Repeat("A", 43)}, wantCode: 3, wantMsg: "invalid"},
		{name: "extended expiry", args: []string{"v1." + fmt.Sprint(now.Unix()+120) + "." + mac}, wantCode: 3, wantMsg: "invalid"},
		{name: "wrong project", args: []string{mint(t, testToken, "other-app", now.Add(ticket.DefaultTTL))}, wantCode: 3, wantMsg: "invalid"},
		{name: "wrong token", args: []string{mint(t, other, testProject, now.Add(ticket.DefaultTTL))}, wantCode: 3, wantMsg: "invalid"},
		{name: "sandbox without token", args: []string{valid}, env: map[string]string{"TTYD_ACCESS_TOKEN": ""}, wantCode: 78, wantMsg: "TTYD_ACCESS_TOKEN"},
		{name: "sandbox with weak token", args: []string{valid}, env: map[string]string{"TTYD_ACCESS_TOKEN": "short"}, wantCode: 78, wantMsg: "TTYD_ACCESS_TOKEN"},
		{name: "sandbox without project", args: []string{valid}, env: map[string]string{"FSA_PROJECT": ""}, wantCode: 78, wantMsg: "FSA_PROJECT"},
		{name: "sandbox of another project", args: []string{valid}, env: map[string]string{"FSA_PROJECT": "other-app"}, wantCode: 3, wantMsg: "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRoot(t)
			record := filepath.Join(r.dir, "shell.record")
			env := baseEnv(r.home)
			env["TTYD_ACCESS_TOKEN"] = testToken
			env["FSA_PROJECT"] = testProject
			env["FSA_TERMINAL_SHELL"] = stubShell(t, r, record)
			for k, v := range tc.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}

			res := run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), tc.args...)
			assert.Equal(t, tc.wantCode, res.code, "exit status; stderr: %s", res.stderr)
			assert.Contains(t, res.stderr, "terminal access denied")
			assert.Contains(t, res.stderr, tc.wantMsg)
			assert.Less(t, res.took, quick, "refusal must be immediate")
			assert.False(t, exists(record), "the shell must not start")
			assert.False(t, exists(filepath.Join(r.dir, "pwned")), "the ticket must never be evaluated")
			assert.NotContains(t, res.stdout+res.stderr, testToken)
		})
	}
}

// TestTerminalAuthFailsClosedWithoutOpenSSL checks that a sandbox that
// cannot compute the MAC refuses every ticket instead of letting one in.
func TestTerminalAuthFailsClosedWithoutOpenSSL(t *testing.T) {
	r := newRoot(t)
	tools := filepath.Join(r.dir, "tools")
	require.NoError(t, os.MkdirAll(tools, 0o755))
	for _, name := range []string{"bash", "date", "dirname", "od", "tr"} {
		real, err := exec.LookPath(name)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(real, filepath.Join(tools, name)))
	}
	record := filepath.Join(r.dir, "shell.record")
	env := baseEnv(r.home)
	env["PATH"] = tools
	env["TTYD_ACCESS_TOKEN"] = testToken
	env["FSA_PROJECT"] = testProject
	env["FSA_TERMINAL_SHELL"] = stubShell(t, r, record)

	res := run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), mint(t, testToken, testProject, time.Now().Add(time.Minute)))
	assert.Equal(t, 78, res.code, "stderr: %s", res.stderr)
	assert.Contains(t, res.stderr, "cannot check tickets")
	assert.False(t, exists(record), "the shell must not start")
}
