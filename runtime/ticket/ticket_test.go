package ticket_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/runtime/ticket"
)

const (
	token   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
	project = "proj"
)

// TestKnownAnswer pins the format to a mac computed independently with
// `openssl dgst -sha256 -hmac` over "fsa-terminal-v1\nproj\n1700000000".
func TestKnownAnswer(t *testing.T) {
	got, err := ticket.Mint(token, project, time.Unix(1700000000, 0))
	require.NoError(t, err)
	assert.Equal(t, "v1.1700000000.jFqVAmie5YH3ImygJi42E-cG5ZypnMcEB_J_g1cZiRg", got)
}

func TestMintTruncatesToSeconds(t *testing.T) {
	a, err := ticket.Mint(token, project, time.Unix(1700000000, 999_999_999))
	require.NoError(t, err)
	b, err := ticket.Mint(token, project, time.Unix(1700000000, 0))
	require.NoError(t, err)
	assert.Equal(t, b, a)
}

func TestVerifyWindow(t *testing.T) {
	exp := time.Unix(1700000000, 0)
	tk, err := ticket.Mint(token, project, exp)
	require.NoError(t, err)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"fresh", exp.Add(-ticket.DefaultTTL), nil},
		{"last second", exp.Add(-time.Nanosecond), nil},
		{"at expiry", exp, ticket.ErrExpired},
		{"after expiry", exp.Add(time.Hour), ticket.ErrExpired},
		{"max lifetime ahead", exp.Add(-ticket.MaxLifetime), nil},
		{"beyond max lifetime", exp.Add(-ticket.MaxLifetime - time.Second), ticket.ErrTooFarAhead},
		{"far past clock", time.Unix(1, 0), ticket.ErrTooFarAhead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ticket.Verify(token, project, tk, tc.now)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1700000000, 0)
	good, err := ticket.Mint(token, project, now.Add(ticket.DefaultTTL))
	require.NoError(t, err)
	exp, mac := good[3:13], good[14:]
	require.Len(t, mac, 43)

	otherProject, err := ticket.Mint(token, "other", now.Add(ticket.DefaultTTL))
	require.NoError(t, err)
	otherToken, err := ticket.Mint(strings.ToUpper(token)+"xyz", project, now.Add(ticket.DefaultTTL))
	require.NoError(t, err)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// The last of 43 base64url characters carries 4 data bits and 2 zero
	// bits; setting a zero bit gives another spelling of (almost) the same
	// bytes, which must not be accepted.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, mac[42])
	nonCanonical := good[:len(good)-1] + string(alphabet[last|1])

	tests := []struct {
		name, ticket string
		want         error
	}{
		{"empty", "", ticket.ErrMalformed},
		{"token itself", token, ticket.ErrMalformed},
		{"version only", "v1", ticket.ErrMalformed},
		{"other version", "v2." + exp + "." + mac, ticket.ErrMalformed},
		{"no mac", "v1." + exp, ticket.ErrMalformed},
		{"empty mac", "v1." + exp + ".", ticket.ErrMalformed},
		{"leading zero", "v1.0" + exp + "." + mac, ticket.ErrMalformed},
		{"signed expiry", "v1.+" + exp + "." + mac, ticket.ErrMalformed},
		{"13 digits", "v1.1" + exp + "000." + mac, ticket.ErrMalformed},
		{"short mac", "v1." + exp + "." + mac[:42], ticket.ErrMalformed},
		{"long mac", "v1." + exp + "." + mac + "A", ticket.ErrMalformed},
		{"padded mac", "v1." + exp + "." + mac + "=", ticket.ErrMalformed},
		{"std alphabet", "v1." + exp + "." + mac[:42] + "+", ticket.ErrMalformed},
		{"extra field", good + ".x", ticket.ErrMalformed},
		{"trailing newline", good + "\n", ticket.ErrMalformed},
		{"leading space", " " + good, ticket.ErrMalformed},
		{"huge", strings.Repeat("v", 100000), ticket.ErrMalformed},
		{"forged mac", "v1." + exp + "." + strings.Repeat("A", 43), ticket.ErrInvalid},
		{"flipped first", flip(good, 14), ticket.ErrInvalid},
		{"flipped last", flip(good, len(good)-1), ticket.ErrInvalid},
		{"non-canonical mac", nonCanonical, ticket.ErrInvalid},
		{"extended expiry", "v1." + fmt.Sprint(now.Unix()+120) + "." + mac, ticket.ErrInvalid},
		{"other project", otherProject, ticket.ErrInvalid},
		{"other token", otherToken, ticket.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, ticket.Verify(token, project, tc.ticket, now), tc.want)
		})
	}
	require.NoError(t, ticket.Verify(token, project, good, now), "control")
}

func TestVerifyRefusesBadKeyOrProject(t *testing.T) {
	now := time.Unix(1700000000, 0)
	good, err := ticket.Mint(token, project, now.Add(ticket.DefaultTTL))
	require.NoError(t, err)
	require.ErrorIs(t, ticket.Verify("", project, good, now), ticket.ErrWeakToken)
	require.ErrorIs(t, ticket.Verify(token, "", good, now), ticket.ErrBadProject)
}

func TestCheckToken(t *testing.T) {
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"random base64url", "Xq3v9ZpL0sWm2bKc7RtYh1NdJ4uFgE8aHwC6oT5iBeI", true},
		{"32 hex", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", true},
		{"empty", "", false},
		{"31 bytes", "0f1e2d3c4b5a69788796a5b4c3d2e1f", false},
		{"1025 bytes", strings.Repeat("0123456789abcdef", 64) + "x", false},
		{"1024 bytes", strings.Repeat("0123456789abcdef", 64), true},
		{"one character", strings.Repeat("a", 64), false},
		{"seven characters", strings.Repeat("abcdefg", 6), false},
		{"eight characters", strings.Repeat("abcdefgh", 5), true},
		{"space", "Xq3v9ZpL0sWm2bKc 7RtYh1NdJ4uFgE8aHwC6oT5iBeI", false},
		{"tab", "Xq3v9ZpL0sWm2bKc\t7RtYh1NdJ4uFgE8aHwC6oT5iBeI", false},
		{"newline", "Xq3v9ZpL0sWm2bKc7RtYh1NdJ4uFgE8aHwC6oT5iBeI\n", false},
		{"DEL", "Xq3v9ZpL0sWm2bKc\x7f7RtYh1NdJ4uFgE8aHwC6oT5iBeI", false},
		{"changeme", "changeme-changeme-changeme-1234567", false},
		{"PASSWORD", "my-PASSWORD-is-very-long-and-unique-42", false},
		{"secret", "my-super-secret-token-2025-and-more", false},
		{"example", "example-token-0123456789abcdefghij", false},
		{"placeholder", "PlaceHolder_for_the_real_value_12345", false},
		{"non-ASCII", "ÄÖÜäöüß-0123456789-abcdefghij-ÄÖÜ", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ticket.CheckToken(tc.token)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ticket.ErrWeakToken)
			if tc.token != "" {
				assert.NotContains(t, err.Error(), tc.token, "error must not echo the token")
			}
		})
	}
}

func TestCheckProject(t *testing.T) {
	tests := []struct {
		name, project string
		ok            bool
	}{
		{"simple", "my-app", true},
		{"spaces and unicode", "Mein Projekt ü", true},
		{"253 bytes", strings.Repeat("p", 253), true},
		{"254 bytes", strings.Repeat("p", 254), false},
		{"empty", "", false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7fb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ticket.CheckProject(tc.project)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ticket.ErrBadProject)
		})
	}
}

func TestMintRefuses(t *testing.T) {
	exp := time.Unix(1700000000, 0)
	_, err := ticket.Mint("short", project, exp)
	require.ErrorIs(t, err, ticket.ErrWeakToken)
	_, err = ticket.Mint(token, "a\nb", exp)
	require.ErrorIs(t, err, ticket.ErrBadProject)
	_, err = ticket.Mint(token, project, time.Unix(0, 0))
	require.ErrorIs(t, err, ticket.ErrBadExpiry)
	_, err = ticket.Mint(token, project, time.Unix(1_000_000_000_000, 0))
	require.ErrorIs(t, err, ticket.ErrBadExpiry)
	_, err = ticket.Mint(token, project, time.Unix(999_999_999_999, 0))
	require.NoError(t, err)
}

func TestNewToken(t *testing.T) {
	a, err := ticket.NewToken(nil)
	require.NoError(t, err)
	b, err := ticket.NewToken(nil)
	require.NoError(t, err)
	assert.Len(t, a, 43)
	assert.NotEqual(t, a, b)
	require.NoError(t, ticket.CheckToken(a))

	det, err := ticket.NewToken(bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3)))
	require.NoError(t, err)
	assert.Equal(t, "AQIDBAUGBwgJCgsMAQIDBAUGBwgJCgsMAQIDBAUGBwg", det)

	_, err = ticket.NewToken(iotest.ErrReader(errors.New("boom")))
	require.ErrorContains(t, err, "boom")

	_, err = ticket.NewToken(bytes.NewReader(make([]byte, 32*8)))
	require.ErrorIs(t, err, ticket.ErrWeakToken, "all-zero source")
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1700000000, 0)
	good, err := ticket.Mint(token, project, now.Add(ticket.DefaultTTL))
	require.NoError(f, err)
	f.Add(good)
	f.Add("v1.1700000060.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, tk string) {
		if ticket.Verify(token, project, tk, now) == nil && tk != good {
			t.Fatalf("accepted %q, only %q is valid", tk, good)
		}
	})
}

func ExampleMint() {
	// The server side: mint a ticket for the terminal iframe URL.
	tok := "Xq3v9ZpL0sWm2bKc7RtYh1NdJ4uFgE8aHwC6oT5iBeI" // from the project's secret store
	now := time.Unix(1700000000, 0)
	tk, err := ticket.Mint(tok, "my-app", now.Add(ticket.DefaultTTL))
	if err != nil {
		panic(err)
	}
	fmt.Println("https://terminal.example/?arg=" + tk)

	// The sandbox side (in bash, by terminal-auth) accepts it for a minute.
	fmt.Println(ticket.Verify(tok, "my-app", tk, now.Add(30*time.Second)))
	fmt.Println(ticket.Verify(tok, "my-app", tk, now.Add(61*time.Second)))
	// Output:
	// https://terminal.example/?arg=v1.1700000060.d0tNiFyS84JGq1KcwhWtK3zzwcv6Y3NQL-ZFj0R9DR4
	// <nil>
	// ticket: expired ticket: expired 1s ago
}
