package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
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
