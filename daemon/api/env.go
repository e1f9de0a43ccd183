package api

import (
	"context"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// envService serves fsa.v1.EnvironmentService.
type envService struct{ *server }

func (s *envService) ListEnv(ctx context.Context, req *connect.Request[fsav1.ListEnvRequest]) (*connect.Response[fsav1.ListEnvResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	reveal := req.Msg.RevealSecrets
	vars, err := s.c.ListEnv(ctx, c.user.ID, req.Msg.ProjectId, reveal)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.ListEnvResponse{Vars: toEnvVars(vars, reveal)}), nil
}

func (s *envService) SetEnv(ctx context.Context, req *connect.Request[fsav1.SetEnvRequest]) (*connect.Response[fsav1.SetEnvResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	v, err := s.c.SetEnv(fsa.WithIdempotencyKey(ctx, m.IdempotencyKey), c.user.ID, m.ProjectId, fsa.EnvSpec{Key: m.Key, Value: m.Value, Category: m.Category, Secret: m.Secret})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetEnvResponse{EnvVar: toEnvVar(v, false)}), nil
}

func (s *envService) UpdateEnv(ctx context.Context, req *connect.Request[fsav1.UpdateEnvRequest]) (*connect.Response[fsav1.UpdateEnvResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	v, err := s.c.UpdateEnv(fsa.WithIdempotencyKey(ctx, m.IdempotencyKey), c.user.ID, m.ProjectId,
		fsa.EnvUpdate{Key: m.Key, Value: m.Value, Category: m.Category, Secret: m.Secret})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.UpdateEnvResponse{EnvVar: toEnvVar(v, false)}), nil
}

func (s *envService) DeleteEnv(ctx context.Context, req *connect.Request[fsav1.DeleteEnvRequest]) (*connect.Response[fsav1.DeleteEnvResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.c.DeleteEnv(ctx, c.user.ID, req.Msg.ProjectId, req.Msg.Key); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.DeleteEnvResponse{}), nil
}

func (s *envService) SetEnvBatch(ctx context.Context, req *connect.Request[fsav1.SetEnvBatchRequest]) (*connect.Response[fsav1.SetEnvBatchResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	specs := make([]fsa.EnvSpec, 0, len(m.Vars))
	for _, v := range m.Vars {
		specs = append(specs, fsa.EnvSpec{Key: v.GetKey(), Value: v.GetValue(), Secret: v.GetSecret()})
	}
	if _, err := s.c.SetEnvBatch(fsa.WithIdempotencyKey(ctx, m.IdempotencyKey), c.user.ID, m.ProjectId, m.Category, specs, m.Replace); err != nil {
		return nil, err
	}
	vars, err := s.c.ListEnv(ctx, c.user.ID, m.ProjectId, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetEnvBatchResponse{Vars: toEnvVars(vars, false)}), nil
}
