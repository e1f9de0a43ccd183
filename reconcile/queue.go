package reconcile

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// kind says which child of a project an item is about.
type kind uint8

const (
	kindSandbox kind = iota + 1
	kindDatabase
)

func (k kind) String() string {
	if k == kindSandbox {
		return "sandbox"
	}
	return "database"
}

// item is a unit of work: one child of one project. Each project has one sandbox and one
// database, so the project id and the kind name the resource.
type item struct {
	kind    kind
	project string
}

// fairQueue is a work queue with client-go's semantics (an item is queued at most once, is never
// processed by two workers at once, and is queued again if it was added while being processed)
// and per-tenant fairness: workers take items round-robin across users, so one user with a
// thousand pending projects delays another user's one by at most one item per worker.
// client-go's queues are FIFO, so fairness is ours; the backoff arithmetic is client-go's
// rate limiter.
type fairQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	pending    map[string][]item // user → FIFO of queued items
	ring       []string          // users with pending items, in round-robin order
	next       int
	owner      map[item]string // queued or processing item → its user
	queued     map[item]bool
	processing map[item]bool
	dirty      map[item]bool // added while processing: queue again on Done
	timers     map[item]*time.Timer
	limiter    workqueue.TypedRateLimiter[item]
	shutdown   bool
}

func newFairQueue(limiter workqueue.TypedRateLimiter[item]) *fairQueue {
	q := &fairQueue{
		pending: map[string][]item{}, owner: map[item]string{}, queued: map[item]bool{},
		processing: map[item]bool{}, dirty: map[item]bool{}, timers: map[item]*time.Timer{}, limiter: limiter,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues it for user now.
func (q *fairQueue) Add(user string, it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(user, it)
}

func (q *fairQueue) addLocked(user string, it item) {
	if q.shutdown {
		return
	}
	q.owner[it] = user
	if q.processing[it] {
		q.dirty[it] = true
		return
	}
	if q.queued[it] {
		return
	}
	q.queued[it] = true
	if len(q.pending[user]) == 0 {
		q.ring = append(q.ring, user)
	}
	q.pending[user] = append(q.pending[user], it)
	q.cond.Signal()
}

// AddAfter queues it after d. An earlier pending timer for the same item wins.
func (q *fairQueue) AddAfter(user string, it item, d time.Duration) {
	if d <= 0 {
		q.Add(user, it)
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
		q.addLocked(user, it)
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

// Get blocks until an item is available and returns it, round-robin across users; ok is false
// after ShutDown.
func (q *fairQueue) Get() (user string, it item, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ring) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", item{}, false
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	user = q.ring[q.next]
	fifo := q.pending[user]
	it, fifo = fifo[0], fifo[1:]
	if len(fifo) == 0 {
		delete(q.pending, user)
		q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...)
	} else {
		q.pending[user] = fifo
		q.next++
	}
	delete(q.queued, it)
	q.processing[it] = true
	return user, it, true
}

// Done marks it processed, queueing it again if it was added meanwhile.
func (q *fairQueue) Done(it item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, it)
	if q.dirty[it] {
		delete(q.dirty, it)
		q.addLocked(q.owner[it], it)
		return
	}
	if !q.queued[it] {
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
