package main

import (
	"context"
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

// Sizes and quotas: a project's size on create and resize, the caller's quota, the size
// classes, and an admin's view of a user's limits.

// sizeFlags are the flags that ask for a size (create, resize).
type sizeFlags struct{ class, cpu, memory, home, db string }

func (f *sizeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.class, "size", "", "size class (see 'fsactl quota classes'; default: the operator's default class)")
	cmd.Flags().StringVar(&f.cpu, "cpu", "", "CPU limit of the sandbox, e.g. 500m or 2")
	cmd.Flags().StringVar(&f.memory, "memory", "", "memory limit of the sandbox, e.g. 2Gi")
	cmd.Flags().StringVar(&f.home, "home", "", "size of the home volume, e.g. 20Gi (volumes only grow)")
	cmd.Flags().StringVar(&f.db, "db", "", "size of the database volume, e.g. 5Gi (volumes only grow)")
}

func (f *sizeFlags) request() *fsav1.SizeRequest {
	r := &fsav1.SizeRequest{Class: f.class, Cpu: f.cpu, Memory: f.memory, Home: f.home, Database: f.db}
	if r.Class == "" && r.Cpu == "" && r.Memory == "" && r.Home == "" && r.Database == "" {
		return nil
	}
	return r
}

// millis prints millicores as Kubernetes does: "500m", "2".
func millis(n int64) string {
	if n%1000 == 0 {
		return strconv.FormatInt(n/1000, 10)
	}
	return strconv.FormatInt(n, 10) + "m"
}

// bytesOf prints bytes in the largest binary unit that divides them: "1Gi", "1536Mi".
func bytesOf(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeLine is "small: cpu 500m, memory 1Gi, home 5Gi, db 1Gi".
func sizeLine(s *fsav1.ProjectSize) string {
	if s == nil {
		return "-"
	}
	line := fmt.Sprintf("cpu %s, memory %s, home %s, db %s", millis(s.GetCpuMillis()), bytesOf(s.GetMemoryBytes()),
		bytesOf(s.GetHomeBytes()), bytesOf(s.GetDatabaseBytes()))
	if s.GetClass() != "" {
		return s.GetClass() + ": " + line
	}
	return line
}

func (a *app) projectResizeCommand() *cobra.Command {
	var size sizeFlags
	cmd := &cobra.Command{
		Use:   "resize PROJECT",
		Short: "Change a stopped project's size (id or name): --size CLASS and/or --cpu, --memory, --home, --db",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Projects().ResizeProject(ctx, connect.NewRequest(&fsav1.ResizeProjectRequest{Id: p.GetId(), Size: size.request()}))
				if err != nil {
					return err
				}
				return a.printProject(res.Msg.GetProject())
			})
		},
	}
	size.add(cmd)
	return cmd
}

func (a *app) quotaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show your limits and what you use; 'quota classes' lists the project sizes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Quota().GetQuota(ctx, connect.NewRequest(&fsav1.GetQuotaRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			return a.printQuota(res.Msg.GetQuota())
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "classes",
		Short: "List the size classes, the default one and the bounds of explicit sizes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Quota().ListSizeClasses(ctx, connect.NewRequest(&fsav1.ListSizeClassesRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "CLASS", "CPU", "MEMORY", "HOME", "DB", "DEFAULT")
			for _, sc := range res.Msg.GetClasses() {
				s := sc.GetSize()
				def := ""
				if sc.GetName() == res.Msg.GetDefaultClass() {
					def = "yes"
				}
				t.row(sc.GetName(), millis(s.GetCpuMillis()), bytesOf(s.GetMemoryBytes()), bytesOf(s.GetHomeBytes()), bytesOf(s.GetDatabaseBytes()), def)
			}
			lo, hi := res.Msg.GetMin(), res.Msg.GetMax()
			t.row("(min)", millis(lo.GetCpuMillis()), bytesOf(lo.GetMemoryBytes()), bytesOf(lo.GetHomeBytes()), bytesOf(lo.GetDatabaseBytes()), "")
			t.row("(max)", millis(hi.GetCpuMillis()), bytesOf(hi.GetMemoryBytes()), bytesOf(hi.GetHomeBytes()), bytesOf(hi.GetDatabaseBytes()), "")
			return t.flush()
		},
	})
	return cmd
}

// printQuota prints one row per limit: its use and the limit ("-" for none).
func (a *app) printQuota(q *fsav1.Quota) error {
	l, u := q.GetLimits(), q.GetUsage()
	limit := func(n int64, format func(int64) string) string {
		if n == 0 {
			return "-"
		}
		return format(n)
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	t := newTable(a.stdout, "RESOURCE", "USED", "LIMIT")
	t.row("projects", count(int64(u.GetProjects())), limit(int64(l.GetProjects()), count))
	t.row("running", count(int64(u.GetRunning())), limit(int64(l.GetRunning()), count))
	t.row("cpu (running)", millis(u.GetCpuMillis()), limit(l.GetCpuMillis(), millis))
	t.row("memory (running)", bytesOf(u.GetMemoryBytes()), limit(l.GetMemoryBytes(), bytesOf))
	t.row("storage (all)", bytesOf(u.GetStorageBytes()), limit(l.GetStorageBytes(), bytesOf))
	if q.GetCustom() {
		t.row("(limits set for this user by an admin)", "", "")
	}
	return t.flush()
}

func (a *app) adminCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "User administration (admin role)"}
	limits := &cobra.Command{Use: "limits", Short: "Show or set a user's limits"}
	limits.AddCommand(&cobra.Command{
		Use:   "get USER_ID",
		Short: "Show a user's limits and use",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Quota().GetUserLimits(ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: args[0]}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			return a.printQuota(res.Msg.GetQuota())
		},
	})
	var (
		projects, running    int32
		cpu, memory, storage string
		defaults             bool
	)
	set := &cobra.Command{
		Use:   "set USER_ID",
		Short: "Set a user's own limits (flags left out keep their current value; 0: no limit); --defaults drops them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			req := &fsav1.SetUserLimitsRequest{UserId: args[0], UseDefaults: defaults}
			if !defaults {
				cur, err := c.Quota().GetUserLimits(ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: args[0]}))
				if err != nil {
					return err
				}
				l := cur.Msg.GetQuota().GetLimits()
				f := cmd.Flags()
				if f.Changed("projects") {
					l.Projects = projects
				}
				if f.Changed("running") {
					l.Running = running
				}
				for _, q := range []struct {
					flag, v string
					cpu     bool
					dst     *int64
				}{{"cpu", cpu, true, &l.CpuMillis}, {"memory", memory, false, &l.MemoryBytes}, {"storage", storage, false, &l.StorageBytes}} {
					if !f.Changed(q.flag) {
						continue
					}
					n, err := parseQuantity(q.v, q.cpu)
					if err != nil {
						return usagef("--%s: %v", q.flag, err)
					}
					*q.dst = n
				}
				req.Limits = l
			}
			res, err := c.Quota().SetUserLimits(ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			return a.printQuota(res.Msg.GetQuota())
		},
	}
	set.Flags().Int32Var(&projects, "projects", 0, "projects the user may have")
	set.Flags().Int32Var(&running, "running", 0, "projects the user may have running")
	set.Flags().StringVar(&cpu, "cpu", "", "CPU of the user's running projects, e.g. 16 or 8500m")
	set.Flags().StringVar(&memory, "memory", "", "memory of the user's running projects, e.g. 64Gi")
	set.Flags().StringVar(&storage, "storage", "", "volumes of all the user's projects, e.g. 500Gi")
	set.Flags().BoolVar(&defaults, "defaults", false, "drop the user's own limits: the daemon's defaults apply (refused if one is below the user's use)")
	limits.AddCommand(set)
	cmd.AddCommand(limits)
	return cmd
}

// parseQuantity parses the plain forms of a Kubernetes quantity fsactl accepts for limits: an
// integer with an optional suffix m (CPU only), k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti
// (powers of 1024); "0" is no limit. The server checks the range.
func parseQuantity(s string, cpu bool) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	mult, num := int64(1), s
	if cpu {
		mult = 1000
		if n, ok := cutSuffix(s, "m"); ok {
			mult, num = 1, n
		}
	}
	if mult != 1 || !cpu {
		for _, u := range units {
			if n, ok := cutSuffix(s, u.suffix); ok {
				mult, num = mult*u.mult, n
				break
			}
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a quantity (like 2, 500m or 64Gi)", s)
	}
	if n > 0 && mult > (1<<62)/n {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
