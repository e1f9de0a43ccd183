package fsa_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// lagStore is a store whose leader-local reads (ViewLeaderLocal, as on raftstore) come from a
// replica that applies the committed transactions only when the test says so: a leader-local
// read that is as stale as the test wants. View and Commit use the up-to-date store.
type lagStore struct {
	store.Store // up to date: View, Commit, Watch, Close
	replica     *memstore.Store

	mu          sync.Mutex
	pending     []store.Txn // committed, not yet applied to the replica
	views       int         // linearizable Views
	localViews  int         // ViewLeaderLocal calls
	commits     int
	conflicts   int
	replicating bool // apply every commit to the replica at once
}

func newLagStore(t *testing.T) *lagStore {
	t.Helper()
	s := &lagStore{Store: memstore.New(), replica: memstore.New(), replicating: true}
	t.Cleanup(func() { _ = s.Store.Close(); _ = s.replica.Close() })
	return s
}

func (s *lagStore) View(ctx context.Context, fn func(store.Snapshot) error) error {
	s.mu.Lock()
	s.views++
	s.mu.Unlock()
	return s.Store.View(ctx, fn)
}

func (s *lagStore) ViewLeaderLocal(ctx context.Context, fn func(store.Snapshot) error) error {
	s.mu.Lock()
	s.localViews++
	s.mu.Unlock()
	return s.replica.View(ctx, fn)
}

func (s *lagStore) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	rev, err := s.Store.Commit(ctx, txn)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.conflicts++
		}
		return rev, err
	}
	s.pending = append(s.pending, txn)
	if s.replicating {
		return rev, s.catchUpLocked(ctx)
	}
	return rev, nil
}

// pause stops applying commits to the replica; catchUp applies what it missed and resumes.
func (s *lagStore) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replicating = false
}

func (s *lagStore) catchUp(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replicating = true
	return s.catchUpLocked(ctx)
}

func (s *lagStore) catchUpLocked(ctx context.Context) error {
	for _, txn := range s.pending {
		if _, err := s.replica.Commit(ctx, txn); err != nil {
			return err
		}
	}
	s.pending = nil
	return nil
}

// counts returns and resets the counters.
func (s *lagStore) counts() (views, localViews, commits, conflicts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	views, localViews, commits, conflicts = s.views, s.localViews, s.commits, s.conflicts
	s.views, s.localViews, s.commits, s.conflicts = 0, 0, 0, 0
	return
}

type lagEnv struct {
	ctx   context.Context
	st    *lagStore
	c     *fsa.Client
	alice *fsa.User
}

func newLagEnv(t *testing.T) *lagEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st := newLagStore(t)
	clock := &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	c := fsa.New(st, fsa.WithClock(clock.Now))
	alice, err := c.CreateUser(ctx, fsa.UserSpec{Name: "Alice"})
	require.NoError(t, err)
	setKubeconfig(t, ctx, c, alice.ID)
	st.counts()
	return &lagEnv{ctx: ctx, st: st, c: c, alice: alice}
}

// A write on a store with leader-local reads builds its transaction without a linearizable
// read when nothing is stale: one local read, one commit.
func TestLeaderLocalCreateProjectNeedsNoLinearizableRead(t *testing.T) {
	e := newLagEnv(t)
	_, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "web"})
	require.NoError(t, err)
	views, local, commits, conflicts := e.st.counts()
	require.Equal(t, 0, views, "linearizable views")
	require.Equal(t, 1, local, "leader-local views")
	require.Equal(t, 1, commits)
	require.Equal(t, 0, conflicts)
}

// A stale leader-local read never changes an outcome: the transaction's conditions turn it
// into a conflict, and outcomes that commit nothing are decided on a linearizable read.
func TestLeaderLocalStaleReadKeepsSemantics(t *testing.T) {
	tests := []struct {
		name string
		key  string // idempotency key of the call under test
		// before runs with the replica up to date; stale runs after it stopped following.
		before, stale func(t *testing.T, e *lagEnv) *fsa.Project
		check         func(t *testing.T, e *lagEnv, first *fsa.Project, p *fsa.Project, err error)
	}{
		{
			name: "name taken since the stale read: already exists",
			stale: func(t *testing.T, e *lagEnv) *fsa.Project {
				p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "web"})
				require.NoError(t, err)
				return p
			},
			check: func(t *testing.T, e *lagEnv, _ *fsa.Project, _ *fsa.Project, err error) {
				require.ErrorIs(t, err, fsa.ErrAlreadyExists)
			},
		},
		{
			name: "name freed since the stale read: created",
			before: func(t *testing.T, e *lagEnv) *fsa.Project {
				p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "web"})
				require.NoError(t, err)
				return p
			},
			stale: func(t *testing.T, e *lagEnv) *fsa.Project {
				// The first "web" is deleted; the replica still shows it alive.
				projects, err := e.c.ListProjects(e.ctx, e.alice.ID)
				require.NoError(t, err)
				_, err = e.c.DeleteProject(e.ctx, e.alice.ID, projects.Items[0].ID)
				require.NoError(t, err)
				return nil
			},
			check: func(t *testing.T, e *lagEnv, _ *fsa.Project, p *fsa.Project, err error) {
				require.NoError(t, err)
				require.Equal(t, "web", p.Name)
			},
		},
		{
			name: "idempotent retry after the stale read: the first call's project",
			key:  "k1",
			stale: func(t *testing.T, e *lagEnv) *fsa.Project {
				p, err := e.c.CreateProject(fsa.WithIdempotencyKey(e.ctx, "k1"), e.alice.ID, fsa.ProjectSpec{Name: "web"})
				require.NoError(t, err)
				return p
			},
			check: func(t *testing.T, e *lagEnv, first *fsa.Project, p *fsa.Project, err error) {
				require.NoError(t, err)
				require.Equal(t, first.ID, p.ID)
				list, err := e.c.ListProjects(e.ctx, e.alice.ID)
				require.NoError(t, err)
				require.Len(t, list.Items, 1, "the retry created nothing")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLagEnv(t)
			if tt.before != nil {
				tt.before(t, e)
			}
			e.st.pause()
			first := tt.stale(t, e)
			ctx := e.ctx
			if tt.key != "" {
				ctx = fsa.WithIdempotencyKey(ctx, tt.key)
			}
			e.st.counts()
			p, err := e.c.CreateProject(ctx, e.alice.ID, fsa.ProjectSpec{Name: "web"})
			tt.check(t, e, first, p, err)
			views, local, _, _ := e.st.counts()
			require.Equal(t, 1, local, "one leader-local read, then linearizable ones")
			require.NotZero(t, views, "the outcome was decided on a linearizable read")
			require.NoError(t, e.st.catchUp(e.ctx))
		})
	}
}

// Under WithLeaderLocalRead, GetUser and GetUserConfig answer from the leader's local state,
// found or not found; without it they read linearizably.
func TestWithLeaderLocalRead(t *testing.T) {
	e := newLagEnv(t)
	e.st.pause()
	bob, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "Bob"})
	require.NoError(t, err)
	e.st.counts()

	_, err = e.c.GetUser(fsa.WithLeaderLocalRead(e.ctx), bob.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound, "the local state does not have Bob yet")
	u, err := e.c.GetUser(fsa.WithLeaderLocalRead(e.ctx), e.alice.ID)
	require.NoError(t, err)
	require.Equal(t, e.alice.ID, u.ID)
	views, local, _, _ := e.st.counts()
	require.Equal(t, 0, views)
	require.Equal(t, 2, local)

	u, err = e.c.GetUser(e.ctx, bob.ID)
	require.NoError(t, err, "a plain read is linearizable")
	require.Equal(t, bob.ID, u.ID)
	views, local, _, _ = e.st.counts()
	require.Equal(t, 1, views)
	require.Equal(t, 0, local)
}

// Reconcile's reads honour WithLeaderLocalRead too: they answer from the local state.
func TestWithLeaderLocalReadReconcileReads(t *testing.T) {
	e := newLagEnv(t)
	e.st.pause()
	p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "web"})
	require.NoError(t, err)
	_, err = e.c.SetUserConfig(e.ctx, e.alice.ID, fsa.UserConfig{Key: "EDITOR", Value: "vi"})
	require.NoError(t, err)
	local := fsa.WithLeaderLocalRead(e.ctx)
	e.st.counts()

	_, err = e.c.ProjectByID(local, p.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	env, err := e.c.RuntimeEnv(local, p.ID)
	require.NoError(t, err)
	require.Empty(t, env)
	cfg, err := e.c.ListUserConfig(local, e.alice.ID, false)
	require.NoError(t, err)
	require.Len(t, cfg, 1, "the kubeconfig, set before the pause")
	_, err = e.c.Epoch(local)
	require.NoError(t, err)
	views, localViews, _, _ := e.st.counts()
	require.Zero(t, views)
	require.Equal(t, 4, localViews)

	require.NoError(t, e.st.catchUp(e.ctx))
	got, err := e.c.ProjectByID(local, p.ID)
	require.NoError(t, err)
	require.Equal(t, p.ID, got.ID)
	env, err = e.c.RuntimeEnv(local, p.ID)
	require.NoError(t, err)
	require.NotEmpty(t, env, "the terminal token")
	cfg, err = e.c.ListUserConfig(local, e.alice.ID, false)
	require.NoError(t, err)
	require.Len(t, cfg, 2)
}
