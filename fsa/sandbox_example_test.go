package fsa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/memstore"
)

// Running a command in a project's sandbox. The project must be RUNNING: this one has just
// been created, so the SDK refuses with ErrFailedPrecondition naming its status (against a
// cluster, reconcile brings it to RUNNING first; see docs/sdk.md, "Using a sandbox").
func ExampleClient_Exec() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	client := fsa.New(st)
	user, _ := client.CreateUser(ctx, fsa.UserSpec{Name: "Ada"})
	_, _ = client.SetUserConfig(ctx, user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true})
	p, _ := client.CreateProject(ctx, user.ID, fsa.ProjectSpec{Name: "api"})

	var out, errOut bytes.Buffer
	res, err := client.Exec(ctx, user.ID, p.ID, fsa.ExecRequest{
		Command: []string{"npm", "test"}, // argv, never parsed by a shell
		Env:     map[string]string{"CI": "1"},
		Dir:     "/home/agent/app",
		Stdout:  &out, Stderr: &errOut,
		Timeout: 5 * time.Minute,
	})
	switch {
	case errors.Is(err, fsa.ErrFailedPrecondition):
		fmt.Println("not yet:", strings.Contains(err.Error(), "CREATING"))
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("exit code", res.ExitCode)
	}

	// Bad input is refused before anything reaches the cluster.
	_, err = client.Exec(ctx, user.ID, p.ID, fsa.ExecRequest{})
	fmt.Println(errors.Is(err, fsa.ErrInvalidArgument))
	err = client.Remove(ctx, user.ID, p.ID, "/tmp/../", true)
	fmt.Println(errors.Is(err, fsa.ErrInvalidArgument))
	// Output:
	// not yet: true
	// true
	// true
}
