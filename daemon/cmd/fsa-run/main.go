// Command fsa-run is what `make run` runs: a whole fsa on one machine, for trying it out.
//
// It starts a local Kubernetes control plane with the KubeBlocks stand-in (unless -kubeconfig or
// $KUBECONFIG points at a real cluster), starts fsad in single-node mode on its embedded bbolt
// store, signs up a demo user with a namespace-scoped kubeconfig, creates a demo project, shows
// its sandbox and database going CREATING → RUNNING, prints where to go next, and keeps
// everything running until Ctrl-C, which stops it all. State is kept in -dir, so a second run
// reuses the demo user and project (reconcile recreates their objects on the fresh cluster).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

type options struct {
	dir        string
	fsad       string
	listen     string
	kubeconfig string // a real cluster's user kubeconfig (namespace-scoped); empty: local control plane
	domain     string
	project    string
	once       bool // exit once the project runs (tests)
	timeout    time.Duration
}

const (
	demoUser     = "demo"
	demoPassword = "demo-password"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".cache/run", "state directory (fsad data, signing key, logs)")
	flag.StringVar(&o.fsad, "fsad", ".cache/bin/fsad", "the fsad binary")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of fsad's API")
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "use this real cluster (a namespace-scoped kubeconfig with KubeBlocks installed) instead of a local control plane")
	flag.StringVar(&o.domain, "domain", "sandbox.localtest.me", "parent domain of the sandbox ingress hosts")
	flag.StringVar(&o.project, "project", "Demo App", "name of the demo project")
	flag.BoolVar(&o.once, "once", false, "exit once the demo project is RUNNING")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the demo project")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "fsa-run:", err)
		os.Exit(1)
	}
}

func step(out io.Writer, start time.Time, format string, args ...any) {
	fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, out io.Writer, o options) (err error) {
	start := time.Now()
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
		step(out, start, "stopped")
	}()

	// 1. Kubernetes.
	kubeconfig := []byte(nil)
	if o.kubeconfig != "" {
		if kubeconfig, err = os.ReadFile(o.kubeconfig); err != nil {
			return fmt.Errorf("read kubeconfig: %w", err)
		}
		step(out, start, "using the cluster of %s", o.kubeconfig)
	} else {
		step(out, start, "starting a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
		startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
		cp, err := k8stest.Start(startCtx, k8stest.Options{Dir: filepath.Join(o.dir, "cluster"), KeepDir: true})
		cancelStart()
		if err != nil {
			return fmt.Errorf("start control plane: %w", err)
		}
		defer func() {
			if err := cp.Stop(); err != nil {
				fmt.Fprintln(out, "stop control plane:", err)
			}
		}()
		cl := cp.Cluster()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = kbstandin.Run(ctx, cl.Dynamic(), cl.Clientset(), kbstandin.Options{})
		}()
		step(out, start, "control plane ready; KubeBlocks stand-in running (admin kubeconfig: %s)", cp.KubeconfigPath())
		u, err := cl.NewUser(ctx, demoUser)
		if err != nil {
			return fmt.Errorf("demo user namespace: %w", err)
		}
		kubeconfig = u.Kubeconfig
		step(out, start, "namespace %s with a ServiceAccount-token kubeconfig for the demo user", u.Namespace)
	}

	// 2. fsad.
	key, err := signingKey(filepath.Join(o.dir, "signing-key"))
	if err != nil {
		return err
	}
	logPath := filepath.Join(o.dir, "fsad.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(o.fsad, "--data-dir", filepath.Join(o.dir, "fsad"), "--listen", o.listen,
		"--domain", o.domain, "--log-format", "text", "--reconcile-workers", "8")
	cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY="+key)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start fsad (build it with `make fsad`): %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + o.listen
	if err := waitReady(ctx, base, exited); err != nil {
		return fmt.Errorf("fsad did not become ready (log: %s): %w", logPath, err)
	}
	step(out, start, "fsad serving on %s (single node, bbolt store in %s, log %s)", base, filepath.Join(o.dir, "fsad"), logPath)

	// 3. Demo user, kubeconfig, project.
	hc := http.DefaultClient
	auth := fsav1connect.NewAuthServiceClient(hc, base)
	token, err := login(ctx, auth)
	if err != nil {
		return err
	}
	bearer := connect.WithInterceptors(authInterceptor{token})
	cfgs := fsav1connect.NewUserConfigServiceClient(hc, base, bearer)
	if _, err := cfgs.SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: string(kubeconfig)})); err != nil {
		return fmt.Errorf("set kubeconfig: %w", err)
	}
	projects := fsav1connect.NewProjectServiceClient(hc, base, bearer)
	p, err := demoProject(ctx, projects, o.project)
	if err != nil {
		return err
	}
	step(out, start, "signed in as %q; project %q (%s)", demoUser, p.GetName(), p.GetId())

	// 4. Live progress until RUNNING.
	waitCtx, cancelWait := context.WithTimeout(ctx, o.timeout)
	p, err = follow(waitCtx, out, start, projects, p.GetId())
	cancelWait()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
fsa is running.
  API           %[1]s   (Connect, gRPC and gRPC-Web)
  web console   %[1]s/ui   (user %[2]q, password %[3]q)
  app           %[4]s
  terminal      %[5]s   (open it through the console: it needs a fresh ticket)

Try:
  go run ./clients/cmd/fsactl --endpoint %[1]s login --username %[2]s --password %[3]s
  go run ./clients/cmd/fsactl --endpoint %[1]s project list
  go run ./clients/cmd/fsactl --endpoint %[1]s project create "My Blog" --wait

Ctrl-C stops everything.
`, base, demoUser, demoPassword, p.GetSandbox().GetAppUrl(), p.GetSandbox().GetTerminalUrl())
	if o.once {
		return nil
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nshutting down")
		return nil
	case err := <-exited:
		exited <- err
		return fmt.Errorf("fsad exited: %v (log: %s)", err, logPath)
	}
}

// signingKey returns the session signing key kept in path, making one on the first run.
func signingKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	key := "run1:" + base64.RawURLEncoding.EncodeToString(secret)
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

func waitReady(ctx context.Context, base string, exited chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("fsad exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
	}
}

func login(ctx context.Context, auth fsav1connect.AuthServiceClient) (string, error) {
	in, err := auth.Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: demoUser, Password: demoPassword}))
	if err == nil {
		return in.Msg.GetSession().GetToken(), nil
	}
	up, err := auth.SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: demoUser, Password: demoPassword}))
	if err != nil {
		return "", fmt.Errorf("sign up the demo user: %w", err)
	}
	return up.Msg.GetSession().GetToken(), nil
}

func demoProject(ctx context.Context, projects fsav1connect.ProjectServiceClient, name string) (*fsav1.Project, error) {
	list, err := projects.ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	for _, p := range list.Msg.GetProjects() {
		if p.GetName() == name {
			return p, nil
		}
	}
	created, err := projects.CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name, IdempotencyKey: "fsa-run-demo"}))
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return created.Msg.GetProject(), nil
}

// follow prints the project's status each time the watch stream says something changed, until
// the project runs or fails.
func follow(ctx context.Context, out io.Writer, start time.Time, projects fsav1connect.ProjectServiceClient, id string) (*fsav1.Project, error) {
	stream, err := projects.WatchProjects(ctx, connect.NewRequest(&fsav1.WatchProjectsRequest{}))
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	defer stream.Close()
	last := ""
	for {
		got, err := projects.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
		if err != nil {
			return nil, fmt.Errorf("get project: %w", err)
		}
		p := got.Msg.GetProject()
		line := fmt.Sprintf("project %-9s sandbox %-9s database %-9s", short(p.GetStatus()), short(p.GetSandbox().GetStatus()), short(p.GetDatabase().GetStatus()))
		if line != last {
			step(out, start, "%s", line)
			last = line
		}
		switch p.GetStatus() {
		case fsav1.Status_STATUS_RUNNING:
			return p, nil
		case fsav1.Status_STATUS_ERROR:
			return nil, fmt.Errorf("project failed: sandbox %q, database %q", p.GetSandbox().GetReason(), p.GetDatabase().GetReason())
		}
		if !stream.Receive() {
			if err := stream.Err(); err != nil {
				return nil, fmt.Errorf("watch: %w", err)
			}
			return nil, errors.New("watch ended")
		}
	}
}

func short(s fsav1.Status) string { return strings.TrimPrefix(s.String(), "STATUS_") }

// authInterceptor adds the session token to unary and streaming calls.
type authInterceptor struct{ token string }

func (a authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+a.token)
		return next(ctx, req)
	}
}

func (a authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+a.token)
		return conn
	}
}

func (a authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
