package fsa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// raftNode is one node of a three-node raftstore cluster on an in-memory network, with the SDK
// client it runs (with or without keys).
type raftNode struct {
	id    string
	addr  raft.ServerAddress
	dir   string
	trans *raft.InmemTransport
	cfg   raftstore.Config
	st    *raftstore.Store // nil while stopped
	kw    fsa.KeyWrapper
}

type raftWorld struct {
	t     *testing.T
	mu    sync.Mutex
	nodes []*raftNode
}

const raftTestTimeout = 100 * time.Millisecond

func newRaftWorld(t *testing.T, kw fsa.KeyWrapper) *raftWorld {
	w := &raftWorld{t: t}
	var members []raftstore.Member
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("n%d", i)
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		nd := &raftNode{id: id, addr: addr, dir: t.TempDir(), trans: trans, kw: kw}
		nd.cfg = raftstore.Config{NodeID: id, Dir: nd.dir, Transport: trans, Bootstrap: true,
			HeartbeatTimeout: raftTestTimeout, ElectionTimeout: raftTestTimeout, LeaderLeaseTimeout: raftTestTimeout,
			CommitTimeout: 5 * time.Millisecond, SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour,
			Logger: hclog.NewNullLogger()}
		w.nodes = append(w.nodes, nd)
		members = append(members, raftstore.Member{ID: id, Address: string(addr)})
	}
	for _, nd := range w.nodes {
		nd.cfg.InitialMembers = members
		w.connect(nd)
		w.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range w.nodes {
			if nd.st != nil {
				_ = nd.st.Close()
			}
			_ = nd.trans.Close()
		}
	})
	return w
}

func (w *raftWorld) connect(nd *raftNode) {
	for _, o := range w.nodes {
		if o != nd {
			nd.trans.Connect(o.addr, o.trans)
			o.trans.Connect(nd.addr, nd.trans)
		}
	}
}

func (w *raftWorld) start(nd *raftNode) {
	st, err := raftstore.Open(nd.cfg)
	require.NoError(w.t, err)
	w.mu.Lock()
	nd.st = st
	w.mu.Unlock()
}

func (w *raftWorld) stop(nd *raftNode) {
	w.mu.Lock()
	st := nd.st
	nd.st = nil
	w.mu.Unlock()
	require.NoError(w.t, st.Close())
}

// restart reopens a stopped node from its directory on a fresh transport, with keys kw.
func (w *raftWorld) restart(nd *raftNode, kw fsa.KeyWrapper) {
	for _, o := range w.nodes {
		o.trans.Disconnect(nd.addr)
	}
	_ = nd.trans.Close()
	nd.addr, nd.trans = raft.NewInmemTransport(nd.addr)
	nd.cfg.Transport = nd.trans
	nd.kw = kw
	w.connect(nd)
	w.start(nd)
}

// leader waits for a leader among the running nodes.
func (w *raftWorld) leader(ctx context.Context) *raftNode {
	nd := w.waitLeader(ctx)
	if nd == nil {
		w.t.Fatal("no leader")
	}
	return nd
}

// waitLeader waits for a leader among the running nodes; nil when ctx ends first.
func (w *raftWorld) waitLeader(ctx context.Context) *raftNode {
	for {
		w.mu.Lock()
		for _, nd := range w.nodes {
			if nd.st != nil && nd.st.IsLeader() {
				w.mu.Unlock()
				return nd
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond): // poll with a deadline: no leadership event spans restarts
		}
	}
}

func (nd *raftNode) client() *fsa.Client {
	if nd.kw == nil {
		return fsa.New(nd.st)
	}
	return fsa.New(nd.st, fsa.WithKeys(nd.kw))
}

// waitCaughtUp waits until every running node's state holds revision rev.
func (w *raftWorld) waitCaughtUp(ctx context.Context, rev int64) {
	for _, nd := range w.nodes {
		if nd.st == nil {
			continue
		}
		cur, err := nd.st.Watch(ctx, rev-1)
		require.NoError(w.t, err)
		_, err = cur.Next()
		require.NoError(w.t, err, "node %s reaching revision %d", nd.id, rev)
	}
}

func leaderRevision(t *testing.T, ctx context.Context, st store.Store) int64 {
	var rev int64
	require.NoError(t, st.View(ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil }))
	return rev
}

// dirFiles reads every file under dir, by path relative to it.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	}))
	return out
}

// raftRun writes the secret world into a three-node cluster, takes a snapshot on every node
// and a backup, stops the cluster and returns every file of every node and the backup.
func raftRun(t *testing.T, kw fsa.KeyWrapper) (secretWorld, map[string][]byte, []byte) {
	ctx := ctxT(t)
	rw := newRaftWorld(t, kw)
	ld := rw.leader(ctx)
	c := ld.client()
	w := writeSecrets(t, ctx, c)
	w.requireReadable(t, ctx, c)
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	for _, nd := range rw.nodes {
		require.NoError(t, nd.st.Snapshot(ctx))
	}
	_, rc, err := ld.st.Backup(ctx)
	require.NoError(t, err)
	backup, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	files := map[string][]byte{}
	for _, nd := range rw.nodes {
		rw.stop(nd)
		for rel, b := range dirFiles(t, nd.dir) {
			files[nd.id+"/"+rel] = b
		}
	}
	return w, files, backup
}

func TestSecretsSealedRaft(t *testing.T) {
	kr := testKeyring(t, testKEK(t, "k1"))
	w, files, backup := raftRun(t, kr)
	var raftDB, stateDB, snaps int
	for name, b := range files {
		switch filepath.Base(name) {
		case "raft.db":
			raftDB++
		case "state.db":
			stateDB++
		case "state.bin":
			snaps++
		}
		if len(b) > 0 {
			w.requireAbsent(t, name, b)
		}
	}
	require.Equal(t, 3, raftDB, "files: %v", fileNames(files))
	require.Equal(t, 3, stateDB)
	require.GreaterOrEqual(t, snaps, 3, "a snapshot on every node")
	w.requireAbsent(t, "backup", backup)

	// Control: without keys the same search finds every value in each kind of file.
	wp, pfiles, pbackup := raftRun(t, nil)
	wp.requirePresent(t, "plaintext backup", pbackup)
	for name, b := range pfiles {
		switch filepath.Base(name) {
		case "raft.db", "state.db", "state.bin":
			wp.requirePresent(t, "plaintext "+name, b)
		}
	}

	// The backup restored: with the right key it reads; with another key under the same id,
	// or without the key, it fails clearly.
	ctx := ctxT(t)
	restored := func(kw fsa.KeyWrapper) *fsa.Client {
		dir := t.TempDir()
		_, err := raftstore.RestoreBackup(ctx, dir, bytes.NewReader(backup), raftstore.RestoreConfig{NodeID: "r1", Address: "r1", Logger: hclog.NewNullLogger()})
		require.NoError(t, err)
		_, trans := raft.NewInmemTransport("r1")
		st, err := raftstore.Open(raftstore.Config{NodeID: "r1", Dir: dir, Transport: trans,
			HeartbeatTimeout: raftTestTimeout, ElectionTimeout: raftTestTimeout, LeaderLeaseTimeout: raftTestTimeout,
			Logger: hclog.NewNullLogger()})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close(); _ = trans.Close() })
		_, _, err = st.WaitLeader(ctx)
		require.NoError(t, err)
		if kw == nil {
			return fsa.New(st)
		}
		return fsa.New(st, fsa.WithKeys(kw))
	}
	good := restored(kr)
	_, err := good.CheckKeys(ctx)
	require.NoError(t, err)
	w.requireReadable(t, ctx, good)

	wrong := restored(testKeyring(t, testKEK(t, "k1")))
	_, err = wrong.CheckKeys(ctx)
	require.ErrorIs(t, err, fsa.ErrDecrypt)
	_, err = wrong.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrDecrypt)
	missing := restored(testKeyring(t, testKEK(t, "k9")))
	_, err = missing.CheckKeys(ctx)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable)
	require.ErrorContains(t, err, `"k1"`)
}

func fileNames(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMigrationRollingRestart: a three-node cluster that stored secrets in the clear is
// restarted one node at a time with a key, followers first, the leader last after handing
// over its leadership, while a writer keeps writing; then the leader's Reseal seals what was
// written in the clear, once. No write fails for longer than an election and none is lost.
func TestMigrationRollingRestart(t *testing.T) {
	ctx := ctxT(t)
	rw := newRaftWorld(t, nil)
	ld := rw.leader(ctx)
	w := writeSecrets(t, ctx, ld.client())
	kr := testKeyring(t, testKEK(t, "k1"))

	// The writer: sets W<i> on the project through whichever node leads, retrying each write
	// until it commits.
	var (
		written  atomic.Int64
		maxRetry atomic.Int64
	)
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			for i := 0; wctx.Err() == nil; i++ {
				for tries := int64(1); ; tries++ {
					err := func() error {
						lctx, cancel := context.WithTimeout(wctx, 2*time.Second)
						defer cancel()
						nd := rw.waitLeader(lctx)
						if nd == nil {
							return errors.New("no leader")
						}
						rw.mu.Lock()
						st, kw := nd.st, nd.kw
						rw.mu.Unlock()
						if st == nil {
							return errors.New("stopped")
						}
						c := fsa.New(st)
						if kw != nil {
							c = fsa.New(st, fsa.WithKeys(kw))
						}
						_, err := c.SetEnv(lctx, w.userID, w.projectID, fsa.EnvSpec{Key: fmt.Sprintf("W%d", i%50), Value: fmt.Sprint("v", i)})
						return err
					}()
					if err == nil {
						written.Add(1)
						if tries > maxRetry.Load() {
							maxRetry.Store(tries)
						}
						break
					}
					if wctx.Err() != nil {
						return nil
					}
					if tries > 200 {
						return fmt.Errorf("write %d failed %d times: %w", i, tries, err)
					}
				}
			}
			return nil
		}()
	}()

	waitWrites := func(n int64) {
		target := written.Load() + n
		for written.Load() < target {
			select {
			case <-ctx.Done():
				t.Fatal("writer stalled")
			case err := <-writerDone:
				t.Fatalf("writer stopped: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitWrites(5)
	// Followers first; the leader last, after handing its leadership to an upgraded node.
	upgraded := map[*raftNode]bool{}
	for len(upgraded) < len(rw.nodes) {
		ld := rw.leader(ctx)
		var next *raftNode
		for _, nd := range rw.nodes {
			if !upgraded[nd] && (next == nil || next == ld) {
				next = nd
			}
		}
		if next == ld {
			for next.st.IsLeader() {
				err := next.st.TransferLeadership(ctx) // times out when the target lags; try again
				require.NoError(t, ctx.Err(), "transfer leadership: %v", err)
			}
		}
		rw.stop(next)
		waitWrites(3) // the two others keep serving
		rw.restart(next, kr)
		upgraded[next] = true
		waitWrites(3)
	}
	stopWriter()
	require.NoError(t, <-writerDone)

	// Every node now has the key; the leader's Reseal seals what is still in the clear, once.
	ld = rw.leader(ctx)
	require.NoError(t, ld.st.Barrier(ctx)) // a write the writer gave up on may still apply
	c := ld.client()
	rep, err := c.CheckKeys(ctx)
	require.NoError(t, err)
	require.Positive(t, rep.Plain)
	require.NoError(t, c.AcquireEpoch(ctx, ld.st.Term()))
	n, err := c.Reseal(ctx, ld.st.Term(), fsa.ResealOptions{Batch: 8})
	require.NoError(t, err)
	require.Equal(t, rep.Plain, n)
	n, err = c.Reseal(ctx, ld.st.Term(), fsa.ResealOptions{})
	require.NoError(t, err)
	require.Zero(t, n)
	w.requireReadable(t, ctx, c)
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	for _, nd := range rw.nodes {
		rep, err := nd.client().CheckKeys(ctx) // each node's local state
		require.NoError(t, err)
		require.Zero(t, rep.Plain, nd.id)
		var recs []byte
		require.NoError(t, nd.st.ViewStale(ctx, func(s store.Snapshot) error {
			for _, k := range store.Kinds {
				rs, err := s.List(k, store.Filter{})
				if err != nil {
					return err
				}
				for _, r := range rs {
					recs = append(recs, r.Data...)
				}
			}
			return nil
		}))
		w.requireAbsent(t, nd.id+" state", recs)
	}
	vars, err := c.ListEnv(ctx, w.userID, w.projectID, true)
	require.NoError(t, err)
	require.Greater(t, len(vars), 3)
	t.Logf("%d writes during the roll; at most %d tries for one", written.Load(), maxRetry.Load())
}

// roll restarts every node with keys kw, one at a time: followers first, the leader last after
// handing over its leadership.
func (w *raftWorld) roll(ctx context.Context, kw fsa.KeyWrapper) {
	done := map[*raftNode]bool{}
	for len(done) < len(w.nodes) {
		ld := w.leader(ctx)
		var next *raftNode
		for _, nd := range w.nodes {
			if !done[nd] && (next == nil || next == ld) {
				next = nd
			}
		}
		if next == ld {
			for next.st.IsLeader() {
				err := next.st.TransferLeadership(ctx) // times out when the target lags; try again
				require.NoError(w.t, ctx.Err(), "transfer leadership: %v", err)
			}
		}
		w.stop(next)
		w.restart(next, kw)
		done[next] = true
	}
}

// reseal runs the leader's Reseal under a fresh epoch and waits until every node applied it.
func (w *raftWorld) reseal(ctx context.Context) int {
	ld := w.leader(ctx)
	require.NoError(w.t, ld.st.Barrier(ctx))
	c := ld.client()
	require.NoError(w.t, c.AcquireEpoch(ctx, ld.st.Term()))
	n, err := c.Reseal(ctx, ld.st.Term(), fsa.ResealOptions{Batch: 4})
	require.NoError(w.t, err)
	w.waitCaughtUp(ctx, leaderRevision(w.t, ctx, ld.st))
	return n
}

// files reads every file of every node (running or not), by node id and path.
func (w *raftWorld) files() map[string][]byte {
	out := map[string][]byte{}
	for _, nd := range w.nodes {
		for rel, b := range dirFiles(w.t, nd.dir) {
			out[nd.id+"/"+rel] = b
		}
	}
	return out
}

// requireInEachKind checks that every node's raft.db, state.db and newest snapshot hold each of
// values (found as containsValue finds them): the search finds what a scrub must remove.
func requireInEachKind(t *testing.T, files map[string][]byte, kinds []string, values map[string]string) {
	t.Helper()
	found := map[string]int{}
	for name, b := range files {
		base := filepath.Base(name)
		if !slices.Contains(kinds, base) {
			continue
		}
		for what, v := range values {
			if containsValue(b, v) {
				found[base+" "+what]++
			}
		}
	}
	for _, k := range kinds {
		for what := range values {
			require.Positive(t, found[k+" "+what], "no %s holds the %s", k, what)
		}
	}
}

// sealedValues returns the sealed fields ("fsa1.…") of every secret record in st's local state.
func sealedValues(t *testing.T, ctx context.Context, st *raftstore.Store) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`"sealed":"(fsa1\.[A-Za-z0-9_-]+)"`)
	require.NoError(t, st.ViewStale(ctx, func(s store.Snapshot) error {
		for _, k := range []store.Kind{store.KindEnvVar, store.KindUserConfig, store.KindIdentity} {
			rs, err := s.List(k, store.Filter{})
			if err != nil {
				return err
			}
			for _, r := range rs {
				for _, m := range re.FindAllSubmatch(r.Data, -1) {
					out[string(k)+" "+r.ID] = string(m[1])
				}
			}
		}
		return nil
	}))
	require.NotEmpty(t, out)
	return out
}

// TestMigrationScrub: after the migration of a three-node cluster (a rolling restart with a
// key, then the leader's Reseal), what was written in the clear is still in every node's
// raft.db, state.db and snapshots; each node's Scrub removes it from every file of its
// directory. The same after a key rotation: the ciphertexts of the old primary key go. The
// scrubbed nodes keep working, and restart from their compacted files.
func TestMigrationScrub(t *testing.T) {
	ctx := ctxT(t)
	rw := newRaftWorld(t, nil)
	ld := rw.leader(ctx)
	w := writeSecrets(t, ctx, ld.client())
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	for _, nd := range rw.nodes {
		require.NoError(t, nd.st.Snapshot(ctx))
	}
	kinds := []string{"raft.db", "state.db", "state.bin"}

	k1 := testKEK(t, "k1")
	rw.roll(ctx, testKeyring(t, k1))
	require.Positive(t, rw.reseal(ctx))
	// Sealed now, but the clear values are still on disk: in the log, the change history, the
	// snapshots, free pages. (This is what the test finds without the scrub.)
	requireInEachKind(t, rw.files(), kinds, w.values())

	scrub := func() {
		for _, nd := range rw.nodes {
			require.NoError(t, nd.st.Scrub(ctx), nd.id)
		}
	}
	scrub()
	files := rw.files()
	require.Len(t, fileNames(files), 3*5, "raft.db, state.db, state.db.boot and one snapshot (meta.json, state.bin) per node: %v", fileNames(files))
	for name, b := range files {
		if filepath.Base(name) != "state.db.boot" {
			w.requireAbsent(t, name, b)
		}
	}
	ld = rw.leader(ctx)
	w.requireReadable(t, ctx, ld.client())

	// Rotation: k2 becomes the primary, k1 stays to read; once re-sealed and scrubbed, no
	// ciphertext of k1 is left. Before it, a value sealed under k1 is written (into the log and
	// the history) and every node snapshots (as Raft does from time to time).
	_, err := ld.client().SetEnv(ctx, w.userID, w.projectID, fsa.EnvSpec{Key: "LATER", Value: uniq(t, "later"), Secret: true})
	require.NoError(t, err)
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	for _, nd := range rw.nodes {
		require.NoError(t, nd.st.Snapshot(ctx))
	}
	old := sealedValues(t, ctx, ld.st)
	later := map[string]string{"LATER": old[string(store.KindEnvVar)+" "+w.projectID+"/LATER"]}
	require.NotEmpty(t, later["LATER"])
	rw.roll(ctx, testKeyring(t, testKEK(t, "k2"), k1))
	require.Equal(t, len(old), rw.reseal(ctx))
	requireInEachKind(t, rw.files(), []string{"state.bin"}, old)
	requireInEachKind(t, rw.files(), []string{"raft.db", "state.db"}, later)
	scrub()
	for name, b := range rw.files() {
		for what, v := range old {
			require.False(t, containsValue(b, v), "%s holds the k1 ciphertext of %s", name, what)
		}
	}

	// The scrubbed files serve: a node restarts from them, writes commit and replicate.
	ld = rw.leader(ctx)
	var follower *raftNode
	for _, nd := range rw.nodes {
		if nd != ld {
			follower = nd
		}
	}
	rw.stop(follower)
	rw.restart(follower, ld.kw)
	c := ld.client()
	_, err = c.SetEnv(ctx, w.userID, w.projectID, fsa.EnvSpec{Key: "AFTER_SCRUB", Value: "x"})
	require.NoError(t, err)
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	w.requireReadable(t, ctx, c)
	rep, err := follower.client().CheckKeys(ctx)
	require.NoError(t, err)
	require.Zero(t, rep.Plain)
	require.Equal(t, map[string]int{"k2": rep.Records}, rep.ByKey)
}
