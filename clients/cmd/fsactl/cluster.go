package main

import (
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

func (a *app) clusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Raft cluster administration (admin role)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the members, the leader and the Raft indexes as the answering node sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Cluster().GetClusterStatus(ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
			if err != nil {
				return err
			}
			st := res.Msg
			if a.json() {
				return printJSON(a.stdout, st)
			}
			_, _ = fmt.Fprintf(a.stdout, "Node %s; leader %s at %s; term %d; last index %d, commit index %d, applied index %d\n\n",
				orDash(st.GetNodeId()), orDash(st.GetLeaderId()), orDash(st.GetLeaderAddress()), st.GetTerm(), st.GetLastIndex(), st.GetCommitIndex(), st.GetAppliedIndex())
			t := newTable(a.stdout, "ID", "ADDRESS", "SUFFRAGE", "LEADER")
			for _, m := range st.GetMembers() {
				t.row(m.GetId(), m.GetAddress(), strings.ToLower(strings.TrimPrefix(m.GetSuffrage().String(), "SUFFRAGE_")), yesNo(m.GetLeader()))
			}
			return t.flush()
		},
	}, &cobra.Command{
		Use:   "join ID RAFT_ADDRESS",
		Short: "Add a node to the cluster as a voter (idempotent)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Cluster().JoinNode(ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: args[0], RaftAddress: args[1]}))
			if err != nil {
				return err
			}
			return a.done(res.Msg, "Node "+args[0]+" joined")
		},
	}, &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Cluster().RemoveNode(ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: args[0]}))
			if err != nil {
				return err
			}
			return a.done(res.Msg, "Node "+args[0]+" removed")
		},
	}, &cobra.Command{
		Use:   "transfer [TARGET_ID]",
		Short: "Hand leadership to another voter (TARGET_ID, or one chosen by Raft)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Cluster().TransferLeadership(ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{TargetId: target}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			_, err = fmt.Fprintf(a.stdout, "Leadership transferred to %s\n", res.Msg.GetLeaderId())
			return err
		},
	})
	cmd.AddCommand(a.retainedCommand())
	return cmd
}

// done reports a command without a result: the (empty) message in JSON, else text.
func (a *app) done(m proto.Message, text string) error {
	if a.json() {
		return printJSON(a.stdout, m)
	}
	_, err := fmt.Fprintln(a.stdout, text)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// retainedCommand lists and purges the data deleted projects left behind.
func (a *app) retainedCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "retained", Short: "Data deleted projects left behind (home volumes, databases): list, purge"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the data deleted projects left behind, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Cluster().ListRetainedData(ctx, connect.NewRequest(&fsav1.ListRetainedDataRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "ID", "KIND", "OBJECTS", "NAMESPACE", "PROJECT", "USER", "DELETED")
			for _, it := range res.Msg.GetItems() {
				kind := strings.ToLower(strings.TrimPrefix(it.GetKind().String(), "RESOURCE_KIND_"))
				t.row(it.GetId(), kind, it.GetResourceName(), it.GetNamespace(), it.GetProjectName(), it.GetUserId(), timeOf(it.GetDeletedAt()))
			}
			return t.flush()
		},
	}, &cobra.Command{
		Use:   "purge ID...",
		Short: "Delete retained data from Kubernetes for good (with its owner's kubeconfig) and forget it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				ctx, cancel := a.callCtx(cmd)
				_, err := c.Cluster().PurgeRetainedData(ctx, connect.NewRequest(&fsav1.PurgeRetainedDataRequest{Id: id}))
				cancel()
				if err != nil {
					return err
				}
				if !a.json() {
					if _, err := fmt.Fprintf(a.stdout, "Purged %s\n", id); err != nil {
						return err
					}
				}
			}
			if a.json() {
				return printJSON(a.stdout, &fsav1.PurgeRetainedDataResponse{})
			}
			return nil
		},
	})
	return cmd
}
