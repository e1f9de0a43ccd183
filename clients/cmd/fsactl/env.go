package main

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

func (a *app) envCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "A project's environment variables (synced into its sandbox)"}
	var reveal bool
	list := &cobra.Command{
		Use:     "list PROJECT",
		Aliases: []string{"ls"},
		Short:   "List a project's variables; secret values are hidden unless --reveal",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Environment().ListEnv(ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: p.GetId(), RevealSecrets: reveal}))
				if err != nil {
					return err
				}
				if a.json() {
					return printJSON(a.stdout, res.Msg)
				}
				t := newTable(a.stdout, "KEY", "VALUE", "CATEGORY", "SECRET", "OWNER")
				for _, v := range res.Msg.GetVars() {
					val := v.GetValue()
					if v.GetRedacted() {
						val = "(secret)"
					}
					owner := "user"
					if v.GetPlatformOwned() {
						owner = "platform"
					}
					t.row(v.GetKey(), val, v.GetCategory(), yesNo(v.GetSecret()), owner)
				}
				return t.flush()
			})
		},
	}
	list.Flags().BoolVar(&reveal, "reveal", false, "show secret values")

	var secret bool
	var category string
	set := &cobra.Command{
		Use:   "set PROJECT KEY=VALUE...",
		Short: "Create or replace variables",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pairs := make([][2]string, 0, len(args)-1)
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("%q: want KEY=VALUE", kv)
				}
				pairs = append(pairs, [2]string{k, v})
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			p, err := resolveProject(ctx, c, args[0])
			if err != nil {
				return err
			}
			out := &fsav1.ListEnvResponse{}
			for _, kv := range pairs {
				res, err := c.Environment().SetEnv(ctx, connect.NewRequest(&fsav1.SetEnvRequest{
					ProjectId: p.GetId(), Key: kv[0], Value: kv[1], Category: category, Secret: secret}))
				if err != nil {
					return fmt.Errorf("set %s: %w", kv[0], err)
				}
				out.Vars = append(out.Vars, res.Msg.GetEnvVar())
			}
			if a.json() {
				return printJSON(a.stdout, out)
			}
			for _, v := range out.GetVars() {
				_, _ = fmt.Fprintf(a.stdout, "Set %s\n", v.GetKey())
			}
			return nil
		},
	}
	set.Flags().BoolVar(&secret, "secret", false, "mark the values secret (hidden in listings)")
	set.Flags().StringVar(&category, "category", "", "category of the variables (free text)")

	unset := &cobra.Command{
		Use:   "unset PROJECT KEY...",
		Short: "Delete variables",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				for _, k := range args[1:] {
					if _, err := c.Environment().DeleteEnv(ctx, connect.NewRequest(&fsav1.DeleteEnvRequest{ProjectId: p.GetId(), Key: k})); err != nil {
						return fmt.Errorf("unset %s: %w", k, err)
					}
					if !a.json() {
						_, _ = fmt.Fprintf(a.stdout, "Unset %s\n", k)
					}
				}
				if a.json() {
					return printJSON(a.stdout, &fsav1.DeleteEnvResponse{})
				}
				return nil
			})
		},
	}
	cmd.AddCommand(list, set, unset)
	return cmd
}
