// Package rafttest starts small raftstore clusters on Raft's in-memory transport for the tests of
// packages built on a store (the SDK's rules, for instance), so that they run on a replicated
// store as well as on memstore and boltstore. raftstore's own tests keep their richer cluster
// (partitions, restarts, membership changes).
package rafttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/fullstackagent/fsa/store/raftstore"
)

// timeout is the heartbeat, election and lease timeout: long enough that a loaded two-core
// machine under -race does not lose leadership spuriously, short enough to elect quickly.
const timeout = time.Second

// Cluster is a running cluster of raftstore nodes bootstrapped together.
type Cluster struct {
	Nodes []*raftstore.Store
}

// Start starts n nodes in temporary directories, closes them when the test ends, and waits (up
// to ctx's deadline) until one leads.
func Start(ctx context.Context, t testing.TB, n int) *Cluster {
	t.Helper()
	trans := make([]*raft.InmemTransport, n)
	var members []raftstore.Member
	for i := range trans {
		var addr raft.ServerAddress
		addr, trans[i] = raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d-addr", i)))
		members = append(members, raftstore.Member{ID: fmt.Sprintf("node%d", i), Address: string(addr)})
	}
	for i := range trans {
		for j := range trans {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	// Directories first: cleanups run last-registered first, so the nodes close before their
	// directories are removed.
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	c := &Cluster{}
	t.Cleanup(func() {
		for _, s := range c.Nodes {
			if err := s.Close(); err != nil {
				t.Errorf("rafttest: close %s: %v", s.ID(), err)
			}
		}
		for _, tr := range trans {
			_ = tr.Close()
		}
	})
	for i, m := range members {
		s, err := raftstore.Open(raftstore.Config{
			NodeID:             m.ID,
			Dir:                dirs[i],
			Transport:          trans[i],
			Bootstrap:          true,
			InitialMembers:     members,
			HeartbeatTimeout:   timeout,
			ElectionTimeout:    timeout,
			LeaderLeaseTimeout: timeout,
			CommitTimeout:      5 * time.Millisecond,
			Logger:             hclog.NewNullLogger(),
		})
		if err != nil {
			t.Fatalf("rafttest: open %s: %v", m.ID, err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	if _, _, err := c.Nodes[0].WaitLeader(ctx); err != nil {
		t.Fatalf("rafttest: no leader: %v", err)
	}
	return c
}

// Leader returns the node that leads now, waiting for one up to ctx's deadline.
func (c *Cluster) Leader(ctx context.Context, t testing.TB) *raftstore.Store {
	t.Helper()
	for {
		for _, s := range c.Nodes {
			if s.IsLeader() {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("rafttest: no leader: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
