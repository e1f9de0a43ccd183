package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
)

// How the state database stays durable without an fsync per applied batch.
//
// The Raft log (raft.db, fsync'd by raft-boltdb before an entry counts towards a quorum) and
// the snapshots (fsync'd when written) are the durable record; the state database is derived
// from them. Fsync'ing it on every applied batch as well (bbolt's two fsyncs per commit) puts a
// third round of disk flushes on the path of every Commit, so by default the FSM commits its
// bbolt transactions without fsync (bolt.DB.NoSync).
//
// A process crash (SIGKILL, panic, OOM kill) loses nothing that way: bbolt's writes are in the
// kernel's page cache, which outlives the process, and bbolt writes a commit's meta page last,
// so the file holds either the old or the new committed state. Only a crash of the machine
// (power loss, kernel panic) can leave unsynced pages out of order on disk, and then the file
// cannot be trusted. To tell the two apart, the node writes the kernel's boot id into
// state.db.boot (fsync'd) before its first unsynced commit and removes it after a clean close
// (which fsyncs the database). On open:
//
//   - no marker: the last close was clean (or the database was always synced): trust it;
//   - a marker with the current boot id: the process died but the machine did not, and the
//     page cache holds every write: trust it;
//   - a marker from another boot: the machine went down with unsynced writes; the database is
//     set aside as state.db.discarded and rebuilt from the latest snapshot plus the Raft log
//     after it (restoreIfBehind, then Raft's replay), exactly as for a lost state.db.
//
// Where the boot id is unavailable (not Linux), or Config.SyncEveryApply is set, every batch
// is fsync'd as before and no marker is written.
const (
	bootMarkerFile = "state.db.boot"
	discardedFile  = "state.db.discarded"
	bootIDPath     = "/proc/sys/kernel/random/boot_id"
)

// currentBootID returns the kernel's boot id, or "" when the platform has none.
func currentBootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// discardIfFromEarlierBoot sets the state database in dir aside when it was written without
// fsync in a boot that has since ended, so that openFSM starts from an empty database and the
// node rebuilds it from its snapshot and log.
func discardIfFromEarlierBoot(dir, bootID string, logger hclog.Logger) error {
	marker, err := os.ReadFile(filepath.Join(dir, bootMarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", bootMarkerFile, err)
	}
	if bootID != "" && string(bytes.TrimSpace(marker)) == bootID {
		return nil // the process stopped, the machine did not: the page cache kept every write
	}
	state := filepath.Join(dir, stateFile)
	if _, err := os.Stat(state); err == nil {
		logger.Warn("state database was written without fsync before the machine restarted; rebuilding it from the snapshot and the Raft log",
			"set_aside", discardedFile)
		if err := os.Rename(state, filepath.Join(dir, discardedFile)); err != nil {
			return fmt.Errorf("set aside state database: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, bootMarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", bootMarkerFile, err)
	}
	return syncDir(dir)
}

// writeBootMarker records, durably, that the state database in dir is about to take commits
// without fsync in boot bootID.
func writeBootMarker(dir, bootID string) error {
	if err := writeFile(filepath.Join(dir, bootMarkerFile), bytes.NewReader([]byte(bootID+"\n"))); err != nil {
		return fmt.Errorf("write %s: %w", bootMarkerFile, err)
	}
	return syncDir(dir)
}

// removeBootMarker records that the state database in dir is synced to disk.
func removeBootMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, bootMarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", bootMarkerFile, err)
	}
	return syncDir(dir)
}
