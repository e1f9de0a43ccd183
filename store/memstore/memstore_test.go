package memstore_test

import (
	"testing"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
	"github.com/fullstackagent/fsa/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		return memstore.New(memstore.WithRetention(o.Retention))
	})
}
