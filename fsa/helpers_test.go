package fsa_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/memstore"
	"github.com/fullstackagent/fsa/store/raftstore/rafttest"
)

// fakeClock advances one millisecond per reading, so timelines are ordered and deterministic.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	c     *fsa.Client
	alice *fsa.User
	bob   *fsa.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	return newEnvOn(t, st)
}

// eachStore runs fn on memstore, boltstore and the leader of a 3-node raftstore, for rules that
// rest on the store's transactions.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("memstore", func(t *testing.T) {
		st := memstore.New()
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
	t.Run("boltstore", func(t *testing.T) {
		st, err := boltstore.Open(filepath.Join(t.TempDir(), "fsa.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
	t.Run("raftstore", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := rafttest.Start(ctx, t, 3)
		fn(t, c.Leader(ctx, t))
	})
}

// newEnvOn makes the test environment (two users with kubeconfigs) on st.
func newEnvOn(t *testing.T, st store.Store) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	clock := &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	c := fsa.New(st, fsa.WithClock(clock.Now))
	e := &env{t: t, ctx: ctx, st: st, c: c}
	var err error
	e.alice, err = c.CreateUser(ctx, fsa.UserSpec{Name: "Alice", Email: "alice@example.com"})
	require.NoError(t, err)
	e.bob, err = c.CreateUser(ctx, fsa.UserSpec{Name: "Bob"})
	require.NoError(t, err)
	setKubeconfig(t, ctx, c, e.alice.ID)
	setKubeconfig(t, ctx, c, e.bob.ID)
	return e
}

// testKubeconfig stands for a user's kubeconfig: CreateProject needs one on record, and only
// reconcile reads it.
const testKubeconfig = "apiVersion: v1\nkind: Config\n"

func setKubeconfig(t testing.TB, ctx context.Context, c *fsa.Client, userID string) {
	t.Helper()
	_, err := c.SetUserConfig(ctx, userID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: testKubeconfig, Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
}

func (e *env) revision() int64 {
	e.t.Helper()
	var rev int64
	require.NoError(e.t, e.st.View(e.ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil }))
	return rev
}

func (e *env) project(name string) *fsa.Project {
	e.t.Helper()
	p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: name})
	require.NoError(e.t, err)
	return p
}

// observe records both children of p at status st (as reconcile would) and returns the project.
func (e *env) observe(p *fsa.Project, st fsa.Status) *fsa.Project {
	e.t.Helper()
	cur, err := e.c.GetProject(e.ctx, p.UserID, p.ID)
	require.NoError(e.t, err)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, cur.Sandbox.ID, fsa.Observation{Version: cur.Sandbox.Version, Status: st})
	require.NoError(e.t, err)
	out, err := e.c.Record(e.ctx, 0, fsa.ResourceDatabase, cur.Database.ID, fsa.Observation{Version: cur.Database.Version, Status: st})
	require.NoError(e.t, err)
	return out
}
