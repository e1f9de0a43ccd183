package main

import (
	"cmp"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// providerName is the command line's name of a provider: PROVIDER_GITHUB is "github".
func providerName(p fsav1.Provider) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PROVIDER_"))
}

func (a *app) identityCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Your sign-in methods: list, link (GitHub, password), unlink"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List your sign-in methods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Auth().ListIdentities(ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			t := newTable(a.stdout, "PROVIDER", "ID", "NAME", "PRIMARY", "LINKED")
			for _, i := range res.Msg.GetIdentities() {
				t.row(providerName(i.GetProvider()), i.GetProviderUserId(), i.GetDisplayName(), yesNo(i.GetPrimary()), timeOf(i.GetCreatedAt()))
			}
			return t.flush()
		},
	}

	var username, password, githubCode, githubState, redirectURI string
	var passwordStdin bool
	link := &cobra.Command{
		Use:   "link",
		Short: "Link a GitHub account (--github-code) or a username and password to your account",
		Long: `Link another sign-in method to the logged-in account; afterwards it logs in the same
user with the same projects.

--github-code completes GitHub's OAuth web flow (as login --github-code does): send yourself to
the authorize URL that 'identity list -o json' shows (github_authorize_url, github_client_id)
and pass the code GitHub redirects with. Otherwise it adds a username and password (asked for
when missing), with the rules of signup; an account has at most one password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			req := &fsav1.LinkIdentityRequest{}
			if githubCode != "" {
				if username != "" || password != "" || passwordStdin {
					return usagef("--github-code links GitHub; it takes no username or password")
				}
				req.Method = &fsav1.LinkIdentityRequest_Github{Github: &fsav1.GitHubLink{Code: githubCode, State: githubState, RedirectUri: redirectURI}}
			} else {
				if err := a.credentials(&username, &password, passwordStdin); err != nil {
					return err
				}
				req.Method = &fsav1.LinkIdentityRequest_Password{Password: &fsav1.PasswordLink{Username: username, Password: password}}
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Auth().LinkIdentity(ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			i := res.Msg.GetIdentity()
			_, err = fmt.Fprintf(a.stdout, "Linked %s %s\n", providerName(i.GetProvider()), cmp.Or(i.GetDisplayName(), i.GetProviderUserId()))
			return err
		},
	}
	f := link.Flags()
	f.StringVarP(&username, "username", "u", "", "username to add (asked for when missing)")
	f.StringVarP(&password, "password", "p", "", "password to add (asked for when missing; prefer the prompt or --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	f.StringVar(&githubCode, "github-code", "", "GitHub OAuth code: link that GitHub account")
	f.StringVar(&githubState, "github-state", "", "GitHub OAuth state, already checked by you")
	f.StringVar(&redirectURI, "redirect-uri", "", "redirect URI of the GitHub authorize request")

	unlink := &cobra.Command{
		Use:   "unlink PROVIDER ID",
		Short: "Remove a sign-in method (password, github, sealos, external; ID as 'identity list' shows); the last one stays",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, ok := fsav1.Provider_value["PROVIDER_"+strings.ToUpper(args[0])]
			if !ok || v == 0 {
				return usagef("unknown provider %q: use password, github, sealos or external", args[0])
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.callCtx(cmd)
			defer cancel()
			res, err := c.Auth().UnlinkIdentity(ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider(v), ProviderUserId: args[1]}))
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res.Msg)
			}
			_, err = fmt.Fprintf(a.stdout, "Unlinked %s %s\n", strings.ToLower(args[0]), args[1])
			return err
		},
	}
	cmd.AddCommand(list, link, unlink)
	return cmd
}
