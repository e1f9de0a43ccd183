package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// lockedBuffer is a bytes.Buffer safe for the daemon's logger and the test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWarnsWhenNotAMember starts fsad with a --node-id that the data directory's Raft
// configuration does not list (a directory prepared for another node) and expects a warning
// naming the recorded members.
func TestWarnsWhenNotAMember(t *testing.T) {
	dir := t.TempDir()
	other, err := raftstore.Open(raftstore.Config{
		NodeID: "the-other-node", Dir: dir, BindAddr: freeAddr(t), Bootstrap: true, Logger: hclog.NewNullLogger(),
	})
	require.NoError(t, err)
	require.NoError(t, other.Close())

	cfg, err := daemon.ParseConfig([]string{"--data-dir", dir, "--listen", freeAddr(t), "--admin-token", "tok",
		"--raft-addr", freeAddr(t), "--node-id", "me"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Keys.Keyring = testKeyring(t)
	var logs lockedBuffer
	cfg.Log.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool {
		s := logs.String()
		return strings.Contains(s, "not in the Raft configuration") && strings.Contains(s, "the-other-node")
	}, 10*time.Second, 10*time.Millisecond, "logs: %s", &logs)
}
