package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestBenchScale grows one control plane through the project counts in FSA_BENCH_STEPS
// (default 2000,5000,10000; issue 17 items 1 and 5, issue 15's none-due figure). At each step,
// with every project RUNNING, it elects a new leader (the next epoch) and starts a fresh runner:
//   - restart: the time from the election to the runner's caches synced and every child synced
//     once (fsa_reconcile_initial_sync_seconds), and the wall time until it reports so; and the
//     time from a create made right after the election to its StatefulSet written (a user's
//     intent served while the first pass runs);
//   - memory: the runner's heap in use once settled, less the heap before it started (the
//     stand-ins and the recorder share this process), per project;
//   - idle: a window of FSA_BENCH_IDLE with a resync every FSA_BENCH_RESYNC: syncs, CPU.
//
// At the steps in FSA_BENCH_LIFECYCLE_AT (default: the last), the lifecycle loop runs beside
// the runner and windows alternate FSA_BENCH_LIFECYCLE_ROUNDS times (default 2) between every
// project without limits and every project with an idle limit and an expiry, none due: the
// store writes and the process's CPU of each window, side by side.
//
// FSA_BENCH_CPUPROFILE names a file prefix for a CPU profile of each restart (the whole
// process, election to first pass done); FSA_BENCH_HEAPPROFILE one for a heap profile at the
// end of each step's idle window.
func TestBenchScale(t *testing.T) {
	benchGate(t)
	var steps []int
	for _, f := range strings.Split(envString("FSA_BENCH_STEPS", "2000,5000,10000"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		require.NoError(t, err, "FSA_BENCH_STEPS")
		steps = append(steps, n)
	}
	lcAt := map[int]bool{steps[len(steps)-1]: true}
	if v := envString("FSA_BENCH_LIFECYCLE_AT", ""); v != "" {
		lcAt = map[int]bool{}
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "FSA_BENCH_LIFECYCLE_AT")
			lcAt[n] = true
		}
	}
	b := newBench(t, envInt("FSA_BENCH_USERS", 10))
	b.ensureNodes(steps[len(steps)-1])
	s := settingsFromEnv()
	t.Logf("runner: %v; steps %v over %d users", s, steps, len(b.users))
	var projects []*fsa.Project
	fence := uint64(1)
	// FSA_BENCH_RESTART_WARM=1: a follower's caches (reconcile.Caches) run from the start, and
	// restarts alternate runners with caches of their own (first) and runners given those.
	var warm *warmCaches
	if os.Getenv("FSA_BENCH_RESTART_WARM") != "" {
		warm = b.startCaches(s)
	}
	for _, n := range steps {
		// Grow to n with a provisioning runner at the current epoch.
		if add := n - len(projects); add > 0 {
			s.Fence, s.Registerer = fence, prometheus.NewRegistry()
			stop := b.startRunner(s)
			start := time.Now()
			more, _ := b.createProjects(fmt.Sprintf("s%d-", n), add)
			projects = append(projects, more...)
			b.waitAllRunning(projects)
			took := time.Since(start)
			b.waitQuiet(s.Registerer.(*prometheus.Registry), 5*time.Second, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
			stop()
			t.Logf("BENCH scale-provision projects=%d added=%d seconds=%.1f projects_per_s=%.2f", n, add, took.Seconds(), float64(add)/took.Seconds())
		}
		// FSA_BENCH_RESTARTS leadership changes (default 2), the last runner kept for the windows.
		// FSA_BENCH_RESTART_JSON=1 alternates runners whose typed clients speak JSON with the
		// default protobuf ones, JSON first; FSA_BENCH_RESTART_LISTED=1 alternates runners that
		// read every project again at each child's first sync with the default ones that start
		// from the listing, rereading first.
		var stop func()
		var reg *prometheus.Registry
		for i := range envInt("FSA_BENCH_RESTARTS", 2) {
			if i > 0 {
				stop()
			}
			fence++
			rs := s
			rs.JSON = os.Getenv("FSA_BENCH_RESTART_JSON") != "" && i%2 == 0
			rs.Reread = os.Getenv("FSA_BENCH_RESTART_LISTED") != "" && i%2 == 0
			if warm != nil && i%2 == 1 {
				// The follower's caches have seen every placement before it is elected.
				warm.waitSynced(b, len(b.users))
				rs.Caches = warm.c
			}
			stop, reg = b.restartLeader(rs, fence, n)
		}
		b.idleMeasure(reg, n, fmt.Sprintf("scale n=%d", n))
		if lcAt[n] {
			b.lifecycleWindows(reg, projects, fence)
		}
		stop()
	}
}

func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// restartLeader acquires epoch fence and starts a runner with it, as a newly elected leader
// does, and reports the time to its first full sync and its heap once settled.
func (b *bench) restartLeader(s runnerSettings, fence uint64, n int) (func(), *prometheus.Registry) {
	t := b.t
	reg := prometheus.NewRegistry()
	s.Fence, s.Registerer = fence, reg
	s.Resync = envDuration("FSA_BENCH_RESYNC", 20*time.Second)
	heap0 := heapInUse()
	stopProfile := func() {}
	if path := os.Getenv("FSA_BENCH_CPUPROFILE"); path != "" {
		// The whole process from the election to the end of the first pass.
		f, err := os.Create(fmt.Sprintf("%s.restart_n%d_e%d_json%v_reread%v_warm%v", path, n, fence, s.JSON, s.Reread, s.Caches != nil))
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(f))
		stopProfile = func() {
			pprof.StopCPUProfile()
			require.NoError(t, f.Close())
		}
	}
	cpu0 := selfCPU()
	t0 := time.Now()
	require.NoError(t, b.c.AcquireEpoch(b.ctx, fence))
	restore := reconcile.SetListedProjects(!s.Reread)
	stop := b.startRunner(s)
	restore()
	// A user's intent right after the election: how soon the new leader serves it, while its
	// first pass over every child runs.
	u := b.users[int(fence)%len(b.users)]
	p, err := b.c.CreateProject(b.ctx, u.ID, fsa.ProjectSpec{Name: fmt.Sprintf("restart%d", fence), PublicApp: true})
	require.NoError(t, err)
	created := time.Now()
	runnerSecs := b.waitInitialSync(reg, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
	took := time.Since(t0)
	stopProfile()
	b.rec.wait(t, b.ctx, envDuration("FSA_BENCH_SETTLE", 3*time.Minute), "new project's StatefulSet", func() bool {
		_, ok := b.rec.stsAdded[p.Sandbox.Name]
		return ok
	})
	b.rec.mu.Lock()
	intent := b.rec.stsAdded[p.Sandbox.Name].Sub(created)
	b.rec.mu.Unlock()
	cpu := selfCPU() - cpu0
	b.waitQuiet(reg, 5*time.Second, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
	heap := int64(heapInUse()) - int64(heap0)
	t.Logf("BENCH scale-restart json=%v reread=%v warm=%v projects=%d epoch=%d seconds=%.2f runner_seconds=%.2f intent_served_s=%.2f cpu_s=%.2f k8s_writes=%v runner_heap_mib=%d runner_heap_kib_per_project=%.1f",
		s.JSON, s.Reread, s.Caches != nil, n, fence, took.Seconds(), runnerSecs, intent.Seconds(), cpu, counterSum(reg, "fsa_reconcile_kubernetes_writes_total"),
		heap>>20, float64(heap)/1024/float64(n))
	return stop, reg
}

// idleMeasure measures one window of FSA_BENCH_IDLE of a settled runner: store writes, syncs
// and this process's CPU.
func (b *bench) idleMeasure(reg *prometheus.Registry, n int, label string) (writes int64, cpuPct float64) {
	t := b.t
	idle := envDuration("FSA_BENCH_IDLE", 60*time.Second)
	y0, m0 := histCount(reg, "fsa_reconcile_sync_duration_seconds"), counterSum(reg, "fsa_reconcile_syncs_up_to_date_total")
	w0 := counterSum(reg, "fsa_reconcile_kubernetes_writes_total")
	rev0, cpu0, t0 := b.revision(), selfCPU(), time.Now()
	select {
	case <-time.After(idle): // the measurement window itself
	case <-b.ctx.Done():
		t.Fatal(b.ctx.Err())
	}
	el := time.Since(t0).Seconds()
	rev1, cpu1 := b.revision(), selfCPU()
	y1, m1 := histCount(reg, "fsa_reconcile_sync_duration_seconds"), counterSum(reg, "fsa_reconcile_syncs_up_to_date_total")
	w1 := counterSum(reg, "fsa_reconcile_kubernetes_writes_total")
	if path := os.Getenv("FSA_BENCH_HEAPPROFILE"); path != "" && !strings.Contains(label, "lifecycle") {
		// The whole process's heap (the runner, the stand-ins, the recorder), after a collection.
		runtime.GC()
		f, err := os.Create(path + "." + strings.NewReplacer(" ", "_", "=", "").Replace(label))
		require.NoError(t, err)
		require.NoError(t, pprof.WriteHeapProfile(f))
		require.NoError(t, f.Close())
	}
	perSync := 0.0
	if y1 > y0 {
		perSync = 1000 * (cpu1 - cpu0) / (y1 - y0)
	}
	cpuPct = 100 * (cpu1 - cpu0) / el
	t.Logf("BENCH %s window_s=%.0f store_writes=%d k8s_writes=%v syncs=%v remembered=%v cpu_pct=%.2f ms_per_sync=%.3f",
		label, el, rev1-rev0, w1-w0, y1-y0, m1-m0, cpuPct, perSync)
	return rev1 - rev0, cpuPct
}

// lifecycleWindows runs the lifecycle loop beside the runner and alternates idle windows
// without and with limits on every project (none due).
func (b *bench) lifecycleWindows(reg *prometheus.Registry, projects []*fsa.Project, fence uint64) {
	t := b.t
	lreg := prometheus.NewRegistry()
	l, err := reconcile.NewLifecycle(reconcile.LifecycleConfig{Client: b.c, Fence: fence, Registerer: lreg, Logger: benchLogger()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	n := len(projects)
	var cpus [2][]float64
	for round := range envInt("FSA_BENCH_LIFECYCLE_ROUNDS", 2) {
		for _, with := range []bool{false, true} {
			start := time.Now()
			b.setLimits(projects, with)
			b.waitQuiet(reg, 5*time.Second, envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
			t.Logf("limits=%v set on %d projects in %v (settled)", with, n, time.Since(start).Round(time.Millisecond))
			writes, cpu := b.idleMeasure(reg, n, fmt.Sprintf("scale-lifecycle n=%d round=%d limits=%v", n, round+1, with))
			require.Zero(t, writes, "no store write while nothing is due")
			i := 0
			if with {
				i = 1
			}
			cpus[i] = append(cpus[i], cpu)
		}
	}
	t.Logf("BENCH scale-lifecycle n=%d checks=%v listings=%v cpu_pct_without=%v cpu_pct_with=%v",
		n, counterSum(lreg, "fsa_lifecycle_checks_total"), counterSum(lreg, "fsa_lifecycle_listings_total"), cpus[0], cpus[1])
}

// setLimits gives every project an idle limit of an hour and an expiry in a day (none due
// within the windows), or removes both.
func (b *bench) setLimits(projects []*fsa.Project, with bool) {
	zero := time.Duration(0)
	pol := fsa.LifecyclePolicy{IdleTimeout: &zero, ExpireAt: &time.Time{}}
	if with {
		idle, at := time.Hour, time.Now().Add(24*time.Hour)
		pol = fsa.LifecyclePolicy{IdleTimeout: &idle, ExpireAt: &at}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(projects); i += 16 {
				p := projects[i]
				if _, err := b.c.SetProjectLifecycle(b.ctx, p.UserID, p.ID, pol); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b.t, err)
	}
}

// warmCaches are a follower's caches running beside the bench's runners.
type warmCaches struct {
	c   *reconcile.Caches
	reg *prometheus.Registry
}

// startCaches runs Caches, with s's Kubernetes client settings, until the test ends.
func (b *bench) startCaches(s runnerSettings) *warmCaches {
	reg := prometheus.NewRegistry()
	c, err := reconcile.NewCaches(reconcile.CachesConfig{Client: b.c, Registerer: reg, Logger: benchLogger(),
		Clients: k8s.NewClients(k8s.WithRateLimit(s.QPS, s.Burst))})
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	b.t.Cleanup(func() {
		cancel()
		require.NoError(b.t, <-done)
	})
	return &warmCaches{c: c, reg: reg}
}

// waitSynced waits until the caches of n namespaces have synced.
func (w *warmCaches) waitSynced(b *bench, n int) {
	deadline := time.Now().Add(envDuration("FSA_BENCH_SETTLE", 3*time.Minute))
	tick := time.NewTicker(20 * time.Millisecond) // a gauge: polled, with a deadline
	defer tick.Stop()
	for gaugeValue(w.reg, "fsa_reconcile_cache_namespaces_synced") < float64(n) {
		if time.Now().After(deadline) {
			b.t.Fatalf("warm caches: %v of %d namespaces synced", gaugeValue(w.reg, "fsa_reconcile_cache_namespaces_synced"), n)
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			b.t.Fatal(b.ctx.Err())
		}
	}
}
