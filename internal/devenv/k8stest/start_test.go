package k8stest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// A component that dies during start makes Start fail fast with the tail of its log, and leaves
// nothing running.
func TestStartReportsACrashingComponent(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		script := "#!/bin/sh\necho \"" + name + ": cannot start\" >&2\nexit 3\n"
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	work := filepath.Join(t.TempDir(), "work")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	cp, err := k8stest.Start(ctx, k8stest.Options{BinDir: bin, KwokDir: bin, Dir: work})
	require.Error(t, err)
	assert.Nil(t, cp)
	assert.Less(t, time.Since(start), 10*time.Second, "Start must notice the exit, not time out")
	assert.Contains(t, err.Error(), "etcd exited")
	assert.Contains(t, err.Error(), "etcd: cannot start")
	assert.DirExists(t, filepath.Join(work, "logs"), "logs of a failed start are kept")
}
