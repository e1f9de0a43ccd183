package k8stest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/fullstackagent/fsa/internal/devenv/pvstandin"
	"github.com/fullstackagent/fsa/internal/devenv/sbstandin"
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
	// Default: FindBinDir().
	BinDir string
	// KwokDir holds stages.yaml and storage-class.yaml. Default: BinDir/../kwok.
	KwokDir string
	// Dir is the work directory (PKI, etcd data, logs, kubeconfig). Default: a new temporary
	// directory, removed by Stop unless KeepDir is set. A given Dir is emptied first.
	Dir string
	// KeepDir keeps the work directory after Stop.
	KeepDir bool
	// Logf, if set, receives progress lines (timings of the start phases).
	Logf func(format string, args ...any)
	// ExtraArgs appends flags to a component's command line, by component name (Etcd,
	// APIServer, ControllerManager, Scheduler, Kwok); a later flag overrides an earlier one, so
	// this can raise e.g. kube-controller-manager's --kube-api-qps. The environment can add more
	// (EnvExtraArgs), after these.
	ExtraArgs map[string][]string
	// KwokPodParallelism is how many pod Stages kwok plays at once. Default
	// DefaultKwokPodParallelism.
	KwokPodParallelism int
	// KubeBlocks is the KubeBlocks release whose Cluster CRD is installed. Default: EnvKubeBlocks,
	// else KubeBlocks09.
	KubeBlocks KubeBlocks
	// VolumeWorkers is how many claims the volume provisioner (internal/devenv/pvstandin) binds in parallel.
	// Default pvstandin.DefaultWorkers.
	VolumeWorkers int
}

// DefaultKwokPodParallelism is Options.KwokPodParallelism's default (kwok's own is 4).
const DefaultKwokPodParallelism = 16

// EnvExtraArgs is the prefix of the environment variables that append flags to a component's
// command line: FSA_K8S_ARGS_ETCD, FSA_K8S_ARGS_KUBE_APISERVER,
// FSA_K8S_ARGS_KUBE_CONTROLLER_MANAGER, FSA_K8S_ARGS_KUBE_SCHEDULER, FSA_K8S_ARGS_KWOK, each a
// whitespace-separated list of flags (e.g. "--kube-api-qps=1000 --kube-api-burst=2000").
const EnvExtraArgs = "FSA_K8S_ARGS_"

// extraArgs returns the flags Options.ExtraArgs and the environment add to the named component.
func (cp *ControlPlane) extraArgs(name string) []string {
	args := append([]string(nil), cp.opts.ExtraArgs[name]...)
	env := EnvExtraArgs + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return append(args, strings.Fields(os.Getenv(env))...)
}

// Component names, as used for log files (<Dir>/logs/<name>.log).
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
)

// NodeName is the kwok-managed fake node every control plane registers.
const NodeName = "kwok-node-0"

const (
	serviceCIDR = "10.96.0.0/16"
	podCIDR     = "10.244.0.0/16"
	stopGrace   = 5 * time.Second
	// kube-apiserver stops listening at once on SIGTERM but then lingers for up to a minute
	// (graceful termination); nothing is lost by killing it after a short grace.
	apiServerStopGrace = 2 * time.Second
)

// ErrStopped is returned by operations on a control plane after Stop.
var ErrStopped = errors.New("k8stest: control plane stopped")

// ControlPlane is a running local Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok as child processes on 127.0.0.1. It is safe
// for concurrent use.
type ControlPlane struct {
	opts    Options
	dir     string
	ownsDir bool
	logf    func(string, ...any)

	etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kubeletPort int

	kubeconfig []byte
	config     *rest.Config
	raw        rest.Interface // for /readyz
	cluster    *Cluster

	startDuration time.Duration
	kubeBlocks    KubeBlocks // "" for the minimal CRD

	mu      sync.Mutex
	procs   map[string]*process
	stopped bool

	// The volume provisioner (internal/devenv/pvstandin) runs from Start to Stop.
	stopVolumes func()
	volumesDone chan struct{}
	// So does the sandbox stand-in (internal/devenv/sbstandin).
	stopSandboxes func()
	sandboxesDone chan struct{}
}

// startSandboxes runs the sandbox stand-in: per sandbox pod, the kwok objects that make its
// exec, logs and port forward answer from a local directory, file and HTTP server.
func (cp *ControlPlane) startSandboxes() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	logf := cp.logf
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 200, 400 // its own client: three writes and three probes per pod
	go func() {
		defer close(done)
		if err := sbstandin.Run(ctx, cfg, sbstandin.Options{Root: cp.SandboxRoot(), Logf: logf}); err != nil {
			logf("k8stest: sandbox stand-in: %v", err)
		}
	}()
	cp.mu.Lock()
	cp.stopSandboxes, cp.sandboxesDone = cancel, done
	cp.mu.Unlock()
	return nil
}

// SandboxRoot holds the sandbox stand-in's per-pod directories (see sbstandin.FSDir).
func (cp *ControlPlane) SandboxRoot() string { return cp.path("sandboxes") }

// startVolumes runs the volume provisioner for kwok's StorageClass in place of kwok's
// pvc-provision Stage, which kwok plays one claim at a time.
func (cp *ControlPlane) startVolumes() error {
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000 // its own client: three writes per claim, in parallel
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("k8stest: volume provisioner client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	logf := cp.logf
	go func() {
		defer close(done)
		if err := pvstandin.Run(ctx, cs, pvstandin.Options{Workers: cp.opts.VolumeWorkers, Logf: logf}); err != nil {
			logf("k8stest: volume provisioner: %v", err)
		}
	}()
	cp.mu.Lock()
	cp.stopVolumes, cp.volumesDone = cancel, done
	cp.mu.Unlock()
	return nil
}

// Start runs a control plane and returns once it is usable: /readyz is ok, the fake node is
// Ready, the default ServiceAccount exists, kwok's StorageClass is the default one and the
// KubeBlocks Cluster CRD of Options.KubeBlocks is established. On error every
// process already started is stopped and the work directory is kept for its logs. ctx bounds
// the start only, not the control plane's life.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	// The ports are free when chosen but not held until each component listens: another
	// process may take one meanwhile (several control planes start at once under make test).
	// Such a start is tried again on new ports.
	for attempt := 1; ; attempt++ {
		cp, err := start(ctx, opts)
		if err == nil || attempt == startAttempts || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return cp, err
		}
		if opts.Logf != nil {
			opts.Logf("k8stest: a port was taken before its component listened; starting again on new ports")
		}
	}
}

// startAttempts bounds the starts Start makes when a port is taken under it.
const startAttempts = 3

func start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	t0 := time.Now()
	cp := &ControlPlane{opts: opts, procs: map[string]*process{}, logf: opts.Logf}
	if cp.logf == nil {
		cp.logf = func(string, ...any) {}
	}
	if cp.opts.BinDir == "" {
		if cp.opts.BinDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if cp.opts.KwokDir == "" {
		cp.opts.KwokDir = filepath.Join(cp.opts.BinDir, "..", "kwok")
	}
	if err := cp.makeDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cp.ownsDir = false // keep the logs of a failed start
			_ = cp.Stop()
			err = fmt.Errorf("%w (logs in %s)", err, cp.path("logs"))
		}
	}()
	step := func(format string, args ...any) {
		cp.logf("k8stest: [%5.2fs] %s", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}

	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	cp.etcdPort, cp.etcdPeerPort, cp.apiPort, cp.kcmPort, cp.schedPort = ports[0], ports[1], ports[2], ports[3], ports[4]
	cp.kubeletPort = ports[5]

	p, err := newPKI(time.Now(), net.IPv4(10, 96, 0, 1))
	if err != nil {
		return nil, err
	}
	if err := p.writeFiles(cp.path("pki")); err != nil {
		return nil, err
	}
	if err := cp.writeAdminKubeconfig(p); err != nil {
		return nil, err
	}
	step("pki and kubeconfig written to %s", cp.dir)

	if err := cp.startProcess(Etcd, cp.etcdArgs()); err != nil {
		return nil, err
	}
	if err := cp.waitFor(ctx, Etcd, cp.etcdHealthy); err != nil {
		return nil, err
	}
	step("etcd healthy")
	if err := cp.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	step("kube-apiserver ready")
	if cp.cluster, err = newCluster(cp.kubeconfig, cp); err != nil {
		return nil, err
	}
	// The Cluster CRD goes in before kube-controller-manager starts, so its garbage collector
	// watches Clusters from its first discovery on (it looks for new resources only every 30 s,
	// and misses the deletion of an owner it did not watch yet).
	kb, err := cp.installClusterCRD(ctx)
	if err != nil {
		return nil, err
	}
	step("KubeBlocks %s Cluster CRD established", kb)
	dyn, err := dynamic.NewForConfig(cp.config)
	if err != nil {
		return nil, fmt.Errorf("k8stest: dynamic client: %w", err)
	}
	if err := installKwokCRDs(ctx, dyn); err != nil {
		return nil, err
	}
	step("kwok Exec, Logs and PortForward CRDs served")
	if err := os.WriteFile(cp.path("kwok.yaml"), []byte(cp.kwokConfig()), 0o600); err != nil {
		return nil, fmt.Errorf("k8stest: kwok configuration: %w", err)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{ControllerManager, cp.controllerManagerArgs()},
		{Scheduler, cp.schedulerArgs()},
		{Kwok, cp.kwokArgs()},
	} {
		if err := cp.startProcess(c.name, c.args); err != nil {
			return nil, err
		}
	}
	cs, err := kubernetes.NewForConfig(cp.config)
	if err != nil {
		return nil, fmt.Errorf("k8stest: clientset: %w", err)
	}
	if err := cp.bootstrap(ctx, cs, step); err != nil {
		return nil, err
	}
	if err := cp.startVolumes(); err != nil {
		return nil, err
	}
	if err := cp.startSandboxes(); err != nil {
		return nil, err
	}
	cp.startDuration = time.Since(t0)
	step("control plane ready")
	return cp, nil
}

func (cp *ControlPlane) makeDir() error {
	if cp.opts.Dir == "" {
		dir, err := os.MkdirTemp("", "fsa-k8stest-")
		if err != nil {
			return fmt.Errorf("k8stest: work dir: %w", err)
		}
		cp.dir, cp.ownsDir = dir, !cp.opts.KeepDir
	} else {
		dir, err := filepath.Abs(cp.opts.Dir)
		if err != nil {
			return fmt.Errorf("k8stest: work dir: %w", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("k8stest: empty work dir: %w", err)
		}
		cp.dir, cp.ownsDir = dir, false
	}
	if err := os.MkdirAll(cp.path("logs"), 0o700); err != nil {
		return fmt.Errorf("k8stest: work dir: %w", err)
	}
	return nil
}

func (cp *ControlPlane) path(elem ...string) string {
	return filepath.Join(append([]string{cp.dir}, elem...)...)
}

func (cp *ControlPlane) writeAdminKubeconfig(p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fsa-local"] = &clientcmdapi.Cluster{Server: cp.Server(), CertificateAuthorityData: p.caCert}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCert, ClientKeyData: p.adminKey}
	cfg.Contexts["fsa-local"] = &clientcmdapi.Context{Cluster: "fsa-local", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "fsa-local"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("k8stest: admin kubeconfig: %w", err)
	}
	if err := os.WriteFile(cp.KubeconfigPath(), data, 0o600); err != nil {
		return fmt.Errorf("k8stest: admin kubeconfig: %w", err)
	}
	cp.kubeconfig = data
	if cp.config, err = restConfig(data); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cp.config)
	if err != nil {
		return fmt.Errorf("k8stest: discovery client: %w", err)
	}
	cp.raw = dc.RESTClient()
	return nil
}

// restConfig builds a client config from kubeconfig bytes, with limits high enough for tests.
func restConfig(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("k8stest: parse kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

func (cp *ControlPlane) startProcess(name string, args []string) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return ErrStopped
	}
	if old := cp.procs[name]; old != nil {
		if done, _ := old.exited(); !done {
			return fmt.Errorf("k8stest: %s is already running", name)
		}
	}
	args = append(args[:len(args):len(args)], cp.extraArgs(name)...)
	p := newProcess(name, filepath.Join(cp.opts.BinDir, name), cp.path("logs", name+".log"), args)
	if err := p.start(); err != nil {
		return fmt.Errorf("k8stest: %w", err)
	}
	cp.procs[name] = p
	return nil
}

func (cp *ControlPlane) proc(name string) *process {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.procs[name]
}

// waitFor polls check until it succeeds, ctx ends or the named process exits.
func (cp *ControlPlane) waitFor(ctx context.Context, name string, check func(context.Context) error) error {
	return poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p := cp.proc(name); p != nil {
			if done, _ := p.exited(); done {
				return false, fmt.Errorf("k8stest: %w", p.exitError())
			}
		}
		return check(ctx) == nil, nil
	}, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return fmt.Errorf("k8stest: waiting for %s: %w", name, errOf(check(ctx)))
	})
}

func errOf(err error) error {
	if err == nil {
		return errors.New("timed out")
	}
	return err
}

// poll calls cond every interval until it returns true or an error, or ctx ends; then timeout
// describes the failure.
func poll(ctx context.Context, interval time.Duration, cond func(context.Context) (bool, error), timeout func() error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", timeout(), ctx.Err())
		case <-ticker.C:
		}
	}
}

func (cp *ControlPlane) etcdHealthy(ctx context.Context) error {
	return httpOK(ctx, http.DefaultClient, "http://"+hostPort(cp.etcdPort)+"/health")
}

// loopbackTLS probes the controller-manager's and scheduler's self-signed health endpoints.
var loopbackTLS = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health probe of a self-signed endpoint
}

func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func (cp *ControlPlane) apiServerReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cp.raw.Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// StopAPIServer stops only kube-apiserver (SIGTERM, then SIGKILL after a grace period) and waits
// until it has exited; the other components keep running and retry. StartAPIServer brings it back
// on the same port.
func (cp *ControlPlane) StopAPIServer() error {
	p := cp.proc(APIServer)
	if p == nil {
		return errors.New("k8stest: kube-apiserver was never started")
	}
	p.stop(apiServerStopGrace)
	return nil
}

// StartAPIServer starts kube-apiserver (again) with the same flags and port, and waits until
// /readyz is ok or ctx ends.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	if err := cp.startProcess(APIServer, cp.apiServerArgs()); err != nil {
		return err
	}
	return cp.waitFor(ctx, APIServer, cp.apiServerReady)
}

// Stop stops every process (reverse start order: SIGTERM to its process group, SIGKILL after a
// grace period) and waits for all of them. It removes the work directory when Start created it
// and KeepDir is not set. Stop is idempotent.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	if cp.stopped {
		cp.mu.Unlock()
		return nil
	}
	cp.stopped = true
	procs := cp.procs
	stopVolumes, volumesDone := cp.stopVolumes, cp.volumesDone
	stopSandboxes, sandboxesDone := cp.stopSandboxes, cp.sandboxesDone
	cp.mu.Unlock()
	if stopVolumes != nil {
		stopVolumes()
		<-volumesDone
	}
	if stopSandboxes != nil {
		stopSandboxes()
		<-sandboxesDone
	}
	for i := len(binaries) - 1; i >= 0; i-- {
		if p := procs[binaries[i]]; p != nil {
			grace := stopGrace
			if p.name == APIServer {
				grace = apiServerStopGrace
			}
			p.stop(grace)
		}
	}
	if cp.ownsDir {
		if err := os.RemoveAll(cp.dir); err != nil {
			return fmt.Errorf("k8stest: remove work dir: %w", err)
		}
	}
	return nil
}

// PIDs returns the process id of every component that is running now, by component name.
func (cp *ControlPlane) PIDs() map[string]int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pids := map[string]int{}
	for name, p := range cp.procs {
		if done, _ := p.exited(); !done {
			pids[name] = p.pid
		}
	}
	return pids
}

// Dir is the work directory (logs in Dir/logs).
func (cp *ControlPlane) Dir() string { return cp.dir }

// KubeconfigPath is the admin kubeconfig file in the work directory.
func (cp *ControlPlane) KubeconfigPath() string { return cp.path("admin.kubeconfig") }

// AdminKubeconfig returns the admin (system:masters) kubeconfig.
func (cp *ControlPlane) AdminKubeconfig() []byte { return append([]byte(nil), cp.kubeconfig...) }

// RESTConfig returns a copy of the admin client config.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.config) }

// Cluster returns the control plane as a Cluster (clients, users, API server restarts).
func (cp *ControlPlane) Cluster() *Cluster { return cp.cluster }

// Server is the API server URL (https://127.0.0.1:<port>).
func (cp *ControlPlane) Server() string { return "https://" + hostPort(cp.apiPort) }

// KubeBlocks is the release whose Cluster CRD the control plane serves; "" when it serves the
// minimal CRD (the published ones were missing).
func (cp *ControlPlane) KubeBlocks() KubeBlocks { return cp.kubeBlocks }

// StartDuration is how long Start took.
func (cp *ControlPlane) StartDuration() time.Duration { return cp.startDuration }

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePorts reserves n distinct loopback ports by listening on them together, then releases them.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("k8stest: free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
