package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/fullstackagent/fsa/fsa"
)

// SigningKey is a key for session tokens (HMAC-SHA256). Its secret never appears in logs:
// String and LogValue show only the id.
type SigningKey struct {
	// ID travels in each token's "kid" header, so a verifier picks the right key.
	ID string
	// Secret is at least 32 random bytes.
	Secret []byte
}

// MinSigningKeyLen is the minimum length of a SigningKey's secret.
const MinSigningKeyLen = 32

// GenerateSigningKey returns a new key with a random id and a 32-byte random secret.
func GenerateSigningKey() (SigningKey, error) {
	var id [6]byte
	secret := make([]byte, MinSigningKeyLen)
	if _, err := rand.Read(id[:]); err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return SigningKey{ID: hex.EncodeToString(id[:]), Secret: secret}, nil
}

// ParseSigningKey reads a key written by SigningKey.Encode: "<id>:<secret, base64url>".
func ParseSigningKey(s string) (SigningKey, error) {
	id, enc, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || id == "" {
		return SigningKey{}, errors.New("signing key: want <id>:<base64url secret>")
	}
	secret, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key %s: secret is not base64url", id)
	}
	k := SigningKey{ID: id, Secret: secret}
	return k, k.validate()
}

// Encode returns the key as "<id>:<secret, base64url>", the form ParseSigningKey reads. The
// result is a secret.
func (k SigningKey) Encode() string {
	return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Secret)
}

// String names the key without its secret.
func (k SigningKey) String() string { return "signing key " + k.ID }

// LogValue keeps the secret out of structured logs.
func (k SigningKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k SigningKey) validate() error {
	if k.ID == "" || len(k.ID) > 64 {
		return errors.New("signing key: id must be 1 to 64 characters")
	}
	if len(k.Secret) < MinSigningKeyLen {
		return fmt.Errorf("signing key %s: secret has %d bytes; at least %d required", k.ID, len(k.Secret), MinSigningKeyLen)
	}
	return nil
}

// GitHubConfig is the server's GitHub OAuth app. Empty ClientID disables GitHub login.
type GitHubConfig struct {
	ClientID     string
	ClientSecret string // secret
	// TokenURL exchanges a code for a token (default https://github.com/login/oauth/access_token).
	TokenURL string
	// UserURL returns the authenticated user (default https://api.github.com/user).
	UserURL string
	// AuthorizeURL is the page clients send users to (default
	// https://github.com/login/oauth/authorize); ListIdentities tells clients.
	AuthorizeURL string
}

// RateLimit bounds the requests of one user (or, before login, of one client address).
type RateLimit struct {
	// PerSecond is the sustained rate (default 50); negative disables the limit.
	PerSecond float64
	// Burst is the number of requests allowed at once (default 2×PerSecond, at least 1).
	Burst int
}

// AuthConfig configures sessions, sign-in methods and request limits.
type AuthConfig struct {
	// SigningKey signs new session tokens; VerificationKeys are older keys still accepted when
	// verifying. To rotate: add the new key as SigningKey, move the old one to
	// VerificationKeys, and drop it after SessionTTL. Dropping a key revokes its tokens.
	SigningKey       SigningKey
	VerificationKeys []SigningKey
	// SessionTTL is how long a session token is valid (default 24h).
	SessionTTL time.Duration
	// Admins lists user ids and password usernames that get the admin role, in addition to
	// users whose stored role is fsa.RoleAdmin.
	Admins []string
	// DisableSignUp makes SignUp fail with PermissionDenied.
	DisableSignUp bool
	// BcryptCost is the cost of password hashes (default bcrypt.DefaultCost).
	BcryptCost int
	// GitHub is the OAuth app for GitHubLogin.
	GitHub GitHubConfig
	// SealosJWTSecret verifies Sealos session tokens (HS256); empty disables SealosLogin. Secret.
	SealosJWTSecret string
	// AiproxyEndpoint is the base URL of the Sealos Aiproxy; at every Sealos login a user
	// without a key of their own gets (or keeps current) one from POST
	// {AiproxyEndpoint}/api/keyhub. Empty disables it.
	AiproxyEndpoint string
	// AiproxyBaseURL is the Anthropic-compatible API base URL of that Aiproxy, where its keys
	// work: stored as the user's ANTHROPIC_BASE_URL with each key it issues.
	AiproxyBaseURL string
	// AiproxyTimeout bounds that call (default 3s); login succeeds without a key after it.
	AiproxyTimeout time.Duration
	// HTTPClient makes the calls to GitHub and Aiproxy (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// MaxMessageBytes bounds a request message (default 1 MiB); larger ones fail with
	// ResourceExhausted before anything is stored.
	MaxMessageBytes int
	// RateLimit is the per-user request limit.
	RateLimit RateLimit
	// Now is the clock (default time.Now); for tests.
	Now func() time.Time
}

// LogValue shows the configuration without its secrets.
func (c GitHubConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.String("token_url", c.TokenURL), slog.String("user_url", c.UserURL))
}

// LogValue shows the configuration without its secrets (keys by id only).
func (c AuthConfig) LogValue() slog.Value {
	ids := []string{c.SigningKey.ID}
	for _, k := range c.VerificationKeys {
		ids = append(ids, k.ID)
	}
	return slog.GroupValue(
		slog.Any("key_ids", ids), slog.Duration("session_ttl", c.SessionTTL), slog.Any("admins", c.Admins),
		slog.Bool("sign_up_disabled", c.DisableSignUp), slog.Any("github", c.GitHub),
		slog.Bool("sealos", c.SealosJWTSecret != ""), slog.String("aiproxy_endpoint", c.AiproxyEndpoint),
		slog.String("aiproxy_base_url", c.AiproxyBaseURL),
		slog.Int("max_message_bytes", c.MaxMessageBytes), slog.Float64("rate_per_second", c.RateLimit.PerSecond),
	)
}

const (
	defaultSessionTTL      = 24 * time.Hour
	defaultAiproxyTimeout  = 3 * time.Second
	defaultMaxMessageBytes = 1 << 20
	defaultRatePerSecond   = 50
	defaultGitHubTokenURL  = "https://github.com/login/oauth/access_token"
	defaultGitHubUserURL   = "https://api.github.com/user"
	defaultGitHubAuthorize = "https://github.com/login/oauth/authorize"
	tokenIssuer            = "fsad"
)

// withDefaults validates c and fills in defaults.
func (c AuthConfig) withDefaults() (AuthConfig, error) {
	if err := c.SigningKey.validate(); err != nil {
		return c, fmt.Errorf("auth: %w", err)
	}
	seen := map[string]bool{c.SigningKey.ID: true}
	for _, k := range c.VerificationKeys {
		if err := k.validate(); err != nil {
			return c, fmt.Errorf("auth: verification key: %w", err)
		}
		if seen[k.ID] {
			return c, fmt.Errorf("auth: two keys with id %q", k.ID)
		}
		seen[k.ID] = true
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = defaultSessionTTL
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		return c, fmt.Errorf("auth: bcrypt cost %d out of range", c.BcryptCost)
	}
	if c.GitHub.TokenURL == "" {
		c.GitHub.TokenURL = defaultGitHubTokenURL
	}
	if c.GitHub.UserURL == "" {
		c.GitHub.UserURL = defaultGitHubUserURL
	}
	if c.GitHub.AuthorizeURL == "" {
		c.GitHub.AuthorizeURL = defaultGitHubAuthorize
	}
	if c.AiproxyEndpoint != "" {
		u, err := url.Parse(c.AiproxyBaseURL)
		if c.AiproxyBaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, errors.New("auth: an Aiproxy endpoint needs the http(s) base URL where its keys work (AiproxyBaseURL, --aiproxy-base-url)")
		}
	}
	if c.AiproxyTimeout <= 0 {
		c.AiproxyTimeout = defaultAiproxyTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = defaultMaxMessageBytes
	}
	if c.RateLimit.PerSecond == 0 {
		c.RateLimit.PerSecond = defaultRatePerSecond
	}
	if c.RateLimit.Burst <= 0 {
		c.RateLimit.Burst = max(1, int(2*c.RateLimit.PerSecond))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Sessions are revoked per user: Logout records the time in the user's configuration entry
// sessionEpochKey (category "auth", not secret, replicated like every record), and a token
// issued at or before that time is rejected on every node. Logout therefore ends every
// session of the user ("log out everywhere").
const (
	sessionEpochKey      = "FSA_SESSION_EPOCH"
	sessionEpochCategory = "auth"
)

// sessionClaims are the claims of a session token: sub is the user id, sid the session id.
// IssuedNs is the issue time in nanoseconds: revocation compares it with the user's session
// epoch, so a login right after a logout is not caught by the coarser iat.
type sessionClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	IssuedNs  int64  `json:"fsa_iat_ns"`
}

// caller is the authenticated user of a request.
type caller struct {
	user      *fsa.User
	sessionID string
	expiresAt time.Time
	// clusterAdmin: the caller presented the cluster's admin token (ClusterService only);
	// user is nil.
	clusterAdmin bool
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerFrom returns the request's caller; the auth middleware guarantees one on every
// non-public procedure.
func callerFrom(ctx context.Context) (*caller, error) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok || c == nil {
		return nil, fmt.Errorf("%w: no session", errUnauthenticated)
	}
	return c, nil
}

// sessions issues and verifies session tokens.
type sessions struct {
	cfg    AuthConfig
	keys   map[string][]byte
	parser *jwt.Parser
	c      *fsa.Client
}

func newSessions(cfg AuthConfig, c *fsa.Client) *sessions {
	s := &sessions{cfg: cfg, c: c, keys: map[string][]byte{cfg.SigningKey.ID: cfg.SigningKey.Secret}}
	for _, k := range cfg.VerificationKeys {
		s.keys[k.ID] = k.Secret
	}
	s.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithTimeFunc(cfg.Now),
	)
	return s
}

// issue returns a new session token for u.
func (s *sessions) issue(u *fsa.User) (token string, expires time.Time, err error) {
	now := s.cfg.Now()
	var sid [16]byte
	if _, err := rand.Read(sid[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("session id: %w", err)
	}
	expires = now.Add(s.cfg.SessionTTL).Truncate(time.Second)
	claims := sessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
		SessionID: hex.EncodeToString(sid[:]),
		IssuedNs:  now.UnixNano(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = s.cfg.SigningKey.ID
	token, err = t.SignedString(s.cfg.SigningKey.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign session: %w", err)
	}
	return token, expires, nil
}

// verify checks a token's signature, key, algorithm, issuer and expiry, then that its user
// exists and the session was not revoked. Every failure is errUnauthenticated with a short
// reason; the token itself never appears in the error.
func (s *sessions) verify(ctx context.Context, raw string) (*caller, error) {
	var claims sessionClaims
	_, err := s.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, ok := s.keys[kid]
		if !ok {
			return nil, errors.New("unknown signing key")
		}
		return key, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: session expired", errUnauthenticated)
	case err != nil:
		return nil, fmt.Errorf("%w: invalid session token", errUnauthenticated)
	case claims.Subject == "" || claims.SessionID == "" || claims.IssuedNs == 0:
		return nil, fmt.Errorf("%w: invalid session token", errUnauthenticated)
	}
	// The user and its session epoch come from the leader's local state, without a quorum
	// round: every request then runs an operation that is linearizable by itself (a commit,
	// which a deposed leader cannot make, or a linearizable read), so a session accepted here
	// on stale state is refused there. A refusal is confirmed on a linearizable read first, so
	// a leader that has not noticed it was deposed never turns a valid session away.
	c, err := s.check(fsa.WithLeaderLocalRead(ctx), &claims)
	if errors.Is(err, errUnauthenticated) {
		c, err = s.check(ctx, &claims)
	}
	return c, err
}

// check looks the token's user and session epoch up in the store.
func (s *sessions) check(ctx context.Context, claims *sessionClaims) (*caller, error) {
	u, err := s.c.GetUser(ctx, claims.Subject)
	if errors.Is(err, fsa.ErrNotFound) || errors.Is(err, fsa.ErrInvalidArgument) {
		return nil, fmt.Errorf("%w: invalid session token", errUnauthenticated)
	}
	if err != nil {
		return nil, err
	}
	epoch, err := s.epoch(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if claims.IssuedNs <= epoch {
		return nil, fmt.Errorf("%w: session ended by logout", errUnauthenticated)
	}
	return &caller{user: u, sessionID: claims.SessionID, expiresAt: claims.ExpiresAt.Time}, nil
}

// epoch returns the user's session epoch (unix nanoseconds; 0 if never logged out).
func (s *sessions) epoch(ctx context.Context, userID string) (int64, error) {
	cfg, err := s.c.GetUserConfig(ctx, userID, sessionEpochKey, false)
	if errors.Is(err, fsa.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(cfg.Value, 10, 64)
	if err != nil {
		// A damaged epoch fails closed: no session of the user is accepted.
		return 1<<63 - 1, nil
	}
	return n, nil
}

// revoke ends every session of the user issued until now.
func (s *sessions) revoke(ctx context.Context, userID string) error {
	now := s.cfg.Now().UnixNano()
	_, err := s.c.SetUserConfig(ctx, userID, fsa.UserConfig{Key: sessionEpochKey, Value: strconv.FormatInt(now, 10), Category: sessionEpochCategory})
	return err
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
