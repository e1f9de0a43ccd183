package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
)

// caller makes one call as a user, through the SDK or through the RPC. Its methods take the
// SDK's inputs; the RPC one sends them as the wire requests that carry them.
type caller interface {
	createProject(ctx context.Context, u *user, name, desc, key string) error
	getProject(ctx context.Context, u *user, id string) error
	startProject(ctx context.Context, u *user, id string) error
	stopProject(ctx context.Context, u *user, id, key string) error
	setEnv(ctx context.Context, u *user, projectID string, spec fsa.EnvSpec, key string) error
	updateEnv(ctx context.Context, u *user, projectID string, up fsa.EnvUpdate, key string) error
	deleteEnv(ctx context.Context, u *user, projectID, envKey string) error
	setEnvBatch(ctx context.Context, u *user, projectID, category string, vars []fsa.EnvSpec, replace bool, key string) error
	// setAnthropic sets one of the Anthropic settings (fsa.ConfigAnthropic*).
	setAnthropic(ctx context.Context, u *user, configKey, value string) error
	// setGitHubToken sets the GitHub token (fsa.ConfigGitHubToken).
	setGitHubToken(ctx context.Context, u *user, token string) error
	unlinkIdentity(ctx context.Context, u *user, p fsa.Provider, providerUserID string) error
	setPublicApp(ctx context.Context, u *user, projectID string, public bool) error
	createSized(ctx context.Context, u *user, name string, size fsa.SizeSpec) error
	resizeProject(ctx context.Context, u *user, id string, size fsa.SizeSpec) error
	// Lifecycle policies: at creation, changed, an extension, a keep-alive.
	createWithLifecycle(ctx context.Context, u *user, name string, pol fsa.LifecyclePolicy) error
	setLifecycle(ctx context.Context, u *user, id string, pol fsa.LifecyclePolicy) error
	extendProject(ctx context.Context, u *user, id string, by time.Duration) error
	keepAlive(ctx context.Context, u *user, id string) error
	// setLifecycleDefaults sets the user's default idle limit and auto-delete (nil: unchanged).
	setLifecycleDefaults(ctx context.Context, u *user, idle, deleteStopped *string) error
}

func (s sdkCaller) setLifecycleDefaults(ctx context.Context, u *user, idle, deleteStopped *string) error {
	_, err := s.c.SetUserLifecycleDefaults(ctx, u.ID, idle, deleteStopped)
	return err
}

func (rpcCaller) setLifecycleDefaults(ctx context.Context, u *user, idle, deleteStopped *string) error {
	_, err := u.Config.SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: idle, DeleteStoppedAfter: deleteStopped}))
	return err
}

func (s sdkCaller) createSized(ctx context.Context, u *user, name string, size fsa.SizeSpec) error {
	_, err := s.c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: name, Size: size})
	return err
}

func (rpcCaller) createSized(ctx context.Context, u *user, name string, size fsa.SizeSpec) error {
	_, err := u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, Size: sizeRequest(size)}))
	return err
}

func (s sdkCaller) resizeProject(ctx context.Context, u *user, id string, size fsa.SizeSpec) error {
	_, err := s.c.ResizeProject(ctx, u.ID, id, size)
	return err
}

func (rpcCaller) resizeProject(ctx context.Context, u *user, id string, size fsa.SizeSpec) error {
	_, err := u.Project.ResizeProject(ctx, connect.NewRequest(&fsav1.ResizeProjectRequest{Id: id, Size: sizeRequest(size)}))
	return err
}

func sizeRequest(s fsa.SizeSpec) *fsav1.SizeRequest {
	return &fsav1.SizeRequest{Class: s.Class, Cpu: s.CPU, Memory: s.Memory, Home: s.Home, Database: s.Database}
}

func (s sdkCaller) setPublicApp(ctx context.Context, u *user, projectID string, public bool) error {
	_, err := s.c.SetPublicApp(ctx, u.ID, projectID, public)
	return err
}

func (rpcCaller) setPublicApp(ctx context.Context, u *user, projectID string, public bool) error {
	_, err := u.Project.SetPublicApp(ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: projectID, PublicApp: public}))
	return err
}

func (s sdkCaller) createWithLifecycle(ctx context.Context, u *user, name string, pol fsa.LifecyclePolicy) error {
	_, err := s.c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: name, Lifecycle: pol})
	return err
}

func (s sdkCaller) setLifecycle(ctx context.Context, u *user, id string, pol fsa.LifecyclePolicy) error {
	_, err := s.c.SetProjectLifecycle(ctx, u.ID, id, pol)
	return err
}

func (s sdkCaller) extendProject(ctx context.Context, u *user, id string, by time.Duration) error {
	_, err := s.c.ExtendProject(ctx, u.ID, id, by)
	return err
}

func (s sdkCaller) keepAlive(ctx context.Context, u *user, id string) error {
	return s.c.KeepAlive(ctx, u.ID, id)
}

// wirePolicy is pol as the wire carries it.
func wirePolicy(pol fsa.LifecyclePolicy) *fsav1.LifecyclePolicy {
	out := &fsav1.LifecyclePolicy{}
	if pol.IdleTimeout != nil {
		out.IdleTimeout = durationpb.New(*pol.IdleTimeout)
	}
	if pol.DeleteStoppedAfter != nil {
		out.DeleteStoppedAfter = durationpb.New(*pol.DeleteStoppedAfter)
	}
	if pol.ExpireAt != nil {
		if pol.ExpireAt.IsZero() {
			out.ClearExpiry = true
		} else {
			out.ExpireAt = timestamppb.New(*pol.ExpireAt)
		}
	}
	out.ExpireAction = fsav1.LifecycleAction(fsav1.LifecycleAction_value["LIFECYCLE_ACTION_"+string(pol.ExpireAction)])
	if pol.ExpireAction != "" && out.ExpireAction == 0 {
		out.ExpireAction = 99 // an action the wire does not know
	}
	return out
}

func (rpcCaller) createWithLifecycle(ctx context.Context, u *user, name string, pol fsa.LifecyclePolicy) error {
	_, err := u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, Lifecycle: wirePolicy(pol)}))
	return err
}

func (rpcCaller) setLifecycle(ctx context.Context, u *user, id string, pol fsa.LifecyclePolicy) error {
	_, err := u.Project.SetProjectLifecycle(ctx, connect.NewRequest(&fsav1.SetProjectLifecycleRequest{Id: id, Policy: wirePolicy(pol)}))
	return err
}

func (rpcCaller) extendProject(ctx context.Context, u *user, id string, by time.Duration) error {
	_, err := u.Project.ExtendProject(ctx, connect.NewRequest(&fsav1.ExtendProjectRequest{Id: id, By: durationpb.New(by)}))
	return err
}

func (rpcCaller) keepAlive(ctx context.Context, u *user, id string) error {
	_, err := u.Project.KeepAlive(ctx, connect.NewRequest(&fsav1.KeepAliveRequest{Id: id}))
	return err
}

func (s sdkCaller) unlinkIdentity(ctx context.Context, u *user, p fsa.Provider, providerUserID string) error {
	return s.c.UnlinkIdentity(ctx, u.ID, p, providerUserID)
}

func (rpcCaller) unlinkIdentity(ctx context.Context, u *user, p fsa.Provider, providerUserID string) error {
	wire := fsav1.Provider(fsav1.Provider_value["PROVIDER_"+string(p)]) // unknown: UNSPECIFIED
	_, err := u.Auth.UnlinkIdentity(ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: wire, ProviderUserId: providerUserID}))
	return err
}

type sdkCaller struct{ c *fsa.Client }

func (s sdkCaller) createProject(ctx context.Context, u *user, name, desc, key string) error {
	_, err := s.c.CreateProject(fsa.WithIdempotencyKey(ctx, key), u.ID, fsa.ProjectSpec{Name: name, Description: desc})
	return err
}

func (s sdkCaller) getProject(ctx context.Context, u *user, id string) error {
	_, err := s.c.GetProject(ctx, u.ID, id)
	return err
}

func (s sdkCaller) startProject(ctx context.Context, u *user, id string) error {
	_, err := s.c.StartProject(ctx, u.ID, id)
	return err
}

func (s sdkCaller) stopProject(ctx context.Context, u *user, id, key string) error {
	_, err := s.c.StopProject(fsa.WithIdempotencyKey(ctx, key), u.ID, id)
	return err
}

func (s sdkCaller) setEnv(ctx context.Context, u *user, projectID string, spec fsa.EnvSpec, key string) error {
	_, err := s.c.SetEnv(fsa.WithIdempotencyKey(ctx, key), u.ID, projectID, spec)
	return err
}

func (s sdkCaller) updateEnv(ctx context.Context, u *user, projectID string, up fsa.EnvUpdate, key string) error {
	_, err := s.c.UpdateEnv(fsa.WithIdempotencyKey(ctx, key), u.ID, projectID, up)
	return err
}

func (s sdkCaller) deleteEnv(ctx context.Context, u *user, projectID, envKey string) error {
	return s.c.DeleteEnv(ctx, u.ID, projectID, envKey)
}

func (s sdkCaller) setEnvBatch(ctx context.Context, u *user, projectID, category string, vars []fsa.EnvSpec, replace bool, key string) error {
	_, err := s.c.SetEnvBatch(fsa.WithIdempotencyKey(ctx, key), u.ID, projectID, category, vars, replace)
	return err
}

func (s sdkCaller) setAnthropic(ctx context.Context, u *user, configKey, value string) error {
	_, err := s.c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: configKey, Value: value, Category: fsa.CategoryAnthropic})
	return err
}

func (s sdkCaller) setGitHubToken(ctx context.Context, u *user, token string) error {
	_, err := s.c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: token, Category: fsa.CategoryGitHub})
	return err
}

type rpcCaller struct{}

func (rpcCaller) setGitHubToken(ctx context.Context, u *user, token string) error {
	_, err := u.Config.SetGitHubToken(ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: token}))
	return err
}

func (rpcCaller) createProject(ctx context.Context, u *user, name, desc, key string) error {
	_, err := u.Project.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, Description: desc, IdempotencyKey: key}))
	return err
}

func (rpcCaller) getProject(ctx context.Context, u *user, id string) error {
	_, err := u.Project.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
	return err
}

func (rpcCaller) startProject(ctx context.Context, u *user, id string) error {
	_, err := u.Project.StartProject(ctx, connect.NewRequest(&fsav1.StartProjectRequest{Id: id}))
	return err
}

func (rpcCaller) stopProject(ctx context.Context, u *user, id, key string) error {
	_, err := u.Project.StopProject(ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: id, IdempotencyKey: key}))
	return err
}

func (rpcCaller) setEnv(ctx context.Context, u *user, projectID string, spec fsa.EnvSpec, key string) error {
	_, err := u.Env.SetEnv(ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: projectID, Key: spec.Key, Value: spec.Value,
		Category: spec.Category, Secret: spec.Secret, IdempotencyKey: key}))
	return err
}

func (rpcCaller) updateEnv(ctx context.Context, u *user, projectID string, up fsa.EnvUpdate, key string) error {
	_, err := u.Env.UpdateEnv(ctx, connect.NewRequest(&fsav1.UpdateEnvRequest{ProjectId: projectID, Key: up.Key, Value: up.Value,
		Category: up.Category, Secret: up.Secret, IdempotencyKey: key}))
	return err
}

func (rpcCaller) deleteEnv(ctx context.Context, u *user, projectID, envKey string) error {
	_, err := u.Env.DeleteEnv(ctx, connect.NewRequest(&fsav1.DeleteEnvRequest{ProjectId: projectID, Key: envKey}))
	return err
}

func (rpcCaller) setEnvBatch(ctx context.Context, u *user, projectID, category string, vars []fsa.EnvSpec, replace bool, key string) error {
	req := &fsav1.SetEnvBatchRequest{ProjectId: projectID, Category: category, Replace: replace, IdempotencyKey: key}
	for _, v := range vars {
		req.Vars = append(req.Vars, &fsav1.EnvVarSpec{Key: v.Key, Value: v.Value, Secret: v.Secret})
	}
	_, err := u.Env.SetEnvBatch(ctx, connect.NewRequest(req))
	return err
}

func (rpcCaller) setAnthropic(ctx context.Context, u *user, configKey, value string) error {
	req := &fsav1.SetAnthropicSettingsRequest{}
	switch configKey {
	case fsa.ConfigAnthropicAPIKey:
		req.ApiKey = &value
	case fsa.ConfigAnthropicBaseURL:
		req.BaseUrl = &value
	case fsa.ConfigAnthropicModel:
		req.Model = &value
	case fsa.ConfigAnthropicSmallModel:
		req.SmallFastModel = &value
	default:
		panic("no wire field for " + configKey)
	}
	_, err := u.Config.SetAnthropicSettings(ctx, connect.NewRequest(req))
	return err
}

// tenant is what one path of a bad-input check acts as: a user with a kubeconfig and a
// project (created with the idempotency key fixtureKey), and a user without a kubeconfig.
// Each path has its own, so that an input has the same effect on both.
type tenant struct {
	user, nokube *user
	project      string
}

const fixtureKey = "fixture-key"

func newTenant(e *env, prefix string) *tenant {
	e.t.Helper()
	tn := &tenant{user: e.signUp(prefix + "-user"), nokube: e.signUp(prefix + "-nokube")}
	_, err := tn.user.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-" + prefix)}))
	require.NoError(e.t, err)
	resp, err := tn.user.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "target", IdempotencyKey: fixtureKey}))
	require.NoError(e.t, err)
	tn.project = resp.Msg.Project.Id
	return tn
}

// bothWays sends inputs through the SDK and through the RPC, each path as its own tenant.
type bothWays struct {
	e        *env
	sdk, rpc *tenant
}

func newBothWays(e *env) *bothWays {
	return &bothWays{e: e, sdk: newTenant(e, "sdk"), rpc: newTenant(e, "rpc")}
}

// check makes call through the SDK and then through the RPC and requires the same outcome:
// both succeed, or the SDK's error maps (api.CodeOf, the handler's one mapping) to the RPC's
// code; an error is never one the mapping does not know (Internal) nor Unavailable, and a
// refused call stores nothing either way. It returns the SDK's error.
func (b *bothWays) check(t *testing.T, call func(context.Context, caller, *tenant) error) error {
	t.Helper()
	before := revisionOf(t, b.e)
	sdkErr := call(b.e.ctx, sdkCaller{b.e.c}, b.sdk)
	code, known := api.CodeOf(sdkErr)
	if sdkErr != nil {
		require.True(t, known, "an SDK error the mapping does not know (Internal): %v", sdkErr)
		require.NotEqual(t, connect.CodeUnavailable, code, "%v", sdkErr)
		assert.Equal(t, before, revisionOf(t, b.e), "the SDK stored something for a refused input: %v", sdkErr)
	}
	before = revisionOf(t, b.e)
	rpcErr := call(b.e.ctx, rpcCaller{}, b.rpc)
	if sdkErr == nil {
		require.NoError(t, rpcErr, "the SDK accepted it")
		return nil
	}
	require.Error(t, rpcErr, "the SDK refused it: %v", sdkErr)
	require.Equal(t, code, connect.CodeOf(rpcErr), "SDK: %v; RPC: %v", sdkErr, rpcErr)
	assert.Equal(t, before, revisionOf(t, b.e), "the RPC stored something for a refused input: %v", rpcErr)
	return sdkErr
}

// TestBadInput is the one table of bad inputs: each goes through the SDK and through the RPC,
// and both must refuse it the same way (the SDK's sentinel, and the Connect code the
// handler's mapping gives it) without storing anything. Rows with no error are the
// boundaries that must pass both ways. Inputs the wire cannot carry (a user id, invalid
// UTF-8, arbitrary settings) are in fsa's own TestBadInput.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	b := newBothWays(e)
	type call = func(ctx context.Context, c caller, tn *tenant) error
	create := func(name, desc, key string) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.createProject(ctx, tn.user, name, desc, key)
		}
	}
	setEnv := func(spec fsa.EnvSpec, key string) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.setEnv(ctx, tn.user, tn.project, spec, key)
		}
	}
	updateEnv := func(up fsa.EnvUpdate) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.updateEnv(ctx, tn.user, tn.project, up, "")
		}
	}
	deleteEnv := func(key string) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.deleteEnv(ctx, tn.user, tn.project, key)
		}
	}
	batch := func(category string, vars ...fsa.EnvSpec) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.setEnvBatch(ctx, tn.user, tn.project, category, append([]fsa.EnvSpec(nil), vars...), false, "")
		}
	}
	getProject := func(id string) call {
		return func(ctx context.Context, c caller, tn *tenant) error { return c.getProject(ctx, tn.user, id) }
	}
	anthropic := func(key, value string) call {
		return func(ctx context.Context, c caller, tn *tenant) error { return c.setAnthropic(ctx, tn.user, key, value) }
	}
	github := func(token string) call {
		return func(ctx context.Context, c caller, tn *tenant) error { return c.setGitHubToken(ctx, tn.user, token) }
	}
	setLC := func(pol fsa.LifecyclePolicy) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.setLifecycle(ctx, tn.user, tn.project, pol)
		}
	}
	lcDefaults := func(idle, deleteStopped *string) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.setLifecycleDefaults(ctx, tn.user, idle, deleteStopped)
		}
	}
	extend := func(by time.Duration) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.extendProject(ctx, tn.user, tn.project, by)
		}
	}
	unlink := func(p fsa.Provider, id string) call {
		return func(ctx context.Context, c caller, tn *tenant) error { return c.unlinkIdentity(ctx, tn.user, p, id) }
	}
	publicApp := func(id string, public bool) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			target := id
			if target == "" {
				target = tn.project
			}
			return c.setPublicApp(ctx, tn.user, target, public)
		}
	}
	sized := func(size fsa.SizeSpec) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.createSized(ctx, tn.user, fmt.Sprintf("sized-%p", &size), size)
		}
	}
	resize := func(size fsa.SizeSpec) call {
		return func(ctx context.Context, c caller, tn *tenant) error {
			return c.resizeProject(ctx, tn.user, tn.project, size)
		}
	}
	many := make([]fsa.EnvSpec, fsa.MaxEnvVars+1)
	for i := range many {
		many[i] = fsa.EnvSpec{Key: "V" + strings.Repeat("X", i), Value: "1"}
	}
	for _, tc := range []struct {
		name string
		want error // nil: accepted both ways
		call call
	}{
		// Project names: one line of 1 to 63 characters with a letter or digit.
		{"empty project name", fsa.ErrInvalidArgument, create("", "", "")},
		{"blank project name", fsa.ErrInvalidArgument, create("   ", "", "")},
		{"project name without a letter or digit", fsa.ErrInvalidArgument, create("---", "", "")},
		{"63-character project name", nil, create(strings.Repeat("a", 63), "", "")},
		{"63 non-ASCII characters", nil, create(strings.Repeat("ü", 63), "", "")},
		{"64-character project name", fsa.ErrInvalidArgument, create(strings.Repeat("b", 64), "", "")},
		{"65-character project name", fsa.ErrInvalidArgument, create(strings.Repeat("c", 65), "", "")},
		{"control character in project name", fsa.ErrInvalidArgument, create("a\x1bb", "", "")},
		{"two-line project name", fsa.ErrInvalidArgument, create("a\nb", "", "")},
		{"long description", fsa.ErrInvalidArgument, create("ok", strings.Repeat("d", fsa.MaxDescriptionLen+1), "")},
		{"project name taken", fsa.ErrAlreadyExists, create("target", "", "")},
		{"no kubeconfig", fsa.ErrFailedPrecondition, func(ctx context.Context, c caller, tn *tenant) error {
			return c.createProject(ctx, tn.nokube, "ok", "", "")
		}},

		// Idempotency keys: at most 128 bytes of text, for one call only.
		{"long idempotency key", fsa.ErrInvalidArgument, create("keyed", "", strings.Repeat("k", fsa.MaxIdempotencyKeyLen+1))},
		{"control character in idempotency key", fsa.ErrInvalidArgument, create("keyed", "", "k\x7f")},
		{"long idempotency key on stop", fsa.ErrInvalidArgument, func(ctx context.Context, c caller, tn *tenant) error {
			return c.stopProject(ctx, tn.user, tn.project, strings.Repeat("k", fsa.MaxIdempotencyKeyLen+1))
		}},
		{"long idempotency key on env", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "K", Value: "v"}, strings.Repeat("k", fsa.MaxIdempotencyKeyLen+1))},
		{"idempotency key of another call", fsa.ErrInvalidArgument, func(ctx context.Context, c caller, tn *tenant) error {
			return c.stopProject(ctx, tn.user, tn.project, fixtureKey)
		}},

		// Ids and states.
		{"empty project id", fsa.ErrInvalidArgument, getProject("")},
		{"project id with a slash", fsa.ErrInvalidArgument, getProject("a/b")},
		{"long project id", fsa.ErrInvalidArgument, getProject(strings.Repeat("i", 129))},
		{"unknown project", fsa.ErrNotFound, getProject("nosuchproject")},
		{"stop an unknown project", fsa.ErrNotFound, func(ctx context.Context, c caller, tn *tenant) error {
			return c.stopProject(ctx, tn.user, "nosuchproject", "")
		}},
		{"start a CREATING project", fsa.ErrFailedPrecondition, func(ctx context.Context, c caller, tn *tenant) error {
			return c.startProject(ctx, tn.user, tn.project)
		}},
		{"env of an unknown project", fsa.ErrNotFound, func(ctx context.Context, c caller, tn *tenant) error {
			return c.setEnv(ctx, tn.user, "nosuchproject", fsa.EnvSpec{Key: "K", Value: "v"}, "")
		}},

		// Environment keys and values.
		{"env key starting with a digit", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "1ABC", Value: "x"}, "")},
		{"env key with a dash", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "MY-KEY", Value: "x"}, "")},
		{"non-ASCII env key", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "CLÉ", Value: "x"}, "")},
		{"empty env key", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "", Value: "x"}, "")},
		{"longest env key", nil, setEnv(fsa.EnvSpec{Key: strings.Repeat("K", fsa.MaxEnvKeyLen), Value: "x"}, "")},
		{"env key a byte too long", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: strings.Repeat("K", fsa.MaxEnvKeyLen+1), Value: "x"}, "")},
		{"reserved env key DATABASE_URL", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: fsa.EnvDatabaseURL, Value: "x"}, "")},
		{"reserved env key TTYD_ACCESS_TOKEN", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: fsa.EnvTTYDAccessToken, Value: "x"}, "")},
		{"reserved env key ANTHROPIC_API_KEY", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "ANTHROPIC_API_KEY", Value: "x"}, "")},
		{"reserved env key FSA_", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "FSA_X", Value: "x"}, "")},
		{"reserved env key PROJECT_NAME", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: fsa.EnvProjectName, Value: "x"}, "")},
		{"reserved env key GITHUB_TOKEN", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: fsa.EnvGitHubToken, Value: "x"}, "")},
		{"terminal start claude", nil, setEnv(fsa.EnvSpec{Key: fsa.EnvTerminalStart, Value: fsa.TerminalStartClaude}, "")},
		{"terminal start unknown", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: fsa.EnvTerminalStart, Value: "zsh"}, "")},
		{"64 KiB env value", nil, setEnv(fsa.EnvSpec{Key: "BIG", Value: strings.Repeat("v", fsa.MaxEnvValueLen)}, "")},
		{"oversize env value", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "BIG", Value: strings.Repeat("v", fsa.MaxEnvValueLen+1)}, "")},
		{"NUL in env value", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "N", Value: "a\x00b"}, "")},
		{"bad category", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "K", Value: "v", Category: "Bad Cat"}, "")},
		{"long category", fsa.ErrInvalidArgument, setEnv(fsa.EnvSpec{Key: "K", Value: "v", Category: strings.Repeat("c", fsa.MaxCategoryLen+1)}, "")},
		{"update a missing variable", fsa.ErrNotFound, updateEnv(fsa.EnvUpdate{Key: "MISSING", Value: ptr("x")})},
		{"update a reserved variable", fsa.ErrInvalidArgument, updateEnv(fsa.EnvUpdate{Key: fsa.EnvTTYDAccessToken, Value: ptr("x")})},
		{"update with a bad key", fsa.ErrInvalidArgument, updateEnv(fsa.EnvUpdate{Key: "bad key", Secret: ptr(true)})},
		{"update with a bad category", fsa.ErrInvalidArgument, updateEnv(fsa.EnvUpdate{Key: "BIG", Category: ptr("Bad Cat")})},
		{"delete a reserved variable", fsa.ErrInvalidArgument, deleteEnv(fsa.EnvTTYDAccessToken)},
		{"delete a missing variable", fsa.ErrNotFound, deleteEnv("MISSING")},

		// Batches.
		{"empty batch", fsa.ErrInvalidArgument, batch("")},
		{"duplicate keys in a batch", fsa.ErrInvalidArgument, batch("", fsa.EnvSpec{Key: "D", Value: "1"}, fsa.EnvSpec{Key: "D", Value: "2"})},
		{"one bad key spoils a batch", fsa.ErrInvalidArgument, batch("", fsa.EnvSpec{Key: "GOOD", Value: "1"}, fsa.EnvSpec{Key: "bad key", Value: "2"})},
		{"oversize batch", fsa.ErrInvalidArgument, batch("", many...)},
		{"batch with a bad category", fsa.ErrInvalidArgument, batch("Bad Cat", fsa.EnvSpec{Key: "GOOD", Value: "1"})},

		// Sign-in methods: the user has only the password they signed up with.
		{"unlink an unknown provider", fsa.ErrInvalidArgument, unlink("FACEBOOK", "x")},
		{"unlink with an empty provider user id", fsa.ErrInvalidArgument, unlink(fsa.ProviderGitHub, "")},
		{"unlink a method the user lacks", fsa.ErrNotFound, unlink(fsa.ProviderGitHub, "1")},
		{"unlink the only method", fsa.ErrFailedPrecondition, func(ctx context.Context, c caller, tn *tenant) error {
			return c.unlinkIdentity(ctx, tn.user, fsa.ProviderPassword, tn.user.Name)
		}},

		// Sizes: a known class, quantities within the bounds; a resize of a stopped project.
		{"default size", nil, sized(fsa.SizeSpec{})},
		{"explicit size", nil, sized(fsa.SizeSpec{Class: fsa.DefaultSizeClass, CPU: "1500m", Home: "20Gi"})},
		{"unknown size class", fsa.ErrInvalidArgument, sized(fsa.SizeSpec{Class: "huge"})},
		{"size not a quantity", fsa.ErrInvalidArgument, sized(fsa.SizeSpec{Memory: "lots"})},
		{"negative size", fsa.ErrInvalidArgument, sized(fsa.SizeSpec{CPU: "-1"})},
		{"absurd size", fsa.ErrInvalidArgument, sized(fsa.SizeSpec{Home: "1Ei"})},
		{"size below the bound", fsa.ErrInvalidArgument, sized(fsa.SizeSpec{Database: "1Mi"})},
		{"resize with nothing", fsa.ErrInvalidArgument, resize(fsa.SizeSpec{})},
		{"resize a project that is not stopped", fsa.ErrFailedPrecondition, resize(fsa.SizeSpec{CPU: "1"})},
		{"resize an unknown project", fsa.ErrNotFound, func(ctx context.Context, c caller, tn *tenant) error {
			return c.resizeProject(ctx, tn.user, "nosuchproject", fsa.SizeSpec{CPU: "1"})
		}},
		{"resize to an unknown class", fsa.ErrInvalidArgument, resize(fsa.SizeSpec{Class: "huge"})},
		// Lifecycle policies: durations 0 (never) up to their maximum, an expiry in the future.
		{"idle limit", nil, setLC(fsa.LifecyclePolicy{IdleTimeout: ptr(30 * time.Minute)})},
		{"negative idle limit", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{IdleTimeout: ptr(-time.Minute)})},
		{"absurd idle limit", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{IdleTimeout: ptr(fsa.MaxIdleTimeout + time.Hour)})},
		{"negative auto-delete", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{DeleteStoppedAfter: ptr(-time.Hour)})},
		{"absurd auto-delete", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{DeleteStoppedAfter: ptr(fsa.MaxDeleteStoppedAfter + time.Hour)})},
		{"expiry in the past", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{ExpireAt: ptr(time.Now().Add(-time.Hour))})},
		{"expiry too far", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{ExpireAt: ptr(time.Now().Add(fsa.MaxExpiry + 24*time.Hour))})},
		{"expire action without a time", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{ExpireAction: fsa.LifecycleDelete})},
		{"unknown expire action", fsa.ErrInvalidArgument, setLC(fsa.LifecyclePolicy{ExpireAt: ptr(time.Now().Add(time.Hour)), ExpireAction: "EXPLODE"})},
		{"expiry in a day, delete", nil, setLC(fsa.LifecyclePolicy{ExpireAt: ptr(time.Now().Add(24 * time.Hour)), ExpireAction: fsa.LifecycleDelete})},
		{"create with a negative idle limit", fsa.ErrInvalidArgument, func(ctx context.Context, c caller, tn *tenant) error {
			return c.createWithLifecycle(ctx, tn.user, "lc", fsa.LifecyclePolicy{IdleTimeout: ptr(-time.Second)})
		}},
		{"create with an expiry in the past", fsa.ErrInvalidArgument, func(ctx context.Context, c caller, tn *tenant) error {
			return c.createWithLifecycle(ctx, tn.user, "lc", fsa.LifecyclePolicy{ExpireAt: ptr(time.Now().Add(-time.Minute))})
		}},
		{"lifecycle of an unknown project", fsa.ErrNotFound, func(ctx context.Context, c caller, tn *tenant) error {
			return c.setLifecycle(ctx, tn.user, "nosuchproject", fsa.LifecyclePolicy{IdleTimeout: ptr(time.Hour)})
		}},
		{"extend by a negative duration", fsa.ErrInvalidArgument, extend(-time.Hour)},
		{"extend by nothing", fsa.ErrInvalidArgument, extend(0)},
		{"extend absurdly", fsa.ErrInvalidArgument, extend(fsa.MaxExpiry + 24*time.Hour)},
		{"keep-alive of an unknown project", fsa.ErrNotFound, func(ctx context.Context, c caller, tn *tenant) error {
			return c.keepAlive(ctx, tn.user, "nosuchproject")
		}},
		{"keep-alive with a bad id", fsa.ErrInvalidArgument, func(ctx context.Context, c caller, tn *tenant) error {
			return c.keepAlive(ctx, tn.user, "a/b")
		}},

		// A user's default lifecycle policies: Go durations, 0 (never) up to their maximum.
		{"default idle limit", nil, lcDefaults(ptr("30m"), nil)},
		{"default idle limit never", nil, lcDefaults(ptr("0"), ptr("0"))},
		{"longest default idle limit", nil, lcDefaults(ptr(fsa.MaxIdleTimeout.String()), nil)},
		{"default idle limit removed", nil, lcDefaults(ptr(""), ptr(""))},
		{"default auto-delete", nil, lcDefaults(nil, ptr("72h"))},
		{"negative default idle limit", fsa.ErrInvalidArgument, lcDefaults(ptr("-5m"), nil)},
		{"default idle limit not a duration", fsa.ErrInvalidArgument, lcDefaults(ptr("soon"), nil)},
		{"default idle limit without a unit", fsa.ErrInvalidArgument, lcDefaults(ptr("30"), nil)},
		{"default idle limit above the maximum", fsa.ErrInvalidArgument, lcDefaults(ptr((fsa.MaxIdleTimeout + time.Minute).String()), nil)},
		{"negative default auto-delete", fsa.ErrInvalidArgument, lcDefaults(nil, ptr("-1h"))},
		{"default auto-delete not a duration", fsa.ErrInvalidArgument, lcDefaults(nil, ptr("1 week"))},
		{"default auto-delete above the maximum", fsa.ErrInvalidArgument, lcDefaults(nil, ptr((fsa.MaxDeleteStoppedAfter + time.Hour).String()))},
		{"a bad default spoils the good one", fsa.ErrInvalidArgument, lcDefaults(ptr("1h"), ptr("-1h"))},

		// Settings.
		{"base URL not http", fsa.ErrInvalidArgument, anthropic(fsa.ConfigAnthropicBaseURL, "ftp://example.com")},
		{"base URL without a host", fsa.ErrInvalidArgument, anthropic(fsa.ConfigAnthropicBaseURL, "https://")},
		{"oversize setting", fsa.ErrInvalidArgument, anthropic(fsa.ConfigAnthropicModel, strings.Repeat("m", fsa.MaxConfigValueLen+1))},
		{"public app", nil, publicApp("", true)},
		{"private app again", nil, publicApp("", false)},
		{"public app of an unknown project", fsa.ErrNotFound, publicApp("nosuchproject", true)},
		{"public app of a project id with a slash", fsa.ErrInvalidArgument, publicApp("a/b", true)},
		{"public app of a long project id", fsa.ErrInvalidArgument, publicApp(strings.Repeat("i", 129), false)},
		{"GitHub token", nil, github("ghp_0123456789abcdef")},
		{"GitHub token with a space", fsa.ErrInvalidArgument, github("ghp_0123 456")},
		{"GitHub token with a newline", fsa.ErrInvalidArgument, github("ghp_0123\n456")},
		{"oversize GitHub token", fsa.ErrInvalidArgument, github(strings.Repeat("g", fsa.MaxConfigValueLen+1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.check(t, tc.call)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}
