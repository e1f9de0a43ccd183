package fsaclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
)

// UploadChunkSize is the size of the data messages Upload sends (well under the server's
// default message limit of 1 MiB).
const UploadChunkSize = 256 << 10

// Sandbox is the SandboxService client: commands, files and logs of a running sandbox. Exec,
// Download, Upload and Logs below wrap its streams.
func (c *Client) Sandbox() fsav1connect.SandboxServiceClient { return c.sandbox }

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint32 }

// ExecOptions describe one command for Client.Exec.
type ExecOptions struct {
	// Command is the argv (never parsed by a shell).
	Command []string
	// Env adds environment variables; Dir sets the working directory.
	Env map[string]string
	Dir string
	// Stdin, if set, streams the command's input (ExecInteractive: bidirectional streaming,
	// which needs HTTP/2: https, or an HTTP client speaking h2c to an http:// endpoint). Its
	// end closes the command's input. Without Stdin and TTY, Exec uses the server-streaming
	// RPC, which works over HTTP/1.1 too.
	Stdin io.Reader
	// Stdout and Stderr receive the output (nil discards it).
	Stdout, Stderr io.Writer
	// TTY runs the command on a terminal of Size; Resize carries later sizes.
	TTY    bool
	Size   *TerminalSize
	Resize <-chan TerminalSize
	// Timeout kills the command after that long (whole seconds; 0: none).
	Timeout time.Duration
}

func (o ExecOptions) request(projectID string) *fsav1.ExecRequest {
	r := &fsav1.ExecRequest{ProjectId: projectID, Command: o.Command, Env: o.Env, Dir: o.Dir, Tty: o.TTY,
		TimeoutSeconds: uint32((o.Timeout + time.Second - 1) / time.Second)}
	if o.Size != nil {
		r.TerminalSize = &fsav1.TerminalSize{Width: o.Size.Width, Height: o.Size.Height}
	}
	return r
}

// errNoExit is returned when an exec stream ends without its exit code.
var errNoExit = errors.New("fsaclient: the exec stream ended without an exit code")

func write(w io.Writer, b []byte) error {
	if w == nil || len(b) == 0 {
		return nil
	}
	_, err := w.Write(b)
	return err
}

// Exec runs a command in the sandbox of a project and returns its exit code (a non-zero code is
// not an error). Cancelling ctx kills the command.
//
// With Stdin, a goroutine copies it to the stream; Exec returns once the command ended, and
// that goroutine ends when its next Read returns (a terminal's stdin may block it until the
// user types or closes it).
func (c *Client) Exec(ctx context.Context, projectID string, o ExecOptions) (int, error) {
	if o.Stdin == nil && o.Resize == nil {
		st, err := c.sandbox.Exec(ctx, connect.NewRequest(o.request(projectID)))
		if err != nil {
			return 0, err
		}
		defer st.Close()
		for st.Receive() {
			switch ev := st.Msg().Event.(type) {
			case *fsav1.ExecResponse_Stdout:
				if err := write(o.Stdout, ev.Stdout); err != nil {
					return 0, err
				}
			case *fsav1.ExecResponse_Stderr:
				if err := write(o.Stderr, ev.Stderr); err != nil {
					return 0, err
				}
			case *fsav1.ExecResponse_ExitCode:
				return int(ev.ExitCode), nil
			}
		}
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, errNoExit
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := c.sandbox.ExecInteractive(ctx)
	if err := st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_Start{Start: o.request(projectID)}}); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		_ = c.pumpStdin(ctx, st, o) // a failed Send shows as the Receive error below
	}()
	defer func() { cancel(); <-pumped }()
	for {
		msg, err := st.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoExit
			}
			return 0, err
		}
		switch ev := msg.Event.(type) {
		case *fsav1.ExecInteractiveResponse_Stdout:
			if err := write(o.Stdout, ev.Stdout); err != nil {
				return 0, err
			}
		case *fsav1.ExecInteractiveResponse_Stderr:
			if err := write(o.Stderr, ev.Stderr); err != nil {
				return 0, err
			}
		case *fsav1.ExecInteractiveResponse_ExitCode:
			_ = st.CloseResponse()
			return int(ev.ExitCode), nil
		}
	}
}

// pumpStdin sends stdin chunks and resizes until stdin ends (then close_stdin) or ctx does.
func (c *Client) pumpStdin(ctx context.Context, st *connect.BidiStreamForClient[fsav1.ExecInteractiveRequest, fsav1.ExecInteractiveResponse], o ExecOptions) error {
	type chunk struct {
		b   []byte
		err error
	}
	var chunks chan chunk
	if o.Stdin != nil {
		chunks = make(chan chunk)
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := o.Stdin.Read(buf)
				select {
				case chunks <- chunk{append([]byte(nil), buf[:n]...), err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	resize := o.Resize
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s, ok := <-resize:
			if !ok {
				resize = nil
				continue
			}
			if err := st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_Resize{
				Resize: &fsav1.TerminalSize{Width: s.Width, Height: s.Height}}}); err != nil {
				return err
			}
		case ch := <-chunks:
			if len(ch.b) > 0 {
				if err := st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_Stdin{Stdin: ch.b}}); err != nil {
					return err
				}
			}
			if ch.err != nil {
				chunks = nil
				if err := st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_CloseStdin{CloseStdin: true}}); err != nil {
					return err
				}
				if resize == nil {
					return nil
				}
			}
		}
	}
}

// Download streams a file of the sandbox to w and returns its information. limit (0: the
// server's) refuses larger files with ResourceExhausted before any byte is written.
func (c *Client) Download(ctx context.Context, projectID, path string, w io.Writer, limit int64) (*fsav1.FileInfo, error) {
	st, err := c.sandbox.ReadFile(ctx, connect.NewRequest(&fsav1.ReadFileRequest{ProjectId: projectID, Path: path, LimitBytes: limit}))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var info *fsav1.FileInfo
	for st.Receive() {
		m := st.Msg()
		if err := write(w, m.Data); err != nil {
			return nil, err
		}
		if m.Info != nil {
			info = m.Info
		}
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errors.New("fsaclient: the file stream ended without the file's information")
	}
	return info, nil
}

// Upload writes size bytes from r to a file of the sandbox (replacing it) with mode's
// permission bits (0: 0644), in UploadChunkSize messages. It works over HTTP/1.1.
func (c *Client) Upload(ctx context.Context, projectID, path string, r io.Reader, size int64, mode fs.FileMode) error {
	st := c.sandbox.WriteFile(ctx)
	send := func(m *fsav1.WriteFileRequest) error {
		if err := st.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the server answered early: CloseAndReceive has its error
			}
			return err
		}
		return nil
	}
	if err := send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Start{Start: &fsav1.WriteFileStart{
		ProjectId: projectID, Path: path, Size: size, Mode: uint32(mode.Perm())}}}); err != nil {
		return err
	}
	buf := make([]byte, UploadChunkSize)
	var sent int64
	for sent < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-sent)])
		if n > 0 {
			if serr := send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: buf[:n]}}); serr != nil {
				return serr
			}
			sent += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the server reports the short content
			}
			return fmt.Errorf("read the content: %w", err)
		}
	}
	_, err := st.CloseAndReceive()
	return err
}

// LogOptions select log lines for Client.Logs.
type LogOptions struct {
	Follow     bool
	Since      time.Time
	TailLines  int64
	Timestamps bool
}

// Logs copies the sandbox container's log to w; with Follow, until ctx ends.
func (c *Client) Logs(ctx context.Context, projectID string, o LogOptions, w io.Writer) error {
	req := &fsav1.StreamLogsRequest{ProjectId: projectID, Follow: o.Follow, TailLines: o.TailLines, Timestamps: o.Timestamps}
	if !o.Since.IsZero() {
		req.Since = timestamppb.New(o.Since)
	}
	st, err := c.sandbox.StreamLogs(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer st.Close()
	for st.Receive() {
		if err := write(w, st.Msg().Data); err != nil {
			return err
		}
	}
	return st.Err()
}
