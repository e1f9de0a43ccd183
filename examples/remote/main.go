// Command remote drives a remote fsad cluster through the Go client: it signs in (signing up on
// first use), hands fsad the user's kubeconfig, creates a project and follows its status over
// the watch stream until it runs. Give it every node's address: the client follows the leader
// and fails over by itself.
//
//	remote -endpoints http://10.0.0.1:8080,http://10.0.0.2:8080,http://10.0.0.3:8080 \
//	       -user ada -password '…' -kubeconfig ada.kubeconfig -project "My Blog"
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

type options struct {
	endpoints  []string
	user, pass string
	kubeconfig string
	project    string
	timeout    time.Duration
}

func main() {
	var o options
	var endpoints string
	flag.StringVar(&endpoints, "endpoints", "http://127.0.0.1:8080", "comma-separated fsad API URLs")
	flag.StringVar(&o.user, "user", "demo", "username")
	flag.StringVar(&o.pass, "password", os.Getenv("FSA_PASSWORD"), "password (or $FSA_PASSWORD)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "namespace-scoped kubeconfig to hand to fsad (optional if already set)")
	flag.StringVar(&o.project, "project", "Remote Demo", "project to create")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for RUNNING")
	flag.Parse()
	o.endpoints = strings.Split(endpoints, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "remote:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, o options) error {
	c, err := fsaclient.New(o.endpoints)
	if err != nil {
		return err
	}
	// Sign in, or sign up on first use.
	var sess *fsav1.Session
	in, err := c.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: o.user, Password: o.pass}))
	if connect.CodeOf(err) == connect.CodeUnauthenticated {
		up, uerr := c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: o.user, Password: o.pass}))
		if uerr != nil {
			return fmt.Errorf("sign up: %w", uerr)
		}
		sess = up.Msg.GetSession()
		fmt.Fprintf(out, "signed up as %s\n", o.user)
	} else if err != nil {
		return fmt.Errorf("login: %w", err)
	} else {
		sess = in.Msg.GetSession()
		fmt.Fprintf(out, "signed in as %s\n", o.user)
	}
	c.SetToken(sess.GetToken())

	if o.kubeconfig != "" {
		kc, err := os.ReadFile(o.kubeconfig)
		if err != nil {
			return err
		}
		if _, err := c.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: string(kc)})); err != nil {
			return fmt.Errorf("set kubeconfig: %w", err)
		}
	}

	// List first: the listing's revision is where the watch starts, so nothing is missed.
	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	created, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: o.project, PublicApp: true}))
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	p := created.Msg.GetProject()
	fmt.Fprintf(out, "created %q (%s) through %s\n", p.GetName(), p.GetId(), c.Endpoint())

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	errDone := errors.New("running")
	status := map[fsav1.ResourceKind]fsav1.Status{}
	err = c.Watch(ctx, list.Msg.GetRevision(), func(ev *fsav1.WatchProjectsResponse) error {
		switch r := ev.GetResource().(type) {
		case *fsav1.WatchProjectsResponse_Sandbox:
			if r.Sandbox.GetProjectId() == p.GetId() {
				status[fsav1.ResourceKind_RESOURCE_KIND_SANDBOX] = r.Sandbox.GetStatus()
				fmt.Fprintf(out, "  rev %d sandbox  %s %s\n", ev.GetRevision(), short(r.Sandbox.GetStatus()), r.Sandbox.GetReason())
			}
		case *fsav1.WatchProjectsResponse_Database:
			if r.Database.GetProjectId() == p.GetId() {
				status[fsav1.ResourceKind_RESOURCE_KIND_DATABASE] = r.Database.GetStatus()
				fmt.Fprintf(out, "  rev %d database %s %s\n", ev.GetRevision(), short(r.Database.GetStatus()), r.Database.GetReason())
			}
		case *fsav1.WatchProjectsResponse_Project:
			if r.Project.GetId() == p.GetId() {
				fmt.Fprintf(out, "  rev %d project  %s\n", ev.GetRevision(), short(r.Project.GetStatus()))
				switch r.Project.GetStatus() {
				case fsav1.Status_STATUS_RUNNING:
					return errDone
				case fsav1.Status_STATUS_ERROR:
					return fmt.Errorf("project failed: %v", status)
				}
			}
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		return fmt.Errorf("watch: %w", err)
	}
	got, err := c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.GetId()}))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "RUNNING: app %s\n", got.Msg.GetProject().GetSandbox().GetAppUrl())
	return nil
}

func short(s fsav1.Status) string { return strings.TrimPrefix(s.String(), "STATUS_") }
