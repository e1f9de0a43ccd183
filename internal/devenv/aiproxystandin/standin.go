// Package aiproxystandin plays the Sealos Aiproxy key hub for tests: the token API the seed
// calls at a Sealos sign-in.
//
//	POST /api/keyhub
//	Content-Type: application/json
//	{"name": "fullstackagent-<sealos user id>", "kc": "<the user's kubeconfig (YAML)>"}
//
// It answers 200 with {"code": 200, "message": "", "data": {"id": n, "name": ..., "key": ...,
// "status": 1, "group": <namespace>}}: the token of that name in the workspace (the namespace
// of the kubeconfig's current context), created on first ask. A token an operator revoked
// (Revoke) is replaced by a fresh key under the same name at the next ask; with KeepRevoked it
// is answered as it is, status 2 (disabled), as the service does for a token it will not
// renew. A body that is not JSON, a missing name or a kubeconfig that does not parse or names
// no namespace get {"code": 400, "message": ...} with HTTP 400; anything else 404.
package aiproxystandin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
)

// Token statuses of the service.
const (
	StatusEnabled  = 1
	StatusDisabled = 2
)

// Token is one key of the hub.
type Token struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Key    string `json:"key"`
	Status int    `json:"status"`
	Group  string `json:"group"`
}

// Server is the stand-in; use it as an http.Handler. The zero value is not ready: use New.
type Server struct {
	mu     sync.Mutex
	tokens map[string]*Token // by group + "/" + name
	nextID int
	calls  int
	// KeepRevoked makes a revoked token answered as disabled instead of renewed.
	KeepRevoked bool
}

// New returns an empty key hub.
func New() *Server { return &Server{tokens: map[string]*Token{}} }

type request struct {
	Name string `json:"name"`
	KC   string `json:"kc"`
}

type response struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *Token `json:"data,omitempty"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/keyhub" {
		http.NotFound(w, r)
		return
	}
	var req request
	fail := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(response{Code: http.StatusBadRequest, Message: msg})
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		fail("body is not JSON")
		return
	}
	if req.Name == "" {
		fail("name is required")
		return
	}
	group, ok := namespaceOf(req.KC)
	if !ok {
		fail("kc is not a kubeconfig with a namespace")
		return
	}
	s.mu.Lock()
	s.calls++
	k := group + "/" + req.Name
	t := s.tokens[k]
	if t == nil || t.Status != StatusEnabled && !s.KeepRevoked {
		s.nextID++
		t = &Token{ID: s.nextID, Name: req.Name, Key: newKey(), Status: StatusEnabled, Group: group}
		s.tokens[k] = t
	}
	out := *t
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(response{Code: http.StatusOK, Data: &out})
}

func namespaceOf(kc string) (string, bool) {
	cfg, err := clientcmd.Load([]byte(kc))
	if err != nil || cfg.CurrentContext == "" {
		return "", false
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || ctx.Namespace == "" {
		return "", false
	}
	return ctx.Namespace, true
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "sk-aiproxy-" + hex.EncodeToString(b)
}

// Lookup returns the token of name in the workspace namespace; ok is false when there is none.
func (s *Server) Lookup(namespace, name string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[namespace+"/"+name]
	if !ok {
		return Token{}, false
	}
	return *t, true
}

// Revoke disables the token of name in the workspace namespace, as an operator revoking it in
// the Aiproxy console; it reports whether there was one.
func (s *Server) Revoke(namespace, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[namespace+"/"+name]
	if ok {
		t.Status = StatusDisabled
	}
	return ok
}

// Calls returns the number of well-formed requests answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}
