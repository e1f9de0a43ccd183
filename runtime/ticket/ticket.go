package ticket

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	// Version is the first field of every ticket this package mints.
	Version = "v1"

	// DefaultTTL is how long a freshly minted ticket should live: long
	// enough for a browser to load the terminal page and open its
	// websocket, short enough that a leaked URL is useless soon after.
	DefaultTTL = 60 * time.Second

	// MaxLifetime is the largest expiry - now that Verify accepts. It
	// bounds the damage of a minting bug and absorbs clock skew between
	// the minting server and the sandbox.
	MaxLifetime = 5 * time.Minute

	// MinTokenLen and MaxTokenLen bound an access token's length in bytes.
	MinTokenLen = 32
	MaxTokenLen = 1024

	// MinTokenDistinct is the fewest distinct bytes a token may have.
	MinTokenDistinct = 8

	// MaxProjectLen bounds a project name's length in bytes.
	MaxProjectLen = 253

	// domain prefixes every signed message.
	domain = "fsa-terminal-v1"
	// maxExpiry is the largest expiry with 12 decimal digits.
	maxExpiry = 999_999_999_999
	// macLen is the length of an unpadded base64url SHA-256 mac.
	macLen = 43
)

// placeholders are substrings that betray a token somebody typed in.
var placeholders = []string{"changeme", "password", "secret", "example", "placeholder"}

// CheckToken reports whether token may key tickets. It returns an error
// wrapping ErrWeakToken, naming the rule broken but never the token.
func CheckToken(token string) error {
	if len(token) < MinTokenLen {
		return fmt.Errorf("%w: shorter than %d bytes", ErrWeakToken, MinTokenLen)
	}
	if len(token) > MaxTokenLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrWeakToken, MaxTokenLen)
	}
	var seen [256]bool
	distinct := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: contains whitespace or control characters", ErrWeakToken)
		}
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	if distinct < MinTokenDistinct {
		return fmt.Errorf("%w: fewer than %d distinct characters", ErrWeakToken, MinTokenDistinct)
	}
	lower := asciiLower(token)
	for _, w := range placeholders {
		if strings.Contains(lower, w) {
			return fmt.Errorf("%w: looks like a placeholder (contains %q)", ErrWeakToken, w)
		}
	}
	return nil
}

// asciiLower lowercases ASCII letters only, as bash does in the C locale.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// CheckProject reports whether project can be bound into a ticket. It
// returns an error wrapping ErrBadProject.
func CheckProject(project string) error {
	if project == "" {
		return fmt.Errorf("%w: empty", ErrBadProject)
	}
	if len(project) > MaxProjectLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadProject, MaxProjectLen)
	}
	for i := 0; i < len(project); i++ {
		if c := project[i]; c < ' ' || c == 0x7f {
			return fmt.Errorf("%w: contains control characters", ErrBadProject)
		}
	}
	return nil
}

// NewToken returns a fresh access token: 32 bytes from r, base64url without
// padding (43 characters). Pass crypto/rand.Reader, or nil for it. A token
// from a real random source passes CheckToken with overwhelming
// probability; NewToken checks and retries, so the result always does.
func NewToken(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	for range 8 {
		var b [32]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("new token: %w", err)
		}
		tok := base64.RawURLEncoding.EncodeToString(b[:])
		if CheckToken(tok) == nil {
			return tok, nil
		}
	}
	return "", fmt.Errorf("new token: %w: random source keeps producing weak tokens", ErrWeakToken)
}

// Mint returns a ticket for project, keyed by token, that expires at expiry
// (truncated to whole seconds). Callers normally pass now.Add(DefaultTTL).
func Mint(token, project string, expiry time.Time) (string, error) {
	if err := CheckToken(token); err != nil {
		return "", err
	}
	if err := CheckProject(project); err != nil {
		return "", err
	}
	exp := expiry.Unix()
	if exp <= 0 || exp > maxExpiry {
		return "", fmt.Errorf("%w: %d", ErrBadExpiry, exp)
	}
	e := strconv.FormatInt(exp, 10)
	return Version + "." + e + "." + base64.RawURLEncoding.EncodeToString(mac(token, project, e)), nil
}

// Verify checks that ticket is valid for project under token at time now.
// It returns nil, or an error that is (errors.Is) one of ErrMalformed,
// ErrInvalid, ErrExpired, ErrTooFarAhead, ErrWeakToken or ErrBadProject.
func Verify(token, project, ticket string, now time.Time) error {
	e, given, ok := parse(ticket)
	if !ok {
		return ErrMalformed
	}
	if err := CheckToken(token); err != nil {
		return err
	}
	if err := CheckProject(project); err != nil {
		return err
	}
	// Compare the base64url text, as ticket.sh does, so that a mac with
	// non-zero padding bits is refused the same way on both sides.
	want := base64.RawURLEncoding.EncodeToString(mac(token, project, e))
	if !hmac.Equal([]byte(want), []byte(given)) {
		return ErrInvalid
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil { // unreachable: parse allows 12 digits only
		return fmt.Errorf("%w: expiry: %w", ErrMalformed, err)
	}
	n := now.Unix()
	if n >= exp {
		return fmt.Errorf("%w: expired %ds ago", ErrExpired, n-exp)
	}
	if exp-n > int64(MaxLifetime/time.Second) {
		return fmt.Errorf("%w: expires in %ds, at most %ds allowed", ErrTooFarAhead, exp-n, int64(MaxLifetime/time.Second))
	}
	return nil
}

// parse splits a ticket into its expiry digits and its mac text.
func parse(ticket string) (expiry, sum string, ok bool) {
	if len(ticket) > 64 {
		return "", "", false
	}
	v, rest, ok := strings.Cut(ticket, ".")
	if !ok || v != Version {
		return "", "", false
	}
	expiry, sum, ok = strings.Cut(rest, ".")
	if !ok || !canonicalDigits(expiry) || len(sum) != macLen {
		return "", "", false
	}
	for i := 0; i < len(sum); i++ {
		if c := sum[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	return expiry, sum, true
}

// canonicalDigits reports whether s is 1..12 decimal digits without a
// leading zero.
func canonicalDigits(s string) bool {
	if len(s) == 0 || len(s) > 12 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// mac is HMAC-SHA256 over the signed message.
func mac(token, project, expiry string) []byte {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(domain + "\n" + project + "\n" + expiry))
	return h.Sum(nil)
}
