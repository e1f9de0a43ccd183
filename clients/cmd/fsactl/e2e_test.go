package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// The end-to-end tests run the fsactl binary against a real fsad process. Projects that must
// reach RUNNING use a user kubeconfig of the local control plane (k8stest).
func TestMain(m *testing.M) { k8stest.Main(m) }

var bins struct {
	once         sync.Once
	fsad, fsactl string
	err          error
}

// binaries builds fsad and fsactl once per test binary into <repo>/.cache/clients/e2e-bin
// (the Go build cache makes a rebuild cheap); each binary is renamed into place atomically.
func binaries(t *testing.T) (fsad, fsactl string) {
	t.Helper()
	bins.once.Do(func() {
		root, err := k8stest.RepoRoot()
		if err != nil {
			bins.err = err
			return
		}
		dir := filepath.Join(root, ".cache", "clients", "e2e-bin")
		if bins.err = os.MkdirAll(dir, 0o755); bins.err != nil {
			return
		}
		build := func(name, pkg string) string {
			if bins.err != nil {
				return ""
			}
			tmp, err := os.CreateTemp(dir, name+"-*")
			if err != nil {
				bins.err = err
				return ""
			}
			_ = tmp.Close()
			cmd := exec.Command("go", "build", "-o", tmp.Name(), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				_ = os.Remove(tmp.Name())
				bins.err = fmt.Errorf("build %s: %w\n%s", pkg, err, out)
				return ""
			}
			path := filepath.Join(dir, name)
			if err := os.Rename(tmp.Name(), path); err != nil {
				bins.err = err
			}
			return path
		}
		bins.fsad = build("fsad", "./daemon/cmd/fsad")
		bins.fsactl = build("fsactl", "./clients/cmd/fsactl")
	})
	require.NoError(t, bins.err)
	return bins.fsad, bins.fsactl
}

// fsad is a running daemon process.
type fsad struct {
	URL string
	log string
	pid int
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startProcess starts cmd in its own process group, killed with the test (Pdeathsig), and
// stops it (SIGTERM, then SIGKILL) when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
}

// startFsad runs a single-node fsad with a fresh data directory; admins get the admin role.
func startFsad(t *testing.T, admins ...string) *fsad {
	t.Helper()
	bin, _ := binaries(t)
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	dir := t.TempDir()
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "fsad.log")
	lf, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lf.Close() })
	cmd := exec.Command(bin, "--data-dir", filepath.Join(dir, "data"), "--listen", addr,
		"--domain", "sandbox.fsa.test", "--log-format", "text", "--log-level", "debug",
		"--admins", strings.Join(admins, ","), "--reconcile-resync", "30s")
	if os.Getenv("FSA_BENCH_PROFILE") != "" { // TestBenchSandbox takes fsad's CPU profile
		cmd.Args = append(cmd.Args, "--pprof")
	}
	cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY="+key.Encode(), "FSA_KEK=test:"+strings.Repeat("q", 43))
	cmd.Stdout, cmd.Stderr = lf, lf
	startProcess(t, cmd)
	d := &fsad{URL: "http://" + addr, log: logPath, pid: cmd.Process.Pid}
	hc := &http.Client{Timeout: time.Second}
	require.Eventually(t, func() bool {
		res, err := hc.Get(d.URL + "/readyz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "fsad did not become ready; log %s", logPath)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("fsad log (tail):\n%s", tail(string(b), 40))
		}
	})
	return d
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cli runs fsactl as one user: its own HOME and config file, the daemon's endpoint.
type cli struct {
	t      *testing.T
	bin    string
	home   string
	env    []string
	config string
}

func newCLI(t *testing.T, d *fsad) *cli {
	_, bin := binaries(t)
	home := t.TempDir()
	return &cli{t: t, bin: bin, home: home, config: filepath.Join(home, ".config", "fsactl", "config.json"),
		env: []string{"HOME=" + home, "XDG_CONFIG_HOME=", "FSA_ENDPOINT=" + d.URL, "FSA_TOKEN=", "FSACTL_CONFIG=", "PATH=" + os.Getenv("PATH")}}
}

type result struct {
	Out, Err string
	Code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Out, r.Err)
}

// run runs fsactl with args and stdin, within timeout.
func (c *cli) runIn(stdin string, timeout time.Duration, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(c.t, err)
	}
	return result{Out: out.String(), Err: errb.String(), Code: code}
}

func (c *cli) run(args ...string) result { c.t.Helper(); return c.runIn("", time.Minute, args...) }

// ok runs fsactl and requires success.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	require.Equal(c.t, 0, r.Code, "fsactl %s\n%s", strings.Join(args, " "), r)
	return r.Out
}

// fails runs fsactl and requires exit code 1 with stderr containing want.
func (c *cli) fails(want string, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	require.Equal(c.t, 1, r.Code, "fsactl %s\n%s", strings.Join(args, " "), r)
	require.Contains(c.t, r.Err, want, "fsactl %s", strings.Join(args, " "))
	return r
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no fsad process")
	}
}

func TestAuthCommands(t *testing.T) {
	skipShort(t)
	d := startFsad(t)
	c := newCLI(t, d)

	// Sign up through the prompts (no terminal: the password is read as a line).
	out := c.runIn("ada\nsecret-password\n", time.Minute, "signup")
	require.Equal(t, 0, out.Code, out.String())
	assert.Contains(t, out.Out, "Logged in as ada (user)")
	assert.NotContains(t, out.Out+out.Err, "secret-password")

	fi, err := os.Stat(c.config)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the config holds a token")
	var saved struct {
		Endpoints []string `json:"endpoints"`
		Token     string   `json:"token"`
	}
	data, err := os.ReadFile(c.config)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &saved))
	assert.Equal(t, []string{d.URL}, saved.Endpoints)
	assert.NotEmpty(t, saved.Token)

	who := c.ok("whoami")
	assert.Regexp(t, `USER\s+ID\s+ROLE`, who)
	assert.Regexp(t, `ada\s+\S+\s+user`, who)
	var js struct {
		User struct{ Name, Role string }
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("whoami", "-o", "json")), &js))
	assert.Equal(t, "ada", js.User.Name)
	assert.Equal(t, "ROLE_USER", js.User.Role)

	// The token also works from FSA_TOKEN with no config file at all.
	other := newCLI(t, d)
	other.env = append(other.env, "FSA_TOKEN="+saved.Token)
	assert.Contains(t, other.ok("whoami"), "ada")

	assert.Contains(t, c.ok("logout"), "Logged out")
	c.fails("error: unauthenticated:", "whoami")
	other.fails("error: unauthenticated:", "whoami") // logout ends every session of the user

	c.fails("error: unauthenticated:", "login", "-u", "ada", "-p", "wrong-password")
	r := c.runIn("secret-password\n", time.Minute, "login", "--username", "ada")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, c.ok("whoami"), "ada")

	c.fails("error: already_exists:", "signup", "-u", "ada", "-p", "another-password")
	c.fails("error: invalid_argument:", "signup", "-u", "X", "-p", "another-password")
	c.fails("error: usage:", "whoami", "extra")
	c.fails("error: usage:", "whoami", "--output", "yaml")
	c.fails("error: unavailable:", "whoami", "--endpoint", "http://"+freeAddr(t), "--timeout", "2s")
}

func TestIdentityCommands(t *testing.T) {
	skipShort(t)
	d := startFsad(t)
	c := newCLI(t, d)
	c.ok("signup", "-u", "ida", "-p", "ida-password")

	assert.Regexp(t, `password\s+ida\s+ida\s+yes`, c.ok("identity", "list"))
	// A second password is refused; the only method cannot go.
	c.fails("error: already_exists:", "identity", "link", "-u", "ida-two", "-p", "another-password")
	c.fails("error: failed_precondition:", "identity", "unlink", "password", "ida")
	// This fsad has no GitHub app.
	c.fails("error: failed_precondition:", "identity", "link", "--github-code", "code")
	c.fails("error: usage:", "identity", "link", "--github-code", "code", "-u", "x")
	c.fails("error: usage:", "identity", "unlink", "facebook", "x")

	// A GitHub-less second method: another user signs up, and cannot take ida's username.
	other := newCLI(t, d)
	other.ok("signup", "-u", "olaf", "-p", "olaf-password")
	other.fails("error: not_found:", "identity", "unlink", "password", "ida")
	var js struct {
		Identities []struct {
			Provider       string `json:"provider"`
			ProviderUserID string `json:"providerUserId"`
			Primary        bool   `json:"primary"`
		} `json:"identities"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("identity", "list", "-o", "json")), &js))
	require.Len(t, js.Identities, 1)
	assert.Equal(t, "PROVIDER_PASSWORD", js.Identities[0].Provider)
	assert.True(t, js.Identities[0].Primary)
}

func TestRetainedCommands(t *testing.T) {
	skipShort(t)
	d := startFsad(t, "root")
	root := newCLI(t, d)
	root.ok("signup", "-u", "root", "-p", "password-root")
	assert.Regexp(t, `ID\s+KIND\s+OBJECTS\s+NAMESPACE`, root.ok("cluster", "retained", "list"))
	assert.JSONEq(t, `{}`, root.ok("cluster", "retained", "list", "-o", "json"))
	root.fails("error: not_found:", "cluster", "retained", "purge", "nosuchdata")
	root.fails("error: usage:", "cluster", "retained", "purge")

	user := signedUp(t, d, "uma", fakeKubeconfig)
	user.fails("error: permission_denied:", "cluster", "retained", "list")
	user.fails("error: permission_denied:", "cluster", "retained", "purge", "x")
	user.ok("project", "create", "doomed")
	out := user.ok("project", "delete", "doomed", "--purge-data")
	assert.Contains(t, out, "TERMINATING")
}

const fakeKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:9
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: ns-nowhere}
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-real-token}
`

// signedUp returns a CLI logged in as a new user with the given kubeconfig stored.
func signedUp(t *testing.T, d *fsad, name, kubeconfig string) *cli {
	t.Helper()
	c := newCLI(t, d)
	c.ok("signup", "-u", name, "-p", "password-"+name)
	if kubeconfig != "" {
		path := filepath.Join(c.home, "kubeconfig")
		require.NoError(t, os.WriteFile(path, []byte(kubeconfig), 0o600))
		out := c.ok("config", "set-kubeconfig", path)
		assert.Contains(t, out, "NAMESPACE")
	}
	return c
}

func TestProjectAndEnvCommands(t *testing.T) {
	skipShort(t)
	d := startFsad(t)
	c := signedUp(t, d, "bob", "")
	c.fails("error: failed_precondition:", "project", "create", "early")

	path := filepath.Join(c.home, "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(fakeKubeconfig), 0o600))
	assert.Regexp(t, `nowhere\s+ns-nowhere\s+https://127.0.0.1:9`, c.ok("config", "set-kubeconfig", path))
	assert.NotContains(t, c.ok("config", "get-kubeconfig", "-o", "json"), "not-a-real-token")

	// The GitHub token comes from stdin and never comes back.
	res := c.runIn("ghp_fsactl_TEST1\n", time.Minute, "config", "set-github-token")
	require.Equal(t, 0, res.Code, res.String())
	assert.Regexp(t, `GITHUB TOKEN\s+set`, res.Out)
	assert.NotContains(t, res.Out+res.Err, "ghp_fsactl_TEST1")
	res = c.runIn("\n", time.Minute, "config", "set-github-token")
	require.Equal(t, 1, res.Code, res.String())
	assert.Contains(t, res.Err, "no token given")
	assert.Regexp(t, `GITHUB TOKEN\s+none`, c.ok("config", "set-github-token", "--clear"))

	out := c.ok("project", "create", "blog", "--description", "my blog")
	assert.Regexp(t, `Status:\s+CREATING`, out)
	var p struct {
		ID, Name, Status string
		Sandbox          struct{ ID, Status string }
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("project", "get", "blog", "-o", "json")), &p))
	assert.Equal(t, "blog", p.Name)
	require.NotEmpty(t, p.ID)

	list := c.ok("project", "list")
	assert.Regexp(t, `ID\s+NAME\s+STATUS`, list)
	assert.Regexp(t, p.ID+`\s+blog\s+[A-Z]+`, list)
	var lj struct {
		Projects []struct{ ID string }
		Revision string
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("project", "list", "-o", "json")), &lj))
	require.Len(t, lj.Projects, 1)
	assert.NotEmpty(t, lj.Revision)
	assert.Contains(t, c.ok("project", "get", p.ID), "my blog", "by id as well as by name")

	c.fails("error: not_found:", "project", "get", "nope")
	c.fails("error: already_exists:", "project", "create", "blog")

	// Environment variables: secret values are hidden unless asked for.
	assert.Contains(t, c.ok("env", "set", "blog", "GREETING=hello world", "MODE=dev"), "Set MODE")
	c.ok("env", "set", "blog", "API_TOKEN=tok-s3cret", "--secret", "--category", "keys")
	env := c.ok("env", "list", "blog")
	assert.Regexp(t, `GREETING\s+hello world\s+`, env)
	assert.Regexp(t, `API_TOKEN\s+\(secret\)\s+keys\s+yes\s+user`, env)
	assert.NotContains(t, env, "tok-s3cret")
	assert.NotContains(t, c.ok("env", "list", "blog", "-o", "json"), "tok-s3cret")
	assert.Contains(t, c.ok("env", "list", "blog", "--reveal"), "tok-s3cret")
	assert.Contains(t, c.ok("env", "unset", "blog", "MODE"), "Unset MODE")
	assert.NotContains(t, c.ok("env", "list", "blog"), "MODE")
	c.fails("error: usage:", "env", "set", "blog", "NOEQUALS")

	ex := c.ok("project", "explain", "blog")
	assert.Contains(t, ex, "Project blog ("+p.ID+")")
	assert.Regexp(t, `sandbox\s+\S+\s+RUNNING`, ex, "the sandbox is desired RUNNING")

	// With an unreachable cluster the project never runs: --wait gives up, exit 1.
	r := c.run("project", "start", "blog", "--wait", "--wait-timeout", "2s")
	assert.Equal(t, 1, r.Code, r.String())

	// An unreachable cluster turns the project to ERROR (after a few failed attempts, not at
	// once), from which it may be stopped.
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`Status:\s+ERROR`).MatchString(c.run("project", "get", "blog").Out)
	}, 30*time.Second, 50*time.Millisecond, "the project turns ERROR")
	// The reconciler works concurrently, so only the recorded intent is certain.
	assert.Regexp(t, `Sandbox:\s+STOPP(ING|ED)`, c.ok("project", "stop", "blog"))
	assert.Regexp(t, `Status:\s+TERMINATING`, c.ok("project", "delete", "blog"))

	// Another user sees none of it.
	eve := signedUp(t, d, "eve", "")
	eve.fails("error: not_found:", "project", "get", p.ID)
	assert.NotContains(t, eve.ok("project", "list"), "blog")
	eve.fails("error: permission_denied:", "cluster", "status")
}

func TestCreateWaitError(t *testing.T) {
	skipShort(t)
	d := startFsad(t)
	// The kubeconfig names an API server that does not answer: the reconciler records ERROR.
	c := signedUp(t, d, "cat", fakeKubeconfig)
	r := c.runIn("", 2*time.Minute, "project", "create", "broken", "--wait", "--wait-timeout", "90s")
	require.Equal(t, 1, r.Code, r.String())
	assert.Regexp(t, `project\s+CREATING\s+broken`, r.Out, "progress lines from the start")
	assert.Regexp(t, `(sandbox|database)\s+ERROR\s+\S+`, r.Out)
	assert.Regexp(t, `project\s+ERROR\s+broken`, r.Out)
	assert.Regexp(t, `^error: project broken is ERROR: (sandbox|database): \S+`, r.Err)

	// JSON mode: the same failure, with the project's final state on stdout.
	r = c.runIn("", 2*time.Minute, "project", "create", "broken2", "--wait", "-o", "json")
	require.Equal(t, 1, r.Code, r.String())
	var p struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(r.Out), &p), r.Out)
	assert.Equal(t, "STATUS_ERROR", p.Status)
	assert.Contains(t, r.Err, "project broken2 is ERROR")
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestWatchCommand(t *testing.T) {
	skipShort(t)
	d := startFsad(t)
	c := signedUp(t, d, "dot", fakeKubeconfig)
	var lj struct{ Revision string }
	require.NoError(t, json.Unmarshal([]byte(c.ok("project", "list", "-o", "json")), &lj))
	require.NotEmpty(t, lj.Revision)

	// Watch from the listing's revision, so the creation below cannot be missed.
	var stdout, stderr syncBuffer
	cmd := exec.Command(c.bin, "watch", "-o", "json", "--from", lj.Revision)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	startProcess(t, cmd)
	table := exec.Command(c.bin, "watch", "--from", lj.Revision)
	var tableOut syncBuffer
	table.Env, table.Stdout, table.Stderr = c.env, &tableOut, &tableOut
	startProcess(t, table)

	c.ok("project", "create", "watched")

	seen := map[string]bool{}
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var m struct {
				Type     string
				Project  *struct{ Name string }
				Sandbox  *struct{ ProjectID string }
				Database *struct{ ProjectID string }
			}
			if json.Unmarshal([]byte(l), &m) != nil || m.Type != "EVENT_TYPE_PUT" {
				continue
			}
			switch {
			case m.Project != nil && m.Project.Name == "watched":
				seen["project"] = true
			case m.Sandbox != nil:
				seen["sandbox"] = true
			case m.Database != nil:
				seen["database"] = true
			}
		}
		return seen["project"] && seen["sandbox"] && seen["database"]
	}, 30*time.Second, 20*time.Millisecond, "stdout: %s\nstderr: %s", &stdout, &stderr)
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`\d+\s+PUT\s+project\s+\S+\s+watched\s+CREATING`).MatchString(tableOut.String())
	}, 30*time.Second, 20*time.Millisecond, "table: %s", &tableOut)
	assert.Contains(t, tableOut.String(), "REVISION")
}

func TestCreateWaitRunning(t *testing.T) {
	skipShort(t)
	cl := k8stest.Env(t)
	u := cl.NewTestUser(t, "fsactl")
	d := startFsad(t, "fay")
	c := signedUp(t, d, "fay", string(u.Kubeconfig))

	r := c.runIn("", 4*time.Minute, "project", "create", "Shop!", "--public-app", "--wait", "--wait-timeout", "3m")
	require.Equal(t, 0, r.Code, r.String())
	t.Logf("fsactl project create Shop! --wait:\n%s", r.Out)
	assert.Regexp(t, `project\s+CREATING\s+Shop!`, r.Out)
	assert.Regexp(t, `sandbox\s+RUNNING\s+https://\S+\.sandbox\.fsa\.test`, r.Out)
	assert.Regexp(t, `database\s+RUNNING`, r.Out)
	assert.Regexp(t, `Project Shop! \(\S+\) is RUNNING\n\s+app:\s+https://`, r.Out)

	assert.Regexp(t, `Shop!\s+RUNNING\s+RUNNING\s+RUNNING`, c.ok("project", "list"))
	ex := c.ok("project", "explain", "Shop!")
	assert.Regexp(t, `sandbox\s+\S+\s+RUNNING\s+RUNNING`, ex)
	assert.Contains(t, ex, "conditions:")
	assert.Contains(t, c.ok("project", "terminal", "Shop!"), "https://")

	// The app made private: no public URL, no app Ingress; then public again.
	var sb struct {
		Sandbox struct {
			Name      string
			PublicApp bool
			AppURL    string `json:"appUrl"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(c.ok("project", "get", "Shop!", "-o", "json")), &sb))
	require.True(t, sb.Sandbox.PublicApp)
	ingress := func() bool {
		_, err := cl.Clientset().NetworkingV1().Ingresses(u.Namespace).Get(t.Context(), sb.Sandbox.Name+"-app", metav1.GetOptions{})
		if err != nil {
			require.True(t, apierrors.IsNotFound(err), "%v", err)
		}
		return err == nil
	}
	require.True(t, ingress())
	assert.Regexp(t, `App URL:\s+private \(fsactl preview\)`, c.ok("project", "app", "Shop!", "private"))
	assert.Regexp(t, `Shop!\s+RUNNING\s+RUNNING\s+RUNNING\s+private`, c.ok("project", "list"))
	require.Eventually(t, func() bool { return !ingress() }, time.Minute, 100*time.Millisecond, "app Ingress deleted")
	c.ok("project", "app", "Shop!", "public")
	require.Eventually(t, ingress, time.Minute, 100*time.Millisecond, "app Ingress created")
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`App URL:\s+https://`).MatchString(c.ok("project", "get", "Shop!"))
	}, time.Minute, 100*time.Millisecond, "app URL recorded again")
	c.fails("error: usage:", "project", "app", "Shop!", "hidden")

	// Stop, then start again with --wait in JSON mode: progress on stderr, the project on stdout.
	c.ok("project", "stop", "Shop!")
	var p struct{ Status string }
	require.Eventually(t, func() bool {
		r := c.run("project", "get", "Shop!", "-o", "json")
		return r.Code == 0 && json.Unmarshal([]byte(r.Out), &p) == nil && p.Status == "STATUS_STOPPED"
	}, 2*time.Minute, 100*time.Millisecond)
	r = c.runIn("", 4*time.Minute, "project", "start", "Shop!", "--wait", "-o", "json")
	require.Equal(t, 0, r.Code, r.String())
	require.NoError(t, json.Unmarshal([]byte(r.Out), &p), r.Out)
	assert.Equal(t, "STATUS_RUNNING", p.Status)
	assert.Regexp(t, `project\s+STARTING`, r.Err)

	// fay is an admin: the single node reports itself.
	st := c.ok("cluster", "status")
	assert.Regexp(t, `ID\s+ADDRESS\s+SUFFRAGE\s+LEADER`, st)
	assert.Contains(t, c.ok("cluster", "status", "-o", "json"), "members")
}

// startCluster runs a three-node fsad cluster (n1 bootstraps, n2 and n3 join through it) and
// returns the nodes' API URLs once every node answers /readyz.
func startCluster(t *testing.T, admins ...string) []string {
	t.Helper()
	bin, _ := binaries(t)
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	dir := t.TempDir()
	var urls []string
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		api := freeAddr(t)
		args := []string{"--data-dir", filepath.Join(dir, id), "--listen", api, "--raft-addr", freeAddr(t),
			"--node-id", id, "--domain", "sandbox.fsa.test", "--log-format", "text",
			"--admins", strings.Join(admins, ","), "--shutdown-timeout", "3s"}
		if i == 1 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", urls[0])
		}
		lf, err := os.Create(filepath.Join(dir, id+".log"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = lf.Close() })
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "FSA_SIGNING_KEY="+key.Encode(), "FSA_ADMIN_TOKEN=cluster-admin-token", "FSA_KEK=test:"+strings.Repeat("q", 43))
		cmd.Stdout, cmd.Stderr = lf, lf
		startProcess(t, cmd)
		urls = append(urls, "http://"+api)
	}
	hc := &http.Client{Timeout: time.Second}
	for _, u := range urls {
		if !assert.Eventually(t, func() bool {
			res, err := hc.Get(u + "/readyz")
			if err != nil {
				return false
			}
			_ = res.Body.Close()
			return res.StatusCode == http.StatusOK
		}, 60*time.Second, 50*time.Millisecond, "node %s not ready", u) {
			// The directory goes with the test: show what the nodes said.
			for i := 1; i <= 3; i++ {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("=== n%d log (tail) ===\n%s", i, b)
			}
			t.FailNow()
		}
	}
	return urls
}

func TestClusterCommands(t *testing.T) {
	skipShort(t)
	urls := startCluster(t, "root")
	// Talk to a follower-to-be first: writes it refuses are resent to the leader it names.
	c := newCLI(t, &fsad{URL: urls[2]})
	c.ok("signup", "-u", "root", "-p", "password-root")

	type status struct {
		NodeID        string
		LeaderID      string
		LeaderAddress string
		Members       []struct {
			ID       string
			Suffrage string
			Leader   bool
		}
	}
	var st status
	require.Eventually(t, func() bool {
		r := c.run("cluster", "status", "-o", "json")
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &st) != nil || len(st.Members) != 3 || st.LeaderID == "" {
			return false
		}
		for _, m := range st.Members {
			if m.Suffrage != "SUFFRAGE_VOTER" {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "three voters and a leader")
	table := c.ok("cluster", "status")
	assert.Contains(t, table, "leader "+st.LeaderID)
	assert.Regexp(t, st.LeaderID+`\s+\S+\s+voter\s+yes`, table)

	// Every project command works from any endpoint.
	path := filepath.Join(c.home, "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(fakeKubeconfig), 0o600))
	for _, u := range urls {
		c.ok("--endpoint", u, "config", "set-kubeconfig", path)
	}
	c.ok("--endpoint", urls[1], "project", "create", "ha")
	c.ok("--endpoint", urls[2], "env", "set", "ha", "K=V")
	assert.Contains(t, c.ok("--endpoint", urls[0], "project", "list"), "ha")

	// Hand leadership to another voter (fsad picks it), then remove a follower.
	old := st.LeaderID
	out := c.ok("cluster", "transfer")
	assert.Contains(t, out, "Leadership transferred to ")
	assert.NotContains(t, out, "to "+old+"\n")
	require.Eventually(t, func() bool {
		r := c.run("cluster", "status", "-o", "json")
		return r.Code == 0 && json.Unmarshal([]byte(r.Out), &st) == nil && st.LeaderID != "" && st.LeaderID != old
	}, 30*time.Second, 100*time.Millisecond)
	var victim string
	for _, m := range st.Members {
		if m.ID != st.LeaderID {
			victim = m.ID
		}
	}
	assert.Contains(t, c.ok("cluster", "remove", victim), "Node "+victim+" removed")
	require.Eventually(t, func() bool {
		r := c.run("--endpoint", strings.Join(urls, ","), "cluster", "status", "-o", "json")
		return r.Code == 0 && json.Unmarshal([]byte(r.Out), &st) == nil && len(st.Members) == 2
	}, 30*time.Second, 100*time.Millisecond)
	c.fails("error: not_found:", "cluster", "remove", "nope")
}
