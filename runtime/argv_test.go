package runtime_test

import (
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

// externals are the programs the scripts run. Each gets a shim first on
// PATH that logs its argv and then runs the real program.
var externals = []string{"od", "tr", "openssl", "date", "dirname", "id", "cp", "cat", "env", "base64", "sha256sum", "xxd"}

// TestTokenNeverOnArgv runs the entrypoint and terminal-auth (valid and
// invalid tickets) with every external program shimmed, and checks that the
// access token never appears in any program's argv, where any process in
// the container could read it from /proc.
func TestTokenNeverOnArgv(t *testing.T) {
	r := newRoot(t)
	shims := filepath.Join(r.dir, "shims")
	argvLog := filepath.Join(r.dir, "argv.log")
	for _, name := range externals {
		real, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		writeScript(t, filepath.Join(shims, name), `printf '%s\n' "$0 $*" >>`+shellQuote(argvLog)+`
exec `+shellQuote(real)+` "$@"
`)
	}

	record := filepath.Join(r.dir, "shell.record")
	env := entrypointEnv(r, stubTTYD(t, r, filepath.Join(r.dir, "ttyd")))
	env["PATH"] = shims + ":" + env["PATH"]
	env["FSA_TERMINAL_SHELL"] = stubShell(t, r, record)

	res := run(t, env, r.dir, filepath.Join(r.lib, "entrypoint.sh"))
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	now := time.Now()
	for _, tk := range []string{
		mint(t, testToken, testProject, now.Add(ticket.DefaultTTL)),
		mint(t, testToken, testProject, now.Add(-time.Minute)),
		"v1.1700000000." + strings.Repeat("A", 43),
	} {
		run(t, env, r.dir, filepath.Join(r.lib, "terminal-auth"), tk)
	}
	require.True(t, exists(record), "the valid ticket must have started the shell")

	logged, err := os.ReadFile(argvLog)
	require.NoError(t, err)
	assert.Contains(t, string(logged), "openssl dgst -sha256", "the shims must have seen the HMAC computation")
	assert.NotContains(t, string(logged), testToken)
	// Nor any long piece of it, in case a script hex-encoded or split it.
	for i := 0; i+8 <= len(testToken); i++ {
		assert.NotContains(t, string(logged), testToken[i:i+8])
	}
}
