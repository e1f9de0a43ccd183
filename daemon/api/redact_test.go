package api

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactingHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redactingHandler{slog.NewTextHandler(&buf, nil)})
	log.With("api_key", "k-1").Info("m", "password", "p-2", "user", "u-3",
		slog.Group("req", "Authorization", "Bearer t-4", "kubeconfig", "c-5", "path", "/x"), "session_token", "t-6")
	out := buf.String()
	for _, s := range []string{"k-1", "p-2", "t-4", "c-5", "t-6"} {
		assert.NotContains(t, out, s)
	}
	assert.Contains(t, out, "u-3")
	assert.Contains(t, out, "/x")
	assert.Contains(t, out, "[REDACTED]")
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	k, err := GenerateSigningKey()
	assert.NoError(t, err)
	cfg := AuthConfig{SigningKey: k, SealosJWTSecret: "sealos-s3cret", GitHub: GitHubConfig{ClientID: "cid", ClientSecret: "gh-s3cret"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "auth", cfg, "key", k)
	out := buf.String()
	for _, s := range []string{"sealos-s3cret", "gh-s3cret", k.Encode()[len(k.ID)+1:]} {
		assert.NotContains(t, out, s)
	}
	assert.Contains(t, out, "cid")
	assert.Contains(t, out, k.ID)
}
