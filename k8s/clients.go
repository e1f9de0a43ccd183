package k8s

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client is what every manager call needs: API clients bound to one set of
// credentials, and the namespace those credentials work in. A Client is safe
// for concurrent use.
type Client struct {
	// Namespace is where every object of this client's user lives.
	Namespace string
	// Server is the URL of the API server the credentials are for: with Namespace, where an
	// object written through this client lives.
	Server string
	// Clientset is the typed client.
	Clientset kubernetes.Interface
	// Dynamic is the untyped client, used for KubeBlocks objects.
	Dynamic dynamic.Interface
	// Config is the REST config the clients were built from (streams: exec, port forward).
	Config *rest.Config

	kb *kubeBlocksCache // see KubeBlocksAPI; shared by InNamespace's copies
}

// ContentTypeProtobuf is the encoding the typed client asks for (JSON stays accepted): built-in
// objects in Kubernetes' protobuf encoding cost the API server and the client a fraction of
// JSON's CPU to encode and decode, which is most of what an informer's list and watch cost.
// Custom resources (the KubeBlocks Cluster, through Dynamic) are JSON regardless.
const ContentTypeProtobuf = "application/vnd.kubernetes.protobuf"

// NewClient builds a Client from a REST config and a namespace. Its typed client speaks
// protobuf unless cfg names a content type.
func NewClient(cfg *rest.Config, namespace string) (*Client, error) {
	if namespace == "" {
		return nil, fmt.Errorf("new client: %w: empty namespace", ErrInvalidKubeconfig)
	}
	typed := rest.CopyConfig(cfg)
	if typed.ContentType == "" {
		typed.ContentType = ContentTypeProtobuf
		typed.AcceptContentTypes = ContentTypeProtobuf + ",application/json"
	}
	cs, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return nil, fmt.Errorf("new clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("new dynamic client: %w", err)
	}
	return &Client{Namespace: namespace, Server: cfg.Host, Clientset: cs, Dynamic: dyn, Config: rest.CopyConfig(cfg), kb: &kubeBlocksCache{}}, nil
}

// InNamespace returns a client with c's credentials working in namespace ns (c itself when ns
// is c's): for objects created while the user's kubeconfig named another namespace. It shares
// c's API clients and its discovered KubeBlocks generation (a property of the cluster), and does
// no I/O.
func (c *Client) InNamespace(ns string) *Client {
	if ns == c.Namespace {
		return c
	}
	cp := *c
	cp.Namespace = ns
	return &cp
}

// ClientsOption configures a Clients cache.
type ClientsOption func(*Clients)

// WithRateLimit sets the client-side rate limit of every client the cache
// builds (defaults DefaultQPS and DefaultBurst).
func WithRateLimit(qps float32, burst int) ClientsOption {
	return func(c *Clients) { c.qps, c.burst = qps, burst }
}

// WithUserAgent sets the User-Agent of every client the cache builds.
func WithUserAgent(ua string) ClientsOption {
	return func(c *Clients) { c.userAgent = ua }
}

// WithTransportWrapper wraps the HTTP transport of every client the cache builds (to count or
// trace requests); nil wraps nothing. The wrapper sees request headers, credentials included: it must not log them.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) ClientsOption {
	return func(c *Clients) { c.wrap = wrap }
}

// WithJSON makes the typed clients speak JSON instead of protobuf (see ContentTypeProtobuf): for
// side-by-side benchmarks.
func WithJSON(json bool) ClientsOption {
	return func(c *Clients) { c.json = json }
}

// Clients caches one Client per user. The cached Client is rebuilt when the
// user's kubeconfig changes. Building a Client does no I/O. Clients is safe for
// concurrent use; its zero value is not, use NewClients.
type Clients struct {
	qps       float32
	burst     int
	userAgent string
	wrap      func(http.RoundTripper) http.RoundTripper
	json      bool

	mu     sync.Mutex
	byUser map[string]cachedClient
}

type cachedClient struct {
	sum    [sha256.Size]byte
	client *Client
}

// NewClients returns an empty cache.
func NewClients(opts ...ClientsOption) *Clients {
	c := &Clients{
		qps:       DefaultQPS,
		burst:     DefaultBurst,
		userAgent: "fsa",
		byUser:    make(map[string]cachedClient),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Get returns the Client for userID built from kubeconfig, reusing the cached
// one while the kubeconfig is unchanged. An empty kubeconfig yields
// ErrNoKubeconfig; one that cannot be used yields ErrInvalidKubeconfig, and a
// failed rebuild drops the stale cached client so no request runs on
// credentials the user has replaced.
func (c *Clients) Get(userID string, kubeconfig []byte) (*Client, error) {
	if len(bytes.TrimSpace(kubeconfig)) == 0 {
		c.Forget(userID)
		return nil, fmt.Errorf("user %q: %w", userID, ErrNoKubeconfig)
	}
	sum := sha256.Sum256(kubeconfig)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byUser[userID]; ok && e.sum == sum {
		return e.client, nil
	}
	delete(c.byUser, userID)
	cl, err := c.build(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", userID, err)
	}
	c.byUser[userID] = cachedClient{sum: sum, client: cl}
	return cl, nil
}

// Forget drops the cached Client of userID, if any.
func (c *Clients) Forget(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byUser, userID)
}

func (c *Clients) build(kubeconfig []byte) (*Client, error) {
	cfg, ns, err := ParseKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = c.qps, c.burst
	cfg.UserAgent = c.userAgent
	if c.json {
		cfg.ContentType = "application/json"
	}
	if c.wrap != nil {
		cfg.Wrap(c.wrap)
	}
	return NewClient(cfg, ns)
}

// ParseKubeconfig turns a user's kubeconfig into a REST config and the
// namespace of its current context. The kubeconfig must be self-contained: a
// current context naming a namespace, inline certificates and tokens. Exec
// and auth-provider plugins and references to local files are refused,
// because the kubeconfig comes from a user and is used on the server's
// machine. Errors wrap ErrInvalidKubeconfig and never quote credentials.
func ParseKubeconfig(kubeconfig []byte) (*rest.Config, string, error) {
	raw, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidKubeconfig, err)
	}
	if raw.CurrentContext == "" {
		return nil, "", fmt.Errorf("%w: no current context", ErrInvalidKubeconfig)
	}
	ctx, ok := raw.Contexts[raw.CurrentContext]
	if !ok {
		return nil, "", fmt.Errorf("%w: current context %q not defined", ErrInvalidKubeconfig, raw.CurrentContext)
	}
	if ctx.Namespace == "" {
		return nil, "", fmt.Errorf("%w: current context %q names no namespace", ErrInvalidKubeconfig, raw.CurrentContext)
	}
	if err := checkSelfContained(raw, ctx); err != nil {
		return nil, "", err
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, raw.CurrentContext, &clientcmd.ConfigOverrides{}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidKubeconfig, err)
	}
	return cfg, ctx.Namespace, nil
}

func checkSelfContained(raw *clientcmdapi.Config, ctx *clientcmdapi.Context) error {
	cluster, ok := raw.Clusters[ctx.Cluster]
	if !ok {
		return fmt.Errorf("%w: cluster %q not defined", ErrInvalidKubeconfig, ctx.Cluster)
	}
	if cluster.CertificateAuthority != "" {
		return fmt.Errorf("%w: cluster %q reads a certificate authority file", ErrInvalidKubeconfig, ctx.Cluster)
	}
	user, ok := raw.AuthInfos[ctx.AuthInfo]
	if !ok {
		return fmt.Errorf("%w: user %q not defined", ErrInvalidKubeconfig, ctx.AuthInfo)
	}
	switch {
	case user.Exec != nil:
		return fmt.Errorf("%w: user %q uses an exec plugin", ErrInvalidKubeconfig, ctx.AuthInfo)
	case user.AuthProvider != nil:
		return fmt.Errorf("%w: user %q uses an auth provider", ErrInvalidKubeconfig, ctx.AuthInfo)
	case user.TokenFile != "", user.ClientCertificate != "", user.ClientKey != "":
		return fmt.Errorf("%w: user %q reads credential files", ErrInvalidKubeconfig, ctx.AuthInfo)
	}
	return nil
}
