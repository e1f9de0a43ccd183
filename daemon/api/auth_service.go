package api

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// authService serves fsa.v1.AuthService.
type authService struct{ *server }

var usernameRE = regexp.MustCompile(`^[a-z0-9_-]{3,32}$`)

const (
	minPasswordLen = 8
	// bcrypt reads at most 72 bytes; longer passwords would be silently truncated.
	maxPasswordBytes = 72
)

func validatePassword(p string) error {
	switch {
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: password is not valid UTF-8", fsa.ErrInvalidArgument)
	case utf8.RuneCountInString(p) < minPasswordLen:
		return fmt.Errorf("%w: password must have at least %d characters", fsa.ErrInvalidArgument, minPasswordLen)
	case len(p) > maxPasswordBytes:
		return fmt.Errorf("%w: password must have at most %d bytes", fsa.ErrInvalidArgument, maxPasswordBytes)
	}
	return nil
}

func (s *authService) SignUp(ctx context.Context, req *connect.Request[fsav1.SignUpRequest]) (*connect.Response[fsav1.SignUpResponse], error) {
	if s.auth.DisableSignUp {
		return nil, fmt.Errorf("%w: this server does not allow sign-up", fsa.ErrPermissionDenied)
	}
	m := req.Msg
	if !usernameRE.MatchString(m.Username) {
		return nil, fmt.Errorf("%w: username must be 3 to 32 characters of lowercase letters, digits, '-' or '_'", fsa.ErrInvalidArgument)
	}
	if err := validatePassword(m.Password); err != nil {
		return nil, err
	}
	hash, err := hashPassword(ctx, m.Password, s.auth.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u, err := s.c.CreateUser(ctx, fsa.UserSpec{Name: m.Username, Email: m.Email, Identity: &fsa.IdentitySpec{
		Provider: fsa.ProviderPassword, ProviderUserID: m.Username, Secret: string(hash), IsPrimary: true,
	}})
	if errors.Is(err, fsa.ErrAlreadyExists) {
		return nil, fmt.Errorf("%w: username %q is taken", fsa.ErrAlreadyExists, m.Username)
	}
	if err != nil {
		return nil, err
	}
	sess, err := s.session(ctx, u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SignUpResponse{Session: sess}), nil
}

var errBadLogin = fmt.Errorf("%w: wrong username or password", errUnauthenticated)

func (s *authService) Login(ctx context.Context, req *connect.Request[fsav1.LoginRequest]) (*connect.Response[fsav1.LoginResponse], error) {
	m := req.Msg
	hash := s.dummyHash
	var ident *fsa.Identity
	if usernameRE.MatchString(m.Username) {
		id, err := s.c.LookupIdentity(ctx, fsa.ProviderPassword, m.Username)
		switch {
		case err == nil:
			ident, hash = id, []byte(id.Secret)
		case !errors.Is(err, fsa.ErrNotFound):
			return nil, err
		}
	}
	pw := m.Password
	if len(pw) > maxPasswordBytes {
		pw = "" // never matches; still pays for one comparison
	}
	if !passwordMatches(ctx, hash, pw) || ident == nil || m.Password == "" {
		return nil, errBadLogin
	}
	u, err := s.c.GetUser(ctx, ident.UserID)
	if errors.Is(err, fsa.ErrNotFound) {
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	sess, err := s.session(ctx, u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.LoginResponse{Session: sess}), nil
}

func (s *authService) Logout(ctx context.Context, _ *connect.Request[fsav1.LogoutRequest]) (*connect.Response[fsav1.LogoutResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.sessions.revoke(ctx, c.user.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.LogoutResponse{}), nil
}

func (s *authService) WhoAmI(ctx context.Context, _ *connect.Request[fsav1.WhoAmIRequest]) (*connect.Response[fsav1.WhoAmIResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	admin, err := s.isAdmin(ctx, c.user)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.WhoAmIResponse{User: toUser(c.user, admin), ExpiresAt: ts(c.expiresAt)}), nil
}

// session issues a session for u.
func (s *server) session(ctx context.Context, u *fsa.User) (*fsav1.Session, error) {
	admin, err := s.isAdmin(ctx, u)
	if err != nil {
		return nil, err
	}
	tok, exp, err := s.sessions.issue(u)
	if err != nil {
		return nil, err
	}
	return &fsav1.Session{Token: tok, ExpiresAt: ts(exp), User: toUser(u, admin)}, nil
}

// isAdmin reports whether u has the admin role: stored, or granted by AuthConfig.Admins by
// user id or by password username (a name alone is not enough: the username must be u's).
func (s *server) isAdmin(ctx context.Context, u *fsa.User) (bool, error) {
	if u.Role == fsa.RoleAdmin || slices.Contains(s.auth.Admins, u.ID) {
		return true, nil
	}
	if !slices.Contains(s.auth.Admins, u.Name) || !usernameRE.MatchString(u.Name) {
		return false, nil
	}
	id, err := s.c.LookupIdentity(ctx, fsa.ProviderPassword, u.Name)
	if errors.Is(err, fsa.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return id.UserID == u.ID, nil
}

// requireAdmin fails with PermissionDenied unless the caller is an admin.
func (s *server) requireAdmin(ctx context.Context) error {
	c, err := callerFrom(ctx)
	if err != nil {
		return err
	}
	if c.clusterAdmin {
		return nil
	}
	ok, err := s.isAdmin(ctx, c.user)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the admin role is required", fsa.ErrPermissionDenied)
	}
	return nil
}

// signIn returns the user linked to an external identity, creating the user (with the
// identity, atomically) on first use. An email or a name the SDK refuses is not worth failing
// the login: the email is dropped, then the name becomes "<provider>-<id>".
func (s *server) signIn(ctx context.Context, p fsa.Provider, providerUserID, name, email string, meta map[string]string) (*fsa.User, error) {
	fallback := strings.ToLower(string(p)) + "-" + providerUserID[:min(len(providerUserID), 8)]
	for attempt := 0; attempt < 3; attempt++ {
		id, err := s.c.LookupIdentity(ctx, p, providerUserID)
		if err == nil {
			return s.c.GetUser(ctx, id.UserID)
		}
		if !errors.Is(err, fsa.ErrNotFound) {
			return nil, err
		}
		u, err := s.c.CreateUser(ctx, fsa.UserSpec{Name: name, Email: email, Identity: &fsa.IdentitySpec{
			Provider: p, ProviderUserID: providerUserID, Metadata: meta, IsPrimary: true,
		}})
		if errors.Is(err, fsa.ErrAlreadyExists) {
			continue // a concurrent first login created it: look it up again
		}
		if errors.Is(err, fsa.ErrInvalidArgument) && email != "" {
			email = ""
			continue
		}
		if errors.Is(err, fsa.ErrInvalidArgument) && name != fallback {
			name = fallback
			continue
		}
		return u, err
	}
	return nil, fmt.Errorf("%w: sign-in of %s user raced with another", fsa.ErrConflict, p)
}
