package fsa

import "time"

// Role is what a user may do beyond their own resources.
type Role string

// Roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// User is a person using fsa. Users own projects and configuration; they sign in through one or
// more identities.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// Limits are the user's own limits, set by an admin (SetUserLimits); nil: the defaults.
	Limits *Limits `json:"limits,omitempty"`
	// Usage is what counts against the limits, kept by the calls that change it; nil in a
	// record written before it was kept (counted when needed).
	Usage *Usage `json:"usage,omitempty"`
	// UsageVersion is the version of what Usage counts; an older one is counted again.
	UsageVersion int   `json:"usage_version,omitempty"`
	Version      int64 `json:"-"`
}

// Provider is a way of signing in.
type Provider string

// Providers.
const (
	ProviderPassword Provider = "PASSWORD"
	ProviderGitHub   Provider = "GITHUB"
	ProviderSealos   Provider = "SEALOS"
	// ProviderExternal is an account of the program embedding fsa (a portal with its own
	// sign-in): the provider user id is that program's own user id.
	ProviderExternal Provider = "EXTERNAL"
)

// Identity links a sign-in method to a user. (Provider, ProviderUserID) is unique.
type Identity struct {
	Provider       Provider `json:"provider"`
	ProviderUserID string   `json:"provider_user_id"`
	UserID         string   `json:"user_id"`
	// Secret holds provider data that must never leave the server, such as a password hash.
	Secret    string            `json:"secret,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	IsPrimary bool              `json:"is_primary,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Well-known user configuration keys.
const (
	ConfigKubeconfig          = "KUBECONFIG"
	ConfigAnthropicAPIKey     = "ANTHROPIC_API_KEY"
	ConfigAnthropicBaseURL    = "ANTHROPIC_BASE_URL"
	ConfigAnthropicModel      = "ANTHROPIC_MODEL"
	ConfigAnthropicSmallModel = "ANTHROPIC_SMALL_FAST_MODEL"
	// ConfigGitHubToken is a GitHub token the user grants for `git push` from their sandboxes
	// (as GITHUB_TOKEN). Always stored as a secret.
	ConfigGitHubToken     = "GITHUB_TOKEN"
	CategoryKubeconfig    = "kc"
	CategoryAnthropic     = "anthropic"
	CategoryGitHub        = "github"
	CategoryGeneral       = "general"
	CategoryTTYD          = "ttyd"
	EnvTTYDAccessToken    = "TTYD_ACCESS_TOKEN"
	EnvDatabaseURL        = "DATABASE_URL"
	EnvAnthropicAuthToken = "ANTHROPIC_AUTH_TOKEN"
	// EnvProjectName is the project's display name in its sandbox (platform-owned).
	EnvProjectName = "PROJECT_NAME"
	// EnvGitHubToken carries ConfigGitHubToken into the sandbox (platform-owned).
	EnvGitHubToken = "GITHUB_TOKEN"
	// EnvTerminalStart is the project setting that says what the web terminal starts: one of
	// TerminalStartShell (the default: a login shell with a banner on how to start Claude Code)
	// or TerminalStartClaude (Claude Code directly). The one FSA_ variable a user may set.
	EnvTerminalStart           = "FSA_TERMINAL_START"
	TerminalStartShell         = "shell"
	TerminalStartClaude        = "claude"
	envPlatformPrefixAnthropic = "ANTHROPIC_"
	envPlatformPrefixFSA       = "FSA_"
)

// ReasonClusterChanged is the reason of a child that lives on another API server than its
// owner's kubeconfig points at: ERROR until a kubeconfig for that server is stored again, or
// TERMINATED by a delete that could not reach it (its objects are then recorded as kept data,
// purge or no purge).
const ReasonClusterChanged = "ClusterChanged"

// CategoryAiproxy marks the Anthropic key and base URL fsa provisioned from Aiproxy at a Sealos
// sign-in (a pair: the key works only at that base URL). A key the user sets (CategoryAnthropic)
// is never replaced by one from Aiproxy.
const CategoryAiproxy = "aiproxy"

// UserConfig is one per-user setting, such as the user's kubeconfig or Anthropic key.
// (UserID, Key) is unique.
type UserConfig struct {
	UserID   string `json:"user_id"`
	Key      string `json:"key"`
	Value    string `json:"value"`
	Category string `json:"category,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
	// Redacted is true when Value was withheld because it is secret and not asked for.
	Redacted  bool      `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Condition is one entry of a resource's status timeline.
type Condition struct {
	Time    time.Time `json:"time"`
	From    Status    `json:"from"`
	To      Status    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
}

// MaxConditions bounds a resource's timeline; older entries are dropped.
const MaxConditions = 50

// Project is a user's app: one sandbox, one database and its environment variables.
type Project struct {
	ID          string `json:"id"`
	UserID      string `json:"user_id"`
	Name        string `json:"name"`
	K8sName     string `json:"k8s_name"`
	Description string `json:"description,omitempty"`
	// Size is what the project gets (see Size): chosen at create, changed by ResizeProject;
	// nil for a project created before sizes were recorded, which has BuiltinSize.
	Size *Size `json:"size,omitempty"`
	// Status is aggregated from the children (see Aggregate).
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version is the store revision of the project record's last change.
	Version int64 `json:"-"`
	// Lifecycle is the project's idle limit, expiry and auto-delete (see NextDue).
	Lifecycle Lifecycle `json:"lifecycle"`

	Children
}

// Children are a project's children, one field per kind, filled in by reads: each is stored as
// its own record. See Children.Child.
type Children struct {
	Sandbox  *Sandbox  `json:"-"`
	Database *Database `json:"-"`
}

// Child is what every child of a project records, whatever its kind: whose it is, its lifecycle
// status, the state the user last asked for, and its timeline. Sandbox and Database embed it;
// its fields are stored flat beside the kind's own, under the same names as ever.
type Child struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	// Status is the lifecycle state; Desired the state the user last asked for (RUNNING,
	// STOPPED or TERMINATED).
	Status     Status      `json:"status"`
	Desired    Status      `json:"desired"`
	Reason     string      `json:"reason,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	// Namespace and Server say where the child's Kubernetes objects live: the namespace of the
	// owner's kubeconfig and the URL of its API server when reconcile first wrote them. Recorded
	// once (see Observation) and never changed: a later kubeconfig naming another namespace
	// applies to new projects only; this child is still converged and deleted where it is. Empty
	// until the first sync.
	Namespace string `json:"namespace,omitempty"`
	Server    string `json:"server,omitempty"`
	// Purge is set by a DeleteProject that asked for the child's data to go too (PurgeData);
	// without it the data is kept (see RetainedData).
	Purge bool `json:"purge,omitempty"`
	// Version is the store revision of the child's last change: the generation an Observation
	// names as the one it observed.
	Version int64 `json:"-"`
}

// Placed reports whether the child's namespace and server are recorded.
func (c *Child) Placed() bool { return c.Namespace != "" }

// Sandbox is the project's development environment: a StatefulSet, a Service and two Ingresses
// (one while the app is private: PrivateApp).
type Sandbox struct {
	Child
	// Name is the Kubernetes resource name ({k8sName}-agentruntime-{6 chars}).
	Name string `json:"name"`
	// AppHostLabel and TerminalHostLabel are random DNS labels chosen at creation.
	AppHostLabel      string `json:"app_host_label"`
	TerminalHostLabel string `json:"terminal_host_label"`
	// AppURL and TerminalURL are recorded by reconcile once the Ingresses exist. AppURL is
	// empty while the app is private.
	AppURL      string `json:"app_url,omitempty"`
	TerminalURL string `json:"terminal_url,omitempty"`
	// PrivateApp is true when the app (port 3000) has no public Ingress: only its owner reaches
	// it, through the private preview. New projects are private unless ProjectSpec.PublicApp
	// asks otherwise; records written before the choice existed have it false and stay public.
	// See Client.SetPublicApp.
	PrivateApp bool `json:"private_app,omitempty"`
}

// PublicApp reports whether the sandbox's app is published on a public Ingress.
func (s *Sandbox) PublicApp() bool { return !s.PrivateApp }

// Database is the project's PostgreSQL cluster (a KubeBlocks Cluster).
type Database struct {
	Child
	ClusterName string `json:"cluster_name"`
}

// EnvVar is one environment variable of a project, synced into its sandbox.
// (ProjectID, Key) is unique.
type EnvVar struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Category  string `json:"category,omitempty"`
	Secret    bool   `json:"secret,omitempty"`
	// Platform is true for variables fsa owns (TTYD_ACCESS_TOKEN); users cannot change them.
	Platform bool `json:"platform,omitempty"`
	// Redacted is true when Value was withheld.
	Redacted  bool      `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RetainedData is data a deleted project left behind in Kubernetes, kept because its
// DeleteProject did not ask to purge it: the sandbox's home volume, or the database (its
// KubeBlocks Cluster, stopped, with a termination policy that keeps it, and its volumes). It is
// recorded when the project is removed, for operators to list and purge (ListRetained).
type RetainedData struct {
	// ID is the id of the child the data belonged to.
	ID          string       `json:"id"`
	UserID      string       `json:"user_id"`
	ProjectID   string       `json:"project_id"`
	ProjectName string       `json:"project_name"`
	Kind        ResourceKind `json:"kind"`
	// ResourceName names the objects: the sandbox's (its home volume claim is
	// home-<name>-0) or the database's Cluster.
	ResourceName string    `json:"resource_name"`
	Namespace    string    `json:"namespace,omitempty"`
	Server       string    `json:"server,omitempty"`
	DeletedAt    time.Time `json:"deleted_at"`
}
