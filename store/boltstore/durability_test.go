package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
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

type ack struct {
	rev int64
	id  string
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
		acks := runAndKill(t, path, killAfter, whileRunning)
		require.GreaterOrEqual(t, len(acks), killAfter, "round %d", round)
		t.Logf("round %d: killed after %d acks, %d acks read in total", round, killAfter, len(acks))

		s, err := boltstore.Open(path)
		require.NoError(t, err, "round %d: reopen after SIGKILL", round)
		require.NoError(t, s.View(ctxT(t), func(sn store.Snapshot) error {
			last := acks[len(acks)-1].rev
			require.GreaterOrEqual(t, sn.Revision(), last, "round %d: revision behind the last ack", round)
			require.Greater(t, acks[0].rev, lastRev, "round %d: revisions continue across rounds", round)
			for _, a := range acks {
				for _, kind := range []store.Kind{store.KindProject, store.KindSandbox} {
					r, err := sn.Get(kind, a.id)
					require.NoError(t, err, "round %d: acknowledged %s %s (revision %d) lost", round, kind, a.id, a.rev)
					require.Equal(t, a.rev, r.Version)
					require.Equal(t, a.id, string(r.Data))
				}
			}
			children, err := sn.List(store.KindSandbox, store.Filter{Parent: acks[len(acks)-1].id})
			require.NoError(t, err)
			require.Len(t, children, 1, "round %d: index of the last acknowledged commit", round)
			lastRev = sn.Revision()
			return nil
		}))
		require.NoError(t, s.Close())
	}
}

// runAndKill starts the helper child on path, SIGKILLs it after n acks, and returns every ack it
// printed (including those already in the pipe when it died). whileRunning, if not nil, runs
// after the first ack, while the child has the file open.
func runAndKill(t *testing.T, path string, n int, whileRunning func()) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	var acks []ack
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ACK" {
			continue // test framework output
		}
		rev, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		acks = append(acks, ack{rev, f[2]})
		if len(acks) == 1 && whileRunning != nil {
			whileRunning()
		}
		if len(acks) == n && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.True(t, killed, "child exited before %d acks (%v): %s", n, err, stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, status.Signaled() && status.Signal() == syscall.SIGKILL, "child: %v: %s", err, stderr.String())
	return acks
}
