package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/client-go/tools/clientcmd"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// userConfigService serves fsa.v1.UserConfigService. Every call works on the caller's own
// configuration: no request names a user.
type userConfigService struct{ *server }

type kubeInfo struct{ context, namespace, server string }

// parseKubeconfig checks that text is a kubeconfig fsa can use (k8s.ParseKubeconfig) and
// describes its current context. Errors never quote the text. (Its size is the SDK's rule.)
func parseKubeconfig(text string) (kubeInfo, error) {
	cfg, ns, err := k8s.ParseKubeconfig([]byte(text))
	if err != nil {
		return kubeInfo{}, fmt.Errorf("%w: kubeconfig is not valid: %.200s", fsa.ErrInvalidArgument, err.Error())
	}
	raw, err := clientcmd.Load([]byte(text))
	if err != nil {
		return kubeInfo{}, fmt.Errorf("%w: kubeconfig is not valid", fsa.ErrInvalidArgument)
	}
	return kubeInfo{context: raw.CurrentContext, namespace: ns, server: cfg.Host}, nil
}

func (s *userConfigService) GetKubeconfig(ctx context.Context, req *connect.Request[fsav1.GetKubeconfigRequest]) (*connect.Response[fsav1.GetKubeconfigResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	// Read with the value to describe it; the value itself leaves only when asked for.
	cfg, err := s.c.GetUserConfig(ctx, c.user.ID, fsa.ConfigKubeconfig, true)
	if errors.Is(err, fsa.ErrNotFound) {
		return connect.NewResponse(&fsav1.GetKubeconfigResponse{}), nil
	}
	if err != nil {
		return nil, err
	}
	out := &fsav1.GetKubeconfigResponse{Configured: true, Redacted: true}
	if info, err := parseKubeconfig(cfg.Value); err == nil {
		out.Context, out.Namespace, out.Server = info.context, info.namespace, info.server
	}
	if req.Msg.Reveal {
		out.Kubeconfig, out.Redacted = cfg.Value, false
	}
	return connect.NewResponse(out), nil
}

func (s *userConfigService) SetKubeconfig(ctx context.Context, req *connect.Request[fsav1.SetKubeconfigRequest]) (*connect.Response[fsav1.SetKubeconfigResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	info, err := parseKubeconfig(req.Msg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if _, err := s.c.SetUserConfig(ctx, c.user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: req.Msg.Kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true}); err != nil {
		return nil, err
	}
	list, err := s.c.ListProjects(ctx, c.user.ID)
	if err != nil {
		return nil, err
	}
	elsewhere := int32(0)
	for _, p := range list.Items {
		for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
			if o := p.Child(k); o != nil && o.Common().Placed() && (o.Common().Namespace != info.namespace || o.Common().Server != info.server) {
				elsewhere++
				break
			}
		}
	}
	return connect.NewResponse(&fsav1.SetKubeconfigResponse{Context: info.context, Namespace: info.namespace, Server: info.server,
		ProjectsElsewhere: elsewhere}), nil
}

// anthropicSettings reads the caller's Anthropic settings.
func (s *userConfigService) anthropicSettings(ctx context.Context, userID string, reveal bool) (*fsav1.AnthropicSettings, error) {
	cfgs, err := s.c.ListUserConfig(ctx, userID, reveal)
	if err != nil {
		return nil, err
	}
	out := &fsav1.AnthropicSettings{}
	for _, cfg := range cfgs {
		switch cfg.Key {
		case fsa.ConfigAnthropicAPIKey:
			out.ApiKeySet = true
			if reveal {
				out.ApiKey = cfg.Value
			} else {
				out.Redacted = true
			}
		case fsa.ConfigAnthropicBaseURL:
			out.BaseUrl = cfg.Value
		case fsa.ConfigAnthropicModel:
			out.Model = cfg.Value
		case fsa.ConfigAnthropicSmallModel:
			out.SmallFastModel = cfg.Value
		}
	}
	return out, nil
}

func (s *userConfigService) GetAnthropicSettings(ctx context.Context, req *connect.Request[fsav1.GetAnthropicSettingsRequest]) (*connect.Response[fsav1.GetAnthropicSettingsResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.anthropicSettings(ctx, c.user.ID, req.Msg.RevealSecrets)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GetAnthropicSettingsResponse{Settings: st}), nil
}

// SetAnthropicSettings writes the present fields (an empty one deletes) in one SDK call.
func (s *userConfigService) SetAnthropicSettings(ctx context.Context, req *connect.Request[fsav1.SetAnthropicSettingsRequest]) (*connect.Response[fsav1.SetAnthropicSettingsResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var set []fsa.UserConfig
	var remove []string
	for _, f := range []struct {
		key    string
		val    *string
		secret bool
	}{
		{fsa.ConfigAnthropicAPIKey, m.ApiKey, true},
		{fsa.ConfigAnthropicBaseURL, m.BaseUrl, false},
		{fsa.ConfigAnthropicModel, m.Model, false},
		{fsa.ConfigAnthropicSmallModel, m.SmallFastModel, false},
	} {
		switch {
		case f.val == nil:
		case *f.val == "":
			remove = append(remove, f.key)
		default:
			set = append(set, fsa.UserConfig{Key: f.key, Value: *f.val, Category: fsa.CategoryAnthropic, Secret: f.secret})
		}
	}
	if _, err := s.c.UpdateUserConfig(ctx, c.user.ID, set, remove); err != nil {
		return nil, err
	}
	st, err := s.anthropicSettings(ctx, c.user.ID, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetAnthropicSettingsResponse{Settings: st}), nil
}

// SetGitHubToken stores the caller's GitHub token (an empty one removes it). The SDK validates
// the token and keeps it secret; the token never appears in a response.
func (s *userConfigService) SetGitHubToken(ctx context.Context, req *connect.Request[fsav1.SetGitHubTokenRequest]) (*connect.Response[fsav1.SetGitHubTokenResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if req.Msg.Token == "" {
		if _, err := s.c.UpdateUserConfig(ctx, c.user.ID, nil, []string{fsa.ConfigGitHubToken}); err != nil {
			return nil, err
		}
		return connect.NewResponse(&fsav1.SetGitHubTokenResponse{}), nil
	}
	if _, err := s.c.SetUserConfig(ctx, c.user.ID, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: req.Msg.Token, Category: fsa.CategoryGitHub, Secret: true}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetGitHubTokenResponse{Configured: true}), nil
}

func (s *userConfigService) ListConfig(ctx context.Context, req *connect.Request[fsav1.ListConfigRequest]) (*connect.Response[fsav1.ListConfigResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	reveal := req.Msg.RevealSecrets
	cfgs, err := s.c.ListUserConfig(ctx, c.user.ID, reveal)
	if err != nil {
		return nil, err
	}
	out := &fsav1.ListConfigResponse{}
	for _, cfg := range cfgs {
		if cfg.Category == sessionEpochCategory {
			continue // the server's own bookkeeping
		}
		out.Entries = append(out.Entries, toConfigEntry(cfg, reveal))
	}
	return connect.NewResponse(out), nil
}

// toLifecycleDefaults converts a user's default lifecycle policies.
func toLifecycleDefaults(d *fsa.UserLifecycleDefaults) *fsav1.LifecycleDefaults {
	return &fsav1.LifecycleDefaults{
		IdleTimeout:              durationpb.New(d.IdleTimeout),
		DeleteStoppedAfter:       durationpb.New(d.DeleteStoppedAfter),
		IdleTimeoutSet:           d.UserIdleTimeout != nil,
		DeleteStoppedAfterSet:    d.UserDeleteStoppedAfter != nil,
		ServerIdleTimeout:        durationpb.New(d.Defaults.IdleTimeout),
		ServerDeleteStoppedAfter: durationpb.New(d.Defaults.DeleteStoppedAfter),
	}
}

func (s *userConfigService) GetLifecycleDefaults(ctx context.Context, _ *connect.Request[fsav1.GetLifecycleDefaultsRequest]) (*connect.Response[fsav1.GetLifecycleDefaultsResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.c.UserLifecycleDefaults(ctx, c.user.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GetLifecycleDefaultsResponse{Defaults: toLifecycleDefaults(d)}), nil
}

// SetLifecycleDefaults passes the values as given to the SDK, which parses and checks them.
func (s *userConfigService) SetLifecycleDefaults(ctx context.Context, req *connect.Request[fsav1.SetLifecycleDefaultsRequest]) (*connect.Response[fsav1.SetLifecycleDefaultsResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.c.SetUserLifecycleDefaults(ctx, c.user.ID, req.Msg.IdleTimeout, req.Msg.DeleteStoppedAfter)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetLifecycleDefaultsResponse{Defaults: toLifecycleDefaults(d)}), nil
}
