package raftstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
	"github.com/fullstackagent/fsa/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		c := newCluster(t, 3, withRetention(o.Retention), withStableTimeouts())
		return &leaderStore{c: c}
	})
}

// readEvents reads n events from a new cursor on s starting after rev 0.
func readEvents(t *testing.T, s *raftstore.Store, n int) []store.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := s.Watch(ctx, 0)
	require.NoError(t, err)
	out := make([]store.Event, 0, n)
	for len(out) < n {
		ev, err := c.Next()
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

func TestReplication(t *testing.T) {
	c := newCluster(t, 3)
	ctx := ctxT(t)

	for i := 0; i < 20; i++ {
		c.commit(t, store.Txn{Ops: []store.Op{
			put(store.KindProject, fmt.Sprint("p", i%7), fmt.Sprint(i)),
			put(store.KindSandbox, fmt.Sprint("s", i), fmt.Sprint(i)),
		}})
		// A failing transaction between successful ones takes no revision on any node.
		_, err := c.Leader().store.Commit(ctx, store.Txn{
			Conds: []store.Cond{{Kind: store.KindUser, ID: "nobody", Version: store.AnyVersion}},
			Ops:   []store.Op{put(store.KindUser, "x", "")},
		})
		require.ErrorIs(t, err, store.ErrConflict)
	}
	last := c.commit(t, store.Txn{SetEpoch: 3, Ops: []store.Op{store.Delete(store.KindProject, "p0")}})
	require.Equal(t, int64(21), last)

	nodes := c.running()
	for _, nd := range nodes {
		waitRevision(t, nd, last)
	}
	wantRev, want := dump(t, nodes[0].store)
	require.Equal(t, last, wantRev)
	wantEvents := readEvents(t, nodes[0].store, int(last))
	for _, nd := range nodes[1:] {
		t.Run(nd.id, func(t *testing.T) {
			rev, got := dump(t, nd.store)
			assert.Equal(t, wantRev, rev)
			assert.Equal(t, want, got, "records on %s", nd.id)
			assert.Equal(t, wantEvents, readEvents(t, nd.store, int(last)), "events on %s", nd.id)
			var epoch uint64
			require.NoError(t, nd.store.ViewStale(ctx, func(sn store.Snapshot) error { epoch = sn.Epoch(); return nil }))
			assert.Equal(t, uint64(3), epoch)
		})
	}
}

func TestFollowerRefuses(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.Leader()
	ctx := ctxT(t)
	rev, err := leader.store.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindUser, "u", "1")}})
	require.NoError(t, err)

	f := c.Followers()[0]
	waitFor(t, "the follower knows the leader", func() bool { id, _ := f.store.Leader(); return id == leader.id })
	calls := map[string]func() error{
		"Commit": func() error {
			_, err := f.store.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindUser, "v", "1")}})
			return err
		},
		"View":    func() error { return f.store.View(ctx, func(store.Snapshot) error { return nil }) },
		"Barrier": func() error { return f.store.Barrier(ctx) },
		"Join":    func() error { return f.store.Join(ctx, "nodeX", "nodeX-addr") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.ErrorIs(t, err, raftstore.ErrNotLeader)
			var nl *raftstore.NotLeaderError
			require.True(t, errors.As(err, &nl), "got %T, want *NotLeaderError", err)
			assert.Equal(t, leader.id, nl.LeaderID)
			assert.Equal(t, leader.store.Address(), nl.LeaderAddress)
			assert.False(t, nl.Uncertain)
		})
	}
	// Nothing the follower refused was applied; stale reads work on the follower.
	waitRevision(t, f, rev)
	require.NoError(t, f.store.ViewStale(ctx, func(sn store.Snapshot) error {
		_, err := sn.Get(store.KindUser, "v")
		require.ErrorIs(t, err, store.ErrNotFound)
		r, err := sn.Get(store.KindUser, "u")
		require.NoError(t, err)
		assert.Equal(t, rev, r.Version)
		return nil
	}))
	assert.Equal(t, rev, revisionOf(t, leader.store))
}

func TestLeaderLoss(t *testing.T) {
	for _, how := range []string{"shutdown", "disconnect"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 3)
			old := c.Leader()
			ctx := ctxT(t)
			acked := map[string]int64{}
			for i := 0; i < 10; i++ {
				id := fmt.Sprint("before", i)
				rev, err := old.store.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindEnvVar, id, id)}})
				require.NoError(t, err)
				acked[id] = rev
			}
			if how == "shutdown" {
				c.stop(old)
			} else {
				c.Disconnect(old)
			}
			leader := c.Leader()
			require.NotEqual(t, old.id, leader.id)

			// Every acknowledged write survived, at its revision (linearizable read on the new leader).
			require.NoError(t, leader.store.View(ctx, func(sn store.Snapshot) error {
				for id, rev := range acked {
					r, err := sn.Get(store.KindEnvVar, id)
					require.NoError(t, err, id)
					assert.Equal(t, rev, r.Version, id)
				}
				assert.Equal(t, int64(10), sn.Revision())
				return nil
			}))
			// Writes continue, with the next revisions.
			for i := 0; i < 5; i++ {
				rev, err := leader.store.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindEnvVar, fmt.Sprint("after", i), "")}})
				require.NoError(t, err)
				assert.Equal(t, int64(11+i), rev)
			}
			// The old leader catches up when it returns.
			if how == "shutdown" {
				c.restart(old)
			} else {
				c.Heal()
			}
			waitRevision(t, old, 15)
			_, want := dump(t, leader.store)
			_, got := dump(t, old.store)
			assert.Equal(t, want, got)
		})
	}
}

func TestPartitionFencing(t *testing.T) {
	c := newCluster(t, 3)
	old := c.Leader()
	ctx := ctxT(t)

	// The leader fences itself in as the daemon does: barrier, then epoch = its term.
	oldTerm := old.store.Term()
	require.NoError(t, old.store.Barrier(ctx))
	_, err := old.store.Commit(ctx, store.Txn{SetEpoch: oldTerm})
	require.NoError(t, err)
	base, err := old.store.Commit(ctx, store.Txn{Fence: oldTerm, Ops: []store.Op{put(store.KindSandbox, "s", "v1")}})
	require.NoError(t, err)

	c.Partition(old)

	// The isolated leader cannot commit: it steps down and the proposal fails.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = old.store.Commit(cctx, store.Txn{Fence: oldTerm, Ops: []store.Op{put(store.KindSandbox, "s", "lost"), put(store.KindSandbox, "lost", "")}})
	require.Error(t, err)
	require.ErrorIs(t, err, raftstore.ErrNotLeader, "got %v", err)

	// The majority elects a new leader, which fences the old epoch out.
	leader := c.Leader()
	require.NotEqual(t, old.id, leader.id)
	newTerm := leader.store.Term()
	require.Greater(t, newTerm, oldTerm)
	require.NoError(t, leader.store.Barrier(ctx))
	_, err = leader.store.Commit(ctx, store.Txn{SetEpoch: newTerm})
	require.NoError(t, err)

	// A late write from the old term fails inside the state machine on every node.
	_, err = leader.store.Commit(ctx, store.Txn{Fence: oldTerm, Ops: []store.Op{put(store.KindSandbox, "late", "")}})
	require.ErrorIs(t, err, store.ErrFenced)
	var fe *store.FencedError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, newTerm, fe.Epoch)
	_, err = leader.store.Commit(ctx, store.Txn{Fence: newTerm, Ops: []store.Op{put(store.KindSandbox, "s", "v2")}})
	require.NoError(t, err)

	// After healing, the old leader discards its uncommitted entry and converges.
	c.Heal()
	head := revisionOf(t, leader.store)
	require.Equal(t, base+2, head, "only the new epoch and one write were committed after the partition")
	for _, nd := range c.running() {
		waitRevision(t, nd, head)
		require.NoError(t, nd.store.ViewStale(ctx, func(sn store.Snapshot) error {
			for _, id := range []string{"lost", "late"} {
				_, err := sn.Get(store.KindSandbox, id)
				assert.ErrorIs(t, err, store.ErrNotFound, "%s on %s", id, nd.id)
			}
			r, err := sn.Get(store.KindSandbox, "s")
			require.NoError(t, err)
			assert.Equal(t, "v2", string(r.Data), nd.id)
			assert.Equal(t, newTerm, sn.Epoch(), nd.id)
			return nil
		}))
	}
}

func TestSnapshotInstall(t *testing.T) {
	c := newCluster(t, 3, withTrailingLogs(4))
	ctx := ctxT(t)

	lagging := c.Followers()[0]
	staleCursor, err := lagging.store.Watch(ctx, 0)
	require.NoError(t, err)
	c.Disconnect(lagging)

	for i := 0; i < 30; i++ {
		c.commit(t, store.Txn{Ops: []store.Op{put(store.KindProject, fmt.Sprint("p", i), fmt.Sprint(i))}})
	}
	// Snapshot and compact on both connected nodes, so whichever leads has no log to send.
	for _, nd := range c.running() {
		if nd == lagging {
			continue
		}
		waitRevision(t, nd, 30)
		require.NoError(t, nd.store.Snapshot(ctx))
		snaps, err := os.ReadDir(filepath.Join(nd.dir, "snapshots"))
		require.NoError(t, err)
		require.NotEmpty(t, snaps, "a snapshot on disk on %s", nd.id)
	}

	// A new node and the lagging follower can only catch up from a snapshot.
	fresh := c.addNode("node3")
	c.Heal()
	head := revisionOf(t, c.Leader().store)
	require.Equal(t, int64(30), head)
	for _, nd := range []*testNode{fresh, lagging} {
		t.Run(nd.id, func(t *testing.T) {
			waitRevision(t, nd, head)
			_, want := dump(t, c.Leader().store)
			rev, got := dump(t, nd.store)
			assert.Equal(t, head, rev)
			assert.Equal(t, want, got)

			// The feed was reset to the restored revision: older revisions are gone, the head
			// can be watched.
			_, err := nd.store.Watch(ctx, 0)
			require.ErrorIs(t, err, store.ErrCompacted)
			cur, err := nd.store.Watch(ctx, head)
			require.NoError(t, err)
			rev = c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "after-"+nd.id, "")}})
			ev, err := cur.Next()
			require.NoError(t, err)
			assert.Equal(t, rev, ev.Revision)
			assert.Equal(t, "after-"+nd.id, ev.Changes[0].Record.ID)
			head = rev
		})
	}
	// The cursor that was open on the lagging follower cannot skip the restored gap. (Watch at
	// the head returns once the follower has published it: no publish runs during Next.)
	waitRevision(t, lagging, head)
	_, err = lagging.store.Watch(ctx, head)
	require.NoError(t, err)
	_, err = staleCursor.Next()
	require.ErrorIs(t, err, store.ErrCompacted)
}

func TestRestart(t *testing.T) {
	t.Run("follower", func(t *testing.T) {
		c := newCluster(t, 3, withStableTimeouts())
		for i := 0; i < 10; i++ {
			c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, fmt.Sprint("u", i), "")}})
		}
		f := c.Followers()[0]
		waitRevision(t, f, 10)
		_, want := dump(t, f.store)
		c.stop(f)
		c.restart(f)
		// Recovered from the state database at once, before hearing from the leader; Raft's
		// replay of the log does not apply anything twice.
		rev, got := dump(t, f.store)
		assert.Equal(t, int64(10), rev)
		assert.Equal(t, want, got)
		evs := readEvents(t, f.store, 10)
		assert.Equal(t, int64(10), evs[9].Revision, "the feed's history survives a restart")
		c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "after", "")}})
		waitRevision(t, f, 11)
		assert.Equal(t, int64(11), revisionOf(t, f.store))
	})

	t.Run("whole cluster", func(t *testing.T) {
		c := newCluster(t, 3, withStableTimeouts())
		ctx := ctxT(t)
		for i := 0; i < 10; i++ {
			c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, fmt.Sprint("u", i), "")}})
		}
		require.NoError(t, c.nodes[0].store.Snapshot(ctx))
		c.commit(t, store.Txn{SetEpoch: 9})
		for _, nd := range c.running() {
			waitRevision(t, nd, 11)
		}
		_, want := dump(t, c.nodes[0].store)
		for _, nd := range c.running() {
			c.stop(nd)
		}
		for _, nd := range c.nodes {
			c.restart(nd)
		}
		leader := c.Leader()
		var rev int64
		require.NoError(t, leader.store.View(ctx, func(sn store.Snapshot) error {
			rev = sn.Revision()
			assert.Equal(t, uint64(9), sn.Epoch())
			return nil
		}))
		assert.Equal(t, int64(11), rev)
		_, got := dump(t, leader.store)
		assert.Equal(t, want, got)
		assert.Equal(t, int64(12), c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "after", "")}}))
	})

	t.Run("lost state database", func(t *testing.T) {
		c := newCluster(t, 3, withTrailingLogs(2), withStableTimeouts())
		ctx := ctxT(t)
		for i := 0; i < 10; i++ {
			c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, fmt.Sprint("u", i), "")}})
		}
		f := c.Followers()[0]
		waitRevision(t, f, 10)
		require.NoError(t, f.store.Snapshot(ctx))
		_, want := dump(t, f.store)
		c.stop(f)
		require.NoError(t, os.Remove(filepath.Join(f.dir, "state.db")))
		c.restart(f)
		// Rebuilt from its own snapshot plus the log after it.
		waitRevision(t, f, 10)
		rev, got := dump(t, f.store)
		assert.Equal(t, int64(10), rev)
		assert.Equal(t, want, got)
	})
}

// TestStateDatabaseAfterCrash covers the state database written without fsync (durability.go):
// after a process crash it is used as it is; after a machine crash (a marker from another boot)
// it is set aside and rebuilt from the snapshot and the log.
func TestStateDatabaseAfterCrash(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err != nil {
		t.Skip("no boot id on this platform: every apply is fsync'd")
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		snapshot bool   // take a snapshot before the crash (else the log alone rebuilds it)
		marker   string // the boot marker left behind by the crash
		corrupt  bool   // the crash left the database unreadable
		rebuilt  bool
	}{
		{name: "process crash", marker: string(bootID), rebuilt: false},
		{name: "machine crash, snapshot and log", snapshot: true, marker: "an-earlier-boot\n", corrupt: true, rebuilt: true},
		{name: "machine crash, log only", marker: "an-earlier-boot\n", corrupt: true, rebuilt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, withTrailingLogs(2), withStableTimeouts())
			ctx := ctxT(t)
			for i := 0; i < 10; i++ {
				c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, fmt.Sprint("u", i), "")}})
			}
			f := c.Followers()[0]
			waitRevision(t, f, 10)
			if tc.snapshot {
				require.NoError(t, f.store.Snapshot(ctx))
				c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "after-snapshot", "")}})
				waitRevision(t, f, 11)
			}
			wantRev, want := dump(t, f.store)
			c.stop(f)
			_, err := os.Stat(filepath.Join(f.dir, "state.db.boot"))
			require.ErrorIs(t, err, os.ErrNotExist, "a clean close removes the marker")

			// What a crash leaves behind: the marker, and after a machine crash a database
			// whose unsynced pages are garbage.
			require.NoError(t, os.WriteFile(filepath.Join(f.dir, "state.db.boot"), []byte(tc.marker), 0o600))
			if tc.corrupt {
				require.NoError(t, os.WriteFile(filepath.Join(f.dir, "state.db"), bytes.Repeat([]byte{0xAB}, 64<<10), 0o600))
			}
			c.restart(f)
			_, err = os.Stat(filepath.Join(f.dir, "state.db.discarded"))
			if !tc.rebuilt {
				require.ErrorIs(t, err, os.ErrNotExist)
				// Used as it was, before hearing from the leader.
				rev, got := dump(t, f.store)
				assert.Equal(t, wantRev, rev)
				assert.Equal(t, want, got)
			} else {
				require.NoError(t, err, "the untrusted database is set aside")
				waitRevision(t, f, wantRev)
				rev, got := dump(t, f.store)
				assert.Equal(t, wantRev, rev)
				assert.Equal(t, want, got)
			}
			marker, err := os.ReadFile(filepath.Join(f.dir, "state.db.boot"))
			require.NoError(t, err, "the running node marks its unsynced database")
			assert.Equal(t, strings.TrimSpace(string(bootID)), strings.TrimSpace(string(marker)))

			c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "later", "")}})
			waitRevision(t, f, wantRev+1)
		})
	}
}

func TestMembership(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.Leader()
	ctx := ctxT(t)

	st, err := leader.store.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, leader.id, st.ID)
	assert.Equal(t, leader.store.Address(), st.Address)
	require.Len(t, st.Members, 3)
	if st.State == "Leader" { // unless leadership moved since Leader() returned
		leaders := 0
		for _, m := range st.Members {
			assert.Equal(t, "Voter", m.Suffrage)
			if m.Leader {
				leaders++
				assert.Equal(t, leader.id, m.ID)
			}
		}
		assert.Equal(t, 1, leaders)
	}

	nd := c.addNode("node3")
	rev := c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "u", "")}})
	waitRevision(t, nd, rev)
	st, err = nd.store.Status(ctx)
	require.NoError(t, err)
	assert.Len(t, st.Members, 4)
	assert.Equal(t, rev, st.Revision)
	assert.GreaterOrEqual(t, st.AppliedIndex, uint64(rev))

	leader = c.Leader()
	victim := c.Followers()[0]
	require.NoError(t, leader.store.Remove(ctx, victim.id))
	st, err = leader.store.Status(ctx)
	require.NoError(t, err)
	assert.Len(t, st.Members, 3)
	for _, m := range st.Members {
		assert.NotEqual(t, victim.id, m.ID)
	}
}

func TestLeadershipTransfer(t *testing.T) {
	c := newCluster(t, 3)
	old := c.Leader()
	ctx := ctxT(t)
	select {
	case v := <-old.store.Leadership():
		require.True(t, v)
	case <-time.After(waitLong):
		t.Fatal("no leadership notification on the leader")
	}
	oldTerm := old.store.Term()
	require.NoError(t, old.store.TransferLeadership(ctx))
	select {
	case v := <-old.store.Leadership():
		require.False(t, v)
	case <-time.After(waitLong):
		t.Fatal("no notification of lost leadership")
	}
	leader := c.Leader()
	require.NotEqual(t, old.id, leader.id)
	select {
	case v := <-leader.store.Leadership():
		require.True(t, v)
	case <-time.After(waitLong):
		t.Fatal("no leadership notification on the new leader")
	}
	assert.Greater(t, leader.store.Term(), oldTerm)
	// Linearizable reads move with leadership.
	require.ErrorIs(t, old.store.View(ctx, func(store.Snapshot) error { return nil }), raftstore.ErrNotLeader)
	require.NoError(t, leader.store.View(ctx, func(store.Snapshot) error { return nil }))
}

func TestOpenErrors(t *testing.T) {
	cases := map[string]raftstore.Config{
		"no node id":   {Dir: t.TempDir(), BindAddr: "127.0.0.1:0"},
		"no dir":       {NodeID: "n", BindAddr: "127.0.0.1:0"},
		"no transport": {NodeID: "n", Dir: t.TempDir()},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := raftstore.Open(cfg)
			require.Error(t, err)
		})
	}
}

// TestTCP runs a single bootstrapped node on the TCP transport.
func TestTCP(t *testing.T) {
	s, err := raftstore.Open(raftstore.Config{
		NodeID: "solo", Dir: t.TempDir(), BindAddr: "127.0.0.1:0", Bootstrap: true,
		HeartbeatTimeout: testTimeout, ElectionTimeout: testTimeout, LeaderLeaseTimeout: testTimeout,
		Logger: testLogger(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := ctxT(t)
	id, addr, err := s.WaitLeader(ctx)
	require.NoError(t, err)
	assert.Equal(t, "solo", id)
	assert.Equal(t, s.Address(), addr)
	waitFor(t, "leadership", s.IsLeader)
	rev, err := s.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindUser, "u", "")}})
	require.NoError(t, err)
	assert.Equal(t, int64(1), rev)
}

func TestContextAndClose(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.Leader()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := leader.store.Commit(cancelled, store.Txn{Ops: []store.Op{put(store.KindUser, "never", "")}})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, leader.store.View(cancelled, func(store.Snapshot) error { return nil }), context.Canceled)
	require.ErrorIs(t, leader.store.Barrier(cancelled), context.Canceled)

	// An isolated leader cannot commit; a short deadline ends the wait with the context's error
	// or with leadership lost, whichever comes first.
	c.Partition(leader)
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	_, err = leader.store.Commit(short, store.Txn{Ops: []store.Op{put(store.KindUser, "lost", "")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		require.ErrorIs(t, err, raftstore.ErrNotLeader)
	}
	c.Heal()
	newLeader := c.Leader()
	require.NoError(t, newLeader.store.View(ctxT(t), func(sn store.Snapshot) error {
		_, err := sn.Get(store.KindUser, "never")
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))

	ctx := ctxT(t)
	f := c.Followers()[0]
	s := f.store
	c.stop(f)
	calls := map[string]func() error{
		"Commit": func() error {
			_, err := s.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindUser, "x", "")}})
			return err
		},
		"View":      func() error { return s.View(ctx, func(store.Snapshot) error { return nil }) },
		"ViewStale": func() error { return s.ViewStale(ctx, func(store.Snapshot) error { return nil }) },
		"Watch":     func() error { _, err := s.Watch(ctx, 0); return err },
		"Barrier":   func() error { return s.Barrier(ctx) },
		"Status":    func() error { _, err := s.Status(ctx); return err },
		"Snapshot":  func() error { return s.Snapshot(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { require.ErrorIs(t, call(), store.ErrClosed) })
	}
	require.NoError(t, s.Close(), "Close is idempotent")
}
