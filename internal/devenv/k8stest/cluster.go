package k8stest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/fullstackagent/fsa/internal/devenv/sbstandin"
)

// ErrNotLocal is returned by StopAPIServer and StartAPIServer on a Cluster this process did not
// start (one reached through FSA_TEST_KUBECONFIG).
var ErrNotLocal = errors.New("k8stest: the cluster was not started by this process")

// Cluster is a Kubernetes API reachable with admin rights: either a ControlPlane started by this
// process or an existing cluster given by kubeconfig. It is safe for concurrent use.
type Cluster struct {
	cp         *ControlPlane // nil for an existing cluster
	kubeconfig []byte
	config     *rest.Config
	clientset  *kubernetes.Clientset
	dynamic    *dynamic.DynamicClient
}

// NewCluster connects to an existing cluster with an admin kubeconfig.
func NewCluster(kubeconfig []byte) (*Cluster, error) { return newCluster(kubeconfig, nil) }

func newCluster(kubeconfig []byte, cp *ControlPlane) (*Cluster, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("k8stest: clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("k8stest: dynamic client: %w", err)
	}
	return &Cluster{cp: cp, kubeconfig: append([]byte(nil), kubeconfig...), config: cfg, clientset: cs, dynamic: dyn}, nil
}

// RESTConfig returns a copy of the admin client config.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// AdminKubeconfig returns the admin kubeconfig.
func (c *Cluster) AdminKubeconfig() []byte { return append([]byte(nil), c.kubeconfig...) }

// Clientset is an admin typed client.
func (c *Cluster) Clientset() kubernetes.Interface { return c.clientset }

// Dynamic is an admin dynamic client (for KubeBlocks Clusters: ClusterGVR).
func (c *Cluster) Dynamic() dynamic.Interface { return c.dynamic }

// ControlPlane returns the local control plane behind the cluster, or nil for an existing one.
func (c *Cluster) ControlPlane() *ControlPlane { return c.cp }

// SandboxRoot is the sandbox stand-in's directory of a local control plane (see
// sbstandin.FSDir), or "" for an existing cluster, whose sandboxes are real.
func (c *Cluster) SandboxRoot() string {
	if c.cp == nil {
		return ""
	}
	return c.cp.SandboxRoot()
}

// WaitSandboxServed waits until the sandbox stand-in serves the pod's exec, log and port
// forward (sbstandin.ReadyFile): on kwok they answer a moment after the pod runs, where a
// kubelet's answer at once. On an existing cluster it returns at once.
func (c *Cluster) WaitSandboxServed(t testing.TB, namespace, pod string) {
	t.Helper()
	root := c.SandboxRoot()
	if root == "" {
		return
	}
	ready := sbstandin.ReadyFile(root, namespace, pod)
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(ready); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("k8stest: the sandbox stand-in does not serve pod %s/%s (no %s)", namespace, pod, ready)
		}
		<-tick.C
	}
}

// StopAPIServer stops the local kube-apiserver (see ControlPlane.StopAPIServer).
func (c *Cluster) StopAPIServer() error {
	if c.cp == nil {
		return ErrNotLocal
	}
	return c.cp.StopAPIServer()
}

// StartAPIServer starts the local kube-apiserver again on the same port and waits for /readyz.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if c.cp == nil {
		return ErrNotLocal
	}
	return c.cp.StartAPIServer(ctx)
}

// User is a tenant the way a Sealos user arrives: a kubeconfig whose current context names the
// user's namespace, authenticated as a ServiceAccount whose Role covers that namespace only.
type User struct {
	// Name is the ServiceAccount's name (and the user name given to NewUser).
	Name string
	// Namespace is the user's own namespace, also the kubeconfig's current-context namespace.
	Namespace string
	// Kubeconfig is a ServiceAccount token kubeconfig; a secret, never log it.
	Kubeconfig []byte
}

// RESTConfig parses the user's kubeconfig.
func (u *User) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(u.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("k8stest: user kubeconfig: %w", err)
	}
	return cfg, nil
}

// Clientset is a typed client acting as the user.
func (u *User) Clientset() (kubernetes.Interface, error) {
	cfg, err := u.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// UserRules are the permissions a user has in its namespace: what fsa manages for a project.
var UserRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "services", "events", "secrets",
		"configmaps", "persistentvolumeclaims"}, Verbs: []string{rbacv1.VerbAll}},
	// Using a sandbox (fsa's Sandbox API): read its logs, exec into it (files are exec of tar),
	// forward a port to it. SPDY clients POST (create); WebSocket clients GET, and the API
	// server checks both get and create for them.
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/portforward"}, Verbs: []string{"get", "create"}},
	{APIGroups: []string{"apps"}, Resources: []string{"statefulsets", "statefulsets/scale"}, Verbs: []string{rbacv1.VerbAll}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: []string{rbacv1.VerbAll}},
	{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"apps.kubeblocks.io"}, Resources: []string{"clusters"}, Verbs: []string{rbacv1.VerbAll}},
}

// userTokenTTL is the lifetime of a user's ServiceAccount token.
const userTokenTTL = 24 * time.Hour

// UserOption changes what NewUser creates.
type UserOption func(*userOptions)

type userOptions struct{ nsLabels map[string]string }

// WithNamespaceLabels puts labels on the user's namespace, e.g. the Pod Security admission's
// pod-security.kubernetes.io/enforce.
func WithNamespaceLabels(labels map[string]string) UserOption {
	return func(o *userOptions) {
		for k, v := range labels {
			o.nsLabels[k] = v
		}
	}
}

// NewUser mints a user: namespace ns-<name>-<random>, ServiceAccount <name>, Role and RoleBinding
// granting UserRules there, and a TokenRequest token in a kubeconfig whose current context has
// that namespace. name must be a DNS label of at most 50 characters.
func (c *Cluster) NewUser(ctx context.Context, name string, opts ...UserOption) (*User, error) {
	return c.NewUserWithRules(ctx, name, UserRules, opts...)
}

// NewUserWithRules is NewUser with other permissions than UserRules in the user's namespace.
func (c *Cluster) NewUserWithRules(ctx context.Context, name string, rules []rbacv1.PolicyRule, opts ...UserOption) (*User, error) {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 || len(name) > 50 {
		return nil, fmt.Errorf("k8stest: user name %q: want a DNS label of at most 50 characters", name)
	}
	ns := "ns-" + name + "-" + randSuffix(5)
	cs := c.clientset
	labels := map[string]string{"fsa.test/user": name}
	o := userOptions{nsLabels: map[string]string{"fsa.test/user": name}}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: o.nsLabels},
	}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("k8stest: create namespace %s: %w", ns, err)
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("k8stest: create service account: %w", err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("k8stest: create role: %w", err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("k8stest: create role binding: %w", err)
	}
	ttl := int64(userTokenTTL / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("k8stest: request token: %w", err)
	}
	kc, err := c.tokenKubeconfig(ns, name, tr.Status.Token)
	if err != nil {
		return nil, err
	}
	return &User{Name: name, Namespace: ns, Kubeconfig: kc}, nil
}

// NewTestUser is NewUser for tests: it fails t on error and deletes the user's namespace when t
// ends (without waiting for the namespace to be gone).
func (c *Cluster) NewTestUser(t testing.TB, name string, opts ...UserOption) *User {
	t.Helper()
	return c.NewTestUserWithRules(t, name, UserRules, opts...)
}

// NewTestUserWithRules is NewTestUser with other permissions than UserRules.
func (c *Cluster) NewTestUserWithRules(t testing.TB, name string, rules []rbacv1.PolicyRule, opts ...UserOption) *User {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := c.NewUserWithRules(ctx, name, rules, opts...)
	if err != nil {
		t.Fatalf("new user %q: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.clientset.CoreV1().Namespaces().Delete(ctx, u.Namespace, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete namespace %s: %v", u.Namespace, err)
		}
	})
	return u
}

func (c *Cluster) tokenKubeconfig(ns, user, token string) ([]byte, error) {
	ca := c.config.CAData
	if len(ca) == 0 && c.config.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(c.config.CAFile); err != nil {
			return nil, fmt.Errorf("k8stest: cluster CA: %w", err)
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fsa-local"] = &clientcmdapi.Cluster{Server: c.config.Host, CertificateAuthorityData: ca,
		InsecureSkipTLSVerify: c.config.Insecure}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[ns] = &clientcmdapi.Context{Cluster: "fsa-local", AuthInfo: user, Namespace: ns}
	cfg.CurrentContext = ns
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("k8stest: user kubeconfig: %w", err)
	}
	return data, nil
}

// randSuffix returns n random lowercase letters and digits.
func randSuffix(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
