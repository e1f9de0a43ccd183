package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

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

// Member is one member of the Raft configuration with its API address (empty when its node
// record is not written yet).
type Member struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	APIAddress  string `json:"api_address,omitempty"`
	Voter       bool   `json:"voter"`
	Leader      bool   `json:"leader"`
}

// ClusterStatus is one node's view of the cluster.
type ClusterStatus struct {
	// NodeID and State ("Leader", "Follower", "Candidate", "Shutdown"; "Single" without Raft)
	// are the answering node's.
	NodeID           string   `json:"node_id"`
	State            string   `json:"state"`
	Members          []Member `json:"members"`
	LeaderID         string   `json:"leader_id,omitempty"`
	LeaderAPIAddress string   `json:"leader_api_address,omitempty"`
	Term             uint64   `json:"term"`
	LastIndex        uint64   `json:"last_index"`
	CommitIndex      uint64   `json:"commit_index"`
	AppliedIndex     uint64   `json:"applied_index"`
	// Reconcile says whether this node runs the reconcile loops now, and with which fence.
	Reconcile ReconcileStatus `json:"reconcile"`
}

// ReconcileStatus says whether a node's reconcile runner is running and with which token.
type ReconcileStatus struct {
	Running bool   `json:"running"`
	Fence   uint64 `json:"fence,omitempty"`
}

// ErrNoMember is returned by Cluster.Remove for an id that is not in the configuration. It
// wraps fsa.ErrNotFound.
var ErrNoMember = fmt.Errorf("%w: no such member", fsa.ErrNotFound)

// ErrLastVoter is returned by Cluster.Remove when removing the member would leave no voter. It
// wraps fsa.ErrFailedPrecondition.
var ErrLastVoter = fmt.Errorf("%w: cannot remove the last voter", fsa.ErrFailedPrecondition)

// Cluster is the administration of a Raft cluster of daemons: the methods behind
// /admin/v1/cluster and the RPC ClusterService. Membership changes are served by the leader
// only; elsewhere they return a *raftstore.NotLeaderError.
type Cluster struct {
	st   *raftstore.Store
	self Node
	lead *monitor
}

// Status reports this node's view: the Raft configuration with every member's API address,
// the leader, the term and the indexes. It works on any node.
func (c *Cluster) Status(ctx context.Context) (ClusterStatus, error) {
	rs, err := c.st.Status(ctx)
	if err != nil {
		return ClusterStatus{}, err
	}
	nodes, err := c.nodes(ctx)
	if err != nil {
		return ClusterStatus{}, err
	}
	out := ClusterStatus{
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
		out.Members = append(out.Members, Member{
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

// TransferLeadership hands leadership to the most up-to-date voter and waits for it.
func (c *Cluster) TransferLeadership(ctx context.Context) error {
	return c.st.TransferLeadership(ctx)
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
