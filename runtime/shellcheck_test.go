package runtime_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shellScripts returns every bash script in runtime/: files that start with
// a bash shebang or declare `# shellcheck shell=bash`.
func shellScripts(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(e.Name())
		require.NoError(t, err)
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if string(first) == "#!/usr/bin/env bash" || bytes.HasPrefix(first, []byte("# shellcheck shell=bash")) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestShellcheck(t *testing.T) {
	scripts := shellScripts(t)
	assert.Subset(t, scripts, []string{"build.sh", "entrypoint.sh", "image.sh", "push.sh", "terminal-auth", "ticket.sh"})

	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed; install it (Debian/Ubuntu: apt-get install -y shellcheck) — the runtime scripts must pass it")
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--external-sources", "--severity=style", "--shell=bash"}, scripts...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "shellcheck %s:\n%s", strings.Join(scripts, " "), out)
}

func TestScriptsExecutable(t *testing.T) {
	for _, name := range shellScripts(t) {
		info, err := os.Stat(name)
		require.NoError(t, err)
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		isLib := !bytes.HasPrefix(data, []byte("#!"))
		assert.Equal(t, !isLib, info.Mode().Perm()&0o111 != 0, "%s: executables have a shebang and the x bit; libraries have neither", name)
		if !isLib {
			assert.Contains(t, string(data), "\nset -euo pipefail\n", "%s runs in strict mode", name)
		}
	}
}
