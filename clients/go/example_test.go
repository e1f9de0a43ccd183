package fsaclient_test

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

// Log in, create a project and follow its progress. Any node of a cluster may be named: writes
// are sent on to the leader.
func Example() {
	ctx := context.Background()
	c, err := fsaclient.New([]string{"http://fsa-1:8080", "http://fsa-2:8080"})
	if err != nil {
		panic(err)
	}
	res, err := c.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "ada", Password: "..."}))
	if err != nil {
		fmt.Println(connect.CodeOf(err), err)
		return
	}
	c.SetToken(res.Msg.GetSession().GetToken())

	// The client adds an idempotency key, so a retried create never creates two projects.
	created, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "demo"}))
	if err != nil {
		panic(err)
	}
	p := created.Msg.GetProject()
	err = c.Watch(ctx, p.GetVersion(), func(ev *fsav1.WatchProjectsResponse) error {
		if ev.GetProject().GetId() == p.GetId() && ev.GetProject().GetStatus() == fsav1.Status_STATUS_RUNNING {
			return errors.New("running")
		}
		return nil
	})
	if errors.Is(err, fsaclient.ErrResyncRequired) {
		// List again (ListProjects) and watch from the listing's revision.
	}
}
