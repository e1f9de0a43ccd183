package reconcile_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestStaleLeaderWrite pauses a leader's runner between its fencing check and its Kubernetes
// write (as a GC pause, SIGSTOP or a stalled VM would), lets a new leader take over and write,
// then resumes the old one. Both runners share one store and the real API server, in one
// process. With the shipped admission policy (deploy/fencing) the stale write is refused by the
// API server and nothing flips back; without it the stale write lands and the new leader repairs
// it with one write.
func TestStaleLeaderWrite(t *testing.T) {
	t.Run("with policy", func(t *testing.T) { staleLeaderWrite(t, true) })
	t.Run("without policy", func(t *testing.T) { staleLeaderWrite(t, false) })
}

func staleLeaderWrite(t *testing.T, withPolicy bool) {
	f := newFixture(t, "fence")
	if withPolicy {
		remove, err := f.cluster.InstallEpochFencing(f.ctx, f.kuser.Namespace)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, remove(context.Background())) })
	}

	// The old leader (fence 1) pauses at its first sandbox write once armed; what it writes after
	// resuming is reported.
	var armed, resumed atomic.Bool
	paused, release := make(chan struct{}), make(chan struct{})
	stale := make(chan error, 1)
	restore := reconcile.SetWriteHooks(
		func(ctx context.Context, fence uint64, kind fsa.ResourceKind, _ string) context.Context {
			if fence == 1 && kind == fsa.ResourceSandbox && armed.CompareAndSwap(true, false) {
				close(paused)
				select {
				case <-release:
					resumed.Store(true)
				case <-ctx.Done():
				}
			}
			return ctx
		},
		func(fence uint64, kind fsa.ResourceKind, _ string, err error) {
			if fence == 1 && kind == fsa.ResourceSandbox && resumed.CompareAndSwap(true, false) {
				stale <- err
			}
		})
	t.Cleanup(restore) // after the runners stop (cleanups run last first)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	f.runner(f.acquire(1))
	p := f.create("fenced")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	greeting := func(want, epoch string) func() (bool, error) {
		return func() (bool, error) {
			s, err := f.sts(p.Sandbox.Name)
			if err != nil {
				return false, err
			}
			return envOf(s)["GREETING"] == want && s.Annotations[k8s.AnnotationEpoch] == epoch, nil
		}
	}

	// The old leader picks up a change, passes its fencing check, and stops there.
	armed.Store(true)
	_, err := f.c.SetEnv(f.ctx, f.user.ID, p.ID, fsa.EnvSpec{Key: "GREETING", Value: "old"})
	require.NoError(t, err)
	select {
	case <-paused:
	case <-time.After(waitFor):
		t.Fatal("the old leader never reached its write")
	}

	// Meanwhile the desired state moves on and a new leader takes over and writes it.
	updated := "new"
	_, err = f.c.UpdateEnv(f.ctx, f.user.ID, p.ID, fsa.EnvUpdate{Key: "GREETING", Value: &updated})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	f.runnerObserved(f.acquire(2), reg)
	f.waitInitialSync(reg)
	f.waitK8s("the new leader's write", greeting("new", "2"))
	before, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	newWrites := counterSum(reg, "fsa_reconcile_kubernetes_writes_total")

	// The old leader resumes and writes what it had planned, with its epoch.
	close(release)
	var staleErr error
	select {
	case staleErr = <-stale:
	case <-time.After(waitFor):
		t.Fatal("the old leader's write never finished")
	}

	if withPolicy {
		require.Error(t, staleErr, "the API server refuses the stale write")
		assert.True(t, apierrors.IsForbidden(staleErr), "got %v, want Forbidden", staleErr)
		assert.Contains(t, staleErr.Error(), "stale fsa write: epoch 1 is below the stored object's epoch 2")
		after, err := f.sts(p.Sandbox.Name)
		require.NoError(t, err)
		assert.Equal(t, before.Generation, after.Generation, "the spec was not written (status may move on)")
		assert.Equal(t, "new", envOf(after)["GREETING"])
		assert.Equal(t, "2", after.Annotations[k8s.AnnotationEpoch])
		assert.Equal(t, newWrites, counterSum(reg, "fsa_reconcile_kubernetes_writes_total"), "nothing to repair")
		return
	}
	require.NoError(t, staleErr, "without the policy the stale write lands")
	// The new leader sees the change and repairs it, with one write.
	f.waitK8s("repaired by the new leader", greeting("new", "2"))
	after, err := f.sts(p.Sandbox.Name)
	require.NoError(t, err)
	assert.Equal(t, before.Generation+2, after.Generation, "written over, then repaired once")
	// The repair is the new runner's next sync; an event arriving before its cache shows its
	// own repair may apply once more, a no-op for the API server (the generation says so).
	repairs := counterSum(reg, "fsa_reconcile_kubernetes_writes_total") - newWrites
	assert.True(t, repairs == 1 || repairs == 2, "repair writes: %v", repairs)
}
