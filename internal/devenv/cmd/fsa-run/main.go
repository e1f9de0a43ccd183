// Command fsa-run is what `make run` (one node) and `make run-cluster` (-nodes 3) run: a whole
// fsa on one machine, for trying it out.
//
// It starts a local Kubernetes control plane with the KubeBlocks stand-in (unless -kubeconfig or
// $KUBECONFIG points at a real cluster), then fsad through the launcher of internal/devenv/fsadtest:
// one node without Raft on its embedded bbolt store, or three nodes on the loopback addresses
// 127.0.0.1, 127.0.0.2 and 127.0.0.3 (same API and Raft ports on each; Linux routes all of
// 127.0.0.0/8 to lo) where n1 bootstraps and the others join through any live member. The nodes
// share a session signing key, an admin token and the key-encryption keyring, kept in -dir
// (files signing-key, admin-token and kek, mode 0600; never printed). It signs up a demo user with a namespace-scoped
// kubeconfig through the leader, creates a demo project and shows it going CREATING → RUNNING,
// then prints where to go next.
//
// With three nodes it then prints a status line whenever the cluster changes: the leader, the
// term and, per node, its address, PID and Raft state. Kill any node (`kill -9 <pid>`) and watch
// another take over; a node that exits is started again on its data directory after
// -restart-after (0: never) and rejoins. Ctrl-C stops everything. State is kept in -dir, so a
// second run reuses the nodes, the demo user and the project.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"k8s.io/klog/v2"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

type options struct {
	nodes        int
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
	poll         time.Duration // status poll period (three nodes)
	restartAfter time.Duration // restart a node that exited after this long; 0: never (three nodes)
}

const (
	demoUser     = "demo"
	demoPassword = "demo-password"
)

func main() {
	var o options
	var hosts string
	flag.IntVar(&o.nodes, "nodes", 1, "1: one fsad without Raft (make run); 3: a Raft cluster (make run-cluster)")
	flag.StringVar(&o.dir, "dir", "", "state directory: node data, signing key, admin token, logs (default .cache/run, or .cache/run-cluster for 3 nodes)")
	flag.StringVar(&o.fsad, "fsad", ".cache/bin/fsad", "the fsad binary")
	flag.StringVar(&hosts, "hosts", "", "comma-separated addresses, one per node (default 127.0.0.1, or 127.0.0.1,127.0.0.2,127.0.0.3)")
	flag.IntVar(&o.apiPort, "api-port", 8080, "API port of every node")
	flag.IntVar(&o.raftPort, "raft-port", 9080, "Raft port of every node (3 nodes)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "use this real cluster (a namespace-scoped kubeconfig with KubeBlocks installed) instead of a local control plane")
	flag.StringVar(&o.domain, "domain", "sandbox.localtest.me", "parent domain of the sandbox ingress hosts")
	flag.StringVar(&o.project, "project", "Demo App", "name of the demo project")
	flag.BoolVar(&o.once, "once", false, "exit once the demo project is RUNNING")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the demo project")
	flag.DurationVar(&o.poll, "poll", 500*time.Millisecond, "how often to ask the nodes for their status (3 nodes)")
	flag.DurationVar(&o.restartAfter, "restart-after", 10*time.Second, "start a node that exited again after this long (3 nodes; 0: never)")
	flag.Parse()
	o.hosts = splitList(hosts)
	if err := o.defaults(); err != nil {
		fmt.Fprintln(os.Stderr, "fsa-run:", err)
		os.Exit(2)
	}
	closeLog, err := logClientGo(o.dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsa-run:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, os.Stdout, o)
	stop()
	closeLog()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsa-run:", err)
		os.Exit(1)
	}
}

// logClientGo sends what client-go reports through klog in this process (the stand-ins' watch
// retries, a sandbox probe's port forward cut short) to dir/client-go.log: the terminal shows
// the run's own lines only.
func logClientGo(dir string) (closeLog func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "client-go.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(f, nil)))
	return func() { klog.ClearLogger(); _ = f.Close() }, nil
}

func (o *options) defaults() error {
	switch o.nodes {
	case 1:
		if o.dir == "" {
			o.dir = ".cache/run"
		}
		if len(o.hosts) == 0 {
			o.hosts = []string{"127.0.0.1"}
		}
	case 3:
		if o.dir == "" {
			o.dir = ".cache/run-cluster"
		}
		if len(o.hosts) == 0 {
			o.hosts = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
		}
	default:
		return fmt.Errorf("-nodes %d: want 1 or 3", o.nodes)
	}
	if len(o.hosts) != o.nodes {
		return fmt.Errorf("-hosts: %d addresses for %d nodes", len(o.hosts), o.nodes)
	}
	return nil
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
	pr := &printer{out: out, start: time.Now()}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	defer pr.step("stopped")

	// 1. Kubernetes.
	kubeconfig, stopKube, err := kubernetes(ctx, pr, o)
	if err != nil {
		return err
	}
	defer stopKube()

	// 2. fsad.
	key, err := secretFile(filepath.Join(o.dir, "signing-key"), "run1:")
	if err != nil {
		return err
	}
	token, err := secretFile(filepath.Join(o.dir, "admin-token"), "")
	if err != nil {
		return err
	}
	kek, err := secretFile(filepath.Join(o.dir, "kek"), "run1:") // the keyring: the data needs it on every restart
	if err != nil {
		return err
	}
	c, err := fsadtest.New(fsadtest.Options{
		Bin: o.fsad, Dir: o.dir, Nodes: o.nodes, Hosts: o.hosts, APIPort: o.apiPort, RaftPort: o.raftPort,
		Token: token, Env: []string{"FSA_SIGNING_KEY=" + key}, KEK: kek,
		Args: []string{"--domain", o.domain, "--log-format", "text", "--reconcile-workers", "8", "--shutdown-timeout", "5s"},
	})
	if err != nil {
		return err
	}
	sup := newSupervisor(c, pr, o.restartAfter)
	if err := sup.start(); err != nil {
		return fmt.Errorf("start fsad (build it with `make fsad`): %w", err)
	}
	defer sup.stop()
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	err = c.WaitHealthy(waitCtx, o.nodes)
	cancelWait()
	if err != nil {
		return fmt.Errorf("fsad did not become ready (logs: %s/n*.log): %w", o.dir, err)
	}
	if o.nodes == 1 {
		n := c.Nodes[0]
		pr.step("fsad serving on %s (single node, bbolt store in %s, log %s)", n.URL(), n.DataDir, n.LogPath)
	} else {
		_, st, _ := c.Leader(ctx)
		pr.step("cluster of %d nodes; leader %s, term %d", len(c.Nodes), st.GetLeaderId(), st.GetTerm())
	}

	// 3. Demo user, kubeconfig, project, through whichever node leads.
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	client, err := fsaclient.New(urls)
	if err != nil {
		return err
	}
	sess, err := login(ctx, client)
	if err != nil {
		return err
	}
	client.SetToken(sess)
	kc, err := client.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: string(kubeconfig)}))
	if err != nil {
		return fmt.Errorf("set kubeconfig: %w", err)
	}
	p, err := demoProject(ctx, client, o.project, kc.Msg)
	if err != nil {
		return err
	}
	pr.step("signed in as %q; project %q (%s)", demoUser, p.GetName(), p.GetId())

	// With three nodes the status line runs from here on: the project and the cluster at once.
	if o.nodes > 1 {
		statusCtx, stopStatus := context.WithCancel(ctx)
		var swg sync.WaitGroup
		swg.Add(1)
		go func() {
			defer swg.Done()
			watchStatus(statusCtx, pr, c, o.poll)
		}()
		defer func() {
			stopStatus()
			swg.Wait()
		}()
	}

	// 4. Live progress until RUNNING.
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
	select {
	case <-ctx.Done():
		pr.raw("\n")
		pr.step("shutting down")
		return nil
	case err := <-sup.failed:
		return err
	}
}

// kubernetes returns the demo user's kubeconfig: of the real cluster given, or of a namespace in
// a local control plane started with the KubeBlocks stand-in. stop ends what it started.
func kubernetes(ctx context.Context, pr *printer, o options) (kubeconfig []byte, stop func(), err error) {
	if o.kubeconfig != "" {
		if kubeconfig, err = os.ReadFile(o.kubeconfig); err != nil {
			return nil, nil, fmt.Errorf("read kubeconfig: %w", err)
		}
		pr.step("using the cluster of %s", o.kubeconfig)
		return kubeconfig, func() {}, nil
	}
	pr.step("starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
	cp, err := k8stest.Start(startCtx, k8stest.Options{Dir: filepath.Join(o.dir, "cluster"), KeepDir: true})
	cancelStart()
	if err != nil {
		return nil, nil, fmt.Errorf("start control plane: %w", err)
	}
	cl := cp.Cluster()
	standinCtx, stopStandin := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = kbstandin.Run(standinCtx, cl.Dynamic(), cl.Clientset(), kbstandin.Options{})
	}()
	stop = func() { // the stand-in before the control plane
		stopStandin()
		wg.Wait()
		if err := cp.Stop(); err != nil {
			pr.step("stop control plane: %v", err)
		}
	}
	pr.step("control plane ready; KubeBlocks stand-in running (admin kubeconfig: %s)", cp.KubeconfigPath())
	// The namespace enforces the Pod Security profile the sandbox passes, as operators are told
	// to (docs/operations.md).
	u, err := cl.NewUser(ctx, demoUser, k8stest.WithNamespaceLabels(map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}))
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("demo user namespace: %w", err)
	}
	pr.step("namespace %s (Pod Security: restricted) with a ServiceAccount-token kubeconfig for the demo user", u.Namespace)
	return u.Kubeconfig, stop, nil
}

func summary(o options, c *fsadtest.Cluster, p *fsav1.Project) string {
	var b strings.Builder
	base := c.Nodes[0].URL()
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	if o.nodes == 1 {
		fmt.Fprintf(&b, "\nfsa is running.\n  API           %s   (Connect, gRPC and gRPC-Web)\n", base)
	} else {
		fmt.Fprintf(&b, "\nfsa is running on %d nodes.\n", len(c.Nodes))
		for _, n := range c.Nodes {
			fmt.Fprintf(&b, "  %s  API %s  raft %s  log %s\n", n.ID, n.URL(), n.Raft, n.LogPath)
		}
	}
	fmt.Fprintf(&b, `  web console   %[1]s/ui   (user %[2]q, password %[3]q)
  app           %[4]s
  terminal      %[5]s   (open it through the console: it needs a fresh ticket)
`, base, demoUser, demoPassword, p.GetSandbox().GetAppUrl(), p.GetSandbox().GetTerminalUrl())
	if o.nodes > 1 {
		fmt.Fprintf(&b, `
Watch failover: kill the leader's process (kill -9 <pid>, PIDs on the status lines) and see
another node take over within a second; it comes back after %v (-restart-after).
`, o.restartAfter)
	}
	fmt.Fprintf(&b, `
Try:
  go run ./clients/cmd/fsactl --endpoint %[1]s login --username %[2]s --password %[3]s
  go run ./clients/cmd/fsactl --endpoint %[1]s project list
  go run ./clients/cmd/fsactl --endpoint %[1]s project create "My Blog" --wait
`, strings.Join(urls, ","), demoUser, demoPassword)
	if o.nodes > 1 {
		fmt.Fprintf(&b, `  FSA_TOKEN=$(cat %s/admin-token) go run ./clients/cmd/fsactl --endpoint %s cluster status   (the admin token)
`, o.dir, strings.Join(urls, ","))
	}
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

// supervisor runs the nodes: with one node an exit is the end of the run (failed); with several,
// a node that exits is started again after restartAfter.
type supervisor struct {
	c            *fsadtest.Cluster
	pr           *printer
	restartAfter time.Duration
	failed       chan error

	ctx  context.Context
	halt context.CancelFunc
	wg   sync.WaitGroup // one goroutine per node
}

func newSupervisor(c *fsadtest.Cluster, pr *printer, restartAfter time.Duration) *supervisor {
	ctx, halt := context.WithCancel(context.Background())
	return &supervisor{c: c, pr: pr, restartAfter: restartAfter, failed: make(chan error, len(c.Nodes)), ctx: ctx, halt: halt}
}

// start starts every node, each watched by a goroutine that stop ends.
func (s *supervisor) start() error {
	for _, n := range s.c.Nodes {
		if err := n.Start(); err != nil {
			s.stop()
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watch(n)
		}()
	}
	return nil
}

func (s *supervisor) watch(n *fsadtest.Node) {
	for {
		pid := n.PID()
		select {
		case <-s.ctx.Done():
			return
		case <-n.Exited():
		}
		if len(s.c.Nodes) == 1 {
			s.failed <- fmt.Errorf("fsad (pid %d) exited (log: %s)", pid, n.LogPath)
			return
		}
		if s.restartAfter <= 0 {
			s.pr.step("%s (pid %d) exited; not restarting (-restart-after 0; log %s)", n.ID, pid, n.LogPath)
			return
		}
		s.pr.step("%s (pid %d) exited; restarting in %v (log %s)", n.ID, pid, s.restartAfter, n.LogPath)
		t := time.NewTimer(s.restartAfter)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := n.Start(); err != nil {
			s.pr.step("%s: restart failed: %v", n.ID, err)
			return
		}
		s.pr.step("%s restarted, pid %d", n.ID, n.PID())
	}
}

// stop ends the watchers, then stops every node (SIGTERM, SIGKILL after 10 s).
func (s *supervisor) stop() {
	s.halt()
	s.wg.Wait()
	s.c.Close()
}

// nodeView is one node's answer to a status poll.
type nodeView struct {
	id, api string
	pid     int
	st      *fsav1.GetClusterStatusResponse
	err     error
}

func poll(ctx context.Context, c *fsadtest.Cluster) []nodeView {
	views := make([]nodeView, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := nodeView{id: n.ID, api: n.API, pid: n.PID()}
			if !n.Running() {
				v.pid, v.err = 0, errors.New("not running")
			} else {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				v.st, v.err = n.Status(cctx)
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
func leaderOf(views []nodeView) (st *fsav1.GetClusterStatusResponse, ok bool) {
	for _, v := range views {
		if v.err == nil && v.st.GetState() == "Leader" && v.st.GetReconcileRunning() && (!ok || v.st.GetTerm() > st.GetTerm()) {
			st, ok = v.st, true
		}
	}
	return st, ok
}

// statusLine renders the cluster as one line, e.g.
//
//	cluster: leader n1 term 2 | n1 127.0.0.1:8080 pid 4242 Leader | n2 127.0.0.2:8080 pid 4243 Follower | n3 127.0.0.3:8080 down
func statusLine(views []nodeView) string {
	var b strings.Builder
	if st, ok := leaderOf(views); ok {
		fmt.Fprintf(&b, "cluster: leader %s term %d", st.GetLeaderId(), st.GetTerm())
	} else {
		b.WriteString("cluster: leader none (election)")
	}
	members := map[string]bool{}
	for _, v := range views {
		for _, m := range v.st.GetMembers() {
			members[m.GetId()] = true
		}
	}
	for _, v := range views {
		fmt.Fprintf(&b, " | %s %s", v.id, v.api)
		switch {
		case v.pid == 0:
			b.WriteString(" down")
		case v.err != nil:
			fmt.Fprintf(&b, " pid %d unreachable", v.pid)
		default:
			fmt.Fprintf(&b, " pid %d %s", v.pid, v.st.GetState())
			if len(members) > 0 && !members[v.id] {
				b.WriteString(" (not a member yet)")
			}
		}
	}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(&b, " | members %s", strings.Join(ids, ","))
	return b.String()
}

// watchStatus prints the status line whenever it changes, until ctx ends.
func watchStatus(ctx context.Context, pr *printer, c *fsadtest.Cluster, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		if line := statusLine(poll(ctx, c)); line != last && ctx.Err() == nil {
			pr.step("%s", line)
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

func demoProject(ctx context.Context, c *fsaclient.Client, name string, kc *fsav1.SetKubeconfigResponse) (*fsav1.Project, error) {
	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	for _, p := range list.Msg.GetProjects() {
		if p.GetName() != name {
			continue
		}
		sb := p.GetSandbox()
		if sb.GetNamespace() == "" || sb.GetNamespace() == kc.GetNamespace() && sb.GetServer() == kc.GetServer() {
			return p, nil
		}
		// The earlier run's project lives in a namespace of a control plane that is gone (a
		// project stays where it was created): delete it (the delete completes, its objects
		// recorded as left behind) and make a new one where the demo user is now.
		if _, err := c.Projects().DeleteProject(ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: p.GetId()})); err != nil &&
			connect.CodeOf(err) != connect.CodeFailedPrecondition { // already being deleted
			return nil, fmt.Errorf("delete the earlier demo project: %w", err)
		}
		break
	}
	created, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, IdempotencyKey: "fsa-run-demo-" + kc.GetNamespace(), PublicApp: true}))
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
	var erredAt time.Time // when the project was first seen in ERROR, zero if it is not
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
			// ERROR is what was observed last, and reconcile keeps retrying: a project left in
			// ERROR by an earlier run (its control plane went down under it) recovers at the
			// first sync. Give up only when it stays failed.
			if erredAt.IsZero() {
				erredAt = time.Now()
			}
			if time.Since(erredAt) >= errorGrace {
				return nil, fmt.Errorf("project failed (ERROR for %s): sandbox %q, database %q", errorGrace,
					p.GetSandbox().GetReason(), p.GetDatabase().GetReason())
			}
		default:
			erredAt = time.Time{}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the project: %w", ctx.Err())
		case <-changed:
		case <-tick.C:
		}
	}
}

// errorGrace is how long follow lets a project stay in ERROR, while reconcile retries, before it
// gives up.
const errorGrace = time.Minute

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
