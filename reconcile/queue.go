package reconcile

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/fullstackagent/fsa/fsa"
)

// item is a unit of work: one child of one project. A project has at most one child of each
// kind, so the kind and the project id name it.
type item struct {
	kind    fsa.ResourceKind
	project string
}

// lane is a queue's priority class. Work is taken mostly from the intent lane, but never
// starves the others: one pick in three tries the event lane first and one in eight the resync
// lane, so a burst of intents does not hold back observations of what Kubernetes did, and a
// resync of every project does not delay a user's intent behind thousands of items.
type lane uint8

const (
	// laneIntent: changes from the store's feed (intents, env, configuration) and their follow-ups.
	laneIntent lane = iota
	// laneEvent: Kubernetes events, retries and delayed re-checks.
	laneEvent
	// laneResync: full listings (start-up and the periodic resync).
	laneResync
	numLanes
)

// ring is one lane: per-user FIFOs served round-robin.
type ring struct {
	pending map[string][]item // user → FIFO; entries may be stale (the item moved to a higher lane)
	users   []string          // users with entries, in round-robin order
	next    int
}

// fairQueue is a work queue with client-go's semantics (an item is queued at most once, is never
// processed by two workers at once, and is queued again if it was added while being processed),
// per-tenant fairness — workers take items round-robin across users, so one user with a
// thousand pending projects delays another user's one by at most one item per worker — and
// priority lanes (see lane). An item added to a higher lane than the one it waits in moves up.
// client-go's queues are FIFO, so fairness and lanes are ours; the backoff arithmetic is
// client-go's rate limiter.
type fairQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	lanes      [numLanes]ring
	picks      uint64
	owner      map[item]string // queued or processing item → its user
	queued     map[item]lane
	processing map[item]lane // taken by a worker, from this lane
	dirty      map[item]lane // added while processing: queue again on Done, in this lane
	timers     map[item]*time.Timer
	limiter    workqueue.TypedRateLimiter[item]
	shutdown   bool
}

func newFairQueue(limiter workqueue.TypedRateLimiter[item]) *fairQueue {
	q := &fairQueue{
		owner: map[item]string{}, queued: map[item]lane{}, processing: map[item]lane{},
		dirty: map[item]lane{}, timers: map[item]*time.Timer{}, limiter: limiter,
	}
	for i := range q.lanes {
		q.lanes[i].pending = map[string][]item{}
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues it for user now, in the intent lane.
func (q *fairQueue) Add(user string, it item) { q.AddIn(laneIntent, user, it) }

// AddIn queues it for user now, in lane l.
func (q *fairQueue) AddIn(l lane, user string, it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(l, user, it)
}

func (q *fairQueue) addLocked(l lane, user string, it item) {
	if q.shutdown {
		return
	}
	q.owner[it] = user
	if _, ok := q.processing[it]; ok {
		if d, ok := q.dirty[it]; !ok || l < d {
			q.dirty[it] = l
		}
		return
	}
	if cur, ok := q.queued[it]; ok && cur <= l {
		return
	}
	// New, or moving up: the entry left in the lower lane is stale and skipped by Get.
	q.queued[it] = l
	r := &q.lanes[l]
	if len(r.pending[user]) == 0 {
		r.users = append(r.users, user)
	}
	r.pending[user] = append(r.pending[user], it)
	q.cond.Signal()
}

// AddAfter queues it in the event lane after d. An earlier pending timer for the same item wins.
func (q *fairQueue) AddAfter(user string, it item, d time.Duration) {
	if d <= 0 {
		q.AddIn(laneEvent, user, it)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if _, ok := q.timers[it]; ok {
		return
	}
	q.timers[it] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, it)
		q.addLocked(laneEvent, user, it)
	})
}

// AddRateLimited queues it after the limiter's backoff for it.
func (q *fairQueue) AddRateLimited(user string, it item) {
	q.AddAfter(user, it, q.limiter.When(it))
}

// Forget clears it's backoff.
func (q *fairQueue) Forget(it item) { q.limiter.Forget(it) }

// Failures returns how often it was requeued with backoff since its last Forget.
func (q *fairQueue) Failures(it item) int { return q.limiter.NumRequeues(it) }

// laneOrders are the orders lanes are tried in, by pick number (see lane).
var laneOrders = [...][numLanes]lane{
	{laneIntent, laneEvent, laneResync},
	{laneEvent, laneIntent, laneResync},
	{laneResync, laneIntent, laneEvent},
}

// Get blocks until an item is available and returns it (see lane and fairQueue for the
// order); ok is false after ShutDown.
func (q *fairQueue) Get() (user string, it item, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queued) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", item{}, false
	}
	q.picks++
	order := laneOrders[0]
	switch {
	case q.picks%8 == 0:
		order = laneOrders[2]
	case q.picks%3 == 0:
		order = laneOrders[1]
	}
	for _, l := range order {
		if user, it, ok = q.pop(l); ok {
			delete(q.queued, it)
			q.processing[it] = l
			return user, it, true
		}
	}
	panic("reconcile: queue holds items in no lane")
}

// Lane returns the lane it was taken from, while a worker has it.
func (q *fairQueue) Lane(it item) lane {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.processing[it]
}

// pop takes lane l's next item round-robin across users, skipping stale entries.
func (q *fairQueue) pop(l lane) (string, item, bool) {
	r := &q.lanes[l]
	for len(r.users) > 0 {
		if r.next >= len(r.users) {
			r.next = 0
		}
		user := r.users[r.next]
		fifo := r.pending[user]
		for len(fifo) > 0 {
			if cur, ok := q.queued[fifo[0]]; ok && cur == l {
				break
			}
			fifo = fifo[1:]
		}
		if len(fifo) == 0 {
			delete(r.pending, user)
			r.users = append(r.users[:r.next], r.users[r.next+1:]...)
			continue
		}
		it := fifo[0]
		if fifo = fifo[1:]; len(fifo) == 0 {
			delete(r.pending, user)
			r.users = append(r.users[:r.next], r.users[r.next+1:]...)
		} else {
			r.pending[user] = fifo
			r.next++
		}
		return user, it, true
	}
	return "", item{}, false
}

// Done marks it processed, queueing it again if it was added meanwhile.
func (q *fairQueue) Done(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, it)
	if l, ok := q.dirty[it]; ok {
		delete(q.dirty, it)
		q.addLocked(l, q.owner[it], it)
		return
	}
	if _, ok := q.queued[it]; !ok {
		delete(q.owner, it)
	}
}

// Len returns the number of queued items.
func (q *fairQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queued)
}

// ShutDown wakes every Get with ok false and stops every pending timer.
func (q *fairQueue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for it, t := range q.timers {
		t.Stop()
		delete(q.timers, it)
	}
	q.cond.Broadcast()
}
