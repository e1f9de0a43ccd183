package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "fsa.db"), boltstore.WithRetention(o.Retention))
		require.NoError(t, err)
		return s
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
