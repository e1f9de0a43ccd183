package fsaclient

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// ErrResyncRequired matches (errors.Is) the *ResyncError Watch returns when the server can no
// longer replay from the client's revision.
var ErrResyncRequired = errors.New("fsaclient: resync required")

// ResyncError ends a Watch whose revision the server no longer holds (history compacted, or the
// client read too slowly). List again (ListProjects) and watch from the listing's revision.
type ResyncError struct {
	// Revision is the server's current revision when it gave up.
	Revision uint64
}

func (e *ResyncError) Error() string {
	return fmt.Sprintf("fsaclient: watch must resync (server at revision %d): list again", e.Revision)
}

// Is makes errors.Is(err, ErrResyncRequired) true.
func (e *ResyncError) Is(target error) bool { return target == ErrResyncRequired }

// WatchHandler receives the messages of Client.Watch, one at a time. Returning an error ends
// the watch with that error.
type WatchHandler func(*fsav1.WatchProjectsResponse) error

// Watch follows WatchProjects from fromRevision (0: from now) and calls handle with every PUT
// and DELETE event, in revision order, and with each PROGRESS message that advances the
// revision (so the caller learns its resume point; PROGRESS never repeats a revision).
//
// When the stream breaks (node down, connection reset, server restart, the stream ended
// without resync) Watch reconnects, with backoff and moving to the next endpoint, and resumes
// from the last revision it saw completely. Events of one store change share a revision; those
// already delivered before the break are not delivered again, so the handler sees every change
// exactly once. Only when fromRevision is 0 and the stream breaks before its first message can
// changes in between be missed.
//
// Watch returns handle's error; a *ResyncError (errors.Is ErrResyncRequired); the error of a
// request that retrying cannot fix (Unauthenticated, InvalidArgument, ...); the last error
// after RetryPolicy.MaxAttempts consecutive failed connections; or ctx.Err().
func (c *Client) Watch(ctx context.Context, fromRevision uint64, handle WatchHandler) error {
	w := watcher{done: fromRevision, seen: map[string]bool{}, handle: handle}
	failures := 0
	for {
		target := c.target()
		stream, err := c.projects.WatchProjects(withTarget(ctx, target),
			connect.NewRequest(&fsav1.WatchProjectsRequest{FromRevision: w.done}))
		received := false
		if err == nil {
			for stream.Receive() {
				received = true
				if herr := w.message(stream.Msg()); herr != nil {
					_ = stream.Close()
					return herr
				}
			}
			err = stream.Err()
			_ = stream.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if received {
			failures = 0
		}
		if err != nil && !watchRetryable(err) {
			return err
		}
		failures++
		if failures >= c.retry.MaxAttempts {
			if err == nil {
				err = errors.New("fsaclient: watch stream keeps ending")
			}
			return fmt.Errorf("fsaclient: watch gave up after %d attempts: %w", failures, err)
		}
		hint, notLeader := leaderHint(err)
		switch {
		case notLeader && hint != "" && c.follow(hint, target):
		case err != nil && !notLeader:
			c.failover(target)
		}
		if !sleep(ctx, c.retry.backoff(failures)) {
			return ctx.Err()
		}
	}
}

// watchRetryable reports errors after which a reconnection may succeed.
func watchRetryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeAlreadyExists,
		connect.CodePermissionDenied, connect.CodeUnauthenticated, connect.CodeFailedPrecondition,
		connect.CodeUnimplemented, connect.CodeOutOfRange:
		return false
	}
	return true
}

// watcher tracks what a Watch has delivered.
type watcher struct {
	// done: every change up to this revision was delivered; the resume point.
	done uint64
	// cur is the revision of the events being received (> done when non-zero); seen holds the
	// resources already delivered at cur, since a break may fall inside one change's events.
	cur    uint64
	seen   map[string]bool
	handle WatchHandler
}

func (w *watcher) message(m *fsav1.WatchProjectsResponse) error {
	if m.GetResyncRequired() {
		return &ResyncError{Revision: m.GetRevision()}
	}
	r := m.GetRevision()
	switch m.GetType() {
	case fsav1.EventType_EVENT_TYPE_PROGRESS:
		if r <= w.done {
			return nil
		}
		w.complete(r)
		return w.handle(m)
	case fsav1.EventType_EVENT_TYPE_PUT, fsav1.EventType_EVENT_TYPE_DELETE:
		if r <= w.done || r < w.cur {
			return nil // replayed after a reconnection: delivered already
		}
		if r > w.cur {
			if w.cur != 0 {
				w.complete(w.cur) // a later change arrived: the previous one is complete
			}
			w.cur = r
		}
		k := resourceKey(m)
		if w.seen[k] {
			return nil
		}
		w.seen[k] = true
		return w.handle(m)
	}
	return nil // an event type this client does not know
}

// complete records that every change up to r was delivered.
func (w *watcher) complete(r uint64) {
	if r > w.done {
		w.done = r
	}
	if w.cur <= w.done {
		w.cur = 0
		clear(w.seen)
	}
}

func resourceKey(m *fsav1.WatchProjectsResponse) string {
	switch {
	case m.GetProject() != nil:
		return "project/" + m.GetProject().GetId()
	case m.GetSandbox() != nil:
		return "sandbox/" + m.GetSandbox().GetId()
	case m.GetDatabase() != nil:
		return "database/" + m.GetDatabase().GetId()
	}
	return m.GetKind().String()
}
