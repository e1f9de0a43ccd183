package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// stateFile writes a small state database (a single node's, which restore accepts like a
// cluster's backup) and returns its path.
func stateFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.bin")
	bs, err := boltstore.Open(path)
	require.NoError(t, err)
	_, err = bs.Commit(context.Background(), store.Txn{SetEpoch: 9, Ops: []store.Op{
		store.Put(store.Record{Kind: store.KindUser, ID: "u1", Data: []byte(`{}`)}),
		store.Put(store.Record{Kind: store.KindNode, ID: "old", Data: []byte(`{"id":"old"}`)}),
	}})
	require.NoError(t, err)
	require.NoError(t, bs.Close())
	return path
}

// tree lists every path under dir with its size ("missing" if dir does not exist).
func tree(t *testing.T, dir string) []string {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return []string{"missing"}
	}
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		return nil
	}))
	return out
}

func TestRestoreCommand(t *testing.T) {
	good := stateFile(t)
	garbage := filepath.Join(t.TempDir(), "garbage.bin")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600))
	noEnv := func(string) string { return "" }

	tests := []struct {
		name   string
		dir    string // "missing", "empty" or "full"
		args   []string
		getenv func(string) string
		code   int
		out    string
	}{
		{name: "ok", dir: "missing", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080"}, code: 0,
			out: "revision 2 at Raft index 1, term 1 (fencing epoch 9 reset to 0); members r1=127.0.0.2:9080"},
		{name: "ok with members and env", dir: "empty", args: []string{"--snapshot", good, "--members", "r1=127.0.0.2:9080, r2=127.0.0.3:9080"},
			getenv: func(k string) string {
				return map[string]string{"FSA_NODE_ID": "r1", "FSA_RAFT_ADVERTISE": "127.0.0.2:9080"}[k]
			}, code: 0, out: "members r1=127.0.0.2:9080,r2=127.0.0.3:9080"},
		{name: "help", dir: "missing", args: []string{"-h"}, code: 0, out: "WITHOUT --bootstrap"},
		{name: "non-empty dir", dir: "full", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080"}, code: 1,
			out: "data directory is not empty"},
		{name: "garbage file", dir: "empty", args: []string{"--snapshot", garbage, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080"}, code: 1,
			out: "not a state database"},
		{name: "missing file", dir: "empty", args: []string{"--snapshot", garbage + ".nope", "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080"}, code: 1,
			out: "no such file"},
		{name: "bad members syntax", dir: "missing", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080", "--members", "r1@127.0.0.2:9080"}, code: 2,
			out: `want id=host:port`},
		{name: "bad member address", dir: "missing", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080", "--members", "r1=127.0.0.2"}, code: 2,
			out: `missing port`},
		{name: "members without this node", dir: "empty", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080", "--members", "r2=127.0.0.3:9080"}, code: 1,
			out: "do not include the node r1"},
		{name: "missing flags", dir: "missing", args: nil, code: 2, out: "--snapshot is required"},
		{name: "bad advertise", dir: "missing", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "nohost"}, code: 2, out: "--raft-advertise"},
		{name: "extra argument", dir: "missing", args: []string{"--snapshot", good, "--node-id", "r1", "--raft-advertise", "127.0.0.2:9080", "x"}, code: 2, out: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			switch tt.dir {
			case "empty":
				require.NoError(t, os.Mkdir(dir, 0o700))
			case "full":
				require.NoError(t, os.Mkdir(dir, 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600))
			}
			before := tree(t, dir)
			getenv := tt.getenv
			if getenv == nil {
				getenv = noEnv
			}
			var out bytes.Buffer
			code := run(append([]string{"restore", "--data-dir", dir}, tt.args...), getenv, &out)
			assert.Equal(t, tt.code, code, out.String())
			assert.Contains(t, out.String(), tt.out)
			if tt.code != 0 || tt.name == "help" {
				assert.Equal(t, before, tree(t, dir), "the directory changed")
				return
			}
			assert.FileExists(t, filepath.Join(dir, "raft.db"))
			assert.DirExists(t, filepath.Join(dir, "snapshots"))
			// The state: the user kept, the old node record deleted, the epoch reset.
			bs, err := boltstore.Open(filepath.Join(dir, "state.db"))
			require.NoError(t, err)
			defer func() { require.NoError(t, bs.Close()) }()
			require.NoError(t, bs.View(context.Background(), func(s store.Snapshot) error {
				assert.Zero(t, s.Epoch())
				_, err := s.Get(store.KindUser, "u1")
				assert.NoError(t, err)
				_, err = s.Get(store.KindNode, "old")
				assert.ErrorIs(t, err, store.ErrNotFound)
				return nil
			}))
		})
	}
}

func TestBackupCommand(t *testing.T) {
	const token = "s3cret-admin-token"
	body := []byte("snapshot bytes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/admin/v1/snapshot" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set(daemon.SnapshotIndexHeader, "42")
		w.Header().Set(daemon.SnapshotTermHeader, "3")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	envToken := func(k string) string {
		if k == "FSA_ADMIN_TOKEN" {
			return token
		}
		return ""
	}
	wrongToken := func(k string) string {
		if k == "FSA_ADMIN_TOKEN" {
			return "wrong"
		}
		return ""
	}
	noEnv := func(string) string { return "" }

	tests := []struct {
		name   string
		args   []string // -o is added
		getenv func(string) string
		exists bool // the output file exists before
		code   int
		out    string
	}{
		{name: "token from env", args: []string{"--admin", srv.URL}, getenv: envToken, code: 0, out: "14 bytes, Raft index 42, term 3"},
		{name: "token file", args: []string{"--admin", srv.URL, "--token-file", tokenFile}, getenv: noEnv, code: 0, out: "Raft index 42"},
		{name: "no token", args: []string{"--admin", srv.URL}, getenv: noEnv, code: 2, out: "no admin token"},
		{name: "wrong token", args: []string{"--admin", srv.URL}, getenv: wrongToken, code: 1, out: "401"},
		{name: "bad url", args: []string{"--admin", "127.0.0.1:8080"}, getenv: envToken, code: 2, out: "want the node's API URL"},
		{name: "output exists", args: []string{"--admin", srv.URL}, getenv: envToken, exists: true, code: 1, out: "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "b.bin")
			if tt.exists {
				require.NoError(t, os.WriteFile(out, []byte("old"), 0o600))
			}
			var stderr bytes.Buffer
			code := run(append([]string{"backup", "-o", out}, tt.args...), tt.getenv, &stderr)
			assert.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.out)
			assert.NotContains(t, stderr.String(), token, "the token was printed")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			switch {
			case tt.code == 0:
				got, err := os.ReadFile(out)
				require.NoError(t, err)
				assert.Equal(t, body, got)
				assert.Len(t, entries, 1, "temporary file left behind")
			case tt.exists:
				got, err := os.ReadFile(out)
				require.NoError(t, err)
				assert.Equal(t, "old", string(got))
				assert.Len(t, entries, 1)
			default:
				assert.Empty(t, entries, "a failed backup left a file")
			}
		})
	}
}
