package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
)

// runnerObserved starts a runner like fixture.runner, its metrics on reg.
func (f *fixture) runnerObserved(fence uint64, reg *prometheus.Registry) *running {
	f.t.Helper()
	r, err := reconcile.New(reconcile.Config{
		Client: f.c, Fence: fence, Domain: "sandbox.fsa.test", Workers: 4, Resync: time.Hour,
		BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Registerer: reg,
	})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	run := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.err = r.Run(ctx)
	}()
	f.t.Cleanup(func() { _ = run.stop() })
	return run
}

// gauge reads a gauge without labels from reg (0 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// waitInitialSync waits until the runner observed on reg has synced everything it listed at
// start, and returns how long that took by its own account.
func (f *fixture) waitInitialSync(reg *prometheus.Registry) time.Duration {
	f.t.Helper()
	var v float64
	require.Eventually(f.t, func() bool {
		v = gauge(f.t, reg, "fsa_reconcile_initial_sync_seconds")
		return v > 0
	}, waitFor, 20*time.Millisecond, "fsa_reconcile_initial_sync_seconds set")
	return time.Duration(v * float64(time.Second))
}

func TestInitialSyncIsReported(t *testing.T) {
	f := newFixture(t, "initsync")
	reg := prometheus.NewRegistry()
	first := f.runnerObserved(f.acquire(1), reg)
	f.waitInitialSync(reg) // nothing to sync: done at once
	p := f.create("one")
	f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	require.NoError(t, first.stop())

	// A new runner reports once it has synced the sandbox and the database it found.
	reg = prometheus.NewRegistry()
	f.runnerObserved(f.acquire(2), reg)
	f.waitInitialSync(reg)
}
