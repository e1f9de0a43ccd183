package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wantImage = "docker.io/fullstackagent/fullstack-web-runtime:v0.2.0"

// stubDocker puts a docker stand-in first on PATH. It appends each call's
// arguments (one line per call) to calls; `info` fails when NO_ENGINE=1;
// `manifest inspect` succeeds (the tag exists) when TAG_EXISTS=1.
func stubDocker(t *testing.T) (env map[string]string, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	writeScript(t, filepath.Join(dir, "bin", "docker"), `
printf '%s\n' "$*" >>`+shellQuote(calls)+`
case $1 in
info) [[ ${NO_ENGINE:-} != 1 ]] ;;
manifest) [[ ${TAG_EXISTS:-} == 1 ]] ;;
*) exit 0 ;;
esac
`)
	env = baseEnv(dir)
	env["PATH"] = filepath.Join(dir, "bin") + ":" + env["PATH"]
	return env, calls
}

// readCalls reads the recorded docker calls.
func readCalls(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestBuildTagsFromVersion(t *testing.T) {
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	env, calls := stubDocker(t)
	res := run(t, env, t.TempDir(), filepath.Join(dir, "build.sh"), "--no-cache")
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	assert.Equal(t, wantImage+"\n", res.stdout)
	assert.Equal(t, []string{
		"info",
		"build --build-arg FSA_VERSION=v0.2.0 --tag " + wantImage + " --file " + dir + "/Dockerfile --no-cache " + dir,
	}, readCalls(t, calls))

	env["FSA_RUNTIME_IMAGE"] = "registry.local/fsa/runtime"
	res = run(t, env, t.TempDir(), filepath.Join(dir, "build.sh"))
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	assert.Equal(t, "registry.local/fsa/runtime:v0.2.0\n", res.stdout)
}

func TestBuildWithoutEngine(t *testing.T) {
	env, calls := stubDocker(t)
	env["NO_ENGINE"] = "1"
	for _, script := range []string{"build.sh", "push.sh"} {
		t.Run(script, func(t *testing.T) {
			res := run(t, env, ".", "./"+script)
			assert.Equal(t, 1, res.code)
			assert.Contains(t, res.stderr, "no container engine is reachable")
		})
	}
	for _, c := range readCalls(t, calls) {
		assert.Equal(t, "info", c, "nothing but the engine check may run")
	}
}

func TestPush(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantCode  int
		wantCalls []string
	}{
		{"new tag", nil, 0, []string{"info", "manifest inspect " + wantImage, "push " + wantImage}},
		{"existing tag", map[string]string{"TAG_EXISTS": "1"}, 1, []string{"info", "manifest inspect " + wantImage}},
		{"overwrite", map[string]string{"TAG_EXISTS": "1", "FSA_PUSH_OVERWRITE": "1"}, 0, []string{"info", "push " + wantImage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, calls := stubDocker(t)
			for k, v := range tc.env {
				env[k] = v
			}
			res := run(t, env, ".", "./push.sh")
			assert.Equal(t, tc.wantCode, res.code, "stderr: %s", res.stderr)
			assert.Equal(t, tc.wantCalls, readCalls(t, calls))
		})
	}
}
