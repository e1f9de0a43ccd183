package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

func secret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startCluster starts size fsad processes with the launcher of internal/devenv/fsadtest: 3 (a
// Raft cluster) or 1 (a single node without Raft, on its local state database), and waits until
// they are healthy.
func startCluster(ctx context.Context, bin, dir string, size int, extra []string) (*fsadtest.Cluster, error) {
	if size != 1 && size != 3 {
		return nil, fmt.Errorf("cluster size %d: want 1 or 3", size)
	}
	return fsadtest.Start(ctx, fsadtest.Options{
		Bin: bin, Dir: dir, Nodes: size, Token: secret(24),
		Env:  []string{"FSA_SIGNING_KEY=bench:" + secret(32)},
		Args: append([]string{"--rate-limit", "-1", "--log-level", "warn"}, extra...),
	})
}
