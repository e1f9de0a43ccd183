package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// TestRunTwice runs what `make run` runs, twice on one state directory: the first run creates
// the demo user and project and shows them reaching RUNNING; the second reuses them.
func TestRunTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a control plane and fsad")
	}
	dir := t.TempDir()
	fsad := filepath.Join(dir, "fsad")
	build := exec.Command("go", "build", "-o", fsad, "github.com/fullstackagent/fsa/daemon/cmd/fsad")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	for i, want := range []string{"project \"Demo App\"", "project \"Demo App\""} {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		var buf bytes.Buffer
		err := run(ctx, &buf, options{dir: filepath.Join(dir, "state"), fsad: fsad, listen: freeAddr(t),
			domain: "sandbox.fsa.test", project: "Demo App", once: true, timeout: 3 * time.Minute})
		cancel()
		require.NoError(t, err, buf.String())
		s := buf.String()
		require.Contains(t, s, want, "run %d", i+1)
		require.Regexp(t, `project RUNNING +sandbox RUNNING +database RUNNING`, s, "run %d", i+1)
		require.Contains(t, s, "fsa is running.")
		require.Contains(t, s, ".sandbox.fsa.test")
		require.True(t, strings.HasSuffix(strings.TrimSpace(s), "stopped"), "everything stopped at the end")
	}
}
