// Package store defines the contract of fsa's state store and the pieces every implementation
// shares.
//
// # Records
//
// The store keeps typed [Record]s: a [Kind] (user, identity, user config, project, sandbox,
// database, environment variable), an ID unique within the kind, three indexed fields (Owner,
// Parent, Status) and an opaque Data payload that the fsa package encodes. The store never
// interprets Data; it indexes records by the fields it is given, so lookups by user, by project
// and by status need no scan.
//
// # Revisions and versions
//
// Every committed transaction gets the next store revision (1, 2, 3, ...). A record's Version is
// the revision of the transaction that last wrote it, so versions are comparable across records
// and across nodes.
//
// # Transactions are data
//
// A [Txn] is a value: preconditions ([Cond]: this record is at this version, or absent), an
// optional fencing token, and operations ([Op]: put, delete). A store checks every precondition
// and applies every operation atomically, or applies nothing and returns an error naming the
// failed precondition ([ErrConflict], [ErrFenced]). Because a transaction carries no code, the
// same value runs on the in-memory store, on the embedded bbolt store and as a Raft log entry
// applied identically on every node. Business rules run before commit, on a [Snapshot]; the
// caller submits a compare-and-swap transaction and retries on conflict.
//
// # Fencing
//
// The store holds an epoch. A transaction with a non-zero Fence commits only while the store's
// epoch equals it; a transaction with a non-zero SetEpoch raises the epoch (it never goes down).
// A leader first commits SetEpoch = its term and then writes with Fence = its term, so a deposed
// leader's late writes are rejected by the store itself.
//
// # The change feed
//
// [Store.Watch] returns a [Cursor] that delivers every committed transaction as an [Event], in
// commit order, without gaps, starting after a given revision. A store retains a bounded window
// of recent events; resuming from a revision older than that window fails with [ErrCompacted],
// and the caller must re-list (read a snapshot) and watch from the snapshot's revision.
//
// Read-your-writes holds across commit, read and watch: a revision returned by Commit or seen
// in a Snapshot can be watched from at once, on the store and on any replica of it. A store
// may make a commit readable a moment before it publishes the commit's event (a group of
// commits becomes readable at once; a Raft follower applies the leader's commits later), so a
// watch from a revision not yet published waits for it, bounded by the caller's context,
// instead of failing. Only a revision more than the retention window ahead is refused, with
// [ErrAhead] ([Store.Watch] says why).
//
// # Implementations
//
// Subpackages memstore (in memory), boltstore (one bbolt file, every commit fsync'd) and
// raftstore (replicated by Raft) implement [Store]; storetest is the conformance suite all of them
// pass. [Apply] is the single implementation of transaction semantics that they share, and [Feed]
// the single implementation of the change feed.
package store
