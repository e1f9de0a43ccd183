package daemon

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// TestRaftAdvertiseNameStaysUnresolved runs three Raft nodes over TCP whose advertised
// addresses are "localhost:port": the names, not IPs, must be the members' addresses in the
// configuration (peers resolve them on every dial), and the cluster must still elect a leader
// and replicate.
func TestRaftAdvertiseNameStaysUnresolved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type node struct {
		id, adv string
		st      *raftstore.Store
	}
	var nodes []*node
	for i := 1; i <= 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		require.NoError(t, ln.Close())
		adv := "localhost:" + port
		sl, err := newStreamLayer("127.0.0.1:"+port, adv)
		require.NoError(t, err)
		require.Equal(t, adv, sl.Addr().String())
		trans := raft.NewNetworkTransport(sl, 3, 5*time.Second, nil)
		t.Cleanup(func() { _ = trans.Close() })
		id := "n" + strconv.Itoa(i)
		st, err := raftstore.Open(raftstore.Config{
			NodeID: id, Dir: t.TempDir(), Transport: trans, Bootstrap: i == 1,
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		require.Equal(t, adv, st.Address())
		nodes = append(nodes, &node{id: id, adv: adv, st: st})
	}
	_, _, err := nodes[0].st.WaitLeader(ctx)
	require.NoError(t, err)
	for _, n := range nodes[1:] {
		require.NoError(t, nodes[0].st.Join(ctx, n.id, n.adv))
	}
	rev, err := nodes[0].st.Commit(ctx, store.Txn{Ops: []store.Op{
		store.Put(store.Record{Kind: store.KindNode, ID: "probe", Data: []byte(`{}`)}),
	}})
	require.NoError(t, err)

	want := map[string]string{}
	for _, n := range nodes {
		want[n.id] = n.adv
	}
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			st, err := n.st.Status(ctx)
			if err != nil || len(st.Members) != 3 || st.Revision < rev {
				return false
			}
			got := map[string]string{}
			for _, m := range st.Members {
				got[m.ID] = m.Address
			}
			require.Equal(t, want, got, "node %s's configuration", n.id)
			return true
		}, 30*time.Second, 20*time.Millisecond, "node %s never replicated", n.id)
	}
	// The leader heartbeats every follower through the names: take the leader down and a
	// follower, reached by name only, wins an election.
	require.NoError(t, nodes[0].st.Close())
	require.Eventually(t, func() bool {
		return nodes[1].st.IsLeader() || nodes[2].st.IsLeader()
	}, 30*time.Second, 20*time.Millisecond)
}
