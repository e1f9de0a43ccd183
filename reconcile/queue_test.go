package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/util/workqueue"
)

func newTestQueue() *fairQueue {
	return newFairQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[item](time.Millisecond, 10*time.Millisecond))
}

func TestFairQueueFairness(t *testing.T) {
	q := newTestQueue()
	defer q.ShutDown()
	for i := 0; i < 1000; i++ {
		q.Add("busy", item{kindSandbox, fmt.Sprint("p", i)})
	}
	q.Add("quiet", item{kindSandbox, "q"})
	q.Add("other", item{kindDatabase, "o"})
	var order []string
	for i := 0; i < 3; i++ {
		user, it, ok := q.Get()
		require.True(t, ok)
		order = append(order, user)
		q.Done(it)
	}
	assert.ElementsMatch(t, []string{"busy", "quiet", "other"}, order, "each user is served once per round")
	assert.Equal(t, 999, q.Len())
}

func TestFairQueueDedupAndDirty(t *testing.T) {
	q := newTestQueue()
	defer q.ShutDown()
	it := item{kindSandbox, "p"}
	q.Add("u", it)
	q.Add("u", it)
	require.Equal(t, 1, q.Len(), "an item is queued once")
	_, got, ok := q.Get()
	require.True(t, ok)
	require.Equal(t, it, got)
	q.Add("u", it) // while processing
	require.Equal(t, 0, q.Len(), "not queued while being processed")
	q.Done(it)
	require.Equal(t, 1, q.Len(), "queued again after Done")
}

func TestFairQueueBackoffAndShutdown(t *testing.T) {
	q := newTestQueue()
	it := item{kindDatabase, "p"}
	q.AddRateLimited("u", it)
	q.AddRateLimited("u", it)
	require.Equal(t, 2, q.Failures(it))
	user, got, ok := q.Get() // arrives after the backoff
	require.True(t, ok)
	require.Equal(t, "u", user)
	require.Equal(t, it, got)
	q.Forget(it)
	require.Equal(t, 0, q.Failures(it))
	q.Done(it)

	q.AddAfter("u", it, time.Hour)
	done := make(chan bool)
	go func() { _, _, ok := q.Get(); done <- ok }()
	q.ShutDown()
	select {
	case ok := <-done:
		require.False(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after ShutDown")
	}
}
