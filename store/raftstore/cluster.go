package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/fullstackagent/fsa/store"
)

// Member is one server in the cluster configuration.
type Member struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Suffrage is "Voter", "Nonvoter" or "Staging".
	Suffrage string `json:"suffrage,omitempty"`
	// Leader is true for the member this node believes leads.
	Leader bool `json:"leader,omitempty"`
}

// ClusterStatus is what one node knows of the cluster.
type ClusterStatus struct {
	// ID and Address are this node's.
	ID      string `json:"id"`
	Address string `json:"address"`
	// State is this node's Raft state: "Follower", "Candidate", "Leader" or "Shutdown".
	State         string   `json:"state"`
	Members       []Member `json:"members"`
	LeaderID      string   `json:"leader_id,omitempty"`
	LeaderAddress string   `json:"leader_address,omitempty"`
	Term          uint64   `json:"term"`
	LastIndex     uint64   `json:"last_index"`
	CommitIndex   uint64   `json:"commit_index"`
	// AppliedIndex is the last log index this node's state database holds.
	AppliedIndex uint64 `json:"applied_index"`
	// Revision is this node's store revision.
	Revision int64 `json:"revision"`
}

// ID returns this node's ID.
func (s *Store) ID() string { return s.id }

// Address returns this node's Raft address.
func (s *Store) Address() string { return s.addr }

// Term returns the current Raft term. A leader uses the term it leads in as its fencing epoch.
func (s *Store) Term() uint64 { return s.raft.CurrentTerm() }

// IsLeader reports whether this node currently believes it leads.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's ID and address as this node knows them (empty if unknown).
func (s *Store) Leader() (id, address string) {
	addr, sid := s.raft.LeaderWithID()
	return string(sid), string(addr)
}

// Leadership returns a channel that receives true when this node becomes leader and false when
// it stops. The channel holds only the latest value: a slow reader skips intermediate
// transitions, so receiving true while already leading means leadership was lost and regained
// in a new term; the reader restarts its leader work with the new Term. The channel is never
// closed; stop reading when the store closes.
func (s *Store) Leadership() <-chan bool { return s.leadership }

// Barrier waits until every entry committed before it is applied to this node's state. Only
// the leader can issue it. A new leader runs it before leader-only work.
func (s *Store) Barrier(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.await(ctx, s.raft.Barrier(enqueueTimeout(ctx))); err != nil {
		return s.raftError(err)
	}
	return nil
}

// Join adds a voting member (or updates its address). Only the leader can change membership.
func (s *Store) Join(ctx context.Context, id, address string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if id == "" || address == "" {
		return fmt.Errorf("raftstore: join: id and address are required")
	}
	fut := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, enqueueTimeout(ctx))
	if err := s.await(ctx, fut); err != nil {
		return fmt.Errorf("join %s: %w", id, s.raftError(err))
	}
	return nil
}

// Remove removes a member. Only the leader can change membership; a leader may remove itself,
// after which it shuts down its Raft instance (raft.Config.ShutdownOnRemove) and a new leader
// is elected among the rest.
func (s *Store) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fut := s.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx))
	if err := s.await(ctx, fut); err != nil {
		return fmt.Errorf("remove %s: %w", id, s.raftError(err))
	}
	return nil
}

// TransferLeadership asks the leader to hand leadership to the most up-to-date follower and
// waits for the handover.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.await(ctx, s.raft.LeadershipTransfer()); err != nil {
		return fmt.Errorf("transfer leadership: %w", s.raftError(err))
	}
	return nil
}

// Status reports this node's view of the cluster. It works on any node.
func (s *Store) Status(ctx context.Context) (ClusterStatus, error) {
	if err := ctx.Err(); err != nil {
		return ClusterStatus{}, err
	}
	fut := s.raft.GetConfiguration()
	if err := s.await(ctx, fut); err != nil {
		return ClusterStatus{}, fmt.Errorf("status: %w", s.raftError(err))
	}
	leaderID, leaderAddr := s.Leader()
	st := ClusterStatus{
		ID:            s.id,
		Address:       s.addr,
		State:         s.raft.State().String(),
		LeaderID:      leaderID,
		LeaderAddress: leaderAddr,
		Term:          s.raft.CurrentTerm(),
		LastIndex:     s.raft.LastIndex(),
		CommitIndex:   s.raft.CommitIndex(),
		AppliedIndex:  s.fsm.appliedIndex.Load(),
	}
	if err := s.fsm.view(func(sn store.Snapshot) error { st.Revision = sn.Revision(); return nil }); err != nil {
		return ClusterStatus{}, fmt.Errorf("status: %w", err)
	}
	for _, srv := range fut.Configuration().Servers {
		st.Members = append(st.Members, Member{
			ID:       string(srv.ID),
			Address:  string(srv.Address),
			Suffrage: srv.Suffrage.String(),
			Leader:   string(srv.ID) == leaderID,
		})
	}
	return st, nil
}

// WaitLeader waits until this node knows a leader and returns it, or returns ErrNoLeader
// wrapped with ctx's error when ctx ends first.
func (s *Store) WaitLeader(ctx context.Context) (id, address string, err error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, address = s.Leader(); id != "" {
			return id, address, nil
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-s.done:
			return "", "", fmt.Errorf("%w: store closed", ErrNoLeader)
		case <-t.C:
		}
	}
}

// Snapshot makes Raft take a snapshot of this node's state now and compact its log (keeping
// Config.TrailingLogs entries). Raft also snapshots on its own, by SnapshotThreshold and
// SnapshotInterval.
func (s *Store) Snapshot(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.await(ctx, s.raft.Snapshot()); err != nil {
		return fmt.Errorf("snapshot: %w", s.raftError(err))
	}
	return nil
}

// Backup takes a snapshot of this node's state now (or keeps the newest one when nothing was
// applied since) and opens it: the caller reads the snapshot's bytes (the state database, as
// fsm Persist writes it) from rc and must close it. meta gives the snapshot's index and term.
func (s *Store) Backup(ctx context.Context) (meta *raft.SnapshotMeta, rc io.ReadCloser, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := s.await(ctx, s.raft.Snapshot()); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("backup: snapshot: %w", s.raftError(err))
	}
	list, err := s.snaps.List()
	if err != nil {
		return nil, nil, fmt.Errorf("backup: list snapshots: %w", err)
	}
	if len(list) == 0 {
		return nil, nil, fmt.Errorf("backup: no snapshot")
	}
	meta, rc, err = s.snaps.Open(list[0].ID)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: open snapshot %s: %w", list[0].ID, err)
	}
	return meta, rc, nil
}
