package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/ui/"

// ContentSecurityPolicy is the policy of every console response. The console
// talks to the API on its own origin and embeds project terminals, which live
// on https: hosts of their own.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; frame-src https:; form-action 'self'; base-uri 'none'; " +
	"object-src 'none'; frame-ancestors 'none'"

//go:embed dist
var dist embed.FS

// file is one embedded file with what its responses need.
type file struct {
	body        []byte
	contentType string
	etag        string // strong, quoted
	version     string // the ?v= value index.html uses for it
}

// Handler returns the console's handler. Mount it at Prefix:
//
//	mux.Handle(ui.Prefix, ui.Handler())
//
// It panics if the embedded bundle is malformed (a build error, caught by the
// package's tests).
func Handler() http.Handler {
	h, err := newHandler(dist)
	if err != nil {
		panic(err)
	}
	return h
}

type handler struct {
	files map[string]*file // by path below dist/, e.g. "assets/app.js"
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	h := &handler{files: map[string]*file{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		h.files[p] = &file{
			body:        body,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
			version:     hex.EncodeToString(sum[:8]),
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: read bundle: %w", err)
	}
	if h.files["index.html"] == nil {
		return nil, fmt.Errorf("ui: bundle has no index.html (build clients/web)")
	}
	// Types that must not depend on the host's mime database.
	for p, f := range h.files {
		switch path.Ext(p) {
		case ".html":
			f.contentType = "text/html; charset=utf-8"
		case ".js":
			f.contentType = "text/javascript; charset=utf-8"
		case ".css":
			f.contentType = "text/css; charset=utf-8"
		}
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	clean := path.Clean(r.URL.Path)
	rel, ok := strings.CutPrefix(clean+"/", Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	rel = strings.TrimSuffix(rel, "/")
	f := h.files[rel]
	cache := "no-cache"
	switch {
	case f != nil && rel != "index.html":
		if v := r.URL.Query().Get("v"); v != "" && v == f.version {
			cache = "public, max-age=31536000, immutable"
		}
	case f != nil:
	case path.Ext(rel) != "":
		http.NotFound(w, r)
		return
	default:
		// An app route: the app reads the path itself.
		f = h.files["index.html"]
	}
	hd.Set("Cache-Control", cache)
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	// ServeContent handles If-None-Match (against the ETag), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
