package k8stest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fullstackagent/fsa/internal/devenv/repo"
)

// EnvBinDir names the environment variable that points at a directory holding the control-plane
// binaries; without it they are found in <repo>/.cache/k8s/current/bin, where `make k8s-bins`
// (internal/devenv/localcluster/build.sh) puts the last good build.
const EnvBinDir = "FSA_K8S_BIN"

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

// RepoRoot is repo.Root: the directory of the fsa module's go.mod.
func RepoRoot() (string, error) { return repo.Root() }
