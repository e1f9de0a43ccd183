package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// prompt asks for one line on stdin; secret input is not echoed on a terminal.
func (a *app) prompt(label string, secret bool) (string, error) {
	_, _ = fmt.Fprint(a.stderr, label+": ")
	if secret && a.stdinFile != nil && term.IsTerminal(int(a.stdinFile.Fd())) {
		b, err := term.ReadPassword(int(a.stdinFile.Fd()))
		_, _ = fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", strings.ToLower(label), err)
		}
		return string(b), nil
	}
	line, err := a.stdin.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read %s: %w", strings.ToLower(label), err)
	}
	if secret && a.stdinFile == nil {
		_, _ = fmt.Fprintln(a.stderr)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// credentials fills a missing username and password from stdin.
func (a *app) credentials(username, password *string, passwordStdin bool) error {
	var err error
	if *username == "" {
		if *username, err = a.prompt("Username", false); err != nil {
			return err
		}
	}
	if *password == "" || passwordStdin {
		if *password, err = a.prompt("Password", true); err != nil {
			return err
		}
	}
	if *username == "" || *password == "" {
		return usagef("a username and a password are required")
	}
	return nil
}

// saveSession stores the endpoints and the session's token in the config file and reports
// who is logged in.
func (a *app) saveSession(cmd *cobra.Command, s *fsav1.Session) error {
	if s.GetToken() == "" {
		return errors.New("the server returned no session")
	}
	a.cfg.Endpoints = a.endpoints
	a.cfg.Token = s.GetToken()
	a.cfg.Username = s.GetUser().GetName()
	if err := saveConfig(a.configPath, a.cfg); err != nil {
		return err
	}
	if a.json() {
		return printJSON(a.stdout, &fsav1.WhoAmIResponse{User: s.GetUser(), ExpiresAt: s.GetExpiresAt()})
	}
	_, err := fmt.Fprintf(a.stdout, "Logged in as %s (%s) at %s; session saved in %s\n",
		s.GetUser().GetName(), role(s.GetUser().GetRole()), strings.Join(a.endpoints, ","), a.configPath)
	return err
}

func (a *app) loginCommand() *cobra.Command {
	var (
		username, password, githubCode, githubState, redirectURI, sealosToken, kubeconfig string
		passwordStdin                                                                     bool
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and save the session (username/password, GitHub code or Sealos token)",
		Long: `Log in and save the endpoints and session token in the config file.

Without flags it asks for a username and password on stdin (the password is not echoed on a
terminal). --github-code completes GitHub's OAuth flow with the code GitHub redirected with;
--sealos-token with --kubeconfig logs in a Sealos user.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			var s *fsav1.Session
			switch {
			case githubCode != "":
				res, err := c.Auth().GitHubLogin(ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: githubCode, State: githubState, RedirectUri: redirectURI}))
				if err != nil {
					return err
				}
				s = res.Msg.GetSession()
			case sealosToken != "":
				if kubeconfig == "" {
					return usagef("--sealos-token needs --kubeconfig FILE")
				}
				kc, err := os.ReadFile(kubeconfig)
				if err != nil {
					return fmt.Errorf("read kubeconfig: %w", err)
				}
				res, err := c.Auth().SealosLogin(ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: sealosToken, Kubeconfig: string(kc)}))
				if err != nil {
					return err
				}
				s = res.Msg.GetSession()
			default:
				if err := a.credentials(&username, &password, passwordStdin); err != nil {
					return err
				}
				res, err := c.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: username, Password: password}))
				if err != nil {
					return err
				}
				s = res.Msg.GetSession()
			}
			return a.saveSession(cmd, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&username, "username", "u", "", "username (asked for when missing)")
	f.StringVarP(&password, "password", "p", "", "password (asked for when missing; prefer the prompt or --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	f.StringVar(&githubCode, "github-code", "", "GitHub OAuth code (GitHub login)")
	f.StringVar(&githubState, "github-state", "", "GitHub OAuth state, already checked by you")
	f.StringVar(&redirectURI, "redirect-uri", "", "redirect URI of the GitHub authorize request")
	f.StringVar(&sealosToken, "sealos-token", "", "Sealos session token (Sealos login; prefer an environment variable expansion)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file sent with --sealos-token")
	return cmd
}

func (a *app) signupCommand() *cobra.Command {
	var username, password, email string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "signup",
		Short: "Create an account, log in and save the session",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := a.credentials(&username, &password, passwordStdin); err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: username, Password: password, Email: email}))
			if err != nil {
				return err
			}
			return a.saveSession(cmd, res.Msg.GetSession())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&username, "username", "u", "", "username: 3 to 32 of a-z, 0-9, '-', '_' (asked for when missing)")
	f.StringVarP(&password, "password", "p", "", "password, 8 characters or more (asked for when missing)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	f.StringVar(&email, "email", "", "email address (optional)")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the session (all of this user's sessions) and forget the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.token != "" {
				c, err := a.client()
				if err != nil {
					return err
				}
				ctx, cancel := a.callCtx(cmd)
				defer cancel()
				if _, err := c.Auth().Logout(ctx, connect.NewRequest(&fsav1.LogoutRequest{})); err != nil && connect.CodeOf(err) != connect.CodeUnauthenticated {
					return err
				}
			}
			if a.cfg.Token != "" {
				a.cfg.Token, a.cfg.Username = "", ""
				if err := saveConfig(a.configPath, a.cfg); err != nil {
					return err
				}
			}
			if a.json() {
				return printJSON(a.stdout, &fsav1.LogoutResponse{})
			}
			_, err := fmt.Fprintln(a.stdout, "Logged out")
			return err
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the logged-in user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Auth().WhoAmI(ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			u := res.Msg.GetUser()
			t := newTable(a.stdout, "USER", "ID", "ROLE", "EMAIL", "SESSION EXPIRES", "ENDPOINT")
			t.row(u.GetName(), u.GetId(), role(u.GetRole()), u.GetEmail(), timeOf(res.Msg.GetExpiresAt()), c.Endpoint())
			return t.flush()
		},
	}
}

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Your configuration on the server (kubeconfig, GitHub token, lifecycle defaults) and locally"}
	cmd.AddCommand(&cobra.Command{
		Use:   "set-kubeconfig FILE",
		Short: "Store the kubeconfig whose current context's namespace receives your projects",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read kubeconfig: %w", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: string(kc)}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "CONTEXT", "NAMESPACE", "SERVER")
			t.row(res.Msg.GetContext(), res.Msg.GetNamespace(), res.Msg.GetServer())
			if err := t.flush(); err != nil {
				return err
			}
			if n := res.Msg.GetProjectsElsewhere(); n > 0 {
				_, err = fmt.Fprintf(a.stdout, "%d existing project(s) stay in the namespace they were created in; the kubeconfig applies to new projects only\n", n)
			}
			return err
		},
	}, &cobra.Command{
		Use:   "get-kubeconfig",
		Short: "Show which kubeconfig is stored (not its credentials)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.UserConfig().GetKubeconfig(ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "CONFIGURED", "CONTEXT", "NAMESPACE", "SERVER")
			t.row(yesNo(res.Msg.GetConfigured()), res.Msg.GetContext(), res.Msg.GetNamespace(), res.Msg.GetServer())
			return t.flush()
		},
	}, a.setGitHubTokenCommand(), a.setLifecycleDefaultsCommand(), a.getLifecycleDefaultsCommand(), &cobra.Command{
		Use:   "show",
		Short: "Show the local configuration in effect (endpoints, whether a token is set)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			t := newTable(a.stdout, "CONFIG FILE", "ENDPOINTS", "TOKEN", "USER")
			tok := "none"
			if a.token != "" {
				tok = "set"
			}
			t.row(a.configPath, strings.Join(a.endpoints, ","), tok, a.cfg.Username)
			return t.flush()
		},
	})
	return cmd
}

// setGitHubTokenCommand stores the GitHub token the user grants for git push from their
// sandboxes. The token is read from stdin (not echoed on a terminal), never from the command
// line, where every process could read it.
func (a *app) setGitHubTokenCommand() *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "set-github-token",
		Short: "Store a GitHub token (read from stdin) that your sandboxes use for git push; --clear removes it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := ""
			if !remove {
				var err error
				if token, err = a.prompt("GitHub token", true); err != nil {
					return err
				}
				if token = strings.TrimSpace(token); token == "" {
					return fmt.Errorf("no token given (use --clear to remove the stored one)")
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.UserConfig().SetGitHubToken(ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: token}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "GITHUB TOKEN")
			t.row(map[bool]string{true: "set", false: "none"}[res.Msg.GetConfigured()])
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&remove, "clear", false, "remove the stored token")
	return cmd
}
