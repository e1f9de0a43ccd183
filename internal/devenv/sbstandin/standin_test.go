package sbstandin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/sbstandin"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

// sandboxPod is a pod the stand-in serves.
func sandboxPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/component": "sandbox"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sandbox", Image: "runtime:test"}}},
	}
}

// runningPod creates a sandbox-labelled pod in a fresh user's namespace and waits until it runs.
func runningPod(t *testing.T, c *k8stest.Cluster) (kubernetes.Interface, *rest.Config, *corev1.Pod) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := c.NewTestUser(t, "sb")
	cfg, err := u.RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	pod, err := cs.CoreV1().Pods(u.Namespace).Create(ctx, sandboxPod("box-0"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := cs.CoreV1().Pods(u.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	}, 30*time.Second, 50*time.Millisecond)
	c.WaitSandboxServed(t, u.Namespace, pod.Name)
	ready, err := os.ReadFile(sbstandin.ReadyFile(c.SandboxRoot(), u.Namespace, pod.Name))
	require.NoError(t, err)
	require.Equal(t, string(pod.UID)+"\n", string(ready), "the ready file names the pod it was written for")
	return cs, cfg, pod
}

// TestExecLogsPortForwardThroughAPIServer proves the test world: a user's pods/exec, pods/log
// and pods/portforward go through the real API server to kwok and reach the stand-ins.
func TestExecLogsPortForwardThroughAPIServer(t *testing.T) {
	c := k8stest.Env(t)
	if c.SandboxRoot() == "" {
		t.Skip("an existing cluster has real sandboxes")
	}
	cs, cfg, pod := runningPod(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fs := sbstandin.FSDir(c.SandboxRoot(), pod.Namespace, pod.Name)

	exec := func(t *testing.T, stdin string, cmd ...string) (string, string, error) {
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).
			SubResource("exec").VersionedParams(&corev1.PodExecOptions{
			Container: "sandbox", Command: cmd, Stdin: stdin != "", Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
		spdyExec, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
		require.NoError(t, err)
		wsExec, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
		require.NoError(t, err)
		ex, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, httpstream.IsUpgradeFailure)
		require.NoError(t, err)
		var out, errOut bytes.Buffer
		opts := remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}
		if stdin != "" {
			opts.Stdin = strings.NewReader(stdin)
		}
		err = ex.StreamWithContext(ctx, opts)
		return out.String(), errOut.String(), err
	}

	t.Run("exec runs in the pod's directory", func(t *testing.T) {
		out, _, err := exec(t, "", "pwd")
		require.NoError(t, err)
		require.Equal(t, fs+"\n", out)
	})
	t.Run("stdin, stderr and the exit code come back", func(t *testing.T) {
		out, errOut, err := exec(t, "hello", "sh", "-c", "cat; echo oops >&2; exit 3")
		require.Equal(t, "hello", out)
		require.Equal(t, "oops\n", errOut)
		var code utilexec.CodeExitError
		require.ErrorAs(t, err, &code)
		require.Equal(t, 3, code.ExitStatus())
	})
	t.Run("a file written by exec is in the directory", func(t *testing.T) {
		_, _, err := exec(t, "", "sh", "-c", "echo data > f.txt")
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(fs, "f.txt"))
		require.NoError(t, err)
		require.Equal(t, "data\n", string(got))
	})
	t.Run("logs", func(t *testing.T) {
		require.NoError(t, sbstandin.Log(c.SandboxRoot(), pod.Namespace, pod.Name, "line two"))
		data, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "sandbox"}).DoRaw(ctx)
		require.NoError(t, err)
		require.Contains(t, string(data), "container box-0 started\n")
		require.True(t, strings.HasSuffix(string(data), "line two\n"), "got %q", data)
	})
	t.Run("port forward to 3000 reaches the app", func(t *testing.T) {
		u, err := url.Parse(cfg.Host)
		require.NoError(t, err)
		u.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", pod.Namespace, pod.Name)
		rt, upgrader, err := spdy.RoundTripperFor(cfg)
		require.NoError(t, err)
		dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
		stop, ready := make(chan struct{}), make(chan struct{})
		pf, err := portforward.NewOnAddressesForStreaming(dialer, []string{"127.0.0.1"}, []string{"0:3000"}, stop, ready, io.Discard, io.Discard)
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() { errc <- pf.ForwardPorts() }()
		defer func() { close(stop); <-errc }()
		select {
		case <-ready:
		case err := <-errc:
			t.Fatalf("port forward: %v", err)
		}
		ports, err := pf.GetPorts()
		require.NoError(t, err)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", ports[0].Local))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "sandbox app of "+pod.Namespace+"/box-0: GET /hello\n", string(body))
	})
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}

// TestProbesHoldNoConnections serves several pods and counts this process's descriptors: each
// served pod holds its application server's listener and nothing of its probes (a probe's
// connection once stayed open per pod, and 10,000 pods exhausted the process).
func TestProbesHoldNoConnections(t *testing.T) {
	c := k8stest.Env(t)
	if c.SandboxRoot() == "" {
		t.Skip("an existing cluster has real sandboxes")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := c.NewTestUser(t, "fds")
	cfg, err := u.RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	// One pod first, so that the clients' connections exist before counting.
	create := func(name string) {
		_, err := cs.CoreV1().Pods(u.Namespace).Create(ctx, sandboxPod(name), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	create("warm-0")
	c.WaitSandboxServed(t, u.Namespace, "warm-0")
	before := openFiles(t)
	const pods = 12
	for i := range pods {
		create(fmt.Sprintf("fd%d-0", i))
	}
	for i := range pods {
		c.WaitSandboxServed(t, u.Namespace, fmt.Sprintf("fd%d-0", i))
	}
	grown := openFiles(t) - before
	t.Logf("%d pods served: %d more descriptors", pods, grown)
	require.Less(t, grown, pods+pods/2, "one listener per pod and a few shared connections, not a connection per probe")
}
