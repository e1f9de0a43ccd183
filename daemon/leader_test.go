package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

const waitFor = 20 * time.Second

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder is the fake leader work: it records which node runs with which fence.
type recorder struct {
	mu      sync.Mutex
	running map[string]uint64 // node → fence
	starts  []string          // "node@fence"
	result  error             // returned at once when non-nil
}

func (r *recorder) work(node string) LeaderWork {
	return func(ctx context.Context, fence uint64) error {
		r.mu.Lock()
		r.starts = append(r.starts, fmt.Sprintf("%s@%d", node, fence))
		res := r.result
		if res == nil {
			r.running[node] = fence
		}
		r.mu.Unlock()
		if res != nil {
			return res
		}
		<-ctx.Done()
		r.mu.Lock()
		delete(r.running, node)
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) snapshot() (map[string]uint64, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]uint64{}
	for k, v := range r.running {
		m[k] = v
	}
	return m, append([]string(nil), r.starts...)
}

type monNode struct {
	id    string
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	st    *raftstore.Store
	mon   *monitor
}

type monCluster struct {
	t     *testing.T
	nodes []*monNode
	rec   *recorder
	logs  *syncBuffer
	ctx   context.Context
}

// newMonCluster starts three raftstore nodes on an in-memory transport with 50 ms timeouts,
// each with a leader monitor running rec's work. start=false leaves the monitors stopped.
func newMonCluster(t *testing.T, rec *recorder, start bool) *monCluster {
	t.Helper()
	c := &monCluster{t: t, rec: rec, logs: &syncBuffer{}}
	var members []raftstore.Member
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("m%d", i)
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		c.nodes = append(c.nodes, &monNode{id: id, addr: addr, trans: trans})
		members = append(members, raftstore.Member{ID: id, Address: string(addr)})
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, n := range c.nodes {
			_ = n.st.Close()
		}
	})
	log := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, n := range c.nodes {
		st, err := raftstore.Open(raftstore.Config{
			NodeID: n.id, Dir: t.TempDir(), Transport: n.trans, Bootstrap: true, InitialMembers: members,
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
			Logger: hclog.NewNullLogger(),
		})
		require.NoError(t, err)
		n.st = st
		n.mon = &monitor{client: fsa.New(st), work: rec.work(n.id), log: log.With("node", n.id), backoff: 10 * time.Millisecond}
	}
	if start {
		for _, n := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.mon.runRaft(ctx, n.st)
			}()
		}
	}
	return c
}

func (c *monCluster) node(id string) *monNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// waitSoleRunner waits until exactly one node runs the work, it is the Raft leader, its fence is
// its current term and the store's epoch; it returns that node and fence.
func (c *monCluster) waitSoleRunner(not string) (*monNode, uint64) {
	c.t.Helper()
	var (
		got   *monNode
		fence uint64
	)
	require.Eventually(c.t, func() bool {
		running, _ := c.rec.snapshot()
		if len(running) != 1 {
			return false
		}
		for id, f := range running {
			n := c.node(id)
			if id == not || !n.st.IsLeader() || n.st.Term() != f {
				return false
			}
			var epoch uint64
			if err := n.st.ViewStale(c.ctx, func(s store.Snapshot) error { epoch = s.Epoch(); return nil }); err != nil || epoch != f {
				return false
			}
			got, fence = n, f
		}
		return true
	}, waitFor, 5*time.Millisecond, "want one leader running reconcile with fence = term = epoch")
	return got, fence
}

func TestMonitorRunsWorkOnTheLeaderOnly(t *testing.T) {
	rec := &recorder{running: map[string]uint64{}}
	c := newMonCluster(t, rec, true)

	first, fence1 := c.waitSoleRunner("")
	require.Equal(t, api.ReconcileStatus{Running: true, Fence: fence1}, first.mon.status())

	// Planned handover: the old leader stops, the new one runs with a higher fence.
	require.NoError(t, first.st.TransferLeadership(c.ctx))
	second, fence2 := c.waitSoleRunner(first.id)
	require.Greater(t, fence2, fence1)
	require.Equal(t, api.ReconcileStatus{}, first.mon.status())

	// Partition the leader away: the majority elects a new leader whose work runs with a higher
	// fence, and the isolated node stops its work once it notices it lost leadership.
	for _, n := range c.nodes {
		if n != second {
			n.trans.Disconnect(second.addr)
			second.trans.Disconnect(n.addr)
		}
	}
	third, fence3 := c.waitSoleRunner(second.id)
	require.Greater(t, fence3, fence2)
	require.NotEqual(t, second.id, third.id)
	require.Equal(t, api.ReconcileStatus{}, second.mon.status())
	// The deposed leader's token is stale: the store refuses its writes.
	_, err := third.st.Commit(c.ctx, store.Txn{Fence: fence2, Ops: []store.Op{store.Put(store.Record{Kind: store.KindNode, ID: "x"})}})
	require.ErrorIs(t, err, store.ErrFenced)
}

func TestMonitorWaitsWhenTheEpochIsAhead(t *testing.T) {
	rec := &recorder{running: map[string]uint64{}}
	c := newMonCluster(t, rec, false)
	var leader *monNode
	require.Eventually(t, func() bool {
		for _, n := range c.nodes {
			if n.st.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, waitFor, 5*time.Millisecond)
	// Someone already raised the epoch past any term this cluster will reach soon.
	require.NoError(t, fsa.New(leader.st).AcquireEpoch(c.ctx, 1_000_000))

	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.mon.runRaft(ctx, leader.st)
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(c.logs.String(), "leadership not usable")
	}, waitFor, 5*time.Millisecond, "the monitor must report the unusable leadership")
	_, starts := rec.snapshot()
	require.Empty(t, starts, "no work may start without the epoch")
	require.Equal(t, api.ReconcileStatus{}, leader.mon.status())
	cancel()
	<-done
}

func TestMonitorStopsWorkThatIsFenced(t *testing.T) {
	rec := &recorder{running: map[string]uint64{}, result: fmt.Errorf("reconcile: %w", fsa.ErrFenced)}
	c := newMonCluster(t, rec, true)
	require.Eventually(t, func() bool {
		return strings.Contains(c.logs.String(), "reconcile fenced off")
	}, waitFor, 5*time.Millisecond)
	_, starts := rec.snapshot()
	require.Len(t, starts, 1, "fenced work is not restarted until leadership changes: %v", starts)
}
