package fsa

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"sort"

	"github.com/fullstackagent/fsa/store"
)

// UserSpec describes a new user.
type UserSpec struct {
	Name  string
	Email string
	Role  Role // RoleUser when empty
	// Identity, if set, is linked in the same transaction: the user is created only if the
	// identity is free, so sign-up cannot leave an orphan user behind.
	Identity *IdentitySpec
}

// IdentitySpec describes a sign-in method to link to a user.
type IdentitySpec struct {
	Provider       Provider
	ProviderUserID string
	Secret         string
	Metadata       map[string]string
	IsPrimary      bool
}

func (s IdentitySpec) validate() error {
	switch s.Provider {
	case ProviderPassword, ProviderGitHub, ProviderSealos, ProviderExternal:
	default:
		return invalid("unknown identity provider %q", s.Provider)
	}
	if err := validName("provider user id", s.ProviderUserID, MaxNameLen); err != nil {
		return err
	}
	if len(s.Secret) > 4096 {
		return invalid("identity secret is too long")
	}
	return nil
}

// CreateUser creates a user (and, atomically, its first identity when spec.Identity is set).
// ErrAlreadyExists if the identity is taken.
func (c *Client) CreateUser(ctx context.Context, spec UserSpec) (*User, error) {
	if err := validName("user name", spec.Name, MaxNameLen); err != nil {
		return nil, err
	}
	if spec.Email != "" {
		if _, err := mail.ParseAddress(spec.Email); err != nil || len(spec.Email) > 254 {
			return nil, invalid("email %q is not an address", truncate(spec.Email, 60))
		}
	}
	switch spec.Role {
	case "":
		spec.Role = RoleUser
	case RoleUser, RoleAdmin:
	default:
		return nil, invalid("unknown role %q", spec.Role)
	}
	if spec.Identity != nil {
		if err := spec.Identity.validate(); err != nil {
			return nil, err
		}
	}
	id, err := newID(c.rand)
	if err != nil {
		return nil, err
	}
	now := c.timestamp()
	u := &User{ID: id, Name: spec.Name, Email: spec.Email, Role: spec.Role, CreatedAt: now}
	rev, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		if is := spec.Identity; is != nil {
			if _, err := s.Get(store.KindIdentity, identityID(is.Provider, is.ProviderUserID)); err == nil {
				return store.Txn{}, fmt.Errorf("%w: identity %s %q is linked to another user", ErrAlreadyExists, is.Provider, is.ProviderUserID)
			}
		}
		txn := store.Txn{
			Conds: []store.Cond{absent(store.KindUser, u.ID)},
			Ops:   []store.Op{store.Put(userRecord(u))},
		}
		if is := spec.Identity; is != nil {
			ident := &Identity{Provider: is.Provider, ProviderUserID: is.ProviderUserID, UserID: u.ID,
				Secret: is.Secret, Metadata: is.Metadata, IsPrimary: true, CreatedAt: now}
			txn.Conds = append(txn.Conds, absent(store.KindIdentity, identityID(is.Provider, is.ProviderUserID)))
			txn.Ops = append(txn.Ops, store.Put(identityRecord(ident)))
		}
		return txn, nil
	})
	if err != nil {
		return nil, err
	}
	u.Version = rev
	return u, nil
}

// GetUser returns a user by id.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	var u *User
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		var err error
		u, err = getUser(s, userID)
		return err
	})
	return u, err
}

func getUser(s store.Snapshot, userID string) (*User, error) {
	r, err := s.Get(store.KindUser, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("user", userID)
	}
	if err != nil {
		return nil, err
	}
	return decodeUser(r)
}

// LinkIdentity links another sign-in method to an existing user: ErrAlreadyExists if that
// identity is linked to anyone (this user included), or, for a password, if the user already has
// one (a user has at most one password). The user record is rewritten in the same transaction,
// so a link and a concurrent UnlinkIdentity of the same user conflict instead of racing.
func (c *Client) LinkIdentity(ctx context.Context, userID string, spec IdentitySpec) (*Identity, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	ident := &Identity{Provider: spec.Provider, ProviderUserID: spec.ProviderUserID, UserID: userID,
		Secret: spec.Secret, Metadata: spec.Metadata, IsPrimary: spec.IsPrimary, CreatedAt: c.timestamp()}
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		u, err := s.Get(store.KindUser, userID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("user", userID)
		}
		if err != nil {
			return store.Txn{}, err
		}
		iid := identityID(spec.Provider, spec.ProviderUserID)
		if _, err := s.Get(store.KindIdentity, iid); err == nil {
			return store.Txn{}, fmt.Errorf("%w: identity %s %q is already linked", ErrAlreadyExists, spec.Provider, spec.ProviderUserID)
		}
		if spec.Provider == ProviderPassword {
			own, err := userIdentities(s, userID)
			if err != nil {
				return store.Txn{}, err
			}
			for _, o := range own {
				if o.Provider == ProviderPassword {
					return store.Txn{}, fmt.Errorf("%w: the user already signs in with password %q", ErrAlreadyExists, o.ProviderUserID)
				}
			}
		}
		return store.Txn{
			Conds: []store.Cond{cond(u), absent(store.KindIdentity, iid)},
			Ops:   []store.Op{store.Put(identityRecord(ident)), store.Put(u)},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return ident, nil
}

// ListIdentities returns the user's sign-in methods, oldest first, without their secrets
// (password hashes). ErrNotFound if there is no such user.
func (c *Client) ListIdentities(ctx context.Context, userID string) ([]*Identity, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	var out []*Identity
	err := c.view(ctx, func(s store.Snapshot) error {
		if _, err := getUser(s, userID); err != nil {
			return err
		}
		var err error
		out, err = userIdentities(s, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, i := range out {
		i.Secret = ""
	}
	return out, nil
}

// UnlinkIdentity removes one of the user's sign-in methods. The last one cannot be removed
// (ErrFailedPrecondition): a user always keeps a way to sign in. An identity that is not the
// user's is ErrNotFound, whoever holds it. When the primary one goes, the oldest remaining
// becomes primary. The user record is rewritten in the same transaction, so two concurrent
// unlinks of a user's last two methods cannot both succeed.
func (c *Client) UnlinkIdentity(ctx context.Context, userID string, p Provider, providerUserID string) error {
	if err := validID("user id", userID); err != nil {
		return err
	}
	if err := (IdentitySpec{Provider: p, ProviderUserID: providerUserID}).validate(); err != nil {
		return err
	}
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		u, err := s.Get(store.KindUser, userID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("user", userID)
		}
		if err != nil {
			return store.Txn{}, err
		}
		own, err := userIdentities(s, userID)
		if err != nil {
			return store.Txn{}, err
		}
		iid := identityID(p, providerUserID)
		var gone *Identity
		var rest []*Identity
		for _, o := range own {
			if identityID(o.Provider, o.ProviderUserID) == iid {
				gone = o
			} else {
				rest = append(rest, o)
			}
		}
		if gone == nil {
			return store.Txn{}, notFound("identity", string(p)+":"+providerUserID)
		}
		if len(rest) == 0 {
			return store.Txn{}, fmt.Errorf("%w: %s is the user's only sign-in method; link another before removing it", ErrFailedPrecondition, p)
		}
		cur, err := s.Get(store.KindIdentity, iid)
		if err != nil {
			return store.Txn{}, err
		}
		txn := store.Txn{Conds: []store.Cond{cond(u), cond(cur)}, Ops: []store.Op{store.Delete(store.KindIdentity, iid), store.Put(u)}}
		if gone.IsPrimary {
			next := rest[0]
			next.IsPrimary = true
			txn.Ops = append(txn.Ops, store.Put(identityRecord(next)))
		}
		return txn, nil
	})
	if err != nil {
		return fmt.Errorf("unlink %s identity: %w", p, err)
	}
	return nil
}

// userIdentities returns the user's identities, oldest first.
func userIdentities(s store.Snapshot, userID string) ([]*Identity, error) {
	rs, err := s.List(store.KindIdentity, store.Filter{Owner: userID})
	if err != nil {
		return nil, err
	}
	out := make([]*Identity, 0, len(rs))
	for _, r := range rs {
		i, err := decode[Identity](r)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].CreatedAt.Equal(out[b].CreatedAt) {
			return out[a].CreatedAt.Before(out[b].CreatedAt)
		}
		return identityID(out[a].Provider, out[a].ProviderUserID) < identityID(out[b].Provider, out[b].ProviderUserID)
	})
	return out, nil
}

// LookupIdentity finds the identity for a provider's user id, for signing in.
func (c *Client) LookupIdentity(ctx context.Context, p Provider, providerUserID string) (*Identity, error) {
	if err := (IdentitySpec{Provider: p, ProviderUserID: providerUserID}).validate(); err != nil {
		return nil, err
	}
	var ident *Identity
	err := c.view(ctx, func(s store.Snapshot) error {
		r, err := s.Get(store.KindIdentity, identityID(p, providerUserID))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("identity", string(p)+":"+providerUserID)
		}
		if err != nil {
			return err
		}
		ident, err = decode[Identity](r)
		return err
	})
	return ident, err
}

// SetUserConfig creates or replaces one of the user's settings.
func (c *Client) SetUserConfig(ctx context.Context, userID string, cfg UserConfig) (*UserConfig, error) {
	out, err := c.UpdateUserConfig(ctx, userID, []UserConfig{cfg}, nil)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// UpdateUserConfig validates, then sets the settings in set and removes those named in remove
// (absent or not) in one transaction. It returns the settings set.
func (c *Client) UpdateUserConfig(ctx context.Context, userID string, set []UserConfig, remove []string) ([]*UserConfig, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	now := c.timestamp()
	out := make([]*UserConfig, 0, len(set))
	seen := map[string]bool{}
	for _, cfg := range set {
		cat, err := validConfig(cfg)
		if err != nil {
			return nil, err
		}
		seen[cfg.Key] = true
		// Credentials are secret whatever the caller says.
		secret := cfg.Secret || cfg.Key == ConfigKubeconfig || cfg.Key == ConfigAnthropicAPIKey || cfg.Key == ConfigGitHubToken
		out = append(out, &UserConfig{UserID: userID, Key: cfg.Key, Value: cfg.Value, Category: cat, Secret: secret, UpdatedAt: now})
	}
	for _, key := range remove {
		if !ValidEnvKey(key) {
			return nil, invalid("config key %q is not a valid name", truncate(key, 40))
		}
		seen[key] = true
	}
	if len(seen) < len(set)+len(remove) {
		return nil, invalid("a config key is given twice")
	}
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		u, err := s.Get(store.KindUser, userID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("user", userID)
		}
		if err != nil {
			return store.Txn{}, err
		}
		txn := store.Txn{Conds: []store.Cond{cond(u)}}
		for _, cfg := range out {
			id := configID(userID, cfg.Key)
			cur, err := raw(s).Get(store.KindUserConfig, id) // its version only: left sealed
			if err == nil {
				txn.Conds = append(txn.Conds, cond(cur))
			} else if errors.Is(err, store.ErrNotFound) {
				txn.Conds = append(txn.Conds, absent(store.KindUserConfig, id))
			} else {
				return store.Txn{}, err
			}
			txn.Ops = append(txn.Ops, store.Put(configRecord(cfg)))
		}
		for _, key := range remove {
			cur, err := s.Get(store.KindUserConfig, configID(userID, key))
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return store.Txn{}, err
			}
			txn.Conds = append(txn.Conds, cond(cur))
			txn.Ops = append(txn.Ops, store.Delete(store.KindUserConfig, cur.ID))
		}
		return txn, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetUserConfig returns one setting. A secret value is withheld (Redacted) unless reveal is true;
// only the user's own calls should pass reveal.
func (c *Client) GetUserConfig(ctx context.Context, userID, key string, reveal bool) (*UserConfig, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if !ValidEnvKey(key) {
		return nil, invalid("config key %q is not a valid name", truncate(key, 40))
	}
	var cfg *UserConfig
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		r, err := s.Get(store.KindUserConfig, configID(userID, key))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("config", key)
		}
		if err != nil {
			return err
		}
		cfg, err = decode[UserConfig](r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return redactConfig(cfg, reveal), nil
}

// ListUserConfig returns the user's settings, ordered by key, secrets withheld unless reveal.
func (c *Client) ListUserConfig(ctx context.Context, userID string, reveal bool) ([]*UserConfig, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	var out []*UserConfig
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		out = out[:0] // fn may run twice
		rs, err := s.List(store.KindUserConfig, store.Filter{Owner: userID})
		if err != nil {
			return err
		}
		for _, r := range rs {
			cfg, err := decode[UserConfig](r)
			if err != nil {
				return err
			}
			out = append(out, redactConfig(cfg, reveal))
		}
		return nil
	})
	return out, err
}

// DeleteUserConfig removes a setting; deleting an absent one is not an error.
func (c *Client) DeleteUserConfig(ctx context.Context, userID, key string) error {
	_, err := c.UpdateUserConfig(ctx, userID, nil, []string{key})
	return err
}

func redactConfig(cfg *UserConfig, reveal bool) *UserConfig {
	if cfg.Secret && !reveal {
		cfg.Value = ""
		cfg.Redacted = true
	}
	return cfg
}
