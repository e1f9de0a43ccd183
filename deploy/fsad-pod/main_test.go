package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
)

func TestDecide(t *testing.T) {
	const join = "FSA_JOIN=http://fsad-0.fsad-peers:8080,http://fsad-1.fsad-peers:8080,http://fsad-2.fsad-peers:8080"
	base := []string{"FSA_DATA_DIR=/var/lib/fsa", join, "FSA_RAFT_ADDR=0.0.0.0:9080", "FSA_ADMIN_TOKEN=secret"}
	tests := []struct {
		name      string
		pod       string
		state     bool // raft.db exists
		peerReady bool // some peer answers /readyz
		extra     []string
		bootstrap bool
		wantErr   string
	}{
		{name: "ordinal 0, empty volume: bootstrap", pod: "fsad-0", bootstrap: true},
		{name: "ordinal 0 with state: join (re-registers a new pod IP)", pod: "fsad-0", state: true},
		{name: "ordinal 0, empty volume, a peer is ready: join, never a second cluster", pod: "fsad-0", peerReady: true},
		{name: "ordinal 1, empty volume: join", pod: "fsad-1", peerReady: true},
		{name: "ordinal 1: join", pod: "fsad-1"},
		{name: "ordinal 2 with state: join", pod: "fsad-2", state: true},
		{name: "a stray FSA_BOOTSTRAP is dropped", pod: "fsad-2", extra: []string{"FSA_BOOTSTRAP=true"}},
		{name: "dashes in the set name", pod: "my-fsad-set-10"},
		{name: "no pod name", pod: "", wantErr: "POD_NAME"},
		{name: "no ordinal", pod: "fsad-x", wantErr: "POD_NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(append(slices.Clone(base), "POD_NAME="+tt.pod), tt.extra...)
			got, err := decide(env, func(p string) bool {
				assert.Equal(t, "/var/lib/fsa/raft.db", p)
				return tt.state
			}, func(u string) bool {
				assert.True(t, strings.HasPrefix(u, "http://fsad-"), u)
				return tt.peerReady
			})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.bootstrap, slices.Contains(got, "FSA_BOOTSTRAP=true"))
			assert.Equal(t, !tt.bootstrap, slices.Contains(got, join))
			assert.Contains(t, got, "FSA_NODE_ID="+tt.pod)
			assert.Contains(t, got, "FSA_ADMIN_TOKEN=secret")
			n := 0
			for _, kv := range got {
				if strings.HasPrefix(kv, "FSA_BOOTSTRAP=") {
					n++
				}
			}
			assert.LessOrEqual(t, n, 1)

			// fsad accepts what the pod ends up with.
			_, err = daemon.ParseConfig(nil, func(k string) string {
				for _, kv := range got {
					if v, ok := strings.CutPrefix(kv, k+"="); ok {
						return v
					}
				}
				return ""
			}, &bytes.Buffer{})
			require.NoError(t, err)
		})
	}
}

func TestDecideKeepsExplicitNodeID(t *testing.T) {
	got, err := decide([]string{"POD_NAME=fsad-1", "FSA_DATA_DIR=/d", "FSA_JOIN=http://a:1", "FSA_NODE_ID=custom"}, func(string) bool { return false }, func(string) bool { return false })
	require.NoError(t, err)
	assert.Contains(t, got, "FSA_NODE_ID=custom")
	assert.NotContains(t, got, "FSA_NODE_ID=fsad-1")
}

func TestDecideJoinRequired(t *testing.T) {
	_, err := decide([]string{"POD_NAME=fsad-1", "FSA_DATA_DIR=/d"}, func(string) bool { return false }, func(string) bool { return false })
	require.ErrorContains(t, err, "FSA_JOIN")
}

func TestReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && r.URL.Query().Get("x") == "" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no raft leader known", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	assert.True(t, ready(srv.URL))
	assert.True(t, ready(srv.URL+"/"))
	assert.False(t, ready(notReady.URL))
	assert.False(t, ready("http://127.0.0.1:1"), "nothing listens")
}
