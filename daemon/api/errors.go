package api

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// LeaderHeader is the response header naming the leader's API base URL on Unavailable errors
// from a follower. The same address travels as a fsa.v1.NotLeaderError error detail.
const LeaderHeader = "Fsa-Leader"

// Errors of the API layer itself; the SDK's sentinels (fsa.ErrNotFound, ...) cover the rest.
var (
	// errUnauthenticated: no, a malformed, forged, expired or revoked session token, or wrong
	// credentials at login.
	errUnauthenticated = errors.New("unauthenticated")
	// errRateLimited: the caller sent more requests than its rate limit allows.
	errRateLimited = errors.New("rate limit exceeded")
	// errUnavailable: a dependency (GitHub) cannot be reached.
	errUnavailable = errors.New("unavailable")
)

// errorMapper turns every error a handler returns into a Connect error. It is the one place
// where codes are chosen.
type errorMapper struct {
	log    *slog.Logger
	leader func() (id, apiAddress string)
}

// toConnect maps err to a Connect error with a message that is safe to show. Unexpected errors
// become Internal with a generic message; their text is logged instead (it never carries
// secrets: handlers do not wrap request values into errors).
// ErrServerStopping is the cause a server gives the contexts of the calls it cancels when it
// shuts down (context.WithCancelCause): such calls end with Unavailable, which clients retry on
// another node, not with Canceled.
var ErrServerStopping = errors.New("server shutting down: reconnect, to another node if need be")

func (m *errorMapper) toConnect(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), ErrServerStopping) {
		// Not the client's cancellation: the server is going away, so try another node.
		return connect.NewError(connect.CodeUnavailable, ErrServerStopping)
	}
	code, ok := codeOf(err)
	if !ok {
		m.log.ErrorContext(ctx, "internal error", "err", err)
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	out := connect.NewError(code, err)
	if errors.Is(err, raftstore.ErrNotLeader) {
		id, addr := "", ""
		var nl *raftstore.NotLeaderError
		if errors.As(err, &nl) {
			id = nl.LeaderID
		}
		if m.leader != nil {
			// The raft error names the leader's raft address; clients need its API address.
			if lid, laddr := m.leader(); lid != "" || laddr != "" {
				id, addr = lid, laddr
			}
		}
		if addr != "" {
			out.Meta().Set(LeaderHeader, addr)
		}
		if d, derr := connect.NewErrorDetail(&fsav1.NotLeaderError{LeaderId: id, LeaderAddress: addr}); derr == nil {
			out.AddDetail(d)
		}
	}
	return out
}

// codeOf returns the code for a known error.
func codeOf(err error) (connect.Code, bool) {
	switch {
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled, true
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded, true
	case errors.Is(err, errUnauthenticated):
		return connect.CodeUnauthenticated, true
	case errors.Is(err, errRateLimited), errors.Is(err, fsa.ErrResourceExhausted), errors.Is(err, fsa.ErrTooLarge):
		return connect.CodeResourceExhausted, true
	case errors.Is(err, errUnavailable), errors.Is(err, raftstore.ErrNotLeader), errors.Is(err, raftstore.ErrNoLeader),
		errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrAhead), errors.Is(err, fsa.ErrFenced), errors.Is(err, store.ErrFenced):
		return connect.CodeUnavailable, true
	case errors.Is(err, fsa.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return connect.CodeNotFound, true
	case errors.Is(err, fsa.ErrAlreadyExists):
		return connect.CodeAlreadyExists, true
	case errors.Is(err, fsa.ErrInvalidArgument), errors.Is(err, store.ErrInvalidTxn):
		return connect.CodeInvalidArgument, true
	case errors.Is(err, fsa.ErrFailedPrecondition), errors.Is(err, store.ErrCompacted):
		return connect.CodeFailedPrecondition, true
	case errors.Is(err, fsa.ErrConflict), errors.Is(err, store.ErrConflict):
		return connect.CodeAborted, true
	case errors.Is(err, fsa.ErrPermissionDenied):
		return connect.CodePermissionDenied, true
	case errors.Is(err, k8s.ErrNoKubeconfig), errors.Is(err, k8s.ErrInvalidKubeconfig), errors.Is(err, k8s.ErrForbidden),
		errors.Is(err, k8s.ErrUnauthorized), errors.Is(err, k8s.ErrConflict):
		// The owner's Kubernetes credentials do not allow it (PurgeRetainedData).
		return connect.CodeFailedPrecondition, true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		// A Kubernetes API server that cannot be reached (PurgeRetainedData).
		return connect.CodeUnavailable, true
	}
	return 0, false
}
