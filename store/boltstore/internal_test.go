package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSyncEnabled guards the durability promise: bbolt must fsync every commit and its freelist.
func TestSyncEnabled(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fsa.db"))
	require.NoError(t, err)
	defer s.Close()
	require.False(t, s.db.NoSync, "every commit must be fsync'd")
	require.False(t, s.db.NoGrowSync)
	require.False(t, s.db.NoFreelistSync)
}
