package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

// DefaultEndpoint is used when neither a flag, FSA_ENDPOINT nor the config names one.
const DefaultEndpoint = "http://127.0.0.1:8080"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app is one invocation: its streams, global flags and configuration.
type app struct {
	stdin          *bufio.Reader
	stdinFile      *os.File // stdin when it is a file (for password prompts without echo)
	stdout, stderr io.Writer
	getenv         func(string) string

	endpoints  []string
	token      string
	output     string
	configPath string
	timeout    time.Duration

	cfg *fileConfig
}

// usageError marks a bad command line.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: bufio.NewReader(stdin), stdout: stdout, stderr: stderr, getenv: getenv}
	if f, ok := stdin.(*os.File); ok {
		a.stdinFile = f
	}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status) // fsactl exec: the remote command's exit status
	}
	_, _ = fmt.Fprintln(stderr, formatError(err))
	return 1
}

// formatError renders err as "error: <code>: <message>".
func formatError(err error) string {
	var ce *connect.Error
	var ue usageError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("error: %s: %s", ce.Code(), ce.Message())
	case errors.As(err, &ue):
		return fmt.Sprintf("error: usage: %v (see --help)", ue.error)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("error: deadline_exceeded: %v", err)
	case errors.Is(err, context.Canceled):
		return "error: canceled: interrupted"
	}
	return fmt.Sprintf("error: %v", err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "fsactl",
		Short: "Command-line client of the fsa daemon (fsad)",
		Long: `fsactl talks to fsad: log in, create projects and follow them until they run, manage
their environment variables, watch changes and administer the cluster.

The endpoints and session token saved by 'fsactl login' live in ~/.config/fsactl/config.json
(mode 0600); --endpoint/FSA_ENDPOINT and --token/FSA_TOKEN override them.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringSliceVar(&a.endpoints, "endpoint", nil, "API base URL(s) of fsad, comma-separated (env FSA_ENDPOINT; default from config, else "+DefaultEndpoint+")")
	pf.StringVar(&a.token, "token", "", "session token (env FSA_TOKEN; default from config)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&a.configPath, "config", "", "config file (env FSACTL_CONFIG; default ~/.config/fsactl/config.json)")
	pf.DurationVar(&a.timeout, "timeout", 60*time.Second, "time limit of each API call (not of watches and --wait)")

	root.AddCommand(a.loginCommand(), a.signupCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.configCommand(), a.identityCommand(), a.projectCommand(), a.envCommand(), a.watchCommand(), a.clusterCommand(),
		a.quotaCommand(), a.adminCommand(),
		a.execCommand(), a.cpCommand(), a.logsCommand(), a.previewCommand())
	for _, c := range root.Commands() {
		setUsageArgs(c)
	}
	return root
}

// setUsageArgs makes argument-count errors usage errors, recursively.
func setUsageArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, s := range c.Commands() {
		setUsageArgs(s)
	}
}

// setup resolves the configuration: flag, then environment, then file.
func (a *app) setup(cmd *cobra.Command) error {
	switch a.output {
	case "table", "json":
	default:
		return usagef("--output %q: want table or json", a.output)
	}
	if a.configPath == "" {
		p, err := defaultConfigPath(a.getenv)
		if err != nil {
			return err
		}
		a.configPath = p
	}
	cfg, err := loadConfig(a.configPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	if !cmd.Flags().Changed("endpoint") {
		switch {
		case a.getenv("FSA_ENDPOINT") != "":
			a.endpoints = splitList(a.getenv("FSA_ENDPOINT"))
		case len(cfg.Endpoints) > 0:
			a.endpoints = cfg.Endpoints
		default:
			a.endpoints = []string{DefaultEndpoint}
		}
	}
	if !cmd.Flags().Changed("token") {
		a.token = a.getenv("FSA_TOKEN")
		if a.token == "" {
			a.token = cfg.Token
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// client returns an API client with the resolved endpoints and token.
func (a *app) client() (*fsaclient.Client, error) {
	c, err := fsaclient.New(a.endpoints, fsaclient.WithToken(a.token))
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// callCtx bounds one API call by --timeout.
func (a *app) callCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// json reports whether --output json was asked for.
func (a *app) json() bool { return a.output == "json" }
