package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, path, "My Blog!"))
	require.Contains(t, out.String(), `k8s name "myblog", status CREATING`)
	require.Contains(t, out.String(), "env TTYD_ACCESS_TOKEN=(secret) [ttyd]")
	require.Contains(t, out.String(), "has 1 project(s)")

	out.Reset()
	require.NoError(t, run(context.Background(), &out, path, "second"), "a second run reuses the store")
	require.Contains(t, out.String(), "existing")
	require.Contains(t, out.String(), "has 2 project(s)")
}
