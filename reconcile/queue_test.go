package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/util/workqueue"

	"github.com/fullstackagent/fsa/fsa"
)

func newTestQueue() *fairQueue {
	return newFairQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[item](time.Millisecond, 10*time.Millisecond))
}

func TestFairQueueFairness(t *testing.T) {
	q := newTestQueue()
	defer q.ShutDown()
	for i := 0; i < 1000; i++ {
		q.Add("busy", item{fsa.ResourceSandbox, fmt.Sprint("p", i)})
	}
	q.Add("quiet", item{fsa.ResourceSandbox, "q"})
	q.Add("other", item{fsa.ResourceDatabase, "o"})
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
	it := item{fsa.ResourceSandbox, "p"}
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
	it := item{fsa.ResourceDatabase, "p"}
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

func TestFairQueueLanes(t *testing.T) {
	q := newTestQueue()
	defer q.ShutDown()
	for i := 0; i < 100; i++ {
		q.AddIn(laneResync, "u", item{fsa.ResourceSandbox, fmt.Sprint("r", i)})
		q.Add("u", item{fsa.ResourceSandbox, fmt.Sprint("i", i)})
	}
	q.AddIn(laneEvent, "u", item{fsa.ResourceSandbox, "e"})
	// An intent for an item waiting in the resync lane moves it up.
	q.Add("u", item{fsa.ResourceSandbox, "r99"})
	require.Equal(t, 201, q.Len(), "a moved item is queued once")
	pos := map[string]int{}
	for i := 0; i < 201; i++ {
		_, it, ok := q.Get()
		require.True(t, ok)
		pos[it.project] = i
		// A worker learns the lane its item came from (a sync that waits for caches is
		// queued again there).
		want := laneIntent
		switch {
		case it.project == "e":
			want = laneEvent
		case it.project[0] == 'r' && it.project != "r99":
			want = laneResync
		}
		require.Equal(t, want, q.Lane(it), it.project)
		q.Done(it)
	}
	assert.Equal(t, 0, q.Len())
	assert.Less(t, pos["e"], 3, "an event waits for at most two intents")
	assert.Less(t, pos["i99"], pos["r99"], "moved up, behind the intents queued before it")
	assert.Less(t, pos["r99"], pos["r98"], "moved up, ahead of the resync")
	assert.Less(t, pos["r0"], 8, "the resync lane is not starved")
	assert.Less(t, pos["i99"], pos["r98"], "intents go before a resync")
}

// TestRetryLimiterBoundsRetriesOverall: past the burst, many failing items wait their turn at
// RetryRate a second, though each has failed only once.
func TestRetryLimiterBoundsRetriesOverall(t *testing.T) {
	l := backoff(100*time.Millisecond, 30*time.Second, 50)
	var last time.Duration
	for i := 0; i < 1000; i++ {
		last = l.When(item{kind: fsa.ResourceSandbox, project: fmt.Sprint("p", i)})
	}
	// 1000 retries, 500 of them in the burst, the rest at 50/s: the last waits ≈ 10 s.
	assert.InDelta(t, (10 * time.Second).Seconds(), last.Seconds(), 1.0)
	// One item alone still gets its own exponential backoff first.
	l = backoff(100*time.Millisecond, 30*time.Second, 50)
	it := item{kind: fsa.ResourceSandbox, project: "p"}
	assert.Equal(t, 100*time.Millisecond, l.When(it))
	assert.Equal(t, 200*time.Millisecond, l.When(it))
	assert.Equal(t, 2, l.NumRequeues(it))
}
