package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// File names inside Config.Dir.
const (
	stateFile   = "state.db" // the bbolt state database the FSM applies to
	restoreFile = "state.db.restore"
	logFile     = "raft.db" // raft-boltdb: the Raft log and stable store
)

// bucketRaft holds this package's own bookkeeping inside the state database, beside the
// buckets of the record layout. Its key "applied" is the index and term of the last log entry
// applied, written in the same bbolt transaction as the entry's effects: after a restart the
// FSM skips every entry Raft replays at or below it, so no transaction is applied twice.
var (
	bucketRaft = []byte("raftstore")
	keyApplied = []byte("applied")
)

// applyResult is the FSM's response to one transaction entry, returned to Commit through the
// apply future on the node that proposed it.
type applyResult struct {
	rev int64
	err error // a domain error: ErrConflict, ErrFenced or ErrInvalidTxn
}

// fsm is the Raft state machine: it applies committed store transactions to a bbolt database
// and publishes each committed event to the node's change feed.
//
// Concurrency: Raft calls ApplyBatch, Apply, Snapshot and Restore from one goroutine;
// FSMSnapshot.Persist runs concurrently with applies on a bbolt read transaction; readers (View)
// run on any goroutine. mu guards the db pointer, which only Restore replaces and close clears.
type fsm struct {
	dir       string
	retention int
	logger    hclog.Logger
	feed      *store.Feed
	noSync    bool // commits skip fsync; see durability.go

	mu     sync.RWMutex
	db     *stateDB
	closed bool

	appliedIndex atomic.Uint64 // last log index applied (or restored)

}

var (
	_ raft.BatchingFSM = (*fsm)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// stateDB is a bbolt database shared by the FSM and open snapshots. It is closed when the FSM
// drops it (close, or Restore replacing it) and every snapshot reading it has been released:
// bbolt's Close waits for open read transactions, and a snapshot's read transaction may outlive
// the database's turn as the current one.
type stateDB struct {
	db   *bolt.DB
	mu   sync.Mutex
	refs int
}

func (s *stateDB) acquire() {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
}

func (s *stateDB) release() error {
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if last {
		return s.db.Close()
	}
	return nil
}

// openStateDB opens (creating if needed) the state database at path and makes sure its buckets
// exist.
func openStateDB(path string, noSync bool) (*stateDB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: bboltLockTimeout, InitialMmapSize: initialMmapSize, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := boltstore.Init(tx); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketRaft)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialise state database %s: %w", path, err)
	}
	return &stateDB{db: db, refs: 1}, nil
}

// openFSM opens the state database in dir and a change feed positioned at its revision, with
// the retained history the database holds. Unless syncEveryApply is set (or the platform has
// no boot id), the database commits without fsync; see durability.go.
func openFSM(dir string, retention int, logger hclog.Logger, syncEveryApply bool) (*fsm, error) {
	if err := os.Remove(filepath.Join(dir, restoreFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove interrupted restore: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, stateFile+compactSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove interrupted compaction: %w", err)
	}
	bootID := currentBootID()
	if err := discardIfFromEarlierBoot(dir, bootID, logger); err != nil {
		return nil, err
	}
	noSync := !syncEveryApply && bootID != ""
	if noSync {
		if err := writeBootMarker(dir, bootID); err != nil {
			return nil, err
		}
	}
	db, err := openStateDB(filepath.Join(dir, stateFile), noSync)
	if err != nil {
		return nil, err
	}
	var (
		rev     int64
		history []store.Event
		applied uint64
	)
	err = db.db.View(func(tx *bolt.Tx) error {
		var err error
		if rev, _, err = boltstore.ReadState(tx); err != nil {
			return err
		}
		if history, err = boltstore.LoadHistory(tx, retention); err != nil {
			return err
		}
		applied, _ = readApplied(tx)
		return nil
	})
	if err != nil {
		_ = db.release()
		return nil, fmt.Errorf("read state database: %w", err)
	}
	feed, err := store.NewFeed(rev, retention, history)
	if err != nil {
		_ = db.release()
		return nil, err
	}
	f := &fsm{dir: dir, retention: retention, logger: logger, feed: feed, noSync: noSync, db: db}
	f.appliedIndex.Store(applied)
	return f, nil
}

func readApplied(tx *bolt.Tx) (index, term uint64) {
	v := tx.Bucket(bucketRaft).Get(keyApplied)
	if len(v) != 16 {
		return 0, 0
	}
	return binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
}

func writeApplied(tx *bolt.Tx, index, term uint64) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), index)
	v = binary.BigEndian.AppendUint64(v, term)
	return tx.Bucket(bucketRaft).Put(keyApplied, v)
}

// isDomainError reports whether err is a transaction's own failure, which the FSM returns to
// the proposer as a value, as opposed to a failure of the database.
func isDomainError(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrFenced) || errors.Is(err, store.ErrInvalidTxn)
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. It applies the whole batch in one bbolt write
// transaction (one fsync). Every transaction entry is checked before it writes anything
// (store.Apply), so an entry that fails its preconditions leaves the bbolt transaction as it was
// and takes no revision; the entries after it apply normally. Entries at or below the applied
// index recorded in the database were applied before a restart and are skipped.
//
// A log entry that cannot be decoded, or a bbolt failure, panics: skipping the entry would make
// this node's state differ from the others'. After a restart Raft replays the log from the
// last applied index.
//
// Once the bbolt transaction has committed, the batch's events are published to the change
// feed in revision order, so watchers on every node see identical events.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	var events []store.Event
	var last *raft.Log

	err := f.update(func(tx *bolt.Tx) error {
		applied, appliedTerm := readApplied(tx)
		for i, l := range logs {
			if l.Index <= applied {
				// Already in the state. A replayed entry must be the one that was applied: at
				// the applied index its term is the recorded one, and below it no term can be
				// higher. Otherwise the log and the state are from different histories (say a
				// state database copied into a fresh cluster), and skipping would lose commits.
				if appliedTerm != 0 && (l.Term > appliedTerm || (l.Index == applied && l.Term != appliedTerm)) {
					panic(fmt.Sprintf("raftstore: log entry %d (term %d) does not match the state, applied up to %d in term %d",
						l.Index, l.Term, applied, appliedTerm))
				}
				continue
			}
			last = l
			if l.Type != raft.LogCommand {
				continue // configuration changes are Raft's own business
			}
			typ, txn, err := decodeCommand(l.Data)
			if err != nil {
				panic(fmt.Sprintf("raftstore: log entry %d (term %d): %v", l.Index, l.Term, err))
			}
			switch typ {
			case cmdTxn:
				// ApplyTx validates txn and checks every precondition before its first write: a
				// domain failure leaves tx as it was and takes no revision.
				ev, err := boltstore.ApplyTx(tx, txn, f.retention)
				if isDomainError(err) {
					resp[i] = applyResult{err: err}
					continue
				}
				if err != nil {
					return fmt.Errorf("log entry %d: %w", l.Index, err)
				}
				events = append(events, ev)
				resp[i] = applyResult{rev: ev.Revision}
			}
		}
		if last == nil {
			return nil
		}
		return writeApplied(tx, last.Index, last.Term)
	})
	if err != nil {
		panic(fmt.Sprintf("raftstore: apply batch: %v", err))
	}
	// Readers may see the batch in the database a moment before this; a watch from such a
	// revision waits for it (store.Feed.Watch).
	f.feed.Publish(events...)
	if last != nil {
		f.appliedIndex.Store(last.Index)
	}
	return resp
}

// Snapshot implements raft.FSM. It only opens a bbolt read transaction; Persist streams it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, store.ErrClosed
	}
	tx, err := f.db.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	f.db.acquire()
	return &fsmSnapshot{tx: tx, db: f.db}, nil
}

// fsmSnapshot is a point-in-time copy of the state database: a bbolt read transaction.
type fsmSnapshot struct {
	tx   *bolt.Tx
	db   *stateDB
	once sync.Once
}

// Persist implements raft.FSMSnapshot: it writes the database as of the snapshot with
// bolt.Tx.WriteTo, a consistent copy taken while applies continue.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() {
		_ = s.tx.Rollback()
		_ = s.db.release()
	})
}

// Restore implements raft.FSM. It writes the snapshot stream (a bbolt database file) beside the
// state database, opens it, renames it over the state database and swaps it in; the previous
// database is closed once no snapshot reads it. The change feed is reset to the restored
// revision: watchers positioned before it get store.ErrCompacted and must re-list.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := filepath.Join(f.dir, restoreFile)
	if err := writeFile(tmp, rc); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	db, err := openStateDB(tmp, f.noSync)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	var rev int64
	var applied uint64
	if err := db.db.View(func(tx *bolt.Tx) error {
		var err error
		rev, _, err = boltstore.ReadState(tx)
		applied, _ = readApplied(tx)
		return err
	}); err != nil {
		_ = db.release()
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: read state: %w", err)
	}
	// The open database keeps working through the rename: bbolt holds the file descriptor.
	if err := os.Rename(tmp, filepath.Join(f.dir, stateFile)); err != nil {
		_ = db.release()
		_ = os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		f.logger.Warn("sync directory after restore", "error", err)
	}

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errors.Join(store.ErrClosed, db.release())
	}
	old := f.db
	f.db = db
	f.appliedIndex.Store(applied)
	f.feed.Reset(rev)
	f.mu.Unlock()
	f.logger.Info("restored state from snapshot", "revision", rev, "index", applied)
	if err := old.release(); err != nil {
		f.logger.Warn("close replaced state database", "error", err)
	}
	return nil
}

// update runs fn in a write transaction on the current state database.
func (f *fsm) update(fn func(*bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.db.Update(fn)
}

// view calls fn with a snapshot of the local state database.
func (f *fsm) view(fn func(store.Snapshot) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return store.ErrClosed
	}
	return f.db.db.View(func(tx *bolt.Tx) error { return fn(boltstore.NewSnapshot(tx)) })
}

// close ends the change feed and closes the state database (once snapshots are released).
// Raft must have shut down: no apply may follow.
func (f *fsm) close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	db := f.db
	f.mu.Unlock()
	f.feed.Close()
	if f.noSync {
		// A clean close leaves the database synced and unmarked; if the sync fails the marker
		// stays, and a restart after a machine crash rebuilds the database.
		if err := db.db.Sync(); err != nil {
			return errors.Join(fmt.Errorf("sync state database: %w", err), db.release())
		}
		if err := removeBootMarker(f.dir); err != nil {
			return errors.Join(err, db.release())
		}
	}
	return db.release()
}

func writeFile(path string, r io.Reader) error {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(file, r); err != nil {
		_ = file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		_ = file.Close()
		return err
	}
	return file.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
