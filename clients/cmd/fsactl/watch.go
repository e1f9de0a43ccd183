package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

func (a *app) watchCommand() *cobra.Command {
	var (
		from         uint64
		showProgress bool
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream changes to your projects, sandboxes and databases until interrupted",
		Long: `Stream changes to your projects, sandboxes and databases until interrupted. The stream
resumes by itself after a disconnect, without gap or duplicate. --from REVISION replays the
changes after that revision first (e.g. the revision of 'fsactl project list -o json').
--output json prints one JSON message per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if !a.json() {
				t := newTable(a.stdout, "REVISION", "EVENT", "KIND", "ID", "NAME", "STATUS", "DETAIL")
				if err := t.flush(); err != nil {
					return err
				}
			}
			err = c.Watch(cmd.Context(), from, func(m *fsav1.WatchProjectsResponse) error {
				if m.GetType() == fsav1.EventType_EVENT_TYPE_PROGRESS && !showProgress {
					return nil
				}
				if a.json() {
					return printJSONLine(a.stdout, m)
				}
				return a.printEvent(m)
			})
			if errors.Is(err, fsaclient.ErrResyncRequired) {
				return fmt.Errorf("%w; run 'fsactl project list -o json' and watch --from its revision", err)
			}
			if cmd.Context().Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 0, "revision to resume from (0: from now)")
	cmd.Flags().BoolVar(&showProgress, "progress", false, "also print PROGRESS messages")
	return cmd
}

// printEvent prints one event as a row aligned with the header (fixed widths: rows of a
// stream cannot be aligned afterwards).
func (a *app) printEvent(m *fsav1.WatchProjectsResponse) error {
	ev := map[fsav1.EventType]string{fsav1.EventType_EVENT_TYPE_PUT: "PUT", fsav1.EventType_EVENT_TYPE_DELETE: "DELETE", fsav1.EventType_EVENT_TYPE_PROGRESS: "PROGRESS"}[m.GetType()]
	var id, name, st, detail string
	switch {
	case m.GetProject() != nil:
		p := m.GetProject()
		id, name, st = p.GetId(), p.GetName(), status(p.GetStatus())
	case m.GetSandbox() != nil:
		s := m.GetSandbox()
		id, name, st, detail = s.GetId(), s.GetName(), status(s.GetStatus()), s.GetReason()
		if detail == "" {
			detail = s.GetAppUrl()
		}
	case m.GetDatabase() != nil:
		d := m.GetDatabase()
		id, name, st, detail = d.GetId(), d.GetClusterName(), status(d.GetStatus()), d.GetReason()
	}
	t := newTable(a.stdout)
	t.row(fmt.Sprintf("%-8d", m.GetRevision()), fmt.Sprintf("%-8s", ev), fmt.Sprintf("%-8s", kind(m.GetKind())), id, name, st, detail)
	return t.flush()
}
