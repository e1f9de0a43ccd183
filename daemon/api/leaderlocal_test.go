package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// laggingStore offers leader-local reads (ViewLeaderLocal, as raftstore does) from a replica
// that stops following while paused; View and Commit use the up-to-date store.
type laggingStore struct {
	store.Store
	replica *memstore.Store

	mu      sync.Mutex
	paused  bool
	pending []store.Txn
	views   int // linearizable Views
}

func (s *laggingStore) View(ctx context.Context, fn func(store.Snapshot) error) error {
	s.mu.Lock()
	s.views++
	s.mu.Unlock()
	return s.Store.View(ctx, fn)
}

func (s *laggingStore) ViewLeaderLocal(ctx context.Context, fn func(store.Snapshot) error) error {
	return s.replica.View(ctx, fn)
}

func (s *laggingStore) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, err := s.Store.Commit(ctx, txn)
	if err != nil {
		return rev, err
	}
	s.pending = append(s.pending, txn)
	if s.paused {
		return rev, nil
	}
	for _, t := range s.pending {
		if _, err := s.replica.Commit(ctx, t); err != nil {
			return rev, err
		}
	}
	s.pending = nil
	return rev, nil
}

func (s *laggingStore) setPaused(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = p
}

func (s *laggingStore) linearizableViews() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views
	s.views = 0
	return v
}

// Sessions and the kubeconfig check read the leader's local state; a refusal it would cause
// (user or kubeconfig missing there) is confirmed on a linearizable read, so a lagging local
// state never turns a valid request away. With the local state current, CreateProject makes
// no linearizable read at all.
func TestCreateProjectReadsLeaderLocalState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	replica := memstore.New()
	t.Cleanup(func() { _ = replica.Close() })
	st := &laggingStore{Store: memstore.New(), replica: replica}
	e := newEnvOn(t, ctx, st)

	// Sign-up and kubeconfig are not in the local state yet.
	st.setPaused(true)
	u := e.signUp("lagging")
	_, err := u.Config.SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-lagging")}))
	require.NoError(t, err, "the session is confirmed on a linearizable read")
	resp, err := u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "first"}))
	require.NoError(t, err, "the kubeconfig is confirmed on a linearizable read")
	require.Equal(t, "first", resp.Msg.Project.Name)

	// Caught up: no linearizable read on the CreateProject path.
	st.setPaused(false)
	_, err = u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "catch-up"}))
	require.NoError(t, err)
	st.linearizableViews()
	_, err = u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "second"}))
	require.NoError(t, err)
	require.Zero(t, st.linearizableViews())

	// A user without a kubeconfig is still refused (the miss holds on the linearizable read).
	v := e.signUp("nokube")
	_, err = v.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "x"}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	require.NotZero(t, st.linearizableViews())
}
