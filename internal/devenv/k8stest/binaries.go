package k8stest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvBinDir names the environment variable that points at a directory holding the control-plane
// binaries; without it they are found in <repo>/.cache/k8s/current/bin, where `make k8s-bins`
// (internal/devenv/localcluster/build.sh) puts the last good build.
const EnvBinDir = "FSA_K8S_BIN"

// modulePath identifies the repository root while walking up from the working directory.
const modulePath = "github.com/fullstackagent/fsa"

// binaries are the programs a control plane runs, in start order.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// FindBinDir returns the directory holding the control-plane binaries: $FSA_K8S_BIN if set, else
// <repo root>/.cache/k8s/current/bin. The symlink is resolved, so a rebuild while a control plane
// runs does not swap its binaries. The kwok Stage config lives beside it in ../kwok.
func FindBinDir() (string, error) {
	dir := os.Getenv(EnvBinDir)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache", "k8s", "current", "bin")
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("control-plane binaries not found in %s (run `make k8s-bins` or set %s): %w",
			dir, EnvBinDir, err)
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(resolved, b)); err != nil {
			return "", fmt.Errorf("control-plane binary missing (run `make k8s-bins` or set %s): %w", EnvBinDir, err)
		}
	}
	return resolved, nil
}

// RepoRoot walks up from the working directory to the directory whose go.mod declares the fsa
// module (nested modules such as internal/devenv/localcluster/* are passed over).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if isFSAModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod declaring " + modulePath + " above the working directory")
		}
		dir = parent
	}
}

func isFSAModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == modulePath
		}
	}
	return false
}
