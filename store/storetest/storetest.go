// Package storetest is the conformance suite for [store.Store] implementations.
//
// Every implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store { return open(t, o) })
//	}
//
// The suite covers CRUD, compare-and-swap conflicts under concurrent writers, index
// consistency, transaction atomicity, fencing, watch ordering and resume, and close semantics.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
)

// Options are what a test asks of the store it opens.
type Options struct {
	// Retention is how many events the change feed must keep; 0 means the implementation's default.
	Retention int
}

// Factory opens a new, empty store for one test. The suite closes it; the factory may register
// more cleanup with t.Cleanup.
type Factory func(t *testing.T, o Options) store.Store

// Replicated is implemented by a store under test that has replicas: stores that apply the
// same commits a moment later, such as the followers of a Raft cluster. The suite then checks
// read-your-writes across them too: a revision returned by the store can be watched from on
// every replica at once. Only Watch is called on a replica.
type Replicated interface {
	Replicas() []store.Store
}

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"CRUD", testCRUD},
		{"RevisionsAndVersions", testRevisions},
		{"Conflict", testConflict},
		{"ConcurrentCAS", testConcurrentCAS},
		{"Atomicity", testAtomicity},
		{"InvalidTxn", testInvalidTxn},
		{"Indexes", testIndexes},
		{"Fencing", testFencing},
		{"WatchOrder", testWatchOrder},
		{"WatchResume", testWatchResume},
		{"WatchConcurrentWriters", testWatchConcurrent},
		{"WatchCompacted", testWatchCompacted},
		{"WatchCancel", testWatchCancel},
		{"WatchAhead", testWatchAhead},
		{"WatchReadYourWrites", testWatchReadYourWrites},
		{"DataIsolation", testDataIsolation},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

const wait = 10 * time.Second

func openStore(t *testing.T, open Factory, o Options) store.Store {
	t.Helper()
	s := open(t, o)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rec(kind store.Kind, id, owner, parent, status, data string) store.Record {
	return store.Record{Kind: kind, ID: id, Owner: owner, Parent: parent, Status: status, Data: []byte(data)}
}

func get(t *testing.T, s store.Store, kind store.Kind, id string) (store.Record, error) {
	t.Helper()
	var r store.Record
	err := s.View(ctxT(t), func(sn store.Snapshot) error {
		var err error
		r, err = sn.Get(kind, id)
		return err
	})
	return r, err
}

func list(t *testing.T, s store.Store, kind store.Kind, f store.Filter) []string {
	t.Helper()
	var ids []string
	require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error {
		rs, err := sn.List(kind, f)
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return err
	}))
	return ids
}

func revision(t *testing.T, s store.Store) int64 {
	t.Helper()
	var rev int64
	require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error { rev = sn.Revision(); return nil }))
	return rev
}

func commit(t *testing.T, s store.Store, txn store.Txn) int64 {
	t.Helper()
	rev, err := s.Commit(ctxT(t), txn)
	require.NoError(t, err)
	return rev
}

func testCRUD(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	_, err := get(t, s, store.KindProject, "p1")
	require.ErrorIs(t, err, store.ErrNotFound)

	rev := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindProject, "p1", "u1", "", "CREATING", `{"n":1}`))}})
	r, err := get(t, s, store.KindProject, "p1")
	require.NoError(t, err)
	assert.Equal(t, rec(store.KindProject, "p1", "u1", "", "CREATING", `{"n":1}`).Data, r.Data)
	assert.Equal(t, "u1", r.Owner)
	assert.Equal(t, "CREATING", r.Status)
	assert.Equal(t, rev, r.Version)

	rev2 := commit(t, s, store.Txn{
		Conds: []store.Cond{{Kind: store.KindProject, ID: "p1", Version: rev}},
		Ops:   []store.Op{store.Put(rec(store.KindProject, "p1", "u1", "", "RUNNING", `{"n":2}`))},
	})
	r, err = get(t, s, store.KindProject, "p1")
	require.NoError(t, err)
	assert.Equal(t, "RUNNING", r.Status)
	assert.Equal(t, `{"n":2}`, string(r.Data))
	assert.Equal(t, rev2, r.Version)

	commit(t, s, store.Txn{Ops: []store.Op{store.Delete(store.KindProject, "p1")}})
	_, err = get(t, s, store.KindProject, "p1")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Empty(t, list(t, s, store.KindProject, store.Filter{}))

	// Same id, other kind: separate records.
	commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindSandbox, "x", "", "", "", "s")), store.Put(rec(store.KindDatabase, "x", "", "", "", "d"))}})
	sb, err := get(t, s, store.KindSandbox, "x")
	require.NoError(t, err)
	db, err := get(t, s, store.KindDatabase, "x")
	require.NoError(t, err)
	assert.Equal(t, "s", string(sb.Data))
	assert.Equal(t, "d", string(db.Data))
}

func testRevisions(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	require.Equal(t, int64(0), revision(t, s))
	for i := 1; i <= 5; i++ {
		rev := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u"+strconv.Itoa(i%2), "", "", "", strconv.Itoa(i)))}})
		require.Equal(t, int64(i), rev, "revision of commit %d", i)
		require.Equal(t, int64(i), revision(t, s))
	}
	// Deleting an absent record still commits a transaction with a revision, and changes nothing.
	rev := commit(t, s, store.Txn{Ops: []store.Op{store.Delete(store.KindUser, "nobody")}})
	require.Equal(t, int64(6), rev)
	r, err := get(t, s, store.KindUser, "u1")
	require.NoError(t, err)
	require.Equal(t, int64(5), r.Version)
}

func testConflict(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	v1 := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "", "1"))}})
	commit(t, s, store.Txn{Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: v1}}, Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "", "2"))}})
	before := revision(t, s)

	cases := []struct {
		name string
		cond store.Cond
		want int64
	}{
		{"stale version", store.Cond{Kind: store.KindProject, ID: "p", Version: v1}, v1},
		{"must be absent", store.Cond{Kind: store.KindProject, ID: "p", Version: 0}, 0},
		{"missing must exist", store.Cond{Kind: store.KindProject, ID: "q", Version: store.AnyVersion}, store.AnyVersion},
		{"missing at version", store.Cond{Kind: store.KindProject, ID: "q", Version: 3}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Commit(ctx, store.Txn{Conds: []store.Cond{tc.cond}, Ops: []store.Op{store.Put(rec(store.KindProject, "other", "u", "", "", "x"))}})
			require.ErrorIs(t, err, store.ErrConflict)
			var ce *store.ConflictError
			require.True(t, errors.As(err, &ce), "got %T, want *store.ConflictError", err)
			assert.Equal(t, tc.cond.ID, ce.ID)
			assert.Equal(t, tc.want, ce.Want)
			require.Equal(t, before, revision(t, s), "a failed commit must not take a revision")
			_, err = get(t, s, store.KindProject, "other")
			require.ErrorIs(t, err, store.ErrNotFound, "a failed commit must write nothing")
		})
	}
	// AnyVersion on an existing record passes.
	commit(t, s, store.Txn{Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: store.AnyVersion}}, Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "", "3"))}})
}

// testConcurrentCAS runs writers that increment one counter with read-CAS-retry loops: the final
// count must equal the number of increments, so no conflicting write was lost or applied twice.
func testConcurrentCAS(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindProject, "counter", "", "", "", "0"))}})
	const writers, each = 8, 15
	var conflicts sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					var cur store.Record
					if err := s.View(ctx, func(sn store.Snapshot) error {
						var err error
						cur, err = sn.Get(store.KindProject, "counter")
						return err
					}); err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(cur.Data))
					_, err := s.Commit(ctx, store.Txn{
						Conds: []store.Cond{{Kind: store.KindProject, ID: "counter", Version: cur.Version}},
						Ops:   []store.Op{store.Put(rec(store.KindProject, "counter", "", "", "", strconv.Itoa(n+1)))},
					})
					if errors.Is(err, store.ErrConflict) {
						conflicts.Store(cur.Version, true)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := get(t, s, store.KindProject, "counter")
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(writers*each), string(r.Data))
	require.Equal(t, int64(1+writers*each), revision(t, s), "only successful commits take revisions")
}

func testAtomicity(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	v := commit(t, s, store.Txn{Ops: []store.Op{
		store.Put(rec(store.KindProject, "p", "u", "", "CREATING", "p")),
		store.Put(rec(store.KindSandbox, "s", "u", "p", "CREATING", "s")),
	}})
	// Second condition fails: neither the put nor the delete may be applied.
	_, err := s.Commit(ctx, store.Txn{
		Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: v}, {Kind: store.KindSandbox, ID: "s", Version: v + 7}},
		Ops: []store.Op{
			store.Put(rec(store.KindProject, "p", "u", "", "RUNNING", "p2")),
			store.Delete(store.KindSandbox, "s"),
			store.Put(rec(store.KindDatabase, "d", "u", "p", "CREATING", "d")),
		},
	})
	require.ErrorIs(t, err, store.ErrConflict)
	p, err := get(t, s, store.KindProject, "p")
	require.NoError(t, err)
	assert.Equal(t, "CREATING", p.Status)
	_, err = get(t, s, store.KindSandbox, "s")
	require.NoError(t, err)
	_, err = get(t, s, store.KindDatabase, "d")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, []string{"s"}, list(t, s, store.KindSandbox, store.Filter{Parent: "p"}))

	// All conditions hold: every operation lands in one revision.
	rev := commit(t, s, store.Txn{
		Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: v}, {Kind: store.KindSandbox, ID: "s", Version: v}},
		Ops: []store.Op{
			store.Put(rec(store.KindProject, "p", "u", "", "TERMINATING", "p2")),
			store.Delete(store.KindSandbox, "s"),
			store.Put(rec(store.KindDatabase, "d", "u", "p", "CREATING", "d")),
		},
	})
	p, err = get(t, s, store.KindProject, "p")
	require.NoError(t, err)
	assert.Equal(t, rev, p.Version)
	d, err := get(t, s, store.KindDatabase, "d")
	require.NoError(t, err)
	assert.Equal(t, rev, d.Version)
	_, err = get(t, s, store.KindSandbox, "s")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testInvalidTxn(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	cases := map[string]store.Txn{
		"empty":          {},
		"unknown kind":   {Ops: []store.Op{store.Put(store.Record{Kind: "bogus", ID: "x"})}},
		"empty id":       {Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser})}},
		"NUL in id":      {Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "a\x00b"})}},
		"NUL in owner":   {Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "a", Owner: "\x00"})}},
		"huge id":        {Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: string(make([]byte, store.MaxIDLen+1))})}},
		"huge data":      {Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "a", Data: make([]byte, store.MaxDataLen+1)})}},
		"duplicate op":   {Ops: []store.Op{store.Put(rec(store.KindUser, "a", "", "", "", "")), store.Delete(store.KindUser, "a")}},
		"unknown op":     {Ops: []store.Op{{Type: 99, Record: rec(store.KindUser, "a", "", "", "", "")}}},
		"bad cond":       {Conds: []store.Cond{{Kind: store.KindUser, ID: "a", Version: -5}}, Ops: []store.Op{store.Put(rec(store.KindUser, "a", "", "", "", ""))}},
		"cond empty id":  {Conds: []store.Cond{{Kind: store.KindUser}}, Ops: []store.Op{store.Put(rec(store.KindUser, "a", "", "", "", ""))}},
		"cond bad kind ": {Conds: []store.Cond{{Kind: "nope", ID: "a"}}, Ops: []store.Op{store.Put(rec(store.KindUser, "a", "", "", "", ""))}},
	}
	for name, txn := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.Commit(ctx, txn)
			require.ErrorIs(t, err, store.ErrInvalidTxn)
			require.Equal(t, int64(0), revision(t, s))
			assert.Empty(t, list(t, s, store.KindUser, store.Filter{}))
		})
	}
}

func testIndexes(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	commit(t, s, store.Txn{Ops: []store.Op{
		store.Put(rec(store.KindProject, "p1", "alice", "", "RUNNING", "")),
		store.Put(rec(store.KindProject, "p2", "alice", "", "CREATING", "")),
		store.Put(rec(store.KindProject, "p3", "bob", "", "RUNNING", "")),
		store.Put(rec(store.KindSandbox, "s1", "alice", "p1", "RUNNING", "")),
		store.Put(rec(store.KindDatabase, "d1", "alice", "p1", "CREATING", "")),
		store.Put(rec(store.KindSandbox, "s3", "bob", "p3", "RUNNING", "")),
	}})
	assert.Equal(t, []string{"p1", "p2"}, list(t, s, store.KindProject, store.Filter{Owner: "alice"}))
	assert.Equal(t, []string{"p3"}, list(t, s, store.KindProject, store.Filter{Owner: "bob"}))
	assert.Equal(t, []string{"p1", "p3"}, list(t, s, store.KindProject, store.Filter{Status: "RUNNING"}))
	assert.Equal(t, []string{"p1"}, list(t, s, store.KindProject, store.Filter{Owner: "alice", Status: "RUNNING"}))
	assert.Equal(t, []string{"s1"}, list(t, s, store.KindSandbox, store.Filter{Parent: "p1"}))
	assert.Equal(t, []string{"d1"}, list(t, s, store.KindDatabase, store.Filter{Parent: "p1"}))
	assert.Equal(t, []string{"p1", "p2", "p3"}, list(t, s, store.KindProject, store.Filter{}))

	// Moving a record between index values updates both sides.
	commit(t, s, store.Txn{Ops: []store.Op{
		store.Put(rec(store.KindProject, "p2", "bob", "", "RUNNING", "")),
		store.Delete(store.KindProject, "p1"),
		store.Put(rec(store.KindSandbox, "s1", "alice", "p2", "STOPPED", "")),
	}})
	assert.Empty(t, list(t, s, store.KindProject, store.Filter{Owner: "alice"}))
	assert.Equal(t, []string{"p2", "p3"}, list(t, s, store.KindProject, store.Filter{Owner: "bob"}))
	assert.Equal(t, []string{"p2", "p3"}, list(t, s, store.KindProject, store.Filter{Status: "RUNNING"}))
	assert.Empty(t, list(t, s, store.KindProject, store.Filter{Status: "CREATING"}))
	assert.Empty(t, list(t, s, store.KindSandbox, store.Filter{Parent: "p1"}))
	assert.Equal(t, []string{"s1"}, list(t, s, store.KindSandbox, store.Filter{Parent: "p2"}))
	assert.Equal(t, []string{"s1"}, list(t, s, store.KindSandbox, store.Filter{Status: "STOPPED"}))
	assert.Empty(t, list(t, s, store.KindSandbox, store.Filter{Status: "NOPE"}))
}

func testFencing(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	put := func(fence uint64, id string) error {
		_, err := s.Commit(ctx, store.Txn{Fence: fence, Ops: []store.Op{store.Put(rec(store.KindSandbox, id, "", "", "", ""))}})
		return err
	}
	epoch := func() uint64 {
		var e uint64
		require.NoError(t, s.View(ctx, func(sn store.Snapshot) error { e = sn.Epoch(); return nil }))
		return e
	}
	require.Equal(t, uint64(0), epoch())
	require.ErrorIs(t, put(1, "a"), store.ErrFenced, "fence before any epoch")

	commit(t, s, store.Txn{SetEpoch: 5})
	require.Equal(t, uint64(5), epoch())
	require.NoError(t, put(5, "b"))
	require.NoError(t, put(0, "unfenced"))
	err := put(4, "c")
	require.ErrorIs(t, err, store.ErrFenced)
	var fe *store.FencedError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, uint64(5), fe.Epoch)

	_, err = s.Commit(ctx, store.Txn{SetEpoch: 3})
	require.ErrorIs(t, err, store.ErrFenced, "the epoch never goes down")
	_, err = s.Commit(ctx, store.Txn{SetEpoch: 5})
	require.ErrorIs(t, err, store.ErrFenced, "the epoch must rise")

	commit(t, s, store.Txn{SetEpoch: 7})
	require.ErrorIs(t, put(5, "d"), store.ErrFenced, "a deposed leader's write is rejected")
	require.NoError(t, put(7, "e"))
	for _, id := range []string{"a", "c", "d"} {
		_, err := get(t, s, store.KindSandbox, id)
		require.ErrorIs(t, err, store.ErrNotFound, "fenced write %s must not land", id)
	}
}

func next(t *testing.T, c *store.Cursor) store.Event {
	t.Helper()
	type result struct {
		ev  store.Event
		err error
	}
	ch := make(chan result, 1)
	go func() { ev, err := c.Next(); ch <- result{ev, err} }()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		return r.ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return store.Event{}
	}
}

func testWatchOrder(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	c, err := s.Watch(ctx, 0)
	require.NoError(t, err)
	r1 := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindProject, "p", "u", "", "CREATING", "1")), store.Put(rec(store.KindSandbox, "s", "u", "p", "CREATING", ""))}})
	r2 := commit(t, s, store.Txn{Ops: []store.Op{store.Delete(store.KindSandbox, "s")}})
	r3 := commit(t, s, store.Txn{SetEpoch: 2})

	ev := next(t, c)
	require.Equal(t, r1, ev.Revision)
	require.Len(t, ev.Changes, 2)
	assert.Equal(t, store.ChangePut, ev.Changes[0].Type)
	assert.Equal(t, "p", ev.Changes[0].Record.ID)
	assert.Equal(t, r1, ev.Changes[0].Record.Version)
	assert.Equal(t, "1", string(ev.Changes[0].Record.Data))
	assert.Equal(t, "s", ev.Changes[1].Record.ID)

	ev = next(t, c)
	require.Equal(t, r2, ev.Revision)
	require.Len(t, ev.Changes, 1)
	assert.Equal(t, store.ChangeDelete, ev.Changes[0].Type)
	assert.Equal(t, "u", ev.Changes[0].Record.Owner, "a delete carries the removed record's fields")
	assert.Equal(t, "p", ev.Changes[0].Record.Parent)

	ev = next(t, c)
	require.Equal(t, r3, ev.Revision)
	assert.Equal(t, uint64(2), ev.Epoch)
	assert.Equal(t, r3, c.Revision())

	// Watching from the current revision waits for the next commit.
	c2, err := s.Watch(ctx, r3)
	require.NoError(t, err)
	r4 := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u", "", "", "", ""))}})
	require.Equal(t, r4, next(t, c2).Revision)

}

func testWatchResume(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	for i := 1; i <= 10; i++ {
		commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, fmt.Sprint("u", i), "", "", "", ""))}})
	}
	for _, after := range []int64{0, 3, 9, 10} {
		c, err := s.Watch(ctx, after)
		require.NoError(t, err)
		for want := after + 1; want <= 10; want++ {
			ev := next(t, c)
			require.Equal(t, want, ev.Revision)
			require.Equal(t, fmt.Sprint("u", want), ev.Changes[0].Record.ID)
		}
	}
}

// testWatchConcurrent checks that under concurrent writers a watcher sees every revision exactly
// once, in order, each event holding what that commit wrote.
func testWatchConcurrent(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx := ctxT(t)
	c, err := s.Watch(ctx, 0)
	require.NoError(t, err)
	const writers, each = 6, 20
	var mu sync.Mutex
	committed := map[int64]string{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				rev, err := s.Commit(ctx, store.Txn{Ops: []store.Op{store.Put(rec(store.KindEnvVar, id, "", "", "", id))}})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				committed[rev] = id
				mu.Unlock()
			}
		}()
	}
	for want := int64(1); want <= writers*each; want++ {
		ev := next(t, c)
		require.Equal(t, want, ev.Revision, "events must arrive in order with no gap")
		require.Len(t, ev.Changes, 1)
		wg.Wait() // the commit map is complete once all writers returned; events are already durable
		mu.Lock()
		id := committed[want]
		mu.Unlock()
		require.Equal(t, id, ev.Changes[0].Record.ID, "revision %d", want)
	}
}

func testWatchCompacted(t *testing.T, open Factory) {
	s := openStore(t, open, Options{Retention: 5})
	ctx := ctxT(t)
	slow, err := s.Watch(ctx, 0)
	require.NoError(t, err)
	for i := 1; i <= 20; i++ {
		commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u", "", "", "", strconv.Itoa(i)))}})
	}
	_, err = s.Watch(ctx, 1)
	require.ErrorIs(t, err, store.ErrCompacted)
	_, err = slow.Next()
	require.ErrorIs(t, err, store.ErrCompacted, "a cursor that fell behind the window must not skip")

	c, err := s.Watch(ctx, 15)
	require.NoError(t, err, "the last 5 revisions are retained")
	require.Equal(t, int64(16), next(t, c).Revision)
}

func testWatchCancel(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	ctx, cancel := context.WithCancel(ctxT(t))
	c, err := s.Watch(ctx, 0)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.Next(); done <- err }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("Next did not return after its context was cancelled")
	}
}

func testDataIsolation(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	data := []byte("original")
	commit(t, s, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "u", Data: data})}})
	data[0] = 'X'
	r, err := get(t, s, store.KindUser, "u")
	require.NoError(t, err)
	require.Equal(t, "original", string(r.Data))
	r.Data[0] = 'Y'
	r, err = get(t, s, store.KindUser, "u")
	require.NoError(t, err)
	require.Equal(t, "original", string(r.Data))
}

func testClose(t *testing.T, open Factory) {
	s := open(t, Options{})
	ctx := ctxT(t)
	commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u", "", "", "", ""))}})
	c, err := s.Watch(ctx, 1)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.Next(); done <- err }()

	require.NoError(t, s.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, store.ErrClosed)
	case <-time.After(wait):
		t.Fatal("an open cursor did not end when the store closed")
	}
	_, err = s.Commit(ctx, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "v", "", "", "", ""))}})
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, s.View(ctx, func(store.Snapshot) error { return nil }), store.ErrClosed)
	_, err = s.Watch(ctx, 0)
	require.ErrorIs(t, err, store.ErrClosed)
	require.NoError(t, s.Close(), "Close is idempotent")
}

// testWatchAhead checks the rule for revisions the store has not published: within the
// retention window ahead of the head a watch waits for them (the cursor delivers the events
// after the requested revision once they commit); further ahead it is refused at once with
// store.ErrAhead, never with store.ErrCompacted.
func testWatchAhead(t *testing.T, open Factory) {
	const retention = 8
	s := openStore(t, open, Options{Retention: retention})
	ctx := ctxT(t)
	head := commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, "u0", "", "", "", ""))}})

	ahead, err := s.Watch(ctx, head+3)
	require.NoError(t, err, "a revision just ahead of the head is waited for")
	_, err = s.Watch(ctx, head+retention)
	require.NoError(t, err, "the whole retention window ahead is waited for")
	_, err = s.Watch(ctx, head+retention+1)
	require.ErrorIs(t, err, store.ErrAhead, "further ahead than the window is refused")
	require.NotErrorIs(t, err, store.ErrCompacted)

	got := make(chan store.Event, 1)
	go func() {
		ev, err := ahead.Next()
		if err == nil {
			got <- ev
		}
		close(got)
	}()
	for i := 1; i <= 4; i++ {
		select {
		case ev, ok := <-got:
			t.Fatalf("cursor after %d returned %v (ok %v) before the store reached it", head+3, ev.Revision, ok)
		default:
		}
		commit(t, s, store.Txn{Ops: []store.Op{store.Put(rec(store.KindUser, fmt.Sprint("u", i), "", "", "", ""))}})
	}
	select {
	case ev, ok := <-got:
		require.True(t, ok, "the waiting cursor failed")
		require.Equal(t, head+4, ev.Revision, "the first event after the requested revision")
		require.Equal(t, "u4", ev.Changes[0].Record.ID)
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
	}

	// A waiting cursor ends with its context.
	wctx, cancel := context.WithCancel(ctx)
	c, err := s.Watch(wctx, head+6)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.Next(); done <- err }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("a cursor waiting ahead did not end with its context")
	}
}

// testWatchReadYourWrites checks that a revision a caller got from the store, from a Commit or
// from a View, can be watched from at once: on the store itself and on each of its replicas
// (Replicated), with concurrent writers and a loaded CPU, many times. Every watch succeeds, and
// a watch from just before a commit delivers that commit, on every replica.
func testWatchReadYourWrites(t *testing.T, open Factory) {
	s := openStore(t, open, Options{})
	var replicas []store.Store
	if r, ok := s.(Replicated); ok {
		replicas = r.Replicas()
	}
	ctx := ctxT(t)
	loadCPU(t)

	const writers, each = 4, 40
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if !readYourWrites(t, ctx, s, replicas, fmt.Sprintf("w%d-%d", w, i)) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// readYourWrites commits one record and watches from the revisions the store returned; false
// after a failure (already reported).
func readYourWrites(t *testing.T, ctx context.Context, s store.Store, replicas []store.Store, id string) bool {
	rev, err := s.Commit(ctx, store.Txn{Ops: []store.Op{store.Put(rec(store.KindEnvVar, id, "", "", "", id))}})
	if !assert.NoError(t, err) {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_, err = s.Watch(wctx, rev)
	if !assert.NoError(t, err, "watch from the revision Commit returned (%d)", rev) {
		return false
	}
	var listed int64
	if !assert.NoError(t, s.View(ctx, func(sn store.Snapshot) error { listed = sn.Revision(); return nil })) {
		return false
	}
	_, err = s.Watch(wctx, listed)
	if !assert.NoError(t, err, "watch from the revision a View returned (%d)", listed) {
		return false
	}
	for i, r := range replicas {
		c, err := r.Watch(wctx, rev-1)
		if !assert.NoError(t, err, "replica %d: watch from %d, just committed", i, rev-1) {
			return false
		}
		ev, err := c.Next()
		if !assert.NoError(t, err, "replica %d: the event of revision %d", i, rev) {
			return false
		}
		if !assert.Equal(t, rev, ev.Revision, "replica %d", i) || !assert.Equal(t, id, ev.Changes[0].Record.ID, "replica %d", i) {
			return false
		}
	}
	return true
}

// loadCPU keeps every CPU busy until the test ends, so that the scheduler preempts the
// store's goroutines between steps that are otherwise too close together to interleave.
func loadCPU(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				if n%1024 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}
