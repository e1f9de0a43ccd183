// Command embedded shows fsa embedded in a Go program: the SDK over the embedded bbolt store,
// no daemon. It creates a user and a project, sets environment variables, and prints what the
// store recorded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func main() {
	data := flag.String("data", filepath.Join(os.TempDir(), "fsa-embedded.db"), "bbolt file to keep state in")
	name := flag.String("project", "My Blog!", "display name of the project to create")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *data, *name); err != nil {
		fmt.Fprintln(os.Stderr, "embedded:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, path, projectName string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	st, err := boltstore.Open(path)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	client := fsa.New(st)
	fmt.Fprintf(out, "store: %s\n", path)

	// Sign-up is idempotent across runs: reuse the demo user when it exists.
	var user *fsa.User
	ident, err := client.LookupIdentity(ctx, fsa.ProviderPassword, "demo")
	switch {
	case err == nil:
		user, err = client.GetUser(ctx, ident.UserID)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "user:  %s (%s), existing\n", user.Name, user.ID)
	case errors.Is(err, fsa.ErrNotFound):
		user, err = client.CreateUser(ctx, fsa.UserSpec{Name: "Demo", Identity: &fsa.IdentitySpec{
			Provider: fsa.ProviderPassword, ProviderUserID: "demo"}})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "user:  %s (%s), created\n", user.Name, user.ID)
	default:
		return err
	}

	p, err := client.CreateProject(ctx, user.ID, fsa.ProjectSpec{Name: projectName, Description: "created by examples/embedded"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "project %q → k8s name %q, status %s (store revision %d)\n", p.Name, p.K8sName, p.Status, p.Version)
	fmt.Fprintf(out, "  sandbox  %s  %s (wants %s)\n", p.Sandbox.Name, p.Sandbox.Status, p.Sandbox.Desired)
	fmt.Fprintf(out, "  database %s  %s (wants %s)\n", p.Database.ClusterName, p.Database.Status, p.Database.Desired)

	if _, err := client.SetEnvBatch(ctx, user.ID, p.ID, "general", []fsa.EnvSpec{
		{Key: "NODE_ENV", Value: "development"}, {Key: "PORT", Value: "3000"},
	}, false); err != nil {
		return err
	}
	vars, err := client.ListEnv(ctx, user.ID, p.ID, false)
	if err != nil {
		return err
	}
	for _, v := range vars {
		val := v.Value
		if v.Redacted {
			val = "(secret)"
		}
		fmt.Fprintf(out, "  env %s=%s [%s]\n", v.Key, val, v.Category)
	}
	if _, err := client.StopProject(ctx, user.ID, p.ID); err != nil {
		fmt.Fprintf(out, "stop refused as expected: %v\n", err)
	}
	list, err := client.ListProjects(ctx, user.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s has %d project(s) at revision %d\n", user.Name, len(list.Items), list.Revision)
	return nil
}
