package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

// browser is one portal user's HTTP client with its own cookies.
func browser(t *testing.T, base, name string) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/login", url.Values{"user": {name}})
	require.NoError(t, err)
	resp.Body.Close()
	return c
}

func sandboxes(t *testing.T, c *http.Client, base string) []sandbox {
	resp, err := c.Get(base + "/sandboxes")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []sandbox
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestPortalCreatesSandboxesPerUser(t *testing.T) {
	cl := k8stest.Env(t)
	tenant := cl.NewTestUser(t, "portal")
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "portal.db"))
	require.NoError(t, err)
	defer st.Close()
	p := newPortal(fsa.New(st), tenant.Kubeconfig)
	ctx, cancel := context.WithCancel(context.Background())
	loops := make(chan error, 1)
	go func() { loops <- p.runLoops(ctx, "sandbox.fsa.test", slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() { cancel(); require.NoError(t, <-loops) }()
	srv := httptest.NewServer(p)
	defer srv.Close()

	anon, err := http.Get(srv.URL + "/sandboxes")
	require.NoError(t, err)
	anon.Body.Close()
	require.Equal(t, http.StatusUnauthorized, anon.StatusCode)

	alice := browser(t, srv.URL, "alice")
	bob := browser(t, srv.URL, "bob")
	resp, err := alice.PostForm(srv.URL+"/sandboxes", url.Values{"name": {"Alice's Shop"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	require.Eventually(t, func() bool {
		s := sandboxes(t, alice, srv.URL)
		return len(s) == 1 && s[0].Status == "RUNNING" && s[0].AppURL != ""
	}, 2*time.Minute, 100*time.Millisecond, "alice's sandbox runs")
	require.Empty(t, sandboxes(t, bob, srv.URL), "bob sees only his own sandboxes")

	resp, err = alice.PostForm(srv.URL+"/sandboxes", url.Values{"name": {""}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "bad input is a clear error")

	id := sandboxes(t, alice, srv.URL)[0].ID
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/sandboxes/"+id, nil)
	resp, err = bob.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "bob cannot delete alice's sandbox")
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/sandboxes/"+id, nil) // fresh: Do added bob's cookie to the first
	resp, err = alice.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool { return len(sandboxes(t, alice, srv.URL)) == 0 }, 2*time.Minute, 100*time.Millisecond, "deleted")
}
