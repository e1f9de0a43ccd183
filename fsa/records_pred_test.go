package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// TestRecordsPredictsRecord: fsa.Records says true exactly when Record writes, for every kind
// of difference an observation can carry, on sandboxes (public and private) and databases.
func TestRecordsPredictsRecord(t *testing.T) {
	e := newEnv(t)
	pub, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "pub", PublicApp: true})
	require.NoError(t, err)
	priv := e.project("priv")
	cases := []struct {
		name string
		obs  func(ch *fsa.Child) fsa.Observation
	}{
		{"same", func(ch *fsa.Child) fsa.Observation { return fsa.Observation{Status: ch.Status, Reason: ch.Reason} }},
		{"status", func(ch *fsa.Child) fsa.Observation { return fsa.Observation{Status: fsa.StatusRunning} }},
		{"reason", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason + "x"}
		}},
		{"placement", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason, Namespace: "ns", Server: "https://k"}
		}},
		{"placement again", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason, Namespace: "other", Server: "https://o"}
		}},
		{"app URL", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason, AppURL: "https://app"}
		}},
		{"terminal URL", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason, TerminalURL: "https://t"}
		}},
		{"same URLs", func(ch *fsa.Child) fsa.Observation {
			return fsa.Observation{Status: ch.Status, Reason: ch.Reason, AppURL: "https://app", TerminalURL: "https://t"}
		}},
	}
	writes := 0
	for _, p := range []*fsa.Project{pub, priv} {
		for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
			for _, c := range cases {
				cur, err := e.c.ProjectByID(e.ctx, p.ID)
				require.NoError(t, err)
				o := cur.Child(k)
				ch := o.Common()
				obs := c.obs(ch)
				obs.Version = ch.Version
				predicted := fsa.Records(o, obs)
				before := e.revision()
				_, err = e.c.Record(e.ctx, 0, k, ch.ID, obs)
				require.NoError(t, err)
				wrote := e.revision() != before
				require.Equal(t, wrote, predicted, "%s %s of %s", c.name, k, p.Name)
				if wrote {
					writes++
				}
			}
		}
	}
	require.Greater(t, writes, 4, "the cases write")
}
