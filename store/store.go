package store

import (
	"context"
	"fmt"
	"strings"
)

// Kind names a type of record.
type Kind string

// The kinds of record fsa stores.
const (
	KindUser       Kind = "user"
	KindIdentity   Kind = "identity"
	KindUserConfig Kind = "userconfig"
	KindProject    Kind = "project"
	KindSandbox    Kind = "sandbox"
	KindDatabase   Kind = "database"
	KindEnvVar     Kind = "envvar"
	// KindIdempotency records the result of a mutating call made with an idempotency key.
	KindIdempotency Kind = "idempotency"
	// KindNode records a daemon node of a replicated cluster: its Raft and API addresses, so
	// that any node can tell clients where the leader's API is.
	KindNode Kind = "node"
	// KindName records a name held by another record, such as a user's project name, so that
	// uniqueness is one precondition instead of a scan.
	KindName Kind = "name"
	// KindRetained records data a deleted project left behind (a home volume, a database) until
	// an operator purges it.
	KindRetained Kind = "retained"
)

// Kinds lists every kind a store accepts.
var Kinds = []Kind{KindUser, KindIdentity, KindUserConfig, KindProject, KindSandbox, KindDatabase, KindEnvVar, KindIdempotency, KindNode, KindName, KindRetained}

// Valid reports whether k is one of [Kinds].
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Record is one stored item. The store indexes Owner, Parent and Status and never interprets Data.
type Record struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
	// Owner is the id of the user the record belongs to (index: user → records).
	Owner string `json:"owner,omitempty"`
	// Parent is the id of the record's parent, such as a sandbox's project (index: parent → children).
	Parent string `json:"parent,omitempty"`
	// Status is the record's status (index: status → records).
	Status string `json:"status,omitempty"`
	// Data is the payload, encoded by the caller.
	Data []byte `json:"data,omitempty"`
	// Version is the revision of the transaction that last wrote the record. Set by the store;
	// ignored in a Put.
	Version int64 `json:"version"`
}

// Filter selects records of one kind by an indexed field. Empty fields do not filter; an empty
// Filter selects every record of the kind.
type Filter struct {
	Owner  string
	Parent string
	Status string
}

// Snapshot is a consistent read of the store at one revision. It is valid only inside the View
// callback that received it.
type Snapshot interface {
	// Revision is the revision of the last transaction visible in the snapshot.
	Revision() int64
	// Get returns a record, or ErrNotFound.
	Get(kind Kind, id string) (Record, error)
	// List returns the records of kind that match f, ordered by ID.
	List(kind Kind, f Filter) ([]Record, error)
	// Epoch is the current fencing epoch (0 before any SetEpoch).
	Epoch() uint64
}

// Store is the contract every state store implements. All methods are safe for concurrent use.
type Store interface {
	// View calls fn with a consistent snapshot. fn must not retain the snapshot.
	View(ctx context.Context, fn func(Snapshot) error) error
	// Commit applies txn atomically and returns its revision. On ErrConflict, ErrFenced or
	// ErrInvalidTxn nothing was applied. A successful Commit is durable as the implementation
	// promises (fsync'd for boltstore, committed by a quorum for raftstore).
	Commit(ctx context.Context, txn Txn) (int64, error)
	// Watch returns a cursor over every event with a revision greater than after, in commit
	// order. The cursor ends when ctx ends or the store closes. ErrCompacted if after is older
	// than the retained window.
	//
	// Read-your-writes: a revision the caller got from this store or from another replica of
	// it (a Commit, a View's Snapshot.Revision, an event) can always be watched from at once.
	// A revision the store has not published yet is waited for, as etcd does for a future
	// revision: the cursor delivers the events after it once they are published, bounded by
	// ctx. Watch refuses with ErrAhead only a revision more than the retention window (the
	// number of events the feed keeps, DefaultRetention by default) beyond the store's last
	// published revision. "Far" is the window because no honest revision is that far ahead:
	// a single-process store is behind its own readers by at most one commit group, and a Raft
	// replica that falls that far behind is caught up with a snapshot, which resets its feed and
	// would end the wait with ErrCompacted anyway. Such a revision comes from another history (a
	// different cluster, a restored backup, a client's bug), and waiting for it could hang the
	// caller for good.
	Watch(ctx context.Context, after int64) (*Cursor, error)
	// Close releases the store. Calls after Close return ErrClosed; open cursors end.
	Close() error
}

// AnyVersion in a Cond requires the record to exist, at whatever version.
const AnyVersion int64 = -1

// Cond is a precondition on one record.
type Cond struct {
	Kind Kind
	ID   string
	// Version the record must have: 0 means it must be absent, AnyVersion that it must exist.
	Version int64
}

// OpType is what an Op does.
type OpType uint8

// Operation types.
const (
	OpPut OpType = iota + 1
	OpDelete
)

func (t OpType) String() string {
	switch t {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// Op is one write. For OpDelete only Record.Kind and Record.ID are used; deleting an absent
// record is a no-op that adds no change to the event.
type Op struct {
	Type   OpType `json:"type"`
	Record Record `json:"record"`
}

// Put returns an Op that writes r.
func Put(r Record) Op { return Op{Type: OpPut, Record: r} }

// Delete returns an Op that removes the record kind/id.
func Delete(kind Kind, id string) Op { return Op{Type: OpDelete, Record: Record{Kind: kind, ID: id}} }

// Txn is a transaction as data: preconditions, an optional fence, and operations.
type Txn struct {
	// Fence, when non-zero, requires the store's epoch to equal it.
	Fence uint64 `json:"fence,omitempty"`
	// SetEpoch, when non-zero, raises the store's epoch to it; it must be greater than the current
	// epoch, else ErrFenced.
	SetEpoch uint64 `json:"set_epoch,omitempty"`
	Conds    []Cond `json:"conds,omitempty"`
	Ops      []Op   `json:"ops,omitempty"`
}

// Limits on record fields, enforced by Validate.
const (
	MaxIDLen   = 256
	MaxDataLen = 1 << 20
)

// Validate checks that txn is well formed. It does not look at the store.
func (txn Txn) Validate() error {
	if len(txn.Ops) == 0 && txn.SetEpoch == 0 {
		return fmt.Errorf("%w: no operations", ErrInvalidTxn)
	}
	for _, c := range txn.Conds {
		if err := checkKey(c.Kind, c.ID); err != nil {
			return err
		}
		if c.Version < AnyVersion {
			return fmt.Errorf("%w: condition on %s %q: bad version %d", ErrInvalidTxn, c.Kind, c.ID, c.Version)
		}
	}
	seen := make(map[recordKey]bool, len(txn.Ops))
	for _, op := range txn.Ops {
		r := op.Record
		if err := checkKey(r.Kind, r.ID); err != nil {
			return err
		}
		k := recordKey{r.Kind, r.ID}
		if seen[k] {
			return fmt.Errorf("%w: two operations on %s %q", ErrInvalidTxn, r.Kind, r.ID)
		}
		seen[k] = true
		switch op.Type {
		case OpPut:
			for _, f := range []string{r.Owner, r.Parent, r.Status} {
				if err := checkField(f); err != nil {
					return fmt.Errorf("%w: %s %q: %v", ErrInvalidTxn, r.Kind, r.ID, err)
				}
			}
			if len(r.Data) > MaxDataLen {
				return fmt.Errorf("%w: %s %q: data of %d bytes exceeds %d", ErrInvalidTxn, r.Kind, r.ID, len(r.Data), MaxDataLen)
			}
		case OpDelete:
		default:
			return fmt.Errorf("%w: unknown operation %v", ErrInvalidTxn, op.Type)
		}
	}
	return nil
}

type recordKey struct {
	kind Kind
	id   string
}

func checkKey(kind Kind, id string) error {
	if !kind.Valid() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidTxn, kind)
	}
	if id == "" {
		return fmt.Errorf("%w: empty %s id", ErrInvalidTxn, kind)
	}
	if err := checkField(id); err != nil {
		return fmt.Errorf("%w: %s id: %v", ErrInvalidTxn, kind, err)
	}
	return nil
}

func checkField(s string) error {
	if len(s) > MaxIDLen {
		return fmt.Errorf("longer than %d bytes", MaxIDLen)
	}
	if strings.ContainsRune(s, 0) {
		return fmt.Errorf("contains a NUL byte")
	}
	return nil
}

// ChangeType says whether a change wrote or removed a record.
type ChangeType uint8

// Change types.
const (
	ChangePut ChangeType = iota + 1
	ChangeDelete
)

func (t ChangeType) String() string {
	switch t {
	case ChangePut:
		return "put"
	case ChangeDelete:
		return "delete"
	}
	return fmt.Sprintf("change(%d)", uint8(t))
}

// Change is one record written or removed by a transaction.
type Change struct {
	Type ChangeType `json:"type"`
	// Record is the record as written (Version = the event's revision) or, for a delete, as it
	// was before removal (Version = its last version).
	Record Record `json:"record"`
}

// Event is one committed transaction as seen on the change feed.
type Event struct {
	Revision int64 `json:"revision"`
	// Epoch is the store's epoch after the transaction.
	Epoch   uint64   `json:"epoch,omitempty"`
	Changes []Change `json:"changes,omitempty"`
}
