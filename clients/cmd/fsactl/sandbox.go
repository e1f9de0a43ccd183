package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

// exitStatus carries a remote command's exit code out of run: fsactl exits with it, printing
// nothing more.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// maxStdinUpload bounds what `fsactl cp - PROJECT:PATH` reads from stdin (its size must be
// known before the upload starts).
const maxStdinUpload = 64 << 20

// streamClient is a client for streams: bidirectional exec needs HTTP/2, so http:// endpoints
// are spoken to in h2c and https:// ones in HTTP/2 over TLS.
func (a *app) streamClient() (*fsaclient.Client, error) {
	var protos http.Protocols
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &protos, Proxy: http.ProxyFromEnvironment}}
	c, err := fsaclient.New(a.endpoints, fsaclient.WithToken(a.token), fsaclient.WithHTTPClient(hc))
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// streamCtx is the context of a long stream: it ends on SIGINT/SIGTERM, not after --timeout.
func streamCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func (a *app) execCommand() *cobra.Command {
	var stdin, tty bool
	var env []string
	var dir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "exec PROJECT -- COMMAND [ARG...]",
		Short: "Run a command in a project's sandbox; fsactl exits with the command's exit status",
		Long: `exec runs a command in the sandbox of a RUNNING project, through your own kubeconfig
(pods/exec). The command's argv is passed as is, never through a shell: run 'sh -c "..."' for
pipes. -i streams stdin to it; -t gives it a terminal (with -i: your terminal is put in raw
mode and its size follows yours). fsactl exits with the command's exit status.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash != 1 {
				return usagef("want PROJECT -- COMMAND [ARG...]")
			}
			envMap := map[string]string{}
			for _, kv := range env {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usagef("--env %q: want KEY=VALUE", kv)
				}
				envMap[k] = v
			}
			c, err := a.streamClient()
			if err != nil {
				return err
			}
			ctx, cancel := streamCtx(cmd)
			defer cancel()
			rctx, rcancel := a.callCtx(cmd)
			p, err := resolveProject(rctx, c, args[0])
			rcancel()
			if err != nil {
				return err
			}
			o := fsaclient.ExecOptions{Command: args[1:], Env: envMap, Dir: dir, Stdout: a.stdout, Stderr: a.stderr,
				TTY: tty, Timeout: timeout}
			if stdin {
				o.Stdin = a.stdin
			}
			if tty && stdin && a.stdinFile != nil && term.IsTerminal(int(a.stdinFile.Fd())) {
				fd := int(a.stdinFile.Fd())
				old, err := term.MakeRaw(fd)
				if err != nil {
					return err
				}
				defer func() { _ = term.Restore(fd, old) }()
				o.Stdin = a.stdinFile
				if w, h, err := term.GetSize(fd); err == nil {
					o.Size = &fsaclient.TerminalSize{Width: uint32(w), Height: uint32(h)}
				}
				resize := make(chan fsaclient.TerminalSize, 1)
				winch := make(chan os.Signal, 1)
				signal.Notify(winch, syscall.SIGWINCH)
				defer signal.Stop(winch)
				go func() {
					defer close(resize)
					for {
						select {
						case <-ctx.Done():
							return
						case <-winch:
							if w, h, err := term.GetSize(fd); err == nil {
								select {
								case resize <- fsaclient.TerminalSize{Width: uint32(w), Height: uint32(h)}:
								default:
								}
							}
						}
					}
				}()
				o.Resize = resize
			}
			code, err := c.Exec(ctx, p.GetId(), o)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitStatus(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&stdin, "stdin", "i", false, "stream stdin to the command")
	f.BoolVarP(&tty, "tty", "t", false, "run the command on a terminal")
	f.StringArrayVarP(&env, "env", "e", nil, "environment variable KEY=VALUE (repeatable)")
	f.StringVarP(&dir, "workdir", "w", "", "working directory in the sandbox")
	f.DurationVar(&timeout, "exec-timeout", 0, "kill the command after this long (0: no limit)")
	return cmd
}

// remotePath splits "PROJECT:PATH"; a local path has no colon before its first slash.
func remotePath(s string) (project, path string, ok bool) {
	i := strings.Index(s, ":")
	if i <= 0 || strings.Contains(s[:i], "/") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func (a *app) cpCommand() *cobra.Command {
	var mode uint32
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file between here and a project's sandbox (PROJECT:PATH; - is stdin or stdout)",
		Long: `cp copies one regular file to or from the sandbox of a RUNNING project:

  fsactl cp ./app.js shop:/home/agent/app.js     upload
  fsactl cp shop:/home/agent/out.log ./out.log   download
  fsactl cp shop:notes.txt -                     print a file (relative paths: the sandbox's home)

Downloads are written to the local path you name, never to a name chosen by the sandbox.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sp, spath, sRemote := remotePath(args[0])
			dp, dpath, dRemote := remotePath(args[1])
			if sRemote == dRemote {
				return usagef("exactly one of SRC and DST must be PROJECT:PATH")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := streamCtx(cmd)
			defer cancel()
			if sRemote {
				return a.download(ctx, cmd, c, sp, spath, args[1])
			}
			return a.upload(ctx, cmd, c, args[0], dp, dpath, fs.FileMode(mode))
		},
	}
	cmd.Flags().Uint32Var(&mode, "mode", 0, "permission bits of an uploaded file, e.g. 0755 (default: the local file's, or 0644)")
	return cmd
}

func (a *app) download(ctx context.Context, cmd *cobra.Command, c *fsaclient.Client, project, path, local string) error {
	rctx, rcancel := a.callCtx(cmd)
	p, err := resolveProject(rctx, c, project)
	rcancel()
	if err != nil {
		return err
	}
	if local == "-" {
		_, err := c.Download(ctx, p.GetId(), path, a.stdout, 0)
		return err
	}
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		local = filepath.Join(local, filepath.Base(path))
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), "."+filepath.Base(local)+".fsactl-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	info, err := c.Download(ctx, p.GetId(), path, tmp, 0)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), fs.FileMode(info.GetMode()).Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), local)
}

func (a *app) upload(ctx context.Context, cmd *cobra.Command, c *fsaclient.Client, local, project, path string, mode fs.FileMode) error {
	rctx, rcancel := a.callCtx(cmd)
	p, err := resolveProject(rctx, c, project)
	rcancel()
	if err != nil {
		return err
	}
	var r io.Reader
	var size int64
	if local == "-" {
		data, err := io.ReadAll(io.LimitReader(a.stdin, maxStdinUpload+1))
		if err != nil {
			return err
		}
		if len(data) > maxStdinUpload {
			return usagef("stdin holds more than %d bytes: copy from a file instead", maxStdinUpload)
		}
		r, size = bytes.NewReader(data), int64(len(data))
	} else {
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return usagef("%s is not a regular file", local)
		}
		if mode == 0 {
			mode = st.Mode().Perm()
		}
		r, size = f, st.Size()
	}
	if strings.HasSuffix(path, "/") {
		if local == "-" {
			return usagef("name the file to write: PROJECT:DIR/NAME")
		}
		path += filepath.Base(local)
	}
	return c.Upload(ctx, p.GetId(), path, r, size, mode)
}

func (a *app) logsCommand() *cobra.Command {
	var o fsaclient.LogOptions
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs PROJECT",
		Short: "Print the log of a project's sandbox (-f to follow it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := streamCtx(cmd)
			defer cancel()
			rctx, rcancel := a.callCtx(cmd)
			p, err := resolveProject(rctx, c, args[0])
			rcancel()
			if err != nil {
				return err
			}
			if since > 0 {
				o.Since = time.Now().Add(-since)
			}
			err = c.Logs(ctx, p.GetId(), o, a.stdout)
			if o.Follow && errors.Is(ctx.Err(), context.Canceled) {
				return nil // interrupted: the normal end of -f
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	f.DurationVar(&since, "since", 0, "only lines newer than this, e.g. 10m")
	f.Int64Var(&o.TailLines, "tail", 0, "only the last N lines (0: all)")
	f.BoolVar(&o.Timestamps, "timestamps", false, "prefix each line with its time")
	return cmd
}

func (a *app) previewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "preview PROJECT",
		Short: "Print a link to the private preview of the project's app (port 3000); it embeds a ticket valid for a minute",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withProject(cmd, args[0], func(ctx context.Context, c *fsaclient.Client, p *fsav1.Project) error {
				res, err := c.Sandbox().PreviewAccess(ctx, connect.NewRequest(&fsav1.PreviewAccessRequest{ProjectId: p.GetId()}))
				if err != nil {
					return err
				}
				if a.json() {
					return printJSON(a.stdout, res.Msg)
				}
				_, err = fmt.Fprintln(a.stdout, strings.TrimSuffix(c.Endpoint(), "/")+res.Msg.GetPath())
				return err
			})
		},
	}
}
