package reconcile_test

// Benchmarks of the lifecycle loop (issue 15), gated by FSA_BENCH=1 like the others in this
// package. They need no Kubernetes: the loop only reads and writes the store. Results and
// commands: BENCHMARKS.md.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/raftstore/rafttest"
)

type lcBench struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	c     *fsa.Client
	users []string // projects are spread over them: one user's creations contend on its use
}

func newLCBench(t *testing.T, interval time.Duration) *lcBench {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	t.Cleanup(cancel)
	var st store.Store
	if os.Getenv("FSA_BENCH_LIFECYCLE_STORE") == "raft" {
		// The leader of a 3-node raftstore, in one process (in-memory transport).
		st = rafttest.Start(ctx, t, 3).Leader(ctx, t)
	} else {
		bst, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = bst.Close() })
		st = bst
	}
	c := fsa.New(st, fsa.WithLifecycleDefaults(fsa.LifecycleDefaults{ActivityInterval: interval}))
	b := &lcBench{t: t, ctx: ctx, st: st, c: c}
	for i := 0; i < 16; i++ {
		u, err := c.CreateUser(ctx, fsa.UserSpec{Name: fmt.Sprintf("bench%d", i)})
		require.NoError(t, err)
		_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: "apiVersion: v1\nkind: Config\n", Secret: true})
		require.NoError(t, err)
		b.users = append(b.users, u.ID)
	}
	return b
}

// projects creates n RUNNING projects with pol, 16 at a time.
func (b *lcBench) projects(prefix string, n int, pol func(i int) fsa.LifecyclePolicy) []*fsa.Project {
	out := make([]*fsa.Project, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := b.c.CreateProject(b.ctx, b.users[i%len(b.users)], fsa.ProjectSpec{Name: fmt.Sprintf("%s-%d", prefix, i), Lifecycle: pol(i)})
			require.NoError(b.t, err)
			for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
				p, err = b.c.Record(b.ctx, 0, k, p.Child(k).Common().ID, fsa.Observation{Status: fsa.StatusRunning})
				require.NoError(b.t, err)
			}
			out[i] = p
		}(i)
	}
	wg.Wait()
	return out
}

func (b *lcBench) revision() int64 {
	var rev int64
	require.NoError(b.t, b.st.View(b.ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil }))
	return rev
}

func (b *lcBench) loop(fence uint64) func() {
	stop, _ := b.loopWithMetrics(fence)
	return stop
}

// loopWithMetrics runs a lifecycle loop with its metrics in the returned registry.
func (b *lcBench) loopWithMetrics(fence uint64) (func(), *prometheus.Registry) {
	require.NoError(b.t, b.c.AcquireEpoch(b.ctx, fence))
	reg := prometheus.NewRegistry()
	l, err := reconcile.NewLifecycle(reconcile.LifecycleConfig{Client: b.c, Fence: fence, Logger: benchLogger(), Registerer: reg})
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return func() { cancel(); require.NoError(b.t, <-done) }, reg
}

// TestBenchLifecycleNoneDue: N projects with idle limits, none due, side by side with N
// without limits: store writes per second and the process's CPU over the same window.
func TestBenchLifecycleNoneDue(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_LIFECYCLE_PROJECTS", 1000)
	window := envDuration("FSA_BENCH_LIFECYCLE_WINDOW", 20*time.Second)
	for _, withLimits := range []bool{false, true} {
		b := newLCBench(t, time.Minute)
		pol := func(int) fsa.LifecyclePolicy { return fsa.LifecyclePolicy{IdleTimeout: ptrDur(0)} }
		if withLimits {
			pol = func(int) fsa.LifecyclePolicy {
				at := time.Now().Add(24 * time.Hour)
				return fsa.LifecyclePolicy{IdleTimeout: ptrDur(time.Hour), ExpireAt: &at}
			}
		}
		start := time.Now()
		b.projects("p", n, pol)
		t.Logf("limits=%v: %d projects created in %v", withLimits, n, time.Since(start).Round(time.Millisecond))
		stop, reg := b.loopWithMetrics(1)
		// Wait until the loop has listed the projects and set a timer for each with limits
		// (none without), then measure a quiet window.
		timers := 0.0
		if withLimits {
			timers = float64(n)
		}
		require.Eventually(t, func() bool {
			return metricSum(t, reg, "fsa_lifecycle_listings_total") >= 1 && metricSum(t, reg, "fsa_lifecycle_timers_set_total") >= timers
		}, 2*time.Minute, 10*time.Millisecond, "the loop did not list the projects and set their timers")
		require.EqualValues(t, timers, metricSum(t, reg, "fsa_lifecycle_timers_set_total"), "one timer per project with limits")
		rev, cpu, t0 := b.revision(), selfCPU(), time.Now()
		time.Sleep(window) //nolint:forbidigo // a measurement window, not synchronisation
		writes, used, el := b.revision()-rev, selfCPU()-cpu, time.Since(t0)
		stop()
		t.Logf("RESULT none-due limits=%v projects=%d window=%v store_writes=%d writes_per_s=%.3f cpu_s=%.3f cpu_pct=%.2f%%",
			withLimits, n, el.Round(time.Millisecond), writes, float64(writes)/el.Seconds(), used, 100*used/el.Seconds())
		require.Zero(t, writes, "no store write while nothing is due")
	}
}

// TestBenchLifecycleActivity: N projects with continuous activity (every project touched every
// 100 ms by keep-alives from 8 goroutines) for a window: store writes per second against
// N ÷ interval.
func TestBenchLifecycleActivity(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_LIFECYCLE_PROJECTS", 1000)
	interval := envDuration("FSA_BENCH_LIFECYCLE_INTERVAL", 10*time.Second)
	window := envDuration("FSA_BENCH_LIFECYCLE_WINDOW", 30*time.Second)
	b := newLCBench(t, interval)
	ps := b.projects("a", n, func(int) fsa.LifecyclePolicy { return fsa.LifecyclePolicy{IdleTimeout: ptrDur(time.Hour)} })
	stop := b.loop(1)
	defer stop()
	ctx, cancel := context.WithTimeout(b.ctx, window)
	defer cancel()
	var calls atomic.Int64
	rev, t0 := b.revision(), time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				for i := w; i < len(ps); i += 8 {
					if err := b.c.KeepAlive(ctx, ps[i].UserID, ps[i].ID); err == nil {
						calls.Add(1)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}(w)
	}
	wg.Wait()
	writes, el := b.revision()-rev, time.Since(t0)
	bound := float64(n) / interval.Seconds()
	t.Logf("RESULT activity projects=%d interval=%v window=%v keepalive_calls=%d calls_per_s=%.0f store_writes=%d writes_per_s=%.2f bound_per_s=%.2f",
		n, interval, el.Round(time.Millisecond), calls.Load(), float64(calls.Load())/el.Seconds(), writes, float64(writes)/el.Seconds(), bound)
	// The first window of each project writes once at once (its activity at creation is older
	// than nothing): allow that one write per project on top of the rate.
	require.LessOrEqual(t, float64(writes), bound*el.Seconds()+float64(n))
}

// TestBenchLifecycleDueBurst: N projects whose expiries fall in the same second: the lag from
// the deadline to the stop's commit (the time in the stop's timeline entry), p50, p99, max.
func TestBenchLifecycleDueBurst(t *testing.T) {
	benchGate(t)
	n := envInt("FSA_BENCH_LIFECYCLE_PROJECTS", 1000)
	b := newLCBench(t, time.Minute)
	var deadline time.Time
	ps := b.projects("d", n, func(int) fsa.LifecyclePolicy { return fsa.LifecyclePolicy{IdleTimeout: ptrDur(0)} })
	stop := b.loop(1)
	defer stop()
	// Every project expires within the same second, a few seconds from now.
	lead := envDuration("FSA_BENCH_LIFECYCLE_LEAD", 20*time.Second)
	deadline = time.Now().Add(lead).Truncate(time.Second).Add(time.Second)
	for i, p := range ps {
		at := deadline.Add(time.Duration(i) * time.Second / time.Duration(n))
		_, err := b.c.SetProjectLifecycle(b.ctx, p.UserID, p.ID, fsa.LifecyclePolicy{ExpireAt: &at})
		require.NoError(t, err)
	}
	require.True(t, time.Now().Before(deadline), "the setup outlasted the deadline: lower FSA_BENCH_LIFECYCLE_PROJECTS")
	var lags []time.Duration
	require.Eventually(t, func() bool {
		lags = lags[:0]
		list, err := b.c.ListAllProjects(b.ctx)
		require.NoError(t, err)
		for _, p := range list.Items {
			for _, c := range p.Sandbox.Conditions {
				if c.Reason == fsa.ReasonExpired {
					lags = append(lags, c.Time.Sub(p.Lifecycle.ExpireAt))
				}
			}
		}
		return len(lags) == n
	}, 2*time.Minute, 200*time.Millisecond)
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	q := func(f float64) time.Duration { return lags[int(f*float64(len(lags)-1))] }
	t.Logf("RESULT due-burst projects=%d p50=%v p99=%v max=%v min=%v", n, q(.5).Round(time.Millisecond), q(.99).Round(time.Millisecond),
		lags[len(lags)-1].Round(time.Millisecond), lags[0].Round(time.Millisecond))
	for _, l := range lags {
		require.GreaterOrEqual(t, l, time.Duration(0), "never before the deadline")
	}
}
