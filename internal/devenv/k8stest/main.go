package k8stest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/internal/devenv/kbstandin"
)

// EnvKubeconfig names the environment variable that makes Main reuse an existing cluster (for
// example one started with `make cluster-up`) instead of starting a control plane. That cluster
// must already serve the Cluster CRD and run a KubeBlocks stand-in.
const EnvKubeconfig = "FSA_TEST_KUBECONFIG"

// kbWorkers is how many Clusters the KubeBlocks stand-in syncs in parallel (its default, 2,
// caps how fast a burst of projects gets databases).
const kbWorkers = 8

// startTimeout bounds how long Main waits for a control plane to become usable.
const startTimeout = 3 * time.Minute

var shared struct {
	mu      sync.Mutex
	main    bool     // Main has run
	cluster *Cluster // nil when there is none
	skip    string   // why there is none (under -short)
}

// Main is the TestMain of packages with integration tests:
//
//	func TestMain(m *testing.M) { k8stest.Main(m) }
//
// With FSA_TEST_KUBECONFIG set it runs the tests against that cluster. Otherwise, under -short, it
// runs them without a cluster (Env skips). Otherwise it starts one control plane for the test
// binary, runs the KubeBlocks stand-in in-process for its lifetime, runs the tests, stops
// everything and exits with the tests' code. The work directory (with the component logs) is
// removed when the tests pass and kept, and printed, when they fail.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	if path := os.Getenv(EnvKubeconfig); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8stest: %s: %v\n", EnvKubeconfig, err)
			return 1
		}
		c, err := NewCluster(data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8stest: %s: %v\n", EnvKubeconfig, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		api, err := kbstandin.Discover(c.Clientset())
		if err == nil {
			err = kbstandin.Probe(ctx, c.Dynamic(), "default", api)
		}
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8stest: %s: no KubeBlocks stand-in serving that cluster: %v\n", EnvKubeconfig, err)
			return 1
		}
		setShared(c, "")
		return m.Run()
	}
	if testing.Short() {
		setShared(nil, "-short: no Kubernetes control plane, integration test skipped")
		return m.Run()
	}

	verbose := testing.Verbose()
	logf := func(format string, args ...any) {
		if verbose {
			fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
	}
	var cp *ControlPlane
	var err error
	// A second attempt covers the rare race of another process taking a port picked as free.
	for attempt := 1; attempt <= 2 && cp == nil; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		cp, err = Start(ctx, Options{KeepDir: true, Logf: logf})
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8stest: start control plane (attempt %d): %v\n", attempt, err)
		}
	}
	if cp == nil {
		return 1
	}
	fmt.Fprintf(os.Stderr, "k8stest: control plane ready in %.1fs (%s, work dir %s)\n",
		cp.StartDuration().Seconds(), cp.Server(), cp.Dir())
	c := cp.Cluster()
	setShared(c, "")

	stopStandin, err := runStandin(c, logf)
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "k8stest: KubeBlocks stand-in: %v\n", err)
	} else {
		logf("k8stest: KubeBlocks stand-in serving")
		code = m.Run()
	}
	if err := stopStandin(); err != nil {
		fmt.Fprintf(os.Stderr, "k8stest: KubeBlocks stand-in: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	stopStart := time.Now()
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "k8stest: stop control plane: %v\n", err)
	}
	logf("k8stest: control plane stopped in %.1fs", time.Since(stopStart).Seconds())
	if code == 0 {
		_ = os.RemoveAll(cp.Dir())
	} else {
		fmt.Fprintf(os.Stderr, "k8stest: control plane logs kept in %s/logs\n", cp.Dir())
	}
	return code
}

// runStandin runs the KubeBlocks stand-in, playing the API generation the cluster serves, and
// probes it. stop stops it and waits for it; call it whatever err is.
func runStandin(c *Cluster, logf func(string, ...any)) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	api, err := kbstandin.Discover(c.Clientset())
	if err != nil {
		cancel()
		return func() error { return nil }, err
	}
	go func() {
		done <- kbstandin.Run(ctx, c.Dynamic(), c.Clientset(), kbstandin.Options{API: api, Workers: kbWorkers, Logf: logf})
	}()
	stop = func() error {
		cancel()
		return <-done
	}
	probeCtx, cancelProbe := context.WithTimeout(context.Background(), time.Minute)
	defer cancelProbe()
	return stop, kbstandin.Probe(probeCtx, c.Dynamic(), "default", api)
}

// StartPrivate starts a control plane of the test's own, with opts (e.g. another KubeBlocks
// release), and the KubeBlocks stand-in on it, for a test that cannot share the binary's
// control plane; both stop when t ends. It costs a control plane start (several seconds): use it
// sparingly. Under -short it skips t.
func StartPrivate(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("k8stest: -short: no Kubernetes control plane, integration test skipped")
	}
	if opts.KubeBlocks != "" {
		RequireKubeBlocksCRD(t, opts.KubeBlocks)
	}
	if opts.Logf == nil && testing.Verbose() {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cp, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("k8stest: start private control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("k8stest: stop private control plane: %v", err)
		}
	})
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stop, err := runStandin(cp.Cluster(), logf)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("k8stest: KubeBlocks stand-in: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("k8stest: KubeBlocks stand-in: %v", err)
	}
	return cp.Cluster()
}

func setShared(c *Cluster, skip string) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.cluster, shared.skip = c, skip
}

// Env returns the cluster shared by the test binary. Under -short without FSA_TEST_KUBECONFIG it
// skips t; without Main as TestMain it fails t.
func Env(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	main, c, skip := shared.main, shared.cluster, shared.skip
	shared.mu.Unlock()
	switch {
	case c != nil:
		return c
	case skip != "":
		t.Skip("k8stest: " + skip)
	case !main:
		t.Fatal("k8stest.Env: the test binary's TestMain must call k8stest.Main(m)")
	}
	return nil
}
