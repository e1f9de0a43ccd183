package raftstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
)

// White-box tests of the state machine: what one node does with the entries Raft hands it.

func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	f, err := openFSM(t.TempDir(), 0, hclog.NewNullLogger(), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.close() })
	return f
}

func txnEntry(t *testing.T, index uint64, txn store.Txn) *raft.Log {
	t.Helper()
	data, err := encodeTxn(txn)
	require.NoError(t, err)
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func putUser(id string) store.Op {
	return store.Put(store.Record{Kind: store.KindUser, ID: id, Data: []byte(id)})
}

func fsmRevision(t *testing.T, f *fsm) int64 {
	var rev int64
	require.NoError(t, f.view(func(sn store.Snapshot) error { rev = sn.Revision(); return nil }))
	return rev
}

func TestApplyBatchIsolatesFailures(t *testing.T) {
	f := newTestFSM(t)
	cur, err := f.feed.Watch(context.Background(), 0)
	require.NoError(t, err)
	batch := []*raft.Log{
		txnEntry(t, 1, store.Txn{Ops: []store.Op{putUser("a")}}),
		// Fails its precondition: writes nothing, takes no revision.
		txnEntry(t, 2, store.Txn{Conds: []store.Cond{{Kind: store.KindUser, ID: "a", Version: 7}}, Ops: []store.Op{putUser("lost")}}),
		// Depends on entry 1 within the same bbolt transaction.
		txnEntry(t, 3, store.Txn{Conds: []store.Cond{{Kind: store.KindUser, ID: "a", Version: 1}}, Ops: []store.Op{putUser("b")}}),
		txnEntry(t, 4, store.Txn{}), // invalid
		{Index: 5, Term: 1, Type: raft.LogConfiguration},
		txnEntry(t, 6, store.Txn{Fence: 9, Ops: []store.Op{putUser("fenced")}}),
		txnEntry(t, 7, store.Txn{SetEpoch: 2}),
	}
	resp := f.ApplyBatch(batch)
	require.Len(t, resp, len(batch))
	assert.Equal(t, applyResult{rev: 1}, resp[0])
	assert.ErrorIs(t, resp[1].(applyResult).err, store.ErrConflict)
	assert.Equal(t, applyResult{rev: 2}, resp[2])
	assert.ErrorIs(t, resp[3].(applyResult).err, store.ErrInvalidTxn)
	assert.Nil(t, resp[4])
	assert.ErrorIs(t, resp[5].(applyResult).err, store.ErrFenced)
	assert.Equal(t, applyResult{rev: 3}, resp[6])
	assert.Equal(t, uint64(7), f.appliedIndex.Load())
	assert.Equal(t, int64(3), fsmRevision(t, f))

	for want := int64(1); want <= 3; want++ {
		ev, err := cur.Next()
		require.NoError(t, err)
		assert.Equal(t, want, ev.Revision)
	}
	require.NoError(t, f.view(func(sn store.Snapshot) error {
		_, err := sn.Get(store.KindUser, "lost")
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Equal(t, uint64(2), sn.Epoch())
		return nil
	}))

	// Raft replays entries after a restart: those at or below the applied index are skipped.
	resp = f.ApplyBatch(append(batch[5:], txnEntry(t, 8, store.Txn{Ops: []store.Op{putUser("c")}})))
	assert.Equal(t, []any{nil, nil, applyResult{rev: 4}}, resp)
	assert.Equal(t, int64(4), fsmRevision(t, f))
	assert.Equal(t, int64(4), f.feed.Head())
}

func TestApplyUndecodablePanics(t *testing.T) {
	cases := map[string][]byte{
		"empty":         nil,
		"unknown type":  {0xff, '{', '}'},
		"bad payload":   append([]byte{byte(cmdTxn)}, "not json"...),
		"unknown field": append([]byte{byte(cmdTxn)}, `{"ops":[{"type":1,"record":{"kind":"user","id":"u"}}],"future":1}`...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM(t)
			require.Panics(t, func() { f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}) })
			assert.Equal(t, int64(0), fsmRevision(t, f), "nothing applied")
		})
	}
}

type bufferSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }

func TestSnapshotRestore(t *testing.T) {
	src := newTestFSM(t)
	for i := uint64(1); i <= 5; i++ {
		src.ApplyBatch([]*raft.Log{txnEntry(t, i, store.Txn{Ops: []store.Op{putUser(string(rune('a' + i)))}})})
	}
	snap, err := src.Snapshot()
	require.NoError(t, err)
	// Applies continue while the snapshot is open; it still shows revision 5.
	src.ApplyBatch([]*raft.Log{txnEntry(t, 6, store.Txn{Ops: []store.Op{putUser("later")}})})
	var sink bufferSink
	require.NoError(t, snap.Persist(&sink))
	snap.Release()
	require.True(t, sink.closed)

	dst := newTestFSM(t)
	dst.ApplyBatch([]*raft.Log{txnEntry(t, 1, store.Txn{Ops: []store.Op{putUser("discarded")}})})
	// A snapshot of the database being replaced stays readable until released.
	old, err := dst.Snapshot()
	require.NoError(t, err)
	cur, err := dst.feed.Watch(context.Background(), 0)
	require.NoError(t, err)

	require.NoError(t, dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
	assert.Equal(t, int64(5), fsmRevision(t, dst))
	assert.Equal(t, uint64(5), dst.appliedIndex.Load())
	require.NoError(t, dst.view(func(sn store.Snapshot) error {
		_, err := sn.Get(store.KindUser, "discarded")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = sn.Get(store.KindUser, "later")
		assert.ErrorIs(t, err, store.ErrNotFound)
		rs, err := sn.List(store.KindUser, store.Filter{})
		assert.Len(t, rs, 5)
		return err
	}))
	// The feed restarts at the restored revision.
	_, err = cur.Next()
	assert.ErrorIs(t, err, store.ErrCompacted)
	_, err = dst.feed.Watch(context.Background(), 0)
	assert.ErrorIs(t, err, store.ErrCompacted)
	_, err = dst.feed.Watch(context.Background(), 5)
	assert.NoError(t, err)

	var oldSink bufferSink
	require.NoError(t, old.Persist(&oldSink))
	old.Release()
	assert.NotEmpty(t, oldSink.Bytes())

	// The log continues after the snapshot's index.
	resp := dst.ApplyBatch([]*raft.Log{txnEntry(t, 6, store.Txn{Ops: []store.Op{putUser("next")}})})
	assert.Equal(t, []any{applyResult{rev: 6}}, resp)

	// A stream that is not a database is refused and the state is kept.
	require.Error(t, dst.Restore(io.NopCloser(bytes.NewReader([]byte("garbage")))))
	assert.Equal(t, int64(6), fsmRevision(t, dst))
}

func TestReplayOfAForeignEntryPanics(t *testing.T) {
	entry := func(index, term uint64) *raft.Log {
		e := txnEntry(t, index, store.Txn{Ops: []store.Op{putUser(fmt.Sprint(index))}})
		e.Term = term
		return e
	}
	cases := []struct {
		name   string
		replay *raft.Log
		panics bool
	}{
		{"same entry at the applied index", entry(3, 2), false},
		{"older entry of an earlier term", entry(1, 1), false},
		{"other term at the applied index", entry(3, 1), true},
		{"higher term below the applied index", entry(2, 5), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t)
			f.ApplyBatch([]*raft.Log{entry(1, 1), entry(2, 2), entry(3, 2)})
			require.Equal(t, int64(3), fsmRevision(t, f))
			apply := func() { f.ApplyBatch([]*raft.Log{tc.replay}) }
			if tc.panics {
				require.Panics(t, apply)
			} else {
				require.NotPanics(t, apply)
			}
			assert.Equal(t, int64(3), fsmRevision(t, f), "a replayed entry changes nothing")
		})
	}
}
