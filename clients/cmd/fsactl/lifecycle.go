package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

// Lifecycle policies in fsactl: the flags that set them, the line that shows what comes next
// ("stops in 12m (idle)"), extend and keep-alive.

// lifecycleFlags are the policy flags of create and lifecycle.
type lifecycleFlags struct {
	idle, deleteStopped, expireIn time.Duration
	expireAt, expireAction        string
	noExpiry                      bool
}

func (f *lifecycleFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.idle, "idle-timeout", -1, "stop the project after this long without activity (0: never; default: your IDLE_TIMEOUT setting, else the server's)")
	cmd.Flags().DurationVar(&f.deleteStopped, "delete-stopped-after", -1, "delete the project (keeping its data) once stopped this long (0: never)")
	cmd.Flags().DurationVar(&f.expireIn, "expire-in", 0, "expire the project this long from now")
	cmd.Flags().StringVar(&f.expireAt, "expire-at", "", "expire the project at this time (RFC 3339)")
	cmd.Flags().StringVar(&f.expireAction, "expire-action", "", "what the expiry does: stop (default) or delete")
}

// policy returns the policy the flags set; nil when they set nothing.
func (f *lifecycleFlags) policy(cmd *cobra.Command, now time.Time) (*fsav1.LifecyclePolicy, error) {
	pol := &fsav1.LifecyclePolicy{}
	set := false
	if cmd.Flags().Changed("idle-timeout") {
		pol.IdleTimeout, set = durationpb.New(f.idle), true
	}
	if cmd.Flags().Changed("delete-stopped-after") {
		pol.DeleteStoppedAfter, set = durationpb.New(f.deleteStopped), true
	}
	switch {
	case f.expireAt != "" && f.expireIn != 0:
		return nil, usagef("--expire-at and --expire-in together")
	case f.expireAt != "":
		t, err := time.Parse(time.RFC3339, f.expireAt)
		if err != nil {
			return nil, usagef("--expire-at: want an RFC 3339 time such as 2026-12-31T18:00:00Z: %v", err)
		}
		pol.ExpireAt, set = timestamppb.New(t), true
	case cmd.Flags().Changed("expire-in"):
		pol.ExpireAt, set = timestamppb.New(now.Add(f.expireIn)), true
	}
	if f.noExpiry {
		if pol.ExpireAt != nil {
			return nil, usagef("--no-expiry with an expiry")
		}
		pol.ClearExpiry, set = true, true
	}
	switch strings.ToLower(f.expireAction) {
	case "":
	case "stop":
		pol.ExpireAction = fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP
	case "delete":
		pol.ExpireAction = fsav1.LifecycleAction_LIFECYCLE_ACTION_DELETE
	default:
		return nil, usagef("--expire-action: want stop or delete, not %q", f.expireAction)
	}
	if !set && pol.ExpireAction == 0 {
		return nil, nil
	}
	return pol, nil
}

// nextAction says what the project's policies do next, relative to now: "stops in 12m (idle)".
func nextAction(l *fsav1.ProjectLifecycle, now time.Time) string {
	if l.GetNextAction() == fsav1.LifecycleAction_LIFECYCLE_ACTION_UNSPECIFIED || l.GetNextActionAt() == nil {
		return ""
	}
	verb := "stops"
	if l.GetNextAction() == fsav1.LifecycleAction_LIFECYCLE_ACTION_DELETE {
		verb = "deleted"
	}
	why := map[string]string{"IdleTimeout": "idle", "Expired": "expiry", "StoppedTooLong": "stopped too long"}[l.GetNextActionReason()]
	if why == "" {
		why = l.GetNextActionReason()
	}
	d := l.GetNextActionAt().AsTime().Sub(now)
	if d <= 0 {
		return fmt.Sprintf("%s now (%s)", verb, why)
	}
	return fmt.Sprintf("%s in %s (%s)", verb, shortDuration(d), why)
}

// shortDuration is d rounded for people: 45s, 12m, 3h5m, 2d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()+0.5))
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour).Minutes())
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days := int(d / (24 * time.Hour))
	h := int((d % (24 * time.Hour)) / time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// policyLine summarises the policies: "idle 30m, expires 2026-12-31T18:00:00Z (delete), delete after stopped 7d".
func policyLine(l *fsav1.ProjectLifecycle) string {
	var parts []string
	if d := l.GetIdleTimeout(); d != nil && d.AsDuration() > 0 {
		parts = append(parts, "idle "+shortDuration(d.AsDuration()))
	}
	if t := l.GetExpireAt(); t != nil {
		a := strings.ToLower(strings.TrimPrefix(l.GetExpireAction().String(), "LIFECYCLE_ACTION_"))
		parts = append(parts, fmt.Sprintf("expires %s (%s)", timeOf(t), a))
	}
	if d := l.GetDeleteStoppedAfter(); d != nil && d.AsDuration() > 0 {
		parts = append(parts, "delete after stopped "+shortDuration(d.AsDuration()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (a *app) projectLifecycleCommand() *cobra.Command {
	var f lifecycleFlags
	cmd := &cobra.Command{
		Use:   "lifecycle PROJECT",
		Short: "Change a project's idle limit, expiry or auto-delete (id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := f.policy(cmd, time.Now())
			if err != nil {
				return err
			}
			if pol == nil {
				return usagef("nothing to change: give --idle-timeout, --expire-in, --expire-at, --no-expiry or --delete-stopped-after")
			}
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().SetProjectLifecycle(ctx, connect.NewRequest(&fsav1.SetProjectLifecycleRequest{Id: p.GetId(), Policy: pol}))
				if err != nil {
					return err
				}
				return a.printProject(res.Msg.GetProject())
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.noExpiry, "no-expiry", false, "remove the expiry")
	return cmd
}

func (a *app) projectExtendCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "extend PROJECT DURATION",
		Short: "Move a project's expiry later, e.g. `fsactl project extend demo 2h`",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := time.ParseDuration(args[1])
			if err != nil {
				return usagef("DURATION: want a duration such as 2h or 30m: %v", err)
			}
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().ExtendProject(ctx, connect.NewRequest(&fsav1.ExtendProjectRequest{Id: p.GetId(), By: durationpb.New(by)}))
				if err != nil {
					return err
				}
				return a.printProject(res.Msg.GetProject())
			})
		},
	}
}

func (a *app) projectKeepAliveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "keep-alive PROJECT",
		Short: "Record activity on a project so that its idle limit does not stop it now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				if _, err := c.Projects().KeepAlive(ctx, connect.NewRequest(&fsav1.KeepAliveRequest{Id: p.GetId()})); err != nil {
					return err
				}
				res, err := c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.GetId()}))
				if err != nil {
					return err
				}
				return a.printProject(res.Msg.GetProject())
			})
		},
	}
}

// setLifecycleDefaultsCommand sets the user's own default idle limit and auto-delete for new
// projects. The values go to the server as given (it checks them); "default" (or an empty
// value) removes the setting, so that the server's default applies again.
func (a *app) setLifecycleDefaultsCommand() *cobra.Command {
	var idle, deleteStopped string
	cmd := &cobra.Command{
		Use:   "set-lifecycle",
		Short: "Set your default idle limit and auto-delete for new projects (\"default\": the server's)",
		Long: `set-lifecycle sets the lifecycle policies your new projects get when they are created
without their own (--idle-timeout, --delete-stopped-after of "project create"): a duration such
as 30m or 72h, 0 for never, or "default" to remove your setting so that the server's default
applies again. Projects created before keep their policies ("project lifecycle" changes them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &fsav1.SetLifecycleDefaultsRequest{}
			f := cmd.Flags()
			value := func(v string) *string {
				if strings.TrimSpace(v) == "default" {
					v = ""
				}
				return &v
			}
			if f.Changed("idle-timeout") {
				req.IdleTimeout = value(idle)
			}
			if f.Changed("delete-stopped-after") {
				req.DeleteStoppedAfter = value(deleteStopped)
			}
			if req.IdleTimeout == nil && req.DeleteStoppedAfter == nil {
				return usagef("nothing to change: give --idle-timeout or --delete-stopped-after")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.UserConfig().SetLifecycleDefaults(ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			return a.printLifecycleDefaults(res.Msg.GetDefaults())
		},
	}
	cmd.Flags().StringVar(&idle, "idle-timeout", "", `default idle limit: a duration (30m), 0 for never, or "default"`)
	cmd.Flags().StringVar(&deleteStopped, "delete-stopped-after", "", `default auto-delete of stopped projects: a duration (72h), 0 for never, or "default"`)
	return cmd
}

func (a *app) getLifecycleDefaultsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get-lifecycle",
		Short: "Show the idle limit and auto-delete your new projects get, yours or the server's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.UserConfig().GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			return a.printLifecycleDefaults(res.Msg.GetDefaults())
		},
	}
}

// printLifecycleDefaults prints one row per policy: in force, whose, and the server's.
func (a *app) printLifecycleDefaults(d *fsav1.LifecycleDefaults) error {
	t := newTable(a.stdout, "POLICY", "NEW PROJECTS", "FROM", "SERVER DEFAULT")
	for _, r := range []struct {
		name        string
		cur, server time.Duration
		set         bool
	}{
		{"idle-timeout", d.GetIdleTimeout().AsDuration(), d.GetServerIdleTimeout().AsDuration(), d.GetIdleTimeoutSet()},
		{"delete-stopped-after", d.GetDeleteStoppedAfter().AsDuration(), d.GetServerDeleteStoppedAfter().AsDuration(), d.GetDeleteStoppedAfterSet()},
	} {
		from := "server"
		if r.set {
			from = "you"
		}
		t.row(r.name, neverOr(r.cur), from, neverOr(r.server))
	}
	return t.flush()
}

// neverOr is "never" for 0, else d rounded for people.
func neverOr(d time.Duration) string {
	if d <= 0 {
		return "never"
	}
	return shortDuration(d)
}
