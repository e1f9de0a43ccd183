package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

// projectService serves fsa.v1.ProjectService.
type projectService struct{ *server }

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxPageTokenLen = 512
)

func (s *projectService) CreateProject(ctx context.Context, req *connect.Request[fsav1.CreateProjectRequest]) (*connect.Response[fsav1.CreateProjectResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	pol, err := fromPolicy(m.Lifecycle)
	if err != nil {
		return nil, err
	}
	p, err := s.c.CreateProject(fsa.WithIdempotencyKey(ctx, m.IdempotencyKey), c.user.ID, fsa.ProjectSpec{Name: m.Name, Description: m.Description, PublicApp: m.PublicApp, Size: fromSizeRequest(m.Size), Lifecycle: pol})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.CreateProjectResponse{Project: toProject(p)}), nil
}

func (s *projectService) GetProject(ctx context.Context, req *connect.Request[fsav1.GetProjectRequest]) (*connect.Response[fsav1.GetProjectResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.c.GetProject(ctx, c.user.ID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GetProjectResponse{Project: toProject(p)}), nil
}

// pageToken is the position after the last project of a page (projects are ordered by
// creation time, then id).
type pageToken struct {
	CreatedAt int64  `json:"c"`
	ID        string `json:"i"`
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, error) {
	var t pageToken
	bad := fmt.Errorf("%w: page_token is not one ListProjects returned", fsa.ErrInvalidArgument)
	if len(s) > maxPageTokenLen {
		return t, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.ID == "" {
		return t, bad
	}
	return t, nil
}

func (t pageToken) before(p *fsa.Project) bool {
	c := p.CreatedAt.UnixNano()
	return c > t.CreatedAt || (c == t.CreatedAt && p.ID > t.ID)
}

func (s *projectService) ListProjects(ctx context.Context, req *connect.Request[fsav1.ListProjectsRequest]) (*connect.Response[fsav1.ListProjectsResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	size := int(m.PageSize)
	if size == 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	var after *pageToken
	if m.PageToken != "" {
		t, err := decodePageToken(m.PageToken)
		if err != nil {
			return nil, err
		}
		after = &t
	}
	list, err := s.c.ListProjects(ctx, c.user.ID)
	if err != nil {
		return nil, err
	}
	out := &fsav1.ListProjectsResponse{Revision: rev(list.Revision)}
	for _, p := range list.Items {
		if after != nil && !after.before(p) {
			continue
		}
		if len(out.Projects) == size {
			last := out.Projects[len(out.Projects)-1]
			out.NextPageToken = pageToken{CreatedAt: last.CreatedAt.AsTime().UnixNano(), ID: last.Id}.encode()
			break
		}
		out.Projects = append(out.Projects, toProject(p))
	}
	return connect.NewResponse(out), nil
}

func (s *projectService) StartProject(ctx context.Context, req *connect.Request[fsav1.StartProjectRequest]) (*connect.Response[fsav1.StartProjectResponse], error) {
	p, err := s.act(ctx, req.Msg.Id, req.Msg.IdempotencyKey, s.c.StartProject)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.StartProjectResponse{Project: p}), nil
}

func (s *projectService) StopProject(ctx context.Context, req *connect.Request[fsav1.StopProjectRequest]) (*connect.Response[fsav1.StopProjectResponse], error) {
	p, err := s.act(ctx, req.Msg.Id, req.Msg.IdempotencyKey, s.c.StopProject)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.StopProjectResponse{Project: p}), nil
}

func (s *projectService) ResizeProject(ctx context.Context, req *connect.Request[fsav1.ResizeProjectRequest]) (*connect.Response[fsav1.ResizeProjectResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.c.ResizeProject(ctx, c.user.ID, req.Msg.Id, fromSizeRequest(req.Msg.Size))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.ResizeProjectResponse{Project: toProject(p)}), nil
}

func (s *projectService) DeleteProject(ctx context.Context, req *connect.Request[fsav1.DeleteProjectRequest]) (*connect.Response[fsav1.DeleteProjectResponse], error) {
	purge := fsa.PurgeData(req.Msg.PurgeData || s.purgeOnDelete)
	p, err := s.act(ctx, req.Msg.Id, req.Msg.IdempotencyKey, func(ctx context.Context, userID, projectID string) (*fsa.Project, error) {
		return s.c.DeleteProject(ctx, userID, projectID, purge)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.DeleteProjectResponse{Project: p}), nil
}

func (s *projectService) act(ctx context.Context, id, key string, fn func(context.Context, string, string) (*fsa.Project, error)) (*fsav1.Project, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := fn(fsa.WithIdempotencyKey(ctx, key), c.user.ID, id)
	if err != nil {
		return nil, err
	}
	return toProject(p), nil
}

func (s *projectService) ExplainProject(ctx context.Context, req *connect.Request[fsav1.ExplainProjectRequest]) (*connect.Response[fsav1.ExplainProjectResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.c.Explain(ctx, c.user.ID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.ExplainProjectResponse{Explanation: toExplanation(e)}), nil
}

func (s *projectService) TerminalAccess(ctx context.Context, req *connect.Request[fsav1.TerminalAccessRequest]) (*connect.Response[fsav1.TerminalAccessResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	ta, err := s.c.TerminalAccess(ctx, c.user.ID, req.Msg.ProjectId)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.TerminalAccessResponse{Url: ta.URL, ExpiresAt: ts(ta.ExpiresAt)}), nil
}

func (s *projectService) RotateTerminalToken(ctx context.Context, req *connect.Request[fsav1.RotateTerminalTokenRequest]) (*connect.Response[fsav1.RotateTerminalTokenResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.c.RotateTerminalToken(fsa.WithIdempotencyKey(ctx, req.Msg.IdempotencyKey), c.user.ID, req.Msg.ProjectId); err != nil {
		return nil, err
	}
	out := &fsav1.RotateTerminalTokenResponse{}
	// A URL with the new credential, when the terminal is up; otherwise none yet.
	ta, err := s.c.TerminalAccess(ctx, c.user.ID, req.Msg.ProjectId)
	switch {
	case err == nil:
		out.Url, out.ExpiresAt = ta.URL, ts(ta.ExpiresAt)
	case !errors.Is(err, fsa.ErrFailedPrecondition):
		return nil, err
	}
	return connect.NewResponse(out), nil
}

func (s *projectService) SetPublicApp(ctx context.Context, req *connect.Request[fsav1.SetPublicAppRequest]) (*connect.Response[fsav1.SetPublicAppResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.c.SetPublicApp(ctx, c.user.ID, req.Msg.ProjectId, req.Msg.PublicApp)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SetPublicAppResponse{Project: toProject(p)}), nil
}

// WatchProjects follows the SDK's watch of the caller's changes with fsa.EveryRevision, so that
// every revision, visible or not, advances what its PROGRESS messages report.
func (s *projectService) WatchProjects(ctx context.Context, req *connect.Request[fsav1.WatchProjectsRequest], stream *connect.ServerStream[fsav1.WatchProjectsResponse]) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	head, err := s.c.LocalRevision(ctx)
	if err != nil {
		return err
	}
	from := head
	if req.Msg.FromRevision > 0 {
		// A revision this node has not applied yet (the client wrote or listed on another
		// node, or a moment ago here) is waited for by the watch.
		from = int64(min(req.Msg.FromRevision, math.MaxInt64))
	}
	resync := func() error {
		cur, err := s.c.LocalRevision(ctx)
		if err != nil {
			return err
		}
		return stream.Send(&fsav1.WatchProjectsResponse{Revision: rev(cur), ResyncRequired: true})
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.c.Watch(wctx, c.user.ID, from, fsa.EveryRevision())
	if errors.Is(err, store.ErrCompacted) {
		return resync()
	}
	if err != nil {
		return err
	}

	type next struct {
		ev  fsa.WatchEvent
		err error
	}
	events := make(chan next)
	done := make(chan struct{})
	go func() { // owned by this call: ends when wctx is cancelled (deferred), waited for below
		defer close(done)
		for {
			ev, err := w.Next()
			select {
			case events <- next{ev, err}:
			case <-wctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()

	ticker := time.NewTicker(s.progress)
	defer ticker.Stop()
	last := from // every change up to last was sent
	progress := func() error {
		return stream.Send(&fsav1.WatchProjectsResponse{Revision: rev(last), Type: fsav1.EventType_EVENT_TYPE_PROGRESS})
	}
	caughtUp := last >= head
	if caughtUp {
		if err := progress(); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			if err := progress(); err != nil {
				return err
			}
		case n := <-events:
			if errors.Is(n.err, store.ErrCompacted) {
				return resync()
			}
			if n.err != nil {
				return n.err
			}
			for _, ch := range n.ev.Changes {
				if msg := toWatchMessage(n.ev.Revision, ch); msg != nil {
					if err := stream.Send(msg); err != nil {
						return err
					}
				}
			}
			last = n.ev.Revision
			if !caughtUp && last >= head {
				caughtUp = true
				if err := progress(); err != nil {
					return err
				}
			}
		}
	}
}
