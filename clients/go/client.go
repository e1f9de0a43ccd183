package fsaclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
)

// LeaderHeader is the response header in which a follower names the leader's API base URL on
// Unavailable errors (the same address travels as a fsa.v1.NotLeaderError detail).
const LeaderHeader = "Fsa-Leader"

// placeholderBase is the base URL the generated clients are built with; every request is
// re-addressed to the client's current endpoint before it is sent.
const placeholderBase = "http://fsa.endpoint.invalid"

// TokenSource returns the session token to send, or "" for none (only the login RPCs accept
// that). It is called before every attempt.
type TokenSource func(ctx context.Context) (string, error)

// RetryPolicy bounds retries of calls that are safe to repeat.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts of one call, the first included (1: no retry).
	// For Watch it bounds consecutive failed (re)connections.
	MaxAttempts int
	// InitialBackoff is the pause after the first failed attempt; each later pause is
	// Multiplier times longer, up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Jitter in [0,1] is the fraction of each pause that is randomised: the pause is drawn
	// uniformly from [d*(1-Jitter), d].
	Jitter float64
}

// DefaultRetryPolicy is used when no WithRetry option is given: 8 attempts, pauses from 50 ms
// growing twofold to 2 s, half of each pause random (about 7 s in total at most).
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 8, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second, Multiplier: 2, Jitter: 0.5}

// backoff returns the pause after failed attempt n (1-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := float64(p.InitialBackoff)
	for i := 1; i < n && d < float64(p.MaxBackoff); i++ {
		d *= p.Multiplier
	}
	if d > float64(p.MaxBackoff) {
		d = float64(p.MaxBackoff)
	}
	if p.Jitter > 0 {
		d -= d * p.Jitter * randFloat()
	}
	return time.Duration(d)
}

// Option configures New.
type Option func(*Client)

// WithToken sends a fixed session token (see also Client.SetToken).
func WithToken(token string) Option {
	return func(c *Client) { c.SetToken(token) }
}

// WithTokenSource asks src for the token before every attempt; it replaces WithToken.
func WithTokenSource(src TokenSource) Option {
	return func(c *Client) { c.tokenSrc = src }
}

// WithHTTPClient sends requests through hc (default: a plain *http.Client, HTTP/1.1 or HTTP/2
// over TLS). Do not set a client-wide timeout: Watch streams are long; use contexts.
func WithHTTPClient(hc connect.HTTPClient) Option {
	return func(c *Client) { c.hc = hc }
}

// WithRetry replaces DefaultRetryPolicy. MaxAttempts below 1 means 1.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) {
		if p.MaxAttempts < 1 {
			p.MaxAttempts = 1
		}
		if p.Multiplier < 1 {
			p.Multiplier = 1
		}
		c.retry = p
	}
}

// WithConnectOptions passes options to the generated clients (e.g. connect.WithGRPC(),
// connect.WithHTTPGet(), more interceptors; they run after this package's).
func WithConnectOptions(opts ...connect.ClientOption) Option {
	return func(c *Client) { c.connectOpts = append(c.connectOpts, opts...) }
}

// Client talks to an fsad node or cluster. It is safe for concurrent use.
type Client struct {
	endpoints   []*url.URL
	hc          connect.HTTPClient
	retry       RetryPolicy
	connectOpts []connect.ClientOption
	tokenSrc    TokenSource

	mu      sync.Mutex
	token   string
	current *url.URL // endpoint requests go to: one of endpoints, or a leader they named
	next    int      // index in endpoints tried after current fails

	auth     fsav1connect.AuthServiceClient
	projects fsav1connect.ProjectServiceClient
	env      fsav1connect.EnvironmentServiceClient
	config   fsav1connect.UserConfigServiceClient
	cluster  fsav1connect.ClusterServiceClient
	sandbox  fsav1connect.SandboxServiceClient
	quota    fsav1connect.QuotaServiceClient
}

// New returns a client of the fsad nodes at endpoints (API base URLs such as
// "https://fsa.example.com" or "http://127.0.0.1:8080"). It starts with the first endpoint and
// moves to the next one when a node cannot be reached, or to the leader a follower names.
func New(endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("fsaclient: no endpoint")
	}
	c := &Client{retry: DefaultRetryPolicy}
	for _, e := range endpoints {
		u, err := parseEndpoint(e, "")
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, u)
	}
	c.current, c.next = c.endpoints[0], 1%len(c.endpoints)
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	hc := router{c}
	copts := append([]connect.ClientOption{connect.WithInterceptors(interceptor{c})}, c.connectOpts...)
	c.auth = fsav1connect.NewAuthServiceClient(hc, placeholderBase, copts...)
	c.projects = fsav1connect.NewProjectServiceClient(hc, placeholderBase, copts...)
	c.env = fsav1connect.NewEnvironmentServiceClient(hc, placeholderBase, copts...)
	c.config = fsav1connect.NewUserConfigServiceClient(hc, placeholderBase, copts...)
	c.cluster = fsav1connect.NewClusterServiceClient(hc, placeholderBase, copts...)
	c.sandbox = fsav1connect.NewSandboxServiceClient(hc, placeholderBase, copts...)
	c.quota = fsav1connect.NewQuotaServiceClient(hc, placeholderBase, copts...)
	return c, nil
}

// parseEndpoint accepts "http(s)://host[:port][/prefix]" and, when defaultScheme is set, a bare
// "host:port" (as a leader hint may be).
func parseEndpoint(s, defaultScheme string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if defaultScheme != "" && !strings.Contains(s, "://") {
		s = defaultScheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fsaclient: endpoint %q: want an http(s) URL such as http://127.0.0.1:8080", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u, nil
}

// Auth is AuthService: sign-up, login, sessions.
func (c *Client) Auth() fsav1connect.AuthServiceClient { return c.auth }

// Projects is ProjectService. For a resuming watch use Client.Watch.
func (c *Client) Projects() fsav1connect.ProjectServiceClient { return c.projects }

// Environment is EnvironmentService.
func (c *Client) Environment() fsav1connect.EnvironmentServiceClient { return c.env }

// UserConfig is UserConfigService.
func (c *Client) UserConfig() fsav1connect.UserConfigServiceClient { return c.config }

// Cluster is ClusterService (admin role).
func (c *Client) Cluster() fsav1connect.ClusterServiceClient { return c.cluster }

// Quota is QuotaService: the caller's limits and use, the size classes, and (admin role) a
// user's limits.
func (c *Client) Quota() fsav1connect.QuotaServiceClient { return c.quota }

// SetToken replaces the session token sent with later calls ("" sends none). A TokenSource
// given to New takes precedence.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Endpoint returns the base URL the next call goes to.
func (c *Client) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current.String()
}

func (c *Client) tokenFor(ctx context.Context) (string, error) {
	if c.tokenSrc != nil {
		t, err := c.tokenSrc(ctx)
		if err != nil {
			return "", fmt.Errorf("fsaclient: token source: %w", err)
		}
		return t, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, nil
}

func (c *Client) target() *url.URL {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

// follow moves to the leader a follower named (resolved against from's scheme). It reports
// false when the hint is unusable or names the endpoint that just refused.
func (c *Client) follow(hint string, from *url.URL) bool {
	u, err := parseEndpoint(hint, from.Scheme)
	if err != nil || u.String() == from.String() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = u
	return true
}

// failover moves off failed (unless another call moved already) to the next endpoint.
func (c *Client) failover(failed *url.URL) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current != failed || len(c.endpoints) == 1 && c.current == c.endpoints[0] {
		return
	}
	c.current = c.endpoints[c.next]
	c.next = (c.next + 1) % len(c.endpoints)
}

type targetKey struct{}

func withTarget(ctx context.Context, u *url.URL) context.Context {
	return context.WithValue(ctx, targetKey{}, u)
}

// router re-addresses every request from placeholderBase to the attempt's target endpoint.
type router struct{ c *Client }

func (r router) Do(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(targetKey{}).(*url.URL)
	if t == nil {
		t = r.c.target()
	}
	u := *req.URL
	u.Scheme, u.Host, u.User = t.Scheme, t.Host, t.User
	u.Path = t.Path + req.URL.Path
	u.RawPath = ""
	req.URL, req.Host = &u, ""
	if streamsEnvelopes(req) {
		req.Body = envelopeBody{req.Body}
	}
	return r.c.hc.Do(req)
}

// sleep waits d or until ctx ends (reporting false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// NewIdempotencyKey returns a random key for a mutating RPC (32 hex digits).
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
