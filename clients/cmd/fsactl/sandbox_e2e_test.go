package main_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/sbstandin"
)

// runningProject creates a project with --wait and returns its sandbox's pod name.
func runningProject(t *testing.T, c *cli, name string) string {
	t.Helper()
	r := c.runIn("", 4*time.Minute, "project", "create", name, "--wait", "--wait-timeout", "3m")
	require.Equal(t, 0, r.Code, r.String())
	var p struct {
		Sandbox struct{ Name string }
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("project", "get", name, "-o", "json")), &p))
	require.NotEmpty(t, p.Sandbox.Name)
	return p.Sandbox.Name + "-0"
}

// TestSandboxCommands drives fsactl exec, cp and logs against a real fsad whose projects run on
// the local control plane: every call goes fsactl -> fsad -> the user's kubeconfig -> the API
// server's pods/exec and pods/log -> kwok.
func TestSandboxCommands(t *testing.T) {
	skipShort(t)
	cl := k8stest.Env(t)
	if cl.SandboxRoot() == "" {
		t.Skip("reads and writes the sandbox stand-in's log")
	}
	u := cl.NewTestUser(t, "sbcli")
	d := startFsad(t)
	c := signedUp(t, d, "sam", string(u.Kubeconfig))
	pod := runningProject(t, c, "shop")
	cl.WaitSandboxServed(t, u.Namespace, pod)

	t.Run("exec passes the exit status through", func(t *testing.T) {
		r := c.run("exec", "shop", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		assert.Equal(t, 3, r.Code, r.String())
		assert.Equal(t, "out\n", r.Out)
		assert.Equal(t, "err\n", r.Err)
		assert.Equal(t, "a b\n", c.ok("exec", "shop", "--", "echo", "a b"))
	})
	t.Run("exec -i streams stdin (bidirectional, h2c)", func(t *testing.T) {
		r := c.runIn("line one\nline two\n", time.Minute, "exec", "-i", "shop", "--", "wc", "-l")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "2", strings.TrimSpace(r.Out))
	})
	t.Run("exec -t runs on a terminal", func(t *testing.T) {
		// -t with -i, stdin held open until the output arrived: kwok v0.8.0 crashes on a TTY
		// exec without stdin and stops copying a TTY's output once stdin ends (a kubelet does
		// neither); see internal/devenv/localcluster/README.md.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.bin, "exec", "-t", "-i", "shop", "--", "sh", "-c", "test -t 1 && echo tty; read x")
		cmd.Env = c.env
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(out)
		require.True(t, lines.Scan())
		assert.Equal(t, "tty", strings.TrimSpace(lines.Text()))
		_, _ = io.WriteString(in, "\n")
		_ = in.Close()
		for lines.Scan() {
		}
		require.NoError(t, cmd.Wait())
	})
	t.Run("exec env and workdir", func(t *testing.T) {
		out := c.ok("exec", "-e", "GREETING=hi there", "-w", "/tmp", "shop", "--", "sh", "-c", `echo "$GREETING"; pwd`)
		assert.Equal(t, "hi there\n/tmp\n", out)
	})
	t.Run("cp up and down", func(t *testing.T) {
		content := make([]byte, 700<<10+3)
		_, _ = rand.Read(content)
		local := filepath.Join(t.TempDir(), "blob.bin")
		require.NoError(t, os.WriteFile(local, content, 0o640))
		c.ok("exec", "shop", "--", "mkdir", "-p", "data")
		c.ok("cp", local, "shop:data/blob.bin")
		assert.Equal(t, fmt.Sprint(len(content)), strings.TrimSpace(c.ok("exec", "shop", "--", "sh", "-c", "wc -c < data/blob.bin")))
		back := filepath.Join(t.TempDir(), "back.bin")
		c.ok("cp", "shop:data/blob.bin", back)
		got, err := os.ReadFile(back)
		require.NoError(t, err)
		assert.Equal(t, content, got)
		st, err := os.Stat(back)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
		r := c.runIn("from stdin\n", time.Minute, "cp", "-", "shop:note.txt")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "from stdin\n", c.ok("cp", "shop:note.txt", "-"))
		c.fails("not_found", "cp", "shop:no/such/file", "-")
		c.fails("failed_precondition", "cp", "shop:data", "-")
	})
	t.Run("logs and logs -f", func(t *testing.T) {
		root := cl.SandboxRoot()
		require.NoError(t, sbstandin.Log(root, u.Namespace, pod, "before follow"))
		assert.Equal(t, "before follow\n", c.ok("logs", "shop", "--tail", "1"))

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.bin, "logs", "-f", "--tail", "1", "shop")
		cmd.Env = c.env
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := bufio.NewScanner(out)
		require.True(t, lines.Scan())
		assert.Equal(t, "before follow", lines.Text())
		require.NoError(t, sbstandin.Log(root, u.Namespace, pod, "while following"))
		require.True(t, lines.Scan())
		assert.Equal(t, "while following", lines.Text())
	})
	t.Run("TypeScript client", func(t *testing.T) {
		root, err := k8stest.RepoRoot()
		require.NoError(t, err)
		ts := filepath.Join(root, "clients", "ts")
		tsc := filepath.Join(ts, "node_modules", ".bin", "tsc")
		if _, err := os.Stat(tsc); err != nil {
			t.Fatalf("the TypeScript client's dependencies are missing: run 'make clients-ts-test' once (%v)", err)
		}
		build := exec.Command(tsc, "-p", "tsconfig.json")
		build.Dir = ts
		out, err := build.CombinedOutput()
		require.NoError(t, err, "%s", out)
		var cfg struct{ Token string }
		data, err := os.ReadFile(c.config)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &cfg))
		var p struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(c.ok("project", "get", "shop", "-o", "json")), &p))
		node := exec.Command("node", "--test", "--test-reporter=tap", "test/sandbox.test.mjs")
		node.Dir = ts
		node.Env = append(os.Environ(), "FSA_SANDBOX_URL="+d.URL, "FSA_SANDBOX_TOKEN="+cfg.Token, "FSA_SANDBOX_PROJECT="+p.ID)
		out, err = node.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "# pass 4", "%s", out)
	})
	t.Run("private preview with WebSocket", func(t *testing.T) {
		link := strings.TrimSpace(c.ok("preview", "shop"))
		require.True(t, strings.HasPrefix(link, d.URL+"/preview/"), link)
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		get := func(u string) (int, string) {
			res, err := hc.Get(u)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			return res.StatusCode, string(body)
		}
		code, body := get(link) // ticket -> cookie -> redirect -> the app's /
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, fmt.Sprintf("sandbox app of %s/%s: GET /\n", u.Namespace, pod), body)
		base := strings.SplitN(link, "?", 2)[0]
		code, body = get(base + "hello/world")
		require.Equal(t, http.StatusOK, code, body)
		assert.Equal(t, fmt.Sprintf("sandbox app of %s/%s: GET /hello/world\n", u.Namespace, pod), body)
		_, body = get(base + "cookies")
		assert.NotContains(t, body, "fsa_preview", "the preview's cookie never reaches the app")

		// Without the cookie (another browser): refused.
		res, err := http.Get(base + "hello")
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
		// The ticket works once per minute at most, and only for its project.
		other := strings.Replace(link, "/preview/", "/preview/x", 1)
		res, err = http.Get(other)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode)

		// WebSocket upgrade through fsad and pods/portforward.
		wsURL := "ws" + strings.TrimPrefix(base, "http") + "ws"
		hdr := http.Header{}
		pu, err := url.Parse(base)
		require.NoError(t, err)
		for _, ck := range jar.Cookies(pu) {
			hdr.Add("Cookie", ck.Name+"="+ck.Value)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr)
		require.NoError(t, err, "%v", resp)
		defer ws.Close()
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("reload?")))
		_, msg, err := ws.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "echo: reload?", string(msg))
	})
	t.Run("another user sees nothing", func(t *testing.T) {
		other := signedUp(t, d, "otto", "")
		id := func() string {
			var p struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(c.ok("project", "get", "shop", "-o", "json")), &p))
			return p.ID
		}()
		other.fails("not_found", "exec", id, "--", "true")
		other.fails("not_found", "cp", id+":note.txt", "-")
		other.fails("not_found", "logs", id)
	})
}

// TestSandboxWithoutExecPermission: a kubeconfig whose Role lacks pods/exec gets
// PermissionDenied naming it, at once.
func TestSandboxWithoutExecPermission(t *testing.T) {
	skipShort(t)
	cl := k8stest.Env(t)
	var rules []rbacv1.PolicyRule
	for _, r := range k8stest.UserRules {
		keep := r.DeepCopy()
		keep.Resources = nil
		for _, res := range r.Resources {
			if res != "pods/exec" {
				keep.Resources = append(keep.Resources, res)
			}
		}
		rules = append(rules, *keep)
	}
	u := cl.NewTestUserWithRules(t, "noexec", rules)
	d := startFsad(t)
	c := signedUp(t, d, "nora", string(u.Kubeconfig))
	runningProject(t, c, "shop")
	start := time.Now()
	r := c.fails("permission_denied", "exec", "shop", "--", "true")
	assert.Contains(t, r.Err, "pods/exec")
	assert.Less(t, time.Since(start), 15*time.Second)
}
