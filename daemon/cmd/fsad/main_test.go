package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

func TestRunExitCodes(t *testing.T) {
	noEnv := func(string) string { return "" }
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"version", []string{"--version"}, 0, "fsad dev"},
		{"help", []string{"-h"}, 0, "-data-dir"},
		{"bad config", nil, 2, "data dir is required"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			assert.Equal(t, tt.code, run(tt.args, noEnv, &out))
			assert.Contains(t, out.String(), tt.out)
		})
	}
}

// TestClientGoReportsInTheDaemonLog: what client-go reports through klog (here an error it
// handles itself, as a failed watch is) lands in the daemon's log as one of its JSON records.
func TestClientGoReportsInTheDaemonLog(t *testing.T) {
	var out bytes.Buffer
	newLogger(&out, slog.LevelInfo, "json")
	utilruntime.HandleError(errors.New("watch of pods failed"))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(out.Bytes()), &rec), "one JSON record: %s", out.String())
	assert.Equal(t, "client-go", rec["component"])
	assert.Equal(t, "ERROR", rec["level"])
	assert.Contains(t, rec["err"], "watch of pods failed")
}
