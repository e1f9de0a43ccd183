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
