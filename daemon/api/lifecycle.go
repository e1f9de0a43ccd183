package api

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// Lifecycle policies on the wire: idle limit, expiry, auto-delete, keep-alive.

func toLifecycle(p *fsa.Project) *fsav1.ProjectLifecycle {
	l := &p.Lifecycle
	out := &fsav1.ProjectLifecycle{
		ActiveAt: ts(l.ActiveAt), ExpireAt: ts(l.ExpireAt), ExpireAction: toAction(l.ExpireAction),
	}
	if l.IdleTimeout > 0 {
		out.IdleTimeout = durationpb.New(l.IdleTimeout)
	}
	if l.DeleteStoppedAfter > 0 {
		out.DeleteStoppedAfter = durationpb.New(l.DeleteStoppedAfter)
	}
	if d, ok := p.NextDue(); ok {
		out.NextAction, out.NextActionAt, out.NextActionReason = toAction(d.Action), ts(d.At), d.Reason
	}
	return out
}

func toAction(a fsa.LifecycleAction) fsav1.LifecycleAction {
	switch a {
	case fsa.LifecycleStop:
		return fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP
	case fsa.LifecycleDelete:
		return fsav1.LifecycleAction_LIFECYCLE_ACTION_DELETE
	}
	return fsav1.LifecycleAction_LIFECYCLE_ACTION_UNSPECIFIED
}

// fromDuration checks a wire duration is well formed (the SDK checks its range).
func fromDuration(what string, d *durationpb.Duration) (*time.Duration, error) {
	if d == nil {
		return nil, nil
	}
	if err := d.CheckValid(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", fsa.ErrInvalidArgument, what, err)
	}
	v := d.AsDuration()
	return &v, nil
}

// fromPolicy converts a wire policy; nil is no change.
func fromPolicy(m *fsav1.LifecyclePolicy) (fsa.LifecyclePolicy, error) {
	var out fsa.LifecyclePolicy
	if m == nil {
		return out, nil
	}
	var err error
	if out.IdleTimeout, err = fromDuration("idle_timeout", m.IdleTimeout); err != nil {
		return out, err
	}
	if out.DeleteStoppedAfter, err = fromDuration("delete_stopped_after", m.DeleteStoppedAfter); err != nil {
		return out, err
	}
	switch {
	case m.ClearExpiry && m.ExpireAt != nil:
		return out, fmt.Errorf("%w: clear_expiry and expire_at together", fsa.ErrInvalidArgument)
	case m.ClearExpiry:
		out.ExpireAt = &time.Time{}
	case m.ExpireAt != nil:
		if err := m.ExpireAt.CheckValid(); err != nil {
			return out, fmt.Errorf("%w: expire_at: %v", fsa.ErrInvalidArgument, err)
		}
		t := m.ExpireAt.AsTime()
		out.ExpireAt = &t
	}
	switch m.ExpireAction {
	case fsav1.LifecycleAction_LIFECYCLE_ACTION_UNSPECIFIED:
	case fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP:
		out.ExpireAction = fsa.LifecycleStop
	case fsav1.LifecycleAction_LIFECYCLE_ACTION_DELETE:
		out.ExpireAction = fsa.LifecycleDelete
	default:
		return out, fmt.Errorf("%w: unknown expire_action %d", fsa.ErrInvalidArgument, m.ExpireAction)
	}
	return out, nil
}

func (s *projectService) SetProjectLifecycle(ctx context.Context, req *connect.Request[fsav1.SetProjectLifecycleRequest]) (*connect.Response[fsav1.SetProjectLifecycleResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := fromPolicy(req.Msg.Policy)
	if err != nil {
		return nil, err
	}
	p, err := s.c.SetProjectLifecycle(ctx, c.user.ID, req.Msg.Id, pol)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetProjectLifecycleResponse{Project: toProject(p)}), nil
}

func (s *projectService) ExtendProject(ctx context.Context, req *connect.Request[fsav1.ExtendProjectRequest]) (*connect.Response[fsav1.ExtendProjectResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	by, err := fromDuration("by", req.Msg.By)
	if err != nil {
		return nil, err
	}
	if by == nil {
		return nil, fmt.Errorf("%w: by is required", fsa.ErrInvalidArgument)
	}
	p, err := s.c.ExtendProject(ctx, c.user.ID, req.Msg.Id, *by)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.ExtendProjectResponse{Project: toProject(p)}), nil
}

func (s *projectService) KeepAlive(ctx context.Context, req *connect.Request[fsav1.KeepAliveRequest]) (*connect.Response[fsav1.KeepAliveResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.c.KeepAlive(ctx, c.user.ID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.KeepAliveResponse{}), nil
}
