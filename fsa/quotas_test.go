package fsa_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

func TestProjectLimitUnderConcurrency(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st)
		c := e.client(fsa.WithDefaultLimits(fsa.Limits{Projects: 5}))
		for i := 0; i < 4; i++ {
			_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("p", i)})
			require.NoError(t, err)
		}
		// 50 concurrent creations one below the limit: exactly one succeeds, the others are
		// told which limit and what use.
		const n = 50
		errs := make(chan error, n)
		var start sync.WaitGroup
		start.Add(1)
		for i := 0; i < n; i++ {
			go func() {
				start.Wait()
				_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("race-", i)})
				errs <- err
			}()
		}
		start.Done()
		wins := 0
		for i := 0; i < n; i++ {
			err := <-errs
			if err == nil {
				wins++
				continue
			}
			require.ErrorIs(t, err, fsa.ErrResourceExhausted)
			require.Contains(t, err.Error(), "you have 5 projects and may have 5")
		}
		require.Equal(t, 1, wins)
		q, err := c.Quota(e.ctx, e.alice.ID)
		require.NoError(t, err)
		assert.Equal(t, fsa.Quota{Limits: fsa.Limits{Projects: 5}, Usage: builtinUse(5, 5)}, *q)
	})
}

func TestRunningLimitAndUseFollowActions(t *testing.T) {
	e := newEnv(t)
	c := e.client(fsa.WithDefaultLimits(fsa.Limits{Projects: 3, Running: 2}))
	ps := make([]*fsa.Project, 2)
	for i := range ps {
		var err error
		ps[i], err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("p", i)})
		require.NoError(t, err)
	}
	before := e.revision()
	_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "third"})
	require.ErrorIs(t, err, fsa.ErrResourceExhausted, "a new project runs: over the running limit")
	require.Contains(t, err.Error(), "2 of your projects are running and 2 may run")
	require.Equal(t, before, e.revision(), "nothing stored")

	// Stopping frees a running slot; starting takes it again.
	e.observe(ps[0], fsa.StatusRunning)
	_, err = c.StopProject(e.ctx, e.alice.ID, ps[0].ID)
	require.NoError(t, err)
	p3, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "third"})
	require.NoError(t, err)
	e.observe(ps[0], fsa.StatusStopped)
	_, err = c.StartProject(e.ctx, e.alice.ID, ps[0].ID)
	require.ErrorIs(t, err, fsa.ErrResourceExhausted)
	q, err := c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Equal(t, builtinUse(3, 2), q.Usage)

	// Deleting frees both.
	_, err = c.DeleteProject(e.ctx, e.alice.ID, p3.ID)
	require.NoError(t, err)
	q, err = c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Equal(t, builtinUse(2, 1), q.Usage)
	_, err = c.StartProject(e.ctx, e.alice.ID, ps[0].ID)
	require.NoError(t, err)

	// Other users are not limited by alice's use.
	_, err = c.CreateProject(e.ctx, e.bob.ID, fsa.ProjectSpec{Name: "p0"})
	require.NoError(t, err)
}

func TestSetUserLimits(t *testing.T) {
	e := newEnv(t)
	c := e.client(fsa.WithDefaultLimits(fsa.Limits{Projects: 1}))
	_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "one"})
	require.NoError(t, err)
	_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "two"})
	require.ErrorIs(t, err, fsa.ErrResourceExhausted)

	// An admin raises alice's own limit.
	q, err := c.SetUserLimits(e.ctx, e.alice.ID, &fsa.Limits{Projects: 2})
	require.NoError(t, err)
	assert.Equal(t, fsa.Quota{Limits: fsa.Limits{Projects: 2}, Custom: true, Usage: builtinUse(1, 1)}, *q)
	_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "two"})
	require.NoError(t, err)

	// Bad limits: nothing stored.
	before := e.revision()
	for name, l := range map[string]fsa.Limits{
		"negative":       {Projects: -1},
		"absurd":         {Running: 1 << 40},
		"below projects": {Projects: 1},
		"below running":  {Running: 1},
	} {
		_, err := c.SetUserLimits(e.ctx, e.alice.ID, &l)
		require.Error(t, err, name)
		require.True(t, errors.Is(err, fsa.ErrInvalidArgument) || errors.Is(err, fsa.ErrFailedPrecondition), "%s: %v", name, err)
	}
	_, err = c.SetUserLimits(e.ctx, "", nil)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	_, err = c.SetUserLimits(e.ctx, "nobody", nil)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	require.Equal(t, before, e.revision())

	// Back to the defaults while over them (two projects, default limit one): refused like any
	// lowering below the use, naming the limit and the use, nothing stored.
	before = e.revision()
	_, err = c.SetUserLimits(e.ctx, e.alice.ID, nil)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "default limit projects = 1 is below the user's current use, 2")
	require.Equal(t, before, e.revision())
	q, err = c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.True(t, q.Custom, "still on her own limits")
	assert.Equal(t, fsa.Limits{Projects: 2}, q.Limits)

	// Once she holds no more than the defaults allow, back to the defaults.
	list, err := c.ListProjects(e.ctx, e.alice.ID)
	require.NoError(t, err)
	_, err = c.DeleteProject(e.ctx, e.alice.ID, list.Items[0].ID)
	require.NoError(t, err)
	q, err = c.SetUserLimits(e.ctx, e.alice.ID, nil)
	require.NoError(t, err)
	assert.False(t, q.Custom)
	assert.Equal(t, fsa.Limits{Projects: 1}, q.Limits)
}

// TestUseOfALegacyUser: a user record without recorded use (written before it was kept) is
// counted from the user's projects.
func TestUseOfALegacyUser(t *testing.T) {
	for _, legacy := range []string{"no use", "use without sizes"} {
		t.Run(legacy, func(t *testing.T) { useOfALegacyUser(t, legacy) })
	}
}

func useOfALegacyUser(t *testing.T, legacy string) {
	e := newEnv(t)
	a := e.project("a")
	e.project("b")
	_, err := e.c.StopProject(e.ctx, e.alice.ID, e.observe(a, fsa.StatusRunning).ID)
	require.NoError(t, err)
	gone := e.project("gone")
	_, err = e.c.DeleteProject(e.ctx, e.alice.ID, gone.ID)
	require.NoError(t, err)

	// Drop the recorded use, as in a record of an earlier version.
	var r store.Record
	require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error {
		r, err = s.Get(store.KindUser, e.alice.ID)
		return err
	}))
	var u map[string]any
	require.NoError(t, json.Unmarshal(r.Data, &u))
	require.Contains(t, u, "usage")
	if legacy == "no use" {
		delete(u, "usage")
	} else {
		// Use as kept before sizes: projects and running only, no version.
		u["usage"] = map[string]any{"projects": 2, "running": 1}
	}
	delete(u, "usage_version")
	r.Data, err = json.Marshal(u)
	require.NoError(t, err)
	_, err = e.st.Commit(e.ctx, store.Txn{Conds: []store.Cond{{Kind: r.Kind, ID: r.ID, Version: r.Version}}, Ops: []store.Op{store.Put(r)}})
	require.NoError(t, err)

	c := e.client(fsa.WithDefaultLimits(fsa.Limits{Projects: 3, Running: 1}))
	q, err := c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Equal(t, builtinUse(2, 1), q.Usage)
	_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "c"})
	require.ErrorIs(t, err, fsa.ErrResourceExhausted, "b runs, and the running limit is 1")
}

// builtinUse is the use of projects of BuiltinSize, running of them running.
func builtinUse(projects, running int64) fsa.Usage {
	s := fsa.BuiltinSize
	return fsa.Usage{Projects: int(projects), Running: int(running), CPU: running * (s.CPU + s.DatabaseCPU),
		Memory: running * (s.Memory + s.DatabaseMemory), Storage: projects * (s.Home + s.Database)}
}
