package runtime_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// k8sConst returns the value of the string constant name declared in
// k8s/versions.go. The file is parsed, not imported, so the runtime tests do
// not depend on the k8s package building.
func k8sConst(t *testing.T, name string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../k8s/versions.go", nil, 0)
	require.NoError(t, err, "k8s/versions.go must exist and declare %s", name)
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if id.Name != name || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok && lit.Kind == token.STRING, "%s must be a string literal", name)
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				return v
			}
		}
	}
	t.Fatalf("k8s/versions.go declares no constant %s", name)
	return ""
}

func TestVersionMatchesK8s(t *testing.T) {
	data, err := os.ReadFile("VERSION")
	require.NoError(t, err)
	version := strings.TrimSpace(string(data))
	assert.Regexp(t, `^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`, version)
	assert.Equal(t, string(data), version+"\n", "VERSION is one line")
	assert.Equal(t, version, k8sConst(t, "RuntimeImageTag"), "k8s.RuntimeImageTag must be runtime/VERSION")
}

func TestBuildRepositoryMatchesK8s(t *testing.T) {
	data, err := os.ReadFile("image.sh")
	require.NoError(t, err)
	m := regexp.MustCompile(`repository=\$\{FSA_RUNTIME_IMAGE:-([^}]+)\}`).FindStringSubmatch(string(data))
	require.NotNil(t, m, "image.sh sets a default repository")
	assert.Equal(t, k8sConst(t, "RuntimeImageRepository"), m[1], "build.sh must build what k8s deploys")
}
