package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// sandboxService serves SandboxService: thin translations to the SDK's sandbox operations,
// with one log line per exec and per file write (never env values, stdin or file contents).
type sandboxService struct{ *server }

// chunkSize bounds the data of one streamed message.
const chunkSize = 256 << 10

// sender serialises the Sends of one stream (stdout and stderr are copied concurrently) and
// counts the bytes sent.
type sender[T any] struct {
	mu   sync.Mutex
	send func(*T) error
	wrap func([]byte) *T
	n    int64
}

func (s *sender[T]) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for off := 0; off < len(p); off += chunkSize {
		chunk := bytes.Clone(p[off:min(len(p), off+chunkSize)])
		if err := s.send(s.wrap(chunk)); err != nil {
			return off, err
		}
		s.n += int64(len(chunk))
	}
	return len(p), nil
}

func execRequest(m *fsav1.ExecRequest) fsa.ExecRequest {
	req := fsa.ExecRequest{Command: m.Command, Env: m.Env, Dir: m.Dir, TTY: m.Tty,
		Timeout: time.Duration(m.TimeoutSeconds) * time.Second}
	if len(req.Env) == 0 {
		req.Env = nil
	}
	return req
}

func terminalSize(t *fsav1.TerminalSize) (fsa.TerminalSize, error) {
	if t.Width > 0xffff || t.Height > 0xffff {
		return fsa.TerminalSize{}, fmt.Errorf("%w: terminal size %dx%d is too large", fsa.ErrInvalidArgument, t.Width, t.Height)
	}
	return fsa.TerminalSize{Width: uint16(t.Width), Height: uint16(t.Height)}, nil
}

// logExec writes the one line of an exec.
func (s *sandboxService) logExec(ctx context.Context, user, project string, argv []string, res fsa.ExecResult, in, out, errOut int64, err error) {
	argv0 := ""
	if len(argv) > 0 {
		argv0 = argv[0]
	}
	attrs := []any{"user", user, "project", project, "argv0", argv0, "args", len(argv), "exit_code", res.ExitCode,
		"stdin_bytes", in, "stdout_bytes", out, "stderr_bytes", errOut, "duration", res.Duration}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.InfoContext(ctx, "sandbox exec", attrs...)
}

func (s *sandboxService) logWrite(ctx context.Context, user, project, path string, n int64, start time.Time, err error) {
	attrs := []any{"user", user, "project", project, "path", path, "bytes", n, "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.InfoContext(ctx, "sandbox file write", attrs...)
}

func (s *sandboxService) Exec(ctx context.Context, req *connect.Request[fsav1.ExecRequest], stream *connect.ServerStream[fsav1.ExecResponse]) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	m := req.Msg
	r := execRequest(m)
	if len(m.Stdin) > 0 {
		r.Stdin = bytes.NewReader(m.Stdin)
	}
	var resize chan fsa.TerminalSize
	if m.Tty && m.TerminalSize != nil {
		size, err := terminalSize(m.TerminalSize)
		if err != nil {
			return err
		}
		resize = make(chan fsa.TerminalSize, 1)
		resize <- size
		close(resize)
		r.Resize = resize
	}
	out := &sender[fsav1.ExecResponse]{send: stream.Send, wrap: func(b []byte) *fsav1.ExecResponse {
		return &fsav1.ExecResponse{Event: &fsav1.ExecResponse_Stdout{Stdout: b}}
	}}
	errOut := &sender[fsav1.ExecResponse]{send: out.sendLocked(), wrap: func(b []byte) *fsav1.ExecResponse {
		return &fsav1.ExecResponse{Event: &fsav1.ExecResponse_Stderr{Stderr: b}}
	}}
	r.Stdout, r.Stderr = out, errOut
	res, err := s.c.Exec(ctx, c.user.ID, m.ProjectId, r)
	if !errors.Is(err, fsa.ErrInvalidArgument) && !errors.Is(err, fsa.ErrNotFound) {
		s.logExec(ctx, c.user.ID, m.ProjectId, m.Command, res, int64(len(m.Stdin)), out.n, errOut.n, err)
	}
	if err != nil {
		return err
	}
	return stream.Send(&fsav1.ExecResponse{Event: &fsav1.ExecResponse_ExitCode{ExitCode: int32(res.ExitCode)}})
}

// sendLocked returns a send function sharing s's lock, so that two senders on one stream never
// Send at once.
func (s *sender[T]) sendLocked() func(*T) error {
	return func(m *T) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.send(m)
	}
}

func (s *sandboxService) ExecInteractive(ctx context.Context, stream *connect.BidiStream[fsav1.ExecInteractiveRequest, fsav1.ExecInteractiveResponse]) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Receive()
	if err != nil {
		return err
	}
	m := first.GetStart()
	if m == nil {
		return fmt.Errorf("%w: the first message must be start", fsa.ErrInvalidArgument)
	}
	r := execRequest(m)
	var resize chan fsa.TerminalSize
	if m.Tty {
		resize = make(chan fsa.TerminalSize, 4)
		r.Resize = resize
		if m.TerminalSize != nil {
			size, err := terminalSize(m.TerminalSize)
			if err != nil {
				return err
			}
			resize <- size
		}
	}
	stdinR, stdinW := io.Pipe()
	r.Stdin = stdinR
	var stdinBytes atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reader of the client's messages: it ends when the client closes its side, the call
	// ends (Receive fails once the handler has returned), or the exec is over (writes to the
	// pipe fail), so it lives no longer than the call.
	go func() {
		if resize != nil {
			defer close(resize)
		}
		write := func(b []byte) bool {
			n, err := stdinW.Write(b)
			stdinBytes.Add(int64(n))
			return err == nil
		}
		if len(m.Stdin) > 0 && !write(m.Stdin) {
			return
		}
		for {
			msg, err := stream.Receive()
			if err != nil {
				_ = stdinW.CloseWithError(io.EOF)
				return
			}
			switch ev := msg.Event.(type) {
			case *fsav1.ExecInteractiveRequest_Stdin:
				if !write(ev.Stdin) {
					return
				}
			case *fsav1.ExecInteractiveRequest_CloseStdin:
				_ = stdinW.Close()
			case *fsav1.ExecInteractiveRequest_Resize:
				size, err := terminalSize(ev.Resize)
				if err != nil || resize == nil {
					continue
				}
				select {
				case resize <- size:
				case <-ctx.Done():
					return
				}
			default:
				_ = stdinW.CloseWithError(fmt.Errorf("%w: start sent twice", fsa.ErrInvalidArgument))
				cancel()
				return
			}
		}
	}()
	out := &sender[fsav1.ExecInteractiveResponse]{send: stream.Send, wrap: func(b []byte) *fsav1.ExecInteractiveResponse {
		return &fsav1.ExecInteractiveResponse{Event: &fsav1.ExecInteractiveResponse_Stdout{Stdout: b}}
	}}
	errOut := &sender[fsav1.ExecInteractiveResponse]{send: out.sendLocked(), wrap: func(b []byte) *fsav1.ExecInteractiveResponse {
		return &fsav1.ExecInteractiveResponse{Event: &fsav1.ExecInteractiveResponse_Stderr{Stderr: b}}
	}}
	r.Stdout, r.Stderr = out, errOut
	res, err := s.c.Exec(ctx, c.user.ID, m.ProjectId, r)
	_ = stdinR.CloseWithError(io.ErrClosedPipe) // the reader goroutine's writes now fail
	if !errors.Is(err, fsa.ErrInvalidArgument) && !errors.Is(err, fsa.ErrNotFound) {
		s.logExec(ctx, c.user.ID, m.ProjectId, m.Command, res, stdinBytes.Load(), out.n, errOut.n, err)
	}
	if err != nil {
		return err
	}
	return stream.Send(&fsav1.ExecInteractiveResponse{Event: &fsav1.ExecInteractiveResponse_ExitCode{ExitCode: int32(res.ExitCode)}})
}

func fileInfoPB(f fsa.FileInfo) *fsav1.FileInfo {
	return &fsav1.FileInfo{Name: f.Name, Path: f.Path, Size: f.Size, Mode: uint32(f.Mode.Perm()),
		IsDir: f.Mode.IsDir(), IsSymlink: f.Mode&fs.ModeSymlink != 0, ModifiedAt: ts(f.ModTime)}
}

func (s *sandboxService) ReadFile(ctx context.Context, req *connect.Request[fsav1.ReadFileRequest], stream *connect.ServerStream[fsav1.ReadFileResponse]) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	m := req.Msg
	if m.LimitBytes < 0 {
		return fmt.Errorf("%w: limit_bytes is negative", fsa.ErrInvalidArgument)
	}
	// Full messages, not the exec stream's small writes, sent while the next bytes are read.
	// Send marshals the message before it returns, so the buffer is free again after it.
	w := newChunkPipe(func(b []byte) error { return stream.Send(&fsav1.ReadFileResponse{Data: b}) })
	info, err := s.c.ReadFile(ctx, c.user.ID, m.ProjectId, m.Path, w, m.LimitBytes)
	if cerr := w.Close(err == nil); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return stream.Send(&fsav1.ReadFileResponse{Info: fileInfoPB(info)})
}

// chunkReader reads the data messages of a WriteFile stream, handing each message's buffer
// back to chunkBufs once read.
type chunkReader struct {
	stream *connect.ClientStream[fsav1.WriteFileRequest]
	msg    []byte // the current message's data; buf is what is left of it
	buf    []byte
	n      int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.msg != nil {
			putChunk(r.msg)
			r.msg = nil
		}
		if !r.stream.Receive() {
			if err := r.stream.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		d, ok := r.stream.Msg().Event.(*fsav1.WriteFileRequest_Data)
		if !ok {
			return 0, fmt.Errorf("%w: start sent twice", fsa.ErrInvalidArgument)
		}
		r.msg, r.buf = d.Data, d.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.n += int64(n)
	return n, nil
}

func (s *sandboxService) WriteFile(ctx context.Context, stream *connect.ClientStream[fsav1.WriteFileRequest]) (*connect.Response[fsav1.WriteFileResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: no start message", fsa.ErrInvalidArgument)
	}
	m := stream.Msg().GetStart()
	if m == nil {
		return nil, fmt.Errorf("%w: the first message must be start", fsa.ErrInvalidArgument)
	}
	start := time.Now()
	r := &chunkReader{stream: stream}
	err = s.c.WriteFile(ctx, c.user.ID, m.ProjectId, m.Path, r, m.Size, fs.FileMode(m.Mode), 0)
	if !errors.Is(err, fsa.ErrInvalidArgument) && !errors.Is(err, fsa.ErrNotFound) {
		s.logWrite(ctx, c.user.ID, m.ProjectId, m.Path, r.n, start, err)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.WriteFileResponse{Size: m.Size}), nil
}

func (s *sandboxService) PutFile(ctx context.Context, req *connect.Request[fsav1.PutFileRequest]) (*connect.Response[fsav1.PutFileResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	start := time.Now()
	n := int64(len(m.Content))
	err = s.c.WriteFile(ctx, c.user.ID, m.ProjectId, m.Path, bytes.NewReader(m.Content), n, fs.FileMode(m.Mode), 0)
	if !errors.Is(err, fsa.ErrInvalidArgument) && !errors.Is(err, fsa.ErrNotFound) {
		s.logWrite(ctx, c.user.ID, m.ProjectId, m.Path, n, start, err)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.PutFileResponse{Size: n}), nil
}

func (s *sandboxService) StatFile(ctx context.Context, req *connect.Request[fsav1.StatFileRequest]) (*connect.Response[fsav1.StatFileResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.c.Stat(ctx, c.user.ID, req.Msg.ProjectId, req.Msg.Path)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.StatFileResponse{Info: fileInfoPB(info)}), nil
}

func (s *sandboxService) ListDir(ctx context.Context, req *connect.Request[fsav1.ListDirRequest]) (*connect.Response[fsav1.ListDirResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.c.ListDir(ctx, c.user.ID, req.Msg.ProjectId, req.Msg.Path)
	if err != nil {
		return nil, err
	}
	out := &fsav1.ListDirResponse{Entries: make([]*fsav1.FileInfo, len(list))}
	for i, f := range list {
		out.Entries[i] = fileInfoPB(f)
	}
	return connect.NewResponse(out), nil
}

func (s *sandboxService) MakeDir(ctx context.Context, req *connect.Request[fsav1.MakeDirRequest]) (*connect.Response[fsav1.MakeDirResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := s.c.Mkdir(ctx, c.user.ID, m.ProjectId, m.Path, fs.FileMode(m.Mode), m.Parents); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.MakeDirResponse{}), nil
}

func (s *sandboxService) RemoveFile(ctx context.Context, req *connect.Request[fsav1.RemoveFileRequest]) (*connect.Response[fsav1.RemoveFileResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := s.c.Remove(ctx, c.user.ID, m.ProjectId, m.Path, m.Recursive); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.RemoveFileResponse{}), nil
}

func (s *sandboxService) StreamLogs(ctx context.Context, req *connect.Request[fsav1.StreamLogsRequest], stream *connect.ServerStream[fsav1.StreamLogsResponse]) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	m := req.Msg
	opts := fsa.LogOptions{Follow: m.Follow, TailLines: m.TailLines, Timestamps: m.Timestamps}
	if m.Since != nil {
		opts.Since = m.Since.AsTime()
	}
	rc, err := s.c.Logs(ctx, c.user.ID, m.ProjectId, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, chunkSize)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if serr := stream.Send(&fsav1.StreamLogsResponse{Data: bytes.Clone(buf[:n])}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("logs of project %s: %w", m.ProjectId, err)
		}
	}
}
