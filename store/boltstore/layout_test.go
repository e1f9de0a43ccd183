package boltstore_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func openBolt(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Update(boltstore.Init))
	return db
}

// TestApplyTxBatch drives the primitives the way a Raft state machine does: several
// transactions in one bolt transaction, some of which fail their preconditions.
func TestApplyTxBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := openBolt(t, path)
	require.NoError(t, db.Update(boltstore.Init), "Init is idempotent")

	batch := []struct {
		txn     store.Txn
		wantRev int64
		wantErr error
	}{
		{store.Txn{Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "CREATING", "1"))}}, 1, nil},
		{store.Txn{Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: 0}}, Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "X", ""))}}, 0, store.ErrConflict},
		{store.Txn{Fence: 9, Ops: []store.Op{store.Put(rec(store.KindProject, "q", "", "", "", ""))}}, 0, store.ErrFenced},
		{store.Txn{}, 0, store.ErrInvalidTxn},
		{store.Txn{SetEpoch: 4}, 2, nil},
		{store.Txn{Fence: 4, Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: 1}}, Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "RUNNING", "2"))}}, 3, nil},
	}
	var events []store.Event
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for i, b := range batch {
			before := dump(t, tx)
			ev, err := boltstore.ApplyTx(tx, b.txn, 0)
			if b.wantErr != nil {
				require.ErrorIs(t, err, b.wantErr, "txn %d", i)
				require.Equal(t, before, dump(t, tx), "txn %d: a failed transaction must leave the bolt transaction unchanged", i)
				continue
			}
			require.NoError(t, err, "txn %d", i)
			require.Equal(t, b.wantRev, ev.Revision, "txn %d", i)
			events = append(events, ev)
			// A snapshot over the write transaction sees the batch so far.
			sn := boltstore.NewSnapshot(tx)
			require.Equal(t, ev.Revision, sn.Revision())
		}
		return nil
	}))

	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		rev, epoch, err := boltstore.ReadState(tx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), rev)
		assert.Equal(t, uint64(4), epoch)
		hist, err := boltstore.LoadHistory(tx, 0)
		require.NoError(t, err)
		assert.Equal(t, events, hist, "the returned events equal the stored change log")
		hist, err = boltstore.LoadHistory(tx, 2)
		require.NoError(t, err)
		assert.Equal(t, events[1:], hist)

		sn := boltstore.NewSnapshot(tx)
		p, err := sn.Get(store.KindProject, "p")
		require.NoError(t, err)
		assert.Equal(t, "RUNNING", p.Status)
		assert.Equal(t, int64(3), p.Version)
		_, err = sn.Get(store.KindProject, "q")
		assert.ErrorIs(t, err, store.ErrNotFound)
		return nil
	}))
	require.NoError(t, db.Close())

	// A file written by the primitives is a boltstore file.
	s := open(t, path)
	c, err := s.Watch(ctxT(t), 0)
	require.NoError(t, err)
	for _, want := range events {
		got, err := c.Next()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// TestApplyTxDeterministic applies the same transactions to two files and requires identical
// contents, bucket by bucket and key by key: what every Raft replica relies on.
func TestApplyTxDeterministic(t *testing.T) {
	dir := t.TempDir()
	var txns []store.Txn
	for i := range 60 {
		id := fmt.Sprint("p", i%7)
		txn := store.Txn{Ops: []store.Op{
			store.Put(rec(store.KindProject, id, fmt.Sprint("u", i%3), "", []string{"CREATING", "RUNNING", "STOPPED"}[i%3], fmt.Sprint(i))),
			store.Put(rec(store.KindSandbox, "s"+id, "", id, "", "")),
		}}
		if i%5 == 4 {
			txn.Ops = append(txn.Ops, store.Delete(store.KindProject, fmt.Sprint("p", (i+3)%7)))
		}
		if i%11 == 10 {
			txn = store.Txn{SetEpoch: uint64(i)}
		}
		txns = append(txns, txn)
	}
	var dumps []map[string]map[string]string
	for n := range 2 {
		db := openBolt(t, filepath.Join(dir, fmt.Sprint(n, ".db")))
		// Different batching on each replica must not matter.
		batch := 1 + n*7
		for start := 0; start < len(txns); start += batch {
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				for _, txn := range txns[start:min(start+batch, len(txns))] {
					if _, err := boltstore.ApplyTx(tx, txn, 25); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		require.NoError(t, db.View(func(tx *bolt.Tx) error { dumps = append(dumps, dump(t, tx)); return nil }))
	}
	require.Equal(t, dumps[0], dumps[1])
	require.Len(t, dumps[0]["changes"], 25, "the change log is trimmed to the retention")
}

// dump returns every bucket's keys and values.
func dump(t *testing.T, tx *bolt.Tx) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	require.NoError(t, tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		m := map[string]string{}
		out[string(name)] = m
		return b.ForEach(func(k, v []byte) error {
			m[string(k)] = string(bytes.Clone(v))
			return nil
		})
	}))
	return out
}
