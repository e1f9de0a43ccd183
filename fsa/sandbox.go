package fsa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// Using a sandbox from code: commands, files, logs and ports of a project's running sandbox,
// all through the project owner's kubeconfig and the API server's pods/exec, pods/log and
// pods/portforward (see docs/sdk.md, "Using a sandbox"). Nothing runs in the sandbox but the
// commands asked for and the standard tools file operations use (sh, env, tar, stat, find,
// mkdir, rm).

// Limits of the sandbox operations.
const (
	MaxExecArgs      = 4096      // arguments of one command
	MaxExecArgvBytes = 256 << 10 // bytes of all arguments and environment entries together
	MaxExecEnv       = 256       // extra environment variables of one command
	MaxExecTimeout   = 24 * time.Hour
	MaxPathLen       = 4096
	// MaxFileSize is the largest file ReadFile and WriteFile move when the caller sets no
	// smaller limit.
	MaxFileSize = 1 << 30
	// MaxLogTailLines bounds LogOptions.TailLines.
	MaxLogTailLines = 100000
)

// ErrTooLarge: a file is larger than the limit of the operation.
var ErrTooLarge = errors.New("too large")

// TerminalSize is the size of an exec's terminal, in characters.
type TerminalSize struct {
	Width, Height uint16
}

// ExecRequest is one command to run in a project's sandbox.
type ExecRequest struct {
	// Command is the argv, never parsed by a shell: Command[0] is found in the sandbox's PATH.
	// Run a shell explicitly ([]string{"sh", "-c", script}) for pipes and globs.
	Command []string
	// Env adds environment variables to the command's (keys: letters, digits and _).
	Env map[string]string
	// Dir is the working directory; empty means the container's (the sandbox's home).
	Dir string
	// Stdin, if set, is the command's standard input; its end closes the command's input.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With TTY both go to Stdout.
	Stdout, Stderr io.Writer
	// TTY runs the command on a terminal; Resize, if set, carries size changes (close it
	// when done).
	TTY    bool
	Resize <-chan TerminalSize
	// Timeout, if set, kills the command after that long (ErrDeadline-class error:
	// context.DeadlineExceeded).
	Timeout time.Duration
}

// ExecResult is how a command ended.
type ExecResult struct {
	// ExitCode is the command's exit status (128+n when killed by signal n; 127 when not found).
	ExitCode int
	// Duration is the time from the request to the end of the command's output.
	Duration time.Duration
}

// FileInfo describes a file in a sandbox.
type FileInfo struct {
	Name    string // base name
	Path    string // the path asked for, or the listed directory joined with Name
	Size    int64
	Mode    fs.FileMode
	ModTime time.Time
}

// IsDir reports whether the file is a directory.
func (f FileInfo) IsDir() bool { return f.Mode.IsDir() }

// LogOptions select the sandbox's log lines.
type LogOptions struct {
	Follow     bool      // keep streaming new lines until ctx ends
	Since      time.Time // lines written at or after this time
	TailLines  int64     // only the last lines (0: all)
	Timestamps bool      // prefix each line with its RFC 3339 time
}

// WithKubeClients shares a cache of per-user Kubernetes clients with the Client (the daemon's
// reconciler uses the same one). Without it, the Client keeps its own.
func WithKubeClients(kc *k8s.Clients) Option { return func(c *Client) { c.kube = kc } }

// sandboxTarget is where a sandbox operation goes: the owner's client and the sandbox's pod.
type sandboxTarget struct {
	kc  *k8s.Client
	pod string
}

// target checks the ids and the project's state and returns the way to its sandbox. The
// project must be RUNNING (ErrFailedPrecondition names the status otherwise). It reads this
// node's local state where the store has one (raftstore.Store.ViewStale), so that any node of
// a cluster serves sandbox operations: the state may lag the leader's by a moment, which can
// only let a call reach a sandbox that is just stopping (and fail there) or use a kubeconfig
// the user has just replaced; ownership never changes.
func (c *Client) target(ctx context.Context, userID, projectID string) (sandboxTarget, error) {
	if err := validID("user id", userID); err != nil {
		return sandboxTarget{}, err
	}
	if err := validID("project id", projectID); err != nil {
		return sandboxTarget{}, err
	}
	view := c.view
	if sv, ok := c.st.(staleViewer); ok {
		view = func(ctx context.Context, fn func(store.Snapshot) error) error {
			return mapStoreErr(sv.ViewStale(ctx, c.opening(ctx, fn)))
		}
	}
	var p *Project
	var kubeconfig string
	err := view(ctx, func(s store.Snapshot) error {
		var err error
		if p, _, err = loadProject(s, userID, projectID); err != nil {
			return err
		}
		r, err := s.Get(store.KindUserConfig, configID(userID, ConfigKubeconfig))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		cfg, err := decode[UserConfig](r)
		if err != nil {
			return err
		}
		kubeconfig = cfg.Value
		return nil
	})
	if err != nil {
		return sandboxTarget{}, err
	}
	if p.Sandbox == nil || p.Sandbox.Status != StatusRunning || p.Sandbox.Name == "" {
		st := StatusTerminated
		if p.Sandbox != nil {
			st = p.Sandbox.Status
		}
		return sandboxTarget{}, fmt.Errorf("%w: the sandbox of project %s is %s; commands, files, logs and ports need it RUNNING",
			ErrFailedPrecondition, projectID, st)
	}
	if kubeconfig == "" {
		return sandboxTarget{}, fmt.Errorf("%w: user %s has no kubeconfig", ErrFailedPrecondition, userID)
	}
	kc, err := c.kubeClients().Get(userID, []byte(kubeconfig))
	if err != nil {
		return sandboxTarget{}, kubeErr(err)
	}
	// The sandbox lives where it was placed (Child.Namespace, Child.Server), whatever namespace
	// the user's kubeconfig names now.
	if p.Sandbox.Placed() {
		if p.Sandbox.Server != kc.Server {
			return sandboxTarget{}, fmt.Errorf("%w: the sandbox of project %s lives on the API server %s, but your kubeconfig now points at %s",
				ErrFailedPrecondition, projectID, p.Sandbox.Server, kc.Server)
		}
		kc = kc.InNamespace(p.Sandbox.Namespace)
	}
	// Every call on the sandbox is activity for the idle limit. Recording it is best effort: a
	// failure does not fail the call, and the next call tries again.
	_ = c.touch(ctx, p)
	return sandboxTarget{kc: kc, pod: p.Sandbox.Name + "-0"}, nil
}

func (c *Client) kubeClients() *k8s.Clients {
	c.kubeOnce.Do(func() {
		if c.kube == nil {
			c.kube = k8s.NewClients(k8s.WithUserAgent("fsa"))
		}
	})
	return c.kube
}

// kubeErr maps the k8s package's sentinels to the SDK's, keeping the message.
func kubeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, k8s.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, k8s.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, k8s.ErrForbidden), errors.Is(err, k8s.ErrUnauthorized):
		return fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	case errors.Is(err, k8s.ErrInvalidKubeconfig), errors.Is(err, k8s.ErrNoKubeconfig), errors.Is(err, k8s.ErrFileOp):
		return fmt.Errorf("%w: %w", ErrFailedPrecondition, err)
	case errors.Is(err, k8s.ErrInvalidSpec):
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return fmt.Errorf("sandbox: %w", err)
}

func validExec(req ExecRequest) error {
	if len(req.Command) == 0 || req.Command[0] == "" {
		return invalid("the command is empty")
	}
	if len(req.Command) > MaxExecArgs {
		return invalid("the command has %d arguments; at most %d allowed", len(req.Command), MaxExecArgs)
	}
	if strings.Contains(req.Command[0], "=") {
		return invalid("the command name %q contains '='", truncate(req.Command[0], 40))
	}
	total := 0
	for i, a := range req.Command {
		if strings.ContainsRune(a, 0) {
			return invalid("argument %d contains a NUL byte", i)
		}
		total += len(a)
	}
	if len(req.Env) > MaxExecEnv {
		return invalid("%d environment variables; at most %d allowed", len(req.Env), MaxExecEnv)
	}
	for k, v := range req.Env {
		if !ValidEnvKey(k) {
			return invalid("environment key %q is not a valid name", truncate(k, 40))
		}
		if strings.ContainsRune(v, 0) {
			return invalid("value of %s contains a NUL byte", k)
		}
		total += len(k) + len(v) + 1
	}
	if total > MaxExecArgvBytes {
		return invalid("the command and its environment have %d bytes; at most %d allowed", total, MaxExecArgvBytes)
	}
	if req.Dir != "" {
		if _, err := cleanPath("working directory", req.Dir); err != nil {
			return err
		}
	}
	if req.Timeout < 0 || req.Timeout > MaxExecTimeout {
		return invalid("timeout %s is out of range (0 to %s)", req.Timeout, MaxExecTimeout)
	}
	if req.Resize != nil && !req.TTY {
		return invalid("a terminal size needs TTY")
	}
	return nil
}

// cleanPath validates a sandbox path and returns it cleaned: absolute, or relative to the
// sandbox's working directory.
func cleanPath(field, p string) (string, error) {
	switch {
	case p == "":
		return "", invalid("%s is empty", field)
	case len(p) > MaxPathLen:
		return "", invalid("%s has %d bytes; at most %d allowed", field, len(p), MaxPathLen)
	case strings.ContainsRune(p, 0):
		return "", invalid("%s contains a NUL byte", field)
	case !utf8.ValidString(p):
		return "", invalid("%s is not valid UTF-8", field)
	}
	return path.Clean(p), nil
}

// cleanFilePath is cleanPath for a path naming a file to create or remove: not the root or
// the working directory themselves.
func cleanFilePath(field, p string) (string, error) {
	cp, err := cleanPath(field, p)
	if err != nil {
		return "", err
	}
	if cp == "/" || cp == "." || cp == ".." || strings.HasSuffix(cp, "/..") {
		return "", invalid("%s %q names no file", field, truncate(p, 80))
	}
	return cp, nil
}

// Exec runs a command in the sandbox of one of the user's projects and returns its exit code;
// a non-zero exit code is not an error. Cancelling ctx, or the Timeout passing, kills the
// command and everything it started, and returns ctx's error.
func (c *Client) Exec(ctx context.Context, userID, projectID string, req ExecRequest) (ExecResult, error) {
	if err := validExec(req); err != nil {
		return ExecResult{}, err
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return ExecResult{}, err
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	env := make([]string, 0, len(req.Env))
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	var resize chan k8s.TerminalSize
	if req.Resize != nil {
		resize = make(chan k8s.TerminalSize)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			defer close(resize)
			for {
				select {
				case s, ok := <-req.Resize:
					if !ok {
						return
					}
					select {
					case resize <- k8s.TerminalSize{Width: s.Width, Height: s.Height}:
					case <-stop:
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	start := c.now()
	opts := k8s.ExecOptions{Command: req.Command, Env: env, Dir: req.Dir, Stdin: req.Stdin,
		Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.TTY}
	if resize != nil {
		opts.Resize = resize
	}
	code, err := k8s.Exec(ctx, t.kc, t.pod, k8s.ContainerName, opts)
	res := ExecResult{ExitCode: code, Duration: c.now().Sub(start)}
	if err != nil {
		if req.Timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			return res, fmt.Errorf("exec in project %s: timed out after %s: %w", projectID, req.Timeout, err)
		}
		return res, fmt.Errorf("exec in project %s: %w", projectID, kubeErr(err))
	}
	return res, nil
}

func fileLimit(limit int64) int64 {
	if limit <= 0 || limit > MaxFileSize {
		return MaxFileSize
	}
	return limit
}

// ReadFile streams the regular file at path in the sandbox to w and returns its information.
// A file larger than limit (0 or more than MaxFileSize: MaxFileSize) is ErrTooLarge, with
// nothing written to w; a directory is ErrFailedPrecondition; a missing file ErrNotFound.
func (c *Client) ReadFile(ctx context.Context, userID, projectID, p string, w io.Writer, limit int64) (FileInfo, error) {
	cp, err := cleanFilePath("path", p)
	if err != nil {
		return FileInfo{}, err
	}
	if w == nil {
		return FileInfo{}, invalid("no writer for the content")
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return FileInfo{}, err
	}
	info, err := k8s.ReadFile(ctx, t.kc, t.pod, k8s.ContainerName, cp, w, fileLimit(limit))
	if err != nil {
		return FileInfo{}, kubeErr(err)
	}
	return fileInfo(info), nil
}

// WriteFile writes exactly size bytes from r to the file at path in the sandbox (its directory
// must exist), replacing it, with the permission bits of mode. A size over limit (0 or more
// than MaxFileSize: MaxFileSize) is ErrTooLarge before anything is sent; content shorter or
// longer than size fails the write.
func (c *Client) WriteFile(ctx context.Context, userID, projectID, p string, r io.Reader, size int64, mode fs.FileMode, limit int64) error {
	cp, err := cleanFilePath("path", p)
	if err != nil {
		return err
	}
	switch {
	case r == nil:
		return invalid("no reader for the content")
	case size < 0:
		return invalid("size %d is negative", size)
	case size > fileLimit(limit):
		return fmt.Errorf("%w: the file is %d bytes, the limit is %d", ErrTooLarge, size, fileLimit(limit))
	case mode&^fs.ModePerm != 0:
		return invalid("mode %v has more than permission bits", mode)
	}
	if mode == 0 {
		mode = 0o644
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return err
	}
	return kubeErr(k8s.WriteFile(ctx, t.kc, t.pod, k8s.ContainerName, cp, r, size, mode))
}

// Stat describes the file at path (a symbolic link itself, not its target).
func (c *Client) Stat(ctx context.Context, userID, projectID, p string) (FileInfo, error) {
	cp, err := cleanPath("path", p)
	if err != nil {
		return FileInfo{}, err
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return FileInfo{}, err
	}
	info, err := k8s.Stat(ctx, t.kc, t.pod, k8s.ContainerName, cp)
	if err != nil {
		return FileInfo{}, kubeErr(err)
	}
	return fileInfo(info), nil
}

// ListDir describes the entries of the directory at path, sorted by name.
func (c *Client) ListDir(ctx context.Context, userID, projectID, p string) ([]FileInfo, error) {
	cp, err := cleanPath("path", p)
	if err != nil {
		return nil, err
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	list, err := k8s.ListDir(ctx, t.kc, t.pod, k8s.ContainerName, cp)
	if err != nil {
		return nil, kubeErr(err)
	}
	out := make([]FileInfo, len(list))
	for i, f := range list {
		out[i] = fileInfo(f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Mkdir makes a directory with the permission bits of mode (0: 0755), and its missing parents
// if parents is set.
func (c *Client) Mkdir(ctx context.Context, userID, projectID, p string, mode fs.FileMode, parents bool) error {
	cp, err := cleanFilePath("path", p)
	if err != nil {
		return err
	}
	if mode&^fs.ModePerm != 0 {
		return invalid("mode %v has more than permission bits", mode)
	}
	if mode == 0 {
		mode = 0o755
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return err
	}
	return kubeErr(k8s.Mkdir(ctx, t.kc, t.pod, k8s.ContainerName, cp, mode, parents))
}

// Remove removes a file or an empty directory; with recursive, a directory and all it holds.
func (c *Client) Remove(ctx context.Context, userID, projectID, p string, recursive bool) error {
	cp, err := cleanFilePath("path", p)
	if err != nil {
		return err
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return err
	}
	return kubeErr(k8s.Remove(ctx, t.kc, t.pod, k8s.ContainerName, cp, recursive))
}

// Logs streams the sandbox container's log. The caller closes the stream.
func (c *Client) Logs(ctx context.Context, userID, projectID string, opts LogOptions) (io.ReadCloser, error) {
	if opts.TailLines < 0 || opts.TailLines > MaxLogTailLines {
		return nil, invalid("tail lines %d out of range (0 to %d)", opts.TailLines, MaxLogTailLines)
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	rc, err := k8s.Logs(ctx, t.kc, t.pod, k8s.ContainerName, k8s.LogOptions{Follow: opts.Follow, Since: opts.Since,
		TailLines: opts.TailLines, Timestamps: opts.Timestamps})
	if err != nil {
		return nil, kubeErr(err)
	}
	return rc, nil
}

// DialSandbox opens a connection to a TCP port of the sandbox (the app listens on 3000)
// through pods/portforward. The caller closes it.
func (c *Client) DialSandbox(ctx context.Context, userID, projectID string, port int) (io.ReadWriteCloser, error) {
	if port < 1 || port > 65535 {
		return nil, invalid("port %d out of range (1 to 65535)", port)
	}
	t, err := c.target(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	conn, err := k8s.DialPort(ctx, t.kc, t.pod, uint16(port))
	if err != nil {
		return nil, kubeErr(err)
	}
	return conn, nil
}

func fileInfo(f k8s.FileInfo) FileInfo {
	return FileInfo{Name: f.Name, Path: f.Path, Size: f.Size, Mode: f.Mode, ModTime: f.ModTime}
}

// SandboxReady checks that the user's project exists and its sandbox is RUNNING with a
// kubeconfig to reach it: what every sandbox operation needs, for callers (the daemon's
// preview) that check before handing out access.
func (c *Client) SandboxReady(ctx context.Context, userID, projectID string) error {
	_, err := c.target(ctx, userID, projectID)
	return err
}
