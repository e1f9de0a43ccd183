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

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/daemon"
)

// bearer adds a bearer token to unary calls.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

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
	cfg.Keys.Keyring = testKeyring(t)
	cfg.Log.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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

	// Single-node mode is always the leader: reconcile runs with fence 1. ClusterService takes
	// the admin token.
	admin := fsav1connect.NewClusterServiceClient(c, base, connect.WithInterceptors(bearer("tok")))
	require.Eventually(t, func() bool {
		res, err := admin.GetClusterStatus(ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
		if err != nil {
			return false
		}
		st := res.Msg
		return st.State == "Single" && st.ReconcileRunning && st.ReconcileFence == 1
	}, 10*time.Second, 10*time.Millisecond)
	_, err = admin.RemoveNode(ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "x"}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)

	// The production build has no test surface, admin token or not.
	req, err := http.NewRequest(http.MethodGet, base+"/test/v1/local/state", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

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
