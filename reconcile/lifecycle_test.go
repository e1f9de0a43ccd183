package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// lifecycleWorld is a store with a user, an SDK client on a fake clock, and helpers to run
// lifecycle loops on that clock.
type lifecycleWorld struct {
	t    *testing.T
	ctx  context.Context
	st   store.Store
	clk  *clocktesting.FakeClock
	c    *fsa.Client
	user string
}

var lt0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newLifecycleWorld(t *testing.T) *lifecycleWorld {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	clk := clocktesting.NewFakeClock(lt0)
	c := fsa.New(st, fsa.WithClock(clk.Now), fsa.WithLifecycleDefaults(fsa.LifecycleDefaults{ActivityInterval: time.Minute}))
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "Alice"})
	require.NoError(t, err)
	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: "apiVersion: v1\nkind: Config\n", Secret: true})
	require.NoError(t, err)
	return &lifecycleWorld{t: t, ctx: ctx, st: st, clk: clk, c: c, user: u.ID}
}

// running creates a project with pol and records its children RUNNING.
func (w *lifecycleWorld) running(name string, pol fsa.LifecyclePolicy) *fsa.Project {
	p, err := w.c.CreateProject(w.ctx, w.user, fsa.ProjectSpec{Name: name, Lifecycle: pol})
	require.NoError(w.t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		p, err = w.c.Record(w.ctx, 0, k, p.Child(k).Common().ID, fsa.Observation{Status: fsa.StatusRunning})
		require.NoError(w.t, err)
	}
	return p
}

func (w *lifecycleWorld) get(id string) *fsa.Project {
	p, err := w.c.GetProject(w.ctx, w.user, id)
	require.NoError(w.t, err)
	return p
}

func (w *lifecycleWorld) revision() int64 {
	var rev int64
	require.NoError(w.t, w.st.View(w.ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil }))
	return rev
}

type runningLoop struct {
	reg  *prometheus.Registry
	done chan error
	stop context.CancelFunc
}

// start runs a lifecycle loop with fence until the test ends or stop is called.
func (w *lifecycleWorld) start(fence uint64) *runningLoop {
	reg := prometheus.NewRegistry()
	l, err := reconcile.NewLifecycle(reconcile.LifecycleConfig{Client: w.c, Fence: fence, Clock: w.clk, Registerer: reg, Workers: 4})
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(w.ctx)
	r := &runningLoop{reg: reg, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- l.Run(ctx) }()
	w.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *runningLoop) checks(t *testing.T) float64 {
	return metricSum(t, r.reg, "fsa_lifecycle_checks_total")
}

// waitListed waits until the loop has listed the projects and set their timers.
func (w *lifecycleWorld) waitListed(r *runningLoop) {
	require.Eventually(w.t, func() bool { return metricSum(w.t, r.reg, "fsa_lifecycle_listings_total") >= 1 }, 10*time.Second, time.Millisecond)
}

func TestLifecycleLoopIdleStop(t *testing.T) {
	w := newLifecycleWorld(t)
	idle := w.running("idle", fsa.LifecyclePolicy{IdleTimeout: durp(10 * time.Minute)})
	never := w.running("never", fsa.LifecyclePolicy{IdleTimeout: durp(0)})
	at := lt0.Add(time.Hour)
	expiring := w.running("expiring", fsa.LifecyclePolicy{ExpireAt: &at, ExpireAction: fsa.LifecycleDelete})
	require.NoError(t, w.c.AcquireEpoch(w.ctx, 1))
	loop := w.start(1)
	w.waitListed(loop)
	require.EqualValues(t, 2, metricSum(t, loop.reg, "fsa_lifecycle_timers_set_total"), "a timer for idle and expiring, none for never")

	// Nothing due: no write, whatever time passes short of a deadline.
	rev := w.revision()
	w.clk.Step(5 * time.Minute)
	require.NoError(t, w.c.KeepAlive(w.ctx, w.user, idle.ID)) // one write: the deadline moves to 5m+1m+10m
	require.Equal(t, rev+1, w.revision())
	// The old timer (10m) fires: the loop looks, finds nothing due, writes nothing.
	checks := loop.checks(t)
	w.clk.Step(5*time.Minute + time.Second)
	require.Eventually(t, func() bool { return loop.checks(t) > checks }, 10*time.Second, time.Millisecond)
	require.Equal(t, rev+1, w.revision(), "a timer for a moved deadline writes nothing")
	require.Equal(t, fsa.StatusRunning, w.get(idle.ID).Status)

	// The new deadline: stopped with the reason, by one write.
	w.clk.SetTime(lt0.Add(16 * time.Minute))
	require.Eventually(t, func() bool { return w.get(idle.ID).Status == fsa.StatusStopping }, 10*time.Second, time.Millisecond)
	p := w.get(idle.ID)
	last := p.Sandbox.Conditions[len(p.Sandbox.Conditions)-1]
	require.Equal(t, fsa.ReasonIdleTimeout, last.Reason)
	require.Equal(t, lt0.Add(16*time.Minute), last.Time)
	require.Equal(t, rev+2, w.revision(), "one write for the stop")
	require.Equal(t, fsa.StatusRunning, w.get(never.ID).Status)
	require.Equal(t, fsa.StatusRunning, w.get(expiring.ID).Status)

	// A new leader takes over (epoch 2): the old loop is fenced off and stops nothing.
	require.NoError(t, w.c.AcquireEpoch(w.ctx, 2))
	w.clk.SetTime(at)
	select {
	case err := <-loop.done:
		require.ErrorIs(t, err, fsa.ErrFenced)
		loop.done <- err // for the cleanup
	case <-w.ctx.Done():
		t.Fatal("the deposed loop did not stop")
	}
	require.Equal(t, fsa.StatusRunning, w.get(expiring.ID).Status, "a deposed leader deletes nothing")

	// The new leader's loop, started after the deadline, deletes it at once, once.
	loop2 := w.start(2)
	require.Eventually(t, func() bool { return w.get(expiring.ID).Status == fsa.StatusTerminating }, 10*time.Second, time.Millisecond)
	p = w.get(expiring.ID)
	n := 0
	for _, c := range p.Sandbox.Conditions {
		if c.Reason == fsa.ReasonExpired {
			n++
		}
	}
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return metricSum(t, loop2.reg, "fsa_lifecycle_actions_total") == 1 }, 10*time.Second, time.Millisecond)
}

func TestLifecycleLoopAutoDelete(t *testing.T) {
	w := newLifecycleWorld(t)
	p := w.running("ad", fsa.LifecyclePolicy{DeleteStoppedAfter: durp(time.Hour)})
	require.NoError(t, w.c.AcquireEpoch(w.ctx, 1))
	w.waitListed(w.start(1))
	// Stopped while the loop runs: the change feed sets the timer.
	_, err := w.c.StopProject(w.ctx, w.user, p.ID)
	require.NoError(t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		_, err = w.c.Record(w.ctx, 1, k, p.Child(k).Common().ID, fsa.Observation{Status: fsa.StatusStopped})
		require.NoError(t, err)
	}
	d, ok := w.get(p.ID).NextDue()
	require.True(t, ok)
	require.Equal(t, lt0.Add(time.Hour), d.At)
	w.clk.Step(time.Hour)
	require.Eventually(t, func() bool { return w.get(p.ID).Status == fsa.StatusTerminating }, 10*time.Second, time.Millisecond)
	require.Equal(t, fsa.ReasonStoppedTooLong, w.get(p.ID).Sandbox.Conditions[len(w.get(p.ID).Sandbox.Conditions)-1].Reason)
}

func durp(d time.Duration) *time.Duration { return &d }

func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
