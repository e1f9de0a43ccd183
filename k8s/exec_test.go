package k8s_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/sbstandin"
	"github.com/fullstackagent/fsa/k8s"
)

// runningSandbox applies a sandbox as the user and waits until it runs; it returns its pod and
// the directory its exec starts in (the stand-in's, or the container's home on a real cluster).
func runningSandbox(t *testing.T, ctx context.Context, e *env, name string) (pod, home string) {
	t.Helper()
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, sandboxSpec(name)))
	waitSandbox(t, ctx, e, name, k8s.StateRunning)
	pod = name + "-0"
	home = k8s.HomePath
	if root := e.cluster.SandboxRoot(); root != "" {
		home = sbstandin.FSDir(root, e.user.Namespace, pod)
		e.cluster.WaitSandboxServed(t, e.user.Namespace, pod)
	}
	return pod, home
}

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestExec(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(t, "exec")
	pod, home := runningSandbox(t, ctx, e, "ex1")
	run := func(t *testing.T, opts k8s.ExecOptions) (int, string, string) {
		t.Helper()
		var out, errOut syncBuffer
		opts.Stdout, opts.Stderr = &out, &errOut
		code, err := k8s.Exec(ctx, e.client, pod, k8s.ContainerName, opts)
		require.NoError(t, err)
		return code, out.String(), errOut.String()
	}

	t.Run("argv is not parsed by a shell", func(t *testing.T) {
		code, out, _ := run(t, k8s.ExecOptions{Command: []string{"printf", "%s|", "a b", "$HOME", "x;y", "'q'"}})
		assert.Equal(t, 0, code)
		assert.Equal(t, "a b|$HOME|x;y|'q'|", out)
	})
	t.Run("env, working directory, stdin and separate stderr", func(t *testing.T) {
		code, out, errOut := run(t, k8s.ExecOptions{
			Command: []string{"sh", "-c", `pwd; echo "$GREETING"; cat; echo to-stderr >&2; exit 7`},
			Env:     []string{"GREETING=hello world"}, Dir: "/tmp", Stdin: strings.NewReader("from stdin\n"),
		})
		assert.Equal(t, 7, code)
		assert.Equal(t, "/tmp\nhello world\nfrom stdin\n", out)
		assert.Equal(t, "to-stderr\n", errOut)
	})
	t.Run("default working directory", func(t *testing.T) {
		_, out, _ := run(t, k8s.ExecOptions{Command: []string{"pwd"}})
		assert.Equal(t, home+"\n", out)
	})
	t.Run("a missing command is exit code 127", func(t *testing.T) {
		code, _, errOut := run(t, k8s.ExecOptions{Command: []string{"no-such-command-fsa"}})
		assert.Equal(t, 127, code)
		assert.Contains(t, errOut, "no-such-command-fsa")
	})
	t.Run("TTY with resize", func(t *testing.T) {
		stdinR, stdinW := io.Pipe()
		resize := make(chan k8s.TerminalSize, 1)
		resize <- k8s.TerminalSize{Width: 123, Height: 45}
		var out syncBuffer
		done := make(chan int, 1)
		go func() {
			code, err := k8s.Exec(ctx, e.client, pod, k8s.ContainerName, k8s.ExecOptions{
				Command: []string{"sh"}, TTY: true, Stdin: stdinR, Stdout: &out, Resize: resize,
			})
			assert.NoError(t, err)
			done <- code
		}()
		// The resize and the input travel on separate streams: ask until the size shows.
		require.Eventually(t, func() bool {
			_, _ = io.WriteString(stdinW, "stty size\n")
			return strings.Contains(out.String(), "45 123")
		}, 20*time.Second, 200*time.Millisecond, "got %q", out.String())
		_, _ = io.WriteString(stdinW, "exit 5\n")
		select {
		case code := <-done:
			assert.Equal(t, 5, code)
		case <-time.After(20 * time.Second):
			t.Fatal("the TTY exec did not end")
		}
		close(resize)
		_ = stdinW.Close()
	})
	t.Run("cancellation kills the command and its children", func(t *testing.T) {
		tag := fmt.Sprintf("%d.%03d", time.Now().Unix()%100000, time.Now().Nanosecond()%1000)
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		// sh forks sleep (no exec): killing only the stream's own process would leave sleep.
		_, err := k8s.Exec(cctx, e.client, pod, k8s.ContainerName, k8s.ExecOptions{
			Command: []string{"sh", "-c", "sleep " + tag + "; true"}, Stdout: io.Discard,
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "killed")
		code, _, _ := run(t, k8s.ExecOptions{Command: []string{"sh", "-c",
			`for p in /proc/[0-9]*; do tr '\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -q "^sleep $1 $"`, "x", tag}})
		assert.Equal(t, 1, code, "a sleep %s is still running", tag)
	})
}

func TestExecForbiddenWithoutPodsExec(t *testing.T) {
	ctx := testCtx(t)
	c := k8stest.Env(t)
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
	u := c.NewTestUserWithRules(t, "noexec", rules)
	cl, err := k8s.NewClients().Get("noexec", u.Kubeconfig)
	require.NoError(t, err)
	admin, err := k8s.NewClient(c.RESTConfig(), u.Namespace)
	require.NoError(t, err)
	e := &env{cluster: c, user: u, client: cl, admin: admin}
	pod, _ := runningSandbox(t, ctx, e, "nx1")
	start := time.Now()
	_, err = k8s.Exec(ctx, cl, pod, k8s.ContainerName, k8s.ExecOptions{Command: []string{"true"}})
	require.ErrorIs(t, err, k8s.ErrForbidden)
	assert.Contains(t, err.Error(), "pods/exec")
	assert.Less(t, time.Since(start), 10*time.Second, "refused at once, not after a timeout")
}

func TestFiles(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(t, "files")
	pod, home := runningSandbox(t, ctx, e, "fi1")
	cl, ctr := e.client, k8s.ContainerName
	dir := path.Join(home, "work dir")
	require.NoError(t, k8s.Mkdir(ctx, cl, pod, ctr, path.Join(dir, "sub", "deep"), 0o750, true))

	content := make([]byte, 3<<20+17)
	_, _ = rand.Read(content)
	file := path.Join(dir, "data.bin")
	require.NoError(t, k8s.WriteFile(ctx, cl, pod, ctr, file, bytes.NewReader(content), int64(len(content)), 0o640))

	t.Run("read back", func(t *testing.T) {
		var got bytes.Buffer
		info, err := k8s.ReadFile(ctx, cl, pod, ctr, file, &got, 0)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(content, got.Bytes()), "content differs")
		assert.Equal(t, int64(len(content)), info.Size)
		assert.Equal(t, fs.FileMode(0o640), info.Mode)
	})
	t.Run("stat and list", func(t *testing.T) {
		info, err := k8s.Stat(ctx, cl, pod, ctr, file)
		require.NoError(t, err)
		assert.Equal(t, "data.bin", info.Name)
		assert.Equal(t, int64(len(content)), info.Size)
		assert.Equal(t, fs.FileMode(0o640), info.Mode)
		assert.WithinDuration(t, time.Now(), info.ModTime, time.Minute)
		require.NoError(t, k8s.WriteFile(ctx, cl, pod, ctr, path.Join(dir, "two\nlines"), strings.NewReader("x"), 1, 0o600))
		list, err := k8s.ListDir(ctx, cl, pod, ctr, dir)
		require.NoError(t, err)
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		require.Len(t, list, 3)
		assert.Equal(t, "data.bin", list[0].Name)
		assert.Equal(t, "sub", list[1].Name)
		assert.True(t, list[1].IsDir())
		deep, err := k8s.Stat(ctx, cl, pod, ctr, path.Join(dir, "sub", "deep"))
		require.NoError(t, err)
		assert.Equal(t, fs.ModeDir|0o750, deep.Mode)
		assert.Equal(t, "two\nlines", list[2].Name)
		assert.Equal(t, path.Join(dir, "two\nlines"), list[2].Path)
	})
	t.Run("errors", func(t *testing.T) {
		_, err := k8s.ReadFile(ctx, cl, pod, ctr, path.Join(dir, "missing"), io.Discard, 0)
		assert.ErrorIs(t, err, k8s.ErrNotFound)
		_, err = k8s.ReadFile(ctx, cl, pod, ctr, path.Join(dir, "sub"), io.Discard, 0)
		assert.ErrorIs(t, err, k8s.ErrFileOp)
		assert.Contains(t, err.Error(), "is a directory")
		_, err = k8s.ReadFile(ctx, cl, pod, ctr, file, io.Discard, 1<<20)
		assert.ErrorIs(t, err, k8s.ErrTooLarge)
		_, err = k8s.Stat(ctx, cl, pod, ctr, path.Join(dir, "missing"))
		assert.ErrorIs(t, err, k8s.ErrNotFound)
		_, err = k8s.ListDir(ctx, cl, pod, ctr, path.Join(dir, "missing"))
		assert.ErrorIs(t, err, k8s.ErrNotFound)
		err = k8s.WriteFile(ctx, cl, pod, ctr, path.Join(dir, "short"), strings.NewReader("abc"), 10, 0o600)
		assert.ErrorIs(t, err, k8s.ErrFileOp)
		assert.Contains(t, err.Error(), "ended after 3 of 10 bytes")
		err = k8s.WriteFile(ctx, cl, pod, ctr, path.Join(dir, "nodir", "f"), strings.NewReader("abc"), 3, 0o600)
		assert.Error(t, err)
		err = k8s.Remove(ctx, cl, pod, ctr, path.Join(dir, "sub"), false)
		assert.ErrorIs(t, err, k8s.ErrFileOp, "a directory that is not empty")
		err = k8s.Remove(ctx, cl, pod, ctr, path.Join(dir, "missing"), false)
		assert.ErrorIs(t, err, k8s.ErrNotFound)
	})
	t.Run("remove", func(t *testing.T) {
		require.NoError(t, k8s.Remove(ctx, cl, pod, ctr, file, false))
		require.NoError(t, k8s.Remove(ctx, cl, pod, ctr, path.Join(dir, "sub"), true))
		list, err := k8s.ListDir(ctx, cl, pod, ctr, dir)
		require.NoError(t, err)
		require.Len(t, list, 1)
	})
}

func TestLogsAndPortForward(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(t, "logs")
	if e.cluster.SandboxRoot() == "" {
		t.Skip("writes the log through the sandbox stand-in")
	}
	pod, _ := runningSandbox(t, ctx, e, "lg1")
	root := e.cluster.SandboxRoot()
	for i := range 3 {
		require.NoError(t, sbstandin.Log(root, e.user.Namespace, pod, fmt.Sprintf("line %d", i)))
	}
	t.Run("tail", func(t *testing.T) {
		rc, err := k8s.Logs(ctx, e.client, pod, k8s.ContainerName, k8s.LogOptions{TailLines: 2})
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, rc.Close())
		require.NoError(t, err)
		assert.Equal(t, "line 1\nline 2\n", string(data))
	})
	t.Run("since", func(t *testing.T) {
		rc, err := k8s.Logs(ctx, e.client, pod, k8s.ContainerName, k8s.LogOptions{Since: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, rc.Close())
		require.NoError(t, err)
		assert.Empty(t, string(data))
	})
	t.Run("follow", func(t *testing.T) {
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rc, err := k8s.Logs(fctx, e.client, pod, k8s.ContainerName, k8s.LogOptions{Follow: true, TailLines: 1})
		require.NoError(t, err)
		defer rc.Close()
		lines := bufio.NewScanner(rc)
		require.True(t, lines.Scan())
		assert.Equal(t, "line 2", lines.Text())
		require.NoError(t, sbstandin.Log(root, e.user.Namespace, pod, "line after follow"))
		require.True(t, lines.Scan())
		assert.Equal(t, "line after follow", lines.Text())
	})
	t.Run("port forward", func(t *testing.T) {
		conn, err := k8s.DialPort(ctx, e.client, pod, 3000)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /preview HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, fmt.Sprintf("sandbox app of %s/%s: GET /preview\n", e.user.Namespace, pod), string(body))
	})
}
