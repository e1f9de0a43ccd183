package k8s

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// KubeBlocksAPI is a generation of KubeBlocks' Cluster API. A database is written in the
// generation its user's cluster serves (Client.KubeBlocksAPI finds it); each generation has its
// own Cluster layout (BuildDatabase) and its own connection Secret (DatabaseSpec.ConnectionURL),
// both mapped onto the same DATABASE_URL.
type KubeBlocksAPI string

// The KubeBlocks API generations fsa writes.
const (
	// KubeBlocksV1Alpha1 is KubeBlocks 0.9's apps.kubeblocks.io/v1alpha1 Cluster: a
	// ClusterDefinition and ClusterVersion, componentSpecs[].componentDefRef; stopped with zero
	// replicas; credentials in Secret "<cluster>-conn-credential" (host, port, username,
	// password).
	KubeBlocksV1Alpha1 KubeBlocksAPI = "v1alpha1"
	// KubeBlocksV1 is KubeBlocks 1.x's apps.kubeblocks.io/v1 Cluster: clusterDef and topology,
	// componentSpecs[].serviceVersion; stopped with componentSpecs[].stop; credentials of the
	// system account postgres in Secret "<cluster>-postgresql-account-postgres" (username,
	// password), reached through Service "<cluster>-postgresql-postgresql" on port 5432.
	KubeBlocksV1 KubeBlocksAPI = "v1"
)

// GVR returns the generation's Cluster resource.
func (a KubeBlocksAPI) GVR() schema.GroupVersionResource {
	gvr := GVRCluster
	gvr.Version = string(a)
	return gvr
}

func (a KubeBlocksAPI) valid() bool { return a == KubeBlocksV1Alpha1 || a == KubeBlocksV1 }

// Discovery caching: a user's cluster changes KubeBlocks generation only on an upgrade (1.x
// keeps serving v1alpha1 through its conversion webhook, so a stale v1alpha1 answer still
// works), so an answer is kept for kubeBlocksTTL. A cluster serving neither is asked again
// after kubeBlocksMissingTTL: KubeBlocks may be installed meanwhile. Errors are not kept.
const (
	kubeBlocksTTL        = 10 * time.Minute
	kubeBlocksMissingTTL = time.Minute
)

// kubeBlocksCache is a Client's discovered KubeBlocks API generation.
type kubeBlocksCache struct {
	mu    sync.Mutex
	api   KubeBlocksAPI
	until time.Time
}

// KubeBlocksAPI returns the generation of KubeBlocks' Cluster API the client's cluster serves:
// KubeBlocksV1 when apps.kubeblocks.io/v1 serves clusters (KubeBlocks 1.x), else
// KubeBlocksV1Alpha1. A cluster serving neither (KubeBlocks not installed) gets
// KubeBlocksV1Alpha1 too, so database writes fail there as they always did (not found). It asks
// the API server's discovery (allowed to every authenticated user) at most once per
// kubeBlocksTTL per Client; Clients rebuilds a user's Client, and so asks again, when the
// kubeconfig changes.
func (c *Client) KubeBlocksAPI(ctx context.Context) (KubeBlocksAPI, error) {
	if c.kb == nil { // a Client not made by NewClient: nothing to keep the answer in
		api, _, err := discoverKubeBlocks(ctx, c)
		return api, err
	}
	c.kb.mu.Lock()
	defer c.kb.mu.Unlock()
	now := time.Now()
	if c.kb.api != "" && now.Before(c.kb.until) {
		return c.kb.api, nil
	}
	api, missing, err := discoverKubeBlocks(ctx, c)
	if err != nil {
		return "", err
	}
	ttl := kubeBlocksTTL
	if missing {
		ttl = kubeBlocksMissingTTL
	}
	c.kb.api, c.kb.until = api, now.Add(ttl)
	return api, nil
}

// cachedKubeBlocksAPI returns the last discovered generation, "" when none is known.
func (c *Client) cachedKubeBlocksAPI() KubeBlocksAPI {
	if c.kb == nil {
		return ""
	}
	c.kb.mu.Lock()
	defer c.kb.mu.Unlock()
	return c.kb.api
}

// discoverKubeBlocks reads the resource lists of apps.kubeblocks.io/v1 and, if that has no
// clusters, of v1alpha1.
func discoverKubeBlocks(ctx context.Context, c *Client) (api KubeBlocksAPI, missing bool, err error) {
	for _, a := range []KubeBlocksAPI{KubeBlocksV1, KubeBlocksV1Alpha1} {
		served, err := servesClusters(ctx, c, a)
		if err != nil {
			return "", false, err
		}
		if served {
			return a, false, nil
		}
	}
	return KubeBlocksV1Alpha1, true, nil
}

func servesClusters(ctx context.Context, c *Client, a KubeBlocksAPI) (bool, error) {
	gv := a.GVR().GroupVersion()
	rc := c.Clientset.Discovery().RESTClient()
	if rc == nil {
		return false, fmt.Errorf("discover KubeBlocks: no discovery client")
	}
	var list metav1.APIResourceList
	err := rc.Get().AbsPath("/apis", gv.Group, gv.Version).Do(ctx).Into(&list)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, apiError("discover KubeBlocks "+gv.String(), err)
	}
	for _, r := range list.APIResources {
		if r.Name == GVRCluster.Resource {
			return true, nil
		}
	}
	return false, nil
}
