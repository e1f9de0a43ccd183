package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

// TestDemoSandbox checks what `make cluster-up` promises: `kubectl get pods` shows a sandbox pod
// Running.
func TestDemoSandbox(t *testing.T) {
	cl := k8stest.Env(t)
	kc := filepath.Join(t.TempDir(), "admin.kubeconfig")
	require.NoError(t, os.WriteFile(kc, cl.AdminKubeconfig(), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var log bytes.Buffer
	require.NoError(t, startDemoSandbox(ctx, kc, &log))
	require.Contains(t, log.String(), "running")
	pod, err := cl.Clientset().CoreV1().Pods("default").Get(ctx, demoSandbox+"-0", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "Running", string(pod.Status.Phase))
	require.NoError(t, startDemoSandbox(ctx, kc, &log), "a second up changes nothing")
}
