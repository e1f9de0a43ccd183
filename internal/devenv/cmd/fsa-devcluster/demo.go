package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fullstackagent/fsa/k8s"
)

// demoSandbox is the sandbox `up` starts in the default namespace, so that the first
// `kubectl get pods` a person types shows what fsa runs: a sandbox pod, Running.
const demoSandbox = "demo-agentruntime-000000"

// startDemoSandbox applies a sandbox (StatefulSet, Service, two Ingresses) with the admin
// kubeconfig through the same manager reconcile uses, and waits until it runs.
func startDemoSandbox(ctx context.Context, kubeconfigPath string, stderr io.Writer) error {
	data, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		return err
	}
	cfg, _, err := k8s.ParseKubeconfig(data)
	if err != nil {
		return err
	}
	c, err := k8s.NewClient(cfg, "default")
	if err != nil {
		return err
	}
	var m k8s.SandboxManager
	spec := k8s.SandboxSpec{Name: demoSandbox, Project: "demo", Domain: "sandbox.localtest.me",
		AppHostLabel: "demoapp00000", TerminalHostLabel: "demoterm0000",
		Env: map[string]string{"TTYD_ACCESS_TOKEN": "devcluster-demo-only-token-0123456789abcdef", "FSA_PROJECT": "demo"}}
	if err := m.Apply(ctx, c, spec); err != nil {
		return fmt.Errorf("demo sandbox: %w", err)
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := m.Status(ctx, c, demoSandbox)
		if err == nil && st.State == k8s.StateRunning {
			fmt.Fprintf(stderr, "fsa-devcluster: demo sandbox %s running in namespace default (kubectl get pods)\n", demoSandbox)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo sandbox not running: %w (last status %+v, %v)", ctx.Err(), st, err)
		case <-t.C:
		}
	}
}
