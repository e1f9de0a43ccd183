package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

// TestRPCClusterService drives the RPC ClusterService of a three-process cluster with the
// generated Connect client: any node reports the cluster, followers redirect leader-only calls
// to the leader's API, and the leader hands over.
func TestRPCClusterService(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := fsadtest.Start(ctx, fsadtest.Options{
		Bin: fsadBin(t), Dir: t.TempDir(),
		Args: []string{"--admins", "root"},
		Env:  []string{"FSA_SIGNING_KEY=" + key.Encode()}, // one key for every node
	})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	hc := &http.Client{Timeout: 10 * time.Second}
	// onLeader retries call on the current leader until it succeeds: on a loaded machine
	// leadership may move during the test, and a follower answers Unavailable.
	onLeader := func(call func(n *fsadtest.Node) error) *fsadtest.Node {
		t.Helper()
		var (
			n    *fsadtest.Node
			last error
		)
		require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
			var err error
			if n, _, err = c.Leader(ctx); err != nil {
				return false, err
			}
			last = call(n)
			return last == nil, nil
		}), "last error: %v", last)
		return n
	}

	var token string
	onLeader(func(n *fsadtest.Node) error {
		resp, err := fsav1connect.NewAuthServiceClient(hc, n.URL()).SignUp(ctx,
			connect.NewRequest(&fsav1.SignUpRequest{Username: "root", Password: "correct-horse-battery"}))
		if err == nil {
			token = resp.Msg.GetSession().GetToken()
		}
		if connect.CodeOf(err) == connect.CodeAlreadyExists { // an earlier attempt committed
			resp, err := fsav1connect.NewAuthServiceClient(hc, n.URL()).Login(ctx,
				connect.NewRequest(&fsav1.LoginRequest{Username: "root", Password: "correct-horse-battery"}))
			if err == nil {
				token = resp.Msg.GetSession().GetToken()
			}
			return err
		}
		return err
	})
	authed := func(h http.Header) { h.Set("Authorization", "Bearer "+token) }

	// The status: members with their addresses, the leader, the term.
	var st *fsav1.GetClusterStatusResponse
	leader := onLeader(func(n *fsadtest.Node) error {
		req := connect.NewRequest(&fsav1.GetClusterStatusRequest{})
		authed(req.Header())
		resp, err := fsav1connect.NewClusterServiceClient(hc, n.URL()).GetClusterStatus(ctx, req)
		if err == nil {
			st = resp.Msg
			if st.GetLeaderId() != n.ID {
				return errors.New("leadership moved")
			}
		}
		return err
	})
	require.Equal(t, leader.ID, st.GetNodeId())
	require.Equal(t, leader.Raft, st.GetLeaderAddress())
	require.Len(t, st.GetMembers(), 3)
	for _, m := range st.GetMembers() {
		require.Equal(t, c.Node(m.GetId()).Raft, m.GetAddress())
		require.Equal(t, m.GetId() == leader.ID, m.GetLeader())
	}

	// A follower refuses a leader-only call and names a node's API for the client to retry at.
	treq := connect.NewRequest(&fsav1.TransferLeadershipRequest{})
	authed(treq.Header())
	_, err = fsav1connect.NewClusterServiceClient(hc, otherThan(c, leader).URL()).TransferLeadership(ctx, treq)
	var ce *connect.Error
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, connect.CodeUnavailable, ce.Code())
	hint := strings.TrimPrefix(ce.Meta().Get(api.LeaderHeader), "http://")
	require.NotNil(t, c.Node(hint), "leader hint %q names no node", hint)

	// The leader hands over.
	var newLeader string
	old := onLeader(func(n *fsadtest.Node) error {
		tr, err := fsav1connect.NewClusterServiceClient(hc, n.URL()).TransferLeadership(ctx, treq)
		if err == nil {
			newLeader = tr.Msg.GetLeaderId()
		}
		return err
	})
	require.NotEqual(t, old.ID, newLeader)
}

func otherThan(c *fsadtest.Cluster, n *fsadtest.Node) *fsadtest.Node {
	for _, o := range c.Nodes {
		if o != n {
			return o
		}
	}
	return nil
}
