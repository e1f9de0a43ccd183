package web_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

// defaultChromium is Debian's Chromium; playwright-core drives it (no browser download).
// FSA_CHROMIUM names another binary.
const defaultChromium = "/usr/bin/chromium"

const domain = "e2e.fsa.test"

func TestConsoleEndToEnd(t *testing.T) {
	cluster := k8stest.Env(t)
	chromium := cmp.Or(os.Getenv("FSA_CHROMIUM"), defaultChromium)
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the web console test needs Chromium at %s: apt-get install -y chromium (%v)", chromium, err)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the web console test needs node (20 or later)")
	root, err := k8stest.RepoRoot()
	require.NoError(t, err)
	webDir := filepath.Join(root, "clients", "web")
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed: run `make web-deps` (npm ci in clients/web): %v", err)
	}
	artifacts := artifactDir(t, root)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	base := startFSAD(ctx, t, root, tmp)

	user := cluster.NewTestUser(t, "webe2e")
	kubeconfigFile := filepath.Join(tmp, "user.kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfigFile, user.Kubeconfig, 0o600))
	username, password := "web-e2e", "web-e2e-password"

	cmd := exec.CommandContext(ctx, node, filepath.Join(webDir, "e2e", "console.mjs"))
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		"FSA_URL="+base,
		"FSA_USERNAME="+username,
		"FSA_PASSWORD="+password,
		"FSA_KUBECONFIG_FILE="+kubeconfigFile,
		"FSA_NAMESPACE="+user.Namespace,
		"FSA_DOMAIN="+domain,
		"FSA_SANDBOX_ROOT="+cluster.SandboxRoot(),
		"FSA_ARTIFACTS="+artifacts,
		"CHROMIUM="+chromium,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	for line := range strings.Lines(out.String()) {
		t.Log(strings.TrimRight(line, "\n"))
	}
	t.Logf("browser flow took %.1fs; screenshots in %s", time.Since(start).Seconds(), artifacts)
	require.NoError(t, runErr, "browser flow failed (see the FAIL line above and %s)", filepath.Join(artifacts, "failure.png"))
	require.Contains(t, out.String(), "\nPASS\n")

	// The server agrees with what the page showed: the project is gone, and
	// the kubeconfig the page saved is the user's.
	hc := http.DefaultClient
	auth := fsav1connect.NewAuthServiceClient(hc, base)
	login, err := auth.Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: username, Password: password}))
	require.NoError(t, err)
	bearer := connect.WithInterceptors(bearerInterceptor(login.Msg.GetSession().GetToken()))
	list, err := fsav1connect.NewProjectServiceClient(hc, base, bearer).ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)
	require.Empty(t, list.Msg.GetProjects(), "the deleted project is gone")
	kc, err := fsav1connect.NewUserConfigServiceClient(hc, base, bearer).GetKubeconfig(ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{}))
	require.NoError(t, err)
	require.Equal(t, user.Namespace, kc.Msg.GetNamespace())
	for _, name := range []string{"projects-running.png", "console.png", "sandbox.png"} {
		st, err := os.Stat(filepath.Join(artifacts, name))
		require.NoError(t, err, "screenshot %s", name)
		require.Positive(t, st.Size())
	}
}

// artifactDir is where screenshots are kept after the test: $FSA_TEST_ARTIFACTS/web-e2e, or
// .cache/artifacts/web-e2e in the repository (ignored by git).
func artifactDir(t *testing.T, root string) string {
	t.Helper()
	dir := os.Getenv("FSA_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(root, ".cache", "artifacts")
	}
	dir = filepath.Join(dir, "web-e2e")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// startFSAD builds fsad and runs it on one node until the test ends; it returns its base URL.
func startFSAD(ctx context.Context, t *testing.T, root, tmp string) string {
	t.Helper()
	bin := filepath.Join(tmp, "fsad")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./daemon/cmd/fsad")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fsad: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	logPath := filepath.Join(tmp, "fsad.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--data-dir", filepath.Join(tmp, "data"), "--listen", addr, "--domain", domain,
		"--log-format", "text", "--reconcile-workers", "4")
	cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY=e2e:"+base64.RawURLEncoding.EncodeToString(secret), "FSA_KEK=test:"+strings.Repeat("q", 43))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("fsad log (last lines):\n%s", tail(logPath, 40))
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("fsad exited: %v\n%s", err, tail(logPath, 40))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("fsad not ready after 30s\n%s", tail(logPath, 40))
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		lines = append(lines, fmt.Sprintf("(read: %v)", err))
	}
	return strings.Join(lines, "\n")
}

// bearerInterceptor sends the session token on unary calls.
func bearerInterceptor(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}
