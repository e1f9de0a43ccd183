package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// The private preview: /preview/<project id>/... on fsad proxies to the sandbox's app (port
// 3000) through pods/portforward with the owner's kubeconfig. Access: a ticket from
// PreviewAccess (a minute), traded for a cookie scoped to the preview's path.
const (
	previewPrefix    = "/preview/"
	previewAppPort   = 3000
	previewTicketTTL = time.Minute
	previewCookieTTL = 30 * time.Minute
	previewIssuer    = "fsad-preview" // never "fsad": a preview token is no session token
	previewCookie    = "fsa_preview"
	previewTicketArg = "fsa-preview-ticket"
)

type previewClaims struct {
	jwt.RegisteredClaims
}

// previewToken signs a preview token for user and project; kind is "ticket" or "cookie".
func (s *server) previewToken(user, project, kind string, ttl time.Duration) (string, time.Time, error) {
	now := s.auth.Now()
	exp := now.Add(ttl).Truncate(time.Second)
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, previewClaims{jwt.RegisteredClaims{
		Issuer: previewIssuer, Subject: user, Audience: jwt.ClaimStrings{kind + ":" + project},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}})
	t.Header["kid"] = s.auth.SigningKey.ID
	tok, err := t.SignedString(s.auth.SigningKey.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign preview %s: %w", kind, err)
	}
	return tok, exp, nil
}

// verifyPreview returns the user a preview token of kind for project was issued to.
func (s *server) verifyPreview(raw, project, kind string) (string, error) {
	var claims previewClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithIssuer(previewIssuer), jwt.WithAudience(kind+":"+project), jwt.WithTimeFunc(s.auth.Now))
	_, err := p.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if key, ok := s.sessions.keys[kid]; ok {
			return key, nil
		}
		return nil, errors.New("unknown signing key")
	})
	if err != nil || claims.Subject == "" {
		return "", fmt.Errorf("%w: invalid or expired preview %s", errUnauthenticated, kind)
	}
	return claims.Subject, nil
}

func (s *sandboxService) PreviewAccess(ctx context.Context, req *connect.Request[fsav1.PreviewAccessRequest]) (*connect.Response[fsav1.PreviewAccessResponse], error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return nil, err
	}
	id := req.Msg.ProjectId
	if err := s.c.SandboxReady(ctx, c.user.ID, id); err != nil {
		return nil, err
	}
	tok, exp, err := s.previewToken(c.user.ID, id, "ticket", previewTicketTTL)
	if err != nil {
		return nil, err
	}
	path := previewPrefix + url.PathEscape(id) + "/?" + url.Values{previewTicketArg: {tok}}.Encode()
	return connect.NewResponse(&fsav1.PreviewAccessResponse{Path: path, ExpiresAt: ts(exp)}), nil
}

// sandboxConn adapts a port-forward stream to net.Conn for http.Transport (deadlines are the
// request context's business).
type sandboxConn struct{ io.ReadWriteCloser }

func (sandboxConn) LocalAddr() net.Addr              { return previewAddr{} }
func (sandboxConn) RemoteAddr() net.Addr             { return previewAddr{} }
func (sandboxConn) SetDeadline(time.Time) error      { return nil }
func (sandboxConn) SetReadDeadline(time.Time) error  { return nil }
func (sandboxConn) SetWriteDeadline(time.Time) error { return nil }

type previewAddr struct{}

func (previewAddr) Network() string { return "portforward" }
func (previewAddr) String() string  { return "sandbox:3000" }

// preview serves /preview/<project>/...: ticket for cookie, then the proxy.
func (s *server) preview(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, previewPrefix)
	project, sub, _ := strings.Cut(rest, "/")
	if project == "" {
		http.NotFound(w, r)
		return
	}
	base := previewPrefix + project + "/"
	if sub == "" && !strings.HasSuffix(r.URL.Path, "/") {
		http.Redirect(w, r, base+"?"+r.URL.RawQuery, http.StatusFound)
		return
	}
	if !s.limiter.allow("addr:" + clientAddr(r)) {
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	q := r.URL.Query()
	if ticket := q.Get(previewTicketArg); ticket != "" {
		user, err := s.verifyPreview(ticket, project, "ticket")
		if err != nil {
			http.Error(w, "preview: "+err.Error(), http.StatusUnauthorized)
			return
		}
		cookie, exp, err := s.previewToken(user, project, "cookie", previewCookieTTL)
		if err != nil {
			http.Error(w, "preview: internal error", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: previewCookie, Value: cookie, Path: base, Expires: exp, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
		q.Del(previewTicketArg)
		target := r.URL.Path
		if enc := q.Encode(); enc != "" {
			target += "?" + enc
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	ck, err := r.Cookie(previewCookie)
	if err != nil {
		http.Error(w, "preview: open the link from PreviewAccess first", http.StatusUnauthorized)
		return
	}
	user, err := s.verifyPreview(ck.Value, project, "cookie")
	if err != nil {
		http.Error(w, "preview: "+err.Error(), http.StatusUnauthorized)
		return
	}
	ctx := r.Context()
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := s.c.DialSandbox(ctx, user, project, previewAppPort)
			if err != nil {
				return nil, err
			}
			return sandboxConn{conn}, nil
		},
		DisableKeepAlives:     true, // one port-forward connection per request
		ResponseHeaderTimeout: time.Minute,
	}
	defer transport.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "sandbox"
			pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+sub, ""
			pr.Out.Host = pr.In.Host
			stripCookie(pr.Out.Header, previewCookie)
			pr.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.InfoContext(ctx, "sandbox preview", "user", user, "project", project, "err", err)
			http.Error(w, "preview: the sandbox's app did not answer on port 3000", http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
}

// stripCookie removes one cookie from the Cookie headers: the preview's credential never
// reaches the app.
func stripCookie(h http.Header, name string) {
	var keep []string
	for _, line := range h.Values("Cookie") {
		var parts []string
		for _, c := range strings.Split(line, ";") {
			if k, _, _ := strings.Cut(strings.TrimSpace(c), "="); k != name && strings.TrimSpace(c) != "" {
				parts = append(parts, strings.TrimSpace(c))
			}
		}
		if len(parts) > 0 {
			keep = append(keep, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, v := range keep {
		h.Add("Cookie", v)
	}
}
