package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/internal/crashtest"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// killChildEnv names the data directory the helper child commits to; set only in the child.
const killChildEnv = "RAFTSTORE_KILL_CHILD"

func openSingle(dir string) (*raftstore.Store, error) {
	_, trans := raft.NewInmemTransport("single")
	return raftstore.Open(raftstore.Config{
		NodeID: "n1", Dir: dir, Transport: trans, Bootstrap: true,
		Logger: hclog.NewNullLogger(),
	})
}

// commitAsLeader commits txn, waiting out the single node's first election.
func commitAsLeader(ctx context.Context, s *raftstore.Store, txn store.Txn) (int64, error) {
	for {
		rev, err := s.Commit(ctx, txn)
		if !errors.Is(err, raftstore.ErrNotLeader) {
			return rev, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond): // polling for leadership, not synchronisation
		}
	}
}

// TestHelperKillChild is not a test: run by TestKillKeepsUnsyncedState as a child process, it
// commits records to a single-node raftstore and prints "ACK <revision> <id>" after each Commit
// returned, until killed.
func TestHelperKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("helper process for TestKillKeepsUnsyncedState")
	}
	s, err := openSingle(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	// The parent kills us long before this; the bound only stops an orphan.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("pid%d-%06d", os.Getpid(), i)
		rev, err := commitAsLeader(ctx, s, store.Txn{
			Conds: []store.Cond{{Kind: store.KindProject, ID: id, Version: 0}},
			Ops:   []store.Op{store.Put(store.Record{Kind: store.KindProject, ID: id, Owner: "u", Data: []byte(id)})},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "commit:", err)
			os.Exit(3)
		}
		if _, err := fmt.Fprintf(os.Stdout, "ACK %d %s\n", rev, id); err != nil {
			os.Exit(4)
		}
	}
	os.Exit(0)
}

// TestKillKeepsUnsyncedState SIGKILLs a node that is committing, with its state database
// written without fsync, and checks that the database on disk still holds every acknowledged
// commit (the page cache outlives the process), that the node reopens on it without setting it
// aside, and that it goes on committing.
func TestKillKeepsUnsyncedState(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot id on this platform: every apply is fsync'd")
	}
	dir := t.TempDir()
	var lastRev int64
	for round := range 3 {
		killAfter := 20 + rand.IntN(150)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		acks := crashtest.RunAndKill(t, cmd, killAfter, nil)
		require.GreaterOrEqual(t, len(acks), killAfter)
		t.Logf("round %d: killed after %d acks, %d read", round, killAfter, len(acks))

		// The killed process left its marker, naming this boot.
		marker, err := os.ReadFile(filepath.Join(dir, "state.db.boot"))
		require.NoError(t, err, "round %d: the unsynced database is marked", round)
		require.Equal(t, strings.TrimSpace(string(bootID)), strings.TrimSpace(string(marker)))

		// The state database itself, before Raft replays anything, holds every ack.
		db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		require.NoError(t, err)
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			sn := boltstore.NewSnapshot(tx)
			require.GreaterOrEqual(t, sn.Revision(), acks[len(acks)-1].Rev, "round %d: state database behind the last ack", round)
			require.Greater(t, acks[0].Rev, lastRev, "round %d: revisions continue across rounds", round)
			for _, a := range acks {
				r, err := sn.Get(store.KindProject, a.ID)
				require.NoError(t, err, "round %d: acknowledged %s (revision %d) missing from state.db", round, a.ID, a.Rev)
				require.Equal(t, a.Rev, r.Version)
			}
			return nil
		}))
		require.NoError(t, db.Close())

		s, err := openSingle(dir)
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(dir, "state.db.discarded"))
		require.ErrorIs(t, err, os.ErrNotExist, "round %d: a process crash must not discard the database", round)
		rev, err := commitAsLeader(ctxT(t), s, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: fmt.Sprint("after", round)})}})
		require.NoError(t, err)
		require.Greater(t, rev, acks[len(acks)-1].Rev)
		lastRev = rev
		require.NoError(t, s.Close())
		_, err = os.Stat(filepath.Join(dir, "state.db.boot"))
		require.ErrorIs(t, err, os.ErrNotExist, "round %d: a clean close syncs and unmarks", round)
	}
}
