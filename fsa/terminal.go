package fsa

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/fullstackagent/fsa/runtime/ticket"
	"github.com/fullstackagent/fsa/store"
)

// TerminalAccess is a link to a sandbox's web terminal carrying a short-lived ticket.
type TerminalAccess struct {
	// URL opens the terminal; it carries the ticket as ?arg=, valid until ExpiresAt.
	URL       string
	ExpiresAt time.Time
}

// TerminalAccess returns the terminal URL of one of the user's projects with a fresh ticket,
// derived from the project's access token, which itself never leaves the server. Only when the
// sandbox is RUNNING; ErrFailedPrecondition otherwise.
func (c *Client) TerminalAccess(ctx context.Context, userID, projectID string) (*TerminalAccess, error) {
	p, err := c.GetProject(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	if p.Sandbox == nil || p.Sandbox.Status != StatusRunning || p.Sandbox.TerminalURL == "" {
		st := StatusTerminated
		if p.Sandbox != nil {
			st = p.Sandbox.Status
		}
		return nil, fmt.Errorf("%w: the terminal of project %s opens only when its sandbox is RUNNING (it is %s)", ErrFailedPrecondition, projectID, st)
	}
	_ = c.touch(ctx, p) // a terminal ticket is activity (best effort, as in target)
	vars, err := c.RuntimeEnv(ctx, projectID)
	if err != nil {
		return nil, err
	}
	var token string
	for _, v := range vars {
		if v.Key == EnvTTYDAccessToken {
			token = v.Value
		}
	}
	if token == "" {
		return nil, fmt.Errorf("%w: project %s has no terminal token", ErrFailedPrecondition, projectID)
	}
	expiry := c.now().Add(ticket.DefaultTTL).Truncate(time.Second)
	t, err := ticket.Mint(token, projectID, expiry)
	if err != nil {
		return nil, fmt.Errorf("mint terminal ticket: %w", err)
	}
	u, err := url.Parse(p.Sandbox.TerminalURL)
	if err != nil {
		return nil, fmt.Errorf("terminal url of project %s: %w", projectID, err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawQuery = url.Values{"arg": {t}}.Encode()
	return &TerminalAccess{URL: u.String(), ExpiresAt: expiry}, nil
}

// RotateTerminalToken replaces the project's terminal access token; reconcile rolls the new one
// into the sandbox, and tickets minted from the old one stop working there.
func (c *Client) RotateTerminalToken(ctx context.Context, userID, projectID string) error {
	if err := validID("user id", userID); err != nil {
		return err
	}
	if err := validID("project id", projectID); err != nil {
		return err
	}
	token, err := newToken(c.rand)
	if err != nil {
		return err
	}
	im, err := c.idem(ctx, userID, "RotateTerminalToken")
	if err != nil {
		return err
	}
	_, err = c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		txn, err := beginProjectWrite(s, im, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		id := envID(projectID, EnvTTYDAccessToken)
		if r, err := s.Get(store.KindEnvVar, id); err == nil {
			txn.Conds = append(txn.Conds, cond(r))
		} else if errors.Is(err, store.ErrNotFound) {
			txn.Conds = append(txn.Conds, absent(store.KindEnvVar, id))
		} else {
			return store.Txn{}, err
		}
		v := &EnvVar{ProjectID: projectID, UserID: userID, Key: EnvTTYDAccessToken, Value: token, Category: CategoryTTYD,
			Secret: true, Platform: true, UpdatedAt: c.timestamp()}
		txn.Ops = append(txn.Ops, store.Put(envRecord(v)))
		return txn, nil
	})
	if _, ok := asReplay(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rotate terminal token of project %s: %w", projectID, err)
	}
	return nil
}
