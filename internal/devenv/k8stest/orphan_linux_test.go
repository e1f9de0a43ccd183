package k8stest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

const orphanHelperEnv = "K8STEST_ORPHAN_HELPER"

// alive reports whether pid runs (a zombie left to a non-reaping init counts as dead).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestChildrenDieWithTestBinary runs this test binary again as a helper that starts its own
// control plane, kills the helper with SIGKILL (no Stop, no deferred cleanup, as on a crash or a
// test timeout) and checks that every control-plane process dies with it.
func TestChildrenDieWithTestBinary(t *testing.T) {
	if os.Getenv(orphanHelperEnv) == "1" {
		cp := k8stest.Env(t).ControlPlane()
		require.NotNil(t, cp)
		for name, pid := range cp.PIDs() {
			fmt.Printf("PID %s %d\n", name, pid)
		}
		fmt.Printf("DIR %s\nREADY\n", cp.Dir())
		<-t.Context().Done() // until killed
		return
	}
	if k8stest.Env(t).ControlPlane() == nil {
		t.Skip("needs a control plane started by this test binary")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildrenDieWithTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1", k8stest.EnvKubeconfig+"=")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pids := map[string]int{}
	dir := ""
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		switch {
		case len(fields) == 3 && fields[0] == "PID":
			pid, err := strconv.Atoi(fields[2])
			require.NoError(t, err)
			pids[fields[1]] = pid
		case len(fields) == 2 && fields[0] == "DIR":
			dir = fields[1]
		case len(fields) == 1 && fields[0] == "READY":
			require.NoError(t, cmd.Process.Kill())
		}
	}
	_ = cmd.Wait()
	if dir != "" {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	require.Len(t, pids, 5, "helper reported %v", pids)
	for name, pid := range pids {
		require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 20*time.Millisecond,
			"%s (pid %d) outlived the killed test binary", name, pid)
	}
}
