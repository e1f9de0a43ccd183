package fsa_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/fullstackagent/fsa/fsa"
)

func TestK8sName(t *testing.T) {
	tests := map[string]string{
		"My Blog!":                      "myblog",
		"myblog":                        "myblog",
		"  Hello   World  ":             "helloworld",
		"Ünïcödé 名前":                    "ncd",
		"名前":                            "project",
		"":                              "project",
		"!!!---":                        "project",
		"123 go":                        "p123go",
		"a-very-long-project-name-here": "averylongprojectname",
		"UPPER_case.dots":               "uppercasedots",
	}
	for in, want := range tests {
		got := fsa.K8sName(in)
		assert.Equal(t, want, got, "K8sName(%q)", in)
		assert.LessOrEqual(t, len(got), fsa.MaxK8sNameLen)
	}
}

func checkDNS(t *testing.T, what, s string) {
	t.Helper()
	require.Empty(t, validation.IsDNS1123Label(s), "%s %q is not a DNS-1123 label", what, s)
	require.Empty(t, validation.IsDNS1035Label(s), "%s %q is not a DNS-1035 label", what, s)
}

func TestResourceNameAndHostLabel(t *testing.T) {
	for i := 0; i < 200; i++ {
		name, err := fsa.ResourceName(rand.Reader, fsa.K8sName("A project with a long name, really"))
		require.NoError(t, err)
		require.Regexp(t, `^[a-z][a-z0-9]{0,19}-agentruntime-[a-z0-9]{6}$`, name)
		checkDNS(t, "resource name", name)
		host, err := fsa.HostLabel(rand.Reader)
		require.NoError(t, err)
		require.Regexp(t, `^[a-z][a-z0-9]{11}$`, host)
		checkDNS(t, "host label", host)
	}
	_, err := fsa.HostLabel(bytes.NewReader(nil))
	require.Error(t, err, "an exhausted random source is an error, not a short label")
}

func FuzzK8sName(f *testing.F) {
	for _, s := range []string{"My Blog!", "", "123", "名前", strings.Repeat("a", 100), "-a-", "\x00\xff"} {
		f.Add(s, []byte("0123456789abcdef"))
	}
	f.Fuzz(func(t *testing.T, display string, entropy []byte) {
		k := fsa.K8sName(display)
		require.LessOrEqual(t, len(k), fsa.MaxK8sNameLen)
		checkDNS(t, "k8s name", k)
		// Repeat the fuzzer's bytes so the random source never runs dry.
		src := bytes.NewReader(bytes.Repeat(append(entropy, 1), 64))
		name, err := fsa.ResourceName(src, k)
		if err != nil {
			return // the source was all rejected bytes
		}
		checkDNS(t, "resource name", name)
	})
}
