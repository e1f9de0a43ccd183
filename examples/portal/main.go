// Command portal is an existing multi-user web portal — its own users, its own sign-in — that
// adds "create a sandbox for this user" by embedding fsa: the SDK over bbolt and the reconcile
// loops in-process. Portal users map to fsa users through an EXTERNAL identity carrying the
// portal's own user id.
//
//	portal -addr 127.0.0.1:8090 -data portal.db -kubeconfig tenant.kubeconfig
//
// Every portal user gets the kubeconfig given here (one namespace for the whole portal); a real
// portal would give each user their own namespace and kubeconfig.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	data := flag.String("data", "portal.db", "bbolt file for fsa's state")
	kubeconfig := flag.String("kubeconfig", "", "namespace-scoped kubeconfig given to every portal user (required)")
	domain := flag.String("domain", "sandbox.localtest.me", "parent domain of sandbox hosts")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := serve(*addr, *data, *kubeconfig, *domain, log); err != nil {
		log.Error("portal", "err", err)
		os.Exit(1)
	}
}

func serve(addr, data, kubeconfigPath, domain string, log *slog.Logger) error {
	kc, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		return fmt.Errorf("read -kubeconfig: %w", err)
	}
	st, err := boltstore.Open(data)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Secret values are sealed at rest; the example keeps its keyring beside the data (a real
	// portal keeps it elsewhere: a secret store, a KMS through fsa.KeyWrapper).
	keys, err := fsa.KeyringFile(data+".kek", true)
	if err != nil {
		return err
	}
	p := newPortal(fsa.New(st, fsa.WithKeys(keys)), kc)

	loops := make(chan error, 1)
	go func() { loops <- p.runLoops(ctx, domain, log) }()
	srv := &http.Server{Addr: addr, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("portal listening", "addr", addr)
	err = srv.ListenAndServe()
	stop()
	if lerr := <-loops; lerr != nil && !errors.Is(lerr, context.Canceled) {
		log.Error("reconcile", "err", lerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// portal is the web application. Its users and sessions are its own; fsa only sees user ids.
type portal struct {
	fsa        *fsa.Client
	kubeconfig []byte
	mux        *http.ServeMux

	mu       sync.Mutex
	sessions map[string]string // session cookie → portal user name
}

func newPortal(c *fsa.Client, kubeconfig []byte) *portal {
	p := &portal{fsa: c, kubeconfig: kubeconfig, mux: http.NewServeMux(), sessions: map[string]string{}}
	p.mux.HandleFunc("GET /{$}", p.home)
	p.mux.HandleFunc("POST /login", p.login)
	p.mux.HandleFunc("POST /logout", p.logout)
	p.mux.HandleFunc("GET /sandboxes", p.signedIn(p.listSandboxes))
	p.mux.HandleFunc("POST /sandboxes", p.signedIn(p.createSandbox))
	p.mux.HandleFunc("DELETE /sandboxes/{id}", p.signedIn(p.deleteSandbox))
	return p
}

func (p *portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// runLoops runs fsa's reconcile loops in this process until ctx ends.
func (p *portal) runLoops(ctx context.Context, domain string, log *slog.Logger) error {
	return p.fsa.RunLeader(ctx, func(ctx context.Context, fence uint64) error {
		r, err := reconcile.New(reconcile.Config{Client: p.fsa, Fence: fence, Domain: domain, Logger: log})
		if err != nil {
			return err
		}
		return r.Run(ctx)
	})
}

// fsaUser maps a portal user to its fsa user, creating it (and handing it the portal's
// kubeconfig) on first use.
func (p *portal) fsaUser(ctx context.Context, portalUser string) (string, error) {
	ident, err := p.fsa.LookupIdentity(ctx, fsa.ProviderExternal, portalUser)
	if err == nil {
		return ident.UserID, nil
	}
	if !errors.Is(err, fsa.ErrNotFound) {
		return "", err
	}
	u, err := p.fsa.CreateUser(ctx, fsa.UserSpec{Name: portalUser,
		Identity: &fsa.IdentitySpec{Provider: fsa.ProviderExternal, ProviderUserID: portalUser}})
	if errors.Is(err, fsa.ErrAlreadyExists) { // created concurrently
		return p.fsaUser(ctx, portalUser)
	}
	if err != nil {
		return "", err
	}
	_, err = p.fsa.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: string(p.kubeconfig),
		Category: fsa.CategoryKubeconfig, Secret: true})
	return u.ID, err
}

func (p *portal) login(w http.ResponseWriter, r *http.Request) {
	// The portal's own sign-in: a demo that trusts the name it is given.
	name := r.FormValue("user")
	if name == "" {
		http.Error(w, "user is required", http.StatusBadRequest)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	p.mu.Lock()
	p.sessions[sid] = name
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "portal_session", Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *portal) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie("portal_session"); err == nil {
		p.mu.Lock()
		delete(p.sessions, c.Value)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: "portal_session", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *portal) user(r *http.Request) (string, bool) {
	c, err := r.Cookie("portal_session")
	if err != nil {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.sessions[c.Value]
	return name, ok
}

func (p *portal) signedIn(h func(w http.ResponseWriter, r *http.Request, fsaUserID string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, ok := p.user(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		id, err := p.fsaUser(r.Context(), name)
		if err != nil {
			httpError(w, err)
			return
		}
		h(w, r, id)
	}
}

// sandbox is what the portal shows of a project.
type sandbox struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	AppURL   string `json:"app_url,omitempty"`
	Terminal string `json:"terminal_url,omitempty"`
}

func view(pr *fsa.Project) sandbox {
	s := sandbox{ID: pr.ID, Name: pr.Name, Status: string(pr.Status)}
	if pr.Sandbox != nil {
		s.AppURL, s.Terminal = pr.Sandbox.AppURL, pr.Sandbox.TerminalURL
	}
	return s
}

func (p *portal) listSandboxes(w http.ResponseWriter, r *http.Request, uid string) {
	list, err := p.fsa.ListProjects(r.Context(), uid)
	if err != nil {
		httpError(w, err)
		return
	}
	out := []sandbox{}
	for _, pr := range list.Items {
		out = append(out, view(pr))
	}
	writeJSON(w, http.StatusOK, out)
}

// createSandbox creates a project whose app is public: this portal shows its users their apps'
// URLs (fsa's default keeps an app private, reached by its owner through fsad's preview).
func (p *portal) createSandbox(w http.ResponseWriter, r *http.Request, uid string) {
	pr, err := p.fsa.CreateProject(r.Context(), uid, fsa.ProjectSpec{Name: r.FormValue("name"), PublicApp: true})
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, view(pr))
}

func (p *portal) deleteSandbox(w http.ResponseWriter, r *http.Request, uid string) {
	pr, err := p.fsa.DeleteProject(r.Context(), uid, r.PathValue("id"))
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, view(pr))
}

var page = template.Must(template.New("home").Parse(`<!doctype html><title>Portal</title>
{{if .User}}<p>Signed in as {{.User}}. <form method=post action=/logout><button>Sign out</button></form>
<form method=post action=/sandboxes><input name=name placeholder="app name"><button>Create a sandbox</button></form>
<p><a href=/sandboxes>My sandboxes (JSON)</a>
{{else}}<form method=post action=/login><input name=user placeholder="your name"><button>Sign in</button></form>{{end}}`))

func (p *portal) home(w http.ResponseWriter, r *http.Request) {
	name, _ := p.user(r)
	_ = page.Execute(w, struct{ User string }{name})
}

// httpError maps fsa's errors to HTTP statuses: the portal's one error boundary.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, fsa.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, fsa.ErrInvalidArgument):
		code = http.StatusBadRequest
	case errors.Is(err, fsa.ErrAlreadyExists), errors.Is(err, fsa.ErrFailedPrecondition), errors.Is(err, fsa.ErrConflict):
		code = http.StatusConflict
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		msg = "internal error"
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
