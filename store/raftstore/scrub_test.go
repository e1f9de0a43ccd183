package raftstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
)

// dirHolds returns the files under dir that contain b.
func dirHolds(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, b) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	}))
	return out
}

// TestScrub: a value overwritten, and one deleted, stay in raft.db, state.db (change history,
// free pages) and the snapshots until Scrub; after it no file holds them, the current state is
// intact, a second Scrub with nothing applied since works (the snapshot is written again), and
// the node restarts from the scrubbed files.
func TestScrub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	s, err := openSingle(dir)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()

	// Record data is base64 in the stored JSON: 30 bytes encode to 40 characters without padding.
	overwritten := []byte("overwritten-value-0123456789ab")
	deleted := []byte("deleted-value-0123456789abcdef")
	current := []byte("current-value-0123456789abcdef")
	b64 := func(b []byte) []byte { return []byte(base64Std(b)) }
	put := func(id string, data []byte) {
		_, err := commitAsLeader(ctx, s, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindProject, ID: id, Owner: "u", Data: data})}})
		require.NoError(t, err)
	}
	put("p1", overwritten)
	put("p2", deleted)
	require.NoError(t, s.Snapshot(ctx))
	put("p1", current)
	_, err = s.Commit(ctx, store.Txn{Ops: []store.Op{store.Delete(store.KindProject, "p2")}})
	require.NoError(t, err)
	require.NoError(t, s.Snapshot(ctx))
	for _, v := range [][]byte{overwritten, deleted} {
		require.ElementsMatch(t, []string{"raft.db", "state.db", "snapshot"}, kinds(dirHolds(t, dir, b64(v))), "%s before the scrub", v)
	}

	require.NoError(t, s.Scrub(ctx))
	require.NoError(t, s.Scrub(ctx), "again, nothing applied since")
	// Restarted with nothing after the snapshot, Raft has applied nothing and takes no snapshot:
	// Scrub writes the newest one again.
	require.NoError(t, s.Close())
	s, err = openSingle(dir)
	require.NoError(t, err)
	_, _, err = s.WaitLeader(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Scrub(ctx))
	for _, v := range [][]byte{overwritten, deleted} {
		require.Empty(t, dirHolds(t, dir, b64(v)), "%s after the scrubs", v)
	}
	snaps, err := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	require.ElementsMatch(t, []string{"state.db", "snapshot"}, kinds(dirHolds(t, dir, b64(current))))

	put("p3", []byte("after"))
	var rev int64
	require.NoError(t, s.Close())
	s, err = openSingle(dir)
	require.NoError(t, err)
	_, err = commitAsLeader(ctx, s, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindProject, ID: "p4", Data: []byte("x")})}})
	require.NoError(t, err)
	require.NoError(t, s.View(ctx, func(sn store.Snapshot) error {
		rev = sn.Revision()
		rs, err := sn.List(store.KindProject, store.Filter{})
		if err != nil {
			return err
		}
		require.Len(t, rs, 3)
		require.Equal(t, current, rs[0].Data)
		return nil
	}))
	require.Equal(t, int64(6), rev)
	// The history before the scrub is gone: a watch from before it is compacted, one from
	// after it replays.
	_, err = s.Watch(ctx, 1)
	require.ErrorIs(t, err, store.ErrCompacted)
	cur, err := s.Watch(ctx, 4)
	require.NoError(t, err)
	ev, err := cur.Next()
	require.NoError(t, err)
	require.Equal(t, int64(5), ev.Revision)
}

// kinds names the kind of each file: raft.db, state.db or snapshot.
func kinds(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		k := f
		if filepath.Base(f) == "state.bin" {
			k = "snapshot"
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
