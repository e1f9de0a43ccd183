package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// Claims read from a Sealos token, first match wins. Sealos tokens name the user in several
// ways depending on the version; any of these is accepted.
var (
	sealosIDClaims        = []string{"userUid", "userUID", "uid", "userId", "user_id", "sub"}
	sealosNameClaims      = []string{"userCrName", "userName", "username", "name", "userId"}
	sealosNamespaceClaims = []string{"workspaceId", "namespace", "ns"}
)

// SealosLogin verifies the Sealos token (HS256 with AuthConfig.SealosJWTSecret; exp and nbf
// are checked when present), signs in the user linked to identity SEALOS:<user id>, creating it
// on first use, stores the given kubeconfig as the user's KUBECONFIG and keeps the user's
// Aiproxy key and its base URL current (see provisionAiproxy).
func (s *authService) SealosLogin(ctx context.Context, req *connect.Request[fsav1.SealosLoginRequest]) (*connect.Response[fsav1.SealosLoginResponse], error) {
	if s.auth.SealosJWTSecret == "" {
		return nil, fmt.Errorf("%w: this server does not accept Sealos logins", fsa.ErrFailedPrecondition)
	}
	m := req.Msg
	claims, err := s.verifySealos(m.SealosToken)
	if err != nil {
		return nil, err
	}
	id := claimString(claims, sealosIDClaims)
	if id == "" || len(id) > 64 {
		return nil, fmt.Errorf("%w: the Sealos token names no user", errUnauthenticated)
	}
	if m.Kubeconfig != "" {
		if _, err := parseKubeconfig(m.Kubeconfig); err != nil {
			return nil, err
		}
	}
	name := claimString(claims, sealosNameClaims)
	meta := map[string]string{}
	if ns := claimString(claims, sealosNamespaceClaims); ns != "" {
		meta["namespace"] = ns
	}
	u, err := s.signIn(ctx, fsa.ProviderSealos, id, name, "", meta)
	if err != nil {
		return nil, err
	}
	if m.Kubeconfig != "" {
		if _, err := s.c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: m.Kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true}); err != nil {
			return nil, err
		}
	}
	s.provisionAiproxy(ctx, u.ID, id, m.Kubeconfig)
	sess, err := s.session(ctx, u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&fsav1.SealosLoginResponse{Session: sess}), nil
}

func (s *server) verifySealos(raw string) (jwt.MapClaims, error) {
	if raw == "" || len(raw) > 16<<10 {
		return nil, fmt.Errorf("%w: invalid Sealos token", errUnauthenticated)
	}
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(s.auth.Now))
	_, err := p.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(s.auth.SealosJWTSecret), nil })
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, fmt.Errorf("%w: the Sealos token has expired", errUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invalid Sealos token", errUnauthenticated)
	}
	return claims, nil
}

func claimString(c jwt.MapClaims, names []string) string {
	for _, n := range names {
		switch v := c[n].(type) {
		case string:
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ""
}

// AiproxyTokenPrefix names the Aiproxy token fsa asks for: the prefix and the user's Sealos id,
// the name the seed gives it, so a user moving over finds the same token.
const AiproxyTokenPrefix = "fullstackagent-"

// provisionAiproxy keeps a Sealos user's Aiproxy key current, at every Sealos sign-in:
//
//	POST {AiproxyEndpoint}/api/keyhub
//	Content-Type: application/json
//	{"name": "fullstackagent-<sealos user id>", "kc": "<the user's kubeconfig>"}
//
// Aiproxy answers {"code": 200, "data": {"key": ..., "status": 1, ...}}: the token of that name
// in the kubeconfig's workspace, created on first ask, and a fresh one in place of a token that
// was revoked. The key is stored as the user's ANTHROPIC_API_KEY together with AiproxyBaseURL as
// ANTHROPIC_BASE_URL (both in CategoryAiproxy: the key works only there), so a revoked key is
// replaced at the next sign-in. A token answered as not enabled (status other than 1) is
// revoked for good: the stored pair is removed rather than kept dead in sandboxes. A key the
// user set (category other than aiproxy) is left alone, and nothing is asked. Any failure —
// Aiproxy down, slower than AiproxyTimeout, an unexpected answer — is logged at warn level
// (without the key, the kubeconfig or the token) and the sign-in goes on.
func (s *server) provisionAiproxy(ctx context.Context, userID, sealosID, kubeconfig string) {
	if s.auth.AiproxyEndpoint == "" {
		return
	}
	warn := func(err error) {
		s.log.WarnContext(ctx, "aiproxy key not provisioned", "user", userID, "reason", err.Error())
	}
	cur, err := s.c.GetUserConfig(ctx, userID, fsa.ConfigAnthropicAPIKey, true)
	switch {
	case err == nil && cur.Category != fsa.CategoryAiproxy:
		return // the user's own key
	case err != nil && !errors.Is(err, fsa.ErrNotFound):
		warn(err)
		return
	}
	if kubeconfig == "" {
		kc, err := s.c.GetUserConfig(ctx, userID, fsa.ConfigKubeconfig, true)
		if err != nil {
			warn(fmt.Errorf("no kubeconfig to ask Aiproxy with: %w", err))
			return
		}
		kubeconfig = kc.Value
	}
	key, enabled, err := s.fetchAiproxyKey(ctx, AiproxyTokenPrefix+sealosID, kubeconfig)
	if err != nil {
		warn(err)
		return
	}
	pair := []string{fsa.ConfigAnthropicAPIKey, fsa.ConfigAnthropicBaseURL}
	if !enabled {
		if cur != nil {
			if _, err := s.c.UpdateUserConfig(ctx, userID, nil, pair); err != nil {
				warn(err)
				return
			}
		}
		s.log.WarnContext(ctx, "aiproxy token is revoked; the stored key was removed", "user", userID)
		return
	}
	if cur != nil && cur.Value == key {
		return // unchanged
	}
	set := []fsa.UserConfig{{Key: fsa.ConfigAnthropicAPIKey, Value: key, Category: fsa.CategoryAiproxy, Secret: true}}
	remove := []string{fsa.ConfigAnthropicBaseURL}
	if s.auth.AiproxyBaseURL != "" {
		set, remove = append(set, fsa.UserConfig{Key: fsa.ConfigAnthropicBaseURL, Value: s.auth.AiproxyBaseURL, Category: fsa.CategoryAiproxy}), nil
	}
	if _, err := s.c.UpdateUserConfig(ctx, userID, set, remove); err != nil {
		s.log.WarnContext(ctx, "aiproxy key not stored", "user", userID, "reason", err.Error())
	}
}

// fetchAiproxyKey asks Aiproxy's key hub for the token name; enabled is false for a token
// Aiproxy reports revoked. Its errors never contain the kubeconfig or the key.
func (s *server) fetchAiproxyKey(ctx context.Context, name, kubeconfig string) (key string, enabled bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.auth.AiproxyTimeout)
	defer cancel()
	endpoint := strings.TrimRight(s.auth.AiproxyEndpoint, "/") + "/api/keyhub"
	body, err := json.Marshal(map[string]string{"name": name, "kc": kubeconfig})
	if err != nil {
		return "", false, errors.New("aiproxy request cannot be encoded")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", false, errors.New("aiproxy endpoint is not a URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.auth.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("aiproxy did not answer within %s", s.auth.AiproxyTimeout)
		}
		return "", false, errors.New("aiproxy cannot be reached")
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return "", false, fmt.Errorf("aiproxy answered %d", resp.StatusCode)
	}
	var out struct {
		Code int `json:"code"`
		Data *struct {
			Key    string `json:"key"`
			Status *int   `json:"status"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUpstreamBody)).Decode(&out); err != nil {
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("aiproxy did not answer within %s", s.auth.AiproxyTimeout)
		}
		return "", false, errors.New("aiproxy sent an unreadable answer")
	}
	if out.Code != 0 && out.Code != http.StatusOK {
		return "", false, fmt.Errorf("aiproxy answered code %d", out.Code)
	}
	if out.Data == nil || out.Data.Key == "" || len(out.Data.Key) > 4096 {
		return "", false, errors.New("aiproxy sent no key")
	}
	return out.Data.Key, out.Data.Status == nil || *out.Data.Status == aiproxyTokenEnabled, nil
}

// SandboxAnthropicKeyEnv is the variable a sandbox gets the user's Anthropic key in (as the
// seed: ANTHROPIC_API_KEY in the settings, ANTHROPIC_AUTH_TOKEN in the sandbox), beside
// ANTHROPIC_BASE_URL.
const SandboxAnthropicKeyEnv = fsa.EnvAnthropicAuthToken

// aiproxyTokenEnabled is Aiproxy's status of a usable token.
const aiproxyTokenEnabled = 1
