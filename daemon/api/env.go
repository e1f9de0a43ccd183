package api

import (
	"context"
	"fmt"

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
	if ctx, err = withKey(ctx, m.IdempotencyKey); err != nil {
		return nil, err
	}
	v, err := s.c.SetEnv(ctx, c.user.ID, m.ProjectId, fsa.EnvSpec{Key: m.Key, Value: m.Value, Category: m.Category, Secret: m.Secret})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetEnvResponse{EnvVar: toEnvVar(v, false)}), nil
}

// UpdateEnv merges the fields present in the request into the variable's current state and
// replaces it; the SDK's UpdateEnv checks the variable still exists, under compare-and-swap.
func (s *envService) UpdateEnv(ctx context.Context, req *connect.Request[fsav1.UpdateEnvRequest]) (*connect.Response[fsav1.UpdateEnvResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if !fsa.ValidEnvKey(m.Key) || fsa.PlatformOwned(m.Key) {
		// Checked before reading so that a platform key is InvalidArgument, as for SetEnv.
		return nil, fmt.Errorf("%w: environment key %q is not a valid name or is owned by the platform", fsa.ErrInvalidArgument, clip(m.Key, 40))
	}
	vars, err := s.c.ListEnv(ctx, c.user.ID, m.ProjectId, true)
	if err != nil {
		return nil, err
	}
	var cur *fsa.EnvVar
	for _, v := range vars {
		if v.Key == m.Key {
			cur = v
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("%w: environment variable %s", fsa.ErrNotFound, m.Key)
	}
	spec := fsa.EnvSpec{Key: cur.Key, Value: cur.Value, Category: cur.Category, Secret: cur.Secret}
	if m.Value != nil {
		spec.Value = *m.Value
	}
	if m.Category != nil {
		spec.Category = *m.Category
	}
	if m.Secret != nil {
		spec.Secret = *m.Secret
	}
	if ctx, err = withKey(ctx, m.IdempotencyKey); err != nil {
		return nil, err
	}
	v, err := s.c.UpdateEnv(ctx, c.user.ID, m.ProjectId, spec)
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
	if len(m.Vars) > fsa.MaxEnvVars {
		return nil, fmt.Errorf("%w: %d variables given; at most %d per project", fsa.ErrInvalidArgument, len(m.Vars), fsa.MaxEnvVars)
	}
	specs := make([]fsa.EnvSpec, 0, len(m.Vars))
	for _, v := range m.Vars {
		if v == nil {
			return nil, fmt.Errorf("%w: empty variable in batch", fsa.ErrInvalidArgument)
		}
		specs = append(specs, fsa.EnvSpec{Key: v.Key, Value: v.Value, Secret: v.Secret})
	}
	kctx, err := withKey(ctx, m.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if _, err := s.c.SetEnvBatch(kctx, c.user.ID, m.ProjectId, m.Category, specs, m.Replace); err != nil {
		return nil, err
	}
	vars, err := s.c.ListEnv(ctx, c.user.ID, m.ProjectId, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetEnvBatchResponse{Vars: toEnvVars(vars, false)}), nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
