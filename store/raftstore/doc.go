// Package raftstore is a [store.Store] replicated by Raft (hashicorp/raft), for running fsad
// as a highly available cluster of three or five nodes.
//
// # Replication
//
// Every transaction is a log entry: one command-type byte followed by the JSON encoding of the
// [store.Txn]. A quorum commits the entry; then every node applies it, in log order, to its own
// bbolt state database with the same [store.Apply] semantics as the other stores. Revisions are
// assigned by the state machine in log order, so records, versions, revisions and change-feed
// events are identical on every node.
//
// The state machine is deterministic: times, ids and the fencing token travel inside the
// transaction. An entry that fails its preconditions (store.ErrConflict, store.ErrFenced,
// store.ErrInvalidTxn) takes no revision and writes nothing on any node; the failure is the
// entry's result, returned by Commit on the proposing node. An entry that cannot be decoded,
// or a failing disk, panics: a node must not skip an entry the others applied. Committed
// entries are applied in batches, one bbolt transaction per batch; the index of the last
// applied entry is stored in the same transaction, so entries Raft replays after a restart are
// recognised and skipped.
//
// # Durability
//
// A Commit returns once its entry is fsync'd in the Raft logs of a quorum and applied on the
// leader. The state database is derived from the log and snapshots, so by default its bbolt
// commits skip fsync: a process crash loses nothing (the kernel's page cache outlives the
// process), and after a machine crash, detected by a boot-id marker beside state.db, the node
// sets the database aside and rebuilds it from its latest snapshot and the log after it.
// Config.SyncEveryApply restores an fsync per applied batch.
//
// # Files
//
// Config.Dir holds raft.db (the Raft log and stable store, raft-boltdb), snapshots/ (Raft
// snapshots) and state.db (the state database). A snapshot is a consistent copy of state.db
// streamed from a bbolt read transaction (Tx.WriteTo) while applies continue. Restoring one (a
// follower too far behind to catch up from the log) writes the stream to a new file, renames
// it over state.db and swaps it in; the node's change feed is then reset to the restored
// revision, so watchers older than it get [store.ErrCompacted] and re-list.
//
// [Store.Scrub] rewrites a node's files so that they hold its current state only: it drops the
// change history, compacts state.db and raft.db (bbolt never zeroes freed pages) into new files
// swapped in while the node serves, snapshots and truncates the whole log behind the snapshot,
// and deletes older snapshots; fsad runs it after secret values were re-sealed.
//
// [RestoreBackup] turns a backup (the state database [Store.Backup] streams) into the
// directory of the first node of a new cluster: the state with its fencing epoch reset, a Raft
// snapshot carrying the new membership, and an empty log at the backup's term.
//
// # Reads
//
// [Store.View] is linearizable: only the leader serves it. The leader confirms it still leads
// (a heartbeat round to a quorum) before reading its local state, and, once per term, waits for
// a barrier first so its state includes everything earlier leaders committed.
// [Store.ViewStale] reads any node's local state without contacting the leader: it may lag,
// but it is always a committed state. [Store.Watch] works on every node; on a follower that has
// not yet applied the requested revision (a client that listed or wrote on the leader) the
// cursor waits until the follower applies it, as the store contract requires.
//
// # Writes on a follower
//
// Only the leader proposes. On a follower, Commit, View, Barrier, Join, Remove and
// TransferLeadership return a [*NotLeaderError] (errors.Is(err, [ErrNotLeader])) naming the
// leader's ID and Raft address when one is known; raftstore does not forward. The daemon's RPC
// layer maps it to an Unavailable error carrying the leader's API address, and clients retry
// there. When a leader loses leadership with a proposal in flight the error has Uncertain set:
// the transaction may or may not have committed (a compare-and-swap retry is safe; a duplicate
// fails its precondition).
//
// # Leadership and fencing
//
// [Store.Leadership] signals gaining and losing leadership. A new leader runs [Store.Barrier],
// commits Txn{SetEpoch: [Store.Term]} and then writes with Fence set to that term. Because the
// epoch check runs inside the state machine, a deposed leader's late write fails on every node
// with store.ErrFenced.
//
// # Cluster membership
//
// One node starts with Config.Bootstrap (or all nodes with the same Config.InitialMembers);
// others are added by the leader's [Store.Join] and removed by [Store.Remove]. [Store.Status]
// reports members, leader, term and indexes.
package raftstore
