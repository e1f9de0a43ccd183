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

// The profile exports the live variables (files in FSA_LIVE_ENV_DIR) when sourced and again
// before every prompt, so a terminal opened before DATABASE_URL existed gets it at its next
// prompt.
func TestProfileLoadsLiveVariables(t *testing.T) {
	r := newRoot(t)
	live := filepath.Join(r.dir, "run", "fsa", "env")
	require.NoError(t, os.MkdirAll(live, 0o755))
	env := baseEnv(r.home)
	env["FSA_LIVE_ENV_DIR"] = live
	profile := filepath.Join(r.lib, "profile.sh")
	url := filepath.Join(live, "DATABASE_URL")

	// Not there yet at login; written later (as the kubelet does when the Secret changes); picked
	// up by the prompt hook; changed again; then removed files leave the variable as it was.
	script := `. ` + shellQuote(profile) + `
printf 'login:%s\n' "${DATABASE_URL-unset}"
printf 'postgresql://u:p@db:5432/postgres' >` + shellQuote(url) + `
eval "$PROMPT_COMMAND"
printf 'prompt:%s\n' "${DATABASE_URL-unset}"
printf 'postgresql://u:rotated@db:5432/postgres' >` + shellQuote(url) + `
eval "$PROMPT_COMMAND"
printf 'rotated:%s\n' "${DATABASE_URL-unset}"
printf 'x' >` + shellQuote(filepath.Join(live, "not-a-name")) + `
. ` + shellQuote(profile) + `
printf 'hooks:%s\n' "$PROMPT_COMMAND"
bash -c 'printf "child:%s\n" "$DATABASE_URL"'
`
	res := run(t, env, r.dir, "bash", "-c", script)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	assert.Equal(t, strings.Join([]string{
		"login:unset",
		"prompt:postgresql://u:p@db:5432/postgres",
		"rotated:postgresql://u:rotated@db:5432/postgres",
		"hooks:fsa_live_env",
		"child:postgresql://u:rotated@db:5432/postgres",
	}, "\n")+"\n", res.stdout, "exported, once per hook, to children too")
	assert.Empty(t, res.stderr, "nothing printed, no value in an error")

	// Present at login: exported at once.
	res = run(t, env, r.dir, "bash", "-c", `. `+shellQuote(profile)+`; printf '%s' "$DATABASE_URL"`)
	assert.Equal(t, "postgresql://u:rotated@db:5432/postgres", res.stdout)

	// Without the directory (a project without a database) nothing happens.
	env["FSA_LIVE_ENV_DIR"] = filepath.Join(r.dir, "missing")
	res = run(t, env, r.dir, "bash", "-c", `. `+shellQuote(profile)+`; printf '%s' "${DATABASE_URL-unset}"`)
	assert.Equal(t, "unset", res.stdout)
	assert.Empty(t, res.stderr)
}

// The terminal's start command is a project setting: by default the login shell after a banner
// saying how to start Claude Code; with FSA_TERMINAL_START=claude, Claude Code in a login shell,
// and the login shell when it exits.
func TestTerminalStart(t *testing.T) {
	r := newRoot(t)
	record := filepath.Join(r.dir, "record")
	// The shell stand-in runs a -c command with bash (as a login shell would), and records a
	// plain login start.
	shell := writeScript(t, filepath.Join(r.dir, "bin", "shell"), `
if [[ $1 == -l && $2 == -c ]]; then exec bash -c "$3"; fi
printf 'shell %s\n' "$*" >>`+shellQuote(record)+`
`)
	claude := writeScript(t, filepath.Join(r.dir, "bin", "claude"), `
printf 'claude project=%s token=%s\n' "$PROJECT_NAME" "${TTYD_ACCESS_TOKEN-}" >>`+shellQuote(record)+`
`)
	live := filepath.Join(r.dir, "live")
	require.NoError(t, os.MkdirAll(live, 0o755))
	env := baseEnv(r.home)
	env["TTYD_ACCESS_TOKEN"] = testToken
	env["FSA_PROJECT"] = testProject
	env["PROJECT_NAME"] = "My Blog"
	env["FSA_TERMINAL_SHELL"] = shell
	env["FSA_CLAUDE_BIN"] = claude
	env["FSA_LIVE_ENV_DIR"] = live

	for _, tc := range []struct {
		start       string
		want        string
		banner      bool
		databaseMsg bool
	}{
		{start: "", want: "shell -l\n", banner: true, databaseMsg: true},
		{start: "shell", want: "shell -l\n", banner: true, databaseMsg: true},
		{start: "claude", want: "claude project=My Blog token=\nshell -l\n"},
	} {
		t.Run("start="+tc.start, func(t *testing.T) {
			require.NoError(t, os.RemoveAll(record))
			env["FSA_TERMINAL_START"] = tc.start
			tk := mint(t, testToken, testProject, time.Now().Add(ticket.DefaultTTL))
			res := run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), tk)
			require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
			rec, err := os.ReadFile(record)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(rec))
			assert.Equal(t, tc.banner, strings.Contains(res.stdout, "Welcome to the sandbox of My Blog."), res.stdout)
			assert.Equal(t, tc.banner, strings.Contains(res.stdout, "Start Claude Code with: "+claude), res.stdout)
			assert.Equal(t, tc.databaseMsg, strings.Contains(res.stdout, "DATABASE_URL appears"), res.stdout)
			assert.NotContains(t, res.stdout+res.stderr, testToken)
		})
	}

	// Once DATABASE_URL is there, the banner does not mention it.
	require.NoError(t, os.WriteFile(filepath.Join(live, "DATABASE_URL"), []byte("postgresql://x"), 0o600))
	env["FSA_TERMINAL_START"] = ""
	res := run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), mint(t, testToken, testProject, time.Now().Add(ticket.DefaultTTL)))
	require.Equal(t, 0, res.code)
	assert.NotContains(t, res.stdout, "DATABASE_URL")
}

// The image's git credential helper (from the Dockerfile, run with the real git) answers for
// github.com with GITHUB_TOKEN when it is set, and with nothing otherwise.
func TestGitCredentialHelper(t *testing.T) {
	var helper string
	for _, r := range all(parseDockerfile(t, "Dockerfile"), "RUN") {
		if _, after, ok := strings.Cut(r, "credential.https://github.com.helper "); ok {
			helper = strings.TrimSpace(after)
		}
	}
	require.NotEmpty(t, helper, "the Dockerfile configures a helper")
	require.True(t, strings.HasPrefix(helper, "'") && strings.HasSuffix(helper, "'"), helper)
	helper = strings.Trim(helper, "'")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "gitconfig")
	env := baseEnv(dir)
	env["GIT_CONFIG_SYSTEM"] = cfg
	env["GIT_CONFIG_GLOBAL"] = filepath.Join(dir, "global")
	env["GIT_TERMINAL_PROMPT"] = "0"
	res := run(t, env, dir, "git", "config", "--system", "credential.https://github.com.helper", helper)
	require.Equal(t, 0, res.code, res.stderr)

	fill := func(host string) result {
		return run(t, env, dir, "bash", "-c", `printf 'protocol=https\nhost=%s\n\n' "$1" | git credential fill`, "fill", host)
	}
	env["GITHUB_TOKEN"] = "ghp_secret123"
	res = fill("github.com")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "username=x-access-token\n")
	assert.Contains(t, res.stdout, "password=ghp_secret123\n")

	// Another host, or no token: the helper gives nothing, and git (no prompt) fails.
	res = fill("gitlab.com")
	assert.NotEqual(t, 0, res.code)
	assert.NotContains(t, res.stdout, "ghp_secret123")
	delete(env, "GITHUB_TOKEN")
	res = fill("github.com")
	assert.NotEqual(t, 0, res.code)
}
