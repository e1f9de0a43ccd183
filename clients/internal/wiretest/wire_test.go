package wiretest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
)

// fakeProjects serves a canned project, refuses writes as a follower would,
// and streams a fixed sequence of watch events.
type fakeProjects struct {
	fsav1connect.UnimplementedProjectServiceHandler
}

var created = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func (fakeProjects) GetProject(_ context.Context, req *connect.Request[fsav1.GetProjectRequest]) (*connect.Response[fsav1.GetProjectResponse], error) {
	if req.Msg.GetId() != "p1" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("project not found"))
	}
	return connect.NewResponse(&fsav1.GetProjectResponse{Project: &fsav1.Project{
		Id: "p1", Name: "demo", K8SName: "demo", Status: fsav1.Status_STATUS_RUNNING,
		Sandbox:   &fsav1.Sandbox{Id: "s1", ProjectId: "p1", Status: fsav1.Status_STATUS_RUNNING, AppUrl: "https://demo.example.com"},
		CreatedAt: created, Version: 1 << 60,
	}}), nil
}

func (fakeProjects) StartProject(context.Context, *connect.Request[fsav1.StartProjectRequest]) (*connect.Response[fsav1.StartProjectResponse], error) {
	err := connect.NewError(connect.CodeUnavailable, errors.New("not the leader"))
	detail, derr := connect.NewErrorDetail(&fsav1.NotLeaderError{LeaderId: "n2", LeaderAddress: "https://n2.example.com"})
	if derr != nil {
		return nil, derr
	}
	err.AddDetail(detail)
	return nil, err
}

func (fakeProjects) WatchProjects(_ context.Context, req *connect.Request[fsav1.WatchProjectsRequest], stream *connect.ServerStream[fsav1.WatchProjectsResponse]) error {
	rev := req.Msg.GetFromRevision()
	msgs := []*fsav1.WatchProjectsResponse{
		{Revision: rev + 1, Type: fsav1.EventType_EVENT_TYPE_PUT, Kind: fsav1.ResourceKind_RESOURCE_KIND_SANDBOX,
			Resource: &fsav1.WatchProjectsResponse_Sandbox{Sandbox: &fsav1.Sandbox{Id: "s1", Status: fsav1.Status_STATUS_STARTING}}},
		{Revision: rev + 1, Type: fsav1.EventType_EVENT_TYPE_PROGRESS},
		{Revision: rev + 7, ResyncRequired: true},
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func TestWire(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(fsav1connect.NewProjectServiceHandler(fakeProjects{}))
	var gets atomic.Int64 // HTTP GET requests seen, to tell that connect+get uses GET
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true // gRPC needs HTTP/2
	srv.StartTLS()
	t.Cleanup(srv.Close)

	protocols := []struct {
		name     string
		opts     []connect.ClientOption
		wantGets int64 // the two GetProject calls
	}{
		{"connect+json", []connect.ClientOption{connect.WithProtoJSON()}, 0},
		{"connect+proto", nil, 0},
		{"connect+get", []connect.ClientOption{connect.WithHTTPGet(), connect.WithProtoJSON()}, 2},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}, 0},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}, 0},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := t.Context()
			gets.Store(0)
			client := fsav1connect.NewProjectServiceClient(srv.Client(), srv.URL, p.opts...)

			res, err := client.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "p1"}))
			require.NoError(t, err)
			got := res.Msg.GetProject()
			assert.Equal(t, "demo", got.GetName())
			assert.Equal(t, fsav1.Status_STATUS_RUNNING, got.GetSandbox().GetStatus())
			assert.Equal(t, uint64(1<<60), got.GetVersion())
			assert.True(t, got.GetCreatedAt().AsTime().Equal(created.AsTime()))

			_, err = client.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "nope"}))
			assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))

			_, err = client.StartProject(ctx, connect.NewRequest(&fsav1.StartProjectRequest{Id: "p1"}))
			var cerr *connect.Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, connect.CodeUnavailable, cerr.Code())
			require.Len(t, cerr.Details(), 1)
			v, err := cerr.Details()[0].Value()
			require.NoError(t, err)
			notLeader, ok := v.(*fsav1.NotLeaderError)
			require.True(t, ok, "detail is %T, want *fsav1.NotLeaderError", v)
			assert.Equal(t, "https://n2.example.com", notLeader.GetLeaderAddress())

			stream, err := client.WatchProjects(ctx, connect.NewRequest(&fsav1.WatchProjectsRequest{FromRevision: 10}))
			require.NoError(t, err)
			var events []*fsav1.WatchProjectsResponse
			for stream.Receive() {
				events = append(events, stream.Msg())
			}
			require.NoError(t, stream.Err())
			require.NoError(t, stream.Close())
			require.Len(t, events, 3)
			assert.Equal(t, uint64(11), events[0].GetRevision())
			assert.Equal(t, fsav1.Status_STATUS_STARTING, events[0].GetSandbox().GetStatus())
			assert.Nil(t, events[0].GetProject())
			assert.Equal(t, fsav1.EventType_EVENT_TYPE_PROGRESS, events[1].GetType())
			assert.True(t, events[2].GetResyncRequired())
			assert.Equal(t, uint64(17), events[2].GetRevision())
			assert.Equal(t, p.wantGets, gets.Load(), "HTTP GET requests")
		})
	}
}
