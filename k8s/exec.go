package k8s

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// TerminalSize is the size of an exec's TTY, in characters.
type TerminalSize struct {
	Width, Height uint16
}

// ExecOptions describe one command run in a container with pods/exec.
type ExecOptions struct {
	// Command is the argv; Command[0] is looked up in the container's PATH.
	Command []string
	// Env adds variables to the command's environment ("KEY=value" entries).
	Env []string
	// Dir, if set, is the working directory; otherwise the container's.
	Dir string
	// Stdin, if set, feeds the command's standard input; its end closes it.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it. With TTY, the
	// terminal's output goes to Stdout.
	Stdout, Stderr io.Writer
	// TTY allocates a terminal; Resize, if set, carries its size changes.
	TTY    bool
	Resize <-chan TerminalSize
}

// ExecMarker is the environment variable every exec's command carries, with a value unique to
// the exec, so that a cancelled exec's processes can be found and killed (a kubelet does not
// kill them when the stream closes).
const ExecMarker = "FSA_EXEC_ID"

// killGrace bounds the exec that kills a cancelled exec's processes.
const killGrace = 10 * time.Second

// Exec runs a command in a container of a pod in c's namespace, through the API server's
// pods/exec (WebSocket, falling back to SPDY for servers without it), and returns its exit code.
// A non-zero exit code is not an error. When ctx ends first, Exec kills the command and
// everything it started (a second exec, finding them by ExecMarker) and returns ctx's error.
// A refusal by the API server wraps ErrForbidden, ErrNotFound and so on, as apiError does.
func Exec(ctx context.Context, c *Client, pod, container string, opts ExecOptions) (int, error) {
	if len(opts.Command) == 0 {
		return 0, fmt.Errorf("exec in pod %q: %w: empty command", pod, ErrInvalidSpec)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return 0, fmt.Errorf("exec id: %w", err)
	}
	marker := hex.EncodeToString(id)
	code, err := stream(ctx, c, pod, container, wrapCommand(opts, marker), opts)
	if ctx.Err() != nil {
		// The stream ended because ctx did: the command may still run in the container.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killGrace)
		defer cancel()
		if _, kerr := stream(kctx, c, pod, container, killCommand(marker), ExecOptions{Stderr: io.Discard}); kerr != nil {
			return 0, fmt.Errorf("exec in pod %q: %w (and killing the command failed: %v)", pod, ctx.Err(), kerr)
		}
		return 0, fmt.Errorf("exec in pod %q: %w (the command was killed)", pod, ctx.Err())
	}
	return code, err
}

// wrapCommand runs the argv through sh and env: the working directory, the extra variables and
// the exec's marker. The argv itself is passed as arguments, never parsed by a shell.
func wrapCommand(opts ExecOptions, marker string) []string {
	script := `exec env -- "$@"`
	args := []string{"/bin/sh", "-c", script, "fsa-exec"}
	if opts.Dir != "" {
		args[2] = `cd -- "$1" || exit 126; shift; ` + script
		args = append(args, opts.Dir)
	}
	args = append(args, ExecMarker+"="+marker)
	args = append(args, opts.Env...)
	return append(args, opts.Command...)
}

// killCommand kills every process whose environment carries the exec's marker.
func killCommand(marker string) []string {
	return []string{"/bin/sh", "-c", `for p in /proc/[0-9]*; do
  if grep -qsF "$1" "$p/environ"; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
done; exit 0`, "fsa-kill", ExecMarker + "=" + marker}
}

type sizeQueue <-chan TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &remotecommand.TerminalSize{Width: s.Width, Height: s.Height}
}

// stream runs argv with pods/exec and returns its exit code.
func stream(ctx context.Context, c *Client, pod, container string, argv []string, opts ExecOptions) (int, error) {
	if c.Config == nil {
		return 0, fmt.Errorf("exec in pod %q: %w: the client has no REST config", pod, ErrInvalidKubeconfig)
	}
	req := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.Namespace).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: argv, Stdin: opts.Stdin != nil,
		Stdout: opts.Stdout != nil, Stderr: opts.Stderr != nil && !opts.TTY, TTY: opts.TTY,
	}, scheme.ParameterCodec)
	ex, err := executor(c, req.URL().String())
	if err != nil {
		return 0, fmt.Errorf("exec in pod %q: %w", pod, err)
	}
	so := remotecommand.StreamOptions{Stdin: opts.Stdin, Stdout: opts.Stdout, Tty: opts.TTY}
	if !opts.TTY {
		so.Stderr = opts.Stderr
	}
	if opts.Resize != nil {
		so.TerminalSizeQueue = sizeQueue(opts.Resize)
	}
	err = ex.StreamWithContext(ctx, so)
	var exit utilexec.CodeExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.Code, nil
	}
	return 0, streamError(fmt.Sprintf("exec in pod %q", pod), "pods/exec", c.Namespace, err)
}

// executor is client-go's WebSocket executor, falling back to SPDY when the server cannot
// upgrade to WebSocket (API servers before 1.30).
func executor(c *Client, url string) (remotecommand.Executor, error) {
	ws, err := remotecommand.NewWebSocketExecutor(c.Config, http.MethodGet, url)
	if err != nil {
		return nil, err
	}
	u, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.Config, http.MethodPost, u)
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// streamError maps a streaming failure: the API server's refusals (as apiError does), with
// the permission a forbidden one lacks named.
func streamError(op, subresource, namespace string, err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) || apierrors.ReasonForError(err) != "" {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("%s: %w: the kubeconfig may not %s in namespace %s (it needs get and create on %s): %w",
				op, ErrForbidden, subresource, namespace, subresource, err)
		}
		return apiError(op, err)
	}
	// WebSocket upgrades that are refused carry the API server's message as text.
	if msg := err.Error(); strings.Contains(msg, "forbidden") {
		return fmt.Errorf("%s: %w: the kubeconfig may not %s in namespace %s (it needs get and create on %s): %w",
			op, ErrForbidden, subresource, namespace, subresource, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }
