// Package boltstore is the embedded, durable [store.Store]: one bbolt file, every acknowledged
// commit fsync'd before Commit returns.
//
// # Using the store
//
// [Open] opens or creates the file and takes bbolt's exclusive file lock; a second process
// opening the same file fails with [ErrLocked] after [WithLockTimeout] instead of hanging.
// [Store.View] runs a bbolt read transaction, so a snapshot is consistent and never blocks
// writers. [Store.Commit] validates the transaction and applies it in one bbolt write
// transaction with [store.Apply]; bbolt fsyncs before the transaction returns, and only then is
// the event published on the change feed. A commit mutex spans the write and the publish, so
// watchers see events in revision order. Concurrent commits are grouped: the transactions that
// queue while one bbolt transaction is being synced are applied together, each with its own
// revision, in the next bbolt transaction, so waiting writers share one fsync. [Open] loads
// the retained change log into the feed, so [Store.Watch] resumes across restarts from any
// retained revision.
//
// Records and events read back from the file have nil Data where the written Data was empty;
// the events Commit publishes are normalised the same way, so a watcher sees identical events
// live, after a restart and on every replica.
//
// # Bucket layout (format 1)
//
//	meta                 "format" → 1, "revision" → last revision, "epoch" → fencing epoch
//	                     (each a big-endian uint64; absent means 0)
//	records/<kind>       id → JSON store.Record (Version included), one bucket per store.Kind
//	index                kind \x00 field \x00 value \x00 id → empty, field ∈ owner|parent|status;
//	                     empty field values are not indexed
//	changes              big-endian uint64 revision → JSON store.Event, the last `retention`
//	                     revisions
//
// JSON via encoding/json is deterministic, so the same transactions applied to the same file
// give byte-identical values on every node. Ids and indexed values never contain NUL
// ([store.Txn.Validate]), so index prefixes are unambiguous and a prefix scan yields ids in
// byte order, which is the order List promises.
//
// # Primitives for other stores
//
// The layout is exported as functions over a *bolt.Tx so that a Raft state machine can keep
// its state in the same format, batching several log entries in one bbolt transaction:
//
//   - [Init](tx) creates the buckets (idempotent; refuses another format).
//   - [ApplyTx](tx, txn, retention) validates txn, reads the revision, applies txn as
//     revision+1, stores the revision, appends the event to the change log, trims the log to
//     retention, and returns the event. On ErrInvalidTxn, ErrConflict or ErrFenced it has
//     written nothing and consumed no revision, so the batch's transaction can still commit;
//     any other error means tx must be rolled back. It is deterministic; every replica must use
//     the same retention for the files to be identical.
//   - [ReadState](tx) returns the revision and epoch.
//   - [LoadHistory](tx, retention) returns the retained events, oldest first, for
//     [store.NewFeed] (after Open, or after a snapshot restore replaced the file).
//   - [NewSnapshot](tx) is the [store.Snapshot] over a transaction; [NewBackend](tx) the
//     [store.Backend].
//
// Init creates only the buckets above; a caller may keep its own buckets (for example a Raft
// state machine's last applied index) in the same file.
//
// A whole state file can be streamed with bbolt's Tx.WriteTo inside a read transaction and
// reopened later with [Open] or plain bolt.Open: it is self-describing.
package boltstore
