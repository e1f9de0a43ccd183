package daemon_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
)

// TestIdleStopAcrossLeaderKill runs 3 fsad processes with a 30-second idle limit and SIGKILLs
// the leader just before a project's idle deadline: the next leader stops the project, and
// the timeline shows exactly one IdleTimeout stop (not lost, not made twice, whichever leader
// committed it).
func TestIdleStopAcrossLeaderKill(t *testing.T) {
	kc := k8stest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Args: []string{
		"--domain", "sandbox.fsa.test", "--idle-timeout=30s", "--activity-interval=1s",
		"--raft-heartbeat-timeout=1s", "--raft-election-timeout=1s", "--raft-lease-timeout=500ms"}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	e := &env{t: t, ctx: ctx, kc: kc, kuser: kc.NewTestUser(t, "idlekill"), c: c, w: &fsadtest.Writer{C: c}}
	var u testapi.User
	_, err = e.w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: "idlekill", Kubeconfig: string(e.kuser.Kubeconfig)}, &u)
	require.NoError(t, err)
	e.user = u.ID

	p := e.project("idle")
	e.waitStatus(p.ID, "RUNNING")
	// Activity now: the deadline is 30 s (plus the 1 s activity interval) from here.
	var got testapi.Project
	_, err = e.w.Do(ctx, http.MethodPost, "/test/v1/projects/keepalive", testapi.ProjectRequest{UserID: e.user, ProjectID: p.ID}, &got)
	require.NoError(t, err)
	require.Equal(t, fsa.ReasonIdleTimeout, got.NextDueReason)
	deadline := got.NextDue
	require.WithinDuration(t, time.Now().Add(31*time.Second), deadline, 5*time.Second)

	old, ost, err := c.Leader(ctx)
	require.NoError(t, err)
	// Kill the leader a moment before the deadline: the stop falls due while no node leads.
	kill := time.NewTimer(time.Until(deadline.Add(-300 * time.Millisecond)))
	defer kill.Stop()
	select {
	case <-kill.C:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	require.NoError(t, old.Kill())
	killedAt := time.Now()
	next, nst := e.waitLeader(old, ost.Term)
	t.Logf("killed %s (term %d) %v before the deadline; %s leads (term %d) %v after the kill",
		old.ID, ost.Term, deadline.Sub(killedAt).Round(time.Millisecond), next.ID, nst.Term, time.Since(killedAt).Round(time.Millisecond))

	e.waitStatus(p.ID, "STOPPED")
	_, err = e.w.Do(ctx, http.MethodGet, "/test/v1/projects/"+p.ID, nil, &got)
	require.NoError(t, err)
	n := 0
	for _, r := range got.Reasons {
		if r == fsa.ReasonIdleTimeout {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one idle stop; timeline reasons %v", got.Reasons)
	require.True(t, got.NextDue.IsZero(), "nothing due once stopped")

	// The killed node comes back as a follower: it stops nothing again.
	require.NoError(t, old.Start())
	require.NoError(t, c.WaitHealthy(ctx, 3))
	_, err = e.w.Do(ctx, http.MethodGet, "/test/v1/projects/"+p.ID, nil, &got)
	require.NoError(t, err)
	n = 0
	for _, r := range got.Reasons {
		if r == fsa.ReasonIdleTimeout {
			n++
		}
	}
	require.Equal(t, 1, n, "still one idle stop after the old leader rejoined; reasons %v", got.Reasons)
}
