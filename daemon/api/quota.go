package api

import (
	"context"
	"fmt"
	"sort"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// quotaService serves fsa.v1.QuotaService: the caller's own quota and the size classes for
// every user; a user's limits for admins.
type quotaService struct{ *server }

func (s *quotaService) GetQuota(ctx context.Context, _ *connect.Request[fsav1.GetQuotaRequest]) (*connect.Response[fsav1.GetQuotaResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	q, err := s.c.Quota(ctx, c.user.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GetQuotaResponse{Quota: toQuota(q)}), nil
}

func (s *quotaService) ListSizeClasses(ctx context.Context, _ *connect.Request[fsav1.ListSizeClassesRequest]) (*connect.Response[fsav1.ListSizeClassesResponse], error) {
	if _, err := callerFrom(ctx); err != nil {
		return nil, err
	}
	classes, def := s.c.SizeClasses()
	lo, hi := s.c.SizeBounds()
	out := &fsav1.ListSizeClassesResponse{DefaultClass: def, Min: toSize(lo), Max: toSize(hi)}
	for name, size := range classes {
		out.Classes = append(out.Classes, &fsav1.SizeClass{Name: name, Size: toSize(size)})
	}
	sort.Slice(out.Classes, func(i, j int) bool { return out.Classes[i].Name < out.Classes[j].Name })
	return connect.NewResponse(out), nil
}

func (s *quotaService) GetUserLimits(ctx context.Context, req *connect.Request[fsav1.GetUserLimitsRequest]) (*connect.Response[fsav1.GetUserLimitsResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	q, err := s.c.Quota(ctx, req.Msg.UserId)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GetUserLimitsResponse{Quota: toQuota(q)}), nil
}

func (s *quotaService) SetUserLimits(ctx context.Context, req *connect.Request[fsav1.SetUserLimitsRequest]) (*connect.Response[fsav1.SetUserLimitsResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	var l *fsa.Limits
	switch {
	case m.UseDefaults:
	case m.Limits == nil:
		return nil, fmt.Errorf("%w: give limits or use_defaults", fsa.ErrInvalidArgument)
	default:
		v := fromLimits(m.Limits)
		l = &v
	}
	q, err := s.c.SetUserLimits(ctx, m.UserId, l)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetUserLimitsResponse{Quota: toQuota(q)}), nil
}
