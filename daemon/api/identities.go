package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// One person, several sign-in methods: the caller's identities, listed, linked and unlinked.

func toProvider(p fsa.Provider) fsav1.Provider {
	if v, ok := fsav1.Provider_value["PROVIDER_"+string(p)]; ok {
		return fsav1.Provider(v)
	}
	return fsav1.Provider_PROVIDER_UNSPECIFIED
}

func fromProvider(p fsav1.Provider) (fsa.Provider, error) {
	if p == fsav1.Provider_PROVIDER_UNSPECIFIED {
		return "", fmt.Errorf("%w: provider is required", fsa.ErrInvalidArgument)
	}
	name, ok := fsav1.Provider_name[int32(p)]
	if !ok {
		return "", fmt.Errorf("%w: unknown provider %d", fsa.ErrInvalidArgument, p)
	}
	return fsa.Provider(name[len("PROVIDER_"):]), nil
}

func toIdentity(i *fsa.Identity) *fsav1.Identity {
	out := &fsav1.Identity{Provider: toProvider(i.Provider), ProviderUserId: i.ProviderUserID, Primary: i.IsPrimary, CreatedAt: ts(i.CreatedAt)}
	switch i.Provider {
	case fsa.ProviderGitHub:
		out.DisplayName = i.Metadata["login"]
	case fsa.ProviderPassword:
		out.DisplayName = i.ProviderUserID
	}
	return out
}

func (s *authService) ListIdentities(ctx context.Context, _ *connect.Request[fsav1.ListIdentitiesRequest]) (*connect.Response[fsav1.ListIdentitiesResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := s.c.ListIdentities(ctx, c.user.ID)
	if err != nil {
		return nil, err
	}
	out := &fsav1.ListIdentitiesResponse{Identities: make([]*fsav1.Identity, 0, len(ids))}
	for _, i := range ids {
		out.Identities = append(out.Identities, toIdentity(i))
	}
	if gh := s.auth.GitHub; gh.ClientID != "" {
		out.GithubClientId, out.GithubAuthorizeUrl = gh.ClientID, gh.AuthorizeURL
	}
	return connect.NewResponse(out), nil
}

// LinkIdentity links a GitHub account (after the same code exchange as GitHubLogin) or a
// username and password (with SignUp's rules) to the caller.
func (s *authService) LinkIdentity(ctx context.Context, req *connect.Request[fsav1.LinkIdentityRequest]) (*connect.Response[fsav1.LinkIdentityResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	var spec fsa.IdentitySpec
	switch m := req.Msg.Method.(type) {
	case *fsav1.LinkIdentityRequest_Github:
		gh := m.Github
		if s.auth.GitHub.ClientID == "" {
			return nil, fmt.Errorf("%w: this server has no GitHub OAuth app configured", fsa.ErrFailedPrecondition)
		}
		if gh == nil || gh.Code == "" || len(gh.Code) > 512 || len(gh.RedirectUri) > 2048 {
			return nil, fmt.Errorf("%w: code is required (at most 512 bytes)", fsa.ErrInvalidArgument)
		}
		token, err := s.githubToken(ctx, gh.Code, gh.RedirectUri)
		if err != nil {
			return nil, err
		}
		acct, err := s.githubUser(ctx, token)
		if err != nil {
			return nil, err
		}
		spec = fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: strconv.FormatInt(acct.ID, 10), Metadata: map[string]string{"login": acct.Login}}
	case *fsav1.LinkIdentityRequest_Password:
		pw := m.Password
		if pw == nil || !usernameRE.MatchString(pw.Username) {
			return nil, fmt.Errorf("%w: username must be 3 to 32 characters of lowercase letters, digits, '-' or '_'", fsa.ErrInvalidArgument)
		}
		if err := validatePassword(pw.Password); err != nil {
			return nil, err
		}
		hash, err := hashPassword(ctx, pw.Password, s.auth.BcryptCost)
		if err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		spec = fsa.IdentitySpec{Provider: fsa.ProviderPassword, ProviderUserID: pw.Username, Secret: string(hash)}
	default:
		return nil, fmt.Errorf("%w: a method to link (github or password) is required", fsa.ErrInvalidArgument)
	}
	ident, err := s.c.LinkIdentity(ctx, c.user.ID, spec)
	if errors.Is(err, fsa.ErrAlreadyExists) {
		// Say which, without telling whose.
		if spec.Provider == fsa.ProviderPassword {
			return nil, fmt.Errorf("%w: username %q is taken, or you already have a password", fsa.ErrAlreadyExists, spec.ProviderUserID)
		}
		return nil, fmt.Errorf("%w: this GitHub account is already linked to an account", fsa.ErrAlreadyExists)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.LinkIdentityResponse{Identity: toIdentity(ident)}), nil
}

func (s *authService) UnlinkIdentity(ctx context.Context, req *connect.Request[fsav1.UnlinkIdentityRequest]) (*connect.Response[fsav1.UnlinkIdentityResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	p, err := fromProvider(req.Msg.Provider)
	if err != nil {
		return nil, err
	}
	if err := s.c.UnlinkIdentity(ctx, c.user.ID, p, req.Msg.ProviderUserId); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.UnlinkIdentityResponse{}), nil
}
