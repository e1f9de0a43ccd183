package fsaclient

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"syscall"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// maxLeaderHops bounds how many leader hints in a row one attempt follows without pausing.
const maxLeaderHops = 3

func randFloat() float64 { return rand.Float64() }

// interceptor adds the token, fills idempotency keys, follows the leader and retries.
type interceptor struct{ c *Client }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		// Reads, and writes that set a value (IDEMPOTENT: the same request twice has the effect
		// of one), may be sent again.
		repeatable := req.Spec().IdempotencyLevel != connect.IdempotencyUnknown
		if msg, ok := req.Any().(proto.Message); ok {
			if undo := fillIdempotencyKey(msg); undo != nil {
				// The caller's message gets a key for this call only: reusing the message
				// for another call must not replay this one.
				defer undo()
				repeatable = true
			} else if hasIdempotencyKey(msg) {
				repeatable = true
			}
		}
		var lastErr error
		hops := 0
		for attempt := 1; ; {
			token, err := i.c.tokenFor(ctx)
			if err != nil {
				return nil, err
			}
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			} else {
				req.Header().Del("Authorization")
			}
			target := i.c.target()
			resp, err := next(withTarget(ctx, target), req)
			if err == nil {
				return resp, nil
			}
			if ctx.Err() != nil {
				if lastErr != nil {
					// The deadline passed while retrying: say what the retries were about, as
					// when it passes during a pause between them.
					return nil, lastErr
				}
				return nil, err
			}
			lastErr = err
			hint, notLeader := leaderHint(err)
			if notLeader && hint != "" && hops < maxLeaderHops && i.c.follow(hint, target) {
				hops++ // a follower applied nothing: resend to the leader at once
				continue
			}
			if !retryable(err, repeatable, notLeader) || attempt >= i.c.retry.MaxAttempts {
				return nil, lastErr
			}
			if !notLeader {
				i.c.failover(target)
			}
			if !sleep(ctx, i.c.retry.backoff(attempt)) {
				return nil, lastErr
			}
			attempt++
			hops = 0
		}
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		if ctx.Value(targetKey{}) == nil {
			ctx = withTarget(ctx, i.c.target())
		}
		conn := next(ctx, spec)
		if token, err := i.c.tokenFor(ctx); err == nil && token != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+token)
		}
		return conn
	}
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// idempotencyField returns the message's idempotency_key field, if it has one.
func idempotencyField(msg proto.Message) (protoreflect.Message, protoreflect.FieldDescriptor) {
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("idempotency_key")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil, nil
	}
	return m, fd
}

func hasIdempotencyKey(msg proto.Message) bool {
	m, fd := idempotencyField(msg)
	return fd != nil && m.Get(fd).String() != ""
}

// fillIdempotencyKey sets an empty idempotency_key to a new random key and returns a function
// that empties it again; nil when the message has no such field or the caller set a key.
func fillIdempotencyKey(msg proto.Message) func() {
	m, fd := idempotencyField(msg)
	if fd == nil || m.Get(fd).String() != "" {
		return nil
	}
	m.Set(fd, protoreflect.ValueOfString(NewIdempotencyKey()))
	return func() { m.Clear(fd) }
}

// leaderHint reports whether err is a follower's "not the leader" answer and the leader's API
// address it names ("" during an election).
func leaderHint(err error) (string, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
		return "", false
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if nl, ok := v.(*fsav1.NotLeaderError); ok {
			addr := nl.GetLeaderAddress()
			if addr == "" {
				addr = ce.Meta().Get(LeaderHeader)
			}
			return addr, true
		}
	}
	if addr := ce.Meta().Get(LeaderHeader); addr != "" {
		return addr, true
	}
	return "", false
}

// retryable says whether a failed attempt may be sent again: always when the request was
// certainly not applied (refused by a follower, connection refused), otherwise only for
// repeatable calls failing in a transient way.
func retryable(err error, repeatable, notLeader bool) bool {
	if notLeader || notSent(err) {
		return true
	}
	if !repeatable {
		return false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeAborted:
		return true
	}
	return transportError(err)
}

// notSent reports errors raised before the request reached a server.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// transportError reports a broken connection (the request may or may not have been applied).
func transportError(err error) bool {
	var ue *url.Error
	var op *net.OpError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ue) || errors.As(err, &op)
}
