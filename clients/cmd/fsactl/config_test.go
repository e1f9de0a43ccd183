package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runIn runs fsactl in process with the given environment.
func runIn(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

func TestConfigPrecedence(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".config", "fsactl", "config.json")
	require.NoError(t, saveConfig(path, &fileConfig{Endpoints: []string{"http://file:1"}, Token: "file-token", Username: "ada"}))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		endpoint string
		token    string
	}{
		{"file", map[string]string{"HOME": home}, nil, "http://file:1", "set"},
		{"environment over file", map[string]string{"HOME": home, "FSA_ENDPOINT": "http://env:2", "FSA_TOKEN": "t"}, nil, "http://env:2", "set"},
		{"flag over environment", map[string]string{"HOME": home, "FSA_ENDPOINT": "http://env:2"}, []string{"--endpoint", "http://flag:3,http://flag:4"}, "http://flag:3,http://flag:4", "set"},
		{"empty token flag", map[string]string{"HOME": home}, []string{"--token", ""}, "http://file:1", "none"},
		{"no config at all", map[string]string{"HOME": t.TempDir()}, nil, DefaultEndpoint, "none"},
		{"FSACTL_CONFIG", map[string]string{"HOME": t.TempDir(), "FSACTL_CONFIG": path}, nil, "http://file:1", "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runIn(t, tt.env, append(tt.args, "config", "show")...)
			require.Equal(t, 0, code, errOut)
			fields := strings.Fields(strings.Split(out, "\n")[1])
			require.GreaterOrEqual(t, len(fields), 3, out)
			assert.Equal(t, tt.endpoint, fields[1])
			assert.Equal(t, tt.token, fields[2])
			assert.NotContains(t, out, "file-token", "the token itself is never shown")
		})
	}
}

func TestBadConfigFileAndUsageErrors(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "bad.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	_, errOut, code := runIn(t, map[string]string{"HOME": home}, "--config", path, "whoami")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "error: config "+path)

	for _, args := range [][]string{{"project", "get"}, {"nope"}, {"--output", "yaml", "config", "show"}, {"--bogus"}} {
		_, errOut, code := runIn(t, map[string]string{"HOME": home}, args...)
		assert.Equal(t, 1, code, "%v", args)
		assert.True(t, strings.HasPrefix(errOut, "error: "), "%v: %s", args, errOut)
	}
	_, errOut, code = runIn(t, map[string]string{"HOME": home}, "--endpoint", "127.0.0.1:80", "whoami")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "error: usage: fsaclient: endpoint")
}
