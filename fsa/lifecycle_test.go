package fsa_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// setClock is a clock the test sets: the lifecycle policies are judged against it.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *setClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *setClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func dur(d time.Duration) *time.Duration { return &d }

// lifecycleEnv is the SDK test environment with a client on a settable clock.
func lifecycleEnv(t *testing.T, st store.Store, d fsa.LifecycleDefaults) (*env, *fsa.Client, *setClock) {
	e := newEnvOn(t, st)
	clk := &setClock{t: t0}
	return e, e.client(fsa.WithClock(clk.Now), fsa.WithLifecycleDefaults(d)), clk
}

// lastReason returns the reason of the last entry of the sandbox's timeline.
func lastCondition(p *fsa.Project) fsa.Condition {
	cs := p.Sandbox.Conditions
	return cs[len(cs)-1]
}

func countReason(p *fsa.Project, reason string) int {
	n := 0
	for _, c := range p.Sandbox.Conditions {
		if c.Reason == reason {
			n++
		}
	}
	return n
}

func TestIdleStop(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e, c, clk := lifecycleEnv(t, st, fsa.LifecycleDefaults{ActivityInterval: time.Minute})
		p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "idle", Lifecycle: fsa.LifecyclePolicy{IdleTimeout: dur(30 * time.Minute)}})
		require.NoError(t, err)
		require.Equal(t, 30*time.Minute, p.Lifecycle.IdleTimeout)
		p = e.observe(p, fsa.StatusRunning)
		d, ok := p.NextDue()
		require.True(t, ok)
		require.Equal(t, fsa.Due{At: t0.Add(30 * time.Minute), Action: fsa.LifecycleStop, Reason: fsa.ReasonIdleTimeout}, d)
		require.NoError(t, c.AcquireEpoch(e.ctx, 7))

		// Not due: nothing written, the next deadline returned.
		clk.set(t0.Add(10 * time.Minute))
		rev := e.revision()
		en, err := c.EnforceLifecycle(e.ctx, 7, p.ID)
		require.NoError(t, err)
		require.True(t, en.HasNext)
		require.False(t, en.Acted)
		require.Equal(t, t0.Add(30*time.Minute), en.Next.At)
		require.Equal(t, rev, e.revision(), "nothing due: no write")

		// Activity moves the deadline, written at most once per interval.
		require.NoError(t, c.KeepAlive(e.ctx, e.alice.ID, p.ID))
		require.Equal(t, rev+1, e.revision(), "first activity after the interval: one write")
		for i := 0; i < 5; i++ {
			clk.add(10 * time.Second)
			require.NoError(t, c.KeepAlive(e.ctx, e.alice.ID, p.ID))
		}
		require.Equal(t, rev+1, e.revision(), "activity within the interval: no write")
		// Another client (another fsad node) with no memory of it writes nothing either.
		other := e.client(fsa.WithClock(clk.Now), fsa.WithLifecycleDefaults(fsa.LifecycleDefaults{ActivityInterval: time.Minute}))
		require.NoError(t, other.KeepAlive(e.ctx, e.alice.ID, p.ID))
		require.Equal(t, rev+1, e.revision(), "the stored activity coalesces across clients")
		p, err = c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		d, _ = p.NextDue()
		deadline := t0.Add(10*time.Minute + time.Minute + 30*time.Minute)
		require.Equal(t, deadline, d.At, "ActiveAt + interval + limit: never before the limit after the last call")

		// A deposed leader's enforcement is refused, with nothing written.
		clk.set(deadline)
		rev = e.revision()
		_, err = c.EnforceLifecycle(e.ctx, 6, p.ID)
		require.ErrorIs(t, err, fsa.ErrFenced)
		require.Equal(t, rev, e.revision())

		// One millisecond early: nothing. At the deadline: stopped once, with the reason.
		clk.set(deadline.Add(-time.Millisecond))
		_, err = c.EnforceLifecycle(e.ctx, 7, p.ID)
		require.NoError(t, err)
		require.Equal(t, rev, e.revision())
		clk.set(deadline)
		en, err = c.EnforceLifecycle(e.ctx, 7, p.ID)
		require.NoError(t, err)
		require.True(t, en.Acted)
		require.Equal(t, deadline, en.Done.At)
		require.False(t, en.HasNext, "stopping: nothing further due")
		p, err = c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		require.Equal(t, fsa.StatusStopping, p.Status)
		require.Equal(t, fsa.StatusStopped, p.Sandbox.Desired)
		require.Equal(t, fsa.ReasonIdleTimeout, lastCondition(p).Reason)
		require.Equal(t, fsa.ReasonIdleTimeout, p.Database.Conditions[len(p.Database.Conditions)-1].Reason)

		// Enforcing again (a new leader after a failover) stops nothing twice.
		rev = e.revision()
		clk.add(time.Hour)
		_, err = c.EnforceLifecycle(e.ctx, 7, p.ID)
		require.NoError(t, err)
		require.Equal(t, rev, e.revision())
		p = e.observe(p, fsa.StatusStopped)
		require.Equal(t, 1, countReason(p, fsa.ReasonIdleTimeout))
		_, ok = p.NextDue()
		require.False(t, ok, "a stopped project has no idle deadline")
		// Keep-alive on a stopped project writes nothing.
		rev = e.revision()
		require.NoError(t, c.KeepAlive(e.ctx, e.alice.ID, p.ID))
		require.Equal(t, rev, e.revision())

		// Start brings it back with a fresh idle deadline.
		now := clk.add(time.Minute)
		p, err = c.StartProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		d, ok = p.NextDue()
		require.True(t, ok)
		require.Equal(t, now.Add(30*time.Minute), d.At)
	})
}

func TestIdleDefaults(t *testing.T) {
	e, c, _ := lifecycleEnv(t, memStore(t), fsa.LifecycleDefaults{IdleTimeout: time.Hour, DeleteStoppedAfter: 48 * time.Hour})
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "fsad default"})
	require.NoError(t, err)
	require.Equal(t, time.Hour, p.Lifecycle.IdleTimeout)
	require.Equal(t, 48*time.Hour, p.Lifecycle.DeleteStoppedAfter)

	_, err = c.SetUserConfig(e.ctx, e.alice.ID, fsa.UserConfig{Key: fsa.ConfigIdleTimeout, Value: "15m"})
	require.NoError(t, err)
	_, err = c.SetUserConfig(e.ctx, e.alice.ID, fsa.UserConfig{Key: fsa.ConfigDeleteStoppedAfter, Value: "0"})
	require.NoError(t, err)
	p, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "user default"})
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, p.Lifecycle.IdleTimeout)
	require.Zero(t, p.Lifecycle.DeleteStoppedAfter)

	p, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "own", Lifecycle: fsa.LifecyclePolicy{IdleTimeout: dur(0)}})
	require.NoError(t, err)
	require.Zero(t, p.Lifecycle.IdleTimeout, "0: never, whatever the defaults")
	_, ok := p.NextDue()
	require.False(t, ok)

	for _, v := range []string{"-5m", "soon", "9000h"} {
		rev := e.revision()
		_, err = c.SetUserConfig(e.ctx, e.alice.ID, fsa.UserConfig{Key: fsa.ConfigIdleTimeout, Value: v})
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, v)
		require.Equal(t, rev, e.revision(), "nothing stored for %q", v)
	}
}

// TestUserLifecycleDefaults: a user reads and sets their own default policies; the chain is
// the project's own, else the user's, else the client's; bad values store nothing.
func TestUserLifecycleDefaults(t *testing.T) {
	e, c, _ := lifecycleEnv(t, memStore(t), fsa.LifecycleDefaults{IdleTimeout: time.Hour, DeleteStoppedAfter: 48 * time.Hour})
	d, err := c.UserLifecycleDefaults(e.ctx, e.alice.ID)
	require.NoError(t, err)
	require.Equal(t, fsa.UserLifecycleDefaults{IdleTimeout: time.Hour, DeleteStoppedAfter: 48 * time.Hour,
		Defaults: fsa.LifecycleDefaults{IdleTimeout: time.Hour, DeleteStoppedAfter: 48 * time.Hour}}, *d)

	idle, never := "15m", "0"
	d, err = c.SetUserLifecycleDefaults(e.ctx, e.alice.ID, &idle, &never)
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, d.IdleTimeout)
	require.Equal(t, dur(15*time.Minute), d.UserIdleTimeout)
	require.Zero(t, d.DeleteStoppedAfter)
	require.Equal(t, dur(0), d.UserDeleteStoppedAfter, "0 is a setting: never")
	require.Equal(t, time.Hour, d.Defaults.IdleTimeout)
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "user default"})
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, p.Lifecycle.IdleTimeout)
	require.Zero(t, p.Lifecycle.DeleteStoppedAfter)
	p, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "own", Lifecycle: fsa.LifecyclePolicy{IdleTimeout: dur(2 * time.Hour)}})
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, p.Lifecycle.IdleTimeout, "the project's own policy first")

	// Other users keep the client's defaults.
	d, err = c.UserLifecycleDefaults(e.ctx, e.bob.ID)
	require.NoError(t, err)
	require.Nil(t, d.UserIdleTimeout)
	require.Equal(t, time.Hour, d.IdleTimeout)

	// Bad values: nothing stored, the settings as they were (one bad value spoils both).
	for _, v := range []string{"-5m", "soon", "2161h", "30"} {
		rev := e.revision()
		_, err = c.SetUserLifecycleDefaults(e.ctx, e.alice.ID, &v, nil)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, v)
		if v != "2161h" { // over the idle limit's maximum, not the auto-delete's
			_, err = c.SetUserLifecycleDefaults(e.ctx, e.alice.ID, &idle, &v)
			require.ErrorIs(t, err, fsa.ErrInvalidArgument, v)
		}
		require.Equal(t, rev, e.revision(), "nothing stored for %q", v)
	}
	tooLong := (fsa.MaxDeleteStoppedAfter + time.Hour).String()
	_, err = c.SetUserLifecycleDefaults(e.ctx, e.alice.ID, nil, &tooLong)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	_, err = c.SetUserLifecycleDefaults(e.ctx, "nobody", &idle, nil)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	_, err = c.UserLifecycleDefaults(e.ctx, "a/b")
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)

	// An empty value removes the setting: the client's default again; nil leaves one alone.
	empty := ""
	d, err = c.SetUserLifecycleDefaults(e.ctx, e.alice.ID, &empty, nil)
	require.NoError(t, err)
	require.Nil(t, d.UserIdleTimeout)
	require.Equal(t, time.Hour, d.IdleTimeout)
	require.Equal(t, dur(0), d.UserDeleteStoppedAfter)
}

func TestLifecycleBadInput(t *testing.T) {
	e, c, _ := lifecycleEnv(t, memStore(t), fsa.LifecycleDefaults{})
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "p"})
	require.NoError(t, err)
	past, far := t0.Add(-time.Second), t0.Add(fsa.MaxExpiry+time.Hour)
	for name, pol := range map[string]fsa.LifecyclePolicy{
		"negative idle":        {IdleTimeout: dur(-time.Minute)},
		"absurd idle":          {IdleTimeout: dur(fsa.MaxIdleTimeout + time.Second)},
		"negative auto-delete": {DeleteStoppedAfter: dur(-time.Hour)},
		"expiry in the past":   {ExpireAt: &past},
		"expiry now":           {ExpireAt: &t0},
		"expiry too far":       {ExpireAt: &far},
		"unknown action":       {ExpireAt: &far, ExpireAction: "EXPLODE"},
		"action without time":  {ExpireAction: fsa.LifecycleDelete},
	} {
		t.Run(name, func(t *testing.T) {
			rev := e.revision()
			_, err := c.SetProjectLifecycle(e.ctx, e.alice.ID, p.ID, pol)
			require.ErrorIs(t, err, fsa.ErrInvalidArgument)
			_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "bad " + name, Lifecycle: pol})
			require.ErrorIs(t, err, fsa.ErrInvalidArgument)
			require.Equal(t, rev, e.revision(), "nothing stored")
		})
	}
	rev := e.revision()
	for _, d := range []time.Duration{0, -time.Hour, fsa.MaxExpiry + time.Hour} {
		_, err = c.ExtendProject(e.ctx, e.alice.ID, p.ID, d)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, d)
	}
	_, err = c.ExtendProject(e.ctx, e.alice.ID, p.ID, time.Hour)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "no expiry to extend")
	// Another user's project is not found.
	_, err = c.SetProjectLifecycle(e.ctx, e.bob.ID, p.ID, fsa.LifecyclePolicy{IdleTimeout: dur(time.Hour)})
	require.ErrorIs(t, err, fsa.ErrNotFound)
	_, err = c.ExtendProject(e.ctx, e.bob.ID, p.ID, time.Hour)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	require.ErrorIs(t, c.KeepAlive(e.ctx, e.bob.ID, p.ID), fsa.ErrNotFound)
	require.Equal(t, rev, e.revision(), "nothing stored")
}

func TestExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e, c, clk := lifecycleEnv(t, st, fsa.LifecycleDefaults{})
		p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "exp"})
		require.NoError(t, err)
		p = e.observe(p, fsa.StatusRunning)
		at := t0.Add(2 * time.Hour)
		p, err = c.SetProjectLifecycle(e.ctx, e.alice.ID, p.ID, fsa.LifecyclePolicy{ExpireAt: &at})
		require.NoError(t, err)
		require.Equal(t, fsa.LifecycleStop, p.Lifecycle.ExpireAction, "stop by default")
		clk.set(t0.Add(90 * time.Minute))
		p, err = c.ExtendProject(e.ctx, e.alice.ID, p.ID, time.Hour)
		require.NoError(t, err)
		require.Equal(t, at.Add(time.Hour), p.Lifecycle.ExpireAt)

		// Made a delete: announced in the timeline with its time.
		p, err = c.SetProjectLifecycle(e.ctx, e.alice.ID, p.ID, fsa.LifecyclePolicy{ExpireAt: &p.Lifecycle.ExpireAt, ExpireAction: fsa.LifecycleDelete})
		require.NoError(t, err)
		got, err := c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		cnd := lastCondition(got)
		require.Equal(t, fsa.ReasonDeletionScheduled, cnd.Reason)
		require.Contains(t, cnd.Message, at.Add(time.Hour).Format(time.RFC3339))

		clk.set(at.Add(time.Hour))
		en, err := c.EnforceLifecycle(e.ctx, 0, p.ID)
		require.NoError(t, err)
		require.True(t, en.Acted)
		require.False(t, en.HasNext)
		got, err = c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		require.Equal(t, fsa.StatusTerminating, got.Status)
		require.Equal(t, fsa.ReasonExpired, lastCondition(got).Reason)
		require.False(t, got.Sandbox.Purge, "the data is kept")
		// The name is free at once, as with DeleteProject.
		_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "exp"})
		require.NoError(t, err)
	})
}

func TestAutoDeleteStopped(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e, c, clk := lifecycleEnv(t, st, fsa.LifecycleDefaults{})
		p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "ad", Lifecycle: fsa.LifecyclePolicy{DeleteStoppedAfter: dur(24 * time.Hour)}})
		require.NoError(t, err)
		p = e.observe(p, fsa.StatusRunning)
		_, ok := p.NextDue()
		require.False(t, ok, "running: no auto-delete")
		clk.set(t0.Add(time.Hour))
		_, err = c.StopProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		// The observation that makes it STOPPED announces the deletion (the test's observe
		// runs on the environment's own clock: read the time from the timeline).
		p = e.observe(p, fsa.StatusStopped)
		d, ok := p.NextDue()
		require.True(t, ok)
		require.Equal(t, fsa.ReasonStoppedTooLong, d.Reason)
		require.Equal(t, fsa.LifecycleDelete, d.Action)
		got, err := c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		require.Equal(t, 1, countReason(got, fsa.ReasonDeletionScheduled)+countReasonDB(got, fsa.ReasonDeletionScheduled))
		require.Equal(t, fsa.ReasonDeletionScheduled, lastConditionDB(got).Reason)
		require.Contains(t, lastConditionDB(got).Message, d.At.Format(time.RFC3339))

		rev := e.revision()
		clk.set(d.At.Add(-time.Second))
		_, err = c.EnforceLifecycle(e.ctx, 0, p.ID)
		require.NoError(t, err)
		require.Equal(t, rev, e.revision())
		clk.set(d.At)
		_, err = c.EnforceLifecycle(e.ctx, 0, p.ID)
		require.NoError(t, err)
		got, err = c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		require.Equal(t, fsa.StatusTerminating, got.Status)
		require.Equal(t, fsa.ReasonStoppedTooLong, lastCondition(got).Reason)
	})
}

func lastConditionDB(p *fsa.Project) fsa.Condition {
	cs := p.Database.Conditions
	return cs[len(cs)-1]
}

func countReasonDB(p *fsa.Project, reason string) int {
	n := 0
	for _, c := range p.Database.Conditions {
		if c.Reason == reason {
			n++
		}
	}
	return n
}

func memStore(t *testing.T) store.Store {
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestEnforceBatch: deadlines of several projects of one user, enforced in one transaction:
// each stopped once, the user's running count down by all of them, and one store write.
func TestEnforceBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e, c, clk := lifecycleEnv(t, st, fsa.LifecycleDefaults{})
		var ids []string
		for _, name := range []string{"a", "b", "c"} {
			p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: name, Lifecycle: fsa.LifecyclePolicy{IdleTimeout: dur(time.Minute)}})
			require.NoError(t, err)
			e.observe(p, fsa.StatusRunning)
			ids = append(ids, p.ID)
		}
		never, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "never", Lifecycle: fsa.LifecyclePolicy{IdleTimeout: dur(0)}})
		require.NoError(t, err)
		q, err := c.Quota(e.ctx, e.alice.ID)
		require.NoError(t, err)
		require.Equal(t, 4, q.Usage.Running)

		clk.add(time.Minute)
		rev := e.revision()
		ens, err := c.EnforceLifecycles(e.ctx, 0, append(ids, never.ID, "nosuchproject"))
		require.NoError(t, err)
		require.Equal(t, rev+1, e.revision(), "one write for the batch")
		for i := range ids {
			require.True(t, ens[i].Acted)
			require.Equal(t, fsa.ReasonIdleTimeout, ens[i].Done.Reason)
		}
		require.False(t, ens[3].Acted)
		require.False(t, ens[4].Acted)
		q, err = c.Quota(e.ctx, e.alice.ID)
		require.NoError(t, err)
		require.Equal(t, 1, q.Usage.Running, "the use counts every stop of the batch")

		_, err = c.EnforceLifecycles(e.ctx, 0, nil)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	})
}
