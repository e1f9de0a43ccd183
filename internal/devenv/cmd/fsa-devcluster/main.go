package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

const (
	upTimeout   = 3 * time.Minute
	downTimeout = 90 * time.Second
)

// files in the state directory.
const (
	filePID        = "supervisor.pid"
	fileLog        = "supervisor.log"
	fileReady      = "ready"
	fileKubeconfig = "admin.kubeconfig"
	dirWork        = "work"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fsa-devcluster:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	usage := "usage: fsa-devcluster up|down|status [--dir DIR]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "state directory (default <repo>/.cache/devcluster)")
	demo := fs.Bool("demo", true, "up: also start a demo sandbox in the default namespace")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dir == "" {
		root, err := k8stest.RepoRoot()
		if err != nil {
			return err
		}
		*dir = filepath.Join(root, ".cache", "devcluster")
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	s := state{dir: abs, demo: *demo}
	switch args[0] {
	case "up":
		return s.up(stdout, stderr)
	case "down":
		return s.down(stderr)
	case "status":
		return s.status(stdout)
	case "serve":
		return s.serve(stderr)
	default:
		return errors.New(usage)
	}
}

type state struct {
	dir  string
	demo bool // up also starts a demo sandbox in the default namespace
}

func (s state) path(name string) string { return filepath.Join(s.dir, name) }

// running returns the supervisor's pid if it is alive.
func (s state) running() (int, bool) {
	data, err := os.ReadFile(s.path(filePID))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, isSupervisor(pid)
}

// isSupervisor reports whether pid is alive and, where /proc exists, an fsa-devcluster serve
// (so a recycled pid is not mistaken for ours).
func isSupervisor(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || !dirExists("/proc")
	}
	if state := procState(pid); state == "Z" {
		return false
	}
	return bytes.Contains(cmdline, []byte("serve\x00"))
}

func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) S ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(data, ')'); i >= 0 && i+2 < len(data) {
		return string(data[i+2])
	}
	return ""
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func (s state) cleanup() {
	for _, f := range []string{filePID, fileReady, fileKubeconfig} {
		_ = os.Remove(s.path(f))
	}
}

func (s state) up(stdout, stderr io.Writer) error {
	if pid, ok := s.running(); ok {
		fmt.Fprintf(stderr, "fsa-devcluster: already running (pid %d)\n", pid)
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", s.path(fileKubeconfig))
		return nil
	}
	s.cleanup()
	binDir, err := k8stest.FindBinDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.Create(s.path(fileLog))
	if err != nil {
		return err
	}
	defer logFile.Close()
	start := time.Now()
	cmd := exec.Command(exe, "serve", "--dir", s.dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), k8stest.EnvBinDir+"="+binDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command and its terminal
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // ends when the supervisor exits or this command does

	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	deadline := time.After(upTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("supervisor exited (%v); see %s", err, s.path(fileLog))
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("not ready after %v; see %s", upTimeout, s.path(fileLog))
		case <-ticker.C:
		}
		server, err := os.ReadFile(s.path(fileReady))
		if err != nil {
			continue
		}
		fmt.Fprintf(stderr, "fsa-devcluster: up in %.1fs: %s (pid %d); logs in %s\n",
			time.Since(start).Seconds(), strings.TrimSpace(string(server)), cmd.Process.Pid, s.path(dirWork+"/logs"))
		if s.demo {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := startDemoSandbox(ctx, s.path(fileKubeconfig), stderr)
			cancel()
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", s.path(fileKubeconfig))
		return nil
	}
}

// serve is the detached supervisor: it owns the control plane and the stand-in until SIGTERM.
func (s state) serve(stderr io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	if err := os.WriteFile(s.path(filePID), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	defer s.cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, upTimeout)
	cp, err := k8stest.Start(startCtx, k8stest.Options{Dir: s.path(dirWork), KeepDir: true, Logf: logf})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping the control plane")
		if err := cp.Stop(); err != nil {
			logf("stop: %v", err)
		}
		logf("stopped")
	}()
	if err := os.WriteFile(s.path(fileKubeconfig), cp.AdminKubeconfig(), 0o600); err != nil {
		return err
	}
	c := cp.Cluster()
	api, err := kbstandin.Discover(c.Clientset())
	if err != nil {
		return err
	}
	standinDone := make(chan error, 1)
	go func() {
		standinDone <- kbstandin.Run(ctx, c.Dynamic(), c.Clientset(), kbstandin.Options{API: api, Logf: logf})
	}()
	probeCtx, cancelProbe := context.WithTimeout(ctx, time.Minute)
	err = kbstandin.Probe(probeCtx, c.Dynamic(), "default", api)
	cancelProbe()
	if err == nil {
		err = os.WriteFile(s.path(fileReady), []byte(cp.Server()+"\n"), 0o600)
	}
	if err != nil {
		stop()
		<-standinDone
		return err
	}
	logf("ready: %s, kubeconfig %s", cp.Server(), s.path(fileKubeconfig))
	<-ctx.Done()
	logf("signal received")
	return <-standinDone
}

func (s state) down(stderr io.Writer) error {
	pid, ok := s.running()
	if !ok {
		s.cleanup()
		fmt.Fprintln(stderr, "fsa-devcluster: not running")
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal supervisor %d: %w", pid, err)
	}
	// Another process's exit cannot be waited on: poll it.
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	deadline := time.Now().Add(downTimeout)
	for isSupervisor(pid) {
		if time.Now().After(deadline) {
			// Its children have Pdeathsig: killing the supervisor takes them down too.
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(10 * time.Second)
		}
		<-ticker.C
	}
	s.cleanup()
	fmt.Fprintf(stderr, "fsa-devcluster: stopped (pid %d)\n", pid)
	return nil
}

func (s state) status(stdout io.Writer) error {
	pid, ok := s.running()
	if !ok {
		fmt.Fprintln(stdout, "not running")
		return nil
	}
	kc := s.path(fileKubeconfig)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		fmt.Fprintf(stdout, "starting (pid %d)\n", pid)
		return nil //nolint:nilerr // no kubeconfig yet: still starting
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		fmt.Fprintf(stdout, "running (pid %d), API server %s not answering: %v\n", pid, cfg.Host, err)
		return nil
	}
	fmt.Fprintf(stdout, "running (pid %d), Kubernetes %s at %s\nexport KUBECONFIG=%s\n", pid, v.GitVersion, cfg.Host, kc)
	return nil
}
