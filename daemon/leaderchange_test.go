package daemon_test

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
	"github.com/fullstackagent/fsa/k8s"
)

// countingProxy stands between fsad and the API server: the user's kubeconfig points at it, it
// forwards every request and counts it by verb and resource. It sees exactly what fsad asks of
// Kubernetes, apart from everything else that writes to the same objects (the StatefulSet
// controller's status updates, kwok, the KubeBlocks stand-in), which a watch on the objects
// could only tell apart by guessing from managedFields; and it counts requests, so an apply
// that changes nothing counts too (it costs the API server a decode and a merge all the same).
type countingProxy struct {
	srv *httptest.Server

	mu      sync.Mutex
	counts  map[string]int // "PATCH statefulsets", "WATCH pods", ...
	refused map[string]int // the same, for the requests answered 403 Forbidden
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter } // for Flush

func newCountingProxy(t *testing.T, kc *k8stest.Cluster) *countingProxy {
	t.Helper()
	cfg := kc.RESTConfig()
	target, err := url.Parse(cfg.Host)
	require.NoError(t, err)
	tlsCfg, err := rest.TLSConfigFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{
		CAData: cfg.CAData, CAFile: cfg.CAFile, Insecure: cfg.Insecure}})
	require.NoError(t, err)
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 32}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:     tr,
		FlushInterval: -1, // watches stream
	}
	p := &countingProxy{counts: map[string]int{}, refused: map[string]int{}}
	// TLS: clientcmd sends a kubeconfig's token to an https server only.
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := p.count(r)
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		if sw.code == http.StatusForbidden {
			p.mu.Lock()
			p.refused[key]++
			p.mu.Unlock()
		}
	}))
	p.srv.EnableHTTP2 = true
	p.srv.StartTLS()
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
		tr.CloseIdleConnections()
	})
	return p
}

// count records r as "VERB resource[/subresource]", and returns that key; GET is split into GET
// (one object), LIST and WATCH as the API server does.
func (p *countingProxy) count(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	resource, named := "other", false
	for i, s := range parts {
		if s == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			resource, named = rest[0], len(rest) > 1
			if len(rest) > 2 {
				resource += "/" + rest[2]
			}
			break
		}
	}
	verb := r.Method
	if verb == http.MethodGet {
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case !named:
			verb = "LIST"
		}
	}
	key := verb + " " + resource
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
	return key
}

// refusedCount returns how many requests of key ("PATCH statefulsets") were answered 403.
func (p *countingProxy) refusedCount(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused[key]
}

func (p *countingProxy) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// since returns the requests counted after snapshot s, writes (POST, PUT, PATCH, DELETE) and
// reads apart.
func (p *countingProxy) since(s map[string]int) (writes, reads map[string]int) {
	writes, reads = map[string]int{}, map[string]int{}
	for k, v := range p.snapshot() {
		d := v - s[k]
		if d == 0 {
			continue
		}
		switch verb, _, _ := strings.Cut(k, " "); verb {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			writes[k] = d
		default:
			reads[k] = d
		}
	}
	return writes, reads
}

func formatCounts(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// kubeconfig is the user's kubeconfig with its server replaced by the proxy.
func (p *countingProxy) kubeconfig(t *testing.T, kubeconfig []byte) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	require.NoError(t, err)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	for _, c := range cfg.Clusters {
		c.Server, c.CertificateAuthorityData, c.InsecureSkipTLSVerify = p.srv.URL, ca, false
	}
	out, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return out
}

// initialSync waits until node n, leading with reconcile running, reports that its runner has
// synced every sandbox and database it took over (fsa_reconcile_initial_sync_seconds > 0), and
// returns the runner's own account of how long that took.
func (e *env) initialSync(n *fsadtest.Node) time.Duration {
	e.t.Helper()
	v := e.waitMetric(n, "fsa_reconcile_initial_sync_seconds", func(v float64) bool { return v > 0 })
	return time.Duration(v * float64(time.Second))
}

// waitMetric waits until node n reports the unlabelled series name with a value ok accepts, and
// returns that value.
func (e *env) waitMetric(n *fsadtest.Node, name string, ok func(float64) bool) float64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, waitFor)
	defer cancel()
	var v float64
	err := fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/metrics", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if rest, found := strings.CutPrefix(sc.Text(), name+" "); found {
				v, _ = strconv.ParseFloat(rest, 64)
				return ok(v), nil
			}
		}
		return false, nil
	})
	require.NoError(e.t, err, "node %s never reported %s as wanted (last %v)", n.ID, name, v)
	return v
}

// noCacheStarts asserts that reads hold no LIST or WATCH request (client-go's informers list by
// a WATCH that sends the initial objects first): the caches a new leader reads had been started
// before it was elected (reconcile.Caches, on every node).
func noCacheStarts(t *testing.T, reads map[string]int) {
	t.Helper()
	for k, v := range reads {
		assert.False(t, strings.HasPrefix(k, "LIST ") || strings.HasPrefix(k, "WATCH "),
			"a new leader with warm caches asked %s (%d times)", k, v)
	}
}

// TestLeaderChangeWritesOnlyWhatDiffers runs RUNNING projects on three fsad processes, then
// changes the leader twice: a planned transfer, and a SIGKILL of the leader with one
// StatefulSet edited by hand before the new leader takes over. Until the new leader has synced
// every project, it must write nothing to an unchanged object (the epoch annotation, which
// differs after every election, is no reason to write), and it must repair the edited one. Its
// caches were kept warm while it followed (--reconcile-warm-caches): after the transfer it
// starts no list or watch.
func TestLeaderChangeWritesOnlyWhatDiffers(t *testing.T) {
	kc := k8stest.Env(t)
	proxy := newCountingProxy(t, kc) // stopped after the cluster: cleanups run last first
	n := 30
	if v, err := strconv.Atoi(os.Getenv("FSA_TEST_LEADER_CHANGE_PROJECTS")); err == nil && v > 0 {
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	// Election timeouts of 1 s instead of 300 ms: on a loaded machine the default lets a starved
	// leader step down on its own, and this test changes the leader when it means to.
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Args: []string{
		"--domain", "sandbox.fsa.test", "--raft-heartbeat-timeout=1s", "--raft-election-timeout=1s", "--raft-lease-timeout=500ms"}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	e := &env{t: t, ctx: ctx, kc: kc, kuser: kc.NewTestUser(t, "leaderchange"), c: c, w: &fsadtest.Writer{C: c}}
	var u testapi.User
	_, err = e.w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{
		Name: "leaderchange", Kubeconfig: string(proxy.kubeconfig(t, e.kuser.Kubeconfig))}, &u)
	require.NoError(t, err)
	e.user = u.ID

	projects := make([]*testapi.Project, n)
	for i := range projects {
		projects[i] = e.project(fmt.Sprintf("p%d", i))
	}
	for _, p := range projects {
		e.waitStatus(p.ID, "RUNNING")
	}
	cs := kc.Clientset()
	ns := e.kuser.Namespace
	epochs := func() map[string]string {
		sts, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: k8s.ManagedSelector})
		require.NoError(t, err)
		out := map[string]string{}
		for _, s := range sts.Items {
			out[s.Name] = s.Annotations[k8s.AnnotationEpoch]
		}
		return out
	}
	written := epochs()
	require.Len(t, written, n)

	// Every node, followers too, keeps the user's namespace cached (--reconcile-warm-caches).
	for _, n := range c.Running() {
		e.waitMetric(n, "fsa_reconcile_cache_namespaces_synced", func(v float64) bool { return v == 1 })
	}

	// 1. Planned transfer: nothing differs, so nothing is written, and nothing listed again.
	old, ost, err := c.Leader(ctx)
	require.NoError(t, err)
	snap := proxy.snapshot()
	_, err = old.Cluster().TransferLeadership(ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{}))
	require.NoError(t, err)
	leader, lst := e.waitLeader(old, ost.Term)
	took := e.initialSync(leader)
	writes, reads := proxy.since(snap)
	t.Logf("transfer %s → %s (term %d → %d): %d projects synced %v after the runner started; fsad's requests meanwhile: writes %s, reads %s",
		old.ID, leader.ID, ost.Term, lst.Term, n, took.Round(time.Millisecond), formatCounts(writes), formatCounts(reads))
	assert.Empty(t, writes, "Kubernetes writes after a planned transfer, with nothing changed")
	noCacheStarts(t, reads)

	// 2. SIGKILL of the leader, and a StatefulSet edited by hand before the next one takes over.
	snap = proxy.snapshot()
	require.NoError(t, leader.Kill())
	edited := projects[0].SandboxName
	_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, edited, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+k8s.LabelDeployManager+`":"edited"}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)
	next, nst := e.waitLeader(leader, lst.Term)
	took = e.initialSync(next)
	require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, edited, metav1.GetOptions{})
		return err == nil && s.Labels[k8s.LabelDeployManager] == edited, err
	}), "the edited StatefulSet is repaired")
	writes, reads = proxy.since(snap)
	t.Logf("SIGKILL of %s, %s leads (term %d): %d projects synced %v after the runner started; fsad's requests meanwhile: writes %s, reads %s",
		leader.ID, next.ID, nst.Term, n, took.Round(time.Millisecond), formatCounts(writes), formatCounts(reads))
	assert.Equal(t, map[string]int{"PATCH statefulsets": 1}, writes, "Kubernetes writes after a SIGKILL: the repair only")
	// Its reads: the repair's (it reads the StatefulSet and its pods from the API server).

	// The repair carries the new leader's epoch; every other object keeps the epoch of its
	// last real write.
	now := epochs()
	for name, ep := range now {
		if name == edited {
			assert.Equal(t, strconv.FormatUint(nst.Term, 10), ep, "%s: repaired with the new epoch", name)
			continue
		}
		assert.Equal(t, written[name], ep, "%s: unchanged, so not rewritten", name)
	}
}
