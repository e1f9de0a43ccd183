package api_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// drainExec reads an Exec stream to its end and returns its error.
func drainExec(st *connect.ServerStreamForClient[fsav1.ExecResponse], err error) error {
	if err != nil {
		return err
	}
	for st.Receive() {
	}
	return st.Err()
}

// sandboxCall is one sandbox operation, made through the SDK or through the RPC.
type sandboxCall struct {
	sdk func(ctx context.Context, c *fsa.Client, userID, projectID string) error
	rpc func(ctx context.Context, u *user, projectID string) error
}

func execCall(req fsa.ExecRequest, wire *fsav1.ExecRequest) sandboxCall {
	return sandboxCall{
		sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
			_, err := c.Exec(ctx, userID, projectID, req)
			return err
		},
		rpc: func(ctx context.Context, u *user, projectID string) error {
			wire.ProjectId = projectID
			return drainExec(u.Sandbox.Exec(ctx, connect.NewRequest(wire)))
		},
	}
}

func statCall(p string) sandboxCall {
	return sandboxCall{
		sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
			_, err := c.Stat(ctx, userID, projectID, p)
			return err
		},
		rpc: func(ctx context.Context, u *user, projectID string) error {
			_, err := u.Sandbox.StatFile(ctx, connect.NewRequest(&fsav1.StatFileRequest{ProjectId: projectID, Path: p}))
			return err
		},
	}
}

func removeCall(p string) sandboxCall {
	return sandboxCall{
		sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
			return c.Remove(ctx, userID, projectID, p, true)
		},
		rpc: func(ctx context.Context, u *user, projectID string) error {
			_, err := u.Sandbox.RemoveFile(ctx, connect.NewRequest(&fsav1.RemoveFileRequest{ProjectId: projectID, Path: p, Recursive: true}))
			return err
		},
	}
}

func writeCall(p string, size int64, mode uint32) sandboxCall {
	return sandboxCall{
		sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
			return c.WriteFile(ctx, userID, projectID, p, strings.NewReader(""), size, fs.FileMode(mode), 0)
		},
		rpc: func(ctx context.Context, u *user, projectID string) error {
			st := u.Sandbox.WriteFile(ctx)
			_ = st.Send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Start{Start: &fsav1.WriteFileStart{
				ProjectId: projectID, Path: p, Size: size, Mode: mode}}})
			_, err := st.CloseAndReceive()
			return err
		},
	}
}

// TestSandboxBadInput: each bad input to a sandbox operation is refused the same way by the SDK
// and by the RPC, before anything reaches Kubernetes (the projects here have a kubeconfig that
// points nowhere), and nothing is stored.
func TestSandboxBadInput(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	running := e.project(alice, "running")
	e.run(alice.ID, running.Id)
	creating := e.project(alice, "creating")
	longArg := strings.Repeat("a", fsa.MaxExecArgvBytes+1)
	manyEnv := map[string]string{}
	wireEnv := map[string]string{}
	for i := range fsa.MaxExecEnv + 1 {
		k := "V" + strings.Repeat("X", i%50) + string(rune('A'+i%26)) + strings.Repeat("Y", i/50)
		manyEnv[k], wireEnv[k] = "1", "1"
	}
	for _, tc := range []struct {
		name    string
		project string
		want    error
		call    sandboxCall
	}{
		{"empty command", running.Id, fsa.ErrInvalidArgument, execCall(fsa.ExecRequest{}, &fsav1.ExecRequest{})},
		{"empty command name", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{""}}, &fsav1.ExecRequest{Command: []string{""}})},
		{"NUL in an argument", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"echo", "a\x00b"}}, &fsav1.ExecRequest{Command: []string{"echo", "a\x00b"}})},
		{"= in the command name", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"A=b"}}, &fsav1.ExecRequest{Command: []string{"A=b"}})},
		{"arguments too long", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"echo", longArg}}, &fsav1.ExecRequest{Command: []string{"echo", longArg}})},
		{"bad env key", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"env"}, Env: map[string]string{"1A": "x"}},
				&fsav1.ExecRequest{Command: []string{"env"}, Env: map[string]string{"1A": "x"}})},
		{"too many env vars", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"env"}, Env: manyEnv}, &fsav1.ExecRequest{Command: []string{"env"}, Env: wireEnv})},
		{"timeout over a day", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"true"}, Timeout: fsa.MaxExecTimeout + time.Second},
				&fsav1.ExecRequest{Command: []string{"true"}, TimeoutSeconds: uint32(fsa.MaxExecTimeout/time.Second) + 1})},
		{"NUL in the working directory", running.Id, fsa.ErrInvalidArgument,
			execCall(fsa.ExecRequest{Command: []string{"true"}, Dir: "/a\x00"}, &fsav1.ExecRequest{Command: []string{"true"}, Dir: "/a\x00"})},
		{"exec in a project that is not RUNNING", creating.Id, fsa.ErrFailedPrecondition,
			execCall(fsa.ExecRequest{Command: []string{"true"}}, &fsav1.ExecRequest{Command: []string{"true"}})},
		{"exec in an unknown project", "nosuchproject", fsa.ErrNotFound,
			execCall(fsa.ExecRequest{Command: []string{"true"}}, &fsav1.ExecRequest{Command: []string{"true"}})},
		{"empty path", running.Id, fsa.ErrInvalidArgument, statCall("")},
		{"path too long", running.Id, fsa.ErrInvalidArgument, statCall("/" + strings.Repeat("p", fsa.MaxPathLen))},
		{"remove the root", running.Id, fsa.ErrInvalidArgument, removeCall("/")},
		{"remove the root in disguise", running.Id, fsa.ErrInvalidArgument, removeCall("/tmp/../")},
		{"remove the working directory", running.Id, fsa.ErrInvalidArgument, removeCall(".")},
		{"remove a parent", running.Id, fsa.ErrInvalidArgument, removeCall("a/../..")},
		{"stat in a project that is not RUNNING", creating.Id, fsa.ErrFailedPrecondition, statCall("/etc")},
		{"write over the size limit", running.Id, fsa.ErrTooLarge, writeCall("/tmp/big", fsa.MaxFileSize+1, 0)},
		{"write with a negative size", running.Id, fsa.ErrInvalidArgument, writeCall("/tmp/f", -1, 0)},
		{"write with more than permission bits", running.Id, fsa.ErrInvalidArgument, writeCall("/tmp/f", 0, 0o4755)},
		{"logs with a negative tail", running.Id, fsa.ErrInvalidArgument, sandboxCall{
			sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
				_, err := c.Logs(ctx, userID, projectID, fsa.LogOptions{TailLines: -1})
				return err
			},
			rpc: func(ctx context.Context, u *user, projectID string) error {
				st, err := u.Sandbox.StreamLogs(ctx, connect.NewRequest(&fsav1.StreamLogsRequest{ProjectId: projectID, TailLines: -1}))
				if err != nil {
					return err
				}
				for st.Receive() {
				}
				return st.Err()
			},
		}},
		{"port out of range", running.Id, fsa.ErrInvalidArgument, sandboxCall{
			sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
				_, err := c.DialSandbox(ctx, userID, projectID, 70000)
				return err
			},
		}},
		{"preview of a project that is not RUNNING", creating.Id, fsa.ErrFailedPrecondition, sandboxCall{
			sdk: func(ctx context.Context, c *fsa.Client, userID, projectID string) error {
				return c.SandboxReady(ctx, userID, projectID)
			},
			rpc: func(ctx context.Context, u *user, projectID string) error {
				_, err := u.Sandbox.PreviewAccess(ctx, connect.NewRequest(&fsav1.PreviewAccessRequest{ProjectId: projectID}))
				return err
			},
		}},
		{"interactive exec without start", running.Id, fsa.ErrInvalidArgument, sandboxCall{
			rpc: func(ctx context.Context, u *user, projectID string) error {
				st := u.Sandbox.ExecInteractive(ctx)
				_ = st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_Stdin{Stdin: []byte("x")}})
				_ = st.CloseRequest()
				_, err := st.Receive()
				return err
			},
		}},
		{"write without start", running.Id, fsa.ErrInvalidArgument, sandboxCall{
			rpc: func(ctx context.Context, u *user, projectID string) error {
				st := u.Sandbox.WriteFile(ctx)
				_ = st.Send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("x")}})
				_, err := st.CloseAndReceive()
				return err
			},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			if tc.call.sdk != nil {
				err := tc.call.sdk(e.ctx, e.c, alice.ID, tc.project)
				require.ErrorIs(t, err, tc.want, "SDK: got %v", err)
			}
			if tc.call.rpc != nil {
				err := tc.call.rpc(e.ctx, alice, tc.project)
				requireCode(t, err, codeFor(tc.want))
			}
			assert.Equal(t, before, e.revision(), "the call changed the store")
		})
	}
}

func codeFor(err error) connect.Code {
	switch {
	case errors.Is(err, fsa.ErrInvalidArgument):
		return connect.CodeInvalidArgument
	case errors.Is(err, fsa.ErrFailedPrecondition):
		return connect.CodeFailedPrecondition
	case errors.Is(err, fsa.ErrNotFound):
		return connect.CodeNotFound
	case errors.Is(err, fsa.ErrTooLarge):
		return connect.CodeResourceExhausted
	}
	return connect.CodeUnknown
}

// TestSandboxExecLogLine: an exec leaves one log line naming the user, project, argv[0], the
// exit and the duration, and never the environment's values or stdin.
func TestSandboxExecLogLine(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "alpha")
	e.run(alice.ID, p.Id)
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	// The kubeconfig points at a closed port: the exec fails, and is logged all the same.
	err := drainExec(alice.Sandbox.Exec(ctx, connect.NewRequest(&fsav1.ExecRequest{ProjectId: p.Id,
		Command: []string{"deploy-tool", "--flag"}, Env: map[string]string{"API_KEY": "env-SECRET-value-9f2"},
		Stdin: []byte("stdin-SECRET-bytes-77a")})))
	require.Error(t, err)
	var line string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `msg="sandbox exec"`) {
			require.Empty(t, line, "one line per exec")
			line = l
		}
	}
	require.NotEmpty(t, line, "logs:\n%s", e.logs.String())
	for _, want := range []string{"user=" + alice.ID, "project=" + p.Id, "argv0=deploy-tool", "exit_code=", "duration=", "stdin_bytes=22"} {
		assert.Contains(t, line, want)
	}
	assert.NotContains(t, e.logs.String(), "env-SECRET-value-9f2")
	assert.NotContains(t, e.logs.String(), "stdin-SECRET-bytes-77a")
}

// TestSandboxPutFileLimit: a PutFile larger than the server's message limit is refused with
// ResourceExhausted before the handler runs.
func TestSandboxPutFileLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "alpha")
	e.run(alice.ID, p.Id)
	_, err := alice.Sandbox.PutFile(e.ctx, connect.NewRequest(&fsav1.PutFileRequest{ProjectId: p.Id, Path: "big",
		Content: bytes.Repeat([]byte("x"), 2<<20)}))
	requireCode(t, err, connect.CodeResourceExhausted)
}

// TestSandboxPreviewAccess: the ticket is traded for a cookie scoped to the project's preview,
// once valid, for that project only; neither is a session token; and with the cookie the
// request reaches the proxy (here the kubeconfig points nowhere: Bad Gateway).
func TestSandboxPreviewAccess(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "alpha")
	e.run(alice.ID, p.Id)
	res, err := alice.Sandbox.PreviewAccess(e.ctx, connect.NewRequest(&fsav1.PreviewAccessRequest{ProjectId: p.Id}))
	require.NoError(t, err)
	path := res.Msg.Path
	require.True(t, strings.HasPrefix(path, "/preview/"+p.Id+"/?fsa-preview-ticket="), path)
	ticket := strings.SplitN(path, "=", 2)[1]

	hc := e.srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(u string, cookies ...*http.Cookie) *http.Response {
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.srv.URL+u, nil)
		require.NoError(t, err)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		r, err := hc.Do(req)
		require.NoError(t, err)
		_ = r.Body.Close()
		return r
	}
	assert.Equal(t, http.StatusUnauthorized, do("/preview/"+p.Id+"/").StatusCode, "no ticket, no cookie")
	assert.Equal(t, http.StatusUnauthorized, do("/preview/"+p.Id+"/?fsa-preview-ticket=forged").StatusCode)
	assert.Equal(t, http.StatusUnauthorized, do("/preview/other/?fsa-preview-ticket="+ticket).StatusCode, "another project")

	r := do(path)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, "/preview/"+p.Id+"/", r.Header.Get("Location"))
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "fsa_preview" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	assert.Equal(t, "/preview/"+p.Id+"/", cookie.Path)
	assert.True(t, cookie.HttpOnly)
	assert.True(t, cookie.Secure)

	assert.Equal(t, http.StatusBadGateway, do("/preview/"+p.Id+"/app", cookie).StatusCode, "the cookie lets the request through")
	assert.Equal(t, http.StatusUnauthorized, do("/preview/other/app", &http.Cookie{Name: "fsa_preview", Value: cookie.Value}).StatusCode)

	// Neither token opens the API.
	for _, tok := range []string{ticket, cookie.Value} {
		_, err := e.clients(tok).Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.Id}))
		requireCode(t, err, connect.CodeUnauthenticated)
	}
	// A ticket expires after a minute.
	e.clock.Advance(2 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, do(path).StatusCode)
}
