package k8s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DatabaseManager applies KubeBlocks PostgreSQL clusters and observes them.
// Every method is idempotent. Writes are server-side applies of the complete
// Cluster under FieldManager. Each call works in the KubeBlocks API generation
// the spec names or, when it names none, the one the client's cluster serves
// (Client.KubeBlocksAPI). The zero value is ready to use.
type DatabaseManager struct{}

// prepareAPI is prepare, with the API generation discovered when spec names none.
func (m DatabaseManager) prepareAPI(ctx context.Context, c *Client, spec DatabaseSpec) (DatabaseSpec, error) {
	if spec.API == "" {
		api, err := c.KubeBlocksAPI(ctx)
		if err != nil {
			return spec, fmt.Errorf("database %q: %w", spec.Name, err)
		}
		spec.API = api
	}
	return m.prepare(c, spec)
}

// prepare checks spec against the client; an empty API takes the client's
// last discovered generation, else KubeBlocksV1Alpha1 (as BuildDatabase).
func (DatabaseManager) prepare(c *Client, spec DatabaseSpec) (DatabaseSpec, error) {
	if spec.API == "" {
		spec.API = c.cachedKubeBlocksAPI()
	}
	if spec.API == "" {
		spec.API = KubeBlocksV1Alpha1
	}
	switch spec.Namespace {
	case "":
		spec.Namespace = c.Namespace
	case c.Namespace:
	default:
		return spec, fmt.Errorf("database %q: %w: namespace %q is not the client's %q",
			spec.Name, ErrInvalidSpec, spec.Namespace, c.Namespace)
	}
	return spec, spec.Validate()
}

// Apply makes the database's Cluster match spec, creating it if missing.
func (m DatabaseManager) Apply(ctx context.Context, c *Client, spec DatabaseSpec) error {
	spec, err := m.prepareAPI(ctx, c, spec)
	if err != nil {
		return err
	}
	if _, err := apply(ctx, c, spec.API.GVR(), BuildDatabase(spec)); err != nil {
		return fmt.Errorf("database %q: %w", spec.Name, err)
	}
	return nil
}

// Start applies spec with one replica (spec.Stopped is ignored), creating the
// Cluster if missing.
func (m DatabaseManager) Start(ctx context.Context, c *Client, spec DatabaseSpec) error {
	spec.Stopped = false
	return m.Apply(ctx, c, spec)
}

// Stop applies spec with zero replicas; the data volume stays. Stopping a
// database that does not exist does nothing.
func (m DatabaseManager) Stop(ctx context.Context, c *Client, spec DatabaseSpec) error {
	spec.Stopped = true
	spec, err := m.prepareAPI(ctx, c, spec)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("stop database %q", spec.Name)
	if _, err := c.Dynamic.Resource(spec.API.GVR()).Namespace(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{}); err != nil {
		return ignoreNotFound(apiError(op, err))
	}
	if _, err := apply(ctx, c, spec.API.GVR(), BuildDatabase(spec)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Delete deletes the database's Cluster; with terminationPolicy Delete,
// KubeBlocks removes its volumes and Secrets too. A Cluster already gone is
// fine.
func (DatabaseManager) Delete(ctx context.Context, c *Client, name string) error {
	op := fmt.Sprintf("delete database %q", name)
	api, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = c.Dynamic.Resource(api.GVR()).Namespace(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	return ignoreNotFound(apiError(op, err))
}

// Status observes the database; see DatabaseStatusOf. A database that does
// not exist is TERMINATED, not an error.
func (DatabaseManager) Status(ctx context.Context, c *Client, name string) (DatabaseStatus, error) {
	op := fmt.Sprintf("status of database %q", name)
	api, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return DatabaseStatus{}, fmt.Errorf("%s: %w", op, err)
	}
	u, err := c.Dynamic.Resource(api.GVR()).Namespace(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		err = apiError(op, err)
		if errors.Is(err, ErrNotFound) {
			return DatabaseStatusOf(nil), nil
		}
		return DatabaseStatus{}, err
	}
	return DatabaseStatusOf(u), nil
}

// Keys of a KubeBlocks connection credential Secret (a KubeBlocks 1.x account
// Secret has the user name and password only).
const (
	CredentialHost     = "host"
	CredentialPort     = "port"
	CredentialUsername = "username"
	CredentialPassword = "password"
)

// ConnectionURL returns the database's URL,
// postgresql://user:password@host:port/postgres, from the Secret KubeBlocks
// writes (see DatabaseSpec.CredentialSecretName and ConnectionURL), in the
// client's cluster's KubeBlocks API generation. It returns ErrNotReady while
// the Secret is missing or incomplete. The URL holds a password: do not log
// it.
func (DatabaseManager) ConnectionURL(ctx context.Context, c *Client, name string) (string, error) {
	op := fmt.Sprintf("connection url of database %q", name)
	api, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	spec := DatabaseSpec{Name: name, Namespace: c.Namespace, API: api}
	secret := spec.CredentialSecretName()
	sec, err := c.Clientset.CoreV1().Secrets(c.Namespace).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		err = apiError(op, err)
		if errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("%s: %w: no secret %q", op, ErrNotReady, secret)
		}
		return "", err
	}
	return spec.ConnectionURL(sec.Data)
}

// ConnectionURLOf builds the URL from the data of a KubeBlocks 0.9 connection
// credential Secret (all four keys), escaping the user name and password. It
// returns ErrNotReady when a key is missing or empty.
func ConnectionURLOf(data map[string][]byte) (string, error) {
	for _, k := range []string{CredentialHost, CredentialPort, CredentialUsername, CredentialPassword} {
		if len(data[k]) == 0 {
			return "", fmt.Errorf("connection credentials: %w: key %q missing", ErrNotReady, k)
		}
	}
	u := url.URL{
		Scheme: "postgresql",
		User:   url.UserPassword(string(data[CredentialUsername]), string(data[CredentialPassword])),
		Host:   net.JoinHostPort(string(data[CredentialHost]), string(data[CredentialPort])),
		Path:   "/postgres",
	}
	return u.String(), nil
}
