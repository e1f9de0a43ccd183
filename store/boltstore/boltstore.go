package boltstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

	// commitMu serialises bolt's Update with the Publish that follows it, so events reach the
	// feed in revision order.
	commitMu sync.Mutex

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
	return &Store{db: db, feed: feed, retention: retention}, nil
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

// Commit implements store.Store. It returns after the transaction is fsync'd, and publishes its
// event to watchers after that.
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
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var ev store.Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		ev, err = ApplyTx(tx, txn, s.retention)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.feed.Publish(ev)
	return ev.Revision, nil
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
