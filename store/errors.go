package store

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("store: record not found")

	// ErrConflict is returned when a transaction's precondition on a record's version fails.
	// Nothing of the transaction was applied. The error is a *ConflictError.
	ErrConflict = errors.New("store: version conflict")

	// ErrFenced is returned when a transaction's fencing token is not the store's current epoch,
	// or when it tries to lower the epoch. Nothing of the transaction was applied.
	ErrFenced = errors.New("store: fenced: epoch changed")

	// ErrCompacted is returned by Watch when the requested revision is older than the retained
	// window of the change feed. The caller must re-list and watch from the listed revision.
	ErrCompacted = errors.New("store: revision compacted: re-list and watch from the listed revision")

	// ErrAhead is returned by Watch for a revision further ahead of this store than its
	// retention window, which it will not wait for (see Store.Watch): the revision is from
	// another history or this replica is far behind. Re-list, or try another replica.
	ErrAhead = errors.New("store: revision not reached yet")

	// ErrInvalidTxn is returned for a malformed transaction (empty IDs, duplicate operations on
	// one record, forbidden characters). Nothing was applied.
	ErrInvalidTxn = errors.New("store: invalid transaction")

	// ErrClosed is returned by every call on a closed store, and by a Cursor once its store closed.
	ErrClosed = errors.New("store: closed")
)

// ConflictError says which precondition failed. errors.Is(err, ErrConflict) holds for it.
type ConflictError struct {
	Kind Kind
	ID   string
	// Want is the version the transaction required (0: absent; AnyVersion: present).
	Want int64
	// Got is the record's actual version (0: absent).
	Got int64
}

func (e *ConflictError) Error() string {
	want := fmt.Sprintf("version %d", e.Want)
	switch e.Want {
	case 0:
		want = "absent"
	case AnyVersion:
		want = "present"
	}
	got := fmt.Sprintf("version %d", e.Got)
	if e.Got == 0 {
		got = "absent"
	}
	return fmt.Sprintf("store: version conflict on %s %q: want %s, got %s", e.Kind, e.ID, want, got)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// FencedError says which epoch the store holds. errors.Is(err, ErrFenced) holds for it.
type FencedError struct {
	// Token is the transaction's Fence or SetEpoch; Epoch the store's current epoch.
	Token, Epoch uint64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("store: fenced: token %d, store epoch %d", e.Token, e.Epoch)
}

// Is makes errors.Is(err, ErrFenced) true.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }
