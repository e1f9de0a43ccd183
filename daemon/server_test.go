package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunSingleNode runs the daemon in process without Raft: health, metrics (daemon, Go and RPC
// collectors), the RPC API over HTTP/1.1 and h2c, the admin status, and a clean shutdown.
func TestRunSingleNode(t *testing.T) {
	addr := freeAddr(t)
	cfg, err := daemon.ParseConfig([]string{"--data-dir", t.TempDir(), "--listen", addr, "--admin-token", "tok"},
		func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + addr
	c := &http.Client{Timeout: 5 * time.Second}
	require.Eventually(t, func() bool { code, _ := get(t, c, base+"/readyz"); return code == http.StatusOK }, 10*time.Second, 10*time.Millisecond)

	// Single-node mode is always the leader: reconcile runs with fence 1.
	admin := &daemon.AdminClient{BaseURL: base, Token: "tok"}
	require.Eventually(t, func() bool {
		st, err := admin.Status(ctx)
		return err == nil && st.State == "Single" && st.Reconcile.Running && st.Reconcile.Fence == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.ErrorContains(t, admin.Remove(ctx, "x"), "412")

	code, body := get(t, c, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{"fsa_daemon_reconcile_running 1", "go_goroutines", "fsa_reconcile_queue_depth"} {
		require.Contains(t, body, m)
	}

	// The RPC API answers on the same port, over HTTP/1.1 and over h2c.
	h2c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}}
	for name, client := range map[string]*http.Client{"http1": c, "h2c": h2c} {
		resp, err := client.Post(base+"/fsa.v1.ClusterService/GetClusterStatus", "application/json", strings.NewReader("{}"))
		require.NoError(t, err, name)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: an unauthenticated call", name)
		if name == "h2c" {
			require.Equal(t, 2, resp.ProtoMajor)
		}
	}

	cancel()
	require.NoError(t, <-done)
	done <- nil // for the cleanup
}

func h2cOnly() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}
