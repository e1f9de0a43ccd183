package api_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// followerStore is a memstore that, once demoted, refuses commits as a raft follower does.
type followerStore struct {
	*memstore.Store
	follower atomic.Bool
}

func (s *followerStore) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	if s.follower.Load() {
		return 0, &raftstore.NotLeaderError{LeaderID: "n2", LeaderAddress: "10.0.0.2:7000"}
	}
	return s.Store.Commit(ctx, txn)
}

func notLeaderDetail(t *testing.T, err error) *fsav1.NotLeaderError {
	t.Helper()
	var ce *connect.Error
	require.True(t, errors.As(err, &ce))
	for _, d := range ce.Details() {
		v, derr := d.Value()
		require.NoError(t, derr)
		if nl, ok := v.(*fsav1.NotLeaderError); ok {
			return nl
		}
	}
	t.Fatalf("no NotLeaderError detail in %v", err)
	return nil
}

func TestFollowerAnswersUnavailableWithLeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leader   func() (string, string)
		wantID   string
		wantAddr string
	}{
		{"leader known", func() (string, string) { return "n2", "https://n2.test:8443" }, "n2", "https://n2.test:8443"},
		{"single-node options", nil, "n2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			st := &followerStore{Store: memstore.New()}
			e := newEnvOn(t, ctx, st, func(o *api.Options) { o.Leader = tc.leader })
			alice := e.signUp("alice")
			_, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("a")}))
			require.NoError(t, err)
			st.follower.Store(true)
			for name, opt := range map[string]connect.ClientOption{"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC()} {
				u := e.clients(alice.Token, opt)
				_, err = u.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "p"}))
				requireCode(t, err, connect.CodeUnavailable)
				nl := notLeaderDetail(t, err)
				assert.Equal(t, tc.wantID, nl.LeaderId, name)
				assert.Equal(t, tc.wantAddr, nl.LeaderAddress, name)
				var ce *connect.Error
				require.True(t, errors.As(err, &ce))
				assert.Equal(t, tc.wantAddr, ce.Meta().Get(api.LeaderHeader), name)
			}
			// Reads still work on the follower.
			_, err = alice.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
			require.NoError(t, err)
		})
	}
}

// fakeCluster records calls and answers from a fixed membership.
type fakeCluster struct {
	mu      sync.Mutex
	status  api.ClusterStatus
	joined  []string
	removed []string
	err     error
}

func (c *fakeCluster) Status(context.Context) (api.ClusterStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, nil
}

func (c *fakeCluster) Join(_ context.Context, id, raftAddr, apiAddr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.joined = append(c.joined, id+"@"+raftAddr+"|"+apiAddr)
	return nil
}

func (c *fakeCluster) Remove(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.removed = append(c.removed, id)
	return nil
}

func (c *fakeCluster) TransferLeadership(ctx context.Context) error {
	return c.TransferLeadershipTo(ctx, "n2")
}

func (c *fakeCluster) TransferLeadershipTo(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.status.LeaderID = id
	return nil
}

func TestClusterServiceSingleNode(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Auth.Admins = []string{"root"} })
	root := e.signUp("root")
	who, err := root.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)
	assert.Equal(t, fsav1.Role_ROLE_ADMIN, who.Msg.User.Role)

	st, err := root.Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	require.NoError(t, err)
	require.Len(t, st.Msg.Members, 1)
	assert.True(t, st.Msg.Members[0].Leader)
	_, err = root.Cluster.JoinNode(e.ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: "n2", RaftAddress: "127.0.0.1:7001"}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	_, err = root.Cluster.RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "n2"}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	_, err = root.Cluster.TransferLeadership(e.ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{}))
	requireCode(t, err, connect.CodeFailedPrecondition)

	// A user with the stored admin role is an admin too; a user named like an admin in
	// another way (no password identity of that name) is not.
	admin, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "ops", Role: fsa.RoleAdmin})
	require.NoError(t, err)
	impostor, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "root"})
	require.NoError(t, err)
	_, err = e.clients(sessionFor(t, e, admin)).Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	require.NoError(t, err)
	_, err = e.clients(sessionFor(t, e, impostor)).Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	requireCode(t, err, connect.CodePermissionDenied)
}

// sessionFor signs a session for a user created through the SDK (no sign-in method).
func sessionFor(t *testing.T, e *env, u *fsa.User) string {
	now := e.clock.Now()
	return sign(t, jwtHS256, e.key.ID, e.key.Secret, map[string]any{"iss": "fsad", "sub": u.ID, "sid": "t",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "fsa_iat_ns": now.UnixNano()})
}

func TestClusterServiceRaft(t *testing.T) {
	fc := &fakeCluster{status: api.ClusterStatus{
		NodeID: "n1", State: "Leader", Reconcile: api.ReconcileStatus{Running: true, Fence: 7},
		Members: []api.Member{
			{ID: "n1", RaftAddress: "10.0.0.1:7000", APIAddress: "https://n1", Voter: true, Leader: true},
			{ID: "n2", RaftAddress: "10.0.0.2:7000", APIAddress: "https://n2", Voter: true},
			{ID: "n3", RaftAddress: "10.0.0.3:7000", APIAddress: "https://n3"},
		},
		LeaderID: "n1", LeaderAPIAddress: "https://n1", Term: 7, LastIndex: 42, CommitIndex: 41, AppliedIndex: 40,
	}}
	e := newEnv(t, func(o *api.Options) {
		o.Cluster = fc
		o.Leader = func() (string, string) { return "n1", "https://n1" }
	})
	root := e.signUp("root") // not an admin: Admins is empty
	adminTok := sessionFor(t, e, mustAdmin(t, e))
	admin := e.clients(adminTok)
	_, err := root.Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	requireCode(t, err, connect.CodePermissionDenied)

	st, err := admin.Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "n1", st.Msg.NodeId)
	assert.Equal(t, "Leader", st.Msg.State)
	assert.True(t, st.Msg.ReconcileRunning)
	assert.Equal(t, uint64(7), st.Msg.ReconcileFence)
	assert.Equal(t, "https://n1", st.Msg.LeaderApiAddress)
	assert.Equal(t, "n1", st.Msg.LeaderId)
	assert.Equal(t, "10.0.0.1:7000", st.Msg.LeaderAddress)
	assert.Equal(t, uint64(7), st.Msg.Term)
	assert.Equal(t, uint64(40), st.Msg.AppliedIndex)
	require.Len(t, st.Msg.Members, 3)
	assert.Equal(t, fsav1.Suffrage_SUFFRAGE_NONVOTER, st.Msg.Members[2].Suffrage)

	for _, bad := range []*fsav1.JoinNodeRequest{{Id: "", RaftAddress: "1.2.3.4:5"}, {Id: "n4", RaftAddress: "nohost"}, {Id: "n4", RaftAddress: "1.2.3.4:0"}} {
		_, err := admin.Cluster.JoinNode(e.ctx, connect.NewRequest(bad))
		requireCode(t, err, connect.CodeInvalidArgument)
	}
	_, err = admin.Cluster.JoinNode(e.ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: "n4", RaftAddress: "10.0.0.4:7000"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"n4@10.0.0.4:7000|"}, fc.joined)

	_, err = admin.Cluster.RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "n9"}))
	requireCode(t, err, connect.CodeNotFound)
	_, err = admin.Cluster.RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "n3"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"n3"}, fc.removed)

	_, err = admin.Cluster.TransferLeadership(e.ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{TargetId: "n3"}))
	requireCode(t, err, connect.CodeNotFound)
	tr, err := admin.Cluster.TransferLeadership(e.ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{TargetId: "n2"}))
	require.NoError(t, err)
	assert.Equal(t, "n2", tr.Msg.LeaderId)

	for _, tc := range []struct {
		err  error
		want connect.Code
	}{
		{&raftstore.NotLeaderError{LeaderID: "n2", LeaderAddress: "10.0.0.2:7000"}, connect.CodeUnavailable},
		{fmt.Errorf("remove last voter: %w", fsa.ErrFailedPrecondition), connect.CodeFailedPrecondition},
		{fmt.Errorf("configuration changed: %w", fsa.ErrConflict), connect.CodeAborted},
		{errors.New("disk on fire"), connect.CodeInternal},
	} {
		fc.mu.Lock()
		fc.err = tc.err
		fc.mu.Unlock()
		_, err := admin.Cluster.RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "n2"}))
		requireCode(t, err, tc.want)
		if tc.want == connect.CodeInternal {
			assert.NotContains(t, err.Error(), "disk on fire", "internal detail leaked to the client")
			assert.Contains(t, e.logs.String(), "disk on fire", "internal error not logged")
		}
	}
}

func mustAdmin(t *testing.T, e *env) *fsa.User {
	t.Helper()
	u, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "ops", Role: fsa.RoleAdmin})
	require.NoError(t, err)
	return u
}

// TestClusterServiceAdminToken: the cluster's admin token is accepted by ClusterService (as by
// a joining node or an operator's tool) and by nothing else; a wrong token is a bad session.
func TestClusterServiceAdminToken(t *testing.T) {
	fc := &fakeCluster{status: api.ClusterStatus{NodeID: "n1", State: "Leader", LeaderID: "n1",
		Members: []api.Member{{ID: "n1", RaftAddress: "10.0.0.1:7000", Voter: true, Leader: true}}}}
	e := newEnv(t, func(o *api.Options) { o.Cluster, o.AdminToken = fc, "cluster-admin-token" })
	tok := e.clients("cluster-admin-token")

	st, err := tok.Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "n1", st.Msg.NodeId)
	_, err = tok.Cluster.JoinNode(e.ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: "n4", RaftAddress: "10.0.0.4:7000", ApiAddress: "10.0.0.4:8080"}))
	require.NoError(t, err)
	assert.Contains(t, fc.joined, "n4@10.0.0.4:7000|10.0.0.4:8080")

	// Not a session: every other service refuses it.
	_, err = tok.Project.ListProjects(e.ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = tok.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
	// A wrong token, and a bad API address, are refused.
	_, err = e.clients("cluster-admin-tokeN").Cluster.GetClusterStatus(e.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = tok.Cluster.JoinNode(e.ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: "n5", RaftAddress: "10.0.0.5:7000", ApiAddress: "no-port"}))
	requireCode(t, err, connect.CodeInvalidArgument)

	// Without an admin token configured, no bearer gets that power.
	plain := newEnv(t, func(o *api.Options) { o.Cluster = fc })
	_, err = plain.clients("").Cluster.GetClusterStatus(plain.ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
}
