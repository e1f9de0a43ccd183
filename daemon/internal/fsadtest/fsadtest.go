// Package fsadtest runs clusters of real fsad processes on 127.0.0.1 for the daemon's
// multi-process tests and the failover benchmark: build the binary, start N nodes (the first
// bootstraps, the others join through it), kill or stop any of them, restart them on the same
// data directory and ports, and write through a client that follows the leader.
//
// Every node runs with the test-only endpoints (/test/v1/) and the fault switch enabled, in its
// own process group, with Pdeathsig on Linux so a crashed test leaves no daemon behind. Logs go
// to <Dir>/<id>.log.
package fsadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fullstackagent/fsa/daemon"
)

// Build compiles fsad into dir and returns the binary's path. It must run inside the module.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "fsad")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/fullstackagent/fsa/daemon/cmd/fsad")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build fsad: %w\n%s", err, out)
	}
	return bin, nil
}

// Options configures a cluster.
type Options struct {
	// Bin is the fsad binary (from Build). Required.
	Bin string
	// Dir holds each node's data directory and log. Required.
	Dir string
	// Nodes is the cluster size (3 by default).
	Nodes int
	// Token is the admin token ("test-admin-token" by default).
	Token string
	// Args are extra flags for every node (e.g. --domain, --raft-heartbeat-timeout).
	Args []string
	// Env is extra environment for every node.
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

// Start starts a cluster and waits until every node is a member and knows the leader.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Token == "" {
		opts.Token = "test-admin-token"
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * opts.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	for i := 0; i < opts.Nodes; i++ {
		id := fmt.Sprintf("n%d", i+1)
		n := &Node{
			ID: id, API: ports[2*i], Raft: ports[2*i+1],
			DataDir: filepath.Join(opts.Dir, id), LogPath: filepath.Join(opts.Dir, id+".log"),
			c: c,
		}
		if i == 0 {
			n.Bootstrap = true
		} else {
			n.Join = []string{"http://" + ports[0]}
		}
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitHealthy(ctx, opts.Nodes); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Add starts a new, empty node that joins the cluster through via's API (via may be a
// follower: the joiner follows its leader hint).
func (c *Cluster) Add(via *Node) (*Node, error) {
	ports, err := freePorts(2)
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
func (c *Cluster) Status(ctx context.Context) map[*Node]daemon.ClusterStatus {
	out := map[*Node]daemon.ClusterStatus{}
	for _, n := range c.Running() {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := n.Admin().Status(cctx)
		cancel()
		if err == nil {
			out[n] = st
		}
	}
	return out
}

// Leader waits until a running node reports itself leader with its reconcile loops running, and
// every other running node that answers agrees (same leader, same term).
func (c *Cluster) Leader(ctx context.Context) (*Node, daemon.ClusterStatus, error) {
	var (
		leader *Node
		lst    daemon.ClusterStatus
	)
	err := Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		sts := c.Status(ctx)
		leader = nil
		for n, st := range sts {
			if st.State == "Leader" && st.Reconcile.Running {
				leader, lst = n, st
			}
		}
		if leader == nil {
			return false, nil
		}
		for _, st := range sts {
			if st.LeaderID != leader.ID || st.Term != lst.Term {
				return false, nil
			}
		}
		return true, nil
	})
	return leader, lst, err
}

// WaitHealthy waits until a leader runs reconcile, the configuration has members voters, and
// every running node has applied everything the leader had committed when the wait began.
func (c *Cluster) WaitHealthy(ctx context.Context, members int) error {
	leader, lst, err := c.Leader(ctx)
	if err != nil {
		return fmt.Errorf("wait for a leader: %w", err)
	}
	return Poll(ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := leader.Admin().Status(ctx)
		if err != nil || len(st.Members) != members {
			return false, nil
		}
		for _, m := range st.Members {
			if !m.Voter || m.APIAddress == "" {
				return false, nil
			}
		}
		for _, n := range c.Running() {
			s, err := n.Admin().Status(ctx)
			if err != nil || s.AppliedIndex < lst.CommitIndex || s.LeaderID == "" {
				return false, nil
			}
		}
		return true, nil
	})
}

// URL is the node's API base URL.
func (n *Node) URL() string { return "http://" + n.API }

// Admin returns an admin client of the node.
func (n *Node) Admin() *daemon.AdminClient {
	return &daemon.AdminClient{BaseURL: n.URL(), Token: n.c.opts.Token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// Args returns the node's command line.
func (n *Node) Args() []string {
	args := []string{
		"--data-dir", n.DataDir, "--listen", n.API, "--raft-addr", n.Raft, "--node-id", n.ID,
		"--enable-test-endpoints", "--fault-control", "--log-level", "debug",
	}
	if n.Bootstrap {
		args = append(args, "--bootstrap")
	}
	for _, j := range n.Join {
		args = append(args, "--join", j)
	}
	return append(args, n.c.opts.Args...)
}

// Start starts the node's process (again, after Kill or Stop).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("node %s already running", n.ID)
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

func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
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
	hops := 0
	for i := 0; ; i++ {
		n := w.pick(i)
		if n == nil {
			return nil, errors.New("no running node")
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.Admin().Do(cctx, method, path, in, out)
		cancel()
		if err == nil {
			return n, nil
		}
		var ce *daemon.CallError
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
	var u daemon.TestUser
	_, err := w.Do(ctx, http.MethodPost, "/test/v1/users", daemon.TestUserRequest{Name: name}, &u)
	return u.ID, err
}
