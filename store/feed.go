package store

import (
	"context"
	"fmt"
	"sync"
)

// DefaultRetention is how many recent events a Feed keeps for resuming watchers.
const DefaultRetention = 10000

// Feed is the change feed shared by every store implementation: a bounded window of the most
// recent events, in revision order, and the cursors reading it. Publish must be called with
// consecutive revisions, in commit order, after the commit is durable.
type Feed struct {
	mu        sync.Mutex
	events    []Event // events[i].Revision == first+i
	first     int64   // revision of events[0]; head+1 when empty
	head      int64   // last published revision
	retention int
	closed    bool
	wake      chan struct{} // closed and replaced on every publish and on close
}

// NewFeed returns a feed whose last published revision is head, keeping up to retention events
// (DefaultRetention if retention <= 0). history, if any, are the retained events ending at head.
func NewFeed(head int64, retention int, history []Event) (*Feed, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	f := &Feed{head: head, first: head + 1, retention: retention, wake: make(chan struct{})}
	if len(history) > 0 {
		first := history[0].Revision
		for i, ev := range history {
			if ev.Revision != first+int64(i) {
				return nil, fmt.Errorf("feed history: revision %d at position %d, want %d", ev.Revision, i, first+int64(i))
			}
		}
		if last := history[len(history)-1].Revision; last != head {
			return nil, fmt.Errorf("feed history ends at revision %d, want %d", last, head)
		}
		if len(history) > retention {
			history = history[len(history)-retention:]
		}
		f.events = append([]Event(nil), history...)
		f.first = f.events[0].Revision
	}
	return f, nil
}

// Head returns the last published revision.
func (f *Feed) Head() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

// Publish appends events, whose revisions must be Head()+1, Head()+2, ..., and wakes every
// cursor once.
func (f *Feed) Publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range events {
		if ev.Revision != f.head+1 {
			// A gap or a reordering would break every watcher's guarantee: this is a bug in the store.
			panic(fmt.Sprintf("store feed: publish revision %d after %d", ev.Revision, f.head))
		}
		f.events = append(f.events, ev)
		f.head = ev.Revision
	}
	if len(f.events) > f.retention {
		// Reslice: the dropped prefix is collected when append next grows the array, so the
		// cost is amortised O(1) per event, not a copy of the window per commit.
		f.events = f.events[len(f.events)-f.retention:]
	}
	f.first = f.events[0].Revision
	close(f.wake)
	f.wake = make(chan struct{})
}

// Reset discards the retained events and sets the head, as after a store is replaced wholesale
// (a Raft snapshot restore). Cursors positioned before the new head get ErrCompacted.
func (f *Feed) Reset(head int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = nil
	f.head = head
	f.first = head + 1
	close(f.wake)
	f.wake = make(chan struct{})
}

// Close ends every cursor with ErrClosed.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	close(f.wake)
}

// Watch returns a cursor over events with revision > after; the cursor ends when ctx ends.
//
// A revision ahead of the last published one is waited for, not refused: a caller may hold a
// revision this feed has not published yet (a View saw a commit whose event is about to be
// published; a Raft follower has not applied what the leader acknowledged), and the cursor
// simply delivers the events after it once they are published. Only a revision further ahead
// than the retention window is refused, with ErrAhead; see [Store.Watch] for why.
func (f *Feed) Watch(ctx context.Context, after int64) (*Cursor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if after < 0 {
		return nil, fmt.Errorf("watch after revision %d: negative revision", after)
	}
	if after < f.first-1 {
		return nil, fmt.Errorf("watch after revision %d (oldest retained %d): %w", after, f.first, ErrCompacted)
	}
	if after-f.head > int64(f.retention) {
		return nil, fmt.Errorf("watch after revision %d: store is at revision %d, more than %d revisions behind: %w",
			after, f.head, f.retention, ErrAhead)
	}
	return &Cursor{feed: f, ctx: ctx, next: after + 1}, nil
}

// Cursor reads a Feed in order. It is not safe for concurrent use.
type Cursor struct {
	feed *Feed
	ctx  context.Context
	next int64
}

// Next blocks until the next event is published and returns it. A cursor opened ahead of the
// feed waits until the feed passes its revision. It returns the context's error
// when the Watch context ends, ErrClosed when the store closes, and ErrCompacted when the cursor
// fell behind the retained window (the caller must re-list).
func (c *Cursor) Next() (Event, error) {
	f := c.feed
	for {
		f.mu.Lock()
		if first := f.first; c.next < first {
			f.mu.Unlock()
			return Event{}, fmt.Errorf("watch at revision %d (oldest retained %d): %w", c.next, first, ErrCompacted)
		}
		if c.next <= f.head {
			ev := f.events[c.next-f.first]
			f.mu.Unlock()
			c.next++
			return ev, nil
		}
		if f.closed {
			f.mu.Unlock()
			return Event{}, ErrClosed
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-c.ctx.Done():
			return Event{}, c.ctx.Err()
		}
	}
}

// Revision returns the revision of the last event Next returned (the one to resume after).
func (c *Cursor) Revision() int64 { return c.next - 1 }
