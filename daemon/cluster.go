package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// Node is one daemon of a cluster as recorded in the store (kind store.KindNode): where its Raft
// and its API listen. The leader writes a node's record when the node joins, and its own record
// whenever it gains leadership, so every node can tell clients the leader's API address.
type Node struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	APIAddress  string `json:"api_address"`
}

// ErrNoMember is returned by Cluster.Remove for an id that is not in the configuration. It
// wraps fsa.ErrNotFound.
var ErrNoMember = fmt.Errorf("%w: no such member", fsa.ErrNotFound)

// ErrLastVoter is returned by Cluster.Remove when removing the member would leave no voter. It
// wraps fsa.ErrFailedPrecondition.
var ErrLastVoter = fmt.Errorf("%w: cannot remove the last voter", fsa.ErrFailedPrecondition)

// Cluster is the administration of a Raft cluster of daemons, behind the RPC ClusterService
// (it implements api.Cluster). Membership changes are served by the leader only; elsewhere
// they return a *raftstore.NotLeaderError.
type Cluster struct {
	st   *raftstore.Store
	self Node
	lead *monitor
	// settle bounds how long TransferLeadership waits to learn the new leader.
	settle time.Duration
}

var _ api.Cluster = (*Cluster)(nil)

// Status reports this node's view: the Raft configuration with every member's API address,
// the leader, the term and the indexes. It works on any node.
func (c *Cluster) Status(ctx context.Context) (api.ClusterStatus, error) {
	rs, err := c.st.Status(ctx)
	if err != nil {
		return api.ClusterStatus{}, err
	}
	nodes, err := c.nodes(ctx)
	if err != nil {
		return api.ClusterStatus{}, err
	}
	out := api.ClusterStatus{
		NodeID:       rs.ID,
		State:        rs.State,
		LeaderID:     rs.LeaderID,
		Term:         rs.Term,
		LastIndex:    rs.LastIndex,
		CommitIndex:  rs.CommitIndex,
		AppliedIndex: rs.AppliedIndex,
		Reconcile:    c.lead.status(),
	}
	if rs.LeaderID != "" {
		out.LeaderAPIAddress = c.apiAddress(rs.LeaderID, nodes)
	}
	for _, m := range rs.Members {
		out.Members = append(out.Members, api.Member{
			ID: m.ID, RaftAddress: m.Address, APIAddress: c.apiAddress(m.ID, nodes),
			Voter: m.Suffrage == "Voter", Leader: m.Leader,
		})
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].ID < out.Members[j].ID })
	return out, nil
}

// Join adds a voter with the given Raft address and records its API address. It is idempotent:
// joining a member again at the same address changes nothing.
func (c *Cluster) Join(ctx context.Context, id, raftAddress, apiAddress string) error {
	if id == "" || raftAddress == "" {
		return fmt.Errorf("join: id and raft address are required")
	}
	if err := c.st.Join(ctx, id, raftAddress); err != nil {
		return err
	}
	if apiAddress == "" {
		return nil
	}
	return c.putNode(ctx, Node{ID: id, RaftAddress: raftAddress, APIAddress: apiAddress})
}

// Remove removes a member and its node record.
func (c *Cluster) Remove(ctx context.Context, id string) error {
	rs, err := c.st.Status(ctx)
	if err != nil {
		return err
	}
	found, voters := false, 0
	for _, m := range rs.Members {
		if m.ID == id {
			found = true
		}
		if m.Suffrage == "Voter" {
			voters++
		}
	}
	if !found {
		return fmt.Errorf("remove %q: %w", id, ErrNoMember)
	}
	if voters <= 1 {
		return fmt.Errorf("remove %q: %w", id, ErrLastVoter)
	}
	if id == c.self.ID {
		// The leader shuts its Raft down once it has removed itself: delete the record first.
		if err := c.deleteNode(ctx, id); err != nil {
			return err
		}
		return c.st.Remove(ctx, id)
	}
	if err := c.st.Remove(ctx, id); err != nil {
		return err
	}
	return c.deleteNode(ctx, id)
}

// TransferLeadership hands leadership to the most up-to-date voter, waits for the handover,
// and then briefly (settle) for this node to hear from the new leader, so that a status read
// next names it.
func (c *Cluster) TransferLeadership(ctx context.Context) error {
	if err := c.st.TransferLeadership(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, c.settle)
	defer cancel()
	_, _, _ = c.st.WaitLeader(wctx) // best effort: the transfer itself succeeded
	return nil
}

// Leader returns the leader's id and API address as this node knows them (empty if unknown).
func (c *Cluster) Leader() (id, apiAddress string) {
	id, _ = c.st.Leader()
	if id == "" {
		return "", ""
	}
	if id == c.self.ID {
		return id, c.self.APIAddress
	}
	nodes, err := c.nodes(context.Background())
	if err != nil {
		return id, ""
	}
	return id, c.apiAddress(id, nodes)
}

func (c *Cluster) apiAddress(id string, nodes map[string]Node) string {
	if id == c.self.ID {
		return c.self.APIAddress
	}
	return nodes[id].APIAddress
}

// nodes reads every node record from this node's local state.
func (c *Cluster) nodes(ctx context.Context) (map[string]Node, error) {
	out := map[string]Node{}
	err := c.st.ViewStale(ctx, func(s store.Snapshot) error {
		recs, err := s.List(store.KindNode, store.Filter{})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var n Node
			if err := json.Unmarshal(r.Data, &n); err != nil {
				return fmt.Errorf("node record %q: %w", r.ID, err)
			}
			out[r.ID] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read node records: %w", err)
	}
	return out, nil
}

// putNode writes n's record unless it is already current. Leader only.
func (c *Cluster) putNode(ctx context.Context, n Node) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	var cur store.Record
	err = c.st.View(ctx, func(s store.Snapshot) error {
		var err error
		cur, err = s.Get(store.KindNode, n.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("record node %s: %w", n.ID, err)
	}
	if string(cur.Data) == string(data) {
		return nil
	}
	txn := store.Txn{
		Conds: []store.Cond{{Kind: store.KindNode, ID: n.ID, Version: cur.Version}},
		Ops:   []store.Op{store.Put(store.Record{Kind: store.KindNode, ID: n.ID, Data: data})},
	}
	if _, err := c.st.Commit(ctx, txn); err != nil {
		return fmt.Errorf("record node %s: %w", n.ID, err)
	}
	return nil
}

func (c *Cluster) deleteNode(ctx context.Context, id string) error {
	if _, err := c.st.Commit(ctx, store.Txn{Ops: []store.Op{store.Delete(store.KindNode, id)}}); err != nil {
		return fmt.Errorf("delete node record %s: %w", id, err)
	}
	return nil
}
