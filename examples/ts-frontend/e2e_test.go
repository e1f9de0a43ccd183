package tsfrontend_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

// defaultChromium is Debian's Chromium; FSA_CHROMIUM names another binary.
const defaultChromium = "/usr/bin/chromium"

func TestPageEndToEnd(t *testing.T) {
	cluster := k8stest.Env(t)
	chromium := cmp.Or(os.Getenv("FSA_CHROMIUM"), defaultChromium)
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test needs Chromium at %s: apt-get install -y chromium (%v)", chromium, err)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "this test needs node 20 or later")
	root, err := k8stest.RepoRoot()
	require.NoError(t, err)
	dir := filepath.Join(root, "examples", "ts-frontend")
	artifacts := artifactDir(t, root)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	buildPage(ctx, t, dir)
	tmp := t.TempDir()
	fsad := startFSAD(ctx, t, root, tmp)

	// The page and the API on one origin: static files, and /fsa.v1.* to fsad.
	target, err := url.Parse(fsad)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // WatchProjects is a stream: flush every message
	files := http.FileServer(http.Dir(filepath.Join(dir, "dist")))
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fsa.v1.") {
			proxy.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(site.Close)

	user := cluster.NewTestUser(t, "tsfront")
	kubeconfigFile := filepath.Join(tmp, "user.kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfigFile, user.Kubeconfig, 0o600))
	username, password := "ts-frontend", "ts-frontend-password"

	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "e2e", "page.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PAGE_URL="+site.URL+"/",
		"FSA_USERNAME="+username,
		"FSA_PASSWORD="+password,
		"FSA_KUBECONFIG_FILE="+kubeconfigFile,
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

	// The server agrees with the page: one project, RUNNING, in the user's namespace.
	login, err := fsav1connect.NewAuthServiceClient(http.DefaultClient, fsad).
		Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: username, Password: password}))
	require.NoError(t, err)
	token := login.Msg.GetSession().GetToken()
	projects := fsav1connect.NewProjectServiceClient(http.DefaultClient, fsad)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		req := connect.NewRequest(&fsav1.ListProjectsRequest{})
		req.Header().Set("Authorization", "Bearer "+token)
		list, err := projects.ListProjects(ctx, req)
		require.NoError(c, err)
		require.Len(c, list.Msg.GetProjects(), 1)
		assert.Equal(c, "TS Demo", list.Msg.GetProjects()[0].GetName())
		assert.Equal(c, fsav1.Status_STATUS_RUNNING, list.Msg.GetProjects()[0].GetStatus())
	}, time.Minute, 200*time.Millisecond, "the project the page showed RUNNING is RUNNING on the server")
}

// buildPage installs the example's npm packages when its lock file is newer
// than node_modules, then bundles the page into dist/.
func buildPage(ctx context.Context, t *testing.T, dir string) {
	t.Helper()
	npm, err := exec.LookPath("npm")
	require.NoError(t, err, "this test needs npm (it runs `npm ci` and `npm run build` in examples/ts-frontend)")
	stamp, stampErr := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	require.NoError(t, err)
	if stampErr != nil || stamp.ModTime().Before(lock.ModTime()) {
		run(ctx, t, dir, npm, "ci", "--no-audit", "--no-fund")
	}
	run(ctx, t, dir, npm, "run", "build")
}

func run(ctx context.Context, t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s in %s:\n%s", name, strings.Join(args, " "), dir, out)
}

// artifactDir is where screenshots are kept after the test:
// $FSA_TEST_ARTIFACTS/ts-frontend, or .cache/artifacts/ts-frontend in the repository.
func artifactDir(t *testing.T, root string) string {
	t.Helper()
	dir := cmp.Or(os.Getenv("FSA_TEST_ARTIFACTS"), filepath.Join(root, ".cache", "artifacts"))
	dir = filepath.Join(dir, "ts-frontend")
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// startFSAD builds fsad and runs it on one node until the test ends; it returns its base URL.
func startFSAD(ctx context.Context, t *testing.T, root, tmp string) string {
	t.Helper()
	bin := filepath.Join(tmp, "fsad")
	run(ctx, t, root, "go", "build", "-o", bin, "./daemon/cmd/fsad")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	logPath := filepath.Join(tmp, "fsad.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--data-dir", filepath.Join(tmp, "data"), "--listen", addr,
		"--domain", "ts-frontend.fsa.test", "--log-format", "text")
	cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY=e2e:"+base64.RawURLEncoding.EncodeToString(key), "FSA_KEK=test:"+strings.Repeat("q", 43))
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

// tail returns the last n lines of the file at path.
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
	return strings.Join(lines, "\n")
}
