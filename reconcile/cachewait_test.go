package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestFirstSyncsWaitForCaches: a runner that starts with a user's projects already in the store
// (a new leader, or a burst of creates) lets their syncs wait for the user's caches to sync,
// instead of reading each child's objects from the API server meanwhile: from start to every
// project RUNNING it reads none of the sandboxes' and databases' objects by name, only lists
// and watches. (A database's credentials Secret may still be read once, when the database is
// recorded RUNNING before its Secret reached the cache: that read is by design.)
func TestFirstSyncsWaitForCaches(t *testing.T) {
	f := newFixture(t, "cachewait")
	var ids []string
	for i := range 6 {
		p := f.create(fmt.Sprintf("burst%d", i))
		ids = append(ids, p.ID)
	}
	var req counting
	f.runnerWith(f.acquire(1), func(c *reconcile.Config) {
		c.Clients = k8s.NewClients(k8s.WithTransportWrapper(req.wrap))
	})
	for _, id := range ids {
		f.waitProject(id, "RUNNING", both(fsa.StatusRunning))
	}
	gets := map[string]float64{}
	for k, v := range req.snapshot() {
		if strings.HasPrefix(k, "GET ") && k != "GET secrets" {
			gets[k] = v
		}
	}
	require.NotZero(t, req.n.Load(), "the runner's requests are counted")
	assert.Empty(t, gets, "objects read one by one while the caches synced (all requests: %v)", req.snapshot())
}
