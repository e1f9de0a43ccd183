package repo

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoot(t *testing.T) {
	root, err := Root()
	require.NoError(t, err)
	assert.True(t, isFSAModule(filepath.Join(root, "go.mod")))
	for _, nested := range []string{"bench/go.mod", "internal/devenv/localcluster/kube/go.mod"} {
		assert.False(t, isFSAModule(filepath.Join(root, nested)), nested)
	}

	// From inside a nested module (bench/) the main module's directory is still found.
	t.Chdir(filepath.Join(root, "bench"))
	got, err := Root()
	require.NoError(t, err)
	assert.Equal(t, root, got)

	t.Chdir(t.TempDir())
	_, err = Root()
	require.Error(t, err, "no fsa module above a temporary directory")
}
