package fsa_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/runtime/ticket"
	"github.com/fullstackagent/fsa/store"
)

func TestCreateProject(t *testing.T) {
	e := newEnv(t)
	before := e.revision()
	p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "My Blog!", Description: "a blog"})
	require.NoError(t, err)
	require.Equal(t, before+1, e.revision(), "one transaction")

	assert.Equal(t, fsa.StatusCreating, p.Status)
	assert.Equal(t, "myblog", p.K8sName)
	require.NotNil(t, p.Sandbox)
	require.NotNil(t, p.Database)
	assert.Equal(t, fsa.StatusCreating, p.Sandbox.Status)
	assert.Equal(t, fsa.StatusRunning, p.Sandbox.Desired)
	assert.Equal(t, fsa.StatusCreating, p.Database.Status)
	assert.Regexp(t, `^myblog-agentruntime-[a-z0-9]{6}$`, p.Sandbox.Name)
	assert.Equal(t, p.Sandbox.Name, p.Database.ClusterName)
	assert.Regexp(t, `^[a-z][a-z0-9]{11}$`, p.Sandbox.AppHostLabel)
	assert.NotEqual(t, p.Sandbox.AppHostLabel, p.Sandbox.TerminalHostLabel)
	require.Len(t, p.Sandbox.Conditions, 1)
	assert.Equal(t, fsa.StatusCreating, p.Sandbox.Conditions[0].To)

	got, err := e.c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.Sandbox.ID, got.Sandbox.ID)
	assert.Equal(t, p.Version, got.Version)

	// The terminal token: generated, 32 bytes of entropy, secret, never shown to the user.
	vars, err := e.c.RuntimeEnv(e.ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, vars, 1)
	tok := vars[0]
	assert.Equal(t, fsa.EnvTTYDAccessToken, tok.Key)
	assert.NoError(t, ticket.CheckToken(tok.Value), "a strong token")
	assert.Len(t, tok.Value, 43)
	assert.Equal(t, fsa.CategoryTTYD, tok.Category)
	assert.True(t, tok.Secret)
	listed, err := e.c.ListEnv(e.ctx, e.alice.ID, p.ID, true)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.Empty(t, listed[0].Value, "the terminal token is withheld even when secrets are revealed")
	assert.True(t, listed[0].Redacted)

	p2 := e.project("my blog!")
	vars2, err := e.c.RuntimeEnv(e.ctx, p2.ID)
	require.NoError(t, err)
	assert.NotEqual(t, tok.Value, vars2[0].Value, "each project gets its own token")
	assert.NotEqual(t, p.Sandbox.Name, p2.Sandbox.Name)
}

func TestProjectScoping(t *testing.T) {
	e := newEnv(t)
	p := e.project("alice app")
	_, err := e.c.GetProject(e.ctx, e.bob.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	for name, act := range map[string]func(string, string) error{
		"start":  func(u, id string) error { _, err := e.c.StartProject(e.ctx, u, id); return err },
		"stop":   func(u, id string) error { _, err := e.c.StopProject(e.ctx, u, id); return err },
		"delete": func(u, id string) error { _, err := e.c.DeleteProject(e.ctx, u, id); return err },
		"env":    func(u, id string) error { _, err := e.c.ListEnv(e.ctx, u, id, true); return err },
		"setenv": func(u, id string) error {
			_, err := e.c.SetEnv(e.ctx, u, id, fsa.EnvSpec{Key: "A", Value: "b"})
			return err
		},
		"explain": func(u, id string) error {
			_, err := e.c.Explain(e.ctx, u, id)
			return err
		},
	} {
		before := e.revision()
		require.ErrorIs(t, act(e.bob.ID, p.ID), fsa.ErrNotFound, name)
		require.Equal(t, before, e.revision(), "%s as another user must store nothing", name)
	}
	bl, err := e.c.ListProjects(e.ctx, e.bob.ID)
	require.NoError(t, err)
	assert.Empty(t, bl.Items)
	al, err := e.c.ListProjects(e.ctx, e.alice.ID)
	require.NoError(t, err)
	require.Len(t, al.Items, 1)
	assert.Equal(t, e.revision(), al.Revision)
}

func TestLifecycleActions(t *testing.T) {
	e := newEnv(t)
	p := e.project("life")

	// CREATING allows only delete.
	_, err := e.c.StartProject(e.ctx, e.alice.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition)
	_, err = e.c.StopProject(e.ctx, e.alice.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition)

	// Reconcile reports both children running.
	p = e.observe(p, fsa.StatusRunning)
	require.Equal(t, fsa.StatusRunning, p.Status)
	_, err = e.c.StartProject(e.ctx, e.alice.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "RUNNING does not accept start")

	p, err = e.c.StopProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusStopping, p.Status)
	assert.Equal(t, fsa.StatusStopping, p.Sandbox.Status)
	assert.Equal(t, fsa.StatusStopped, p.Sandbox.Desired)
	assert.Equal(t, fsa.StatusStopping, p.Database.Status)

	// STOPPING accepts start again.
	p, err = e.c.StartProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusStarting, p.Status)
	p, err = e.c.StopProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	p = e.observe(p, fsa.StatusStopped)
	require.Equal(t, fsa.StatusStopped, p.Status)

	p, err = e.c.StartProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	require.Equal(t, fsa.StatusStarting, p.Status)
	p = e.observe(p, fsa.StatusRunning)

	p, err = e.c.DeleteProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	require.Equal(t, fsa.StatusTerminating, p.Status)
	for _, act := range []func() error{
		func() error { _, err := e.c.DeleteProject(e.ctx, e.alice.ID, p.ID); return err },
		func() error { _, err := e.c.StartProject(e.ctx, e.alice.ID, p.ID); return err },
		func() error { _, err := e.c.SetEnv(e.ctx, e.alice.ID, p.ID, fsa.EnvSpec{Key: "A"}); return err },
	} {
		require.ErrorIs(t, act(), fsa.ErrFailedPrecondition, "TERMINATING accepts nothing")
	}

	// Terminated children remove the project and everything it owns.
	cur, err := e.c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	out, err := e.c.Record(e.ctx, 0, fsa.ResourceSandbox, cur.Sandbox.ID, fsa.Observation{Status: fsa.StatusTerminated})
	require.NoError(t, err)
	require.Equal(t, fsa.StatusTerminating, out.Status, "sandbox gone, database still terminating")
	out, err = e.c.Record(e.ctx, 0, fsa.ResourceDatabase, cur.Database.ID, fsa.Observation{Status: fsa.StatusTerminated})
	require.NoError(t, err)
	require.Equal(t, fsa.StatusTerminated, out.Status)
	_, err = e.c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error {
		for _, k := range []store.Kind{store.KindSandbox, store.KindDatabase, store.KindEnvVar} {
			rs, err := s.List(k, store.Filter{Parent: p.ID})
			require.NoError(t, err)
			require.Empty(t, rs, "%s records left behind", k)
		}
		return nil
	}))
}

func TestRecordRules(t *testing.T) {
	e := newEnv(t)
	p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "rec", PublicApp: true})
	require.NoError(t, err)
	sb := p.Sandbox

	// An observation based on an old version never overwrites newer intent.
	out, err := e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Version: sb.Version, Status: fsa.StatusStarting, Reason: "Applied", AppURL: "https://a.example"})
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusStarting, out.Sandbox.Status)
	assert.Equal(t, "https://a.example", out.Sandbox.AppURL)
	assert.Equal(t, fsa.StatusCreating, out.Status, "database still creating")
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Version: sb.Version, Status: fsa.StatusRunning})
	require.ErrorIs(t, err, fsa.ErrConflict)

	// Nothing changed: nothing written.
	before := e.revision()
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Status: fsa.StatusStarting, Reason: "Applied"})
	require.NoError(t, err)
	require.Equal(t, before, e.revision(), "an unchanged observation must not write")

	// TERMINATED only when deletion was asked for.
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Status: fsa.StatusTerminated})
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition)

	// ERROR carries its reason into the timeline and Explain.
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Status: fsa.StatusError, Reason: "CrashLoopBackOff", Message: "back-off restarting"})
	require.NoError(t, err)
	ex, err := e.c.Explain(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusError, ex.Project.Status)
	require.Len(t, ex.Children, 2)
	assert.Equal(t, fsa.StatusRunning, ex.Children[0].Desired)
	assert.Equal(t, fsa.StatusError, ex.Children[0].Observed)
	assert.Equal(t, "CrashLoopBackOff: back-off restarting", ex.Children[0].LastError)
	assert.Contains(t, ex.Children[0].NextAction, "retry")
	conds := ex.Children[0].Conditions
	require.Len(t, conds, 3)
	assert.Equal(t, []fsa.Status{fsa.StatusCreating, fsa.StatusStarting, fsa.StatusError}, []fsa.Status{conds[0].To, conds[1].To, conds[2].To})
	assert.Equal(t, fsa.StatusStarting, conds[2].From)
	assert.True(t, conds[1].Time.Before(conds[2].Time))

	// Recovery leaves ERROR.
	out, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Status: fsa.StatusRunning})
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusRunning, out.Sandbox.Status)
	assert.Empty(t, out.Sandbox.Reason)

	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, sb.ID, fsa.Observation{Status: fsa.StatusPartial})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, "nosuchsandbox", fsa.Observation{Status: fsa.StatusRunning})
	require.ErrorIs(t, err, fsa.ErrNotFound)
}

func TestFencedRecord(t *testing.T) {
	e := newEnv(t)
	p := e.project("fence")
	require.NoError(t, e.c.AcquireEpoch(e.ctx, 3))
	_, err := e.c.Record(e.ctx, 3, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Status: fsa.StatusStarting})
	require.NoError(t, err)
	require.NoError(t, e.c.AcquireEpoch(e.ctx, 4), "a new leader takes over")
	before := e.revision()
	_, err = e.c.Record(e.ctx, 3, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Status: fsa.StatusRunning})
	require.ErrorIs(t, err, fsa.ErrFenced, "the deposed leader's write is rejected")
	require.Equal(t, before, e.revision())
	require.ErrorIs(t, e.c.AcquireEpoch(e.ctx, 4), fsa.ErrFenced)
	ep, err := e.c.Epoch(e.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(4), ep)
}

func TestWatch(t *testing.T) {
	e := newEnv(t)
	start := e.revision()
	w, err := e.c.Watch(e.ctx, e.alice.ID, start)
	require.NoError(t, err)
	all, err := e.c.Watch(e.ctx, "", start)
	require.NoError(t, err)

	_, err = e.c.CreateProject(e.ctx, e.bob.ID, fsa.ProjectSpec{Name: "bob's"})
	require.NoError(t, err)
	p := e.project("alice's")

	ev, err := w.Next()
	require.NoError(t, err)
	require.Equal(t, start+2, ev.Revision, "bob's transaction is skipped for alice")
	kinds := map[fsa.ResourceKind]int{}
	for _, ch := range ev.Changes {
		kinds[ch.Kind]++
		if ch.Env != nil {
			assert.Empty(t, ch.Env.Value, "the watch stream never carries env values")
		}
		if ch.Project != nil {
			assert.Equal(t, p.ID, ch.Project.ID)
		}
	}
	assert.Equal(t, map[fsa.ResourceKind]int{fsa.ResourceProject: 1, fsa.ResourceSandbox: 1, fsa.ResourceDatabase: 1, fsa.ResourceEnv: 1}, kinds)
	assert.Equal(t, start+2, w.Revision())

	ev, err = all.Next()
	require.NoError(t, err)
	assert.Equal(t, start+1, ev.Revision, "an unscoped watch sees every user")
}

// With EveryRevision a watcher returns the transactions it cannot see too, without changes,
// so its caller knows every revision it consumed.
func TestWatchEveryRevision(t *testing.T) {
	e := newEnv(t)
	e.project("first") // the store's first creation also records that its names are indexed
	start := e.revision()
	w, err := e.c.Watch(e.ctx, e.alice.ID, start, fsa.EveryRevision())
	require.NoError(t, err)
	_, err = e.c.CreateProject(e.ctx, e.bob.ID, fsa.ProjectSpec{Name: "bob's"})
	require.NoError(t, err)
	p := e.project("alice's")

	ev, err := w.Next()
	require.NoError(t, err)
	assert.Equal(t, fsa.WatchEvent{Revision: start + 1}, ev, "bob's transaction, nothing of it visible")
	assert.Equal(t, start+1, w.Revision())
	ev, err = w.Next()
	require.NoError(t, err)
	assert.Equal(t, start+2, ev.Revision)
	assert.Len(t, ev.Changes, 4, "alice's project, sandbox, database and terminal token")
	assert.Equal(t, p.Version, ev.Revision)
}

// staleStore answers ViewStale (as raftstore does on any node) from a snapshot taken earlier.
type staleStore struct {
	store.Store
	stale int64
}

func (s staleStore) ViewStale(_ context.Context, fn func(store.Snapshot) error) error {
	return fn(staleSnapshot{s.stale})
}

type staleSnapshot struct{ rev int64 }

func (s staleSnapshot) Revision() int64 { return s.rev }
func (staleSnapshot) Get(store.Kind, string) (store.Record, error) {
	return store.Record{}, store.ErrNotFound
}
func (staleSnapshot) List(store.Kind, store.Filter) ([]store.Record, error) { return nil, nil }
func (staleSnapshot) Epoch() uint64                                         { return 0 }

// LocalRevision reads the node's local state where the store has one (ViewStale), else the
// store's revision.
func TestLocalRevision(t *testing.T) {
	e := newEnv(t)
	e.project("p")
	got, err := e.c.LocalRevision(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, e.revision(), got)

	local := fsa.New(staleStore{Store: e.st, stale: 2})
	got, err = local.LocalRevision(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got, "this node's local state, not the leader's")
}
