package raftstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// Scrubbing. Values a transaction overwrote or deleted stay on a node's disk long after: in the
// Raft log entries Raft keeps behind a snapshot (Config.TrailingLogs), in older snapshots, in
// the state database's change history (Config.Retention transactions), and in free pages of
// both bbolt files, which bbolt reuses but never zeroes (and a snapshot copies state.db whole,
// free pages included). Scrub removes all of them at once, while the node keeps serving.

// compactSuffix names a bbolt file being compacted into, beside the file (removed at start).
const compactSuffix = ".compact"

// compactTxSize bounds the size of one bbolt transaction of a compaction.
const compactTxSize = 4 << 20

// Scrub rewrites this node's files so that they hold its current state and nothing older:
//
//   - the change history in the state database is dropped (watchers of this node keep their
//     feed; after a restart, one resuming from before the scrub gets store.ErrCompacted and
//     re-lists);
//   - the state database is compacted into a new file that replaces it (applies wait);
//   - a Raft snapshot is taken of it and the Raft log is truncated up to that snapshot,
//     whatever Config.TrailingLogs says; every older snapshot is deleted;
//   - raft.db is compacted into a new file that replaces it (Raft's log writes wait);
//   - state.db.discarded, the database set aside after a machine crash, is deleted.
//
// Afterwards no value that was overwritten or deleted before the call is in a file under
// Config.Dir. Only this node is scrubbed: call it on every node. A follower's log entries
// after its snapshot are replicated as they are, so scrub once what the cluster wrote before is
// gone from every node's state (fsad: once secret values are all sealed under the primary key).
// Blocks of deleted files may still be on the device: that is the file system's business (use
// an encrypted volume).
func (s *Store) Scrub(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.scrubMu.Lock()
	defer s.scrubMu.Unlock()
	if s.isClosed() {
		return store.ErrClosed
	}
	if err := s.fsm.compact(); err != nil {
		return fmt.Errorf("raftstore: scrub: %w", err)
	}
	if err := s.snapshotAndTruncate(ctx); err != nil {
		return fmt.Errorf("raftstore: scrub: %w", err)
	}
	if err := s.removeOlderSnapshots(); err != nil {
		return fmt.Errorf("raftstore: scrub: %w", err)
	}
	if err := s.logs.compact(); err != nil {
		return fmt.Errorf("raftstore: scrub: %w", err)
	}
	if err := os.Remove(filepath.Join(s.dir, discardedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("raftstore: scrub: %w", err)
	}
	s.logger.Info("scrubbed: history dropped, state database and raft.db compacted, log truncated to a new snapshot")
	return nil
}

// snapshotAndTruncate takes a snapshot of the (compacted) state database and deletes every log
// entry up to it.
func (s *Store) snapshotAndTruncate(ctx context.Context) error {
	rc := s.raft.ReloadableConfig()
	trailing := rc.TrailingLogs
	rc.TrailingLogs = 0
	if err := s.raft.ReloadConfig(rc); err != nil {
		return fmt.Errorf("drop trailing logs: %w", err)
	}
	defer func() {
		rc := s.raft.ReloadableConfig()
		rc.TrailingLogs = trailing
		if err := s.raft.ReloadConfig(rc); err != nil {
			s.logger.Error("restore trailing logs", "error", err)
		}
	}()
	err := s.await(ctx, s.raft.Snapshot())
	if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		if err != nil {
			return fmt.Errorf("snapshot: %w", s.raftError(err))
		}
		return nil
	}
	// Raft applied nothing since it started (the log after the newest snapshot was empty), so
	// the state is the newest snapshot's, which may hold the uncompacted database: write it
	// again from the compacted one, at the same index and with the same membership, and
	// truncate the log up to it here (Raft would have, had it taken the snapshot).
	meta, err := s.fsm.persistAgain(s.snaps, s.trans)
	if err != nil {
		return err
	}
	first, err := s.cached.FirstIndex()
	if err != nil {
		return fmt.Errorf("truncate log: %w", err)
	}
	if first == 0 || first > meta.Index {
		return nil
	}
	if err := s.cached.DeleteRange(first, meta.Index); err != nil {
		return fmt.Errorf("truncate log: %w", err)
	}
	return nil
}

// removeOlderSnapshots deletes every snapshot but the newest.
func (s *Store) removeOlderSnapshots() error {
	list, err := s.snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	for i, m := range list {
		if i == 0 {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, "snapshots", m.ID)); err != nil {
			return fmt.Errorf("remove snapshot %s: %w", m.ID, err)
		}
	}
	return nil
}

// compact drops the change history of the state database, and copies the database into a new
// file (bbolt.Compact: live pages only) that replaces it. Applies and reads wait meanwhile.
func (f *fsm) compact() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return store.ErrClosed
	}
	if err := f.db.db.Update(boltstore.DropHistory); err != nil {
		return fmt.Errorf("drop change history: %w", err)
	}
	path := filepath.Join(f.dir, stateFile)
	tmp := path + compactSuffix
	dst, err := compactInto(tmp, f.db.db)
	if err != nil {
		return fmt.Errorf("compact state database: %w", err)
	}
	dst.NoSync = f.noSync
	// The open database keeps working through the rename: bbolt holds the file descriptor.
	if err := os.Rename(tmp, path); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("compact state database: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		f.logger.Warn("sync directory after compaction", "error", err)
	}
	old := f.db
	f.db = &stateDB{db: dst, refs: 1}
	if err := old.release(); err != nil {
		f.logger.Warn("close replaced state database", "error", err)
	}
	return nil
}

// persistAgain writes a new snapshot of the state database at the index of the newest snapshot,
// when nothing was applied since it (the state is the snapshot's). Applies wait meanwhile.
func (f *fsm) persistAgain(snaps raft.SnapshotStore, trans raft.Transport) (*raft.SnapshotMeta, error) {
	list, err := snaps.List()
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("no snapshot to write again")
	}
	m := list[0]
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, store.ErrClosed
	}
	if f.appliedIndex.Load() > m.Index {
		return nil, fmt.Errorf("entries applied since snapshot %s: snapshot again", m.ID)
	}
	sink, err := snaps.Create(m.Version, m.Index, m.Term, m.Configuration, m.ConfigurationIndex, trans)
	if err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	err = f.db.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(sink)
		return err
	})
	if err != nil {
		_ = sink.Cancel()
		return nil, fmt.Errorf("write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return nil, fmt.Errorf("write snapshot: %w", err)
	}
	return m, nil
}

// compactInto copies the live pages of src into a new bbolt file at path, synced, and returns
// it open.
func compactInto(path string, src *bolt.DB) (*bolt.DB, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: bboltLockTimeout, InitialMmapSize: initialMmapSize, NoSync: true})
	if err != nil {
		return nil, err
	}
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		_ = dst.Close()
		_ = os.Remove(path)
		return nil, err
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return dst, nil
}

// logStore is raft.db (raft-boltdb) behind a lock, so that Scrub can replace the file with a
// compacted copy while Raft runs: Raft's calls wait for the swap.
type logStore struct {
	path string
	mu   sync.RWMutex
	bs   *raftboltdb.BoltStore
}

var (
	_ raft.LogStore    = (*logStore)(nil)
	_ raft.StableStore = (*logStore)(nil)
)

func openLogStore(path string) (*logStore, error) {
	if err := os.Remove(path + compactSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return nil, err
	}
	return &logStore{path: path, bs: bs}, nil
}

// compact copies raft.db's live pages into a new file and puts it in raft.db's place.
func (l *logStore) compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bs == nil {
		return store.ErrClosed
	}
	if err := l.bs.Close(); err != nil {
		return fmt.Errorf("compact raft log: close: %w", err)
	}
	l.bs = nil
	cerr := compactFile(l.path)
	bs, err := raftboltdb.New(raftboltdb.Options{Path: l.path})
	if err != nil {
		return errors.Join(cerr, fmt.Errorf("compact raft log: reopen: %w", err))
	}
	l.bs = bs
	if cerr != nil {
		return fmt.Errorf("compact raft log: %w", cerr)
	}
	return nil
}

// compactFile replaces the closed bbolt file at path with a compacted copy.
func compactFile(path string) error {
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: bboltLockTimeout, ReadOnly: true})
	if err != nil {
		return err
	}
	tmp := path + compactSuffix
	dst, err := compactInto(tmp, src)
	_ = src.Close()
	if err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func (l *logStore) store() (*raftboltdb.BoltStore, error) {
	if l.bs == nil {
		return nil, store.ErrClosed
	}
	return l.bs, nil
}

func (l *logStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bs == nil {
		return nil
	}
	err := l.bs.Close()
	l.bs = nil
	return err
}

func (l *logStore) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return 0, err
	}
	return bs.FirstIndex()
}

func (l *logStore) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return 0, err
	}
	return bs.LastIndex()
}

func (l *logStore) GetLog(index uint64, log *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return err
	}
	return bs.GetLog(index, log)
}

func (l *logStore) StoreLog(log *raft.Log) error {
	return l.StoreLogs([]*raft.Log{log})
}

func (l *logStore) StoreLogs(logs []*raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return err
	}
	return bs.StoreLogs(logs)
}

func (l *logStore) DeleteRange(lo, hi uint64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return err
	}
	return bs.DeleteRange(lo, hi)
}

func (l *logStore) Set(k, v []byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return err
	}
	return bs.Set(k, v)
}

func (l *logStore) Get(k []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return nil, err
	}
	return bs.Get(k)
}

func (l *logStore) SetUint64(k []byte, v uint64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return err
	}
	return bs.SetUint64(k, v)
}

func (l *logStore) GetUint64(k []byte) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bs, err := l.store()
	if err != nil {
		return 0, err
	}
	return bs.GetUint64(k)
}
