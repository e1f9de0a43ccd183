package fsa

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/fullstackagent/fsa/runtime/ticket"
)

// MaxK8sNameLen bounds the Kubernetes-safe part of a project's name.
const MaxK8sNameLen = 20

// fallbackK8sName is used when nothing of a project's name survives sanitising.
const fallbackK8sName = "project"

// K8sName turns a project's display name into a short Kubernetes-safe name: lowercase ASCII
// letters and digits only, at most MaxK8sNameLen characters, starting with a letter (so that
// names derived from it are valid DNS-1035 labels, as Services require). "My Blog!" → "myblog".
// A name with nothing usable becomes "project"; one starting with a digit gets a "p" prefix.
func K8sName(display string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(display) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" {
		return fallbackK8sName
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "p" + s
	}
	if len(s) > MaxK8sNameLen {
		s = s[:MaxK8sNameLen]
	}
	return s
}

const (
	lowerAlnum   = "abcdefghijklmnopqrstuvwxyz0123456789"
	lowerLetters = "abcdefghijklmnopqrstuvwxyz"
)

// randomString returns n characters: the first from first, the rest from rest, drawn uniformly
// from r (rejection sampling, so no modulo bias).
func randomString(r io.Reader, n int, first, rest string) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 1)
	for len(out) < n {
		alphabet := rest
		if len(out) == 0 {
			alphabet = first
		}
		limit := 256 - 256%len(alphabet)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("read randomness: %w", err)
		}
		if int(buf[0]) >= limit {
			continue
		}
		out = append(out, alphabet[int(buf[0])%len(alphabet)])
	}
	return string(out), nil
}

// ResourceName returns the Kubernetes resource name for a project's sandbox and database:
// "{k8sName}-agentruntime-{6 random lowercase alphanumerics}". At most 39 characters, a valid
// DNS-1123 and DNS-1035 label when k8sName comes from K8sName.
func ResourceName(r io.Reader, k8sName string) (string, error) {
	suffix, err := randomString(r, 6, lowerAlnum, lowerAlnum)
	if err != nil {
		return "", err
	}
	return k8sName + "-agentruntime-" + suffix, nil
}

// HostLabel returns a random 12-character DNS label (lowercase alphanumerics, starting with a
// letter) for an Ingress host, so hosts cannot be guessed from project names.
func HostLabel(r io.Reader) (string, error) {
	return randomString(r, 12, lowerLetters, lowerAlnum)
}

// idLen is the length of the ids newID makes.
const idLen = 20

// newID returns a random idLen-character id.
func newID(r io.Reader) (string, error) {
	return randomString(r, idLen, lowerLetters, lowerAlnum)
}

// newToken returns a terminal access token: 32 bytes of entropy that pass the sandbox's
// strength check (see runtime/ticket).
func newToken(r io.Reader) (string, error) { return ticket.NewToken(r) }

// defaultRand is the source of ids, names and tokens unless a test supplies its own.
var defaultRand io.Reader = rand.Reader
