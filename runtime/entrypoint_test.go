package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/runtime/ticket"
)

// stubTTYD writes a ttyd stand-in that records its arguments (one per
// line) and its environment, then exits 0.
func stubTTYD(t *testing.T, r root, record string) string {
	t.Helper()
	return writeScript(t, filepath.Join(r.dir, "bin", "stub-ttyd"), `
printf '%s\n' "$@" >`+shellQuote(record+".args")+`
env >`+shellQuote(record+".env")+`
`)
}

// entrypointEnv is a complete, valid environment for entrypoint.sh.
func entrypointEnv(r root, ttyd string) map[string]string {
	env := baseEnv(r.home)
	env["TTYD_ACCESS_TOKEN"] = testToken
	env["FSA_PROJECT"] = testProject
	env["FSA_TTYD_BIN"] = ttyd
	env["FSA_SKEL_DIR"] = filepath.Join(r.dir, "etc", "skel")
	return env
}

func TestEntrypointStartsTTYD(t *testing.T) {
	r := newRoot(t)
	record := filepath.Join(r.dir, "ttyd")
	env := entrypointEnv(r, stubTTYD(t, r, record))

	// A skeleton to seed the home volume with, and a file the user already
	// changed, which must survive.
	skel := env["FSA_SKEL_DIR"]
	require.NoError(t, os.MkdirAll(skel, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(skel, ".bashrc"), []byte("skel bashrc\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(skel, ".profile"), []byte("skel profile\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.home, ".bashrc"), []byte("mine\n"), 0o644))

	res := run(t, env, r.dir, filepath.Join(r.lib, "entrypoint.sh"))
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)

	args, err := os.ReadFile(record + ".args")
	require.NoError(t, err, "ttyd did not start")
	assert.Equal(t, []string{
		"--port", "7681",
		"--writable",
		"--url-arg",
		"--terminal-type", "xterm-256color",
		"--client-option", "disableLeaveAlert=true",
		filepath.Join(r.lib, "terminal-auth"),
	}, strings.Split(strings.TrimSuffix(string(args), "\n"), "\n"))
	assert.NotContains(t, string(args), testToken, "ttyd's argv (and so the browser) must not see the token")
	assert.NotContains(t, res.stdout+res.stderr, testToken, "the entrypoint must not print the token")
	assert.Contains(t, res.stderr, "starting ttyd on :7681 for project "+testProject)

	envOut, err := os.ReadFile(record + ".env")
	require.NoError(t, err)
	envLines := strings.Split(string(envOut), "\n")
	assert.Contains(t, envLines, "TTYD_ACCESS_TOKEN="+testToken, "terminal-auth needs the token")
	assert.Contains(t, envLines, "PWD="+r.home)

	got, err := os.ReadFile(filepath.Join(r.home, ".bashrc"))
	require.NoError(t, err)
	assert.Equal(t, "mine\n", string(got), "existing home files are kept")
	got, err = os.ReadFile(filepath.Join(r.home, ".profile"))
	require.NoError(t, err)
	assert.Equal(t, "skel profile\n", string(got), "missing home files are seeded")
}

func TestEntrypointRefuses(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string // overrides; "" deletes
		wantMsg string
		asRoot  bool // the case only exists when the test runs as root
	}{
		{name: "no token", env: map[string]string{"TTYD_ACCESS_TOKEN": ""}, wantMsg: "TTYD_ACCESS_TOKEN is not set"},
		{name: "short token", env: map[string]string{"TTYD_ACCESS_TOKEN": "0123456789abcdef0123456789abcde"}, wantMsg: "shorter than 32 bytes"},
		{name: "repetitive token", env: map[string]string{"TTYD_ACCESS_TOKEN": strings.Repeat("ab", 32)}, wantMsg: "distinct characters"},
		{name: "placeholder token", env: map[string]string{"TTYD_ACCESS_TOKEN": "my-super-secret-token-2025-0123456789"}, wantMsg: "placeholder"},
		{name: "token with space", env: map[string]string{"TTYD_ACCESS_TOKEN": testToken + " x"}, wantMsg: "whitespace"},
		{name: "huge token", env: map[string]string{"TTYD_ACCESS_TOKEN": strings.Repeat(testToken, 30)}, wantMsg: "longer than 1024"},
		{name: "no project", env: map[string]string{"FSA_PROJECT": ""}, wantMsg: "FSA_PROJECT is not usable"},
		{name: "project with newline", env: map[string]string{"FSA_PROJECT": "a\nb"}, wantMsg: "control characters"},
		{name: "missing home", env: map[string]string{"HOME": "/nonexistent/agent"}, wantMsg: "home directory /nonexistent/agent is missing"},
		{name: "no ttyd", env: map[string]string{"FSA_TTYD_BIN": "/nonexistent/ttyd"}, wantMsg: "ttyd not found"},
		{name: "root", env: map[string]string{"FSA_ALLOW_ROOT": ""}, wantMsg: "running as root", asRoot: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && os.Geteuid() != 0 {
				t.Skip("only meaningful when running as root")
			}
			r := newRoot(t)
			record := filepath.Join(r.dir, "ttyd")
			env := entrypointEnv(r, stubTTYD(t, r, record))
			for k, v := range tc.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			res := run(t, env, r.dir, filepath.Join(r.lib, "entrypoint.sh"))
			assert.Equal(t, 78, res.code, "exit status; stderr: %s", res.stderr)
			assert.Contains(t, res.stderr, tc.wantMsg)
			assert.Less(t, res.took, quick)
			assert.False(t, exists(record+".args"), "ttyd must not start")
			if tok := env["TTYD_ACCESS_TOKEN"]; tok != "" {
				assert.NotContains(t, res.stdout+res.stderr, tok, "the token must never be printed")
			}
		})
	}
}

// TestEntrypointToShell runs the whole chain as in the image: entrypoint.sh
// execs a ttyd stand-in that, like ttyd --url-arg, runs its command with the
// URL's ?arg= value appended; terminal-auth then starts the shell or not.
func TestEntrypointToShell(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		arg       string
		wantCode  int
		wantShell bool
	}{
		{"valid ticket", mint(t, testToken, testProject, now.Add(ticket.DefaultTTL)), 0, true},
		{"expired ticket", mint(t, testToken, testProject, now.Add(-time.Minute)), 4, false},
		{"token in the URL", testToken, 2, false},
		{"other project's ticket", mint(t, testToken, "other-app", now.Add(ticket.DefaultTTL)), 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRoot(t)
			record := filepath.Join(r.dir, "shell.record")
			// The last argument is the command; URL args follow it.
			ttyd := writeScript(t, filepath.Join(r.dir, "bin", "url-arg-ttyd"), `
cmd=${!#}
exec "$cmd" "$URL_ARG"
`)
			env := entrypointEnv(r, ttyd)
			env["FSA_TERMINAL_SHELL"] = stubShell(t, r, record)
			env["URL_ARG"] = tc.arg

			res := run(t, env, r.dir, filepath.Join(r.lib, "entrypoint.sh"))
			assert.Equal(t, tc.wantCode, res.code, "stderr: %s", res.stderr)
			assert.Equal(t, tc.wantShell, exists(record), "shell started")
			assert.Less(t, res.took, quick)
			if tc.wantShell {
				rec, err := os.ReadFile(record)
				require.NoError(t, err)
				assert.NotContains(t, string(rec), testToken)
			}
		})
	}
}
