package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// Purge deletes one piece of data a deleted project left behind (fsa.RetainedData) from
// Kubernetes, with its owner's current kubeconfig in the namespace it was kept in, and then
// forgets it. Objects already gone are fine, so a purge interrupted half-way can be repeated.
// It is an operator's action on objects no project owns any more, so any node may run it; no
// fencing is needed.
//
// Errors: fsa.ErrNotFound (no such record); k8s.ErrNoKubeconfig; fsa.ErrFailedPrecondition when
// the owner's kubeconfig points at another API server than the data's; the Kubernetes errors of
// the deletes (k8s.ErrForbidden, ...).
func Purge(ctx context.Context, c *fsa.Client, clients *k8s.Clients, id string) error {
	rd, err := c.GetRetained(ctx, id)
	if err != nil {
		return err
	}
	cfg, err := c.GetUserConfig(ctx, rd.UserID, fsa.ConfigKubeconfig, true)
	if errors.Is(err, fsa.ErrNotFound) {
		return fmt.Errorf("purge %s: the owner has no kubeconfig: %w", id, k8s.ErrNoKubeconfig)
	}
	if err != nil {
		return err
	}
	kc, err := clients.Get(rd.UserID, []byte(cfg.Value))
	if err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	if rd.Server != "" && rd.Server != kc.Server {
		return fmt.Errorf("%w: %s %s is kept on the API server %s; its owner's kubeconfig points at %s",
			fsa.ErrFailedPrecondition, rd.Kind, rd.ResourceName, rd.Server, kc.Server)
	}
	if rd.Namespace != "" {
		kc = kc.InNamespace(rd.Namespace)
	}
	switch rd.Kind {
	case fsa.ResourceSandbox:
		err = k8s.SandboxManager{}.PurgeClaims(ctx, kc, rd.ResourceName)
	case fsa.ResourceDatabase:
		err = k8s.DatabaseManager{}.Purge(ctx, kc, rd.ResourceName)
	default:
		err = fmt.Errorf("purge %s: unknown kind %q", id, rd.Kind)
	}
	if err != nil {
		return err
	}
	if err := c.ForgetRetained(ctx, id); err != nil && !errors.Is(err, fsa.ErrNotFound) {
		return err
	}
	return nil
}
