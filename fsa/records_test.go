package fsa_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// Records as the SDK wrote them before Sandbox and Database shared the embedded Child: the format
// of every bbolt file, Raft log and backup written until then, byte for byte.
const (
	oldUser      = "fg60g56suj4u3m1stjei"
	oldProjectID = "t1wpwxkm3q06x5ipqf9c"
	oldProject   = `{"id":"t1wpwxkm3q06x5ipqf9c","user_id":"fg60g56suj4u3m1stjei","name":"Old Blog","k8s_name":"oldblog","status":"ERROR","created_at":"2026-11-27T12:00:00.003Z","updated_at":"2026-11-27T12:00:00.005Z"}`
	oldSandbox   = `{"id":"n9gv9g3hgyxgd3gx034f","project_id":"t1wpwxkm3q06x5ipqf9c","user_id":"fg60g56suj4u3m1stjei","name":"oldblog-agentruntime-9uil2m","status":"STARTING","desired":"RUNNING","app_host_label":"enh8wc60he23","terminal_host_label":"q6mc5wqk9j07","app_url":"https://app.example","terminal_url":"https://term.example","reason":"Applied","conditions":[{"time":"2026-11-27T12:00:00.003Z","from":"","to":"CREATING","reason":"Created"},{"time":"2026-11-27T12:00:00.004Z","from":"CREATING","to":"STARTING","reason":"Applied"}],"created_at":"2026-11-27T12:00:00.003Z","updated_at":"2026-11-27T12:00:00.004Z"}`
	oldDatabase  = `{"id":"g7qwd9x44q2dayvg5u3d","project_id":"t1wpwxkm3q06x5ipqf9c","user_id":"fg60g56suj4u3m1stjei","cluster_name":"oldblog-agentruntime-9uil2m","status":"ERROR","desired":"RUNNING","reason":"Failed","conditions":[{"time":"2026-11-27T12:00:00.003Z","from":"","to":"CREATING","reason":"Created"},{"time":"2026-11-27T12:00:00.005Z","from":"CREATING","to":"ERROR","reason":"Failed","message":"disk"}],"created_at":"2026-11-27T12:00:00.003Z","updated_at":"2026-11-27T12:00:00.005Z"}`
)

func at(ms int) time.Time {
	return time.Date(2026, 11, 27, 12, 0, 0, ms*int(time.Millisecond), time.UTC)
}

func TestStoredRecordsStillDecode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	rev, err := st.Commit(ctx, store.Txn{Ops: []store.Op{
		store.Put(store.Record{Kind: store.KindProject, ID: oldProjectID, Owner: oldUser, Status: "ERROR", Data: []byte(oldProject)}),
		store.Put(store.Record{Kind: store.KindSandbox, ID: "n9gv9g3hgyxgd3gx034f", Owner: oldUser, Parent: oldProjectID, Status: "STARTING", Data: []byte(oldSandbox)}),
		store.Put(store.Record{Kind: store.KindDatabase, ID: "g7qwd9x44q2dayvg5u3d", Owner: oldUser, Parent: oldProjectID, Status: "ERROR", Data: []byte(oldDatabase)}),
	}})
	require.NoError(t, err)
	c := fsa.New(st)

	p, err := c.GetProject(ctx, oldUser, oldProjectID)
	require.NoError(t, err)
	created := fsa.Condition{Time: at(3), To: fsa.StatusCreating, Reason: "Created"}
	assert.Equal(t, &fsa.Sandbox{
		Child: fsa.Child{ID: "n9gv9g3hgyxgd3gx034f", ProjectID: oldProjectID, UserID: oldUser,
			Status: fsa.StatusStarting, Desired: fsa.StatusRunning, Reason: "Applied",
			Conditions: []fsa.Condition{created, {Time: at(4), From: fsa.StatusCreating, To: fsa.StatusStarting, Reason: "Applied"}},
			CreatedAt:  at(3), UpdatedAt: at(4), Version: rev},
		Name: "oldblog-agentruntime-9uil2m", AppHostLabel: "enh8wc60he23", TerminalHostLabel: "q6mc5wqk9j07",
		AppURL: "https://app.example", TerminalURL: "https://term.example",
	}, p.Sandbox)
	assert.True(t, p.Sandbox.PublicApp(), "a record from before the choice existed keeps its public app")
	assert.Equal(t, &fsa.Database{
		Child: fsa.Child{ID: "g7qwd9x44q2dayvg5u3d", ProjectID: oldProjectID, UserID: oldUser,
			Status: fsa.StatusError, Desired: fsa.StatusRunning, Reason: "Failed",
			Conditions: []fsa.Condition{created, {Time: at(5), From: fsa.StatusCreating, To: fsa.StatusError, Reason: "Failed", Message: "disk"}},
			CreatedAt:  at(3), UpdatedAt: at(5), Version: rev},
		ClusterName: "oldblog-agentruntime-9uil2m",
	}, p.Database)

	// Encoding them again gives the same JSON objects: the same names, flat, nothing added.
	for want, v := range map[string]any{oldSandbox: p.Sandbox, oldDatabase: p.Database} {
		got, err := json.Marshal(v)
		require.NoError(t, err)
		assert.JSONEq(t, want, string(got))
	}

	// The change feed decodes them the same way.
	w, err := c.Watch(ctx, "", 0)
	require.NoError(t, err)
	ev, err := w.Next()
	require.NoError(t, err)
	require.Len(t, ev.Changes, 3)
	assert.Equal(t, p.Sandbox, ev.Changes[1].Sandbox)
	assert.Equal(t, p.Database, ev.Changes[2].Database)
}

// TestNewRecordsKeepTheLayout checks records written today against the ones above: the same
// fields, so a node running an older build (during a rolling upgrade) and a restored backup read
// them alike.
// A private app (the default of new projects) adds one field, private_app, which an older build
// ignores: it treats the app as public until a node of this build reconciles it.
func TestNewRecordsKeepTheLayout(t *testing.T) {
	e := newEnv(t)
	p, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "New Blog", PublicApp: true})
	require.NoError(t, err)
	private := e.project("Private Blog")
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: p.Sandbox.Version, Status: fsa.StatusStarting,
		Reason: "Applied", AppURL: "https://app.example", TerminalURL: "https://term.example"})
	require.NoError(t, err)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceDatabase, p.Database.ID, fsa.Observation{Version: p.Database.Version, Status: fsa.StatusError,
		Reason: "Failed", Message: "disk"})
	require.NoError(t, err)
	for _, c := range []struct {
		kind store.Kind
		id   string
		old  string
	}{{store.KindSandbox, p.Sandbox.ID, oldSandbox}, {store.KindDatabase, p.Database.ID, oldDatabase}} {
		var rec store.Record
		require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error {
			var err error
			rec, err = s.Get(c.kind, c.id)
			return err
		}))
		assert.Equal(t, fieldNames(t, c.old), fieldNames(t, string(rec.Data)), "fields of a %s record", c.kind)
	}
	var rec store.Record
	require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error {
		var err error
		rec, err = s.Get(store.KindSandbox, private.Sandbox.ID)
		return err
	}))
	want := append(fieldNames(t, oldSandbox), "private_app")
	for _, absent := range []string{"app_url", "terminal_url", "reason"} { // not observed yet
		want = slices.DeleteFunc(want, func(f string) bool { return f == absent })
	}
	sort.Strings(want)
	assert.Equal(t, want, fieldNames(t, string(rec.Data)), "fields of a private sandbox's record")
}

// fieldNames returns the top-level field names of a JSON object, sorted.
func fieldNames(t *testing.T, obj string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(obj), &m))
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestChildrenByKind(t *testing.T) {
	e := newEnv(t)
	p := e.project("Kinds")
	assert.Same(t, p.Sandbox, p.Child(fsa.ResourceSandbox))
	assert.Same(t, p.Database, p.Child(fsa.ResourceDatabase))
	assert.Nil(t, p.Child(fsa.ResourceEnv), "an environment variable is no child")
	assert.Nil(t, (&fsa.Project{}).Child(fsa.ResourceSandbox), "no sandbox: a nil interface, not a nil *Sandbox")
	assert.Equal(t, p.Sandbox.Name, p.Child(fsa.ResourceSandbox).ResourceName())
	assert.Equal(t, p.Database.ClusterName, p.Child(fsa.ResourceDatabase).ResourceName())

	out, err := e.c.Record(e.ctx, 0, fsa.ResourceDatabase, p.Database.ID, fsa.Observation{Version: p.Database.Version, Status: fsa.StatusStarting})
	require.NoError(t, err)
	assert.Equal(t, fsa.StatusStarting, out.Database.Status)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceEnv, p.Database.ID, fsa.Observation{Status: fsa.StatusStarting})
	assert.ErrorIs(t, err, fsa.ErrInvalidArgument)

	ch := fsa.ResourceChange{Kind: fsa.ResourceDatabase, Children: fsa.Children{Database: out.Database}}
	assert.Same(t, out.Database, ch.Child(ch.Kind))
	assert.Nil(t, ch.Child(fsa.ResourceSandbox))
}
