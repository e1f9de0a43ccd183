package api_test

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
)

func TestOversizedMessage(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Auth.MaxMessageBytes = 4096 })
	alice := e.signUp("alice")
	p := e.project(alice, "big")
	for _, opt := range []connect.ClientOption{connect.WithProtoJSON(), connect.WithGRPC(), connect.WithGRPCWeb()} {
		u := e.clients(alice.Token, opt)
		before := e.revision()
		_, err := u.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "BIG", Value: strings.Repeat("v", 8<<10)}))
		requireCode(t, err, connect.CodeResourceExhausted)
		_, err = u.Auth.SignUp(e.ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "mallory", Password: strings.Repeat("p", 8<<10)}))
		requireCode(t, err, connect.CodeResourceExhausted)
		assert.Equal(t, before, e.revision(), "something was stored")
	}
	// Just under the limit is fine.
	_, err := alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "OK", Value: strings.Repeat("v", 3<<10)}))
	require.NoError(t, err)
}

func TestRateLimitPerUser(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Auth.RateLimit = api.RateLimit{PerSecond: 1, Burst: 3} })
	alice, bob := e.signUp("alice"), e.signUp("bob")
	who := func(u *user) error {
		_, err := u.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
		return err
	}
	for range 3 {
		require.NoError(t, who(alice))
	}
	requireCode(t, who(alice), connect.CodeResourceExhausted)
	require.NoError(t, who(bob), "bob has his own budget")
	e.clock.Advance(2 * time.Second)
	require.NoError(t, who(alice), "the budget refills")

	// Before login the limit applies per client address.
	anon := e.clients("")
	login := func() error {
		_, err := anon.Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: "wrong-password"}))
		return err
	}
	var codes []connect.Code
	for range 4 {
		codes = append(codes, connect.CodeOf(login()))
	}
	assert.Contains(t, codes, connect.CodeResourceExhausted, "%v", codes)
}

func TestHealthReflectionAndMetrics(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	for _, opt := range []connect.ClientOption{connect.WithGRPC(), connect.WithProtoJSON()} {
		hc := grpchealth.NewClient(e.srv.Client(), e.srv.URL, opt)
		for _, svc := range []string{"", "fsa.v1.ProjectService", "fsa.v1.AuthService"} {
			resp, err := hc.Check(e.ctx, &grpchealth.CheckRequest{Service: svc})
			require.NoError(t, err, svc)
			assert.Equal(t, grpchealth.StatusServing, resp.Status, svc)
		}
	}

	rc := grpcreflect.NewClient(e.srv.Client(), e.srv.URL, connect.WithGRPC())
	stream := rc.NewStream(e.ctx)
	names, err := stream.ListServices()
	require.NoError(t, err)
	var got []string
	for _, n := range names {
		got = append(got, string(n))
	}
	assert.Subset(t, got, []string{"fsa.v1.AuthService", "fsa.v1.ProjectService", "fsa.v1.EnvironmentService", "fsa.v1.UserConfigService", "fsa.v1.ClusterService"})
	files, err := stream.FileContainingSymbol("fsa.v1.ProjectService")
	require.NoError(t, err)
	assert.NotEmpty(t, files)
	_, err = stream.Close()
	require.NoError(t, err)

	// Reads work over HTTP GET and are marked private.
	get := e.clients(alice.Token, connect.WithHTTPGet())
	resp, err := get.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)
	assert.Contains(t, resp.Header().Get("Cache-Control"), "private")
	_, err = e.clients("bad").Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)

	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	series := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "fsa_rpc_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			series[labels["procedure"]+" "+labels["code"]] += m.GetHistogram().GetSampleCount()
		}
	}
	assert.Equal(t, uint64(1), series["/fsa.v1.AuthService/SignUp ok"], "%v", series)
	assert.Equal(t, uint64(1), series["/fsa.v1.AuthService/WhoAmI ok"], "%v", series)
	assert.Equal(t, uint64(1), series["/fsa.v1.AuthService/WhoAmI unauthenticated"], "%v", series)
}

func TestProtocols(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	for name, opt := range map[string]connect.ClientOption{"grpc": connect.WithGRPC(), "grpc-web": connect.WithGRPCWeb(), "connect-json": connect.WithProtoJSON()} {
		t.Run(name, func(t *testing.T) {
			u := e.clients(alice.Token, opt)
			resp, err := u.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
			require.NoError(t, err)
			assert.Equal(t, alice.ID, resp.Msg.User.Id)
			_, err = u.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "missing"}))
			requireCode(t, err, connect.CodeNotFound)
			_, err = e.clients("", opt).Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "missing"}))
			requireCode(t, err, connect.CodeUnauthenticated)
		})
	}
}
