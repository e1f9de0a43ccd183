package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

func testKEK(t testing.TB, id string) fsa.KEK {
	t.Helper()
	k, err := fsa.GenerateKEK(id)
	require.NoError(t, err)
	return k
}

// testKeyring is a keyring of one fresh key, for daemons whose data no other test reads.
func testKeyring(t testing.TB) *fsa.Keyring {
	t.Helper()
	kr, err := fsa.NewKeyring(testKEK(t, "test"))
	require.NoError(t, err)
	return kr
}

// containsValue reports whether data holds v in the clear or base64-encoded (as the stores
// keep a record's data), at any alignment.
func containsValue(data []byte, v string) bool {
	if bytes.Contains(data, []byte(v)) {
		return true
	}
	for i := 0; i < 3; i++ {
		part := v[i:]
		part = part[:len(part)/3*3]
		if bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString([]byte(part)))) {
			return true
		}
	}
	return false
}

func TestParseConfigKeyring(t *testing.T) {
	k1, k2 := testKEK(t, "k1"), testKEK(t, "k2")
	secret := strings.SplitN(k1.Encode(), ":", 2)[1]
	dir := t.TempDir()
	file := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	good := file("good", "# fsa keyring\n"+k2.Encode()+"\n"+k1.Encode()+"\n", 0o600)
	open := file("open", k1.Encode(), 0o644)
	empty := file("empty", "\n", 0o600)
	bad := file("bad", "k1:"+secret[:10], 0o600)
	base := []string{"--data-dir", dir}
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		primary string
		ids     []string
		err     string
	}{
		{name: "none", args: base},
		{name: "env", args: base, env: map[string]string{"FSA_KEK": k1.Encode() + "," + k2.Encode()}, primary: "k1", ids: []string{"k1", "k2"}},
		{name: "file", args: append(base, "--kek-file", good), primary: "k2", ids: []string{"k2", "k1"}},
		{name: "file from env", args: base, env: map[string]string{"FSA_KEK_FILE": good}, primary: "k2", ids: []string{"k2", "k1"}},
		{name: "both", args: append(base, "--kek-file", good), env: map[string]string{"FSA_KEK": k1.Encode()}, err: "both FSA_KEK and --kek-file"},
		{name: "readable by others", args: append(base, "--kek-file", open), err: "readable by others"},
		{name: "empty file", args: append(base, "--kek-file", empty), err: "empty keyring"},
		{name: "bad key", args: append(base, "--kek-file", bad), err: "has 7 bytes"},
		{name: "missing file", args: append(base, "--kek-file", filepath.Join(dir, "nope")), err: "no such file"},
		{name: "negative rate", args: append(base, "--reseal-rate", "-1"), err: "reseal rate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := daemon.ParseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.NotContains(t, err.Error(), secret[:10], "key material in the error")
				return
			}
			require.NoError(t, err)
			if tt.primary == "" {
				require.Nil(t, cfg.Keys.Keyring)
				return
			}
			require.Equal(t, tt.primary, cfg.Keys.Keyring.PrimaryKeyID())
			require.Equal(t, tt.ids, cfg.Keys.Keyring.KeyIDs())
		})
	}
}

// runDaemon runs a single-node fsad on dir with keyring kr. stop ends it and returns Run's
// error; exited is closed when Run has returned (stop then returns at once).
func runDaemon(t *testing.T, dir string, kr *fsa.Keyring, logs io.Writer) (stop func() error, exited <-chan struct{}) {
	t.Helper()
	cfg, err := daemon.ParseConfig([]string{"--data-dir", dir, "--listen", freeAddr(t), "--reseal-rate", "1000"},
		func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Keys.Keyring = kr
	cfg.Log.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = daemon.Run(ctx, cfg)
	}()
	stop = func() error {
		cancel()
		<-done
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop, done
}

// TestRunSecretsAtRest: fsad refuses to start without a keyring; started with one on a store
// written in the clear, its leader seals what is there; started again with a keyring lacking the
// data's key, or with another key under its id, it refuses to serve and changes nothing.
func TestRunSecretsAtRest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg, err := daemon.ParseConfig([]string{"--data-dir", t.TempDir(), "--listen", freeAddr(t)}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Log.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	err = daemon.Run(ctx, cfg)
	require.ErrorContains(t, err, "no key-encryption key")
	require.ErrorContains(t, err, "FSA_KEK")

	// A store written in the clear (before encryption).
	dir := t.TempDir()
	path := filepath.Join(dir, "fsa.db")
	marker := "kubeconfig-marker-0123456789abcdef"
	st, err := boltstore.Open(path)
	require.NoError(t, err)
	c := fsa.New(st)
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "old"})
	require.NoError(t, err)
	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: "apiVersion: v1\n# " + marker, Secret: true})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	k1 := testKEK(t, "k1")
	kr1, err := fsa.NewKeyring(k1)
	require.NoError(t, err)
	var logs lockedBuffer
	stop, exited := runDaemon(t, dir, kr1, &logs)
	for !strings.Contains(logs.String(), "secret values re-sealed under the primary key") {
		select {
		case <-exited:
			t.Fatalf("fsad stopped: %v\n%s", stop(), logs.String())
		case <-ctx.Done():
			t.Fatalf("never re-sealed:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond): // poll the log with a deadline
		}
	}
	require.NoError(t, stop())
	require.Contains(t, logs.String(), "in_clear=1")

	st, err = boltstore.Open(path)
	require.NoError(t, err)
	rep, err := fsa.New(st, fsa.WithKeys(kr1)).CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"k1": 1}, rep.ByKey)
	require.Zero(t, rep.Plain)
	require.NoError(t, st.Close())

	// Refusals: the key missing, or another key under its id.
	for name, kr := range map[string]*fsa.Keyring{
		"missing": func() *fsa.Keyring { kr, _ := fsa.NewKeyring(testKEK(t, "k2")); return kr }(),
		"wrong":   func() *fsa.Keyring { kr, _ := fsa.NewKeyring(testKEK(t, "k1")); return kr }(),
	} {
		var logs lockedBuffer
		stop, exited := runDaemon(t, dir, kr, &logs)
		select {
		case <-exited:
			err := stop()
			require.ErrorContains(t, err, "refusing to serve", name)
			require.ErrorContains(t, err, `"k1"`, name)
		case <-ctx.Done():
			t.Fatalf("%s: fsad kept running", name)
		}
	}
	st, err = boltstore.Open(path)
	require.NoError(t, err)
	defer st.Close()
	cfgv, err := fsa.New(st, fsa.WithKeys(kr1)).GetUserConfig(ctx, u.ID, fsa.ConfigKubeconfig, true)
	require.NoError(t, err, "nothing lost")
	require.Contains(t, cfgv.Value, marker)
}

// filesHolding returns the files under dir that hold v (containsValue).
func filesHolding(t *testing.T, dir, v string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if containsValue(b, v) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.Base(rel))
		}
		return nil
	}))
	return out
}

// TestRunScrubsAfterMigration: a cluster node whose data was written in the clear holds it in
// raft.db, state.db and its snapshot; started with a keyring, fsad re-seals it and then
// scrubs the node's files, after which no file under the data directory holds the value, and
// the node serves the value, sealed, after a restart.
func TestRunScrubsAfterMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	marker := "kubeconfig-marker-" + base64.RawURLEncoding.EncodeToString([]byte(t.Name()+time.Now().String()))

	// A one-node cluster written in the clear (before encryption), with a snapshot.
	_, trans := raft.NewInmemTransport("old")
	rs, err := raftstore.Open(raftstore.Config{NodeID: "n1", Dir: dir, Transport: trans, Bootstrap: true, Logger: hclog.NewNullLogger()})
	require.NoError(t, err)
	_, _, err = rs.WaitLeader(ctx)
	require.NoError(t, err)
	c := fsa.New(rs)
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "old"})
	require.NoError(t, err)
	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: "apiVersion: v1\n# " + marker, Secret: true})
	require.NoError(t, err)
	require.NoError(t, rs.Snapshot(ctx))
	require.NoError(t, rs.Close())
	require.ElementsMatch(t, []string{"raft.db", "state.db", "state.bin"}, filesHolding(t, dir, marker), "the search finds it before")

	kr, err := fsa.NewKeyring(testKEK(t, "k1"))
	require.NoError(t, err)
	run := func(logs io.Writer) (func() error, <-chan struct{}) {
		cfg, err := daemon.ParseConfig([]string{"--data-dir", dir, "--listen", freeAddr(t), "--raft-addr", freeAddr(t),
			"--node-id", "n1", "--reseal-rate", "1000"}, func(string) string { return "" }, io.Discard)
		require.NoError(t, err)
		cfg.Keys.Keyring = kr
		cfg.Keys.ScrubCheck = 20 * time.Millisecond
		cfg.Log.Logger = slog.New(slog.NewTextHandler(logs, nil))
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		var runErr error
		go func() {
			defer close(done)
			runErr = daemon.Run(rctx, cfg)
		}()
		stopFn := func() error { stop(); <-done; return runErr }
		t.Cleanup(func() { _ = stopFn() })
		return stopFn, done
	}
	waitLog := func(logs *lockedBuffer, exited <-chan struct{}, stop func() error, line string) {
		for !strings.Contains(logs.String(), line) {
			select {
			case <-exited:
				t.Fatalf("fsad stopped: %v\n%s", stop(), logs.String())
			case <-ctx.Done():
				t.Fatalf("no %q in the log:\n%s", line, logs.String())
			case <-time.After(20 * time.Millisecond): // poll the log with a deadline
			}
		}
	}
	var logs lockedBuffer
	stop, exited := run(&logs)
	waitLog(&logs, exited, stop, "old secret values scrubbed")
	require.NoError(t, stop())
	require.Contains(t, logs.String(), "secret values re-sealed under the primary key")
	require.Empty(t, filesHolding(t, dir, marker), "after the scrub")
	b, err := os.ReadFile(filepath.Join(dir, "secrets-scrubbed"))
	require.NoError(t, err)
	require.Equal(t, "k1\n", string(b), "the scrub is recorded under the primary key")

	// Started again: nothing pending, nothing to scrub; the value reads back.
	var logs2 lockedBuffer
	stop, exited = run(&logs2)
	waitLog(&logs2, exited, stop, "fsad started")
	require.NoError(t, stop())

	require.Contains(t, logs2.String(), "to_reseal=0")
	require.NotContains(t, logs2.String(), "scrubbed")
	_, trans = raft.NewInmemTransport("after")
	rs, err = raftstore.Open(raftstore.Config{NodeID: "n1", Dir: dir, Transport: trans, Logger: hclog.NewNullLogger()})
	require.NoError(t, err)
	defer rs.Close()
	_, _, err = rs.WaitLeader(ctx)
	require.NoError(t, err)
	got, err := fsa.New(rs, fsa.WithKeys(kr)).GetUserConfig(ctx, u.ID, fsa.ConfigKubeconfig, true)
	require.NoError(t, err)
	require.Contains(t, got.Value, marker)
}
