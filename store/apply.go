package store

import "fmt"

// Backend is the mutable state a transaction is applied to: maps in memory, or an open bbolt
// write transaction. Implementations keep their indexes in step in Put and Delete.
type Backend interface {
	// Get returns the record kind/id and whether it exists.
	Get(kind Kind, id string) (Record, bool, error)
	// Put writes r; prev is the record it replaces, if any.
	Put(r Record, prev *Record) error
	// Delete removes prev.
	Delete(prev Record) error
	// Epoch returns the current epoch.
	Epoch() (uint64, error)
	// SetEpoch stores a new epoch.
	SetEpoch(epoch uint64) error
}

// Apply is the one implementation of transaction semantics. It checks txn's fence and every
// precondition against b, and only if all hold applies every operation with version rev. It
// returns the event describing what changed. On a failed check it writes nothing and returns an
// error wrapping ErrConflict or ErrFenced; errors from b are returned as they are, and then the
// caller must discard b's writes (roll back).
//
// Apply is deterministic: the same b, txn and rev give the same writes and event, which is what
// a Raft state machine needs. Call txn.Validate first; Apply assumes a valid transaction.
func Apply(b Backend, txn Txn, rev int64) (Event, error) {
	epoch, err := b.Epoch()
	if err != nil {
		return Event{}, err
	}
	if txn.Fence != 0 && txn.Fence != epoch {
		return Event{}, &FencedError{Token: txn.Fence, Epoch: epoch}
	}
	if txn.SetEpoch != 0 && txn.SetEpoch <= epoch {
		return Event{}, &FencedError{Token: txn.SetEpoch, Epoch: epoch}
	}
	for _, c := range txn.Conds {
		cur, ok, err := b.Get(c.Kind, c.ID)
		if err != nil {
			return Event{}, err
		}
		var got int64
		if ok {
			got = cur.Version
		}
		switch {
		case c.Version == AnyVersion && ok:
		case c.Version == got && c.Version != AnyVersion:
		default:
			return Event{}, &ConflictError{Kind: c.Kind, ID: c.ID, Want: c.Version, Got: got}
		}
	}
	ev := Event{Revision: rev, Epoch: epoch}
	if txn.SetEpoch != 0 {
		if err := b.SetEpoch(txn.SetEpoch); err != nil {
			return Event{}, err
		}
		ev.Epoch = txn.SetEpoch
	}
	for _, op := range txn.Ops {
		cur, ok, err := b.Get(op.Record.Kind, op.Record.ID)
		if err != nil {
			return Event{}, err
		}
		var prev *Record
		if ok {
			prev = &cur
		}
		switch op.Type {
		case OpPut:
			r := op.Record
			r.Version = rev
			if r.Data != nil {
				// The event outlives the caller's transaction: never share its bytes.
				r.Data = append([]byte(nil), r.Data...)
			}
			if err := b.Put(r, prev); err != nil {
				return Event{}, fmt.Errorf("put %s %q: %w", r.Kind, r.ID, err)
			}
			ev.Changes = append(ev.Changes, Change{Type: ChangePut, Record: r})
		case OpDelete:
			if prev == nil {
				continue
			}
			if err := b.Delete(*prev); err != nil {
				return Event{}, fmt.Errorf("delete %s %q: %w", cur.Kind, cur.ID, err)
			}
			ev.Changes = append(ev.Changes, Change{Type: ChangeDelete, Record: cur})
		}
	}
	return ev, nil
}

// Match reports whether r passes f.
func (f Filter) Match(r Record) bool {
	return (f.Owner == "" || f.Owner == r.Owner) &&
		(f.Parent == "" || f.Parent == r.Parent) &&
		(f.Status == "" || f.Status == r.Status)
}
