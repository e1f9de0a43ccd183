package boltstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/internal/crashtest"
)

// childEnv names the file the helper child commits to; set only in the child.
const childEnv = "BOLTSTORE_DURABILITY_CHILD"

// TestHelperChild is not a test: run by TestDurabilityKill as a child process, it commits
// records in a loop and prints "ACK <revision> <id>" after each Commit returned, until killed.
func TestHelperChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestDurabilityKill")
	}
	s, err := boltstore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	// The parent kills us long before this; the bound only stops an orphan.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("pid%d-%06d", os.Getpid(), i)
		rev, err := s.Commit(ctx, store.Txn{
			Conds: []store.Cond{{Kind: store.KindProject, ID: id, Version: 0}},
			Ops: []store.Op{
				store.Put(store.Record{Kind: store.KindProject, ID: id, Owner: "u", Status: "CREATING", Data: []byte(id)}),
				store.Put(store.Record{Kind: store.KindSandbox, ID: id, Owner: "u", Parent: id, Data: []byte(id)}),
			},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "commit:", err)
			os.Exit(3)
		}
		// Unbuffered write: the parent sees the ack only after Commit returned.
		if _, err := fmt.Fprintf(os.Stdout, "ACK %d %s\n", rev, id); err != nil {
			os.Exit(4)
		}
	}
	os.Exit(0)
}

// TestDurabilityKill SIGKILLs a process that is committing and checks that every commit it
// acknowledged is in the file afterwards.
func TestDurabilityKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "fsa.db")
	var lastRev int64
	for round := range 5 {
		killAfter := 20 + rand.IntN(200)
		var whileRunning func()
		if round == 0 {
			whileRunning = func() {
				// The child holds the file: another process's Open must fail fast, not hang.
				_, err := boltstore.Open(path, boltstore.WithLockTimeout(100*time.Millisecond))
				require.ErrorIs(t, err, boltstore.ErrLocked)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		acks := crashtest.RunAndKill(t, cmd, killAfter, whileRunning)
		require.GreaterOrEqual(t, len(acks), killAfter, "round %d", round)
		t.Logf("round %d: killed after %d acks, %d acks read in total", round, killAfter, len(acks))

		s, err := boltstore.Open(path)
		require.NoError(t, err, "round %d: reopen after SIGKILL", round)
		require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error {
			last := acks[len(acks)-1].Rev
			require.GreaterOrEqual(t, sn.Revision(), last, "round %d: revision behind the last ack", round)
			require.Greater(t, acks[0].Rev, lastRev, "round %d: revisions continue across rounds", round)
			for _, a := range acks {
				for _, kind := range []store.Kind{store.KindProject, store.KindSandbox} {
					r, err := sn.Get(kind, a.ID)
					require.NoError(t, err, "round %d: acknowledged %s %s (revision %d) lost", round, kind, a.ID, a.Rev)
					require.Equal(t, a.Rev, r.Version)
					require.Equal(t, a.ID, string(r.Data))
				}
			}
			children, err := sn.List(store.KindSandbox, store.Filter{Parent: acks[len(acks)-1].ID})
			require.NoError(t, err)
			require.Len(t, children, 1, "round %d: index of the last acknowledged commit", round)
			lastRev = sn.Revision()
			return nil
		}))
		require.NoError(t, s.Close())
	}
}
