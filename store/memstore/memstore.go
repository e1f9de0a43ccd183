// Package memstore is an in-memory [store.Store]: fast, not durable, everyone's test double.
//
// It passes the same conformance suite (store/storetest) as the durable stores, so code tested
// against it behaves the same on boltstore and raftstore.
package memstore

import (
	"context"
	"sort"
	"sync"

	"github.com/fullstackagent/fsa/store"
)

// Store keeps records in maps guarded by one lock. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	records map[store.Kind]map[string]store.Record
	index   map[indexKey]map[string]struct{}
	rev     int64
	epoch   uint64
	closed  bool
	feed    *store.Feed
}

var _ store.Store = (*Store)(nil)

type indexKey struct {
	kind  store.Kind
	field byte // 'o' owner, 'p' parent, 's' status
	value string
}

// Option configures a Store.
type Option func(*options)

type options struct{ retention int }

// WithRetention sets how many recent events the change feed keeps (store.DefaultRetention if unset).
func WithRetention(n int) Option { return func(o *options) { o.retention = n } }

// New returns an empty store at revision 0.
func New(opts ...Option) *Store {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	feed, _ := store.NewFeed(0, o.retention, nil) // cannot fail without history
	return &Store{
		records: make(map[store.Kind]map[string]store.Record),
		index:   make(map[indexKey]map[string]struct{}),
		feed:    feed,
	}
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Snapshot) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(snapshot{s})
}

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := txn.Validate(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	// Apply checks every precondition before its first write and the map backend cannot fail,
	// so an error here means nothing was written.
	ev, err := store.Apply(backend{s}, txn, s.rev+1)
	if err != nil {
		return 0, err
	}
	s.rev = ev.Revision
	s.feed.Publish(ev)
	return ev.Revision, nil
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	return s.feed.Watch(ctx, after)
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.feed.Close()
	return nil
}

type snapshot struct{ s *Store }

func (n snapshot) Revision() int64 { return n.s.rev }
func (n snapshot) Epoch() uint64   { return n.s.epoch }

func (n snapshot) Get(kind store.Kind, id string) (store.Record, error) {
	r, ok := n.s.records[kind][id]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return clone(r), nil
}

func (n snapshot) List(kind store.Kind, f store.Filter) ([]store.Record, error) {
	byID := n.s.records[kind]
	var ids []string
	switch {
	case f.Owner != "":
		ids = keys(n.s.index[indexKey{kind, 'o', f.Owner}])
	case f.Parent != "":
		ids = keys(n.s.index[indexKey{kind, 'p', f.Parent}])
	case f.Status != "":
		ids = keys(n.s.index[indexKey{kind, 's', f.Status}])
	default:
		ids = make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]store.Record, 0, len(ids))
	for _, id := range ids {
		if r := byID[id]; f.Match(r) {
			out = append(out, clone(r))
		}
	}
	return out, nil
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// clone copies Data so callers cannot change stored bytes.
func clone(r store.Record) store.Record {
	if r.Data != nil {
		r.Data = append([]byte(nil), r.Data...)
	}
	return r
}

type backend struct{ s *Store }

func (b backend) Get(kind store.Kind, id string) (store.Record, bool, error) {
	r, ok := b.s.records[kind][id]
	return r, ok, nil
}

func (b backend) Put(r store.Record, prev *store.Record) error {
	if prev != nil {
		b.unindex(*prev)
	}
	m := b.s.records[r.Kind]
	if m == nil {
		m = make(map[string]store.Record)
		b.s.records[r.Kind] = m
	}
	r = clone(r)
	m[r.ID] = r
	b.indexField(r.Kind, 'o', r.Owner, r.ID)
	b.indexField(r.Kind, 'p', r.Parent, r.ID)
	b.indexField(r.Kind, 's', r.Status, r.ID)
	return nil
}

func (b backend) Delete(prev store.Record) error {
	b.unindex(prev)
	delete(b.s.records[prev.Kind], prev.ID)
	return nil
}

func (b backend) Epoch() (uint64, error) { return b.s.epoch, nil }

func (b backend) SetEpoch(e uint64) error {
	b.s.epoch = e
	return nil
}

func (b backend) indexField(kind store.Kind, field byte, value, id string) {
	if value == "" {
		return
	}
	k := indexKey{kind, field, value}
	set := b.s.index[k]
	if set == nil {
		set = make(map[string]struct{})
		b.s.index[k] = set
	}
	set[id] = struct{}{}
}

func (b backend) unindex(r store.Record) {
	for _, f := range []struct {
		field byte
		value string
	}{{'o', r.Owner}, {'p', r.Parent}, {'s', r.Status}} {
		if f.value == "" {
			continue
		}
		k := indexKey{r.Kind, f.field, f.value}
		delete(b.s.index[k], r.ID)
		if len(b.s.index[k]) == 0 {
			delete(b.s.index, k)
		}
	}
}
