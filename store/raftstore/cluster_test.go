package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// This file is the test cluster: N nodes on raft's in-memory transport with short timeouts,
// and helpers to find the leader, cut nodes off, stop and restart them. Tests wait for
// conditions with deadlines (waitFor), never with sleeps.

const (
	// testTimeout is the heartbeat, election and lease timeout of tests about failover: short,
	// like raft's own tests, yet long enough not to lose leadership spuriously on a loaded
	// two-core machine under -race.
	testTimeout = 250 * time.Millisecond
	// stableTimeout is used where elections are not under test (conformance, benchmarks).
	stableTimeout = 500 * time.Millisecond
	waitLong      = 15 * time.Second // deadline for any awaited condition
)

type clusterOption func(*raftstore.Config)

func withRetention(n int) clusterOption { return func(c *raftstore.Config) { c.Retention = n } }

// withStableTimeouts makes spurious elections unlikely, for tests that are not about them.
func withStableTimeouts() clusterOption {
	return func(c *raftstore.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = stableTimeout, stableTimeout, stableTimeout
	}
}

func withTrailingLogs(n uint64) clusterOption {
	return func(c *raftstore.Config) { c.TrailingLogs = n }
}

type testNode struct {
	id    string
	addr  raft.ServerAddress
	dir   string
	trans *raft.InmemTransport
	cfg   raftstore.Config
	store *raftstore.Store // nil while stopped
}

type testCluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*testNode
	opts  []clusterOption
	// cut records pairs of node ids that must stay disconnected (a partition), so that a
	// restarted or added node is not reconnected across it.
	cut map[[2]string]bool
}

func testLogger() hclog.Logger {
	level := hclog.Off
	if v := os.Getenv("RAFTSTORE_TEST_LOG"); v != "" {
		level = hclog.LevelFromString(v)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: level, Output: os.Stderr})
}

// newCluster starts n nodes bootstrapped together with the same membership.
func newCluster(t testing.TB, n int, opts ...clusterOption) *testCluster {
	t.Helper()
	c := &testCluster{t: t, opts: opts, cut: map[[2]string]bool{}}
	var members []raftstore.Member
	for i := 0; i < n; i++ {
		nd := c.newNode(fmt.Sprintf("node%d", i))
		members = append(members, raftstore.Member{ID: nd.id, Address: string(nd.addr)})
	}
	for _, nd := range c.nodes {
		nd.cfg.Bootstrap = true
		nd.cfg.InitialMembers = members
		c.start(nd)
	}
	t.Cleanup(c.close)
	return c
}

// newNode makes a node with a fresh directory and transport connected to every node, without
// starting it.
func (c *testCluster) newNode(id string) *testNode {
	c.t.Helper()
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id + "-addr"))
	nd := &testNode{id: id, addr: addr, dir: c.t.TempDir(), trans: trans}
	nd.cfg = raftstore.Config{
		NodeID:             id,
		Dir:                nd.dir,
		Transport:          trans,
		HeartbeatTimeout:   testTimeout,
		ElectionTimeout:    testTimeout,
		LeaderLeaseTimeout: testTimeout,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotThreshold:  1 << 20, // tests snapshot explicitly
		SnapshotInterval:   time.Hour,
		Logger:             testLogger().Named(id),
	}
	for _, o := range c.opts {
		o(&nd.cfg)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	c.connect(nd)
	return nd
}

func (c *testCluster) connect(nd *testNode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.nodes {
		if o == nd || c.cut[pair(o.id, nd.id)] {
			continue
		}
		nd.trans.Connect(o.addr, o.trans)
		o.trans.Connect(nd.addr, nd.trans)
	}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (c *testCluster) start(nd *testNode) {
	c.t.Helper()
	s, err := raftstore.Open(nd.cfg)
	require.NoError(c.t, err, "open %s", nd.id)
	nd.store = s
}

// addNode starts a new empty node (not bootstrapped) and has the leader add it as a voter.
func (c *testCluster) addNode(id string) *testNode {
	c.t.Helper()
	leader := c.Leader()
	nd := c.newNode(id)
	c.start(nd)
	require.NoError(c.t, leader.store.Join(ctxT(c.t), nd.id, string(nd.addr)))
	return nd
}

// stop closes a node's store, keeping its directory.
func (c *testCluster) stop(nd *testNode) {
	c.t.Helper()
	require.NoError(c.t, nd.store.Close())
	nd.store = nil
}

// restart reopens a stopped node from its directory on a fresh transport.
func (c *testCluster) restart(nd *testNode) {
	c.t.Helper()
	require.Nil(c.t, nd.store, "restart of a running node")
	c.mu.Lock()
	for _, o := range c.nodes {
		o.trans.Disconnect(nd.addr)
	}
	c.mu.Unlock()
	_ = nd.trans.Close()
	nd.addr, nd.trans = raft.NewInmemTransport(nd.addr)
	nd.cfg.Transport = nd.trans
	c.connect(nd)
	c.start(nd)
}

func (c *testCluster) close() {
	c.mu.Lock()
	nodes := append([]*testNode(nil), c.nodes...)
	c.mu.Unlock()
	for _, nd := range nodes {
		if nd.store != nil {
			if err := nd.store.Close(); err != nil {
				c.t.Errorf("close %s: %v", nd.id, err)
			}
		}
		_ = nd.trans.Close()
	}
}

// running returns the nodes whose store is open.
func (c *testCluster) running() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*testNode
	for _, nd := range c.nodes {
		if nd.store != nil {
			out = append(out, nd)
		}
	}
	return out
}

// Leader waits until exactly one running node leads and a majority of the running nodes
// (itself included) know it, and returns it.
func (c *testCluster) Leader() *testNode {
	c.t.Helper()
	var leader *testNode
	waitFor(c.t, "a leader known to a majority", func() bool {
		leader = nil
		nodes := c.running()
		for _, nd := range nodes {
			if nd.store.IsLeader() {
				if leader != nil {
					return false
				}
				leader = nd
			}
		}
		if leader == nil {
			return false
		}
		agree := 0
		for _, nd := range nodes {
			if id, _ := nd.store.Leader(); id == leader.id && !c.isCut(nd, leader) {
				agree++
			}
		}
		return agree*2 > len(nodes)
	})
	return leader
}

// Followers returns the running nodes other than the current leader.
func (c *testCluster) Followers() []*testNode {
	c.t.Helper()
	l := c.Leader()
	var out []*testNode
	for _, nd := range c.running() {
		if nd != l {
			out = append(out, nd)
		}
	}
	return out
}

func (c *testCluster) isCut(a, b *testNode) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[pair(a.id, b.id)]
}

// Disconnect cuts nd off from every other node, in both directions.
func (c *testCluster) Disconnect(nd *testNode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.nodes {
		if o == nd {
			continue
		}
		c.cut[pair(o.id, nd.id)] = true
		o.trans.Disconnect(nd.addr)
		nd.trans.Disconnect(o.addr)
	}
}

// Partition splits the cluster: the given nodes can talk among themselves and the rest among
// themselves, but not across.
func (c *testCluster) Partition(side ...*testNode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := map[*testNode]bool{}
	for _, nd := range side {
		in[nd] = true
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b && in[a] && !in[b] {
				c.cut[pair(a.id, b.id)] = true
				a.trans.Disconnect(b.addr)
				b.trans.Disconnect(a.addr)
			}
		}
	}
}

// Heal reconnects every node to every other.
func (c *testCluster) Heal() {
	c.mu.Lock()
	c.cut = map[[2]string]bool{}
	nodes := append([]*testNode(nil), c.nodes...)
	c.mu.Unlock()
	for _, nd := range nodes {
		c.connect(nd)
	}
}

// waitFor polls cond until it holds or waitLong passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLong, what)
		}
		<-tick.C
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// leaderStore is a store.Store that sends every call to the cluster's current leader and
// retries a call refused with a definite NotLeaderError (nothing was applied) on the new one.
// The conformance suite drives it, so an election during the suite does not fail a test.
// Once closed, it sends calls to a closed node, which answers store.ErrClosed.
type leaderStore struct {
	c *testCluster

	mu     sync.Mutex
	closed *raftstore.Store
}

var _ store.Store = (*leaderStore)(nil)

func (l *leaderStore) target() *raftstore.Store {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed != nil {
		return closed
	}
	return l.c.Leader().store
}

func (l *leaderStore) retry(fn func(s *raftstore.Store) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(l.target())
		var nl *raftstore.NotLeaderError
		if attempt < 10 && errors.As(err, &nl) && !nl.Uncertain {
			continue
		}
		return err
	}
}

func (l *leaderStore) View(ctx context.Context, fn func(store.Snapshot) error) error {
	return l.retry(func(s *raftstore.Store) error { return s.View(ctx, fn) })
}

func (l *leaderStore) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	var rev int64
	err := l.retry(func(s *raftstore.Store) error {
		var err error
		rev, err = s.Commit(ctx, txn)
		return err
	})
	return rev, err
}

func (l *leaderStore) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	return l.target().Watch(ctx, after)
}

// Replicas implements storetest.Replicated: every running node, followers included, so that
// the suite checks read-your-writes across the cluster.
func (l *leaderStore) Replicas() []store.Store {
	var out []store.Store
	for _, nd := range l.c.running() {
		out = append(out, nd.store)
	}
	return out
}

// Close closes every node, so open cursors end with store.ErrClosed and later calls fail with
// it, as the suite expects.
func (l *leaderStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, nd := range l.c.running() {
		if l.closed == nil {
			l.closed = nd.store
		}
		errs = append(errs, nd.store.Close())
	}
	return errors.Join(errs...)
}

// commit commits txn through whichever node leads, retrying a definite NotLeaderError (nothing
// was applied) on the next leader, for tests where the leader's identity does not matter.
func (c *testCluster) commit(t testing.TB, txn store.Txn) int64 {
	t.Helper()
	rev, err := (&leaderStore{c: c}).Commit(ctxT(t), txn)
	require.NoError(t, err)
	return rev
}

// dump returns every record a node holds, by kind, read locally.
func dump(t testing.TB, s *raftstore.Store) (int64, map[store.Kind][]store.Record) {
	t.Helper()
	var rev int64
	out := map[store.Kind][]store.Record{}
	require.NoError(t, s.ViewStale(ctxT(t), func(sn store.Snapshot) error {
		rev = sn.Revision()
		for _, k := range store.Kinds {
			rs, err := sn.List(k, store.Filter{})
			if err != nil {
				return err
			}
			if len(rs) > 0 {
				out[k] = rs
			}
		}
		return nil
	}))
	return rev, out
}

func revisionOf(t testing.TB, s *raftstore.Store) int64 {
	rev, _ := dump(t, s)
	return rev
}

// waitRevision waits until the node's local state reaches rev.
func waitRevision(t testing.TB, nd *testNode, rev int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s at revision %d", nd.id, rev), func() bool { return revisionOf(t, nd.store) >= rev })
}

func put(kind store.Kind, id, data string) store.Op {
	return store.Put(store.Record{Kind: kind, ID: id, Data: []byte(data)})
}
