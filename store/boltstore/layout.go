package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
)

// Format is the version of the bucket layout written by [Init]. A file with another format is
// refused rather than misread.
const Format = 1

// Bucket and key names of the layout (see the package documentation).
var (
	bucketMeta    = []byte("meta")
	bucketChanges = []byte("changes")
	bucketIndex   = []byte("index")

	keyFormat   = []byte("format")
	keyRevision = []byte("revision")
	keyEpoch    = []byte("epoch")
)

// recordBucket is the name of the bucket holding the records of kind: "records/<kind>".
func recordBucket(kind store.Kind) []byte { return []byte("records/" + string(kind)) }

// Indexed fields and their names in index keys.
const (
	fieldOwner  = "owner"
	fieldParent = "parent"
	fieldStatus = "status"
)

// indexPrefix is kind \x00 field \x00 value \x00; an index key is the prefix followed by the id.
// Kinds, values and ids never contain NUL (store.Txn.Validate), so prefixes do not overlap.
func indexPrefix(kind store.Kind, field, value string) []byte {
	k := make([]byte, 0, len(kind)+len(field)+len(value)+3)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, field...)
	k = append(k, 0)
	k = append(k, value...)
	return append(k, 0)
}

func indexKey(kind store.Kind, field, value, id string) []byte {
	return append(indexPrefix(kind, field, value), id...)
}

func indexedFields(r store.Record) [3][2]string {
	return [3][2]string{{fieldOwner, r.Owner}, {fieldParent, r.Parent}, {fieldStatus, r.Status}}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// revKey is the key of a revision in the changes bucket: 8 bytes, big-endian, so that byte order
// is revision order.
func revKey(rev int64) []byte { return u64(uint64(rev)) }

func readU64(b *bolt.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("boltstore: meta %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Init creates the buckets of the layout in a write transaction and records the format. It is
// idempotent, and it fails on a file written with another format.
func Init(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("boltstore: create meta bucket: %w", err)
	}
	switch v := meta.Get(keyFormat); {
	case v == nil:
		if err := meta.Put(keyFormat, u64(Format)); err != nil {
			return fmt.Errorf("boltstore: write format: %w", err)
		}
	case len(v) != 8 || binary.BigEndian.Uint64(v) != Format:
		return fmt.Errorf("boltstore: file has layout format %x, want %d", v, Format)
	}
	names := [][]byte{bucketChanges, bucketIndex}
	for _, k := range store.Kinds {
		names = append(names, recordBucket(k))
	}
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("boltstore: create bucket %q: %w", name, err)
		}
	}
	return nil
}

// errNotInitialised is returned when a transaction finds no layout: Init was never run.
var errNotInitialised = errors.New("boltstore: file not initialised (meta bucket missing)")

// ReadState returns the store's revision (0 when nothing was committed) and epoch.
func ReadState(tx *bolt.Tx) (rev int64, epoch uint64, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, 0, errNotInitialised
	}
	r, err := readU64(meta, keyRevision)
	if err != nil {
		return 0, 0, err
	}
	e, err := readU64(meta, keyEpoch)
	if err != nil {
		return 0, 0, err
	}
	return int64(r), e, nil
}

// ApplyTx applies txn to the store held by the write transaction tx as the next revision: it
// reads the revision from meta, runs [store.Apply] with revision+1, stores the new revision,
// appends the event to the change log and trims the log to the last retention revisions
// (store.DefaultRetention if retention <= 0). It returns the event, which the caller publishes
// once tx has committed.
//
// ApplyTx validates txn first. On ErrInvalidTxn, ErrConflict or ErrFenced it has written nothing
// to tx and consumed no revision, so the caller may commit tx (with the other transactions of a
// batch) or roll it back. Any other error is a storage failure that may have left partial
// writes: the caller must roll tx back.
//
// ApplyTx is deterministic: the same file contents, txn and retention give the same writes.
func ApplyTx(tx *bolt.Tx, txn store.Txn, retention int) (store.Event, error) {
	if err := txn.Validate(); err != nil {
		return store.Event{}, err
	}
	if retention <= 0 {
		retention = store.DefaultRetention
	}
	rev, _, err := ReadState(tx)
	if err != nil {
		return store.Event{}, err
	}
	ev, err := store.Apply(backend{tx}, txn, rev+1)
	if err != nil {
		return store.Event{}, err
	}
	// Make the event equal to its stored encoding (what LoadHistory and a replica return): empty
	// Data decodes as nil, and Data must not alias the caller's transaction.
	for i := range ev.Changes {
		r := &ev.Changes[i].Record
		if len(r.Data) == 0 {
			r.Data = nil
		} else {
			r.Data = bytes.Clone(r.Data)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keyRevision, u64(uint64(ev.Revision))); err != nil {
		return store.Event{}, fmt.Errorf("boltstore: write revision: %w", err)
	}
	if err := appendChange(tx, ev, retention); err != nil {
		return store.Event{}, err
	}
	return ev, nil
}

func appendChange(tx *bolt.Tx, ev store.Event, retention int) error {
	changes := tx.Bucket(bucketChanges)
	if changes == nil {
		return errNotInitialised
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("boltstore: encode event %d: %w", ev.Revision, err)
	}
	if err := changes.Put(revKey(ev.Revision), v); err != nil {
		return fmt.Errorf("boltstore: write event %d: %w", ev.Revision, err)
	}
	// Keep revisions (ev.Revision-retention, ev.Revision]. Usually this removes one key; after
	// the retention was lowered it removes the whole excess.
	oldest := ev.Revision - int64(retention) + 1
	if oldest <= 1 {
		return nil
	}
	c := changes.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, revKey(oldest)) < 0; k, _ = c.First() {
		if err := changes.Delete(k); err != nil {
			return fmt.Errorf("boltstore: trim change log: %w", err)
		}
	}
	return nil
}

// DropHistory empties the change log in the write transaction tx, for a caller that must not
// keep the records of past transactions on disk (the change log holds every changed record as
// it was written). The log fills again from the next transaction on; a feed built from the file
// afterwards ([LoadHistory]) starts there, so watchers resuming from before get ErrCompacted.
func DropHistory(tx *bolt.Tx) error {
	if tx.Bucket(bucketChanges) == nil {
		return errNotInitialised
	}
	if err := tx.DeleteBucket(bucketChanges); err != nil {
		return fmt.Errorf("boltstore: drop change log: %w", err)
	}
	if _, err := tx.CreateBucket(bucketChanges); err != nil {
		return fmt.Errorf("boltstore: drop change log: %w", err)
	}
	return nil
}

// LoadHistory returns the last retention events of the change log (store.DefaultRetention if
// retention <= 0), oldest first, ready for [store.NewFeed].
func LoadHistory(tx *bolt.Tx, retention int) ([]store.Event, error) {
	if retention <= 0 {
		retention = store.DefaultRetention
	}
	changes := tx.Bucket(bucketChanges)
	if changes == nil {
		return nil, errNotInitialised
	}
	var events []store.Event
	c := changes.Cursor()
	for k, v := c.Last(); k != nil && len(events) < retention; k, v = c.Prev() {
		var ev store.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("boltstore: decode event %x: %w", k, err)
		}
		events = append(events, ev)
	}
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i]
	}
	return events, nil
}

// NewBackend returns the [store.Backend] over the write transaction tx, for callers that run
// [store.Apply] themselves. Most callers want [ApplyTx], which also keeps the revision and the
// change log.
func NewBackend(tx *bolt.Tx) store.Backend { return backend{tx} }

type backend struct{ tx *bolt.Tx }

func getRecord(tx *bolt.Tx, kind store.Kind, id string) (store.Record, bool, error) {
	b := tx.Bucket(recordBucket(kind))
	if b == nil {
		return store.Record{}, false, fmt.Errorf("boltstore: no bucket for kind %q: %w", kind, errNotInitialised)
	}
	v := b.Get([]byte(id))
	if v == nil {
		return store.Record{}, false, nil
	}
	var r store.Record
	// Unmarshal copies (base64-decodes) Data, so the record does not alias bolt's memory map.
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Record{}, false, fmt.Errorf("boltstore: decode %s %q: %w", kind, id, err)
	}
	return r, true, nil
}

func (b backend) Get(kind store.Kind, id string) (store.Record, bool, error) {
	return getRecord(b.tx, kind, id)
}

func (b backend) Put(r store.Record, prev *store.Record) error {
	idx := b.tx.Bucket(bucketIndex)
	bucket := b.tx.Bucket(recordBucket(r.Kind))
	if idx == nil || bucket == nil {
		return errNotInitialised
	}
	newFields := indexedFields(r)
	if prev != nil {
		for i, f := range indexedFields(*prev) {
			if f[1] != "" && f[1] != newFields[i][1] {
				if err := idx.Delete(indexKey(prev.Kind, f[0], f[1], prev.ID)); err != nil {
					return fmt.Errorf("boltstore: unindex: %w", err)
				}
			}
		}
	}
	for _, f := range newFields {
		if f[1] != "" {
			if err := idx.Put(indexKey(r.Kind, f[0], f[1], r.ID), nil); err != nil {
				return fmt.Errorf("boltstore: index: %w", err)
			}
		}
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("boltstore: encode: %w", err)
	}
	return bucket.Put([]byte(r.ID), v)
}

func (b backend) Delete(prev store.Record) error {
	idx := b.tx.Bucket(bucketIndex)
	bucket := b.tx.Bucket(recordBucket(prev.Kind))
	if idx == nil || bucket == nil {
		return errNotInitialised
	}
	for _, f := range indexedFields(prev) {
		if f[1] != "" {
			if err := idx.Delete(indexKey(prev.Kind, f[0], f[1], prev.ID)); err != nil {
				return fmt.Errorf("boltstore: unindex: %w", err)
			}
		}
	}
	return bucket.Delete([]byte(prev.ID))
}

func (b backend) Epoch() (uint64, error) {
	_, epoch, err := ReadState(b.tx)
	return epoch, err
}

func (b backend) SetEpoch(epoch uint64) error {
	meta := b.tx.Bucket(bucketMeta)
	if meta == nil {
		return errNotInitialised
	}
	return meta.Put(keyEpoch, u64(epoch))
}

// NewSnapshot returns a [store.Snapshot] over tx (read-only or writable). It is valid while tx
// is open. If tx holds no initialised layout, or its meta is corrupt, Revision and Epoch are 0
// and Get and List return the error.
func NewSnapshot(tx *bolt.Tx) store.Snapshot {
	rev, epoch, err := ReadState(tx)
	return &snapshot{tx: tx, rev: rev, epoch: epoch, err: err}
}

type snapshot struct {
	tx    *bolt.Tx
	rev   int64
	epoch uint64
	err   error
}

func (s *snapshot) Revision() int64 { return s.rev }
func (s *snapshot) Epoch() uint64   { return s.epoch }

func (s *snapshot) Get(kind store.Kind, id string) (store.Record, error) {
	if s.err != nil {
		return store.Record{}, s.err
	}
	if !kind.Valid() {
		return store.Record{}, store.ErrNotFound
	}
	r, ok, err := getRecord(s.tx, kind, id)
	if err != nil {
		return store.Record{}, err
	}
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return r, nil
}

func (s *snapshot) List(kind store.Kind, f store.Filter) ([]store.Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := []store.Record{}
	if !kind.Valid() {
		return out, nil
	}
	bucket := s.tx.Bucket(recordBucket(kind))
	if bucket == nil {
		return nil, errNotInitialised
	}
	decode := func(id, v []byte) error {
		var r store.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("boltstore: decode %s %q: %w", kind, id, err)
		}
		if f.Match(r) {
			out = append(out, r)
		}
		return nil
	}

	var field, value string
	switch {
	case f.Owner != "":
		field, value = fieldOwner, f.Owner
	case f.Parent != "":
		field, value = fieldParent, f.Parent
	case f.Status != "":
		field, value = fieldStatus, f.Status
	default:
		if err := bucket.ForEach(decode); err != nil {
			return nil, err
		}
		return out, nil
	}
	// Index keys sort by id within a prefix, so the result is ordered by id like a bucket scan.
	prefix := indexPrefix(kind, field, value)
	c := s.tx.Bucket(bucketIndex).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := k[len(prefix):]
		v := bucket.Get(id)
		if v == nil {
			return nil, fmt.Errorf("boltstore: index %q names a missing %s", k, kind)
		}
		if err := decode(id, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
