package daemon_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
	"github.com/fullstackagent/fsa/k8s"
)

// TestStaleLeaderSIGSTOP: three fsad processes. The leader is stopped with SIGSTOP right after
// its fencing check passed and before its Kubernetes write (the test build's
// pause-before-write fault); a new leader takes over and writes a newer desired state; then the
// old leader gets SIGCONT and sends the write it had planned, with its old epoch. Without the
// fencing admission policy (deploy/fencing) that write lands and the new leader repairs it in its
// next sync; with the policy the API server refuses it and nothing flips back.
func TestStaleLeaderSIGSTOP(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads process states from /proc")
	}
	kc := k8stest.Env(t)
	proxy := newCountingProxy(t, kc) // stopped after the cluster: cleanups run last first
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Args: []string{
		"--domain", "sandbox.fsa.test", "--raft-heartbeat-timeout=1s", "--raft-election-timeout=1s", "--raft-lease-timeout=500ms"}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	e := &env{t: t, ctx: ctx, kc: kc, kuser: kc.NewTestUser(t, "sigstop"), c: c, w: &fsadtest.Writer{C: c}}
	var u testapi.User
	_, err = e.w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{
		Name: "sigstop", Kubeconfig: string(proxy.kubeconfig(t, e.kuser.Kubeconfig))}, &u)
	require.NoError(t, err)
	e.user = u.ID
	p := e.project("fenced")
	e.waitStatus(p.ID, "RUNNING")

	t.Run("without policy", func(t *testing.T) {
		e.t = t
		stale, last := e.pauseLeaderAndTakeOver(p, "old-1", "new-1")
		snap := proxy.snapshot()
		before := e.sts(p.SandboxName)
		require.NoError(t, syscall.Kill(stale.PID(), syscall.SIGCONT))
		// The stale write lands, then the new leader repairs it: two PATCHes, the StatefulSet's
		// spec written twice.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, fsadtest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
			writes, _ := proxy.since(snap)
			return writes["PATCH statefulsets"] >= 2, nil
		}), "the stale write and the repair; fsad's requests: %v; stale node's log: %s", formatCounts(proxy.snapshot()), grepLog(stale.LogPath, "TEST BUILD", "error", "fail"))
		e.waitGreeting(p.SandboxName, "new-1", last)
		after := e.sts(p.SandboxName)
		assert.Equal(t, before.Generation+2, after.Generation, "written over, then repaired once")
		writes, _ := proxy.since(snap)
		// The repair is the new leader's next sync; an event arriving before its cache shows its
		// own repair may apply once more, a no-op for the API server (the generation says so).
		assert.Contains(t, []int{2, 3}, writes["PATCH statefulsets"], "the stale write and the repair")
		assert.Equal(t, 0, proxy.refusedCount("PATCH statefulsets"))
	})

	t.Run("with policy", func(t *testing.T) {
		e.t = t
		remove, err := kc.InstallEpochFencing(ctx, e.kuser.Namespace)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, remove(context.Background())) })
		stale, last := e.pauseLeaderAndTakeOver(p, "old-2", "new-2")
		snap, refused := proxy.snapshot(), proxy.refusedCount("PATCH statefulsets")
		before := e.sts(p.SandboxName)
		require.NoError(t, syscall.Kill(stale.PID(), syscall.SIGCONT))
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, fsadtest.Poll(wctx, 20*time.Millisecond, func() (bool, error) {
			return proxy.refusedCount("PATCH statefulsets") > refused, nil
		}), "the stale write, refused by the API server; fsad's requests: %v; stale node's log: %s",
			formatCounts(proxy.snapshot()), grepLog(stale.LogPath, "TEST BUILD", "error", "fail"))
		after := e.sts(p.SandboxName)
		assert.Equal(t, before.Generation, after.Generation, "nothing written")
		assert.Equal(t, "new-2", envOf(after)["GREETING"])
		assert.Equal(t, last, after.Annotations[k8s.AnnotationEpoch])
		writes, _ := proxy.since(snap)
		assert.Equal(t, 1, writes["PATCH statefulsets"], "the refused write only; nothing to repair")
	})
}

// pauseLeaderAndTakeOver arms the leader to stop itself at its next sandbox write, sets the
// project's GREETING to old so that it has one to make, waits until it is stopped, waits for a
// new leader, sets GREETING to new through it and waits until the StatefulSet has it, with the
// new leader's epoch. It returns the stopped node (SIGCONT is the caller's; a failed test's
// cleanup sends it too) and the new epoch.
func (e *env) pauseLeaderAndTakeOver(p *testapi.Project, old, new string) (*fsadtest.Node, string) {
	e.t.Helper()
	leader, lst, err := e.c.Leader(e.ctx)
	require.NoError(e.t, err)
	require.NoError(e.t, leader.Test().Do(e.ctx, http.MethodPost, "/test/v1/faults/pause-before-write", struct{}{}, nil))
	e.t.Cleanup(func() { _ = syscall.Kill(leader.PID(), syscall.SIGCONT) })
	// The write commits, then the leader's reconcile takes it up at once and stops the process:
	// often before the answer leaves, so the call may time out (after the client's 5 s). Once stopped, the write was
	// applied (the hook runs on the applied state); a failed call of a running leader fails.
	err = leader.Test().Do(e.ctx, http.MethodPost, "/test/v1/projects/env",
		testapi.EnvRequest{UserID: e.user, ProjectID: p.ID, Key: "GREETING", Value: old}, nil)
	if err != nil {
		stopped, serr := processStopped(leader.PID())
		require.NoError(e.t, serr)
		require.True(e.t, stopped, "set GREETING through the leader: %v", err)
	}
	require.NoError(e.t, fsadtest.Poll(e.ctx, 10*time.Millisecond, func() (bool, error) {
		return processStopped(leader.PID())
	}), "the leader stops itself before its write")

	next, nst := e.waitLeader(leader, lst.Term)
	require.NoError(e.t, next.Test().Do(e.ctx, http.MethodPost, "/test/v1/projects/env",
		testapi.EnvRequest{UserID: e.user, ProjectID: p.ID, Key: "GREETING", Value: new}, nil))
	epoch := strconv.FormatUint(nst.Term, 10)
	e.waitGreeting(p.SandboxName, new, epoch)
	return leader, epoch
}

// waitGreeting waits until the sandbox's StatefulSet has GREETING want, written at epoch.
func (e *env) waitGreeting(name, want, epoch string) {
	e.t.Helper()
	var last *appsv1.StatefulSet
	err := fsadtest.Poll(e.ctx, 20*time.Millisecond, func() (bool, error) {
		s, err := e.kc.Clientset().AppsV1().StatefulSets(e.kuser.Namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = s
		return envOf(s)["GREETING"] == want && s.Annotations[k8s.AnnotationEpoch] == epoch, nil
	})
	require.NoError(e.t, err, "GREETING=%s at epoch %s; last seen %v at epoch %s", want, epoch,
		envOf(last)["GREETING"], last.Annotations[k8s.AnnotationEpoch])
}

func (e *env) sts(name string) *appsv1.StatefulSet {
	e.t.Helper()
	s, err := e.kc.Clientset().AppsV1().StatefulSets(e.kuser.Namespace).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return s
}

func envOf(s *appsv1.StatefulSet) map[string]string {
	out := map[string]string{}
	if s == nil {
		return out
	}
	for _, c := range s.Spec.Template.Spec.Containers {
		for _, v := range c.Env {
			out[v.Name] = v.Value
		}
	}
	return out
}

// grepLog returns the lines of the log at path holding any of words (for failure messages).
func grepLog(path string, words ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	if len(out) > 60 {
		out = out[len(out)-60:]
	}
	return strings.Join(out, "\n")
}

// processStopped reports whether process pid is stopped (state T in /proc/<pid>/stat).
func processStopped(pid int) (bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, err
	}
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] == "T", nil
}
