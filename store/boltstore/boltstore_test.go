package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "fsa.db"), boltstore.WithRetention(o.Retention))
		require.NoError(t, err)
		return s
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, path string, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rec(kind store.Kind, id, owner, parent, status, data string) store.Record {
	return store.Record{Kind: kind, ID: id, Owner: owner, Parent: parent, Status: status, Data: []byte(data)}
}

func commit(t *testing.T, s store.Store, txn store.Txn) int64 {
	t.Helper()
	rev, err := s.Commit(ctxT(t), txn)
	require.NoError(t, err)
	return rev
}

type state struct {
	rev     int64
	epoch   uint64
	records map[store.Kind][]store.Record
	lists   map[string][]string
}

// readState reads everything a reopen must preserve.
func readState(t *testing.T, s store.Store) state {
	t.Helper()
	st := state{records: map[store.Kind][]store.Record{}, lists: map[string][]string{}}
	filters := map[string]store.Filter{
		"owner=alice":   {Owner: "alice"},
		"owner=bob":     {Owner: "bob"},
		"parent=p1":     {Parent: "p1"},
		"parent=p2":     {Parent: "p2"},
		"status=RUN":    {Status: "RUNNING"},
		"status=STOP":   {Status: "STOPPED"},
		"alice+RUNNING": {Owner: "alice", Status: "RUNNING"},
	}
	require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error {
		st.rev, st.epoch = sn.Revision(), sn.Epoch()
		for _, k := range store.Kinds {
			rs, err := sn.List(k, store.Filter{})
			if err != nil {
				return err
			}
			st.records[k] = rs
			for name, f := range filters {
				rs, err := sn.List(k, f)
				if err != nil {
					return err
				}
				for _, r := range rs {
					st.lists[string(k)+"/"+name] = append(st.lists[string(k)+"/"+name], r.ID)
				}
			}
		}
		return nil
	}))
	return st
}

// populate commits a mix of puts, moves between index values, deletes and an epoch change.
func populate(t *testing.T, s store.Store) {
	t.Helper()
	commit(t, s, store.Txn{Ops: []store.Op{
		store.Put(rec(store.KindUser, "alice", "", "", "", `{"name":"Alice"}`)),
		store.Put(rec(store.KindUser, "bob", "", "", "", `{"name":"Bob"}`)),
	}})
	commit(t, s, store.Txn{SetEpoch: 3})
	commit(t, s, store.Txn{Fence: 3, Ops: []store.Op{
		store.Put(rec(store.KindProject, "p1", "alice", "", "RUNNING", "1")),
		store.Put(rec(store.KindProject, "p2", "alice", "", "CREATING", "2")),
		store.Put(rec(store.KindSandbox, "s1", "alice", "p1", "RUNNING", "")),
		store.Put(rec(store.KindDatabase, "d1", "alice", "p1", "RUNNING", "")),
		store.Put(rec(store.KindEnvVar, "p1/FOO", "alice", "p1", "", "bar")),
	}})
	commit(t, s, store.Txn{Fence: 3, Ops: []store.Op{
		store.Put(rec(store.KindProject, "p2", "bob", "", "STOPPED", "2b")),
		store.Put(rec(store.KindSandbox, "s1", "alice", "p2", "STOPPED", "")),
		store.Delete(store.KindDatabase, "d1"),
	}})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsa.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	populate(t, s)
	before := readState(t, s)
	c, err := s.Watch(ctxT(t), 0)
	require.NoError(t, err)
	var events []store.Event
	for range before.rev {
		ev, err := c.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.NoError(t, s.Close())

	s = open(t, path)
	after := readState(t, s)
	require.Equal(t, before, after)
	require.Equal(t, int64(4), after.rev)
	require.Equal(t, uint64(3), after.epoch)
	require.Equal(t, []string{"p1"}, after.lists["project/owner=alice"])
	require.Equal(t, []string{"s1"}, after.lists["sandbox/parent=p2"])
	require.Empty(t, after.lists["database/parent=p1"])

	// The change history survived: watching from any retained revision replays it.
	for after := int64(0); after <= before.rev; after++ {
		c, err := s.Watch(ctxT(t), after)
		require.NoError(t, err)
		for _, want := range events[after:] {
			got, err := c.Next()
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	}
	// The next commit continues the revision sequence and reaches a watcher that resumed.
	c, err = s.Watch(ctxT(t), before.rev)
	require.NoError(t, err)
	rev := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "carol", "", "", "", ""))}})
	require.Equal(t, before.rev+1, rev)
	ev, err := c.Next()
	require.NoError(t, err)
	require.Equal(t, rev, ev.Revision)
}

func TestReopenWithSmallerRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsa.db")
	s, err := boltstore.Open(path, boltstore.WithRetention(10))
	require.NoError(t, err)
	for i := range 10 {
		commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u", "", "", "", fmt.Sprint(i)))}})
	}
	require.NoError(t, s.Close())

	s = open(t, path, boltstore.WithRetention(3))
	_, err = s.Watch(ctxT(t), 6)
	require.ErrorIs(t, err, store.ErrCompacted)
	c, err := s.Watch(ctxT(t), 7)
	require.NoError(t, err)
	ev, err := c.Next()
	require.NoError(t, err)
	require.Equal(t, int64(8), ev.Revision)
	require.Equal(t, "7", string(ev.Changes[0].Record.Data))
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsa.db")
	open(t, path)
	// bbolt's flock is per open file, so a second Open in this process contends like another
	// process would.
	start := time.Now()
	_, err := boltstore.Open(path, boltstore.WithLockTimeout(200*time.Millisecond))
	require.ErrorIs(t, err, boltstore.ErrLocked)
	require.Contains(t, err.Error(), path)
	require.Less(t, time.Since(start), 10*time.Second, "Open must give up, not hang")
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := boltstore.Open(filepath.Join(dir, "missing", "fsa.db"))
	require.Error(t, err, "parent directory does not exist")

	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a bolt file "), 1024), 0o600))
	_, err = boltstore.Open(garbage)
	require.Error(t, err)

	// A file with another layout format is refused, not misread.
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte{0, 0, 0, 0, 0, 0, 0, 2})
	}))
	require.NoError(t, db.Close())
	_, err = boltstore.Open(other)
	require.ErrorContains(t, err, "format")
}

func TestCancelledContext(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "fsa.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Commit(ctx, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u", "", "", "", ""))}})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.View(ctx, func(store.Snapshot) error { return nil }), context.Canceled)
	require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error {
		require.Equal(t, int64(0), sn.Revision(), "a cancelled commit must not land")
		return nil
	}))
	require.Equal(t, filepath.Join(filepath.Dir(s.Path()), "fsa.db"), s.Path())
}
