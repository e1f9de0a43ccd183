// Command embedded shows fsa embedded in a Go program, with no daemon: the SDK over the embedded
// bbolt store and, when given a kubeconfig, the reconcile loops running in-process.
//
//	embedded -data state.db                                 # record a project (intent only)
//	embedded -data state.db -kubeconfig user.kubeconfig     # ... and drive Kubernetes to it
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/boltstore"
)

type options struct {
	data       string
	project    string
	kubeconfig string // a namespace-scoped kubeconfig; empty: no reconcile
	domain     string
	timeout    time.Duration
}

// placeholderKubeconfig is stored for the demo user when no -kubeconfig is given.
const placeholderKubeconfig = "apiVersion: v1\nkind: Config\n# placeholder: no cluster\n"

func main() {
	var o options
	flag.StringVar(&o.data, "data", filepath.Join(os.TempDir(), "fsa-embedded.db"), "bbolt file to keep state in")
	flag.StringVar(&o.project, "project", "My Blog!", "display name of the project to create")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the demo user (namespace-scoped); when set, reconcile runs in-process until the project is RUNNING")
	flag.StringVar(&o.domain, "domain", "sandbox.localtest.me", "parent domain of the sandbox ingress hosts")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for RUNNING")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "embedded:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, o options) error {
	if err := os.MkdirAll(filepath.Dir(o.data), 0o755); err != nil {
		return err
	}
	st, err := boltstore.Open(o.data)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Secret values (kubeconfigs, keys, tokens) are sealed at rest. The key-encryption keyring
	// lives beside the data here, for the example's sake; a real program keeps it elsewhere (a
	// secret store, a KMS through fsa.KeyWrapper).
	keys, err := fsa.KeyringFile(o.data+".kek", true)
	if err != nil {
		return err
	}
	client := fsa.New(st, fsa.WithKeys(keys))
	fmt.Fprintf(out, "store: %s\n", o.data)

	user, err := demoUser(ctx, out, client)
	if err != nil {
		return err
	}
	// A project needs its user's kubeconfig on record. Without -kubeconfig a demo user that has
	// none gets a placeholder with no cluster behind it: the intent is recorded, and nothing
	// reconciles it.
	kc := []byte(placeholderKubeconfig)
	if o.kubeconfig != "" {
		kc, err = os.ReadFile(o.kubeconfig)
	} else if _, err = client.GetUserConfig(ctx, user.ID, fsa.ConfigKubeconfig, false); err == nil {
		kc = nil // keep the one on record
	} else if errors.Is(err, fsa.ErrNotFound) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if kc != nil {
		if _, err := client.SetUserConfig(ctx, user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(kc),
			Category: fsa.CategoryKubeconfig, Secret: true}); err != nil {
			return err
		}
	}

	p, err := client.CreateProject(ctx, user.ID, fsa.ProjectSpec{Name: o.project, Description: "created by examples/embedded", PublicApp: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "project %q → k8s name %q, status %s (store revision %d)\n", p.Name, p.K8sName, p.Status, p.Version)
	fmt.Fprintf(out, "  sandbox  %s  %s (wants %s)\n", p.Sandbox.Name, p.Sandbox.Status, p.Sandbox.Desired)
	fmt.Fprintf(out, "  database %s  %s (wants %s)\n", p.Database.ClusterName, p.Database.Status, p.Database.Desired)
	if _, err := client.SetEnvBatch(ctx, user.ID, p.ID, "general", []fsa.EnvSpec{
		{Key: "NODE_ENV", Value: "development"}, {Key: "PORT", Value: "3000"},
	}, false); err != nil {
		return err
	}
	vars, err := client.ListEnv(ctx, user.ID, p.ID, false)
	if err != nil {
		return err
	}
	for _, v := range vars {
		val := v.Value
		if v.Redacted {
			val = "(secret)"
		}
		fmt.Fprintf(out, "  env %s=%s [%s]\n", v.Key, val, v.Category)
	}
	if o.kubeconfig == "" {
		fmt.Fprintln(out, "no -kubeconfig: intent recorded; run with one to reconcile it into Kubernetes")
		return nil
	}
	return reconcileUntilRunning(ctx, out, client, user, p, o)
}

// demoUser signs up the demo user on the first run and finds it on later ones.
func demoUser(ctx context.Context, out io.Writer, client *fsa.Client) (*fsa.User, error) {
	ident, err := client.LookupIdentity(ctx, fsa.ProviderPassword, "demo")
	switch {
	case err == nil:
		u, err := client.GetUser(ctx, ident.UserID)
		if err == nil {
			fmt.Fprintf(out, "user:  %s (%s), existing\n", u.Name, u.ID)
		}
		return u, err
	case errors.Is(err, fsa.ErrNotFound):
		u, err := client.CreateUser(ctx, fsa.UserSpec{Name: "Demo", Identity: &fsa.IdentitySpec{
			Provider: fsa.ProviderPassword, ProviderUserID: "demo"}})
		if err == nil {
			fmt.Fprintf(out, "user:  %s (%s), created\n", u.Name, u.ID)
		}
		return u, err
	default:
		return nil, err
	}
}

// reconcileUntilRunning runs the loops in-process, prints each status change of the project,
// and stops them once both children run.
func reconcileUntilRunning(ctx context.Context, out io.Writer, client *fsa.Client, user *fsa.User, p *fsa.Project, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	loops := make(chan error, 1)
	go func() {
		loops <- client.RunLeader(ctx, func(ctx context.Context, fence uint64) error {
			r, err := reconcile.New(reconcile.Config{Client: client, Fence: fence, Domain: o.domain,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				return err
			}
			return r.Run(ctx)
		})
	}()
	defer func() {
		cancel()
		<-loops
	}()

	w, err := client.Watch(ctx, user.ID, p.Version)
	if err != nil {
		return err
	}
	last := ""
	for {
		cur, err := client.GetProject(ctx, user.ID, p.ID)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("  %-8s sandbox %-8s database %-8s", cur.Status, cur.Sandbox.Status, cur.Database.Status)
		if line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		if cur.Status == fsa.StatusRunning {
			fmt.Fprintf(out, "RUNNING: app %s  terminal %s\n", cur.Sandbox.AppURL, cur.Sandbox.TerminalURL)
			return nil
		}
		if cur.Status == fsa.StatusError {
			return fmt.Errorf("project failed: %s", fsa.Explain(cur).Children[0].LastError)
		}
		if _, err := w.Next(); err != nil {
			return fmt.Errorf("waiting for RUNNING: %w", err)
		}
	}
}
