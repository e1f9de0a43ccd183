// Package fsadtest runs real fsad processes on loopback addresses: the one launcher of the
// multi-process tests, the demo (`make run`, `make run-cluster`) and the benchmarks. It builds
// the binary, starts N nodes (one node runs without Raft on its embedded bbolt store; of
// several, the first bootstraps and the others join through it), kills or stops any of them,
// restarts them on the same data directory and ports, reads their status through the RPC
// ClusterService with the admin token, and writes through the test endpoints of the test build
// while following the leader.
//
// Every node runs in its own process group, with Pdeathsig on Linux so a crashed test leaves no
// daemon behind. Logs go to <Dir>/<id>.log. A directory kept from an earlier start is reused:
// a node with state ignores --bootstrap and its join is idempotent.
package fsadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/internal/devenv/repo"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
)

// Build compiles the test build of fsad (-tags fsadtest: with the test endpoints of
// internal/devenv/testapi) into dir and returns the binary's path. It must run inside the
// repository (the main module or the bench module).
func Build(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "fsad-test", "-tags", "fsadtest")
}

// BuildProduction compiles fsad as it ships (no test endpoint) into dir.
func BuildProduction(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "fsad")
}

func build(ctx context.Context, dir, name string, flags ...string) (string, error) {
	// In the main module, whose go.sum covers fsad (the bench module's does not).
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	args := append(append([]string{"build"}, flags...), "-o", bin, "github.com/fullstackagent/fsa/daemon/cmd/fsad")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// Options configures a cluster.
type Options struct {
	// Bin is the fsad binary (from Build or BuildProduction). Required.
	Bin string
	// Dir holds each node's data directory and log. Required; reused if it exists.
	Dir string
	// Nodes is the cluster size (3 by default). One node runs without Raft.
	Nodes int
	// IDs names the nodes (n1, n2, ... by default); if set, len(IDs) is the cluster size.
	IDs []string
	// Hosts, if set, gives each node its own loopback address (len(Hosts) == Nodes), all with
	// the same APIPort and RaftPort; by default every node is on Host with free ports.
	Hosts             []string
	APIPort, RaftPort int
	// Host is the loopback address of every node when Hosts is empty (127.0.0.1 by default).
	Host string
	// Token is the admin token ("test-admin-token" by default). A secret: put in the nodes'
	// environment, never on a command line.
	Token string
	// Args are extra flags for every node (e.g. --domain, --raft-heartbeat-timeout).
	Args []string
	// Env is extra environment for every node (e.g. FSA_SIGNING_KEY=..., shared by all).
	Env []string
}

// Cluster is a set of fsad processes.
type Cluster struct {
	opts  Options
	Nodes []*Node
}

// Node is one fsad process, restartable on the same ports and data directory.
type Node struct {
	ID        string
	API       string // host:port
	Raft      string // host:port
	DataDir   string
	LogPath   string
	Bootstrap bool
	Join      []string

	c *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
}

// Start starts a cluster and waits until every node is a member and knows the leader, and the
// leader runs its reconcile loops.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitHealthy(ctx, len(c.Nodes)); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w (logs in %s)", err, opts.Dir)
	}
	return c, nil
}

// New lays out a cluster without starting it.
func New(opts Options) (*Cluster, error) {
	if opts.Bin == "" || opts.Dir == "" {
		return nil, errors.New("fsadtest: Options.Bin and Options.Dir are required")
	}
	if len(opts.IDs) > 0 {
		opts.Nodes = len(opts.IDs)
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	for len(opts.IDs) < opts.Nodes {
		opts.IDs = append(opts.IDs, fmt.Sprintf("n%d", len(opts.IDs)+1))
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Token == "" {
		opts.Token = "test-admin-token"
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	addrs, err := opts.addresses()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	for i, id := range opts.IDs {
		n := &Node{
			ID: id, API: addrs[2*i], DataDir: filepath.Join(opts.Dir, id), LogPath: filepath.Join(opts.Dir, id+".log"),
			c: c,
		}
		if opts.Nodes > 1 {
			n.Raft = addrs[2*i+1]
			if i == 0 {
				n.Bootstrap = true
			} else {
				n.Join = []string{"http://" + addrs[0]}
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	// Every joiner may join through any member, so that one stopped node does not keep the
	// others from rejoining after a restart.
	for _, n := range c.Nodes[1:] {
		for _, m := range c.Nodes {
			if m != n && m.ID != c.Nodes[0].ID {
				n.Join = append(n.Join, m.URL())
			}
		}
	}
	return c, nil
}

// addresses returns an API and a Raft address per node.
func (o Options) addresses() ([]string, error) {
	if len(o.Hosts) == 0 {
		return freePorts(o.Host, 2*o.Nodes)
	}
	if len(o.Hosts) != o.Nodes || o.APIPort == 0 || (o.Nodes > 1 && o.RaftPort == 0) {
		return nil, fmt.Errorf("fsadtest: %d hosts for %d nodes (and the API port, and for several nodes the Raft port, are required)", len(o.Hosts), o.Nodes)
	}
	var out []string
	for _, h := range o.Hosts {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(o.APIPort)), net.JoinHostPort(h, strconv.Itoa(o.RaftPort)))
	}
	return out, nil
}

// Add starts a new, empty node that joins the cluster through via's API (via may be a
// follower: the joiner follows its leader hint).
func (c *Cluster) Add(via *Node) (*Node, error) {
	ports, err := freePorts(c.opts.Host, 2)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("n%d", len(c.Nodes)+1)
	n := &Node{
		ID: id, API: ports[0], Raft: ports[1], Join: []string{via.URL()},
		DataDir: filepath.Join(c.opts.Dir, id), LogPath: filepath.Join(c.opts.Dir, id+".log"), c: c,
	}
	c.Nodes = append(c.Nodes, n)
	return n, n.Start()
}

// Token returns the admin token.
func (c *Cluster) Token() string { return c.opts.Token }

// Close stops every running node (SIGTERM, then SIGKILL after 10 s).
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = n.Stop(10 * time.Second)
		}()
	}
	wg.Wait()
}

// Node returns the node with the given id or API address, or nil.
func (c *Cluster) Node(idOrAPI string) *Node {
	for _, n := range c.Nodes {
		if n.ID == idOrAPI || n.API == idOrAPI {
			return n
		}
	}
	return nil
}

// Running returns the nodes whose process runs.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// Status asks every running node for its status; nodes that do not answer are left out.
func (c *Cluster) Status(ctx context.Context) map[*Node]*fsav1.GetClusterStatusResponse {
	out := map[*Node]*fsav1.GetClusterStatusResponse{}
	for _, n := range c.Running() {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := n.Status(cctx)
		cancel()
		if err == nil {
			out[n] = st
		}
	}
	return out
}

// Leader waits until a running node reports itself leader with its reconcile loops running, and
// every other running node that answers agrees (same leader, same term).
func (c *Cluster) Leader(ctx context.Context) (*Node, *fsav1.GetClusterStatusResponse, error) {
	var (
		leader *Node
		lst    *fsav1.GetClusterStatusResponse
	)
	err := Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		sts := c.Status(ctx)
		leader = nil
		for n, st := range sts {
			if (st.GetState() == "Leader" || st.GetState() == "Single") && st.GetReconcileRunning() {
				leader, lst = n, st
			}
		}
		if leader == nil {
			return false, nil
		}
		for _, st := range sts {
			if st.GetLeaderId() != leader.ID || st.GetTerm() != lst.GetTerm() {
				return false, nil
			}
		}
		return true, nil
	})
	return leader, lst, err
}

// WaitHealthy waits until a leader runs reconcile, the configuration has members voters with
// their API addresses recorded, and every running node has applied everything the leader had
// committed when the wait began.
func (c *Cluster) WaitHealthy(ctx context.Context, members int) error {
	leader, lst, err := c.Leader(ctx)
	if err != nil {
		return fmt.Errorf("wait for a leader: %w", err)
	}
	return Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := leader.Status(ctx)
		if err != nil || len(st.GetMembers()) != members {
			return false, nil
		}
		for _, m := range st.GetMembers() {
			if m.GetSuffrage() != fsav1.Suffrage_SUFFRAGE_VOTER || m.GetApiAddress() == "" {
				return false, nil
			}
		}
		for _, n := range c.Running() {
			s, err := n.Status(ctx)
			if err != nil || s.GetAppliedIndex() < lst.GetCommitIndex() || s.GetLeaderId() == "" {
				return false, nil
			}
		}
		return true, nil
	})
}

// URL is the node's API base URL.
func (n *Node) URL() string { return "http://" + n.API }

// Cluster returns a ClusterService client of the node that presents the admin token.
func (n *Node) Cluster() fsav1connect.ClusterServiceClient {
	hc := &http.Client{Timeout: 5 * time.Second}
	return fsav1connect.NewClusterServiceClient(hc, n.URL(), connect.WithInterceptors(bearer(n.c.opts.Token)))
}

// Status asks the node for its view of the cluster.
func (n *Node) Status(ctx context.Context) (*fsav1.GetClusterStatusResponse, error) {
	res, err := n.Cluster().GetClusterStatus(ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Test returns a client of the node's test endpoints (the test build only).
func (n *Node) Test() *testapi.Client {
	return &testapi.Client{BaseURL: n.URL(), Token: n.c.opts.Token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// PID is the node's process id, 0 when it does not run.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Exited is closed when the node's current process exits (nil when it does not run).
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

// Args returns the node's command line.
func (n *Node) Args() []string {
	args := []string{"--data-dir", n.DataDir, "--listen", n.API, "--node-id", n.ID, "--log-level", "debug"}
	if n.Raft != "" {
		args = append(args, "--raft-addr", n.Raft)
	}
	if n.Bootstrap {
		args = append(args, "--bootstrap")
	}
	if len(n.Join) > 0 {
		args = append(args, "--join", strings.Join(n.Join, ","))
	}
	return append(args, n.c.opts.Args...)
}

// Start starts the node's process (again, after Kill or Stop).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.exited: // exited on its own (killed from outside): start it again
		default:
			return fmt.Errorf("node %s already running", n.ID)
		}
	}
	lf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.c.opts.Bin, n.Args()...)
	cmd.Env = append(append(os.Environ(), "FSA_ADMIN_TOKEN="+n.c.opts.Token), n.c.opts.Env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = lf.Close()
		close(exited)
	}()
	n.cmd, n.exited, n.logf = cmd, exited, lf
	return nil
}

// Running reports whether the node's process was started and has not exited.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the node's process group and waits for the process to exit.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills the process.
func (n *Node) Stop(grace time.Duration) error { return n.signal(syscall.SIGTERM, grace) }

func (n *Node) signal(sig syscall.Signal, grace time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	if sig != syscall.SIGKILL {
		t := time.NewTimer(grace)
		select {
		case <-exited:
		case <-t.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		t.Stop()
	} else {
		<-exited
	}
	n.mu.Lock()
	n.cmd, n.exited = nil, nil
	n.mu.Unlock()
	if !cmd.ProcessState.Success() && sig != syscall.SIGKILL {
		return fmt.Errorf("node %s exited: %s", n.ID, cmd.ProcessState)
	}
	return nil
}

// Poll calls cond every interval until it returns true or an error, or ctx ends.
func Poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func freePorts(host string, n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Writer sends test-endpoint calls to the leader, following the leader hints of followers and
// moving to another running node when the one it uses does not answer.
type Writer struct {
	C *Cluster
	// Retry is the pause between failed attempts (5 ms by default).
	Retry time.Duration

	mu     sync.Mutex
	target *Node
}

// Do sends the call until a node answers other than "not the leader" or "unreachable", or ctx
// ends. It returns the node that answered.
func (w *Writer) Do(ctx context.Context, method, path string, in, out any) (*Node, error) {
	retry := w.Retry
	if retry == 0 {
		retry = 5 * time.Millisecond
	}
	if method != http.MethodGet {
		// One key for every attempt: an attempt that timed out after its write committed is
		// answered again, not refused by its own effect.
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		ctx = testapi.WithRetryKey(ctx, hex.EncodeToString(b[:]))
	}
	hops := 0
	for i := 0; ; i++ {
		n := w.pick(i)
		if n == nil {
			return nil, errors.New("no running node")
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.Test().Do(cctx, method, path, in, out)
		cancel()
		if err == nil {
			return n, nil
		}
		var ce *testapi.CallError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &ce) && ce.Code == http.StatusServiceUnavailable:
			if w.follow(ce.LeaderAPIAddress, n) && hops < 3 {
				hops++
				continue // a leader hint: go there at once (a few times in a row at most)
			}
		case errors.As(err, &ce):
			return n, err // a real answer
		default: // unreachable, timed out
			_ = w.follow("", n)
		}
		hops = 0
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (w *Writer) pick(i int) *Node {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.target != nil && w.target.Running() {
		return w.target
	}
	run := w.C.Running()
	if len(run) == 0 {
		return nil
	}
	w.target = run[i%len(run)]
	return w.target
}

// follow moves to the hinted leader (reporting true), or away from failed when there is no
// usable hint.
func (w *Writer) follow(hint string, failed *Node) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.C.Node(hint); hint != "" && n != nil && n != failed && n.Running() {
		w.target = n
		return true
	}
	run := w.C.Running()
	w.target = nil
	for i, n := range run {
		if n == failed {
			w.target = run[(i+1)%len(run)]
		}
	}
	return false
}

// CreateUser creates a user through the leader and returns its id.
func (w *Writer) CreateUser(ctx context.Context, name string) (string, error) {
	var u testapi.User
	_, err := w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: name}, &u)
	return u.ID, err
}

// bearer adds a bearer token to every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
