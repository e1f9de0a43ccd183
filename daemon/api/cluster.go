package api

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
)

// clusterService serves fsa.v1.ClusterService. Every call needs the admin role.
type clusterService struct{ *server }

var errSingleNode = fmt.Errorf("%w: this daemon runs without raft (single-node mode): membership cannot change", fsa.ErrFailedPrecondition)

func (s *clusterService) GetClusterStatus(ctx context.Context, _ *connect.Request[fsav1.GetClusterStatusRequest]) (*connect.Response[fsav1.GetClusterStatusResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	st, err := s.cluster.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := &fsav1.GetClusterStatusResponse{
		NodeId: st.NodeID, State: st.State, LeaderId: st.LeaderID, LeaderApiAddress: st.LeaderAPIAddress,
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		ReconcileRunning: st.Reconcile.Running, ReconcileFence: st.Reconcile.Fence,
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, toMember(m))
		if m.ID == st.LeaderID {
			out.LeaderAddress = m.RaftAddress
		}
	}
	return connect.NewResponse(out), nil
}

func validHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

func (s *clusterService) JoinNode(ctx context.Context, req *connect.Request[fsav1.JoinNodeRequest]) (*connect.Response[fsav1.JoinNodeResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Id == "" || len(m.Id) > 128 || !validHostPort(m.RaftAddress) {
		return nil, fmt.Errorf("%w: id and raft_address (host:port) are required", fsa.ErrInvalidArgument)
	}
	if m.ApiAddress != "" && !validHostPort(m.ApiAddress) {
		return nil, fmt.Errorf("%w: api_address must be host:port", fsa.ErrInvalidArgument)
	}
	if err := s.cluster.Join(ctx, m.Id, m.RaftAddress, m.ApiAddress); err != nil {
		return nil, err
	}
	s.log.Info("node joined", "id", m.Id, "raft", m.RaftAddress, "api", m.ApiAddress)
	return connect.NewResponse(&fsav1.JoinNodeResponse{}), nil
}

func (s *clusterService) RemoveNode(ctx context.Context, req *connect.Request[fsav1.RemoveNodeRequest]) (*connect.Response[fsav1.RemoveNodeResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Msg.Id == "" {
		return nil, fmt.Errorf("%w: id is required", fsa.ErrInvalidArgument)
	}
	if _, single := s.cluster.(*SingleNode); single {
		return nil, errSingleNode
	}
	st, err := s.cluster.Status(ctx)
	if err != nil {
		return nil, err
	}
	found := false
	for _, m := range st.Members {
		found = found || m.ID == req.Msg.Id
	}
	if !found {
		return nil, fmt.Errorf("%w: no member %.64q", fsa.ErrNotFound, req.Msg.Id)
	}
	if err := s.cluster.Remove(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.RemoveNodeResponse{}), nil
}

func (s *clusterService) TransferLeadership(ctx context.Context, req *connect.Request[fsav1.TransferLeadershipRequest]) (*connect.Response[fsav1.TransferLeadershipResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if _, single := s.cluster.(*SingleNode); single {
		return nil, errSingleNode
	}
	target := req.Msg.TargetId
	if target == "" {
		if err := s.cluster.TransferLeadership(ctx); err != nil {
			return nil, err
		}
	} else {
		t, ok := s.cluster.(LeadershipTransferrer)
		if !ok {
			return nil, fmt.Errorf("%w: this server cannot choose the new leader; leave target_id empty", fsa.ErrInvalidArgument)
		}
		st, err := s.cluster.Status(ctx)
		if err != nil {
			return nil, err
		}
		voter := false
		for _, m := range st.Members {
			voter = voter || (m.ID == target && m.Voter)
		}
		if !voter {
			return nil, fmt.Errorf("%w: no voter %.64q", fsa.ErrNotFound, target)
		}
		if err := t.TransferLeadershipTo(ctx, target); err != nil {
			return nil, err
		}
	}
	st, err := s.cluster.Status(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.TransferLeadershipResponse{LeaderId: st.LeaderID}), nil
}

func toRetained(rd *fsa.RetainedData) *fsav1.RetainedData {
	kind := fsav1.ResourceKind_RESOURCE_KIND_UNSPECIFIED
	if v, ok := fsav1.ResourceKind_value["RESOURCE_KIND_"+strings.ToUpper(string(rd.Kind))]; ok {
		kind = fsav1.ResourceKind(v)
	}
	return &fsav1.RetainedData{Id: rd.ID, UserId: rd.UserID, ProjectId: rd.ProjectID, ProjectName: rd.ProjectName, Kind: kind,
		ResourceName: rd.ResourceName, Namespace: rd.Namespace, Server: rd.Server, DeletedAt: ts(rd.DeletedAt)}
}

func (s *clusterService) ListRetainedData(ctx context.Context, _ *connect.Request[fsav1.ListRetainedDataRequest]) (*connect.Response[fsav1.ListRetainedDataResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	list, err := s.c.ListRetained(ctx, "")
	if err != nil {
		return nil, err
	}
	out := &fsav1.ListRetainedDataResponse{Items: make([]*fsav1.RetainedData, 0, len(list))}
	for _, rd := range list {
		out.Items = append(out.Items, toRetained(rd))
	}
	return connect.NewResponse(out), nil
}

func (s *clusterService) PurgeRetainedData(ctx context.Context, req *connect.Request[fsav1.PurgeRetainedDataRequest]) (*connect.Response[fsav1.PurgeRetainedDataResponse], error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	if req.Msg.Id == "" {
		return nil, fmt.Errorf("%w: id is required", fsa.ErrInvalidArgument)
	}
	if err := reconcile.Purge(ctx, s.c, s.kube, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.PurgeRetainedDataResponse{}), nil
}
