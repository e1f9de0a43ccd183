package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunWithoutCluster(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantErr: true},
		{name: "unknown command", args: []string{"sideways"}, wantErr: true},
		{name: "status when not running", args: []string{"status"}, wantStdout: "not running\n"},
		{name: "down when not running", args: []string{"down"}, wantStderr: "fsa-devcluster: not running\n"},
		{name: "down twice", args: []string{"down"}, wantStderr: "fsa-devcluster: not running\n"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 0 {
				args = append(args, "--dir", dir)
			}
			var stdout, stderr bytes.Buffer
			err := run(args, &stdout, &stderr)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantStdout, stdout.String())
			assert.Equal(t, tt.wantStderr, stderr.String())
		})
	}
}

// A pid file left by a supervisor that died (here: a pid that is not an fsa-devcluster) is
// recognised as stale and cleaned up.
func TestStalePIDFile(t *testing.T) {
	dir := t.TempDir()
	s := state{dir: dir}
	require.NoError(t, os.WriteFile(s.path(filePID), []byte(strconv.Itoa(os.Getpid())), 0o600))
	require.NoError(t, os.WriteFile(s.path(fileKubeconfig), []byte("stale"), 0o600))
	_, ok := s.running()
	assert.False(t, ok, "the test binary is not a supervisor")
	var stderr bytes.Buffer
	require.NoError(t, run([]string{"down", "--dir", dir}, &bytes.Buffer{}, &stderr))
	assert.NoFileExists(t, filepath.Join(dir, filePID))
	assert.NoFileExists(t, filepath.Join(dir, fileKubeconfig))
}
