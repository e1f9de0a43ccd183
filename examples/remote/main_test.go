package main

import (
	"bytes"
	"context"
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

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// startCluster runs three fsad processes: n1 bootstraps, n2 and n3 join through it. It returns
// their API URLs.
func startCluster(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fsad")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fullstackagent/fsa/daemon/cmd/fsad").CombinedOutput()
	require.NoError(t, err, string(out))
	env := append(os.Environ(), "FSA_SIGNING_KEY=ex1:"+strings.Repeat("k", 43), "FSA_ADMIN_TOKEN=example-admin-token-0123456789", "FSA_KEK=test:"+strings.Repeat("q", 43))
	var urls []string
	for i := 1; i <= 3; i++ {
		api, raft := freePort(t), freePort(t)
		args := []string{"--data-dir", filepath.Join(dir, fmt.Sprint("n", i)), "--listen", api, "--raft-addr", raft,
			"--node-id", fmt.Sprint("n", i), "--domain", "sandbox.fsa.test", "--log-format", "text"}
		if i == 1 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", urls[0])
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			logf.Close()
		})
		url := "http://" + api
		require.Eventually(t, func() bool {
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, time.Minute, 50*time.Millisecond, "n%d ready (log %s)", i, logf.Name())
		urls = append(urls, url)
	}
	return urls
}

func TestRemoteAgainstThreeNodes(t *testing.T) {
	cl := k8stest.Env(t)
	u := cl.NewTestUser(t, "remote")
	kc := filepath.Join(t.TempDir(), "user.kubeconfig")
	require.NoError(t, os.WriteFile(kc, u.Kubeconfig, 0o600))
	urls := startCluster(t)

	// Followers first: the client must find the leader by itself.
	endpoints := []string{urls[2], urls[1], urls[0]}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, &out, options{endpoints: endpoints, user: "ada", pass: "correct horse battery", kubeconfig: kc,
		project: "Remote Demo", timeout: 3 * time.Minute})
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "signed up as ada")
	require.Contains(t, out.String(), "project  RUNNING")
	require.Contains(t, out.String(), "RUNNING: app https://")

	out.Reset()
	err = run(ctx, &out, options{endpoints: endpoints, user: "ada", pass: "correct horse battery", project: "Second", timeout: 3 * time.Minute})
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "signed in as ada", "the second run signs in")
}
