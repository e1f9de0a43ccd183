package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// Config is everything fsad is told at start, one section per concern. ParseConfig fills it
// from flags and the environment; a program embedding the daemon may fill it directly and call
// Config.Validate.
type Config struct {
	// DataDir holds the node's state: fsa.db in single-node mode; raft.db, snapshots/ and
	// state.db in cluster mode.
	DataDir string
	// NodeID is the node's stable identity: required in cluster mode, the name a single node
	// reports otherwise ("single" when empty).
	NodeID string
	// AdminToken is accepted as the bearer token of ClusterService (cluster administration;
	// nodes joining with --join present it) and protects the backup snapshot (/admin/v1/);
	// empty disables both. Every node of a cluster needs the same one. A secret: never logged.
	AdminToken string
	// Kubeconfig is the path of the development cluster's kubeconfig. When set, the daemon
	// checks at start that it parses and reports the cluster's reachability on /readyz. Users'
	// own kubeconfigs (stored per user) are what reconcile uses to write objects.
	Kubeconfig string

	HTTP      HTTPConfig
	Raft      RaftConfig
	Reconcile ReconcileConfig
	// Auth is the API's authentication configuration (sessions, sign-in methods, limits),
	// filled by the flags directly. An empty SigningKey makes Run generate a random one (sessions
	// then die with the process; fine for one dev node).
	Auth api.AuthConfig
	Log  LogConfig
	// Limits are every user's limits unless an admin set the user's own (fsa.WithDefaultLimits).
	Limits fsa.Limits
	// Sizes are the operator's project size classes and bounds (fsa.WithSizes): --size-class,
	// --size-default, --size-min, --size-max.
	Sizes fsa.SizePolicy
	// Lifecycle is the default lifecycle policies of new projects and the activity interval
	// (fsa.WithLifecycleDefaults).
	Lifecycle fsa.LifecycleDefaults
	// Keys are the key-encryption keys secrets are sealed with at rest (keys.go): from the
	// environment (FSA_KEK) or a file (--kek-file), never a flag. Run refuses to start without.
	Keys KeysConfig
}

// HTTPConfig is the HTTP server: Connect, gRPC, gRPC-Web, health, metrics, admin.
type HTTPConfig struct {
	// Listen is the host:port of the server. APIAdvertise is the address other nodes give
	// clients to reach this node's API (Listen when empty).
	Listen       string
	APIAdvertise string
	// Timeouts. WriteTimeout is 0 (none) by default because Watch streams are long.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the graceful shutdown (leadership transfer, draining requests).
	ShutdownTimeout time.Duration
	// PProf serves net/http/pprof under /debug/pprof/.
	PProf bool
}

// RaftConfig is the cluster mode; an empty Addr selects single-node mode (embedded bbolt, no
// Raft, always leader).
type RaftConfig struct {
	// Addr is the host:port Raft listens on. Advertise is the address peers dial (Addr when
	// empty), kept unresolved.
	Addr      string
	Advertise string
	// Bootstrap makes a node without Raft state start a new cluster of itself.
	Bootstrap bool
	// Join lists API base URLs of existing members; at start the node asks them (following the
	// leader hint) to add it to the cluster. Joining is idempotent, so it is safe on restart.
	Join []string
	// Timing, tuned for fast failover.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SyncStateEveryApply fsyncs the Raft state database on every applied batch
	// (raftstore.Config.SyncEveryApply). Off by default: the Raft log is the durable record and
	// a node rebuilds its state database from it after a machine crash.
	SyncStateEveryApply bool
}

// ReconcileConfig is what the leader's reconcile loops are told.
type ReconcileConfig struct {
	Domain           string
	Scheme           string
	IngressClassName string
	TLSSecretName    string
	DeleteVolumes    bool
	Workers          int
	Resync           time.Duration
	// WarmCaches keeps the users' informer caches warm on every node, followers too
	// (reconcile.Caches), so that a newly elected leader starts with them synced.
	WarmCaches bool
	// RuntimeImage is the sandbox image (k8s.RuntimeImage when empty).
	RuntimeImage string
	// NetworkPolicy writes a NetworkPolicy with every sandbox (on by default): ingress only from
	// IngressNamespaces and the project's own pods; egress restricted with RestrictEgress (to
	// anything outside ClusterCIDRs, DNS, the project's pods and database).
	NetworkPolicy     bool
	IngressNamespaces []string
	RestrictEgress    bool
	ClusterCIDRs      []string
	// DefaultAnthropicToken and DefaultAnthropicBaseURL are the platform's Anthropic credentials
	// for users without a key of their own. The token is a secret: prefer the environment.
	DefaultAnthropicToken   string
	DefaultAnthropicBaseURL string
}

// Network returns the NetworkPolicy the reconcile loops write with every sandbox, nil for none.
func (rc ReconcileConfig) Network() *k8s.NetworkSpec {
	if !rc.NetworkPolicy {
		return nil
	}
	return &k8s.NetworkSpec{IngressNamespaces: rc.IngressNamespaces, RestrictEgress: rc.RestrictEgress, ClusterCIDRs: rc.ClusterCIDRs}
}

// LogConfig is the structured log on stderr.
type LogConfig struct {
	Level slog.Level
	// Format is "json" or "text".
	Format string
	// Logger receives the daemon's logs; when nil Run writes Format to stderr at Level.
	// Not a flag: for programs and tests that run the daemon in process.
	Logger *slog.Logger
}

// Defaults used by ParseConfig.
const (
	DefaultListen = "127.0.0.1:8080"
	DefaultDomain = "sandbox.localtest.me"
	// Raft timing: a follower notices a dead leader after one to three heartbeat timeouts
	// (Raft randomises its timer between one and two), so 300 ms keeps an unplanned failover
	// under 1.5 s at p99 (daemon/BENCH.md); the lease is half the heartbeat timeout.
	DefaultHeartbeatTimeout   = 300 * time.Millisecond
	DefaultElectionTimeout    = 300 * time.Millisecond
	DefaultLeaderLeaseTimeout = 150 * time.Millisecond
	DefaultShutdownTimeout    = 15 * time.Second
)

// Single reports whether cfg selects single-node mode (no Raft).
func (cfg *Config) Single() bool { return cfg.Raft.Addr == "" }

// envPrefix prefixes every environment variable: flag --data-dir is FSA_DATA_DIR.
const envPrefix = "FSA_"

// EnvName returns the environment variable read for a flag name.
func EnvName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ParseConfig parses args (without the program name) and the environment (through getenv).
// Each flag may also be given as its environment variable (EnvName: --data-dir is
// FSA_DATA_DIR); a flag on the command line wins over the environment. Output (usage, errors)
// goes to out. It returns flag.ErrHelp for -h.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("fsad", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		join, admins                 string
		signingKey, verificationKeys string // secrets: parsed below, never echoed in an error
		logLevel                     string
		ingressNamespaces, cidrs     string
		kekFile                      string
	)
	h, r, rc, a := &cfg.HTTP, &cfg.Raft, &cfg.Reconcile, &cfg.Auth
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory of the node's state (required)")
	fs.StringVar(&cfg.NodeID, "node-id", "", "stable node id in the cluster (required with --raft-addr)")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of the development cluster (checked at start, reported on /readyz)")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "the cluster admin token: ClusterService and the backup snapshot accept it (empty: neither); prefer the environment")
	fs.StringVar(&h.Listen, "listen", DefaultListen, "host:port of the HTTP API (Connect, gRPC, gRPC-Web, health, metrics)")
	fs.StringVar(&h.APIAdvertise, "api-advertise", "", "API address given to clients by other nodes (default: --listen)")
	fs.DurationVar(&h.ReadHeaderTimeout, "http-read-header-timeout", 10*time.Second, "HTTP read header timeout")
	fs.DurationVar(&h.ReadTimeout, "http-read-timeout", 30*time.Second, "HTTP read timeout")
	fs.DurationVar(&h.WriteTimeout, "http-write-timeout", 0, "HTTP write timeout (0: none; watch streams are long)")
	fs.DurationVar(&h.IdleTimeout, "http-idle-timeout", 2*time.Minute, "HTTP idle timeout")
	fs.DurationVar(&h.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "bound on graceful shutdown")
	fs.BoolVar(&h.PProf, "pprof", false, "serve /debug/pprof/")
	fs.StringVar(&r.Addr, "raft-addr", "", "host:port for Raft; empty runs a single node without Raft")
	fs.StringVar(&r.Advertise, "raft-advertise", "", "Raft address peers dial (default: --raft-addr)")
	fs.BoolVar(&r.Bootstrap, "bootstrap", false, "start a new cluster of this node if it has no Raft state")
	fs.StringVar(&join, "join", "", "comma-separated API URLs of members to join through (idempotent)")
	fs.DurationVar(&r.HeartbeatTimeout, "raft-heartbeat-timeout", DefaultHeartbeatTimeout, "Raft heartbeat timeout")
	fs.DurationVar(&r.ElectionTimeout, "raft-election-timeout", DefaultElectionTimeout, "Raft election timeout")
	fs.DurationVar(&r.LeaderLeaseTimeout, "raft-lease-timeout", DefaultLeaderLeaseTimeout, "Raft leader lease timeout")
	fs.DurationVar(&r.CommitTimeout, "raft-commit-timeout", 0, "Raft commit timeout (0: Raft's default)")
	fs.BoolVar(&r.SyncStateEveryApply, "raft-sync-state", false, "fsync the state database on every applied batch (default: the Raft log is the durable record; the state database is rebuilt from it after a machine crash)")
	fs.StringVar(&rc.Domain, "domain", DefaultDomain, "parent domain of sandbox ingress hosts")
	fs.StringVar(&rc.Scheme, "scheme", "https", "scheme of recorded sandbox URLs")
	fs.StringVar(&rc.IngressClassName, "ingress-class", "", "ingress class of sandbox Ingresses")
	fs.StringVar(&rc.TLSSecretName, "tls-secret", "", "TLS secret of sandbox Ingresses")
	fs.BoolVar(&rc.DeleteVolumes, "delete-volumes", false, "purge a project's data (home volume and database) on every delete, as if DeleteProject set purge_data")
	fs.IntVar(&rc.Workers, "reconcile-workers", 4, "concurrent reconcile syncs")
	fs.DurationVar(&rc.Resync, "reconcile-resync", 5*time.Minute, "period of the full reconcile resync")
	fs.BoolVar(&rc.WarmCaches, "reconcile-warm-caches", true, "keep the users' informer caches warm on every node, followers too, so that a new leader starts with them synced (their memory and watches on every node)")
	fs.StringVar(&rc.RuntimeImage, "sandbox-image", k8s.RuntimeImage, "image the sandboxes run (the runtime image)")
	fs.BoolVar(&rc.NetworkPolicy, "sandbox-network-policy", true, "write a NetworkPolicy with every sandbox (users need RBAC on networkpolicies)")
	fs.StringVar(&ingressNamespaces, "sandbox-ingress-namespaces", k8s.DefaultIngressNamespace, "comma-separated namespaces of the ingress controller, allowed to connect to sandboxes")
	fs.BoolVar(&rc.RestrictEgress, "sandbox-restrict-egress", false, "restrict sandbox egress to outside the cluster ranges, DNS, the project's pods and database")
	fs.StringVar(&cidrs, "sandbox-cluster-cidrs", "", "comma-separated cluster-internal CIDRs a restricted egress excludes (default: the private, shared, link-local and unique-local ranges)")
	fs.StringVar(&rc.DefaultAnthropicToken, "anthropic-default-token", "", "platform-wide Anthropic token for users without their own key; prefer the environment")
	fs.StringVar(&rc.DefaultAnthropicBaseURL, "anthropic-default-base-url", "", "base URL that goes with --anthropic-default-token")
	fs.StringVar(&signingKey, "signing-key", "", "session signing key <id>:<base64url secret> (same on every node; empty: random per process); prefer the environment")
	fs.StringVar(&verificationKeys, "verification-keys", "", "comma-separated older signing keys still accepted; prefer the environment")
	fs.DurationVar(&a.SessionTTL, "session-ttl", 24*time.Hour, "lifetime of a session token")
	fs.StringVar(&admins, "admins", "", "comma-separated user ids or usernames with the admin role")
	fs.BoolVar(&a.DisableSignUp, "disable-signup", false, "refuse SignUp")
	fs.StringVar(&a.GitHub.ClientID, "github-client-id", "", "GitHub OAuth app client id (GitHubLogin)")
	fs.StringVar(&a.GitHub.ClientSecret, "github-client-secret", "", "GitHub OAuth app secret; prefer the environment")
	fs.StringVar(&a.SealosJWTSecret, "sealos-jwt-secret", "", "HS256 secret of Sealos session tokens (SealosLogin); prefer the environment")
	fs.StringVar(&a.AiproxyEndpoint, "aiproxy-endpoint", "", "Sealos Aiproxy base URL (Anthropic keys at Sealos login)")
	fs.StringVar(&a.AiproxyBaseURL, "aiproxy-base-url", "", "Anthropic API base URL of that Aiproxy, stored as ANTHROPIC_BASE_URL with each key it issues")
	fs.Float64Var(&a.RateLimit.PerSecond, "rate-limit", 0, "requests per second per user (0: the API default; negative: none)")
	fs.IntVar(&a.RateLimit.Burst, "rate-burst", 0, "request burst per user (0: the API default)")
	fs.IntVar(&cfg.Limits.Projects, "limit-projects", 0, "projects a user may have, not counting those being deleted (0: no limit)")
	fs.IntVar(&cfg.Limits.Running, "limit-running", 0, "projects a user may have running, started and not stopped (0: no limit)")
	fs.Var(quantityFlag{&cfg.Limits.CPU, true}, "limit-cpu", "CPU a user's running projects may have together, sandbox and database limits (a quantity such as 16 or 8500m; 0: no limit)")
	fs.Var(quantityFlag{&cfg.Limits.Memory, false}, "limit-memory", "memory a user's running projects may have together (a quantity such as 64Gi; 0: no limit)")
	fs.Var(quantityFlag{&cfg.Limits.Storage, false}, "limit-storage", "home and database volumes a user's projects may hold together, stopped ones included (a quantity such as 500Gi; 0: no limit)")
	fs.Var(sizeClassFlag{&cfg.Sizes}, "size-class", "a project size class, name=cpu:500m,memory:1Gi,home:5Gi,db:1Gi (also cpu-request, memory-request, db-cpu, db-memory); repeat the flag or separate classes with ';' (none: the built-in class 'standard')")
	fs.StringVar(&cfg.Sizes.Default, "size-default", "", "the size class of projects created without one (default: the only class, else 'standard')")
	fs.Var(sizeBoundsFlag{&cfg.Sizes.Min}, "size-min", "smallest explicit size a user may ask for, cpu:100m,memory:256Mi,home:1Gi,db:1Gi (keys left out: the built-in minimum)")
	fs.Var(sizeBoundsFlag{&cfg.Sizes.Max}, "size-max", "largest explicit size a user may ask for, same form (keys left out: the built-in maximum)")
	fs.DurationVar(&cfg.Lifecycle.IdleTimeout, "idle-timeout", 0, "stop a project after this long without activity, for users without their own IDLE_TIMEOUT setting (0: never)")
	fs.DurationVar(&cfg.Lifecycle.DeleteStoppedAfter, "delete-stopped-after", 0, "delete a project (keeping its data) once STOPPED this long, for users without their own DELETE_STOPPED_AFTER setting (0: never)")
	fs.DurationVar(&cfg.Lifecycle.ActivityInterval, "activity-interval", fsa.DefaultActivityInterval, "write a project's activity at most once per interval (idle stops come between the limit and the limit plus this after the last call)")
	fs.StringVar(&kekFile, FlagKEKFile, "", "file holding the key-encryption keyring (<id>:<base64url key> per line, the primary first; mode 0600); or the keyring itself in "+EnvKEK)
	fs.Float64Var(&cfg.Keys.ResealRate, "reseal-rate", DefaultResealRate, "records per second the leader re-seals in the background (after enabling encryption or changing the primary key)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.Log.Format, "log-format", "json", "json or text")

	if err := parseFlags(fs, args, getenv); err != nil {
		return Config{}, err
	}
	cfg.Raft.Join = splitList(join)
	cfg.Reconcile.IngressNamespaces = splitList(ingressNamespaces)
	cfg.Reconcile.ClusterCIDRs = splitList(cidrs)
	cfg.Auth.Admins = splitList(admins)
	if signingKey != "" {
		k, err := api.ParseSigningKey(signingKey)
		if err != nil {
			return Config{}, fmt.Errorf("--signing-key: %w", err)
		}
		cfg.Auth.SigningKey = k
	}
	for _, v := range splitList(verificationKeys) {
		k, err := api.ParseSigningKey(v)
		if err != nil {
			return Config{}, fmt.Errorf("--verification-keys: %w", err)
		}
		cfg.Auth.VerificationKeys = append(cfg.Auth.VerificationKeys, k)
	}
	kr, err := loadKeyring(kekFile, getenv(EnvKEK))
	if err != nil {
		return Config{}, err
	}
	cfg.Keys.Keyring = kr
	if err := cfg.Log.Level.UnmarshalText([]byte(logLevel)); err != nil {
		return Config{}, fmt.Errorf("log level %q: %w", logLevel, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks cfg and fills the derived defaults (APIAdvertise, RaftAdvertise).
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("data dir is required (--data-dir or FSA_DATA_DIR)"))
	}
	if err := checkHostPort("listen", cfg.HTTP.Listen); err != nil {
		errs = append(errs, err)
	}
	if cfg.HTTP.APIAdvertise == "" {
		cfg.HTTP.APIAdvertise = cfg.HTTP.Listen
	}
	if cfg.Reconcile.Domain == "" {
		errs = append(errs, errors.New("domain is required"))
	}
	if err := cfg.Lifecycle.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Sizes.Validate(); err != nil {
		errs = append(errs, err)
	}
	// The sandbox builder's own validation decides what a usable policy is.
	if n := cfg.Reconcile.Network(); n != nil {
		probe := k8s.SandboxSpec{Name: "probe", Namespace: "probe", Project: "probe", Domain: "probe.example",
			AppHostLabel: "a", TerminalHostLabel: "t", Network: n}
		if err := probe.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sandbox network policy: %w", err))
		}
	}
	if u := cfg.Reconcile.DefaultAnthropicBaseURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("anthropic default base URL %q: want an http(s) URL", u))
		}
	}
	if cfg.Keys.ResealRate < 0 {
		errs = append(errs, fmt.Errorf("reseal rate %v: must not be negative", cfg.Keys.ResealRate))
	}
	switch cfg.Log.Format {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want json or text", cfg.Log.Format))
	}
	if cfg.Single() {
		if cfg.Raft.Bootstrap || len(cfg.Raft.Join) > 0 {
			errs = append(errs, errors.New("--bootstrap and --join need --raft-addr (cluster mode)"))
		}
	} else {
		if err := checkHostPort("raft addr", cfg.Raft.Addr); err != nil {
			errs = append(errs, err)
		}
		if cfg.Raft.Advertise == "" {
			cfg.Raft.Advertise = cfg.Raft.Addr
		}
		if err := checkHostPort("raft advertise", cfg.Raft.Advertise); err != nil {
			errs = append(errs, err)
		}
		if cfg.NodeID == "" {
			errs = append(errs, errors.New("node id is required in cluster mode (--node-id or FSA_NODE_ID)"))
		}
		if cfg.Raft.Bootstrap && len(cfg.Raft.Join) > 0 {
			errs = append(errs, errors.New("--bootstrap and --join are exclusive"))
		}
		for _, j := range cfg.Raft.Join {
			if u, err := url.Parse(j); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("join address %q: want an http(s) URL", j))
			}
		}
		if len(cfg.Raft.Join) > 0 && cfg.AdminToken == "" {
			errs = append(errs, errors.New("--join needs --admin-token (the members' admin token)"))
		}
		rt := cfg.Raft
		for name, d := range map[string]time.Duration{"heartbeat": rt.HeartbeatTimeout, "election": rt.ElectionTimeout, "lease": rt.LeaderLeaseTimeout} {
			if d < 5*time.Millisecond {
				errs = append(errs, fmt.Errorf("raft %s timeout %v is too short", name, d))
			}
		}
		if rt.LeaderLeaseTimeout > rt.HeartbeatTimeout {
			errs = append(errs, fmt.Errorf("raft lease timeout %v must not exceed the heartbeat timeout %v", rt.LeaderLeaseTimeout, rt.HeartbeatTimeout))
		}
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func checkHostPort(what, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s %q: bad port", what, addr)
	}
	return nil
}

// parseFlags sets fs's flags from the environment (FSA_<NAME>, see EnvName) and then from
// args, so that the command line overrides the environment; positional arguments are refused.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", EnvName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// quantityFlag is a limit given as a Kubernetes quantity: millicores (cpu) or bytes.
type quantityFlag struct {
	n   *int64
	cpu bool
}

func (f quantityFlag) String() string {
	if f.n == nil || *f.n == 0 {
		return "0"
	}
	if f.cpu {
		return k8s.FormatMilli(*f.n)
	}
	return k8s.FormatBytes(*f.n)
}

func (f quantityFlag) Set(v string) error {
	var err error
	if f.cpu {
		*f.n, err = k8s.ParseMilli(v)
	} else {
		*f.n, err = k8s.ParseBytes(v)
	}
	return err
}

// sizeClassFlag adds size classes (fsa.ParseSizeClass), several separated by ';'.
type sizeClassFlag struct{ p *fsa.SizePolicy }

func (f sizeClassFlag) String() string {
	if f.p == nil {
		return ""
	}
	names := make([]string, 0, len(f.p.Classes))
	for n := range f.p.Classes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (f sizeClassFlag) Set(v string) error {
	for _, c := range strings.Split(v, ";") {
		if strings.TrimSpace(c) == "" {
			continue
		}
		name, size, err := fsa.ParseSizeClass(strings.TrimSpace(c))
		if err != nil {
			return err
		}
		if f.p.Classes == nil {
			f.p.Classes = map[string]fsa.Size{}
		}
		if _, dup := f.p.Classes[name]; dup {
			return fmt.Errorf("size class %s defined twice", name)
		}
		f.p.Classes[name] = size
	}
	return nil
}

// sizeBoundsFlag is a size bound (fsa.ParseSizeBounds).
type sizeBoundsFlag struct{ s *fsa.Size }

func (f sizeBoundsFlag) String() string { return "" }

func (f sizeBoundsFlag) Set(v string) error {
	b, err := fsa.ParseSizeBounds(v)
	if err != nil {
		return err
	}
	*f.s = b
	return nil
}
