package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

func (a *app) projectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "project",
		Aliases: []string{"projects", "p"},
		Short:   "Create, list, run, stop, delete and explain your projects",
	}
	cmd.AddCommand(a.projectCreateCommand(), a.projectListCommand(), a.projectGetCommand(),
		a.projectStartCommand(), a.projectActionCommand("stop", "Stop a project (files and data are kept)"),
		a.projectActionCommand("delete", "Delete a project; its data is kept unless --purge-data"),
		a.projectExplainCommand(), a.projectTerminalCommand(), a.projectAppCommand(), a.projectResizeCommand(),
		a.projectLifecycleCommand(), a.projectExtendCommand(), a.projectKeepAliveCommand())
	return cmd
}

// resolveProject finds a project by id, or else by name.
// withProject runs fn with a client, a call context and the project named by ref (an id or a
// name): the common start of every command that acts on one project.
func (a *app) withProject(cmd *cobra.Command, ref string, fn func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := a.callCtx(cmd)
	defer cancel()
	p, err := resolveProject(ctx, c, ref)
	if err != nil {
		return err
	}
	return fn(ctx, c, p)
}

func resolveProject(ctx context.Context, c *fsaclient.Client, ref string) (*fsav1.Project, error) {
	res, err := c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: ref}))
	if err == nil {
		return res.Msg.GetProject(), nil
	}
	if code := connect.CodeOf(err); code != connect.CodeNotFound && code != connect.CodeInvalidArgument {
		return nil, err
	}
	all, _, lerr := listAll(ctx, c)
	if lerr != nil {
		return nil, lerr
	}
	for _, p := range all {
		if p.GetName() == ref {
			return p, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no project with id or name %q", ref))
}

// listAll reads every page; it returns the revision of the first page.
func listAll(ctx context.Context, c *fsaclient.Client) ([]*fsav1.Project, uint64, error) {
	var out []*fsav1.Project
	var rev uint64
	token := ""
	for {
		res, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return nil, 0, err
		}
		if rev == 0 {
			rev = res.Msg.GetRevision()
		}
		out = append(out, res.Msg.GetProjects()...)
		if token = res.Msg.GetNextPageToken(); token == "" {
			return out, rev, nil
		}
	}
}

func (a *app) printProjects(ps []*fsav1.Project, rev uint64) error {
	if a.json() {
		return printJSON(a.stdout, &fsav1.ListProjectsResponse{Projects: ps, Revision: rev})
	}
	t := newTable(a.stdout, "ID", "NAME", "STATUS", "SANDBOX", "DATABASE", "APP URL", "CREATED", "NEXT")
	now := time.Now()
	for _, p := range ps {
		t.row(p.GetId(), p.GetName(), status(p.GetStatus()), status(p.GetSandbox().GetStatus()),
			status(p.GetDatabase().GetStatus()), appURL(p.GetSandbox()), timeOf(p.GetCreatedAt()),
			nextAction(p.GetLifecycle(), now))
	}
	return t.flush()
}

func (a *app) printProject(p *fsav1.Project) error {
	if a.json() {
		return printJSON(a.stdout, p)
	}
	t := newTable(a.stdout)
	t.row("ID:", p.GetId())
	t.row("Name:", p.GetName())
	t.row("Kubernetes name:", p.GetK8SName())
	if p.GetDescription() != "" {
		t.row("Description:", p.GetDescription())
	}
	t.row("Status:", status(p.GetStatus()))
	t.row("Sandbox:", childLine(p.GetSandbox().GetStatus(), p.GetSandbox().GetReason()))
	t.row("Database:", childLine(p.GetDatabase().GetStatus(), p.GetDatabase().GetReason()))
	t.row("App URL:", appURL(p.GetSandbox()))
	t.row("Size:", sizeLine(p.GetSize()))
	if ns := p.GetSandbox().GetNamespace(); ns != "" {
		t.row("Namespace:", ns+" on "+p.GetSandbox().GetServer())
	}
	t.row("Lifecycle:", policyLine(p.GetLifecycle()))
	if next := nextAction(p.GetLifecycle(), time.Now()); next != "" {
		t.row("Next:", next+" at "+timeOf(p.GetLifecycle().GetNextActionAt()))
	}
	t.row("Created:", timeOf(p.GetCreatedAt()))
	t.row("Updated:", timeOf(p.GetUpdatedAt()))
	t.row("Version:", fmt.Sprint(p.GetVersion()))
	return t.flush()
}

// appURL is the app's public URL, or says that the app is private (reached with fsactl preview).
func appURL(sb *fsav1.Sandbox) string {
	if sb != nil && !sb.GetPublicApp() {
		return "private (fsactl preview)"
	}
	return sb.GetAppUrl()
}

func childLine(s fsav1.Status, reason string) string {
	if reason == "" {
		return status(s)
	}
	return status(s) + " (" + reason + ")"
}

func (a *app) projectCreateCommand() *cobra.Command {
	var (
		description string
		publicApp   bool
		wait        bool
		waitTimeout time.Duration
		size        sizeFlags
		lf          lifecycleFlags
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project; --wait follows it until RUNNING (exit 1 on ERROR)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			pol, err := lf.policy(cmd, time.Now())
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			res, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: args[0], Description: description, PublicApp: publicApp, Size: size.request(), Lifecycle: pol}))
			cancel()
			if err != nil {
				return err
			}
			p := res.Msg.GetProject()
			if !wait {
				return a.printProject(p)
			}
			return a.waitAndPrint(cmd, c, p, waitTimeout)
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "free text about the project")
	cmd.Flags().BoolVar(&publicApp, "public-app", false, "publish the app (port 3000) on a public URL; without, only you reach it (fsactl preview)")
	size.add(cmd)
	lf.register(cmd)
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "show each child's progress until the project is RUNNING or ERROR")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

func (a *app) projectStartCommand() *cobra.Command {
	var (
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "start PROJECT",
		Short: "Start a project (id or name); --wait follows it until RUNNING",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().StartProject(ctx, connect.NewRequest(&fsav1.StartProjectRequest{Id: p.GetId()}))
				if err != nil {
					return err
				}
				if !wait {
					return a.printProject(res.Msg.GetProject())
				}
				return a.waitAndPrint(cmd, c, res.Msg.GetProject(), waitTimeout)
			})
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "show each child's progress until the project is RUNNING or ERROR")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

// projectActionCommand is stop or delete.
func (a *app) projectActionCommand(verb, short string) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   verb + " PROJECT",
		Short: short + " (id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				var out *fsav1.Project
				if verb == "stop" {
					res, err := c.Projects().StopProject(ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: p.GetId()}))
					if err != nil {
						return err
					}
					out = res.Msg.GetProject()
				} else {
					res, err := c.Projects().DeleteProject(ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: p.GetId(), PurgeData: purge}))
					if err != nil {
						return err
					}
					out = res.Msg.GetProject()
				}
				return a.printProject(out)
			})
		},
	}
	if verb == "delete" {
		cmd.Flags().BoolVar(&purge, "purge-data", false,
			"delete the home volume and the database with the project (by default they are kept for an operator to purge)")
	}
	return cmd
}

func (a *app) projectListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your projects",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			ps, rev, err := listAll(ctx, c)
			if err != nil {
				return err
			}
			return a.printProjects(ps, rev)
		},
	}
}

func (a *app) projectGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get PROJECT",
		Short: "Show one project (id or name) with its sandbox and database",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				return a.printProject(p)
			})
		},
	}
}

func (a *app) projectExplainCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "explain PROJECT",
		Short: "Say why a project is in its status: per child, desired and observed status, last error, next action",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().ExplainProject(ctx, connect.NewRequest(&fsav1.ExplainProjectRequest{Id: p.GetId()}))
				if err != nil {
					return err
				}
				ex := res.Msg.GetExplanation()
				if a.json() {
					return printJSON(a.stdout, ex)
				}
				_, _ = fmt.Fprintf(a.stdout, "Project %s (%s) is %s (revision %d)\n\n", p.GetName(), ex.GetProjectId(), status(ex.GetProjectStatus()), ex.GetRevision())
				t := newTable(a.stdout, "CHILD", "ID", "DESIRED", "OBSERVED", "NEXT ACTION", "LAST ERROR")
				for _, ch := range ex.GetChildren() {
					t.row(kind(ch.GetKind()), ch.GetId(), status(ch.GetDesired()), status(ch.GetObserved()), ch.GetNextAction(), ch.GetLastError())
				}
				if err := t.flush(); err != nil {
					return err
				}
				for _, ch := range ex.GetChildren() {
					if len(ch.GetConditions()) == 0 {
						continue
					}
					_, _ = fmt.Fprintf(a.stdout, "\n%s conditions:\n", kind(ch.GetKind()))
					t := newTable(a.stdout, "  TIME", "FROM", "TO", "REASON", "MESSAGE")
					for _, co := range ch.GetConditions() {
						t.row("  "+timeOf(co.GetTime()), status(co.GetFrom()), status(co.GetTo()), co.GetReason(), co.GetMessage())
					}
					if err := t.flush(); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (a *app) projectTerminalCommand() *cobra.Command {
	var rotate bool
	cmd := &cobra.Command{
		Use:   "terminal PROJECT",
		Short: "Print the URL of the project's web terminal (it embeds a credential: keep it private)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				var out *fsav1.TerminalAccessResponse
				if rotate {
					res, err := c.Projects().RotateTerminalToken(ctx, connect.NewRequest(&fsav1.RotateTerminalTokenRequest{ProjectId: p.GetId()}))
					if err != nil {
						return err
					}
					out = &fsav1.TerminalAccessResponse{Url: res.Msg.GetUrl(), ExpiresAt: res.Msg.GetExpiresAt()}
				} else {
					res, err := c.Projects().TerminalAccess(ctx, connect.NewRequest(&fsav1.TerminalAccessRequest{ProjectId: p.GetId()}))
					if err != nil {
						return err
					}
					out = res.Msg
				}
				if a.json() {
					return printJSON(a.stdout, out)
				}
				_, err := fmt.Fprintln(a.stdout, out.GetUrl())
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the terminal credential first (the sandbox restarts)")
	return cmd
}

func (a *app) projectAppCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "app PROJECT public|private",
		Short: "Publish the project's app (port 3000) on a public URL, or make it private (only you, through fsactl preview)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var public bool
			switch args[1] {
			case "public":
				public = true
			case "private":
			default:
				return usagef("%q: say public or private", args[1])
			}
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().SetPublicApp(ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: p.GetId(), PublicApp: public}))
				if err != nil {
					return err
				}
				return a.printProject(res.Msg.GetProject())
			})
		},
	}
}

// errStopWatch ends a wait's watch once the project settled.
var errStopWatch = errors.New("settled")

// progress tracks one project's statuses during --wait and prints each change.
type progress struct {
	w        io.Writer
	id, name string
	project  fsav1.Status
	sandbox  *fsav1.Sandbox
	database *fsav1.Database
	deleted  bool
}

func (pr *progress) line(what string, s fsav1.Status, detail string) {
	_, _ = fmt.Fprintf(pr.w, "%-9s %-12s %s\n", what, status(s), detail)
}

// reset takes a full project state, printing what changed.
func (pr *progress) reset(p *fsav1.Project) {
	pr.setProject(p.GetStatus())
	pr.setSandbox(p.GetSandbox())
	pr.setDatabase(p.GetDatabase())
}

func (pr *progress) setProject(s fsav1.Status) {
	if s != pr.project {
		pr.project = s
		pr.line("project", s, pr.name)
	}
}

func (pr *progress) setSandbox(sb *fsav1.Sandbox) {
	if sb == nil || (pr.sandbox != nil && sb.GetVersion() < pr.sandbox.GetVersion()) {
		return
	}
	old := pr.sandbox
	pr.sandbox = sb
	if old == nil || old.GetStatus() != sb.GetStatus() || old.GetReason() != sb.GetReason() {
		detail := sb.GetReason()
		if sb.GetStatus() == fsav1.Status_STATUS_RUNNING && sb.GetPublicApp() && sb.GetAppUrl() != "" {
			detail = sb.GetAppUrl()
		}
		pr.line("sandbox", sb.GetStatus(), detail)
	}
}

func (pr *progress) setDatabase(db *fsav1.Database) {
	if db == nil || (pr.database != nil && db.GetVersion() < pr.database.GetVersion()) {
		return
	}
	old := pr.database
	pr.database = db
	if old == nil || old.GetStatus() != db.GetStatus() || old.GetReason() != db.GetReason() {
		pr.line("database", db.GetStatus(), db.GetReason())
	}
}

// event applies one watch message; errStopWatch once the project is RUNNING, ERROR or gone.
func (pr *progress) event(m *fsav1.WatchProjectsResponse) error {
	switch {
	case m.GetProject().GetId() == pr.id:
		if m.GetType() == fsav1.EventType_EVENT_TYPE_DELETE {
			pr.deleted = true
			return errStopWatch
		}
		pr.setProject(m.GetProject().GetStatus())
	case m.GetSandbox() != nil && m.GetSandbox().GetProjectId() == pr.id:
		pr.setSandbox(m.GetSandbox())
	case m.GetDatabase() != nil && m.GetDatabase().GetProjectId() == pr.id:
		pr.setDatabase(m.GetDatabase())
	}
	if pr.settled() {
		return errStopWatch
	}
	return nil
}

func (pr *progress) settled() bool {
	return pr.project == fsav1.Status_STATUS_RUNNING || pr.project == fsav1.Status_STATUS_ERROR
}

// reason collects the children's reasons for an ERROR.
func (pr *progress) reason() string {
	var rs []string
	if r := pr.sandbox.GetReason(); r != "" {
		rs = append(rs, "sandbox: "+r)
	}
	if r := pr.database.GetReason(); r != "" {
		rs = append(rs, "database: "+r)
	}
	if len(rs) == 0 {
		return "no reason recorded (see 'fsactl project explain')"
	}
	return strings.Join(rs, "; ")
}

// waitAndPrint follows p until it is RUNNING or ERROR, printing progress lines (on stderr with
// --output json), then prints the project. ERROR is returned as an error with the reason.
func (a *app) waitAndPrint(cmd *cobra.Command, c *fsaclient.Client, p *fsav1.Project, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	w := a.stdout
	if a.json() {
		w = a.stderr
	}
	pr := &progress{w: w, id: p.GetId(), name: p.GetName()}
	pr.reset(p)
	from := p.GetVersion()
	for !pr.settled() && !pr.deleted {
		err := c.Watch(ctx, from, pr.event)
		if errors.Is(err, errStopWatch) {
			break
		}
		if !errors.Is(err, fsaclient.ErrResyncRequired) {
			if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
				return fmt.Errorf("project %s is still %s after %v (see 'fsactl project explain %s')", p.GetName(), status(pr.project), timeout, p.GetName())
			}
			return err
		}
		// The server lost our place: read the current state and watch from there.
		_, rev, lerr := listAll(ctx, c)
		if lerr != nil {
			return lerr
		}
		res, gerr := c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.GetId()}))
		if gerr != nil {
			return gerr
		}
		pr.reset(res.Msg.GetProject())
		from = rev
	}
	if pr.deleted {
		return fmt.Errorf("project %s was deleted while waiting", p.GetName())
	}
	gctx, gcancel := a.callCtx(cmd)
	defer gcancel()
	res, err := c.Projects().GetProject(gctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.GetId()}))
	if err != nil {
		return err
	}
	final := res.Msg.GetProject()
	if pr.project == fsav1.Status_STATUS_ERROR {
		if a.json() {
			_ = printJSON(a.stdout, final)
		}
		return fmt.Errorf("project %s is ERROR: %s", p.GetName(), pr.reason())
	}
	if a.json() {
		return printJSON(a.stdout, final)
	}
	_, err = fmt.Fprintf(a.stdout, "Project %s (%s) is RUNNING\n  app:      %s\n", final.GetName(), final.GetId(), appURL(final.GetSandbox()))
	return err
}
