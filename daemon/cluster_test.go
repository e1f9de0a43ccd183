package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
	"github.com/fullstackagent/fsa/k8s"
)

// The tests in this file run three real fsad processes on 127.0.0.1 against the local
// Kubernetes control plane (k8stest). They are skipped under -short.

func TestMain(m *testing.M) { k8stest.Main(m) }

var build struct {
	once sync.Once
	bin  string
	err  error
}

// fsadBin builds fsad once per test binary into <repo>/.cache/daemon-test.
func fsadBin(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		root, err := k8stest.RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		// Build beside the final path and rename, so concurrent test binaries never run a
		// half-written file.
		dir := filepath.Join(root, ".cache", "daemon-test")
		tmp := filepath.Join(dir, "tmp-"+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			build.err = err
			return
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bin, err := fsadtest.Build(ctx, tmp)
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "fsad-test")
		build.err = os.Rename(bin, build.bin)
	})
	require.NoError(t, build.err)
	return build.bin
}

const waitFor = 90 * time.Second

type env struct {
	t     *testing.T
	ctx   context.Context
	kc    *k8stest.Cluster
	kuser *k8stest.User
	c     *fsadtest.Cluster
	w     *fsadtest.Writer
	user  string
}

func newEnv(t *testing.T, name string) *env {
	kc := k8stest.Env(t)
	bin := fsadBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: bin, Dir: dir, Args: []string{"--domain", "sandbox.fsa.test"}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	e := &env{t: t, ctx: ctx, kc: kc, kuser: kc.NewTestUser(t, name), c: c, w: &fsadtest.Writer{C: c}}
	var u testapi.User
	_, err = e.w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: name, Kubeconfig: string(e.kuser.Kubeconfig)}, &u)
	require.NoError(t, err)
	e.user = u.ID
	return e
}

// closeOnCleanup stops the cluster when t ends, printing the end of each node's log if t failed.
func closeOnCleanup(t *testing.T, c *fsadtest.Cluster) {
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, n := range c.Nodes {
				if b, err := os.ReadFile(n.LogPath); err == nil {
					t.Logf("=== %s log (last 8000 bytes) ===\n%s", n.ID, tail(b, 8000))
				}
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (e *env) project(name string) *testapi.Project {
	var p testapi.Project
	_, err := e.w.Do(e.ctx, http.MethodPost, "/test/v1/projects", testapi.ProjectRequest{UserID: e.user, Name: name}, &p)
	require.NoError(e.t, err)
	return &p
}

func (e *env) action(what, projectID string) {
	_, err := e.w.Do(e.ctx, http.MethodPost, "/test/v1/projects/"+what, testapi.ProjectRequest{UserID: e.user, ProjectID: projectID}, nil)
	require.NoError(e.t, err)
}

// waitStatus waits until the project's sandbox and database both have status st.
func (e *env) waitStatus(id, st string) {
	e.t.Helper()
	var last testapi.Project
	ctx, cancel := context.WithTimeout(e.ctx, waitFor)
	defer cancel()
	err := fsadtest.Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		_, err := e.w.Do(ctx, http.MethodGet, "/test/v1/projects/"+id, nil, &last)
		return err == nil && last.SandboxStatus == st && last.DatabaseStatus == st, nil
	})
	require.NoError(e.t, err, "project %s: want %s, last seen %+v", id, st, last)
}

// load creates users through the leader until stop is closed and returns the acknowledged ids.
func (e *env) load(stop <-chan struct{}) <-chan []string {
	out := make(chan []string, 1)
	w := &fsadtest.Writer{C: e.c}
	go func() {
		var acked []string
		for i := 0; ; i++ {
			select {
			case <-stop:
				out <- acked
				return
			default:
			}
			ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
			id, err := w.CreateUser(ctx, fmt.Sprintf("load-%d", i))
			cancel()
			if err == nil {
				acked = append(acked, id)
			}
		}
	}()
	return out
}

// waitHolds waits until node n's local state holds every user in ids.
func (e *env) waitHolds(n *fsadtest.Node, ids []string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, waitFor)
	defer cancel()
	for _, id := range ids {
		err := fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
			err := n.Test().Do(ctx, http.MethodGet, "/test/v1/local/users/"+id, nil, nil)
			return err == nil, nil
		})
		require.NoError(e.t, err, "node %s lacks acknowledged user %s", n.ID, id)
	}
}

// waitLeader waits for a leader other than not whose term is above term.
func (e *env) waitLeader(not *fsadtest.Node, term uint64) (*fsadtest.Node, *fsav1.GetClusterStatusResponse) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, waitFor)
	defer cancel()
	var (
		n  *fsadtest.Node
		st *fsav1.GetClusterStatusResponse
	)
	err := fsadtest.Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		for node, s := range e.c.Status(ctx) {
			if node != not && s.State == "Leader" && s.Term > term && s.ReconcileRunning {
				n, st = node, s
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(e.t, err)
	return n, st
}

// requireSoleReconciler waits until every running node answers and exactly one of them runs
// reconcile: the leader, with a fence of at least minFence (leadership may move again on a
// loaded machine, but only forward).
func (e *env) requireSoleReconciler(minFence uint64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, waitFor)
	defer cancel()
	var last map[*fsadtest.Node]*fsav1.GetClusterStatusResponse
	err := fsadtest.Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		last = e.c.Status(ctx)
		if len(last) != len(e.c.Running()) {
			return false, nil
		}
		running := 0
		for _, s := range last {
			if s.ReconcileRunning {
				running++
				if s.State != "Leader" || s.ReconcileFence < minFence || s.ReconcileFence != s.Term {
					return false, nil
				}
			}
		}
		return running == 1, nil
	})
	require.NoError(e.t, err, "want exactly one node, the leader, running reconcile with fence >= %d; last: %v", minFence, last)
}

// audit records fsa's writes to the user's StatefulSets, Services and Ingresses.
type audit struct {
	mu     sync.Mutex
	events []write
	stop   func()
}

type write struct {
	rv     uint64
	object string
	epoch  uint64
	gen    int64
}

func (e *env) startAudit() *audit {
	e.t.Helper()
	a := &audit{}
	ctx, cancel := context.WithCancel(e.ctx)
	cs := e.kc.Clientset()
	ns := e.kuser.Namespace
	opts := metav1.ListOptions{LabelSelector: "", AllowWatchBookmarks: false}
	var watchers []watch.Interface
	for _, start := range []func() (watch.Interface, error){
		func() (watch.Interface, error) { return cs.AppsV1().StatefulSets(ns).Watch(ctx, opts) },
		func() (watch.Interface, error) { return cs.CoreV1().Services(ns).Watch(ctx, opts) },
		func() (watch.Interface, error) { return cs.NetworkingV1().Ingresses(ns).Watch(ctx, opts) },
	} {
		w, err := start()
		require.NoError(e.t, err)
		watchers = append(watchers, w)
	}
	var wg sync.WaitGroup
	for _, w := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				obj, ok := ev.Object.(metav1.Object)
				if !ok {
					continue
				}
				rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
				ep, _ := strconv.ParseUint(obj.GetAnnotations()[k8s.AnnotationEpoch], 10, 64)
				kind := fmt.Sprintf("%T", ev.Object)
				a.mu.Lock()
				a.events = append(a.events, write{rv: rv, object: kind + "/" + obj.GetName(), epoch: ep, gen: obj.GetGeneration()})
				a.mu.Unlock()
			}
		}()
	}
	a.stop = func() {
		cancel()
		for _, w := range watchers {
			w.Stop()
		}
		wg.Wait()
	}
	e.t.Cleanup(a.stop)
	return a
}

// check stops the audit and verifies, in etcd revision order, that once an object carries
// epoch newEpoch (the new leader's first write), no write by fsa (an event that changes an
// object's epoch annotation or its spec generation) carries an older epoch, and that no
// object's epoch ever goes down.
func (a *audit) check(t *testing.T, newEpoch uint64) {
	t.Helper()
	a.stop()
	a.mu.Lock()
	evs := append([]write(nil), a.events...)
	a.mu.Unlock()
	sort.Slice(evs, func(i, j int) bool { return evs[i].rv < evs[j].rv })
	type seen struct {
		epoch uint64
		gen   int64
	}
	last := map[string]seen{}
	firstNew := uint64(0)
	for _, ev := range evs {
		prev, had := last[ev.object]
		fsaWrite := !had || prev.epoch != ev.epoch || prev.gen != ev.gen
		if had {
			require.GreaterOrEqual(t, ev.epoch, prev.epoch, "epoch of %s went down at rv %d", ev.object, ev.rv)
		}
		if ev.epoch == newEpoch && firstNew == 0 {
			firstNew = ev.rv
		}
		if firstNew != 0 && fsaWrite && ev.epoch != 0 {
			require.GreaterOrEqual(t, ev.epoch, newEpoch, "stale write to %s at rv %d (epoch %d) after the new leader's first write at rv %d",
				ev.object, ev.rv, ev.epoch, firstNew)
		}
		last[ev.object] = seen{ev.epoch, ev.gen}
	}
	require.NotZero(t, firstNew, "the new leader (epoch %d) never wrote to Kubernetes; events: %d", newEpoch, len(evs))
}

func TestSIGKILLLeaderUnderLoad(t *testing.T) {
	e := newEnv(t, "kill")
	p1, p2 := e.project("one"), e.project("two")
	e.waitStatus(p1.ID, "RUNNING")
	e.waitStatus(p2.ID, "RUNNING")
	old, ost, err := e.c.Leader(e.ctx)
	require.NoError(t, err)
	a := e.startAudit()

	stop := make(chan struct{})
	acked := e.load(stop)
	// Let the load run a little: wait until some writes were acknowledged by watching the
	// leader's commit index move.
	require.NoError(t, fsadtest.Poll(e.ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := old.Status(e.ctx)
		return err == nil && st.CommitIndex > ost.CommitIndex+20, nil
	}))

	require.NoError(t, old.Kill())
	leader, lst := e.waitLeader(old, ost.Term)
	require.Greater(t, lst.Term, ost.Term)
	e.requireSoleReconciler(lst.Term)

	// Reconcile resumed on the new leader: stopping a project reaches Kubernetes.
	e.action("stop", p1.ID)
	e.waitStatus(p1.ID, "STOPPED")

	// The load saw the failover through; stop it once it has committed on the new leader too.
	require.NoError(t, fsadtest.Poll(e.ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := leader.Status(e.ctx)
		return err == nil && st.CommitIndex > lst.CommitIndex+20, nil
	}))
	close(stop)
	ids := <-acked
	require.NotEmpty(t, ids)
	for _, n := range e.c.Running() {
		e.waitHolds(n, ids)
	}

	// The killed node restarts on its data, rejoins as a follower and catches up.
	require.NoError(t, old.Start())
	e.waitHolds(old, ids)
	require.NoError(t, e.c.WaitHealthy(e.ctx, 3))
	e.requireSoleReconciler(lst.Term)

	a.check(t, lst.Term)
}

func TestPartitionedLeaderStops(t *testing.T) {
	e := newEnv(t, "part")
	p := e.project("one")
	e.waitStatus(p.ID, "RUNNING")
	old, ost, err := e.c.Leader(e.ctx)
	require.NoError(t, err)
	a := e.startAudit()

	require.NoError(t, old.Test().Do(e.ctx, http.MethodPost, "/test/v1/faults", testapi.Faults{Isolated: true}, nil))

	// The isolated leader cannot commit: a write sent to it fails (it steps down when its lease
	// runs out, and the write was never replicated).
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	err = old.Test().Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: "lost"}, nil)
	cancel()
	require.Error(t, err, "an isolated leader must not acknowledge a write")

	// Its reconcile stops; the majority elects a new leader that alone reconciles.
	require.NoError(t, fsadtest.Poll(e.ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := old.Status(e.ctx)
		return err == nil && st.State != "Leader" && !st.ReconcileRunning, nil
	}))
	_, lst := e.waitLeader(old, ost.Term)
	e.requireSoleReconciler(lst.Term)
	e.action("stop", p.ID)
	e.waitStatus(p.ID, "STOPPED")
	id, err := e.w.CreateUser(e.ctx, "during-partition")
	require.NoError(t, err)

	// Healed, the old leader follows and catches up.
	require.NoError(t, old.Test().Do(e.ctx, http.MethodPost, "/test/v1/faults", testapi.Faults{Isolated: false}, nil))
	e.waitHolds(old, []string{id})
	require.NoError(t, e.c.WaitHealthy(e.ctx, 3))
	e.requireSoleReconciler(lst.Term)

	a.check(t, lst.Term)
}

func TestAdminMembership(t *testing.T) {
	e := newEnv(t, "members")
	leader, _, err := e.c.Leader(e.ctx)
	require.NoError(t, err)
	var follower *fsadtest.Node
	for _, n := range e.c.Nodes {
		if n != leader {
			follower = n
			break
		}
	}
	// Followers refuse membership changes and name the leader's API address.
	_, err = follower.Cluster().RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: leader.ID}))
	require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "got %v", err)
	require.Equal(t, leader.URL(), notLeaderDetail(t, err).GetLeaderAddress())
	// A wrong token is refused.
	bad := fsav1connect.NewClusterServiceClient(http.DefaultClient, leader.URL())
	req := connect.NewRequest(&fsav1.GetClusterStatusRequest{})
	req.Header().Set("Authorization", "Bearer wrong")
	_, err = bad.GetClusterStatus(e.ctx, req)
	require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err), "got %v", err)
	// Unknown members cannot be removed.
	_, err = leader.Cluster().RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "nope"}))
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "got %v", err)

	// Remove a follower: the configuration shrinks and its record goes.
	_, err = leader.Cluster().RemoveNode(e.ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: follower.ID}))
	require.NoError(t, err)
	st, err := leader.Status(e.ctx)
	require.NoError(t, err)
	require.Len(t, st.Members, 2)
	require.NoError(t, follower.Stop(10*time.Second))

	// Planned handover between the two left.
	res, err := leader.Cluster().TransferLeadership(e.ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{}))
	require.NoError(t, err)
	newID := res.Msg.GetLeaderId()
	require.NotEqual(t, leader.ID, newID)
	next := e.c.Node(newID)
	require.NotNil(t, next)
	_, nst := e.waitLeader(leader, st.Term)
	e.requireSoleReconciler(nst.Term)

	// A new node joins through a follower, which points it at the leader.
	n4, err := e.c.Add(leader)
	require.NoError(t, err)
	require.NoError(t, e.c.WaitHealthy(e.ctx, 3))
	st4, err := n4.Status(e.ctx)
	require.NoError(t, err)
	require.Equal(t, "Follower", st4.State)
	require.Len(t, st4.Members, 3)
}

func TestGracefulShutdownHandsLeadershipOver(t *testing.T) {
	e := newEnv(t, "drain")
	old, ost, err := e.c.Leader(e.ctx)
	require.NoError(t, err)

	// SIGTERM: the leader transfers leadership before it stops, and exits 0.
	require.NoError(t, old.Stop(30*time.Second))
	log, err := os.ReadFile(old.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(log), "leadership transferred on shutdown")
	_, lst := e.waitLeader(old, ost.Term)
	e.requireSoleReconciler(lst.Term)
	id, err := e.w.CreateUser(e.ctx, "after-drain")
	require.NoError(t, err)

	require.NoError(t, old.Start())
	e.waitHolds(old, []string{id})
	require.NoError(t, e.c.WaitHealthy(e.ctx, 3))
}

// notLeaderDetail returns the NotLeaderError detail of a follower's Unavailable answer.
func notLeaderDetail(t *testing.T, err error) *fsav1.NotLeaderError {
	t.Helper()
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if nl, ok := v.(*fsav1.NotLeaderError); ok {
				return nl
			}
		}
	}
	t.Fatalf("no NotLeaderError detail in %v", err)
	return nil
}
