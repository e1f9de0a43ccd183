package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// This file is the offline restore: turning a backup (the state database that Store.Backup
// streams) into the directory of the first node of a new cluster.

// ErrDirNotEmpty is returned by RestoreBackup when the target directory already holds files.
var ErrDirNotEmpty = errors.New("raftstore: data directory is not empty")

// ErrNotStateDB is returned by RestoreBackup when the backup is not a state database of this
// package's layout (not a bbolt file, another bbolt file such as raft.db, or a damaged one).
var ErrNotStateDB = errors.New("raftstore: not a state database")

// RestoreConfig says who the restored node is and which cluster it starts.
type RestoreConfig struct {
	// NodeID and Address are the restored node's Raft identity: the --node-id and the Raft
	// address peers dial (the advertised address) it will be started with. Required.
	NodeID  string
	Address string
	// Members is the new cluster's configuration, every member a voter. It must contain
	// NodeID at Address. Empty means this node alone; others join it later.
	Members []Member

	// Edit, if set, is called with the backup's state (epoch already reset to 0) and returns a
	// transaction to apply to it before it is installed, as its next revision (say, deleting
	// records that describe the old cluster). A transaction with nothing to do is skipped. Its
	// failure fails the restore.
	Edit func(store.Snapshot) (store.Txn, error)

	// Retention is the change history the edit transaction trims to (store.DefaultRetention if
	// zero); use the Config.Retention the node will run with.
	Retention int

	// Logger receives progress (hclog.Default() named "raftstore" if nil).
	Logger hclog.Logger
}

// RestoreInfo describes a restore done by RestoreBackup.
type RestoreInfo struct {
	// Index and Term are where the new cluster's history starts: the restored snapshot's
	// Raft index and term (those the backup's state had applied, at least 1 each).
	Index, Term uint64
	// Revision is the store revision of the restored state (after Edit).
	Revision int64
	// OldEpoch is the fencing epoch the backup held; the restored state holds 0.
	OldEpoch uint64
	// Members is the configuration the restored node starts with.
	Members []Member
}

// restoreStaging is the directory inside the target where RestoreBackup prepares the files
// before moving them into place.
const restoreStaging = ".restore-staging"

// RestoreBackup prepares dir as the data directory of the first node of a new cluster holding
// the backup read from backup (the file Store.Backup streams, POST /admin/v1/snapshot). Started
// with Open (cfg.NodeID, advertised at cfg.Address, without Bootstrap) the node becomes the
// leader of cfg.Members holding the backup's data; the other members start empty and receive
// it as a Raft snapshot (for example by joining through the leader).
//
// dir must be missing or empty (a "lost+found" directory alone is allowed, as at the root of a
// fresh volume), else ErrDirNotEmpty. The backup is checked before anything is installed: a
// file that is not a state database of this package's layout fails with ErrNotStateDB. On
// every failure dir is left as it was (removed again if RestoreBackup created it).
//
// What it writes, and why (hashicorp/raft v1.7.3):
//
//   - state.db: the backup with its fencing epoch set to 0 and its applied index and term (the
//     "raftstore"/"applied" record) set to (N, T), the backup's own (at least (1, 1)). The old
//     epoch belongs to the old cluster's leaders, not to the new cluster's terms (a single
//     node's database counts it from 1 at every start, unrelated to T): left in place it would
//     fence off every new leader whose term is not above it. Reset to 0, the first leader
//     acquires it with its own term, as in a fresh cluster.
//   - snapshots/: a Raft snapshot at index N, term T whose configuration is cfg.Members and
//     whose contents are the same state.db. Raft takes the configuration and its last index
//     from the newest snapshot at start (also with NoSnapshotRestoreOnStart), and the node's
//     log is empty, so the leader has no entry at or below N to send: a new member receives
//     this snapshot through InstallSnapshot. The state database already holds index N, so the
//     node does not restore the snapshot into itself at start.
//   - raft.db: an empty log and a stable store whose CurrentTerm is T. Without it the node
//     would elect itself in term 1 and append entries of a lower term after a snapshot of term
//     T; Raft's election rule compares last terms, so that could elect a node missing
//     committed entries. Starting at T, every new entry's term is above T.
//
// raft.BootstrapCluster cannot do this (it refuses a directory with a snapshot, and its
// configuration entry at index 1 and term 1 would sit below the restored state), and
// raft.RecoverCluster needs an existing node's log or snapshots and an FSM to replay them into;
// writing the snapshot directly is the same thing RecoverCluster ends with (a snapshot with
// the forced configuration over an empty log) without either.
func RestoreBackup(ctx context.Context, dir string, backup io.Reader, cfg RestoreConfig) (_ RestoreInfo, err error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.Default()
	}
	logger := cfg.Logger.Named("raftstore")
	members, err := restoreMembers(cfg)
	if err != nil {
		return RestoreInfo{}, err
	}
	if dir == "" {
		return RestoreInfo{}, errors.New("raftstore: restore: data directory is required")
	}
	created, err := checkEmptyDir(dir)
	if err != nil {
		return RestoreInfo{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: %w", err)
	}
	staging := filepath.Join(dir, restoreStaging)
	installed := false
	defer func() {
		if installed {
			return
		}
		rmErr := os.RemoveAll(staging)
		if created && rmErr == nil {
			rmErr = os.Remove(dir)
		}
		if rmErr != nil {
			err = errors.Join(err, fmt.Errorf("raftstore: restore: clean up: %w", rmErr))
		}
	}()
	if err := os.Mkdir(staging, 0o700); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: %w", err)
	}

	// 1. The backup, copied, checked and rewritten, then written out compactly as state.db: a
	// copy of a node's state.db is mostly preallocated space, which a Raft snapshot would
	// otherwise carry to every new member.
	inPath := filepath.Join(staging, "backup.db")
	statePath := filepath.Join(staging, stateFile)
	logger.Info("reading backup", "to", inPath)
	if err := writeFile(inPath, ctxReader{ctx: ctx, r: backup}); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: copy backup: %w", err)
	}
	info, err := rewriteState(inPath, cfg)
	if err != nil {
		return RestoreInfo{}, err
	}
	info.Members = members
	logger.Info("backup checked and rewritten", "revision", info.Revision, "old_epoch", info.OldEpoch,
		"index", info.Index, "term", info.Term)
	if err := copyState(statePath, inPath); err != nil {
		return RestoreInfo{}, err
	}
	if err := os.Remove(inPath); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return RestoreInfo{}, err
	}

	// 2. The Raft snapshot holding the same state, with the new configuration.
	if err := writeRestoreSnapshot(staging, statePath, info, logger); err != nil {
		return RestoreInfo{}, err
	}
	// 3. The Raft log (empty) and stable store (CurrentTerm).
	if err := writeRestoreStable(staging, info.Term); err != nil {
		return RestoreInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return RestoreInfo{}, err
	}

	// 4. Move everything into place: three renames inside one file system. If one fails, the
	// ones done are undone, so a retry finds the directory as it was.
	var moved []string
	for _, name := range []string{stateFile, logFile, "snapshots"} {
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(dir, name)); err != nil {
			for _, m := range moved {
				_ = os.RemoveAll(filepath.Join(dir, m))
			}
			return RestoreInfo{}, fmt.Errorf("raftstore: restore: install %s: %w", name, err)
		}
		moved = append(moved, name)
	}
	installed = true
	if err := os.Remove(staging); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: %w", err)
	}
	logger.Info("restored", "dir", dir, "node", cfg.NodeID, "members", len(members))
	return info, nil
}

// restoreMembers checks cfg's identity and membership and returns the configuration.
func restoreMembers(cfg RestoreConfig) ([]Member, error) {
	if cfg.NodeID == "" || cfg.Address == "" {
		return nil, errors.New("raftstore: restore: node id and address are required")
	}
	members := cfg.Members
	if len(members) == 0 {
		members = []Member{{ID: cfg.NodeID, Address: cfg.Address}}
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	self := false
	out := make([]Member, 0, len(members))
	for _, m := range members {
		switch {
		case m.ID == "" || m.Address == "":
			return nil, fmt.Errorf("raftstore: restore: member %q at %q: id and address are required", m.ID, m.Address)
		case ids[m.ID]:
			return nil, fmt.Errorf("raftstore: restore: member id %q listed twice", m.ID)
		case addrs[m.Address]:
			return nil, fmt.Errorf("raftstore: restore: member address %q listed twice", m.Address)
		}
		ids[m.ID], addrs[m.Address] = true, true
		if m.ID == cfg.NodeID {
			if m.Address != cfg.Address {
				return nil, fmt.Errorf("raftstore: restore: member %s is at %q but the node's address is %q", m.ID, m.Address, cfg.Address)
			}
			self = true
		}
		out = append(out, Member{ID: m.ID, Address: m.Address, Suffrage: raft.Voter.String()})
	}
	if !self {
		return nil, fmt.Errorf("raftstore: restore: the members do not include the node %s", cfg.NodeID)
	}
	return out, nil
}

// checkEmptyDir fails unless dir is missing (missing is true) or holds nothing but
// lost+found.
func checkEmptyDir(dir string) (missing bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("raftstore: restore: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "lost+found" {
			names = append(names, e.Name())
		}
	}
	if len(names) > 0 {
		return false, fmt.Errorf("%w: %s holds %s", ErrDirNotEmpty, dir, strings.Join(names, ", "))
	}
	return false, nil
}

// rewriteState checks that path is a state database and rewrites it for the new cluster: epoch
// 0, cfg.Edit applied, applied index and term set to where the restored history starts.
func rewriteState(path string, cfg RestoreConfig) (info RestoreInfo, err error) {
	if err := checkBoltFile(path); err != nil {
		return RestoreInfo{}, fmt.Errorf("%w: %w", ErrNotStateDB, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: bboltLockTimeout})
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("%w: %w", ErrNotStateDB, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("raftstore: restore: close state: %w", cerr)
		}
	}()
	// Check before writing: a bbolt file of another kind (raft.db) has no meta bucket;
	// boltstore.Init in the update below then refuses another layout format.
	if err := db.View(func(tx *bolt.Tx) error {
		if _, _, err := boltstore.ReadState(tx); err != nil {
			return err
		}
		if _, err := boltstore.LoadHistory(tx, 1); err != nil {
			return err
		}
		// Drain the channel: Check's goroutine sends every error it finds.
		var first error
		for cerr := range tx.Check() {
			if first == nil {
				first = cerr
			}
		}
		return first
	}); err != nil {
		return RestoreInfo{}, fmt.Errorf("%w: %w", ErrNotStateDB, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := boltstore.Init(tx); err != nil {
			return fmt.Errorf("%w: %w", ErrNotStateDB, err)
		}
		if _, err := tx.CreateBucketIfNotExists(bucketRaft); err != nil {
			return err
		}
		info.Index, info.Term = readApplied(tx)
		if info.Index == 0 {
			// A state that never applied a Raft entry (a single node's database).
			info.Index = 1
		}
		if info.Term == 0 {
			info.Term = 1
		}
		if _, info.OldEpoch, err = boltstore.ReadState(tx); err != nil {
			return err
		}
		if err := boltstore.NewBackend(tx).SetEpoch(0); err != nil {
			return fmt.Errorf("reset epoch: %w", err)
		}
		if cfg.Edit != nil {
			txn, err := cfg.Edit(boltstore.NewSnapshot(tx))
			if err != nil {
				return fmt.Errorf("edit: %w", err)
			}
			if len(txn.Ops) > 0 || txn.SetEpoch != 0 {
				if _, err := boltstore.ApplyTx(tx, txn, cfg.Retention); err != nil {
					return fmt.Errorf("edit: %w", err)
				}
			}
		}
		if info.Revision, _, err = boltstore.ReadState(tx); err != nil {
			return err
		}
		return writeApplied(tx, info.Index, info.Term)
	})
	if err != nil {
		if errors.Is(err, ErrNotStateDB) {
			return RestoreInfo{}, err
		}
		return RestoreInfo{}, fmt.Errorf("raftstore: restore: rewrite state: %w", err)
	}
	return info, nil
}

// copyState writes the database at src to dst with bolt's Tx.WriteTo (as a snapshot's Persist
// does): only the pages in use, not the file's preallocated tail.
func copyState(dst, src string) error {
	db, err := bolt.Open(src, 0o600, &bolt.Options{Timeout: bboltLockTimeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	defer func() { _ = db.Close() }()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftstore: restore: write state: %w", err)
	}
	return nil
}

// The bbolt file format (go.etcd.io/bbolt internal/common): pages 0 and 1 are meta pages, each
// a 16-byte page header followed by the meta record below, in the machine's byte order.
const (
	boltPageHeader = 16
	boltMetaSize   = 64 // magic, version, page size, flags, root (2×8), freelist, pgid, txid, checksum
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)
)

// checkBoltFile checks that path is a whole bbolt file before bbolt opens it: bbolt trusts the
// file and maps it into memory, so a truncated copy (an interrupted download) would crash the
// process with SIGBUS instead of failing. It reads the two meta pages, keeps the valid one
// with the highest transaction id, and requires the file to hold every page it counts.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	type meta struct{ pageSize, root, freelist, pgid, txid uint64 }
	read := func(off int64) (meta, bool) {
		b := make([]byte, boltMetaSize)
		if _, err := f.ReadAt(b, off+boltPageHeader); err != nil {
			return meta{}, false
		}
		u32 := func(i int) uint64 { return uint64(binary.NativeEndian.Uint32(b[i:])) }
		u64 := func(i int) uint64 { return binary.NativeEndian.Uint64(b[i:]) }
		h := fnv.New64a()
		_, _ = h.Write(b[:56])
		if u32(0) != boltMagic || u32(4) != boltVersion || u64(56) != h.Sum64() {
			return meta{}, false
		}
		return meta{pageSize: u32(8), root: u64(16), freelist: u64(32), pgid: u64(40), txid: u64(48)}, true
	}
	var best meta
	found := false
	m0, ok0 := read(0)
	second := []int64{4096, int64(os.Getpagesize())}
	if ok0 {
		best, found = m0, true
		second = []int64{int64(m0.pageSize)}
	}
	for _, off := range second {
		if m1, ok := read(off); ok && (!found || m1.txid > best.txid) {
			best, found = m1, true
			break
		}
	}
	switch {
	case !found:
		return errors.New("not a bbolt database (no valid meta page)")
	case best.pageSize < 512 || best.pgid > uint64(fi.Size())/best.pageSize:
		return fmt.Errorf("bbolt database truncated or damaged: %d bytes, want %d pages of %d", fi.Size(), best.pgid, best.pageSize)
	case best.root >= best.pgid || (best.freelist >= best.pgid && best.freelist != boltNoFreelist):
		return errors.New("bbolt database damaged (meta page points past its end)")
	}
	return nil
}

// writeRestoreSnapshot writes the state database at statePath as a Raft snapshot at info's
// index and term, with info's members as the configuration, into dir/snapshots.
func writeRestoreSnapshot(dir, statePath string, info RestoreInfo, logger hclog.Logger) error {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, logger.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("raftstore: restore: snapshot store: %w", err)
	}
	var conf raft.Configuration
	for _, m := range info.Members {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Address)})
	}
	// The file snapshot store encodes the voters with the transport (a legacy field); the
	// in-memory transport encodes an address as itself, as the TCP transport does.
	_, trans := raft.NewInmemTransport("")
	defer func() { _ = trans.Close() }()
	sink, err := snaps.Create(raft.SnapshotVersionMax, info.Index, info.Term, conf, info.Index, trans)
	if err != nil {
		return fmt.Errorf("raftstore: restore: create snapshot: %w", err)
	}
	f, err := os.Open(statePath)
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	defer func() { _ = f.Close() }()
	if _, err := io.Copy(sink, f); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: restore: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("raftstore: restore: write snapshot: %w", err)
	}
	return nil
}

// keyCurrentTerm is the stable-store key under which hashicorp/raft keeps its current term
// (raft.go, unexported there).
var keyCurrentTerm = []byte("CurrentTerm")

// writeRestoreStable creates dir/raft.db with an empty log and CurrentTerm = term.
func writeRestoreStable(dir string, term uint64) error {
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, logFile)})
	if err != nil {
		return fmt.Errorf("raftstore: restore: create raft log: %w", err)
	}
	if err := logs.SetUint64(keyCurrentTerm, term); err != nil {
		_ = logs.Close()
		return fmt.Errorf("raftstore: restore: set current term: %w", err)
	}
	if err := logs.Close(); err != nil {
		return fmt.Errorf("raftstore: restore: close raft log: %w", err)
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
