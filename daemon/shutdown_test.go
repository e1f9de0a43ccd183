package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/daemon"
)

// TestShutdownEndsWatchStreams checks that an open watch stream, which never finishes by
// itself, does not keep fsad from stopping: shutdown drains, then cancels the streams.
func TestShutdownEndsWatchStreams(t *testing.T) {
	addr := freeAddr(t)
	cfg, err := daemon.ParseConfig([]string{"--data-dir", t.TempDir(), "--listen", addr, "--shutdown-timeout", "2s"},
		func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Keys.Keyring = testKeyring(t)
	cfg.Log.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}()
	base := "http://" + addr
	c := &http.Client{}
	require.Eventually(t, func() bool { code, _ := get(t, c, base+"/readyz"); return code == http.StatusOK }, 10*time.Second, 10*time.Millisecond)

	auth := fsav1connect.NewAuthServiceClient(c, base)
	up, err := auth.SignUp(context.Background(), connect.NewRequest(&fsav1.SignUpRequest{Username: "watcher", Password: "long enough password"}))
	require.NoError(t, err)
	projects := fsav1connect.NewProjectServiceClient(c, base)
	req := connect.NewRequest(&fsav1.WatchProjectsRequest{})
	req.Header().Set("Authorization", "Bearer "+up.Msg.GetSession().GetToken())
	stream, err := projects.WatchProjects(context.Background(), req)
	require.NoError(t, err)
	defer stream.Close()
	received := make(chan error, 1)
	go func() {
		for stream.Receive() {
		}
		received <- stream.Err()
	}()

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("fsad did not stop with a watch stream open")
	}
	require.Less(t, time.Since(start), 10*time.Second)
	select {
	case err := <-received:
		// Cancelled by the server, the handler returns and the stream ends in order with
		// Unavailable (clients reconnect elsewhere), rather than by a cut connection.
		require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "got %v", err)
		require.ErrorContains(t, err, "server shutting down")
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stream did not end")
	}
}
