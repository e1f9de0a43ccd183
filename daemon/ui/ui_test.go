package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon/ui"
)

func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// assetRefs returns the asset URLs index.html loads, e.g. /ui/assets/app.js?v=….
func assetRefs(t *testing.T, h http.Handler) []string {
	t.Helper()
	html := body(t, serve(t, h, http.MethodGet, "/ui/", nil))
	refs := regexp.MustCompile(`(?:src|href)="(/ui/assets/[^"]+)"`).FindAllStringSubmatch(html, -1)
	require.Len(t, refs, 2, "index.html should load app.js and app.css:\n%s", html)
	out := make([]string, len(refs))
	for i, m := range refs {
		out[i] = m[1]
	}
	return out
}

func TestHandler(t *testing.T) {
	h := ui.Handler()
	refs := assetRefs(t, h)
	var js, css string
	for _, r := range refs {
		switch {
		case strings.HasPrefix(r, "/ui/assets/app.js?v="):
			js = r
		case strings.HasPrefix(r, "/ui/assets/app.css?v="):
			css = r
		}
	}
	require.NotEmpty(t, js, "refs %v", refs)
	require.NotEmpty(t, css, "refs %v", refs)

	tests := []struct {
		name, method, target string
		wantCode             int
		wantType             string
		wantCache            string
		wantBody             string
	}{
		{"root", "GET", "/ui/", 200, "text/html; charset=utf-8", "no-cache", `<div id="app">`},
		{"index by name", "GET", "/ui/index.html", 200, "text/html; charset=utf-8", "no-cache", `<div id="app">`},
		{"app route falls back to index", "GET", "/ui/projects/p-123", 200, "text/html; charset=utf-8", "no-cache", `<div id="app">`},
		{"settings route", "GET", "/ui/settings", 200, "text/html; charset=utf-8", "no-cache", `<div id="app">`},
		{"script with its version is immutable", "GET", js, 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"stylesheet with its version is immutable", "GET", css, 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"script without a version is revalidated", "GET", "/ui/assets/app.js", 200, "text/javascript; charset=utf-8", "no-cache", ""},
		{"script with another version is revalidated", "GET", "/ui/assets/app.js?v=0000", 200, "text/javascript; charset=utf-8", "no-cache", ""},
		{"missing asset", "GET", "/ui/assets/nope.js", 404, "text/plain; charset=utf-8", "", ""},
		{"dot-dot stays inside", "GET", "/ui/../../etc/passwd", 404, "text/plain; charset=utf-8", "", ""},
		{"head", "HEAD", "/ui/", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"post refused", "POST", "/ui/", 405, "text/plain; charset=utf-8", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, h, tc.method, tc.target, nil)
			got := body(t, resp)
			assert.Equal(t, tc.wantCode, resp.StatusCode)
			assert.Equal(t, tc.wantType, resp.Header.Get("Content-Type"))
			assert.Equal(t, tc.wantCache, resp.Header.Get("Cache-Control"))
			assert.Equal(t, ui.ContentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			if tc.wantCode == 200 && tc.method == "GET" {
				assert.NotEmpty(t, got)
				assert.NotEmpty(t, resp.Header.Get("ETag"))
			}
			assert.Contains(t, got, tc.wantBody)
		})
	}
}

func TestHandlerETag(t *testing.T) {
	h := ui.Handler()
	for _, target := range append(assetRefs(t, h), "/ui/") {
		t.Run(target, func(t *testing.T) {
			first := serve(t, h, "GET", target, nil)
			etag := first.Header.Get("ETag")
			require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
			again := serve(t, h, "GET", target, http.Header{"If-None-Match": {etag}})
			assert.Equal(t, http.StatusNotModified, again.StatusCode)
			assert.Empty(t, body(t, again))
			other := serve(t, h, "GET", target, http.Header{"If-None-Match": {`"other"`}})
			assert.Equal(t, http.StatusOK, other.StatusCode)
		})
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(ui.ContentSecurityPolicy, ";") {
		f := strings.Fields(d)
		require.NotEmpty(t, f)
		directives[f[0]] = strings.Join(f[1:], " ")
	}
	assert.Equal(t, "'none'", directives["default-src"])
	assert.Equal(t, "'self'", directives["script-src"], "no inline or remote scripts")
	assert.Equal(t, "'self'", directives["connect-src"], "the API is on the console's origin")
	assert.Equal(t, "https:", directives["frame-src"], "terminals are framed from https: hosts only")
	assert.Equal(t, "'none'", directives["frame-ancestors"])
	assert.Equal(t, "'none'", directives["object-src"])
}
