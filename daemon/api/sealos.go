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
// on first use, stores the given kubeconfig as the user's KUBECONFIG and, when the user has no
// Anthropic API key, provisions one from Aiproxy (see provisionAiproxy).
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
	s.provisionAiproxy(ctx, u.ID, m.SealosToken)
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

// provisionAiproxy gives a user without an Anthropic API key one from Aiproxy:
//
//	POST {AiproxyEndpoint}/api/keyhub
//	Authorization: <the user's Sealos token>
//	Content-Type: application/json
//	{"name": "fsa"}
//
// and expects a 2xx JSON answer carrying the key as {"key": "..."} or {"data": {"key": "..."}}.
// The key is stored as the user's ANTHROPIC_API_KEY (secret). Any failure — Aiproxy down, slower
// than AiproxyTimeout, an unexpected answer — is logged at warn level (without the key or the
// token) and the login goes on without a key.
func (s *server) provisionAiproxy(ctx context.Context, userID, sealosToken string) {
	if s.auth.AiproxyEndpoint == "" {
		return
	}
	_, err := s.c.GetUserConfig(ctx, userID, fsa.ConfigAnthropicAPIKey, false)
	if err == nil {
		return // the user has a key
	}
	if !errors.Is(err, fsa.ErrNotFound) {
		s.log.WarnContext(ctx, "aiproxy key not provisioned", "user", userID, "reason", err.Error())
		return
	}
	key, err := s.fetchAiproxyKey(ctx, sealosToken)
	if err != nil {
		s.log.WarnContext(ctx, "aiproxy key not provisioned", "user", userID, "reason", err.Error())
		return
	}
	if _, err := s.c.SetUserConfig(ctx, userID, fsa.UserConfig{Key: fsa.ConfigAnthropicAPIKey, Value: key, Category: fsa.CategoryAnthropic, Secret: true}); err != nil {
		s.log.WarnContext(ctx, "aiproxy key not stored", "user", userID, "reason", err.Error())
	}
}

// fetchAiproxyKey calls Aiproxy; its errors never contain the token or the key.
func (s *server) fetchAiproxyKey(ctx context.Context, sealosToken string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.auth.AiproxyTimeout)
	defer cancel()
	endpoint := strings.TrimRight(s.auth.AiproxyEndpoint, "/") + "/api/keyhub"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader([]byte(`{"name":"fsa"}`)))
	if err != nil {
		return "", errors.New("aiproxy endpoint is not a URL")
	}
	req.Header.Set("Authorization", sealosToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.auth.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("aiproxy did not answer within %s", s.auth.AiproxyTimeout)
		}
		return "", errors.New("aiproxy cannot be reached")
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("aiproxy answered %d", resp.StatusCode)
	}
	var body struct {
		Key  string `json:"key"`
		Data *struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUpstreamBody)).Decode(&body); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("aiproxy did not answer within %s", s.auth.AiproxyTimeout)
		}
		return "", errors.New("aiproxy sent an unreadable answer")
	}
	key := body.Key
	if key == "" && body.Data != nil {
		key = body.Data.Key
	}
	if key == "" || len(key) > 4096 {
		return "", errors.New("aiproxy sent no key")
	}
	return key, nil
}
