// Command fsa-run-cluster is what `make run-cluster` runs: the `make run` demo with a
// three-node fsad cluster instead of one node, for watching failover.
//
// It starts a local Kubernetes control plane with the KubeBlocks stand-in (unless -kubeconfig or
// $KUBECONFIG points at a real cluster), then three fsad processes on the loopback addresses
// 127.0.0.1, 127.0.0.2 and 127.0.0.3 (same API and Raft ports on each; Linux routes all of
// 127.0.0.0/8 to lo): n1 bootstraps, n2 and n3 join through any live member. All three share a
// session signing key and an admin token, kept in -dir (files signing-key and admin-token, mode
// 0600; never printed). It signs up a demo user through the leader (the client follows the
// followers' leader hints), creates a demo project and shows it going CREATING → RUNNING.
//
// Then it prints a status line whenever the cluster changes: the leader, the term and, per node,
// its address, PID and Raft state, read from each node's /admin/v1/cluster/status. Kill any node
// (`kill -9 <pid>`) and watch another take over; a node that exits is started again on its data
// directory after -restart-after (0: never) and rejoins. Ctrl-C stops everything. State is kept in
// -dir, so a second run reuses the cluster, the demo user and the project.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

type options struct {
	dir          string
	fsad         string
	hosts        []string // one loopback address per node
	apiPort      int
	raftPort     int
	kubeconfig   string // a real cluster's user kubeconfig (namespace-scoped); empty: local control plane
	domain       string
	project      string
	once         bool          // exit once the project runs (scripts)
	timeout      time.Duration // bound on the demo project reaching RUNNING
	poll         time.Duration // status poll period
	restartAfter time.Duration // restart a node that exited after this long; 0: never
}

const (
	demoUser     = "demo"
	demoPassword = "demo-password"
)

func main() {
	var o options
	var hosts string
	flag.StringVar(&o.dir, "dir", ".cache/run-cluster", "state directory (node data, signing key, admin token, logs)")
	flag.StringVar(&o.fsad, "fsad", ".cache/bin/fsad", "the fsad binary")
	flag.StringVar(&hosts, "hosts", "127.0.0.1,127.0.0.2,127.0.0.3", "comma-separated addresses, one per node")
	flag.IntVar(&o.apiPort, "api-port", 8080, "API port of every node")
	flag.IntVar(&o.raftPort, "raft-port", 9080, "Raft port of every node")
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "use this real cluster (a namespace-scoped kubeconfig with KubeBlocks installed) instead of a local control plane")
	flag.StringVar(&o.domain, "domain", "sandbox.localtest.me", "parent domain of the sandbox ingress hosts")
	flag.StringVar(&o.project, "project", "Demo App", "name of the demo project")
	flag.BoolVar(&o.once, "once", false, "exit once the demo project is RUNNING and a leader is known")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the demo project")
	flag.DurationVar(&o.poll, "poll", 500*time.Millisecond, "how often to ask the nodes for their status")
	flag.DurationVar(&o.restartAfter, "restart-after", 10*time.Second, "start a node that exited again after this long (0: never)")
	flag.Parse()
	o.hosts = splitList(hosts)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "fsa-run-cluster:", err)
		os.Exit(1)
	}
}

// printer writes timestamped lines; safe for concurrent use.
type printer struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (p *printer) step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *printer) raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.out, s)
}

func run(ctx context.Context, out io.Writer, o options) (err error) {
	if len(o.hosts) < 1 {
		return errors.New("no hosts")
	}
	pr := &printer{out: out, start: time.Now()}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	var wg sync.WaitGroup // the stand-in
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
		pr.step("stopped")
	}()

	// 1. Kubernetes.
	var kubeconfig []byte
	if o.kubeconfig != "" {
		if kubeconfig, err = os.ReadFile(o.kubeconfig); err != nil {
			return fmt.Errorf("read kubeconfig: %w", err)
		}
		pr.step("using the cluster of %s", o.kubeconfig)
	} else {
		pr.step("starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
		startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
		cp, err := k8stest.Start(startCtx, k8stest.Options{Dir: filepath.Join(o.dir, "cluster"), KeepDir: true})
		cancelStart()
		if err != nil {
			return fmt.Errorf("start control plane: %w", err)
		}
		defer func() {
			if err := cp.Stop(); err != nil {
				pr.step("stop control plane: %v", err)
			}
		}()
		cl := cp.Cluster()
		standinCtx, stopStandin := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = kbstandin.Run(standinCtx, cl.Dynamic(), cl.Clientset(), kbstandin.Options{})
		}()
		// Stop the stand-in before the control plane (deferred calls run last-in first-out).
		defer func() {
			stopStandin()
			wg.Wait()
		}()
		pr.step("control plane ready; KubeBlocks stand-in running (admin kubeconfig: %s)", cp.KubeconfigPath())
		u, err := cl.NewUser(ctx, demoUser)
		if err != nil {
			return fmt.Errorf("demo user namespace: %w", err)
		}
		kubeconfig = u.Kubeconfig
		pr.step("namespace %s with a ServiceAccount-token kubeconfig for the demo user", u.Namespace)
	}

	// 2. Three fsad nodes.
	key, err := secretFile(filepath.Join(o.dir, "signing-key"), "run1:")
	if err != nil {
		return err
	}
	token, err := secretFile(filepath.Join(o.dir, "admin-token"), "")
	if err != nil {
		return err
	}
	c := newCluster(o, pr, key, token)
	if err := c.start(ctx); err != nil {
		c.stop()
		return err
	}
	defer c.stop()
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	st, err := c.waitLeader(waitCtx, len(c.nodes))
	cancelWait()
	if err != nil {
		return fmt.Errorf("no healthy cluster (logs: %s/n*.log): %w", o.dir, err)
	}
	pr.step("cluster of %d nodes; leader %s, term %d", len(c.nodes), st.LeaderID, st.Term)

	// 3. Demo user, kubeconfig, project, through whichever node leads.
	client, err := fsaclient.New(c.urls())
	if err != nil {
		return err
	}
	sess, err := login(ctx, client)
	if err != nil {
		return err
	}
	client.SetToken(sess)
	if _, err := client.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: string(kubeconfig)})); err != nil {
		return fmt.Errorf("set kubeconfig: %w", err)
	}
	p, err := demoProject(ctx, client, o.project)
	if err != nil {
		return err
	}
	pr.step("signed in as %q (via %s); project %q (%s)", demoUser, client.Endpoint(), p.GetName(), p.GetId())

	// The status line runs from here on: follow the project and the cluster at once.
	statusCtx, stopStatus := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		c.watchStatus(statusCtx)
	}()
	defer func() {
		stopStatus()
		swg.Wait()
	}()

	waitCtx, cancelWait = context.WithTimeout(ctx, o.timeout)
	p, err = follow(waitCtx, pr, client, p.GetId())
	cancelWait()
	if err != nil {
		return err
	}
	pr.raw(summary(o, c, p))
	if o.once {
		return nil
	}
	<-ctx.Done()
	pr.step("shutting down")
	return nil
}

func summary(o options, c *cluster, p *fsav1.Project) string {
	var b strings.Builder
	urls := c.urls()
	fmt.Fprintf(&b, "\nfsa is running on %d nodes.\n", len(c.nodes))
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "  %s  API %s  raft %s  log %s\n", n.id, n.url(), n.raft, n.logPath)
	}
	fmt.Fprintf(&b, `  app           %[1]s
  terminal      %[2]s   (open it through the console: it needs a fresh ticket)
  web console   %[3]s/ui   (user %[4]q, password %[5]q)

Watch failover: kill the leader's process (kill -9 <pid>, PIDs on the status lines) and see
another node take over within a second; it comes back after %[7]v (-restart-after).

Try:
  export FSA_ADMIN_TOKEN=$(cat %[6]s/admin-token)
  curl -H "Authorization: Bearer $FSA_ADMIN_TOKEN" %[3]s/admin/v1/cluster/status
  curl -H "Authorization: Bearer $FSA_ADMIN_TOKEN" -d '{}' <leader API>/admin/v1/cluster/transfer
  go run ./clients/cmd/fsactl --endpoint %[8]s login --username %[4]s --password %[5]s
  go run ./clients/cmd/fsactl --endpoint %[8]s project list
`, p.GetSandbox().GetAppUrl(), p.GetSandbox().GetTerminalUrl(), urls[0], demoUser, demoPassword,
		o.dir, o.restartAfter, strings.Join(urls, ","))
	if !o.once {
		b.WriteString("\nCtrl-C stops everything.\n")
	}
	return b.String()
}

// secretFile returns the secret kept in path, making a random one (with prefix) the first time.
func secretFile(path, prefix string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	v := prefix + base64.RawURLEncoding.EncodeToString(secret)
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

// cluster is the three fsad processes.
type cluster struct {
	o     options
	pr    *printer
	key   string // session signing key (secret)
	token string // admin token (secret)
	nodes []*node

	bg   context.Context // supervisors' context: ends at stop
	halt context.CancelFunc
	wg   sync.WaitGroup // supervisors
}

type node struct {
	id, api, raft    string
	dataDir, logPath string
	bootstrap        bool

	mu  sync.Mutex
	pid int // 0 when not running
}

func (n *node) url() string { return "http://" + n.api }

func (n *node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid
}

func newCluster(o options, pr *printer, key, token string) *cluster {
	c := &cluster{o: o, pr: pr, key: key, token: token}
	for i, h := range o.hosts {
		id := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, &node{
			id:        id,
			api:       net.JoinHostPort(h, strconv.Itoa(o.apiPort)),
			raft:      net.JoinHostPort(h, strconv.Itoa(o.raftPort)),
			dataDir:   filepath.Join(o.dir, id),
			logPath:   filepath.Join(o.dir, id+".log"),
			bootstrap: i == 0,
		})
	}
	return c
}

func (c *cluster) urls() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.url())
	}
	return out
}

// args is node n's command line: n1 bootstraps (ignored once it has state); the others join
// through every other member, so a restart works whichever node is down.
func (c *cluster) args(n *node) []string {
	args := []string{"--data-dir", n.dataDir, "--listen", n.api, "--raft-addr", n.raft, "--node-id", n.id,
		"--domain", c.o.domain, "--log-format", "text", "--reconcile-workers", "8", "--shutdown-timeout", "5s"}
	if n.bootstrap {
		return append(args, "--bootstrap")
	}
	var join []string
	for _, m := range c.nodes {
		if m != n {
			join = append(join, m.url())
		}
	}
	return append(args, "--join", strings.Join(join, ","))
}

// start launches every node, each under a supervisor that restarts it when it exits.
func (c *cluster) start(ctx context.Context) error {
	c.bg, c.halt = context.WithCancel(context.WithoutCancel(ctx))
	for _, n := range c.nodes {
		started := make(chan error, 1)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.supervise(n, started)
		}()
		if err := <-started; err != nil {
			return err
		}
	}
	return nil
}

// stop ends the supervisors, which stop their processes (SIGTERM, SIGKILL after 10 s).
func (c *cluster) stop() {
	if c.halt == nil {
		return
	}
	c.halt()
	c.wg.Wait()
}

// supervise runs n's process until c.bg ends, starting it again -restart-after an exit. The
// first start's result goes to started.
func (c *cluster) supervise(n *node, started chan<- error) {
	for first := true; ; first = false {
		cmd, exited, err := c.launch(n)
		if first {
			started <- err
		}
		if err != nil {
			if !first {
				c.pr.step("%s: restart failed: %v", n.id, err)
			}
			return
		}
		if !first {
			c.pr.step("%s restarted, pid %d", n.id, cmd.Process.Pid)
		}
		select {
		case <-c.bg.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			t := time.NewTimer(10 * time.Second)
			select {
			case <-exited:
			case <-t.C:
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			t.Stop()
			n.setPID(0)
			return
		case werr := <-exited:
			n.setPID(0)
			if c.o.restartAfter <= 0 {
				c.pr.step("%s (pid %d) exited: %v; not restarting (-restart-after 0; log %s)", n.id, cmd.Process.Pid, werr, n.logPath)
				<-c.bg.Done()
				return
			}
			c.pr.step("%s (pid %d) exited: %v; restarting in %v (log %s)", n.id, cmd.Process.Pid, werr, c.o.restartAfter, n.logPath)
			t := time.NewTimer(c.o.restartAfter)
			select {
			case <-c.bg.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (n *node) setPID(pid int) {
	n.mu.Lock()
	n.pid = pid
	n.mu.Unlock()
}

// launch starts n's process; exited receives its Wait result.
func (c *cluster) launch(n *node) (*exec.Cmd, <-chan error, error) {
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(c.o.fsad, c.args(n)...)
	// Secrets travel in the environment, never on the command line (visible in ps).
	cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY="+c.key, "FSA_ADMIN_TOKEN="+c.token)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, nil, fmt.Errorf("start %s (build fsad with `make fsad`): %w", n.id, err)
	}
	n.setPID(cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { // ends when the process exits; supervise always waits for it
		err := cmd.Wait()
		_ = lf.Close()
		exited <- err
	}()
	return cmd, exited, nil
}

// nodeView is one node's answer to a status poll.
type nodeView struct {
	n   *node
	pid int
	st  daemon.ClusterStatus
	err error
}

func (c *cluster) poll(ctx context.Context) []nodeView {
	views := make([]nodeView, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := nodeView{n: n, pid: n.PID()}
			if v.pid == 0 {
				v.err = errors.New("not running")
			} else {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				ac := &daemon.AdminClient{BaseURL: n.url(), Token: c.token, HTTP: &http.Client{Timeout: time.Second}}
				v.st, v.err = ac.Status(cctx)
				cancel()
			}
			views[i] = v
		}()
	}
	wg.Wait()
	return views
}

// leaderOf returns the leader the nodes agree on: a node that says it leads and runs reconcile,
// with the highest term. ok is false while there is none (an election).
func leaderOf(views []nodeView) (st daemon.ClusterStatus, ok bool) {
	for _, v := range views {
		if v.err == nil && v.st.State == "Leader" && v.st.Reconcile.Running && (!ok || v.st.Term > st.Term) {
			st, ok = v.st, true
		}
	}
	return st, ok
}

// waitLeader waits until a leader runs reconcile with members voters, each with its API address.
func (c *cluster) waitLeader(ctx context.Context, members int) (daemon.ClusterStatus, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if st, ok := leaderOf(c.poll(ctx)); ok && len(st.Members) == members {
			complete := true
			for _, m := range st.Members {
				complete = complete && m.Voter && m.APIAddress != ""
			}
			if complete {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return daemon.ClusterStatus{}, ctx.Err()
		case <-t.C:
		}
	}
}

// statusLine renders the cluster as one line, e.g.
//
//	cluster: leader n1 term 2 | n1 127.0.0.1:8080 pid 4242 Leader | n2 127.0.0.2:8080 pid 4243 Follower | n3 127.0.0.3:8080 down
func statusLine(views []nodeView) string {
	var b strings.Builder
	if st, ok := leaderOf(views); ok {
		fmt.Fprintf(&b, "cluster: leader %s term %d", st.LeaderID, st.Term)
	} else {
		b.WriteString("cluster: leader none (election)")
	}
	members := map[string]bool{}
	for _, v := range views {
		for _, m := range v.st.Members {
			members[m.ID] = true
		}
	}
	for _, v := range views {
		fmt.Fprintf(&b, " | %s %s", v.n.id, v.n.api)
		switch {
		case v.pid == 0:
			b.WriteString(" down")
		case v.err != nil:
			fmt.Fprintf(&b, " pid %d unreachable", v.pid)
		default:
			fmt.Fprintf(&b, " pid %d %s", v.pid, v.st.State)
			if len(members) > 0 && !members[v.n.id] {
				b.WriteString(" (not a member yet)")
			}
		}
	}
	var ids []string
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(&b, " | members %s", strings.Join(ids, ","))
	return b.String()
}

// watchStatus prints the status line whenever it changes, until ctx ends.
func (c *cluster) watchStatus(ctx context.Context) {
	t := time.NewTicker(c.o.poll)
	defer t.Stop()
	last := ""
	for {
		if line := statusLine(c.poll(ctx)); line != last && ctx.Err() == nil {
			c.pr.step("%s", line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func login(ctx context.Context, c *fsaclient.Client) (string, error) {
	in, err := c.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: demoUser, Password: demoPassword}))
	if err == nil {
		return in.Msg.GetSession().GetToken(), nil
	}
	up, err := c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: demoUser, Password: demoPassword}))
	if err != nil {
		return "", fmt.Errorf("sign up the demo user: %w", err)
	}
	return up.Msg.GetSession().GetToken(), nil
}

func demoProject(ctx context.Context, c *fsaclient.Client, name string) (*fsav1.Project, error) {
	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	for _, p := range list.Msg.GetProjects() {
		if p.GetName() == name {
			return p, nil
		}
	}
	created, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, IdempotencyKey: "fsa-run-cluster-demo"}))
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return created.Msg.GetProject(), nil
}

// follow prints the project's status each time the resuming watch reports a change (or every
// two seconds), until the project runs or fails.
func follow(ctx context.Context, pr *printer, c *fsaclient.Client, id string) (*fsav1.Project, error) {
	wctx, stopWatch := context.WithCancel(ctx)
	changed := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Watch(wctx, 0, func(*fsav1.WatchProjectsResponse) error {
			select {
			case changed <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	defer func() {
		stopWatch()
		<-done
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		got, err := c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
		if err != nil {
			return nil, fmt.Errorf("get project: %w", err)
		}
		p := got.Msg.GetProject()
		line := fmt.Sprintf("project %-9s sandbox %-9s database %-9s", short(p.GetStatus()), short(p.GetSandbox().GetStatus()), short(p.GetDatabase().GetStatus()))
		if line != last {
			pr.step("%s", line)
			last = line
		}
		switch p.GetStatus() {
		case fsav1.Status_STATUS_RUNNING:
			return p, nil
		case fsav1.Status_STATUS_ERROR:
			return nil, fmt.Errorf("project failed: sandbox %q, database %q", p.GetSandbox().GetReason(), p.GetDatabase().GetReason())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the project: %w", ctx.Err())
		case <-changed:
		case <-tick.C:
		}
	}
}

func short(s fsav1.Status) string { return strings.TrimPrefix(s.String(), "STATUS_") }

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
