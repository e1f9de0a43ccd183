// Package crashtest runs a child process that commits and acknowledges, and SIGKILLs it: the
// common half of the stores' durability tests, which then check that every acknowledged commit
// survived.
//
// The child prints one line "ACK <revision> <id>" to stdout after each commit returned; other
// lines (the test framework's) are ignored.
package crashtest

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ack is one acknowledged commit.
type Ack struct {
	Rev int64
	ID  string
}

// RunAndKill starts cmd, SIGKILLs it after n acks, and returns every ack it printed (including
// those already in the pipe when it died). whileRunning, if not nil, runs after the first ack,
// while the child is running. It fails t unless the child died of the SIGKILL.
func RunAndKill(t testing.TB, cmd *exec.Cmd, n int, whileRunning func()) []Ack {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	var acks []Ack
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ACK" {
			continue
		}
		rev, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		acks = append(acks, Ack{Rev: rev, ID: f[2]})
		if len(acks) == 1 && whileRunning != nil {
			whileRunning()
		}
		if len(acks) == n && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.True(t, killed, "child exited before %d acks (%v): %s", n, err, stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, status.Signaled() && status.Signal() == syscall.SIGKILL, "child: %v: %s", err, stderr.String())
	return acks
}
