package devenv

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/fullstackagent/fsa"

// TestImportRules checks the house's import rules on the module's product code (tests may
// import what they need): store and k8s import none of the module's other packages; reconcile
// knows no Raft and no RPC; nothing imports daemon but daemon itself; product code never
// imports the test world (internal/devenv), except the test build of fsad
// (daemon/testbuild.go, build tag fsadtest, which this listing leaves out) and the benchmarks.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	checked := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], module+"/")
		for _, imp := range f[1:] {
			dep := strings.TrimPrefix(imp, module+"/")
			checked++
			if reason := forbidden(pkg, dep, imp); reason != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, reason)
			}
		}
	}
	require.NoError(t, sc.Err())
	require.Greater(t, checked, 100, "the listing was read")
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func forbidden(pkg, dep, imp string) string {
	own := dep != imp // an import of this module
	switch {
	case own && under(dep, "daemon") && !under(pkg, "daemon"):
		return "nothing imports daemon"
	case own && under(dep, "internal/devenv") && !under(pkg, "internal/devenv"):
		return "product code never imports the test world"
	case under(pkg, "store") && own && !under(dep, "store"):
		return "store is a leaf"
	case under(pkg, "k8s") && own && !under(dep, "k8s"):
		return "k8s is a leaf"
	case under(pkg, "reconcile") && (strings.Contains(imp, "hashicorp/raft") || strings.Contains(imp, "connectrpc.com") ||
		under(dep, "store/raftstore") || under(dep, "clients")):
		return "reconcile knows no Raft and no RPC"
	}
	return ""
}

func TestImportRulesRefuse(t *testing.T) {
	for _, c := range []struct{ pkg, imp string }{
		{"fsa", module + "/daemon/api"},
		{"reconcile", module + "/store/raftstore"},
		{"reconcile", "github.com/hashicorp/raft"},
		{"reconcile", "connectrpc.com/connect"},
		{"store/boltstore", module + "/fsa"},
		{"k8s", module + "/fsa"},
		{"daemon", module + "/internal/devenv/testapi"},
		{"examples/embedded", module + "/internal/devenv/k8stest"},
	} {
		require.NotEmpty(t, forbidden(c.pkg, strings.TrimPrefix(c.imp, module+"/"), c.imp), "%s -> %s", c.pkg, c.imp)
	}
	for _, c := range []struct{ pkg, imp string }{
		{"daemon/cmd/fsad", module + "/daemon"},
		{"reconcile", module + "/k8s"},
		{"store/raftstore", module + "/store/boltstore"},
		{"internal/devenv/fsadtest", module + "/internal/devenv/testapi"},
	} {
		require.Empty(t, forbidden(c.pkg, strings.TrimPrefix(c.imp, module+"/"), c.imp), "%s -> %s", c.pkg, c.imp)
	}
}
