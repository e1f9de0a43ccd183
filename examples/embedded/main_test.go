package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

func TestIntentOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, options{data: path, project: "My Blog!"}))
	require.Contains(t, out.String(), `k8s name "myblog", status CREATING`)
	require.Contains(t, out.String(), "env TTYD_ACCESS_TOKEN=(secret) [ttyd]")

	out.Reset()
	require.NoError(t, run(context.Background(), &out, options{data: path, project: "second"}), "a second run reuses the store")
	require.Contains(t, out.String(), "existing")
}

func TestReconcileInProcess(t *testing.T) {
	cl := k8stest.Env(t)
	u := cl.NewTestUser(t, "embedded")
	kc := filepath.Join(t.TempDir(), "user.kubeconfig")
	require.NoError(t, os.WriteFile(kc, u.Kubeconfig, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, &out, options{data: filepath.Join(t.TempDir(), "state.db"), project: "Embedded!",
		kubeconfig: kc, domain: "sandbox.fsa.test", timeout: 2 * time.Minute})
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "RUNNING: app https://")
	require.Contains(t, out.String(), ".sandbox.fsa.test")
	require.Regexp(t, `CREATING +sandbox CREATING`, out.String(), "progress is shown from the start")
}
