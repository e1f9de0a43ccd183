package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// maxUpstreamBody bounds what is read from GitHub and Aiproxy.
const maxUpstreamBody = 1 << 20

// GitHubLogin exchanges the OAuth code at GitHub.TokenURL, reads the account at
// GitHub.UserURL and signs in the user linked to identity GITHUB:<numeric account id>,
// creating it (named after the GitHub login) on first use.
func (s *authService) GitHubLogin(ctx context.Context, req *connect.Request[fsav1.GitHubLoginRequest]) (*connect.Response[fsav1.GitHubLoginResponse], error) {
	gh := s.auth.GitHub
	if gh.ClientID == "" {
		return nil, fmt.Errorf("%w: this server has no GitHub OAuth app configured", fsa.ErrFailedPrecondition)
	}
	m := req.Msg
	if m.Code == "" || len(m.Code) > 512 || len(m.RedirectUri) > 2048 {
		return nil, fmt.Errorf("%w: code is required (at most 512 bytes)", fsa.ErrInvalidArgument)
	}
	token, err := s.githubToken(ctx, m.Code, m.RedirectUri)
	if err != nil {
		return nil, err
	}
	acct, err := s.githubUser(ctx, token)
	if err != nil {
		return nil, err
	}
	u, err := s.signIn(ctx, fsa.ProviderGitHub, strconv.FormatInt(acct.ID, 10), acct.Login, acct.Email, map[string]string{"login": acct.Login})
	if err != nil {
		return nil, err
	}
	sess, err := s.session(ctx, u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.GitHubLoginResponse{Session: sess}), nil
}

// githubToken exchanges an OAuth code for an access token (a secret: never logged or wrapped
// into an error).
func (s *server) githubToken(ctx context.Context, code, redirectURI string) (string, error) {
	gh := s.auth.GitHub
	form := url.Values{"client_id": {gh.ClientID}, "client_secret": {gh.ClientSecret}, "code": {code}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gh.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("github token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.auth.HTTPClient.Do(req)
	if err != nil {
		return "", upstreamErr(ctx, "GitHub", err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("%w: GitHub answered %d", errUnavailable, resp.StatusCode)
	case resp.StatusCode >= 400:
		return "", fmt.Errorf("%w: GitHub rejected the code", errUnauthenticated)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUpstreamBody)).Decode(&body); err != nil {
		return "", fmt.Errorf("%w: GitHub sent an unreadable token response", errUnavailable)
	}
	if body.Error != "" || body.AccessToken == "" {
		return "", fmt.Errorf("%w: GitHub rejected the code", errUnauthenticated)
	}
	return body.AccessToken, nil
}

type githubAccount struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
	Email string `json:"email"`
}

func (s *server) githubUser(ctx context.Context, token string) (*githubAccount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.auth.GitHub.UserURL, nil)
	if err != nil {
		return nil, fmt.Errorf("github user request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := s.auth.HTTPClient.Do(req)
	if err != nil {
		return nil, upstreamErr(ctx, "GitHub", err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: GitHub rejected the access token", errUnauthenticated)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: GitHub answered %d", errUnavailable, resp.StatusCode)
	}
	var acct githubAccount
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUpstreamBody)).Decode(&acct); err != nil || acct.ID <= 0 || acct.Login == "" {
		return nil, fmt.Errorf("%w: GitHub sent an unreadable user", errUnavailable)
	}
	return &acct, nil
}

// upstreamErr reports a failed call to another service without its URL's query or body.
func upstreamErr(ctx context.Context, who string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return fmt.Errorf("%w: %s did not answer in time", errUnavailable, who)
	}
	return fmt.Errorf("%w: %s cannot be reached", errUnavailable, who)
}
