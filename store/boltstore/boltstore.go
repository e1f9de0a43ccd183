package boltstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/fullstackagent/fsa/store"
)

// ErrLocked is returned by [Open] when another process holds the file open.
var ErrLocked = errors.New("boltstore: database file is locked by another process")

// DefaultLockTimeout is how long [Open] waits for another process to release the file.
const DefaultLockTimeout = 2 * time.Second

// Option configures [Open].
type Option func(*options)

type options struct {
	retention   int
	lockTimeout time.Duration
}

// WithRetention sets how many recent events the change log keeps (store.DefaultRetention if
// n <= 0). It may change between opens: a smaller window is trimmed on the next commit.
func WithRetention(n int) Option { return func(o *options) { o.retention = n } }

// WithLockTimeout sets how long Open waits for the file lock held by another process before
// failing with ErrLocked (DefaultLockTimeout if d <= 0).
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// Store is a [store.Store] in one bbolt file. Every successful Commit has been fsync'd.
type Store struct {
	db        *bolt.DB
	feed      *store.Feed
	retention int

	// commitMu is held by the one committer at a time, across bbolt's Update and the Publish
	// that follows it, so events reach the feed in revision order.
	commitMu sync.Mutex
	// queue holds the commits waiting for the next committer (group commit).
	queueMu sync.Mutex
	queue   []*request
	// groups counts committed bbolt transactions (for tests and benchmarks).
	groups atomic.Int64
	// applyTx is ApplyTx; tests replace it to inject storage failures.
	applyTx func(*bolt.Tx, store.Txn, int) (store.Event, error)

	// life guards closed: calls hold it shared, Close exclusively, so Close waits for calls in
	// progress and no call touches a closed bolt file.
	life   sync.RWMutex
	closed bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in the file at path, loads the retained change log
// into the feed so watchers can resume across restarts, and returns the store at its last
// committed revision.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{retention: store.DefaultRetention, lockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.retention <= 0 {
		o.retention = store.DefaultRetention
	}
	if o.lockTimeout <= 0 {
		o.lockTimeout = DefaultLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.lockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: gave up after %v: %w", path, o.lockTimeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s, err := newStore(db, o.retention)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return s, nil
}

func newStore(db *bolt.DB, retention int) (*Store, error) {
	if err := db.Update(Init); err != nil {
		return nil, err
	}
	var (
		rev     int64
		history []store.Event
	)
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		if rev, _, err = ReadState(tx); err != nil {
			return err
		}
		history, err = LoadHistory(tx, retention)
		return err
	})
	if err != nil {
		return nil, err
	}
	feed, err := store.NewFeed(rev, retention, history)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, feed: feed, retention: retention, applyTx: ApplyTx}, nil
}

// Path returns the file the store is in.
func (s *Store) Path() string { return s.db.Path() }

// View implements store.Store: fn reads a bolt read transaction. Keep fn short; a long read
// transaction holds old pages and makes the file grow.
func (s *Store) View(ctx context.Context, fn func(store.Snapshot) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(NewSnapshot(tx)) })
}

// Commit implements store.Store. It returns after the transaction is fsync'd and its event is
// published to watchers. (A View may see a commit a moment before its event is published, as
// a group's commits become readable together; Watch waits for such a revision.)
//
// Concurrent commits are grouped: while one bbolt write transaction is being synced, the
// transactions that arrive queue up, and the next committer applies all of them, each with its
// own revision, in one bbolt transaction and one fsync. A transaction that fails its
// preconditions writes nothing (see [ApplyTx]) and does not disturb the others in its group.
func (s *Store) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := txn.Validate(); err != nil {
		return 0, err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	req := &request{txn: txn, done: make(chan result, 1)}
	s.queueMu.Lock()
	s.queue = append(s.queue, req)
	s.queueMu.Unlock()

	s.commitMu.Lock()
	select {
	case r := <-req.done: // an earlier committer took our transaction in its group
		s.commitMu.Unlock()
		return r.rev, r.err
	default:
	}
	s.queueMu.Lock()
	group := s.queue
	s.queue = nil
	s.queueMu.Unlock()
	s.commitGroup(group) // group holds req: nobody else could take it while we held commitMu
	s.commitMu.Unlock()
	r := <-req.done
	return r.rev, r.err
}

type request struct {
	txn  store.Txn
	done chan result // buffered: the committer never blocks on it
}

type result struct {
	rev int64
	err error
}

// commitGroup applies group in one bbolt transaction, publishes the events in revision order
// and answers every request. Called with commitMu held.
func (s *Store) commitGroup(group []*request) {
	events := make([]store.Event, len(group))
	errs := make([]error, len(group))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, req := range group {
			events[i], errs[i] = s.applyTx(tx, req.txn, s.retention)
			if errs[i] != nil && !rejected(errs[i]) {
				return errs[i]
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		// A storage failure rolled back the whole group: retry each alone, so only the
		// transactions that fail on their own report an error.
		for _, req := range group {
			s.commitGroup([]*request{req})
		}
		return
	}
	if err == nil {
		s.groups.Add(1)
		// The whole group became readable at once; publish it at once, before answering anyone.
		published := make([]store.Event, 0, len(group))
		for i := range group {
			if errs[i] == nil {
				published = append(published, events[i])
			}
		}
		s.feed.Publish(published...)
	}
	for i, req := range group {
		switch {
		case err != nil:
			req.done <- result{err: fmt.Errorf("boltstore: commit: %w", err)}
		case errs[i] != nil:
			req.done <- result{err: errs[i]}
		default:
			req.done <- result{rev: events[i].Revision}
		}
	}
}

// rejected reports whether err is a transaction's own failure, after which ApplyTx has
// written nothing.
func rejected(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrFenced) || errors.Is(err, store.ErrInvalidTxn)
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	return s.feed.Watch(ctx, after)
}

// Close implements store.Store: it waits for calls in progress, ends open cursors and closes
// the file. It is idempotent.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.feed.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}
