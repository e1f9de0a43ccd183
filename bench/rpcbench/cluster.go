package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fullstackagent/fsa/daemon"
)

// node is one fsad process.
type node struct {
	id, api, raft, dir string
	cmd                *exec.Cmd
	done               chan struct{}
}

func (n *node) url() string { return "http://" + n.api }

// cluster is three fsad processes on 127.0.0.1: n1 bootstraps, n2 and n3 join through it.
type cluster struct {
	nodes []*node
	token string
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func secret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startCluster starts size fsad processes: 3 (a Raft cluster) or 1 (a single node without
// Raft, on its local state database).
func startCluster(ctx context.Context, bin, dir string, size int, extra []string) (*cluster, error) {
	if size != 1 && size != 3 {
		return nil, fmt.Errorf("cluster size %d: want 1 or 3", size)
	}
	ports, err := freePorts(2 * size)
	if err != nil {
		return nil, err
	}
	c := &cluster{token: secret(24)}
	env := append(os.Environ(), "FSA_ADMIN_TOKEN="+c.token, "FSA_SIGNING_KEY=bench:"+secret(32))
	for i := 0; i < size; i++ {
		n := &node{id: fmt.Sprint("n", i+1), api: ports[2*i], raft: ports[2*i+1], dir: filepath.Join(dir, fmt.Sprint("n", i+1))}
		args := []string{"--data-dir", n.dir, "--listen", n.api, "--rate-limit", "-1", "--log-level", "warn"}
		switch {
		case size == 1:
		case i == 0:
			args = append(args, "--raft-addr", n.raft, "--node-id", n.id, "--bootstrap")
		default:
			args = append(args, "--raft-addr", n.raft, "--node-id", n.id, "--join", c.nodes[0].url())
		}
		args = append(args, extra...)
		logf, err := os.Create(filepath.Join(dir, n.id+".log"))
		if err != nil {
			c.close()
			return nil, err
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			_ = logf.Close()
			c.close()
			return nil, fmt.Errorf("start %s: %w", n.id, err)
		}
		n.cmd, n.done = cmd, make(chan struct{})
		go func() { _ = cmd.Wait(); _ = logf.Close(); close(n.done) }()
		c.nodes = append(c.nodes, n)
	}
	if _, err := c.waitHealthy(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) admin(n *node) *daemon.AdminClient {
	return &daemon.AdminClient{BaseURL: n.url(), Token: c.token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// waitHealthy waits until one node leads with reconcile running, every node is a voting
// member and every node agrees on the leader (a single node: runs reconcile); it returns the
// leader.
func (c *cluster) waitHealthy(ctx context.Context) (*node, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		var leader *node
		agree := 0
		var leaderID string
		for _, n := range c.nodes {
			st, err := c.admin(n).Status(ctx)
			if err != nil {
				continue
			}
			if len(c.nodes) == 1 && st.Reconcile.Running {
				return n, nil
			}
			if st.State == "Leader" && st.Reconcile.Running && len(st.Members) == len(c.nodes) {
				leader, leaderID = n, st.NodeID
			}
			if st.LeaderID != "" && (leaderID == "" || st.LeaderID == leaderID) {
				agree++
			}
		}
		if leader != nil && agree == len(c.nodes) {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster not healthy: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *cluster) close() {
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.done
		}
	}
}
