package raftstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// oldEpoch is the fencing epoch of the backed-up cluster: far above any term the restored
// cluster reaches in a test, so a restore that kept it would fence off every new leader.
const oldEpoch = 1000

// backupOf runs a three-node cluster, commits a user "before" and the old epoch, takes a backup
// on the leader, then commits a user "after" and stops the cluster. It returns the backup's
// bytes, its Raft index and term, and the state.db of a stopped node (which has "after" too).
func backupOf(t *testing.T) (data []byte, index, term uint64, stateDB []byte) {
	t.Helper()
	c := newCluster(t, 3, withStableTimeouts())
	c.commit(t, store.Txn{Ops: []store.Op{
		put(store.KindUser, "before", `{"name":"before"}`),
		put(store.KindNode, "old1", `{"id":"old1"}`),
	}})
	c.commit(t, store.Txn{SetEpoch: oldEpoch})
	meta, rc, err := c.Leader().store.Backup(ctxT(t))
	require.NoError(t, err)
	data, err = io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "after", `{"name":"after"}`)}})
	waitRevision(t, c.nodes[1], revisionOf(t, c.Leader().store))
	for _, nd := range c.running() {
		c.stop(nd)
	}
	stateDB, err = os.ReadFile(filepath.Join(c.nodes[1].dir, "state.db"))
	require.NoError(t, err)
	return data, meta.Index, meta.Term, stateDB
}

// newEmptyCluster is a test cluster on its own in-memory network whose nodes are made but not
// started (empty directories).
func newEmptyCluster(t *testing.T, ids ...string) (*testCluster, []*testNode) {
	c := &testCluster{t: t, opts: []clusterOption{withStableTimeouts()}, cut: map[[2]string]bool{}}
	var nodes []*testNode
	for _, id := range ids {
		nodes = append(nodes, c.newNode(id))
	}
	t.Cleanup(c.close) // after the nodes' directories, so it runs before they are removed
	return c, nodes
}

func ids(t *testing.T, s *raftstore.Store, kind store.Kind) []string {
	t.Helper()
	_, recs := dump(t, s)
	var out []string
	for _, r := range recs[kind] {
		out = append(out, r.ID)
	}
	sort.Strings(out)
	return out
}

func sorted(a []string, more ...string) []string {
	out := append(append([]string(nil), a...), more...)
	sort.Strings(out)
	return out
}

func epochOf(t *testing.T, s *raftstore.Store) uint64 {
	t.Helper()
	var e uint64
	require.NoError(t, s.ViewStale(ctxT(t), func(sn store.Snapshot) error { e = sn.Epoch(); return nil }))
	return e
}

// TestRestoreBackupNewCluster restores a backup into a new cluster on new addresses, with the
// members listed at restore or joined afterwards: the restored node leads, the others receive
// the state by snapshot, the old epoch no longer fences the new leader, and new writes commit
// on every node, also after restarts.
func TestRestoreBackupNewCluster(t *testing.T) {
	backup, index, term, stateDB := backupOf(t)
	for _, tc := range []struct {
		name   string
		listed bool   // members given at restore (else r1 alone, others joined)
		data   []byte // what is restored
		users  []string
	}{
		{"members listed", true, backup, []string{"before"}},
		{"members joined", false, backup, []string{"before"}},
		{"state.db of a stopped node", true, stateDB, []string{"after", "before"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, nodes := newEmptyCluster(t, "r1", "r2", "r3")
			r1, r2, r3 := nodes[0], nodes[1], nodes[2]
			cfg := raftstore.RestoreConfig{
				NodeID: r1.id, Address: string(r1.addr), Logger: testLogger(),
				Edit: func(sn store.Snapshot) (store.Txn, error) {
					recs, err := sn.List(store.KindNode, store.Filter{})
					var txn store.Txn
					for _, r := range recs {
						txn.Ops = append(txn.Ops, store.Delete(store.KindNode, r.ID))
					}
					return txn, err
				},
			}
			if tc.listed {
				for _, nd := range []*testNode{r1, r2, r3} {
					cfg.Members = append(cfg.Members, raftstore.Member{ID: nd.id, Address: string(nd.addr)})
				}
			}
			info, err := raftstore.RestoreBackup(ctxT(t), r1.dir, bytes.NewReader(tc.data), cfg)
			require.NoError(t, err)
			require.Equal(t, uint64(oldEpoch), info.OldEpoch)
			if bytes.Equal(tc.data, backup) {
				require.LessOrEqual(t, info.Index, index, "the state applied at most the snapshot's index")
				require.Equal(t, term, info.Term)
			} else {
				require.Greater(t, info.Index, index, "the stopped node applied past the backup")
			}

			// Written compactly: a node's state.db is mostly preallocated space.
			fi, err := os.Stat(filepath.Join(r1.dir, "state.db"))
			require.NoError(t, err)
			require.Less(t, fi.Size(), int64(1<<20), "restored state.db size")

			c.start(r1)
			if tc.listed {
				c.start(r2)
				c.start(r3)
			} else {
				require.Equal(t, r1, c.Leader())
				for _, nd := range []*testNode{r2, r3} {
					c.start(nd)
					require.NoError(t, r1.store.Join(ctxT(t), nd.id, string(nd.addr)))
				}
			}
			leader := c.Leader()
			require.Equal(t, r1, leader, "only the restored node holds a configuration")
			st, err := leader.store.Status(ctxT(t))
			require.NoError(t, err)
			require.Len(t, st.Members, 3)
			require.Greater(t, st.Term, info.Term, "a new term above the restored one")

			// The old epoch is gone: the new leader fences with its term.
			require.Zero(t, epochOf(t, leader.store))
			c.commit(t, store.Txn{SetEpoch: leader.store.Term()})
			rev := c.commit(t, store.Txn{Fence: leader.store.Term(), Ops: []store.Op{put(store.KindUser, "new", `{"name":"new"}`)}})

			for _, nd := range []*testNode{r1, r2, r3} {
				waitRevision(t, nd, rev)
				require.Equal(t, sorted(tc.users, "new"), ids(t, nd.store, store.KindUser), nd.id)
				require.Empty(t, ids(t, nd.store, store.KindNode), nd.id)
				require.Equal(t, leader.store.Term(), epochOf(t, nd.store), nd.id)
			}
			waitFor(t, "equal applied indexes", func() bool {
				var applied []uint64
				for _, nd := range []*testNode{r1, r2, r3} {
					s, err := nd.store.Status(ctxT(t))
					if err != nil {
						return false
					}
					applied = append(applied, s.AppliedIndex)
				}
				return applied[0] == applied[1] && applied[1] == applied[2]
			})

			// Restarts keep everything: the restored node and a follower that got the snapshot.
			for _, nd := range []*testNode{r1, r2} {
				c.stop(nd)
				c.restart(nd)
			}
			rev = c.commit(t, store.Txn{Ops: []store.Op{put(store.KindUser, "later", `{"name":"later"}`)}})
			for _, nd := range []*testNode{r1, r2, r3} {
				waitRevision(t, nd, rev)
				require.Equal(t, sorted(tc.users, "new", "later"), ids(t, nd.store, store.KindUser), nd.id)
			}
		})
	}
}

// TestRestoreSingleNodeDatabase restores the database of a single node (boltstore, which never
// applied a Raft entry): the history starts at index 1, term 1.
func TestRestoreSingleNodeDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsa.db")
	bs, err := boltstore.Open(path)
	require.NoError(t, err)
	_, err = bs.Commit(ctxT(t), store.Txn{SetEpoch: 7, Ops: []store.Op{put(store.KindUser, "u1", `{}`)}})
	require.NoError(t, err)
	require.NoError(t, bs.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	c, nodes := newEmptyCluster(t, "r1")
	r1 := nodes[0]
	info, err := raftstore.RestoreBackup(ctxT(t), r1.dir, bytes.NewReader(data), raftstore.RestoreConfig{NodeID: r1.id, Address: string(r1.addr), Logger: testLogger()})
	require.NoError(t, err)
	require.Equal(t, raftstore.RestoreInfo{Index: 1, Term: 1, Revision: 1, OldEpoch: 7,
		Members: []raftstore.Member{{ID: "r1", Address: string(r1.addr), Suffrage: "Voter"}}}, info)
	c.start(r1)
	require.Equal(t, r1, c.Leader())
	c.commit(t, store.Txn{SetEpoch: r1.store.Term()})
	require.Equal(t, []string{"u1"}, ids(t, r1.store, store.KindUser))
}

// TestRestoreBackupRefuses checks that bad input fails with a clear error and leaves the target
// directory as it was.
func TestRestoreBackupRefuses(t *testing.T) {
	data, _, _, _ := backupOf(t)
	raftDB := func(t *testing.T) []byte {
		// A real raft.db: a bbolt file of another layout.
		dir := t.TempDir()
		_, err := raftstore.RestoreBackup(ctxT(t), filepath.Join(dir, "d"), bytes.NewReader(data), raftstore.RestoreConfig{NodeID: "x", Address: "a:1", Logger: testLogger()})
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, "d", "raft.db"))
		require.NoError(t, err)
		return b
	}(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	self := raftstore.RestoreConfig{NodeID: "r1", Address: "127.0.0.1:9001"}
	withMembers := func(ms ...raftstore.Member) raftstore.RestoreConfig {
		c := self
		c.Members = ms
		return c
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		dir     string // "missing", "empty", "full", "lost+found"
		backup  []byte
		cfg     raftstore.RestoreConfig
		want    error  // errors.Is, if set
		wantMsg string // substring, if set
	}{
		{name: "non-empty dir", dir: "full", backup: data, cfg: self, want: raftstore.ErrDirNotEmpty},
		{name: "garbage", dir: "empty", backup: []byte("this is not a database, just text long enough"), cfg: self, want: raftstore.ErrNotStateDB},
		{name: "garbage in missing dir", dir: "missing", backup: bytes.Repeat([]byte{0xAB}, 8192), cfg: self, want: raftstore.ErrNotStateDB},
		{name: "empty file", dir: "empty", backup: nil, cfg: self, want: raftstore.ErrNotStateDB},
		{name: "raft.db instead of a backup", dir: "lost+found", backup: raftDB, cfg: self, want: raftstore.ErrNotStateDB},
		{name: "truncated backup", dir: "empty", backup: data[:len(data)/2], cfg: self, want: raftstore.ErrNotStateDB},
		{name: "no node id", dir: "empty", backup: data, cfg: raftstore.RestoreConfig{Address: "a:1"}, wantMsg: "node id and address are required"},
		{name: "members without self", dir: "empty", backup: data,
			cfg: withMembers(raftstore.Member{ID: "r2", Address: "127.0.0.1:9002"}), wantMsg: "do not include the node r1"},
		{name: "self at another address", dir: "empty", backup: data,
			cfg: withMembers(raftstore.Member{ID: "r1", Address: "127.0.0.1:9999"}), wantMsg: "but the node's address is"},
		{name: "duplicate id", dir: "empty", backup: data,
			cfg: withMembers(raftstore.Member{ID: "r1", Address: "127.0.0.1:9001"}, raftstore.Member{ID: "r1", Address: "127.0.0.1:9002"}), wantMsg: "listed twice"},
		{name: "duplicate address", dir: "empty", backup: data,
			cfg: withMembers(raftstore.Member{ID: "r1", Address: "127.0.0.1:9001"}, raftstore.Member{ID: "r2", Address: "127.0.0.1:9001"}), wantMsg: "listed twice"},
		{name: "cancelled", ctx: cancelled, dir: "empty", backup: data, cfg: self, want: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			switch tc.dir {
			case "empty":
				require.NoError(t, os.Mkdir(dir, 0o700))
			case "full":
				require.NoError(t, os.Mkdir(dir, 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state.db"), []byte("keep"), 0o600))
			case "lost+found":
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "lost+found"), 0o700))
			}
			before := listDir(t, dir)
			ctx := tc.ctx
			if ctx == nil {
				ctx = ctxT(t)
			}
			tc.cfg.Logger = testLogger()
			_, err := raftstore.RestoreBackup(ctx, dir, bytes.NewReader(tc.backup), tc.cfg)
			require.Error(t, err)
			if tc.want != nil {
				require.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
			}
			if tc.wantMsg != "" {
				require.ErrorContains(t, err, tc.wantMsg)
			}
			require.Equal(t, before, listDir(t, dir), "the directory changed")
		})
	}
}

// listDir lists every path under dir with its size ("missing" if dir does not exist).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return []string{"missing"}
	}
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		return nil
	}))
	return out
}
