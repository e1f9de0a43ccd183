package runtime_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/runtime/ticket"
)

// The Go package and ticket.sh must make the same decision for every
// input. These tests feed both the same inputs, in both directions.

// shellVerify runs ticket_verify and returns its status as a Go error.
func shellVerify(t *testing.T, token, project, tk string, now int64) error {
	t.Helper()
	res := bashLib(t, map[string]string{"K": token, "P": project, "T": tk, "N": strconv.FormatInt(now, 10)},
		`ticket_verify "$K" "$P" "$T" "$N"; printf '%d' "$?"`)
	require.Equal(t, 0, res.code, "stderr: %s", res.stderr)
	switch res.stdout {
	case "0":
		return nil
	case "2":
		return ticket.ErrMalformed
	case "3":
		return ticket.ErrInvalid
	case "4":
		return ticket.ErrExpired
	case "5":
		return ticket.ErrTooFarAhead
	}
	t.Fatalf("ticket_verify printed %q", res.stdout)
	return nil
}

// shellMint runs ticket_mint; ok is false when it refused.
func shellMint(t *testing.T, token, project string, expiry int64) (tk string, ok bool) {
	t.Helper()
	res := bashLib(t, map[string]string{"K": token, "P": project, "E": strconv.FormatInt(expiry, 10)},
		`ticket_mint "$K" "$P" "$E"`)
	return strings.TrimSuffix(res.stdout, "\n"), res.code == 0
}

// kind reduces a Verify error to the sentinel the shell can report.
func kind(err error) error {
	for _, k := range []error{ticket.ErrMalformed, ticket.ErrInvalid, ticket.ErrExpired, ticket.ErrTooFarAhead} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}

// randomString draws n characters from printable ASCII and a few multi-byte
// runes, so keys and projects exercise escaping and byte counting.
func randomString(rng *rand.Rand, n int, space bool) string {
	const ascii = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	extra := []string{"ü", "ß", "€", "日本", "\\x41", "%s", "\\n", "$HOME", "'"}
	if space {
		extra = append(extra, " ")
	}
	var b strings.Builder
	for b.Len() < n {
		if rng.IntN(8) == 0 {
			b.WriteString(extra[rng.IntN(len(extra))])
		} else {
			b.WriteByte(ascii[rng.IntN(len(ascii))])
		}
	}
	return b.String()
}

// randomCase returns a token that passes CheckToken (32..150 bytes, so both
// short keys and keys longer than the HMAC block are covered) and a project.
func randomCase(t *testing.T, rng *rand.Rand) (token, project string) {
	t.Helper()
	for {
		token = randomString(rng, 32+rng.IntN(120), false)
		if ticket.CheckToken(token) == nil && len(token) <= 150 {
			break
		}
	}
	project = randomString(rng, 1+rng.IntN(60), true)
	if len(project) > ticket.MaxProjectLen {
		project = project[:ticket.MaxProjectLen]
	}
	require.NoError(t, ticket.CheckProject(project))
	return token, project
}

func TestCrossGoMintShellVerify(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	now := time.Unix(1700000000, 0)
	for i := range 16 {
		token, project := randomCase(t, rng)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			exp := now.Add(time.Duration(1+rng.IntN(300)) * time.Second)
			tk := mint(t, token, project, exp)
			require.NoError(t, shellVerify(t, token, project, tk, now.Unix()), "token %q project %q", token, project)
			require.ErrorIs(t, shellVerify(t, token, project+"x", tk, now.Unix()), ticket.ErrInvalid)
		})
	}
}

func TestCrossShellMintGoVerify(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	now := time.Unix(1700000000, 0)
	for i := range 16 {
		token, project := randomCase(t, rng)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			exp := now.Unix() + int64(1+rng.IntN(300))
			tk, ok := shellMint(t, token, project, exp)
			require.True(t, ok, "ticket_mint refused token %q project %q", token, project)
			require.NoError(t, ticket.Verify(token, project, tk, now), "token %q project %q ticket %q", token, project, tk)
			assert.Equal(t, mint(t, token, project, time.Unix(exp, 0)), tk, "both sides mint the same ticket")
		})
	}
}

func TestCrossVerdicts(t *testing.T) {
	const exp = int64(1700000000)
	good := mint(t, testToken, testProject, time.Unix(exp, 0))
	mac := good[len(good)-43:]
	tests := []struct {
		name string
		tk   string
		now  int64
		want error
	}{
		{"valid", good, exp - 60, nil},
		{"last second", good, exp - 1, nil},
		{"at expiry", good, exp, ticket.ErrExpired},
		{"after expiry", good, exp + 1, ticket.ErrExpired},
		{"max lifetime", good, exp - 300, nil},
		{"beyond max lifetime", good, exp - 301, ticket.ErrTooFarAhead},
		{"empty", "", exp - 60, ticket.ErrMalformed},
		{"token", testToken, exp - 60, ticket.ErrMalformed},
		{"v2", "v2" + good[2:], exp - 60, ticket.ErrMalformed},
		{"leading zero", "v1.0" + good[3:], exp - 60, ticket.ErrMalformed},
		{"13 digits", "v1.1000000000000." + mac, exp - 60, ticket.ErrMalformed},
		{"short mac", good[:len(good)-1], exp - 60, ticket.ErrMalformed},
		{"padded", good + "=", exp - 60, ticket.ErrMalformed},
		{"std alphabet", good[:len(good)-1] + "/", exp - 60, ticket.ErrMalformed},
		{"trailing newline", good + "\n", exp - 60, ticket.ErrMalformed},
		{"extra field", good + ".x", exp - 60, ticket.ErrMalformed},
		{"forged", "v1.1700000000." + strings.Repeat("_", 43), exp - 60, ticket.ErrInvalid},
		{"non-canonical last char", good[:len(good)-1] + string(mac[42]+1), exp - 60, ticket.ErrInvalid},
		{"other expiry", "v1.1700000001." + mac, exp - 60, ticket.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			goErr := ticket.Verify(testToken, testProject, tc.tk, time.Unix(tc.now, 0))
			shErr := shellVerify(t, testToken, testProject, tc.tk, tc.now)
			assert.Equal(t, tc.want, kind(goErr), "Go: %v", goErr)
			assert.Equal(t, tc.want, shErr, "shell")
		})
	}
}

func TestCrossTokenRules(t *testing.T) {
	tokens := []string{
		testToken,
		"0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		"0f1e2d3c4b5a69788796a5b4c3d2e1f",
		"",
		strings.Repeat("0123456789abcdef", 64),
		strings.Repeat("0123456789abcdef", 64) + "x",
		strings.Repeat("abcdefg", 6),
		strings.Repeat("abcdefgh", 5),
		testToken + " ",
		"\t" + testToken,
		testToken + "\x7f",
		"CHANGEME-0123456789-abcdefghijklmnop",
		"my-super-secret-token-2025-0123456789",
		"an-ExAmPlE-value-0123456789-abcdefgh",
		"PlaceHolder_for_the_real_value_12345",
		"ÄÖÜäöüß-0123456789-abcdefghij-ÄÖÜ",
		"ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ", // 64 bytes, 2 distinct
		strings.Repeat("@*][$'`\\", 5),     // 8 distinct characters bash treats specially
		strings.Repeat("@*][$'`", 6),       // 7 of them
		"üüüüüüüüüüüüüüü123456",            // 36 bytes, 8 distinct bytes: accepted
		"üüüüüüüüüüüüüüü12345",             // 35 bytes, 7 distinct bytes: refused
	}
	for i, tok := range tokens {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			res := bashLib(t, map[string]string{"K": tok}, `ticket_check_token "$K"`)
			goErr := ticket.CheckToken(tok)
			assert.Equal(t, goErr == nil, res.code == 0, "token %q: Go says %v, shell says %q", tok, goErr, res.stdout)
			if goErr != nil {
				// Both name the same rule.
				assert.Contains(t, goErr.Error(), strings.TrimSpace(res.stdout))
			}
		})
	}
}

func TestCrossProjectRules(t *testing.T) {
	projects := []string{"my-app", "Mein Projekt ü", strings.Repeat("p", 253), strings.Repeat("p", 254),
		strings.Repeat("ü", 126), strings.Repeat("ü", 127), "", "a\nb", "a\tb", "a\x7fb", "a\rb"}
	for i, p := range projects {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			res := bashLib(t, map[string]string{"P": p}, `ticket_check_project "$P"`)
			goErr := ticket.CheckProject(p)
			assert.Equal(t, goErr == nil, res.code == 0, "project %q: Go says %v, shell says %q", p, goErr, res.stdout)
		})
	}
}
